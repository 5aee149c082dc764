/* handlers/resp/resp_db.c - the striped, shared key space (see resp_db.h).
 *
 * Layout: 256 stripes, each on its own cache lines (no false sharing
 * between workers that touch different stripes): a mutex, a power-of-two
 * array of bucket chains, and counts.  An item is one allocation: header,
 * key bytes, value bytes.  Hashing is SipHash-1-3 with a random key per key
 * space (as Redis does), so a client cannot choose keys that all land in
 * one chain.  A stripe's table doubles when it holds more items than
 * buckets; the rehash is done at once under the stripe's lock, which with
 * 256 stripes moves 1/256 of the keys.
 */
#include "resp_db.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#if defined(__has_include)
#if __has_include(<sanitizer/asan_interface.h>)
#include <sanitizer/asan_interface.h> /* no-op macros unless under ASan */
#endif
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif

enum {
    STRIPE_BITS = 8,
    NSTRIPES = 1 << STRIPE_BITS,
    MIN_BUCKETS = 16,
    SWEEP_BUCKETS = 4, /* buckets checked for expired items per access */
    CACHE_LINE = 64,
    MALLOC_WORD = 8, /* glibc's size word before each chunk */
    SPARE_CLASSES = 32,      /* size classes kept for reuse: up to ... */
    SPARE_MAX_COST = 8192,   /* ... this class */
    SPARE_LIMIT = 1 << 20,   /* bytes of freed items kept, all classes */
};

typedef struct item {
    struct item *next;
    uint64_t hash;
    int64_t expire; /* CLOCK_MONOTONIC ms; 0: none */
    uint32_t klen;
    uint32_t vlen;
    char data[]; /* key, then value */
} item;

typedef struct stripe {
    _Alignas(CACHE_LINE) pthread_mutex_t lock;
    item **buckets; /* NULL until the first item */
    size_t mask;    /* buckets - 1 */
    size_t count;
    atomic_size_t nexpire; /* items with a deadline: written under lock, peeked without */
    size_t sweep;   /* next bucket to check for expired items */
} stripe;

struct resp_db {
    stripe stripes[NSTRIPES];
    uint64_t k0, k1; /* SipHash key */
    size_t max_memory;
    _Alignas(CACHE_LINE) atomic_size_t used;
    /* EXEC: exec_lock held for a transaction, exec set meanwhile; read by
     * every operation, written only by EXEC, so the line stays shared */
    _Alignas(CACHE_LINE) atomic_int exec;
    pthread_mutex_t exec_lock;
    /* Freed items by size class, chained by next, for the next item of
     * their class (see item_alloc). */
    _Alignas(CACHE_LINE) pthread_mutex_t spare_lock;
    item *spare[SPARE_CLASSES];
    size_t spare_bytes;
};

/* ---- hashing ---------------------------------------------------------- */

static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t load_le64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

#define SIPROUND                                                                                  \
    do {                                                                                          \
        v0 += v1;                                                                                 \
        v1 = rotl(v1, 13);                                                                        \
        v1 ^= v0;                                                                                 \
        v0 = rotl(v0, 32);                                                                        \
        v2 += v3;                                                                                 \
        v3 = rotl(v3, 16);                                                                        \
        v3 ^= v2;                                                                                 \
        v0 += v3;                                                                                 \
        v3 = rotl(v3, 21);                                                                        \
        v3 ^= v0;                                                                                 \
        v2 += v1;                                                                                 \
        v1 = rotl(v1, 17);                                                                        \
        v1 ^= v2;                                                                                 \
        v2 = rotl(v2, 32);                                                                        \
    } while (0)

/* SipHash-1-3 (one compression round, three finalisation rounds). */
static uint64_t siphash13(const char *p, size_t n, uint64_t k0, uint64_t k1)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    const char *end = p + (n & ~(size_t)7);
    for (; p < end; p += 8) {
        uint64_t m = load_le64(p);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)n << 56;
    for (size_t i = n & 7; i > 0; i--)
        b |= (uint64_t)(unsigned char)p[i - 1] << (8 * (i - 1));
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- memory accounting ------------------------------------------------ */

/* The exponent of the smallest power of two >= n (n > 1). */
static size_t log2_ceil(size_t n)
{
    return sizeof(long) * CHAR_BIT - (size_t)__builtin_clzl(n - 1);
}

/* What an item of these lengths takes from malloc, rounded up to a size
 * class: multiples of 16 up to 128 bytes, then four classes per power of
 * two (160, 192, 224, 256, 320, ...), as jemalloc does.  Items of one
 * class are interchangeable: a SET whose value keeps the item's class
 * overwrites it in place, and a freed item is the exact fit for the next
 * of its class.  Without classes, values of every length split and merge
 * malloc's free chunks, and the heap's touched extent creeps up for hours
 * (the soak traced every page it newly touched to this allocation).  The
 * price is at most a quarter of an item, counted against max_memory. */
static size_t item_cost(size_t klen, size_t vlen)
{
    size_t n = (sizeof(item) + klen + vlen + MALLOC_WORD + 15) & ~(size_t)15;
    if (n <= 128)
        return n;
    size_t step = ((size_t)1 << log2_ceil(n)) / 8; /* four classes per power of two */
    return (n + step - 1) & ~(step - 1);
}

/* The index of a size class (an item_cost) up to SPARE_MAX_COST. */
static size_t class_index(size_t cost)
{
    if (cost <= 128)
        return cost / 16 - 1;
    size_t lg = log2_ceil(cost);
    return 8 + (lg - 8) * 4 + (cost >> (lg - 3)) - 5;
}

/* Whether the value of `it` can become vlen bytes without a new item. */
static int fits_in_place(const item *it, size_t vlen)
{
    return item_cost(it->klen, vlen) == item_cost(it->klen, it->vlen);
}

static int reserve(resp_db *db, size_t n)
{
    size_t before = atomic_fetch_add_explicit(&db->used, n, memory_order_relaxed);
    if (before + n > db->max_memory) {
        atomic_fetch_sub_explicit(&db->used, n, memory_order_relaxed);
        return -1;
    }
    return 0;
}

static void release(resp_db *db, size_t n)
{
    atomic_fetch_sub_explicit(&db->used, n, memory_order_relaxed);
}

/* Memory for an item of this class: a freed one of the class if there is
 * one, else malloc's.  Items are recycled by class, like memcached's slabs
 * and jemalloc's bins, because glibc's heap is shared with every other
 * object in the process: freed items of random sizes were split and
 * merged with their neighbours, and the heap's touched extent crept up
 * for as long as SETs replaced values of changing sizes (a 30-minute soak
 * traced every page the heap newly touched to item allocations).  With
 * recycling, the store asks malloc for more only when a class holds more
 * items than it ever did. */
static item *item_alloc(resp_db *db, size_t cost)
{
    item *it = NULL;
    if (cost <= SPARE_MAX_COST) {
        pthread_mutex_lock(&db->spare_lock);
        item **head = &db->spare[class_index(cost)];
        if ((it = *head)) {
            ASAN_UNPOISON_MEMORY_REGION(it, cost - MALLOC_WORD);
            *head = it->next;
            db->spare_bytes -= cost;
        }
        pthread_mutex_unlock(&db->spare_lock);
    }
    return it ? it : malloc(cost - MALLOC_WORD); /* a chunk of the class */
}

/* An item's memory back: to its class's spare list while they hold less
 * than SPARE_LIMIT in all (so a FLUSHALL keeps at most that), else to
 * malloc.  The caller has unlinked it. */
static void item_free(resp_db *db, item *it)
{
    size_t cost = item_cost(it->klen, it->vlen);
    release(db, cost);
    if (cost <= SPARE_MAX_COST) {
        pthread_mutex_lock(&db->spare_lock);
        if (db->spare_bytes + cost <= SPARE_LIMIT) {
            item **head = &db->spare[class_index(cost)];
            it->next = *head;
            *head = it;
            db->spare_bytes += cost;
            ASAN_POISON_MEMORY_REGION(it, cost - MALLOC_WORD);
            it = NULL;
        }
        pthread_mutex_unlock(&db->spare_lock);
    }
    free(it);
}

/* ---- time -------------------------------------------------------------- */

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t resp_db_unix_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

/* The clock read at most once per operation, and only when a deadline is
 * involved: *now is 0 until then. */
static int64_t clock_once(int64_t *now)
{
    if (!*now)
        *now = now_ms();
    return *now;
}

static int is_expired(const item *it, int64_t *now)
{
    return it->expire && it->expire <= clock_once(now);
}

/* A deadline given in Unix ms (as clients give it) on the monotonic clock
 * that items keep, so that a relative TTL is not moved by a wall-clock
 * step after it was set.  Never 0 (which means none): a deadline before
 * the monotonic clock's start is 1, long expired. */
static int64_t deadline_of(int64_t at_ms, int64_t *now)
{
    int64_t d;
    if (__builtin_add_overflow(clock_once(now), at_ms - resp_db_unix_ms(), &d))
        d = INT64_MAX;
    return d > 0 ? d : 1;
}

/* ---- one stripe -------------------------------------------------------- */

/* EXEC: the key space whose transaction this thread runs, or NULL. */
static _Thread_local const resp_db *in_exec;

/* A stripe's lock.  While another thread runs an EXEC, wait for its end
 * (on exec_lock) before touching any stripe: the flag is read under the
 * stripe's lock, which EXEC has taken and released after setting it, so
 * an operation either finished before EXEC began or sees the flag. */
static void lock(resp_db *db, stripe *s)
{
    pthread_mutex_lock(&s->lock);
    while (atomic_load_explicit(&db->exec, memory_order_relaxed) && in_exec != db) {
        pthread_mutex_unlock(&s->lock);
        pthread_mutex_lock(&db->exec_lock);
        pthread_mutex_unlock(&db->exec_lock);
        pthread_mutex_lock(&s->lock);
    }
}

static void unlock(resp_db *db, stripe *s)
{
    (void)db;
    pthread_mutex_unlock(&s->lock);
}

static stripe *stripe_of(resp_db *db, uint64_t h)
{
    return &db->stripes[h >> (64 - STRIPE_BITS)];
}

static void drop(resp_db *db, stripe *s, item **link)
{
    item *it = *link;
    *link = it->next;
    s->count--;
    if (it->expire)
        s->nexpire--;
    item_free(db, it);
}

/* A few buckets checked for expired items, round-robin, when the stripe
 * has any: memory of keys nobody reads again comes back. */
static void sweep(resp_db *db, stripe *s, int64_t *now)
{
    for (int i = 0; i < SWEEP_BUCKETS && s->nexpire; i++) {
        item **link = &s->buckets[s->sweep++ & s->mask];
        while (*link) {
            if (is_expired(*link, now))
                drop(db, s, link);
            else
                link = &(*link)->next;
        }
    }
}

/* The link that points to the live item for key, or NULL.  An expired
 * item found on the way is removed. */
static item **lookup(resp_db *db, stripe *s, uint64_t h, const char *key, size_t klen,
                     int64_t *now)
{
    if (!s->buckets)
        return NULL;
    if (s->nexpire)
        sweep(db, s, now);
    for (item **link = &s->buckets[h & s->mask]; *link; link = &(*link)->next) {
        item *it = *link;
        if (it->hash == h && it->klen == klen && memcmp(it->data, key, klen) == 0) {
            if (is_expired(it, now)) {
                drop(db, s, link);
                return NULL;
            }
            return link;
        }
    }
    return NULL;
}

/* Double the bucket array (or create it), its memory counted like items'.
 * A failure (over max_memory, or malloc) only leaves chains longer: never
 * an error for the caller, unless there is no array at all. */
static int grow(resp_db *db, stripe *s)
{
    size_t n = s->buckets ? (s->mask + 1) * 2 : MIN_BUCKETS;
    if (reserve(db, n * sizeof(item *)) < 0)
        return s->buckets ? 0 : -1;
    item **b = calloc(n, sizeof(*b));
    if (!b) {
        release(db, n * sizeof(*b));
        return s->buckets ? 0 : -1;
    }
    if (s->buckets) {
        for (size_t i = 0; i <= s->mask; i++) {
            item *it = s->buckets[i];
            while (it) {
                item *next = it->next;
                item **head = &b[it->hash & (n - 1)];
                it->next = *head;
                *head = it;
                it = next;
            }
        }
        free(s->buckets);
        release(db, (s->mask + 1) * sizeof(*b));
    }
    s->buckets = b;
    s->mask = n - 1;
    return 0;
}

/* A new item (value NULL: room for vlen bytes, left for the caller). */
static item *item_new(resp_db *db, uint64_t h, const char *key, size_t klen, const char *value,
                      size_t vlen, int64_t expire)
{
    if (klen > UINT32_MAX || vlen > UINT32_MAX || reserve(db, item_cost(klen, vlen)) < 0)
        return NULL;
    item *it = item_alloc(db, item_cost(klen, vlen));
    if (!it) {
        release(db, item_cost(klen, vlen));
        return NULL;
    }
    it->next = NULL;
    it->hash = h;
    it->expire = expire;
    it->klen = (uint32_t)klen;
    it->vlen = (uint32_t)vlen;
    memcpy(it->data, key, klen);
    if (value && vlen)
        memcpy(it->data + klen, value, vlen);
    return it;
}

/* Put a new item in place of *link's (link != NULL) or as a new key. */
static int install(resp_db *db, stripe *s, item **link, item *it)
{
    if (link) {
        item *old = *link;
        it->next = old->next;
        *link = it;
        if (old->expire)
            s->nexpire--;
        item_free(db, old);
    } else {
        if ((s->count >= s->mask + 1 || !s->buckets) && grow(db, s) < 0)
            return -1;
        item **head = &s->buckets[it->hash & s->mask];
        it->next = *head;
        *head = it;
        s->count++;
    }
    if (it->expire)
        s->nexpire++;
    return 0;
}

static void set_expire(stripe *s, item *it, int64_t expire)
{
    s->nexpire += (expire != 0) - (it->expire != 0);
    it->expire = expire;
}

/* ---- the API ----------------------------------------------------------- */

resp_db *resp_db_new(size_t max_memory)
{
    size_t size = (sizeof(resp_db) + CACHE_LINE - 1) & ~(size_t)(CACHE_LINE - 1);
    resp_db *db = aligned_alloc(CACHE_LINE, size);
    if (!db)
        return NULL;
    memset(db, 0, size);
    uint64_t key[2];
    if (getrandom(key, sizeof(key), GRND_NONBLOCK) != (ssize_t)sizeof(key)) {
        /* No entropy yet (early boot): time and address still vary. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        key[0] = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)db;
        key[1] = (uint64_t)ts.tv_sec ^ rotl(key[0], 29);
    }
    db->k0 = key[0];
    db->k1 = key[1];
    db->max_memory = max_memory;
    atomic_init(&db->used, 0);
    atomic_init(&db->exec, 0);
    if (pthread_mutex_init(&db->spare_lock, NULL) != 0) {
        free(db);
        return NULL;
    }
    if (pthread_mutex_init(&db->exec_lock, NULL) != 0) {
        pthread_mutex_destroy(&db->spare_lock);
        free(db);
        return NULL;
    }
    for (int i = 0; i < NSTRIPES; i++) {
        if (pthread_mutex_init(&db->stripes[i].lock, NULL) != 0) {
            while (i-- > 0)
                pthread_mutex_destroy(&db->stripes[i].lock);
            pthread_mutex_destroy(&db->exec_lock);
            pthread_mutex_destroy(&db->spare_lock);
            free(db);
            return NULL;
        }
    }
    return db;
}

static void flush_stripe(resp_db *db, stripe *s)
{
    if (!s->buckets)
        return;
    for (size_t i = 0; i <= s->mask; i++)
        while (s->buckets[i])
            drop(db, s, &s->buckets[i]);
    free(s->buckets);
    release(db, (s->mask + 1) * sizeof(*s->buckets));
    s->buckets = NULL;
    s->mask = 0;
    s->sweep = 0;
}

void resp_db_flush(resp_db *db)
{
    for (int i = 0; i < NSTRIPES; i++) {
        stripe *s = &db->stripes[i];
        lock(db, s);
        flush_stripe(db, s);
        unlock(db, s);
    }
}

void resp_db_free(resp_db *db)
{
    if (!db)
        return;
    for (int i = 0; i < NSTRIPES; i++) {
        flush_stripe(db, &db->stripes[i]);
        pthread_mutex_destroy(&db->stripes[i].lock);
    }
    for (int c = 0; c < SPARE_CLASSES; c++) {
        while (db->spare[c]) {
            item *it = db->spare[c];
            ASAN_UNPOISON_MEMORY_REGION(it, sizeof(*it));
            db->spare[c] = it->next;
            free(it);
        }
    }
    pthread_mutex_destroy(&db->exec_lock);
    pthread_mutex_destroy(&db->spare_lock);
    free(db);
}

int resp_db_get(resp_db *db, const char *key, size_t klen, resp_db_visit visit, void *arg)
{
    uint64_t h = siphash13(key, klen, db->k0, db->k1);
    stripe *s = stripe_of(db, h);
    int64_t now = 0;
    lock(db, s);
    item **link = lookup(db, s, h, key, klen, &now);
    int rc = RESP_DB_NOTFOUND;
    if (link)
        rc = visit(arg, (*link)->data + (*link)->klen, (*link)->vlen);
    unlock(db, s);
    return rc;
}

int resp_db_set(resp_db *db, const char *key, size_t klen, const char *value, size_t vlen,
                unsigned flags, int64_t at_ms, resp_db_visit visit, void *arg, int *had_old)
{
    uint64_t h = siphash13(key, klen, db->k0, db->k1);
    stripe *s = stripe_of(db, h);
    int64_t now = 0;
    int rc = RESP_DB_OK;
    lock(db, s);
    item **link = lookup(db, s, h, key, klen, &now);
    item *old = link ? *link : NULL;
    if (had_old)
        *had_old = old != NULL;
    int64_t expire = 0;
    if (at_ms > 0)
        expire = deadline_of(at_ms, &now);
    else if ((flags & RESP_DB_KEEPTTL) && old)
        expire = old->expire;
    int store = !((flags & RESP_DB_NX) && old) && !((flags & RESP_DB_XX) && !old);
    item *it = NULL;
    if (store && !(old && fits_in_place(old, vlen))) {
        /* Everything that can fail, before the old value is shown: an OOM
         * reply never follows a GET's value. */
        if ((!s->buckets && grow(db, s) < 0) ||
            !(it = item_new(db, h, key, klen, value, vlen, expire))) {
            if (had_old)
                *had_old = 0;
            rc = RESP_DB_OOM;
            goto out;
        }
    }
    if (visit && old)
        visit(arg, old->data + old->klen, old->vlen);
    if (!store) {
        rc = RESP_DB_NOTFOUND;
    } else if (!it) { /* same class: in place, no allocation */
        memcpy(old->data + old->klen, value, vlen);
        old->vlen = (uint32_t)vlen;
        set_expire(s, old, expire);
    } else {
        install(db, s, link, it); /* cannot fail: the bucket array exists */
    }
out:
    unlock(db, s);
    return rc;
}

int resp_db_del(resp_db *db, const char *key, size_t klen)
{
    uint64_t h = siphash13(key, klen, db->k0, db->k1);
    stripe *s = stripe_of(db, h);
    int64_t now = 0;
    lock(db, s);
    item **link = lookup(db, s, h, key, klen, &now);
    if (link)
        drop(db, s, link);
    unlock(db, s);
    return link != NULL;
}

int resp_db_exists(resp_db *db, const char *key, size_t klen)
{
    uint64_t h = siphash13(key, klen, db->k0, db->k1);
    stripe *s = stripe_of(db, h);
    int64_t now = 0;
    lock(db, s);
    int found = lookup(db, s, h, key, klen, &now) != NULL;
    unlock(db, s);
    return found;
}

int resp_db_incrby(resp_db *db, const char *key, size_t klen, int64_t delta, int64_t *result)
{
    uint64_t h = siphash13(key, klen, db->k0, db->k1);
    stripe *s = stripe_of(db, h);
    int64_t now = 0;
    int rc = RESP_DB_OK;
    lock(db, s);
    item **link = lookup(db, s, h, key, klen, &now);
    item *old = link ? *link : NULL;
    long long v = 0;
    if (old && !resp_str2ll(old->data + old->klen, old->vlen, &v)) {
        rc = RESP_DB_NOTINT;
        goto out;
    }
    /* Redis's test, word for word. */
    if ((delta < 0 && v < 0 && delta < LLONG_MIN - v) ||
        (delta > 0 && v > 0 && delta > LLONG_MAX - v)) {
        rc = RESP_DB_OVERFLOW;
        goto out;
    }
    v += delta;
    char text[24];
    size_t len = resp_ll2str(text, v);
    if (old && fits_in_place(old, len)) {
        memcpy(old->data + old->klen, text, len);
        old->vlen = (uint32_t)len;
    } else {
        item *it = item_new(db, h, key, klen, text, len, old ? old->expire : 0);
        if (!it || install(db, s, link, it) < 0) {
            if (it)
                item_free(db, it);
            rc = RESP_DB_OOM;
            goto out;
        }
    }
    *result = v;
out:
    unlock(db, s);
    return rc;
}

int64_t resp_db_pttl(resp_db *db, const char *key, size_t klen)
{
    uint64_t h = siphash13(key, klen, db->k0, db->k1);
    stripe *s = stripe_of(db, h);
    int64_t now = 0, ttl = -2;
    lock(db, s);
    item **link = lookup(db, s, h, key, klen, &now);
    if (link)
        ttl = (*link)->expire ? (*link)->expire - clock_once(&now) : -1;
    unlock(db, s);
    return ttl;
}

/* Remove every expired item of a stripe. */
static void purge(resp_db *db, stripe *s, int64_t *now)
{
    for (size_t i = 0; s->nexpire && i <= s->mask; i++) {
        item **link = &s->buckets[i];
        while (*link) {
            if (is_expired(*link, now))
                drop(db, s, link);
            else
                link = &(*link)->next;
        }
    }
}

size_t resp_db_count(resp_db *db, size_t *expires)
{
    size_t n = 0, e = 0;
    int64_t now = 0;
    for (int i = 0; i < NSTRIPES; i++) {
        stripe *s = &db->stripes[i];
        lock(db, s);
        purge(db, s, &now);
        n += s->count;
        e += s->nexpire;
        unlock(db, s);
    }
    if (expires)
        *expires = e;
    return n;
}

void resp_db_expire_step(resp_db *db)
{
    static _Thread_local unsigned step; /* per thread: no shared counter to bounce */
    stripe *s = &db->stripes[step++ % NSTRIPES];
    int64_t now = 0;
    /* A stripe without deadlines (every stripe, when no key has a TTL) is
     * not locked: one load instead of a lock and an unlock per data().  A
     * deadline set meanwhile waits for the next visit, as one set just
     * after the sweep would. */
    if (!atomic_load_explicit(&s->nexpire, memory_order_relaxed))
        return;
    lock(db, s);
    if (s->nexpire)
        sweep(db, s, &now);
    unlock(db, s);
}

int resp_db_expire(resp_db *db, const char *key, size_t klen, int64_t at_ms, unsigned cond)
{
    uint64_t h = siphash13(key, klen, db->k0, db->k1);
    stripe *s = stripe_of(db, h);
    int64_t now = 0;
    int rc = 0;
    lock(db, s);
    item **link = lookup(db, s, h, key, klen, &now);
    if (link) {
        item *it = *link;
        int64_t when = deadline_of(at_ms, &now), cur = it->expire;
        /* Redis's conditions: no deadline counts as an infinite one */
        if (!((cond & RESP_DB_NX) && cur) && !((cond & RESP_DB_XX) && !cur) &&
            !((cond & RESP_DB_GT) && (!cur || when <= cur)) &&
            !((cond & RESP_DB_LT) && cur && when >= cur)) {
            if (when <= clock_once(&now))
                drop(db, s, link);
            else
                set_expire(s, it, when);
            rc = 1;
        }
    }
    unlock(db, s);
    return rc;
}

int resp_db_persist(resp_db *db, const char *key, size_t klen)
{
    uint64_t h = siphash13(key, klen, db->k0, db->k1);
    stripe *s = stripe_of(db, h);
    int64_t now = 0;
    int rc = 0;
    lock(db, s);
    item **link = lookup(db, s, h, key, klen, &now);
    if (link && (*link)->expire) {
        set_expire(s, *link, 0);
        rc = 1;
    }
    unlock(db, s);
    return rc;
}

int resp_db_getdel(resp_db *db, const char *key, size_t klen, resp_db_visit visit, void *arg)
{
    uint64_t h = siphash13(key, klen, db->k0, db->k1);
    stripe *s = stripe_of(db, h);
    int64_t now = 0;
    int rc = RESP_DB_NOTFOUND;
    lock(db, s);
    item **link = lookup(db, s, h, key, klen, &now);
    if (link) {
        rc = visit(arg, (*link)->data + (*link)->klen, (*link)->vlen);
        drop(db, s, link);
    }
    unlock(db, s);
    return rc;
}

int resp_db_append(resp_db *db, const char *key, size_t klen, const char *value, size_t vlen,
                   size_t max_len, size_t *result)
{
    uint64_t h = siphash13(key, klen, db->k0, db->k1);
    stripe *s = stripe_of(db, h);
    int64_t now = 0;
    int rc = RESP_DB_OK;
    lock(db, s);
    item **link = lookup(db, s, h, key, klen, &now);
    item *old = link ? *link : NULL;
    size_t had = old ? old->vlen : 0, total = had + vlen;
    if (total > max_len) {
        rc = RESP_DB_TOOBIG;
    } else if (old && fits_in_place(old, total)) {
        memcpy(old->data + old->klen + had, value, vlen);
        old->vlen = (uint32_t)total;
    } else {
        item *it = item_new(db, h, key, klen, NULL, total, old ? old->expire : 0);
        if (it) {
            if (had)
                memcpy(it->data + klen, old->data + old->klen, had);
            memcpy(it->data + klen + had, value, vlen);
        }
        if (!it || install(db, s, link, it) < 0) {
            if (it)
                item_free(db, it);
            rc = RESP_DB_OOM;
        }
    }
    if (rc == RESP_DB_OK)
        *result = total;
    unlock(db, s);
    return rc;
}

/* The bits of v in reverse order (Redis's rev() for its SCAN cursor). */
static uint64_t reverse_bits(uint64_t v)
{
    uint64_t r = 0;
    for (int i = 0; i < 64; i++, v >>= 1)
        r = (r << 1) | (v & 1);
    return r;
}

uint64_t resp_db_scan(resp_db *db, uint64_t cursor, size_t count, resp_db_key_visit visit,
                      void *arg)
{
    size_t si = cursor % NSTRIPES, seen = 0;
    uint64_t v = cursor / NSTRIPES;
    size_t budget = count > SIZE_MAX / 10 ? SIZE_MAX : count * 10; /* buckets, as Redis */
    int64_t now = 0;
    for (;;) {
        stripe *s = &db->stripes[si];
        lock(db, s);
        if (s->buckets) {
            for (item **link = &s->buckets[v & s->mask]; *link;) {
                if (is_expired(*link, &now)) {
                    drop(db, s, link);
                    continue;
                }
                visit(arg, (*link)->data, (*link)->klen);
                seen++;
                link = &(*link)->next;
            }
            /* the next bucket in reverse-binary order, so that keys
             * moved by a doubling between two calls are still seen */
            v = reverse_bits(reverse_bits(v | ~(uint64_t)s->mask) + 1);
        } else {
            v = 0;
        }
        unlock(db, s);
        if (v == 0 && ++si == NSTRIPES)
            return 0;
        if (seen >= count || --budget == 0)
            return si + v * NSTRIPES;
    }
}

void resp_db_lock_all(resp_db *db)
{
    pthread_mutex_lock(&db->exec_lock);
    atomic_store_explicit(&db->exec, 1, memory_order_relaxed);
    in_exec = db;
    /* a barrier: operations under way finish, later ones see the flag */
    for (int i = 0; i < NSTRIPES; i++) {
        pthread_mutex_lock(&db->stripes[i].lock);
        pthread_mutex_unlock(&db->stripes[i].lock);
    }
}

void resp_db_unlock_all(resp_db *db)
{
    in_exec = NULL;
    atomic_store_explicit(&db->exec, 0, memory_order_relaxed);
    pthread_mutex_unlock(&db->exec_lock);
}

size_t resp_db_used(const resp_db *db)
{
    return atomic_load_explicit(&((resp_db *)db)->used, memory_order_relaxed);
}

size_t resp_db_max_memory(const resp_db *db)
{
    return db->max_memory;
}

/* ---- integers ---------------------------------------------------------- */

int resp_str2ll(const char *s, size_t len, long long *out)
{
    if (len == 0 || len > 20)
        return 0;
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    size_t i = 0;
    int neg = s[0] == '-';
    if (neg && ++i == len)
        return 0;
    if (s[i] < '1' || s[i] > '9')
        return 0;
    unsigned long long v = 0, limit = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    else
        *out = (long long)v;
    return 1;
}

size_t resp_ll2str(char *buf, long long v)
{
    char tmp[24];
    size_t n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    return len;
}
