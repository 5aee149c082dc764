/* handlers/resp/resp_db.h - the key space of the resp handler: byte-string
 * keys to byte-string values, shared by every worker thread.
 *
 * Design: lock striping.  The space is 256 stripes, each a chained hash
 * table with its own mutex; a key's stripe is chosen by the top bits of
 * its (keyed SipHash-1-3) hash, its bucket by the low bits.  Any key is
 * reachable from any worker, so a client sees the same data whichever
 * worker accepted it, and multi-key commands need no routing.  Sharding by
 * worker (no locks at all) would need cross-worker messages for every key
 * that lives elsewhere, which costs more than an uncontended mutex (two
 * atomic operations) on the few workers eddy runs.  With 256 stripes and W
 * workers two commands collide on a stripe with probability about
 * (W - 1) / 256 when keys are spread, and a lock is held only for a lookup
 * and a copy.
 *
 * Memory: every item counts what malloc gives it (header, key and value
 * rounded up to a size class: 16-byte steps to 128, then four classes per
 * power of two), and every bucket array its size, against max_memory.  A
 * write that would pass it is refused (RESP_DB_OOM) and changes nothing;
 * overwriting a value with one that keeps the item's size class happens
 * in place, needs no new memory and is never refused.
 *
 * Expiry: an item may carry a deadline on CLOCK_MONOTONIC, in milliseconds,
 * converted from the Unix-ms deadlines the API takes (as Redis's clients
 * give them).  Expired items are removed when they are looked up, a stripe
 * that holds items with deadlines has a few buckets swept at each access,
 * and resp_db_expire_step() sweeps stripes in turn, so expired keys do not
 * hold memory forever.
 */
#ifndef EDDY_RESP_DB_H
#define EDDY_RESP_DB_H

#include <stddef.h>
#include <stdint.h>

typedef struct resp_db resp_db;

enum {
    RESP_DB_OK = 0,
    RESP_DB_NOTFOUND = 1,  /* GET of a missing key; SET NX/XX condition not met */
    RESP_DB_OOM = -1,      /* over max_memory, or malloc failed: nothing changed */
    RESP_DB_NOTINT = -2,   /* INCR: the value is not a 64-bit integer */
    RESP_DB_OVERFLOW = -3, /* INCR: the result would not fit */
    RESP_DB_TOOBIG = -4,   /* APPEND: the value would pass the length given */
};

/* SET flags */
#define RESP_DB_NX 1u       /* only if absent */
#define RESP_DB_XX 2u       /* only if present */
#define RESP_DB_KEEPTTL 4u  /* keep an existing deadline */
/* EXPIRE conditions (with RESP_DB_NX: no deadline yet, RESP_DB_XX: one) */
#define RESP_DB_GT 8u       /* only a later deadline (none counts as infinite) */
#define RESP_DB_LT 16u      /* only an earlier deadline */

resp_db *resp_db_new(size_t max_memory);
void resp_db_free(resp_db *db);

/* Called with the value while the stripe is locked: copy it, do not keep
 * the pointer.  Returns what resp_db_get() is to return. */
typedef int (*resp_db_visit)(void *arg, const char *value, size_t len);

/* RESP_DB_NOTFOUND, or visit()'s return value. */
int resp_db_get(resp_db *db, const char *key, size_t klen, resp_db_visit visit, void *arg);

/* Store key = value.  at_ms > 0 sets a deadline, in Unix ms (one in the
 * past leaves the key expired); 0 clears it (or keeps it, with
 * RESP_DB_KEEPTTL).  With visit, the old value (if
 * any) is handed to it first (SET ... GET); *had_old says whether there
 * was one.  Returns RESP_DB_OK, RESP_DB_NOTFOUND (NX/XX not met: nothing
 * stored) or RESP_DB_OOM. */
int resp_db_set(resp_db *db, const char *key, size_t klen, const char *value, size_t vlen,
                unsigned flags, int64_t at_ms, resp_db_visit visit, void *arg, int *had_old);

/* 1 if deleted / present, else 0. */
int resp_db_del(resp_db *db, const char *key, size_t klen);
int resp_db_exists(resp_db *db, const char *key, size_t klen);

/* value += delta, a missing key counting as 0, as Redis's INCRBY: the value
 * must be what Redis's string2ll() accepts.  The deadline is kept. */
int resp_db_incrby(resp_db *db, const char *key, size_t klen, int64_t delta, int64_t *result);

/* Time to live in ms: -2 no such key, -1 no deadline. */
int64_t resp_db_pttl(resp_db *db, const char *key, size_t klen);

/* A deadline in Unix ms for the key, under conditions (RESP_DB_NX, XX, GT,
 * LT, as Redis's EXPIRE); one already past deletes it.  1 if done, 0 if no
 * such key or a condition is not met. */
int resp_db_expire(resp_db *db, const char *key, size_t klen, int64_t at_ms, unsigned cond);

/* Remove the key's deadline: 1 if it had one, else 0. */
int resp_db_persist(resp_db *db, const char *key, size_t klen);

/* The value to visit(), then the key deleted: RESP_DB_NOTFOUND or visit()'s
 * return value. */
int resp_db_getdel(resp_db *db, const char *key, size_t klen, resp_db_visit visit, void *arg);

/* value += bytes (a missing key starts empty); the deadline is kept.
 * RESP_DB_OK with the new length in *result, RESP_DB_TOOBIG if it would
 * pass max_len (nothing changed), RESP_DB_OOM. */
int resp_db_append(resp_db *db, const char *key, size_t klen, const char *value, size_t vlen,
                   size_t max_len, size_t *result);

/* Called with each live key while its stripe is locked: copy it. */
typedef int (*resp_db_key_visit)(void *arg, const char *key, size_t klen);

/* SCAN: visits the keys of some buckets from cursor on (0: the start),
 * until at least count keys or 10 x count buckets, and returns the next
 * cursor (0: done).  A key present for a whole iteration is visited at
 * least once, even if tables grow meanwhile (Redis's reverse-binary
 * cursor, per stripe); count SIZE_MAX visits them all (KEYS). */
uint64_t resp_db_scan(resp_db *db, uint64_t cursor, size_t count, resp_db_key_visit visit,
                      void *arg);

/* Live keys, and in *expires (if not NULL) how many have a deadline;
 * expired keys are removed on the way, so neither counts them. */
size_t resp_db_count(resp_db *db, size_t *expires);

/* Active expiry: a few buckets of this thread's next stripe, round-robin
 * (a counter per thread, so workers share no cache line for it), checked
 * for expired keys.  resp.c calls it once per data() call, so keys that
 * nobody touches again give their memory back while there is traffic. */
void resp_db_expire_step(resp_db *db);

/* EXEC: until resp_db_unlock_all(), this thread alone works on the key
 * space (other threads' operations wait for the end, and two EXECs run
 * one after the other), so other clients see all of what it does or none.
 * Costs other operations one relaxed atomic load. */
void resp_db_lock_all(resp_db *db);
void resp_db_unlock_all(resp_db *db);

/* The wall clock in ms, as deadlines are given. */
int64_t resp_db_unix_ms(void);
void resp_db_flush(resp_db *db);
size_t resp_db_used(const resp_db *db);
size_t resp_db_max_memory(const resp_db *db);

/* Redis's string2ll(): the exact decimal form of a 64-bit integer ("0",
 * optional '-', no leading zeros, no '+', no blanks).  1 if it is one. */
int resp_str2ll(const char *s, size_t len, long long *out);

/* Decimal text of v into buf (at least 21 bytes); returns its length. */
size_t resp_ll2str(char *buf, long long v);

#endif
