/* handlers/resp/resp.c - resp.so: a RESP2 subset that redis-cli and
 * redis-benchmark talk to (see README.md in this directory).
 *
 * Each data() call parses every complete command in the buffer
 * (resp_parse.c), runs it against the listener's key space (resp_db.c)
 * and appends its reply to one output buffer, which goes out with ONE
 * eddy_send() at the end: a pipelined burst of N commands costs one
 * write().  The output buffer lives on the stack (16 KiB); only replies
 * larger than that (big GET values) move it to the heap, up to 1 MiB per
 * send, and it is freed before data() returns.  A partial command is left
 * unconsumed for the core to hand back with the next bytes.
 *
 * Per connection there is nothing at all unless the client asks for a
 * name or an id (CLIENT SETNAME/ID, HELLO), opens a MULTI, or sends a
 * command longer than PEND_AFTER: then a small record holds them, freed
 * in close().
 *
 * Protocol errors are answered with Redis's text, after the replies to the
 * commands before them, and the connection is closed (as Redis does); so
 * is QUIT, after its +OK.  A command named POST or Host: (an HTTP request
 * sent here) closes it at once, unanswered, as Redis does.
 *
 * Parameters (sizes take k/m/g):
 *   max_args    arguments per command, 1 to 1048576 (default 65536)
 *   max_bulk    bytes per argument, 1 to 1g (default 8m)
 *   max_inline  bytes per inline command line, 1 to 1m (default 64k)
 *   max_query   bytes per multibulk command, 1 to 2g (default 32m)
 *   max_memory  bytes of keys and values, 1m to 1t (default 256m)
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eddy/eddy.h"
#include "eddy/handler.h"
#include "resp_db.h"
#include "resp_parse.h"

enum {
    OUT_STACK = 16 * 1024,   /* replies gathered on the stack before the heap */
    OUT_FLUSH = 1024 * 1024, /* past this, replies are sent and the buffer reused */
    ARGV_STACK = 128,        /* argument slots on the stack; more: heap, for that command */
    SCRATCH_STACK = 1024,    /* unescaped quoted inline words */
    PEND_AFTER = 16 * 1024,  /* an unfinished command past this moves to the handler */
};

#define DEFAULT_MAX_ARGS 65536
#define DEFAULT_MAX_BULK ((size_t)8 << 20)
#define DEFAULT_MAX_INLINE ((size_t)64 << 10)
#define DEFAULT_MAX_QUERY ((size_t)32 << 20)
#define DEFAULT_MAX_MEMORY ((size_t)256 << 20)
#define LIMIT_MAX_ARGS ((size_t)1 << 20)
#define LIMIT_MAX_BULK ((size_t)1 << 30)
#define LIMIT_MAX_INLINE ((size_t)1 << 20)
#define LIMIT_MAX_QUERY ((size_t)2 << 30)
#define LIMIT_MAX_MEMORY ((size_t)1 << 40)
#define MIN_MAX_MEMORY ((size_t)1 << 20)

/* The Redis version whose RESP2 behaviour this follows; clients gate
 * features on it (HELLO, INFO). */
#define COMPAT_VERSION "7.0.0"

/* Redis logs a cross-protocol attempt at most once a minute. */
#define ATTACK_LOG_SECONDS 60

typedef struct resp_state {
    resp_db *db;
    resp_limits lim;
    atomic_ullong next_id;       /* CLIENT ID, HELLO */
    atomic_ullong attacks;       /* connections closed at POST or Host: (INFO) */
    atomic_llong attack_logged;  /* CLOCK_MONOTONIC s of the last such log line; 0 never */
} resp_state;

/* Per connection, only once a client asks for a name or an id, or sends
 * a command longer than PEND_AFTER in pieces. */
typedef struct resp_client {
    unsigned long long id;
    /* An unfinished command taken from the core (see resp_data): it grows
     * only with bytes that arrived, and is freed once it has run. */
    char *pend;
    size_t pend_len, pend_cap;
    /* MULTI: the commands queued for EXEC, each as its argc, then each
     * argument's length and bytes (size_t in host order, unaligned). */
    int multi, multi_failed; /* in MULTI; a command was refused: EXECABORT */
    char *queue;
    size_t queue_len, queue_cap, queued;
    size_t name_len;
    char name[]; /* name_len bytes (0: no name) */
} resp_client;

/* ---- the output buffer ------------------------------------------------- */

typedef struct out {
    eddy_conn *c;
    char *p;
    size_t len, cap;
    char *heap; /* p when on the heap */
    int failed; /* the connection is closing/gone, or out of memory */
} out;

static void out_flush(out *o)
{
    if (o->len && !o->failed && eddy_send(o->c, o->p, o->len) < 0)
        o->failed = 1;
    o->len = 0;
}

static int out_grow(out *o, size_t n)
{
    if (o->failed)
        return -1;
    if (o->c && o->len && o->len + n > OUT_FLUSH) {
        out_flush(o);
        if (o->failed)
            return -1;
    }
    if (o->len + n <= o->cap)
        return 0;
    size_t cap = o->cap * 2;
    while (cap < o->len + n)
        cap *= 2;
    char *b = malloc(cap);
    if (!b) {
        o->failed = 1;
        return -1;
    }
    memcpy(b, o->p, o->len);
    free(o->heap);
    o->heap = o->p = b;
    o->cap = cap;
    return 0;
}

/* Room for n more bytes, or NULL (o->failed). */
static inline char *out_room(out *o, size_t n)
{
    if (o->len + n > o->cap && out_grow(o, n) < 0)
        return NULL;
    return o->p + o->len;
}

static void out_raw(out *o, const char *s, size_t n)
{
    char *w = out_room(o, n);
    if (w) {
        memcpy(w, s, n);
        o->len += n;
    }
}
#define OUT_LIT(o, lit) out_raw((o), lit, sizeof(lit) - 1)

/* A type byte, a number and CRLF: ":42\r\n", "$5\r\n", "*3\r\n". */
static void out_num(out *o, char type, long long v)
{
    char *w = out_room(o, 24);
    if (w) {
        w[0] = type;
        size_t n = 1 + resp_ll2str(w + 1, v);
        w[n] = '\r';
        w[n + 1] = '\n';
        o->len += n + 2;
    }
}

static void out_bulk(out *o, const char *s, size_t n)
{
    char *w = out_room(o, n + 24);
    if (w) {
        w[0] = '$';
        size_t h = 1 + resp_ll2str(w + 1, (long long)n);
        w[h] = '\r';
        w[h + 1] = '\n';
        memcpy(w + h + 2, s, n);
        w[h + 2 + n] = '\r';
        w[h + 3 + n] = '\n';
        o->len += h + 4 + n;
    }
}

static void out_bulk_str(out *o, const char *s)
{
    out_bulk(o, s, strlen(s));
}

/* "-" text "\r\n"; text is one line (no CR or LF). */
static void out_err(out *o, const char *text, size_t n)
{
    char *w = out_room(o, n + 3);
    if (w) {
        w[0] = '-';
        memcpy(w + 1, text, n);
        w[n + 1] = '\r';
        w[n + 2] = '\n';
        o->len += n + 3;
    }
}
#define OUT_ERR(o, lit) out_err((o), lit, sizeof(lit) - 1)

/* resp_db visitor: the value as a bulk reply, copied under the lock. */
static int visit_bulk(void *arg, const char *value, size_t len)
{
    out *o = arg;
    out_bulk(o, value, len);
    return o->failed ? -1 : 0;
}

/* An error line built from pieces, with CR and LF turned into spaces and
 * stopped at a NUL (as Redis's addReplyErrorFormat and %s do). */
typedef struct line {
    char buf[512];
    size_t len;
} line;

static void line_add(line *l, const char *s, size_t n)
{
    for (size_t i = 0; i < n && l->len < sizeof(l->buf); i++) {
        char ch = s[i];
        if (ch == '\0')
            break;
        l->buf[l->len++] = (ch == '\r' || ch == '\n') ? ' ' : ch;
    }
}

static void line_str(line *l, const char *s)
{
    line_add(l, s, strlen(s));
}

/* ---- commands ---------------------------------------------------------- */

typedef struct ctx {
    out o;
    resp_state *st;
    eddy_conn *c;
    int quit;    /* reply, then close */
    int attack;  /* close at once, replies not yet sent dropped */
    int in_exec; /* EXEC is running its queue: the key space is ours alone */
} ctx;

typedef void (*command_fn)(ctx *x, const resp_arg *argv, size_t argc);

typedef struct command {
    const char *name; /* lower case */
    size_t len;
    int arity; /* as Redis: N exactly, -N at least N (the name counts) */
    command_fn fn;
} command;

#define E_NOTINT "ERR value is not an integer or out of range"
#define E_SYNTAX "ERR syntax error"
#define E_OOM "OOM command not allowed when used memory > 'maxmemory'."

/* Case-insensitive: name is lower-case letters (and '|' or '-'). */
static int is_word(const resp_arg *a, const char *name, size_t len)
{
    if (a->len != len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = a->p[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch + ('a' - 'A'));
        if (ch != name[i])
            return 0;
    }
    return 1;
}
#define IS(a, lit) is_word((a), lit, sizeof(lit) - 1)

static void reply_arity(ctx *x, const char *name)
{
    line l = {.len = 0};
    line_str(&l, "ERR wrong number of arguments for '");
    line_str(&l, name);
    line_str(&l, "' command");
    out_err(&x->o, l.buf, l.len);
}

static void reply_unknown_sub(ctx *x, const resp_arg *sub, const char *cmd)
{
    line l = {.len = 0};
    line_str(&l, "ERR unknown subcommand '");
    line_add(&l, sub->p, sub->len < 128 ? sub->len : 128);
    line_str(&l, "'. Try ");
    line_str(&l, cmd);
    line_str(&l, " HELP.");
    out_err(&x->o, l.buf, l.len);
}

static void reply_db_error(ctx *x, int rc)
{
    if (rc == RESP_DB_NOTINT)
        OUT_ERR(&x->o, E_NOTINT);
    else if (rc == RESP_DB_OVERFLOW)
        OUT_ERR(&x->o, "ERR increment or decrement would overflow");
    else
        OUT_ERR(&x->o, E_OOM);
}

static resp_client *client_of(ctx *x)
{
    resp_client *cl = eddy_conn_data(x->c);
    if (!cl && (cl = calloc(1, sizeof(*cl)))) {
        cl->id = atomic_fetch_add_explicit(&x->st->next_id, 1, memory_order_relaxed) + 1;
        eddy_conn_set_data(x->c, cl);
    }
    return cl;
}

static void cmd_ping(ctx *x, const resp_arg *argv, size_t argc)
{
    if (argc > 2)
        reply_arity(x, "ping");
    else if (argc == 2)
        out_bulk(&x->o, argv[1].p, argv[1].len);
    else
        OUT_LIT(&x->o, "+PONG\r\n");
}

static void cmd_echo(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    out_bulk(&x->o, argv[1].p, argv[1].len);
}

static void cmd_quit(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argv;
    (void)argc;
    OUT_LIT(&x->o, "+OK\r\n");
    x->quit = 1;
}

static void cmd_get(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    if (resp_db_get(x->st->db, argv[1].p, argv[1].len, visit_bulk, &x->o) == RESP_DB_NOTFOUND)
        OUT_LIT(&x->o, "$-1\r\n");
}

static void reply_expire_time(ctx *x, const char *cmd)
{
    line l = {.len = 0};
    line_str(&l, "ERR invalid expire time in '");
    line_str(&l, cmd);
    line_str(&l, "' command");
    out_err(&x->o, l.buf, l.len);
}

/* Redis's getExpireMillisecondsOrReply(): the deadline in Unix ms that an
 * EX/PX (relative) or EXAT/PXAT (absolute) argument names, or 0 after an
 * error reply.  It must be positive and must not overflow. */
static int64_t expire_arg(ctx *x, const resp_arg *a, int seconds, int relative, const char *cmd)
{
    long long v;
    if (!resp_str2ll(a->p, a->len, &v)) {
        OUT_ERR(&x->o, E_NOTINT);
        return 0;
    }
    if (v <= 0 || (seconds && v > LLONG_MAX / 1000) ||
        (relative && __builtin_add_overflow(v * (seconds ? 1000 : 1), resp_db_unix_ms(), &v))) {
        reply_expire_time(x, cmd);
        return 0;
    }
    return relative ? v : v * (seconds ? 1000 : 1);
}

/* Store, with SET's replies: +OK, nil when NX/XX is not met, with GET the
 * old value or nil, and -OOM. */
static void set_reply(ctx *x, const resp_arg *key, const resp_arg *value, unsigned flags,
                      int64_t at_ms, int get)
{
    int had_old = 0;
    int rc = resp_db_set(x->st->db, key->p, key->len, value->p, value->len, flags, at_ms,
                         get ? visit_bulk : NULL, &x->o, &had_old);
    if (x->o.failed)
        return;
    if (rc == RESP_DB_OOM) /* then the old value was not visited */
        OUT_ERR(&x->o, E_OOM);
    else if (get && !had_old)
        OUT_LIT(&x->o, "$-1\r\n");
    else if (!get && rc == RESP_DB_NOTFOUND)
        OUT_LIT(&x->o, "$-1\r\n");
    else if (!get)
        OUT_LIT(&x->o, "+OK\r\n");
}

/* SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL], with the
 * option checks of Redis's parseExtendedStringArgumentsOrReply(): a later
 * EX overrides an earlier one, but EX and PX (etc.) do not mix. */
static void cmd_set(ctx *x, const resp_arg *argv, size_t argc)
{
    unsigned flags = 0;
    int get = 0, unit = 0; /* unit: 'e' EX, 'p' PX, 'E' EXAT, 'P' PXAT */
    const resp_arg *expire = NULL;
    for (size_t j = 3; j < argc; j++) {
        const resp_arg *a = &argv[j];
        int has_next = j + 1 < argc, keep = (flags & RESP_DB_KEEPTTL) != 0;
        int u = IS(a, "ex") ? 'e' : IS(a, "px") ? 'p' : IS(a, "exat") ? 'E' : IS(a, "pxat") ? 'P' : 0;
        if (IS(a, "nx") && !(flags & RESP_DB_XX)) {
            flags |= RESP_DB_NX;
        } else if (IS(a, "xx") && !(flags & RESP_DB_NX)) {
            flags |= RESP_DB_XX;
        } else if (IS(a, "get")) {
            get = 1;
        } else if (IS(a, "keepttl") && !unit) {
            flags |= RESP_DB_KEEPTTL;
        } else if (u && !keep && (!unit || unit == u) && has_next) {
            unit = u;
            expire = &argv[++j];
        } else {
            OUT_ERR(&x->o, E_SYNTAX);
            return;
        }
    }
    int64_t at = 0;
    if (expire && !(at = expire_arg(x, expire, unit == 'e' || unit == 'E', unit == 'e' || unit == 'p',
                                    "set")))
        return;
    set_reply(x, &argv[1], &argv[2], flags, at, get);
}

/* SETEX key seconds value, PSETEX key ms value */
static void setex(ctx *x, const resp_arg *argv, int seconds, const char *cmd)
{
    int64_t at = expire_arg(x, &argv[2], seconds, 1, cmd);
    if (at)
        set_reply(x, &argv[1], &argv[3], 0, at, 0);
}

static void cmd_setex(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    setex(x, argv, 1, "setex");
}

static void cmd_psetex(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    setex(x, argv, 0, "psetex");
}

static void cmd_getset(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    set_reply(x, &argv[1], &argv[2], 0, 0, 1);
}

static void cmd_getdel(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    if (resp_db_getdel(x->st->db, argv[1].p, argv[1].len, visit_bulk, &x->o) == RESP_DB_NOTFOUND)
        OUT_LIT(&x->o, "$-1\r\n");
}

static void cmd_append(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    size_t len;
    int rc = resp_db_append(x->st->db, argv[1].p, argv[1].len, argv[2].p, argv[2].len,
                            x->st->lim.max_bulk, &len);
    if (rc == RESP_DB_OK)
        out_num(&x->o, ':', (long long)len);
    else if (rc == RESP_DB_TOOBIG)
        OUT_ERR(&x->o, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    else
        OUT_ERR(&x->o, E_OOM);
}

/* resp_db visitor: the length of the value as an integer reply. */
static int visit_len(void *arg, const char *value, size_t len)
{
    (void)value;
    out_num(arg, ':', (long long)len);
    return 0;
}

static void cmd_strlen(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    if (resp_db_get(x->st->db, argv[1].p, argv[1].len, visit_len, &x->o) == RESP_DB_NOTFOUND)
        OUT_LIT(&x->o, ":0\r\n");
}

/* EXPIRE/PEXPIRE key time [NX|XX|GT|LT], as Redis's expireGenericCommand():
 * the options are checked first, then the number; a time already past
 * deletes the key. */
static void expire_generic(ctx *x, const resp_arg *argv, size_t argc, int seconds,
                           const char *cmd)
{
    unsigned cond = 0;
    for (size_t j = 3; j < argc; j++) {
        const resp_arg *a = &argv[j];
        if (IS(a, "nx")) {
            cond |= RESP_DB_NX;
        } else if (IS(a, "xx")) {
            cond |= RESP_DB_XX;
        } else if (IS(a, "gt")) {
            cond |= RESP_DB_GT;
        } else if (IS(a, "lt")) {
            cond |= RESP_DB_LT;
        } else {
            line l = {.len = 0};
            line_str(&l, "ERR Unsupported option ");
            line_add(&l, a->p, a->len);
            out_err(&x->o, l.buf, l.len);
            return;
        }
    }
    if ((cond & RESP_DB_NX) && (cond & (RESP_DB_XX | RESP_DB_GT | RESP_DB_LT))) {
        OUT_ERR(&x->o, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if ((cond & RESP_DB_GT) && (cond & RESP_DB_LT)) {
        OUT_ERR(&x->o, "ERR GT and LT options at the same time are not compatible");
        return;
    }
    long long when;
    if (!resp_str2ll(argv[2].p, argv[2].len, &when)) {
        OUT_ERR(&x->o, E_NOTINT);
        return;
    }
    if ((seconds && (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000)) ||
        __builtin_add_overflow(when * (seconds ? 1000 : 1), resp_db_unix_ms(), &when)) {
        reply_expire_time(x, cmd);
        return;
    }
    out_num(&x->o, ':', resp_db_expire(x->st->db, argv[1].p, argv[1].len, when, cond));
}

static void cmd_expire(ctx *x, const resp_arg *argv, size_t argc)
{
    expire_generic(x, argv, argc, 1, "expire");
}

static void cmd_pexpire(ctx *x, const resp_arg *argv, size_t argc)
{
    expire_generic(x, argv, argc, 0, "pexpire");
}

static void cmd_persist(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    out_num(&x->o, ':', resp_db_persist(x->st->db, argv[1].p, argv[1].len));
}

static void cmd_del(ctx *x, const resp_arg *argv, size_t argc)
{
    long long n = 0;
    for (size_t i = 1; i < argc; i++)
        n += resp_db_del(x->st->db, argv[i].p, argv[i].len);
    out_num(&x->o, ':', n);
}

static void cmd_exists(ctx *x, const resp_arg *argv, size_t argc)
{
    long long n = 0;
    for (size_t i = 1; i < argc; i++)
        n += resp_db_exists(x->st->db, argv[i].p, argv[i].len);
    out_num(&x->o, ':', n);
}

static void incr_by(ctx *x, const resp_arg *key, long long delta)
{
    int64_t v;
    int rc = resp_db_incrby(x->st->db, key->p, key->len, delta, &v);
    if (rc == RESP_DB_OK)
        out_num(&x->o, ':', v);
    else
        reply_db_error(x, rc);
}

static void cmd_incr(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    incr_by(x, &argv[1], 1);
}

static void cmd_decr(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    incr_by(x, &argv[1], -1);
}

static void cmd_incrby(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    long long d;
    if (!resp_str2ll(argv[2].p, argv[2].len, &d))
        OUT_ERR(&x->o, E_NOTINT);
    else
        incr_by(x, &argv[1], d);
}

static void cmd_decrby(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    long long d;
    if (!resp_str2ll(argv[2].p, argv[2].len, &d))
        OUT_ERR(&x->o, E_NOTINT);
    else if (d == INT64_MIN)
        OUT_ERR(&x->o, "ERR decrement would overflow");
    else
        incr_by(x, &argv[1], -d);
}

static void cmd_mget(ctx *x, const resp_arg *argv, size_t argc)
{
    out_num(&x->o, '*', (long long)argc - 1);
    for (size_t i = 1; i < argc && !x->o.failed; i++)
        if (resp_db_get(x->st->db, argv[i].p, argv[i].len, visit_bulk, &x->o) ==
            RESP_DB_NOTFOUND)
            OUT_LIT(&x->o, "$-1\r\n");
}

static void cmd_mset(ctx *x, const resp_arg *argv, size_t argc)
{
    if (argc % 2 == 0) {
        reply_arity(x, "mset");
        return;
    }
    for (size_t i = 1; i < argc; i += 2) {
        if (resp_db_set(x->st->db, argv[i].p, argv[i].len, argv[i + 1].p, argv[i + 1].len, 0,
                        0, NULL, NULL, NULL) == RESP_DB_OOM) {
            OUT_ERR(&x->o, E_OOM);
            return;
        }
    }
    OUT_LIT(&x->o, "+OK\r\n");
}

static void cmd_ttl(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    int64_t ms = resp_db_pttl(x->st->db, argv[1].p, argv[1].len);
    out_num(&x->o, ':', ms < 0 ? ms : (ms + 500) / 1000);
}

static void cmd_pttl(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    out_num(&x->o, ':', resp_db_pttl(x->st->db, argv[1].p, argv[1].len));
}

static void cmd_dbsize(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argv;
    (void)argc;
    out_num(&x->o, ':', (long long)resp_db_count(x->st->db, NULL));
}

static void cmd_flushall(ctx *x, const resp_arg *argv, size_t argc)
{
    if (argc > 2 || (argc == 2 && !IS(&argv[1], "sync") && !IS(&argv[1], "async"))) {
        OUT_ERR(&x->o, E_SYNTAX);
        return;
    }
    resp_db_flush(x->st->db);
    OUT_LIT(&x->o, "+OK\r\n");
}

static void cmd_select(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    long long db;
    if (!resp_str2ll(argv[1].p, argv[1].len, &db))
        OUT_ERR(&x->o, E_NOTINT);
    else if (db != 0)
        OUT_ERR(&x->o, "ERR DB index is out of range");
    else
        OUT_LIT(&x->o, "+OK\r\n");
}

/* A client name: printable ASCII without spaces, as Redis checks. */
static int set_name(ctx *x, const resp_arg *name)
{
    for (size_t i = 0; i < name->len; i++) {
        if (name->p[i] < '!' || name->p[i] > '~') {
            OUT_ERR(&x->o, "ERR Client names cannot contain spaces, newlines or special "
                           "characters.");
            return -1;
        }
    }
    resp_client *cl = client_of(x);
    resp_client *n = cl ? realloc(cl, sizeof(*cl) + name->len) : NULL;
    if (!n) {
        OUT_ERR(&x->o, "ERR out of memory");
        return -1;
    }
    memcpy(n->name, name->p, name->len);
    n->name_len = name->len;
    eddy_conn_set_data(x->c, n);
    return 0;
}

/* HELLO [protover [AUTH user pass] [SETNAME name]]: RESP2 only. */
static void cmd_hello(ctx *x, const resp_arg *argv, size_t argc)
{
    if (argc >= 2) {
        long long ver;
        if (!resp_str2ll(argv[1].p, argv[1].len, &ver)) {
            OUT_ERR(&x->o, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver != 2) {
            OUT_ERR(&x->o, "NOPROTO sorry, this protocol version is not supported.");
            return;
        }
    }
    const resp_arg *name = NULL;
    for (size_t j = 2; j < argc; j++) {
        size_t more = argc - j - 1;
        if (IS(&argv[j], "auth") && more >= 2) {
            j += 2; /* no users or passwords here: like Redis's nopass default user */
        } else if (IS(&argv[j], "setname") && more >= 1) {
            name = &argv[++j];
        } else {
            line l = {.len = 0};
            line_str(&l, "ERR Syntax error in HELLO option '");
            line_add(&l, argv[j].p, argv[j].len < 128 ? argv[j].len : 128);
            line_str(&l, "'");
            out_err(&x->o, l.buf, l.len);
            return;
        }
    }
    if (name && set_name(x, name) < 0)
        return;
    resp_client *cl = client_of(x);
    OUT_LIT(&x->o, "*14\r\n$6\r\nserver\r\n$4\r\neddy\r\n$7\r\nversion\r\n");
    out_bulk_str(&x->o, COMPAT_VERSION);
    OUT_LIT(&x->o, "$5\r\nproto\r\n:2\r\n$2\r\nid\r\n");
    out_num(&x->o, ':', cl ? (long long)cl->id : 0);
    OUT_LIT(&x->o, "$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
                   "$7\r\nmodules\r\n*0\r\n");
}

static void cmd_client(ctx *x, const resp_arg *argv, size_t argc)
{
    const resp_arg *sub = &argv[1];
    if (IS(sub, "setname")) {
        if (argc != 3)
            reply_arity(x, "client|setname");
        else if (set_name(x, &argv[2]) == 0)
            OUT_LIT(&x->o, "+OK\r\n");
    } else if (IS(sub, "getname")) {
        resp_client *cl = eddy_conn_data(x->c);
        if (argc != 2)
            reply_arity(x, "client|getname");
        else if (cl && cl->name_len)
            out_bulk(&x->o, cl->name, cl->name_len);
        else
            OUT_LIT(&x->o, "$-1\r\n");
    } else if (IS(sub, "setinfo")) {
        if (argc != 4) {
            reply_arity(x, "client|setinfo");
        } else if (!IS(&argv[2], "lib-name") && !IS(&argv[2], "lib-ver")) {
            line l = {.len = 0};
            line_str(&l, "ERR Unrecognized option '");
            line_add(&l, argv[2].p, argv[2].len < 128 ? argv[2].len : 128);
            line_str(&l, "'");
            out_err(&x->o, l.buf, l.len);
        } else {
            OUT_LIT(&x->o, "+OK\r\n"); /* accepted, not kept */
        }
    } else if (IS(sub, "id")) {
        resp_client *cl = client_of(x);
        if (argc != 2)
            reply_arity(x, "client|id");
        else if (!cl)
            OUT_ERR(&x->o, "ERR out of memory");
        else
            out_num(&x->o, ':', (long long)cl->id);
    } else {
        reply_unknown_sub(x, sub, "CLIENT");
    }
}

static size_t command_count(void);
static const command *command_at(size_t i);

/* COMMAND, COMMAND COUNT, COMMAND DOCS/INFO/LIST: enough for redis-cli,
 * which asks COMMAND DOCS for its hints and falls back when it is empty. */
static void cmd_command(ctx *x, const resp_arg *argv, size_t argc)
{
    if (argc == 1) {
        OUT_LIT(&x->o, "*0\r\n");
        return;
    }
    const resp_arg *sub = &argv[1];
    if (IS(sub, "count")) {
        if (argc != 2)
            reply_arity(x, "command|count");
        else
            out_num(&x->o, ':', (long long)command_count());
    } else if (IS(sub, "docs")) {
        OUT_LIT(&x->o, "*0\r\n");
    } else if (IS(sub, "info")) {
        out_num(&x->o, '*', (long long)argc - 2);
        for (size_t i = 2; i < argc; i++)
            OUT_LIT(&x->o, "*-1\r\n");
    } else if (IS(sub, "list")) {
        out_num(&x->o, '*', (long long)command_count());
        for (size_t i = 0; i < command_count(); i++)
            out_bulk(&x->o, command_at(i)->name, command_at(i)->len);
    } else {
        reply_unknown_sub(x, sub, "COMMAND");
    }
}

static char fold(char c, int nocase)
{
    return nocase && c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* Redis's glob (stringmatchlen): '*', '?', '[abc]', '[^a-z]', '\x'; an
 * unclosed '[' runs to the end of the pattern, a trailing '\' is
 * literal.  As in Redis, once a '*' has tried every suffix in vain, no
 * shorter start can match either (*give_up), which keeps "a*a*a*...b"
 * linear rather than exponential; nesting bounds the recursion. */
static int glob_at(const char *p, size_t plen, const char *s, size_t slen, int nocase,
                   int *give_up, int nesting)
{
    if (nesting > 1000)
        return 0;
    while (plen && slen) {
        switch (p[0]) {
        case '*':
            while (plen > 1 && p[1] == '*') {
                p++;
                plen--;
            }
            if (plen == 1)
                return 1;
            for (; slen; s++, slen--) {
                if (glob_at(p + 1, plen - 1, s, slen, nocase, give_up, nesting + 1))
                    return 1;
                if (*give_up)
                    return 0;
            }
            *give_up = 1;
            return 0;
        case '?':
            s++;
            slen--;
            break;
        case '[': {
            p++;
            plen--;
            int neg = plen && p[0] == '^', match = 0;
            if (neg) {
                p++;
                plen--;
            }
            for (;;) {
                if (plen >= 2 && p[0] == '\\') {
                    p++;
                    plen--;
                    match |= p[0] == s[0];
                } else if (plen && p[0] == ']') {
                    break;
                } else if (plen == 0) {
                    p--;
                    plen++;
                    break;
                } else if (plen >= 3 && p[1] == '-') {
                    char lo = fold(p[0], nocase), hi = fold(p[2], nocase), c = fold(s[0], nocase);
                    if (lo > hi) {
                        char t = lo;
                        lo = hi;
                        hi = t;
                    }
                    match |= c >= lo && c <= hi;
                    p += 2;
                    plen -= 2;
                } else {
                    match |= fold(p[0], nocase) == fold(s[0], nocase);
                }
                p++;
                plen--;
            }
            if (neg)
                match = !match;
            if (!match)
                return 0;
            s++;
            slen--;
            break;
        }
        case '\\':
            if (plen >= 2) {
                p++;
                plen--;
            }
            /* fall through */
        default:
            if (fold(p[0], nocase) != fold(s[0], nocase))
                return 0;
            s++;
            slen--;
            break;
        }
        p++;
        plen--;
        if (slen == 0)
            while (plen && p[0] == '*') {
                p++;
                plen--;
            }
    }
    return plen == 0 && slen == 0;
}

static int glob(const char *p, size_t plen, const char *s, size_t slen, int nocase)
{
    int give_up = 0;
    return glob_at(p, plen, s, slen, nocase, &give_up, 0);
}

/* Keys gathered for KEYS and SCAN: bulk replies in a buffer of their own
 * (never sent by itself: no connection), counted, filtered by a pattern. */
typedef struct keylist {
    out o;
    long long n;
    const resp_arg *pattern; /* NULL: all */
} keylist;

static int visit_key(void *arg, const char *key, size_t klen)
{
    keylist *k = arg;
    if (!k->pattern || glob(k->pattern->p, k->pattern->len, key, klen, 0)) {
        out_bulk(&k->o, key, klen);
        k->n++;
    }
    return 0;
}

/* The gathered keys as an array reply, and the buffer freed. */
static void reply_keys(ctx *x, keylist *k)
{
    if (k->o.failed) {
        OUT_ERR(&x->o, "ERR out of memory");
    } else {
        out_num(&x->o, '*', k->n);
        out_raw(&x->o, k->o.p, k->o.len);
    }
    free(k->o.heap);
}

static void cmd_keys(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argc;
    char buf[1024];
    int all = argv[1].len == 1 && argv[1].p[0] == '*';
    keylist k = {.o = {.p = buf, .cap = sizeof(buf)}, .pattern = all ? NULL : &argv[1]};
    resp_db_scan(x->st->db, 0, SIZE_MAX, visit_key, &k);
    reply_keys(x, &k);
}

/* SCAN cursor [MATCH pattern] [COUNT n] [TYPE t]: the cursor read as
 * Redis reads it (strtoul: blanks first, or anything after the digits,
 * are errors); every key is a string, so TYPE string keeps all and any
 * other type none. */
static void cmd_scan(ctx *x, const resp_arg *argv, size_t argc)
{
    char num[32];
    size_t n = argv[1].len < sizeof(num) - 1 ? argv[1].len : sizeof(num) - 1;
    memcpy(num, argv[1].p, n);
    num[n] = '\0';
    char *end;
    errno = 0;
    unsigned long long cursor = strtoull(num, &end, 10);
    if (n != argv[1].len || memchr(argv[1].p, '\0', argv[1].len) || isspace((unsigned char)num[0]) ||
        *end || errno == ERANGE) {
        OUT_ERR(&x->o, "ERR invalid cursor");
        return;
    }
    long long count = 10;
    const resp_arg *pattern = NULL;
    int none = 0;
    for (size_t i = 2; i < argc; i += 2) {
        int more = i + 1 < argc;
        if (IS(&argv[i], "count") && more) {
            if (!resp_str2ll(argv[i + 1].p, argv[i + 1].len, &count)) {
                OUT_ERR(&x->o, E_NOTINT);
                return;
            }
            if (count < 1) {
                OUT_ERR(&x->o, E_SYNTAX);
                return;
            }
        } else if (IS(&argv[i], "match") && more) {
            pattern = argv[i + 1].len == 1 && argv[i + 1].p[0] == '*' ? NULL : &argv[i + 1];
        } else if (IS(&argv[i], "type") && more) {
            none = !IS(&argv[i + 1], "string");
        } else {
            OUT_ERR(&x->o, E_SYNTAX);
            return;
        }
    }
    char buf[1024];
    keylist k = {.o = {.p = buf, .cap = sizeof(buf)}, .pattern = pattern};
    cursor = resp_db_scan(x->st->db, cursor, (size_t)count, visit_key, &k);
    if (none) {
        k.o.len = 0;
        k.n = 0;
    }
    char text[24];
    OUT_LIT(&x->o, "*2\r\n");
    out_bulk(&x->o, text, (size_t)snprintf(text, sizeof(text), "%llu", cursor));
    reply_keys(x, &k);
}

/* CONFIG GET pattern...: the few settings clients look at (redis-benchmark
 * asks for save and appendonly), with this handler's values. */
static void cmd_config(ctx *x, const resp_arg *argv, size_t argc)
{
    if (!IS(&argv[1], "get")) {
        reply_unknown_sub(x, &argv[1], "CONFIG");
        return;
    }
    if (argc < 3) {
        reply_arity(x, "config|get");
        return;
    }
    char maxmem[24], maxbulk[24];
    maxmem[resp_ll2str(maxmem, (long long)resp_db_max_memory(x->st->db))] = '\0';
    maxbulk[resp_ll2str(maxbulk, (long long)x->st->lim.max_bulk)] = '\0';
    const char *const table[][2] = {
        {"appendonly", "no"},      {"databases", "1"},
        {"maxmemory", maxmem},     {"maxmemory-policy", "noeviction"},
        {"proto-max-bulk-len", maxbulk}, {"save", ""},
    };
    enum { N = sizeof(table) / sizeof(table[0]) };
    int match[N] = {0};
    long long n = 0;
    for (int k = 0; k < N; k++) {
        for (size_t i = 2; i < argc && !match[k]; i++)
            match[k] = glob(argv[i].p, argv[i].len, table[k][0], strlen(table[k][0]), 1);
        n += match[k];
    }
    out_num(&x->o, '*', 2 * n);
    for (int k = 0; k < N; k++) {
        if (match[k]) {
            out_bulk_str(&x->o, table[k][0]);
            out_bulk_str(&x->o, table[k][1]);
        }
    }
}

static void cmd_info(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argv;
    (void)argc;
    char text[512];
    size_t expires, keys = resp_db_count(x->st->db, &expires);
    int n = snprintf(text, sizeof(text),
                     "# Server\r\nredis_version:%s\r\nredis_mode:standalone\r\n"
                     "eddy_handler:resp\r\n\r\n# Memory\r\nused_memory:%zu\r\nmaxmemory:%zu\r\n"
                     "maxmemory_policy:noeviction\r\n\r\n# Stats\r\n"
                     "security_attacks_refused:%llu\r\n\r\n"
                     "# Keyspace\r\ndb0:keys=%zu,expires=%zu\r\n",
                     COMPAT_VERSION, resp_db_used(x->st->db), resp_db_max_memory(x->st->db),
                     atomic_load_explicit(&x->st->attacks, memory_order_relaxed), keys, expires);
    out_bulk(&x->o, text, n > 0 && (size_t)n < sizeof(text) ? (size_t)n : 0);
}

/* ---- transactions ------------------------------------------------------ */

static void execute(ctx *x, const resp_arg *argv, size_t argc);

/* Append a command to the client's MULTI queue and answer +QUEUED.  The
 * queue is bounded by max_query, like one command: past it the command is
 * refused and the transaction doomed. */
static void queue_command(ctx *x, resp_client *cl, const resp_arg *argv, size_t argc)
{
    size_t need = sizeof(size_t) * (argc + 1);
    for (size_t i = 0; i < argc; i++)
        need += argv[i].len;
    if (need > x->st->lim.max_query - cl->queue_len || cl->queue_len > x->st->lim.max_query) {
        OUT_ERR(&x->o, "ERR MULTI queue over max_query bytes");
        cl->multi_failed = 1;
        return;
    }
    if (cl->queue_len + need > cl->queue_cap) {
        size_t cap = cl->queue_cap ? cl->queue_cap : 256;
        while (cap < cl->queue_len + need)
            cap *= 2;
        char *q = realloc(cl->queue, cap);
        if (!q) {
            OUT_ERR(&x->o, "ERR out of memory");
            cl->multi_failed = 1;
            return;
        }
        cl->queue = q;
        cl->queue_cap = cap;
    }
    char *w = cl->queue + cl->queue_len;
    memcpy(w, &argc, sizeof(argc));
    w += sizeof(argc);
    for (size_t i = 0; i < argc; i++) {
        memcpy(w, &argv[i].len, sizeof(argv[i].len));
        memcpy(w + sizeof(size_t), argv[i].p, argv[i].len);
        w += sizeof(size_t) + argv[i].len;
    }
    cl->queue_len += need;
    cl->queued++;
    OUT_LIT(&x->o, "+QUEUED\r\n");
}

/* Leave MULTI, forgetting what was queued. */
static void multi_reset(resp_client *cl)
{
    free(cl->queue);
    cl->queue = NULL;
    cl->queue_len = cl->queue_cap = cl->queued = 0;
    cl->multi = cl->multi_failed = 0;
}

static void cmd_multi(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argv;
    (void)argc;
    resp_client *cl = client_of(x);
    if (!cl) {
        OUT_ERR(&x->o, "ERR out of memory");
    } else if (cl->multi) {
        OUT_ERR(&x->o, "ERR MULTI calls can not be nested");
    } else {
        cl->multi = 1;
        OUT_LIT(&x->o, "+OK\r\n");
    }
}

static void cmd_discard(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argv;
    (void)argc;
    resp_client *cl = eddy_conn_data(x->c);
    if (!cl || !cl->multi) {
        OUT_ERR(&x->o, "ERR DISCARD without MULTI");
        return;
    }
    multi_reset(cl);
    OUT_LIT(&x->o, "+OK\r\n");
}

/* EXEC: the queued commands, run one after the other while other
 * threads' operations on the key space wait (resp_db_lock_all), so that
 * other clients see all of their effects or none; their replies as one array.  A transaction in which a
 * command was refused while queuing runs nothing (EXECABORT, as Redis 7). */
static void cmd_exec(ctx *x, const resp_arg *argv, size_t argc)
{
    (void)argv;
    (void)argc;
    resp_client *cl = eddy_conn_data(x->c);
    if (!cl || !cl->multi) {
        OUT_ERR(&x->o, "ERR EXEC without MULTI");
        return;
    }
    if (cl->multi_failed) {
        multi_reset(cl);
        OUT_ERR(&x->o, "EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    /* The queue is taken from the record: a queued CLIENT SETNAME may move it. */
    char *queue = cl->queue, *r = queue;
    size_t n = cl->queued;
    cl->queue = NULL;
    multi_reset(cl);
    out_num(&x->o, '*', (long long)n);
    resp_arg stack_argv[ARGV_STACK], *args = stack_argv;
    size_t cap = ARGV_STACK;
    resp_db_lock_all(x->st->db);
    x->in_exec = 1;
    for (size_t k = 0; k < n && !x->o.failed; k++) {
        size_t nargs;
        memcpy(&nargs, r, sizeof(nargs));
        r += sizeof(nargs);
        if (nargs > cap) {
            resp_arg *a = malloc(nargs * sizeof(*a));
            if (!a) {
                x->o.failed = 1; /* the reply array cannot be completed: close */
                break;
            }
            if (args != stack_argv)
                free(args);
            args = a;
            cap = nargs;
        }
        for (size_t i = 0; i < nargs; i++) {
            memcpy(&args[i].len, r, sizeof(size_t));
            args[i].p = r + sizeof(size_t);
            r += sizeof(size_t) + args[i].len;
        }
        execute(x, args, nargs);
    }
    x->in_exec = 0;
    resp_db_unlock_all(x->st->db);
    if (args != stack_argv)
        free(args);
    free(queue);
}

#define CMD(name, arity, fn) {name, sizeof(name) - 1, arity, fn}
/* Most used first: the lookup is a scan. */
static const command commands[] = {
    CMD("get", 2, cmd_get),         CMD("set", -3, cmd_set),
    CMD("ping", -1, cmd_ping),      CMD("incr", 2, cmd_incr),
    CMD("del", -2, cmd_del),        CMD("exists", -2, cmd_exists),
    CMD("mget", -2, cmd_mget),      CMD("mset", -3, cmd_mset),
    CMD("echo", 2, cmd_echo),       CMD("decr", 2, cmd_decr),
    CMD("incrby", 3, cmd_incrby),   CMD("decrby", 3, cmd_decrby),
    CMD("ttl", 2, cmd_ttl),         CMD("pttl", 2, cmd_pttl),
    CMD("quit", -1, cmd_quit),      CMD("select", 2, cmd_select),
    CMD("dbsize", 1, cmd_dbsize),   CMD("flushdb", -1, cmd_flushall),
    CMD("flushall", -1, cmd_flushall), CMD("hello", -1, cmd_hello),
    CMD("client", -2, cmd_client),  CMD("command", -1, cmd_command),
    CMD("config", -2, cmd_config),  CMD("info", -1, cmd_info),
    CMD("expire", -3, cmd_expire),  CMD("pexpire", -3, cmd_pexpire),
    CMD("persist", 2, cmd_persist), CMD("setex", 4, cmd_setex),
    CMD("psetex", 4, cmd_psetex),   CMD("getdel", 2, cmd_getdel),
    CMD("getset", 3, cmd_getset),   CMD("append", 3, cmd_append),
    CMD("strlen", 2, cmd_strlen),   CMD("keys", 2, cmd_keys),
    CMD("scan", -2, cmd_scan),      CMD("multi", 1, cmd_multi),
    CMD("exec", 1, cmd_exec),       CMD("discard", 1, cmd_discard),
};
static const size_t ncommands = sizeof(commands) / sizeof(commands[0]);

static size_t command_count(void)
{
    return ncommands;
}

static const command *command_at(size_t i)
{
    return &commands[i];
}

static void reply_unknown(ctx *x, const resp_arg *argv, size_t argc)
{
    /* Redis: "unknown command '%.128s', with args beginning with: " then
     * "'%.*s' " per argument while under 128 bytes. */
    line l = {.len = 0};
    line_str(&l, "ERR unknown command '");
    line_add(&l, argv[0].p, argv[0].len < 128 ? argv[0].len : 128);
    line_str(&l, "', with args beginning with: ");
    size_t args = 0;
    for (size_t i = 1; i < argc && args < 128; i++) {
        size_t before = l.len, take = argv[i].len < 128 - args ? argv[i].len : 128 - args;
        line_str(&l, "'");
        line_add(&l, argv[i].p, take);
        line_str(&l, "' ");
        args += l.len - before;
    }
    out_err(&x->o, l.buf, l.len);
}

/* A command named POST or "Host:" is an HTTP request sent to this port,
 * most likely by a web page through a browser (cross-protocol scripting):
 * the lines after the headers would run as commands.  As Redis's
 * securityWarningCommand(): nothing more from this connection runs, it is
 * closed without its pending replies, and a warning is logged at most
 * once a minute (through eddyd's logger, so it reaches log_file). */
static void refuse_attack(ctx *x)
{
    resp_state *st = x->st;
    unsigned long long n = atomic_fetch_add_explicit(&st->attacks, 1, memory_order_relaxed) + 1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec + 1; /* never 0, which means "never logged" */
    long long last = atomic_load_explicit(&st->attack_logged, memory_order_relaxed);
    x->attack = 1;
    if ((last && now - last < ATTACK_LOG_SECONDS) ||
        !atomic_compare_exchange_strong(&st->attack_logged, &last, now))
        return;
    char peer[64];
    eddy_conn_peer(x->c, peer, sizeof(peer));
    eddy_log(EDDY_LOG_WARN,
             "resp: Possible SECURITY ATTACK detected. It looks like somebody is sending POST "
             "or Host: commands to Redis. This is likely due to an attacker attempting to use "
             "Cross Protocol Scripting to compromise your Redis instance. Connection aborted. "
             "(client %s, %llu so far)",
             peer, n);
}

static const command *lookup_command(const resp_arg *name)
{
    for (size_t i = 0; i < ncommands; i++)
        if (is_word(name, commands[i].name, commands[i].len))
            return &commands[i];
    return NULL;
}

/* Whether a command runs at once inside MULTI rather than being queued. */
static int runs_in_multi(const command *cmd)
{
    return cmd->fn == cmd_exec || cmd->fn == cmd_discard || cmd->fn == cmd_multi ||
           cmd->fn == cmd_quit;
}

/* A command that reads or writes more than one key: MGET, MSET, DEL and
 * EXISTS of several keys.  The key space is striped, so such a command
 * runs the way EXEC does (other threads' operations wait) to be atomic, as
 * every command is in Redis. */
static int on_several_keys(const command *cmd, size_t argc)
{
    if (cmd->fn == cmd_mset)
        return argc > 3;
    return argc > 2 && (cmd->fn == cmd_mget || cmd->fn == cmd_del || cmd->fn == cmd_exists);
}

/* As Redis's processCommand(): an HTTP request first; then an unknown
 * command or a wrong argument count is refused (and, inside MULTI, dooms
 * the transaction); inside MULTI other commands are queued; the rest run. */
static void execute(ctx *x, const resp_arg *argv, size_t argc)
{
    if (IS(&argv[0], "post") || IS(&argv[0], "host:")) {
        refuse_attack(x);
        return;
    }
    const command *cmd = lookup_command(&argv[0]);
    resp_client *cl = eddy_conn_data(x->c);
    int in_multi = cl && cl->multi;
    if (!cmd || (cmd->arity > 0 && argc != (size_t)cmd->arity) ||
        (cmd->arity < 0 && argc < (size_t)-cmd->arity)) {
        if (cmd && cmd->fn == cmd_exec) {
            /* Redis's execCommandAbort(), in MULTI or not: any transaction ends */
            if (in_multi)
                multi_reset(cl);
            OUT_ERR(&x->o, "EXECABORT Transaction discarded because of: wrong number of "
                           "arguments for 'exec' command");
            return;
        }
        if (cmd)
            reply_arity(x, cmd->name);
        else
            reply_unknown(x, argv, argc);
        if (in_multi)
            cl->multi_failed = 1;
    } else if (in_multi && !runs_in_multi(cmd)) {
        queue_command(x, cl, argv, argc);
    } else if (on_several_keys(cmd, argc) && !x->in_exec) {
        /* as in Redis, another client sees all of it or none */
        resp_db_lock_all(x->st->db);
        x->in_exec = 1;
        cmd->fn(x, argv, argc);
        x->in_exec = 0;
        resp_db_unlock_all(x->st->db);
    } else {
        cmd->fn(x, argv, argc);
    }
}

/* ---- the handler ------------------------------------------------------- */

/* Keep bytes[0..n) as the start of an unfinished command, after what is
 * kept already.  -1: out of memory. */
static int pend_add(resp_client *cl, const char *bytes, size_t n)
{
    if (cl->pend_len + n > cl->pend_cap) {
        size_t cap = cl->pend_cap ? cl->pend_cap : PEND_AFTER;
        while (cap < cl->pend_len + n)
            cap *= 2;
        char *p = realloc(cl->pend, cap);
        if (!p)
            return -1;
        cl->pend = p;
        cl->pend_cap = cap;
    }
    memcpy(cl->pend + cl->pend_len, bytes, n);
    cl->pend_len += n;
    return 0;
}

/* Parse and run every complete command in in[0..len); returns the bytes
 * they took.  A partial command is left; a protocol error, QUIT or an
 * attack sets x->quit or x->attack. */
static size_t run_commands(ctx *x, const char *in, size_t len)
{
    resp_arg stack_argv[ARGV_STACK];
    char stack_scratch[SCRATCH_STACK];
    resp_cmd cmd;
    cmd.argv = stack_argv;
    cmd.argv_cap = ARGV_STACK;
    cmd.scratch = stack_scratch;
    cmd.scratch_cap = SCRATCH_STACK;
    resp_arg *heap_argv = NULL;
    char *heap_scratch = NULL;
    size_t done = 0;
    while (done < len && !x->quit && !x->attack && !x->o.failed) {
        ptrdiff_t r = resp_parse(in + done, len - done, &x->st->lim, &cmd);
        if (r == RESP_NEED_SPACE) {
            /* A complete command with more than ARGV_STACK arguments, or
             * quoted inline words longer than the stack scratch: heap room
             * for this call, bounded by what arrived. */
            if (cmd.need_argc > cmd.argv_cap) {
                free(heap_argv);
                heap_argv = malloc(cmd.need_argc * sizeof(*heap_argv));
                cmd.argv = heap_argv;
                cmd.argv_cap = heap_argv ? cmd.need_argc : 0;
            }
            if (cmd.need_scratch > cmd.scratch_cap) {
                free(heap_scratch);
                heap_scratch = malloc(cmd.need_scratch);
                cmd.scratch = heap_scratch;
                cmd.scratch_cap = heap_scratch ? cmd.need_scratch : 0;
            }
            if (!cmd.argv || !cmd.scratch) {
                OUT_ERR(&x->o, "ERR out of memory");
                x->quit = 1;
            }
            continue;
        }
        if (r == EDDY_PARSE_NEED_MORE)
            break;
        if (r == EDDY_PARSE_ERROR) {
            out_err(&x->o, cmd.err, cmd.err_len);
            x->quit = 1;
            break;
        }
        done += (size_t)r;
        if (cmd.argc)
            execute(x, cmd.argv, cmd.argc);
    }
    free(heap_argv);
    free(heap_scratch);
    return done;
}

/* Commands run straight from the core's buffer.  An unfinished command
 * longer than PEND_AFTER is taken over (consumed and kept in the client
 * record) and completed there from later reads: so a value of up to
 * max_bulk, and a command of up to max_query, are limited by this
 * handler's checks, made on the declared lengths before the bytes are
 * waited for, and not by the listener's max_message (1m by default),
 * which would close the connection without a reply. */
static size_t resp_data(eddy_conn *c, const char *buf, size_t len)
{
    resp_state *st = eddy_conn_state(c);
    _Alignas(64) char stack_out[OUT_STACK]; /* the source of replies' writes: on a cache line */
    ctx x = {.o = {.c = c, .p = stack_out, .cap = sizeof(stack_out)}, .st = st, .c = c};
    resp_client *cl = eddy_conn_data(c);
    size_t consumed;
    resp_db_expire_step(st->db);
    if (cl && cl->pend_len) {
        if (pend_add(cl, buf, len) < 0) {
            OUT_ERR(&x.o, "ERR out of memory");
            x.quit = 1;
        } else {
            size_t done = run_commands(&x, cl->pend, cl->pend_len);
            cl = eddy_conn_data(c); /* CLIENT SETNAME may have moved the record */
            cl->pend_len -= done;
            memmove(cl->pend, cl->pend + done, cl->pend_len);
        }
        consumed = len;
    } else {
        consumed = run_commands(&x, buf, len);
        cl = eddy_conn_data(c);
        if (len - consumed > PEND_AFTER && !x.quit && !x.attack && !x.o.failed) {
            if (!(cl = client_of(&x)) || pend_add(cl, buf + consumed, len - consumed) < 0) {
                OUT_ERR(&x.o, "ERR out of memory");
                x.quit = 1;
            }
            consumed = len;
        }
    }
    if (cl && !cl->pend_len && cl->pend) { /* ran: give its memory back */
        free(cl->pend);
        cl->pend = NULL;
        cl->pend_cap = 0;
    }
    if (x.attack)
        x.o.len = 0; /* as Redis: a client closed for an attack gets no more replies */
    out_flush(&x.o); /* one eddy_send() for the whole burst */
    free(x.o.heap);
    if (x.quit || x.attack || x.o.failed) {
        eddy_close(c);
        return len; /* what follows QUIT or an error is never read */
    }
    return consumed;
}

static void resp_close(eddy_conn *c)
{
    resp_client *cl = eddy_conn_data(c);
    if (cl) {
        free(cl->pend);
        free(cl->queue);
    }
    free(cl);
}

static int size_param(eddy_params *params, const char *name, size_t def, size_t lo, size_t hi,
                      const char *range, size_t *value)
{
    if (eddy_params_size(params, name, def, value) < 0)
        return -EINVAL; /* the getter has said what is wrong */
    if (*value < lo || *value > hi)
        return eddy_params_reject(params, name, "'%s' is out of range: must be from %s",
                                  eddy_params_str(params, name, ""), range);
    return 0;
}

static int resp_init(void **state, eddy_params *params)
{
    size_t max_args, max_bulk, max_inline, max_query, max_memory;
    if (size_param(params, "max_args", DEFAULT_MAX_ARGS, 1, LIMIT_MAX_ARGS, "1 to 1048576",
                   &max_args) < 0 ||
        size_param(params, "max_bulk", DEFAULT_MAX_BULK, 1, LIMIT_MAX_BULK, "1 to 1g",
                   &max_bulk) < 0 ||
        size_param(params, "max_inline", DEFAULT_MAX_INLINE, 1, LIMIT_MAX_INLINE, "1 to 1m",
                   &max_inline) < 0 ||
        size_param(params, "max_query", DEFAULT_MAX_QUERY, 1, LIMIT_MAX_QUERY, "1 to 2g",
                   &max_query) < 0 ||
        size_param(params, "max_memory", DEFAULT_MAX_MEMORY, MIN_MAX_MEMORY, LIMIT_MAX_MEMORY,
                   "1m to 1t", &max_memory) < 0)
        return -EINVAL;
    resp_state *st = malloc(sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->db = resp_db_new(max_memory);
    if (!st->db) {
        free(st);
        return -ENOMEM;
    }
    st->lim.max_args = max_args;
    st->lim.max_bulk = max_bulk;
    st->lim.max_inline = max_inline;
    st->lim.max_query = max_query;
    atomic_init(&st->next_id, 0);
    atomic_init(&st->attacks, 0);
    atomic_init(&st->attack_logged, 0);
    *state = st;
    return 0;
}

static void resp_fini(void *state)
{
    resp_state *st = state;
    resp_db_free(st->db);
    free(st);
}

static const eddy_param resp_params[] = {{"max_args", 0},   {"max_bulk", 0},
                                         {"max_inline", 0}, {"max_query", 0},
                                         {"max_memory", 0}, {NULL, 0}};

static const eddy_handler resp_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "resp",
    .params = resp_params,
    .init = resp_init,
    .fini = resp_fini,
    .data = resp_data,
    .close = resp_close,
};

EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &resp_handler;
}
