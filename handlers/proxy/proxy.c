/* handlers/proxy/proxy.c - proxy.so: a layer-4 (TCP/Unix) load balancer.
 *
 * Each client connection gets one connection to an upstream, chosen by
 * `balance`; bytes flow both ways unchanged.  See README.md for the
 * parameters and what each promise costs.
 *
 * The shape of it:
 *   - A pair (client, upstream) is the data of both connections; each
 *     side's close() forgets itself and closes the other; the second
 *     close() frees the pair (as handlers/examples/forward.c).
 *   - The client is paused (eddy_conn_pause) until its upstream has
 *     connected, so that a failed connect can be retried on another
 *     upstream with nothing of the client's lost.  Bytes that reach data()
 *     before that (those that came with a PROXY header) are queued on the
 *     upstream and end the right to retry: "before any byte was sent".
 *   - Backpressure both ways: bytes read on one side are queued on the
 *     other; once that queue passes the listener's high_water the side
 *     they came from is paused, and the other side's drained() (its queue
 *     back below low_water) resumes it.  A pair holds at most about
 *     2 x (high_water + one read) of queued bytes, see README.md.  The
 *     two directions are independent: the handler is an
 *     EDDY_HANDLER_RELAY, so a side whose own output is backed up is still
 *     read.  Without it an upstream that stops reading while its output
 *     backs up (eddyd echo does) deadlocks the pair: our output to it
 *     stays above high_water, which stopped our reading of it, which
 *     keeps its output backed up (test_proxy.py, "own output backed up").
 *   - Streams are spliced: eddy_conn_splice() both ways once connected,
 *     so that a direction whose reads fill eddy's 64 KiB read room moves
 *     socket to pipe to socket without data() (a copy less each way; the
 *     same backpressure, half-close and counters, eddy_conn_spliced()).
 *     Small messages still come through data().
 *   - Half-close: a FIN from one side becomes eddy_conn_shutdown() of the
 *     other once what came before it is sent; the pair closes when both
 *     sides have ended.  A side that ends otherwise (a reset, a write
 *     error, a timeout) resets the other (eddy_conn_reset), as HAProxy
 *     does: the peer learns the transfer was cut, not finished.
 *   - Names are never resolved: upstreams are numeric, parsed in init().
 *   - Counters are per upstream, shared by the workers (relaxed atomics,
 *     touched once per connect and once per pair close, not per read), and
 *     go to the stats output (metrics(), read on the stats reader's thread)
 *     and to eddyd's log: when an upstream goes down or comes back, and at
 *     fini (shutdown or reload).
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eddy/eddy.h"
#include "eddy/handler.h"

enum { MAX_UPSTREAMS = 64, DEFAULT_CONNECT_MS = 2000, DEFAULT_FAIL_MS = 10000 };
enum { BALANCE_RR, BALANCE_LEAST, BALANCE_HASH };

typedef struct upstream {
    eddy_addr addr;
    char name[80];
    atomic_ullong conns, failures, bytes_in, bytes_out; /* in: from it; out: to it */
    atomic_llong active;                                /* established pairs now */
    atomic_llong down_until;                            /* monotonic ms; 0: up */
} upstream;

typedef struct proxy_state {
    upstream *ups;
    unsigned n;
    int balance, pp; /* pp: proxy_protocol_send 0 off, 1 v1, 2 v2 */
    long connect_ms, fail_ms, retries;
    atomic_uint rr;
    atomic_llong last_all_down_log; /* monotonic s */
} proxy_state;

/* A client and its upstream connection; either is NULL once closed. */
typedef struct pair {
    eddy_conn *client, *up;
    upstream *u;
    unsigned long long tried; /* bit i: upstream i was tried */
    unsigned attempts;
    unsigned char connected, committed, client_fin, up_fin;
    unsigned char ended_client, ended_up; /* we closed that side (else it ended on its own) */
    unsigned long long bytes_in, bytes_out;
} pair;

/* Monotonic milliseconds, coarse (a tick is enough for fail_timeout). */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line with u's counters, in eddyd's log. */
static void log_upstream(const upstream *u, const char *what)
{
    eddy_log(EDDY_LOG_INFO,
             "proxy: upstream %s %s: connections %llu failures %llu bytes_in %llu bytes_out %llu "
             "active %lld",
             u->name, what, atomic_load_explicit(&u->conns, memory_order_relaxed),
             atomic_load_explicit(&u->failures, memory_order_relaxed),
             atomic_load_explicit(&u->bytes_in, memory_order_relaxed),
             atomic_load_explicit(&u->bytes_out, memory_order_relaxed),
             atomic_load_explicit(&u->active, memory_order_relaxed));
}

/* The parameters, checked and parsed once: numeric upstreams only, each
 * a value of the list `upstream` (several on a line, or several lines); a
 * bad one is refused at its own line. */
static int proxy_init(void **state, eddy_params *params)
{
    size_t count = eddy_params_count(params, "upstream");
    if (count == 0)
        return eddy_params_reject(params, "upstream", "required: one or more numeric addresses");
    if (count > MAX_UPSTREAMS)
        return eddy_params_reject_value(params, "upstream", MAX_UPSTREAMS,
                                        "at most %d upstreams, this is number %d", MAX_UPSTREAMS,
                                        MAX_UPSTREAMS + 1);
    proxy_state *st = calloc(1, sizeof(*st));
    if (!st || !(st->ups = calloc(MAX_UPSTREAMS, sizeof(*st->ups)))) {
        free(st);
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++, st->n++) {
        const char *word = eddy_params_value(params, "upstream", i);
        upstream *u = &st->ups[i];
        if (strlen(word) >= sizeof(u->name))
            rc = eddy_params_reject_value(params, "upstream", i,
                                          "'%.20s...' is too long: at most %zu bytes", word,
                                          sizeof(u->name) - 1);
        else if (word[strcspn(word, " \t,")])
            rc = eddy_params_reject_value(params, "upstream", i,
                                          "'%s' is one value: give each address as its own, "
                                          "separated by spaces (upstream A B)",
                                          word);
        else if (eddy_addr_parse(word, &u->addr) < 0)
            rc = eddy_params_reject_value(params, "upstream", i,
                                          "'%s' is not IPV4:PORT, [IPV6]:PORT nor unix:PATH (names "
                                          "are not resolved)",
                                          word);
        else
            snprintf(u->name, sizeof(u->name), "%s", word);
    }
    const char *balance = eddy_params_str(params, "balance", "round_robin");
    const char *pp = eddy_params_str(params, "proxy_protocol_send", "off");
    if (rc == 0) {
        if (strcmp(balance, "round_robin") == 0)
            st->balance = BALANCE_RR;
        else if (strcmp(balance, "least_conn") == 0)
            st->balance = BALANCE_LEAST;
        else if (strcmp(balance, "ip_hash") == 0)
            st->balance = BALANCE_HASH;
        else
            rc = eddy_params_reject(params, "balance",
                                    "'%s': must be round_robin, least_conn or ip_hash", balance);
    }
    if (rc == 0) {
        if (strcmp(pp, "off") == 0)
            st->pp = 0;
        else if (strcmp(pp, "v1") == 0)
            st->pp = 1;
        else if (strcmp(pp, "v2") == 0)
            st->pp = 2;
        else
            rc = eddy_params_reject(params, "proxy_protocol_send", "'%s': must be off, v1 or v2", pp);
    }
    size_t retries = 0;
    if (rc == 0 && (eddy_params_msec(params, "connect_timeout", DEFAULT_CONNECT_MS, &st->connect_ms) < 0 ||
                    eddy_params_msec(params, "fail_timeout", DEFAULT_FAIL_MS, &st->fail_ms) < 0 ||
                    eddy_params_size(params, "retries", 1, &retries) < 0))
        rc = -EINVAL;
    if (rc == 0 && retries >= MAX_UPSTREAMS)
        rc = eddy_params_reject(params, "retries", "out of range: 0 to %d", MAX_UPSTREAMS - 1);
    if (rc < 0) {
        free(st->ups);
        free(st);
        return rc;
    }
    st->retries = (long)retries;
    *state = st;
    return 0;
}

/* The counters of each upstream go to the log, then the state. */
static void proxy_fini(void *state)
{
    proxy_state *st = state;
    for (unsigned i = 0; i < st->n; i++)
        log_upstream(&st->ups[i], now_ms() < st->ups[i].down_until ? "(down) at exit" : "(up) at exit");
    free(st->ups);
    free(st);
}

/* What metrics() reports per upstream, labelled upstream="ADDR". */
enum { M_CONNS, M_FAILURES, M_BYTES_IN, M_BYTES_OUT, M_ACTIVE, M_UP, M_COUNT };
static const struct {
    int type;
    const char *name, *help;
} upstream_metrics[M_COUNT] = {
    [M_CONNS] = {EDDY_METRIC_COUNTER, "eddy_proxy_upstream_connections_total",
                 "Connections to the upstream established."},
    [M_FAILURES] = {EDDY_METRIC_COUNTER, "eddy_proxy_upstream_failures_total",
                    "Connects to the upstream that failed (refused, timed out, unreachable)."},
    [M_BYTES_IN] = {EDDY_METRIC_COUNTER, "eddy_proxy_upstream_received_bytes_total",
                    "Bytes read from the upstream, counted when their pair closes."},
    [M_BYTES_OUT] = {EDDY_METRIC_COUNTER, "eddy_proxy_upstream_sent_bytes_total",
                     "Bytes sent to the upstream, counted when their pair closes."},
    [M_ACTIVE] = {EDDY_METRIC_GAUGE, "eddy_proxy_upstream_active_connections",
                  "Pairs established with the upstream now."},
    [M_UP] = {EDDY_METRIC_GAUGE, "eddy_proxy_upstream_up",
              "1 while the upstream is tried, 0 while it is skipped after a failed connect "
              "(fail_timeout)."},
};

/* Each upstream's counters, for the stats output: read with relaxed
 * atomics while the workers count on. */
static void proxy_metrics(void *state, eddy_metrics *m)
{
    const proxy_state *st = state;
    long long now = now_ms();
    for (unsigned i = 0; i < st->n; i++) {
        upstream *u = &st->ups[i];
        unsigned long long v[M_COUNT] = {
            [M_CONNS] = atomic_load_explicit(&u->conns, memory_order_relaxed),
            [M_FAILURES] = atomic_load_explicit(&u->failures, memory_order_relaxed),
            [M_BYTES_IN] = atomic_load_explicit(&u->bytes_in, memory_order_relaxed),
            [M_BYTES_OUT] = atomic_load_explicit(&u->bytes_out, memory_order_relaxed),
            [M_ACTIVE] =
                (unsigned long long)atomic_load_explicit(&u->active, memory_order_relaxed),
            [M_UP] = now >= atomic_load_explicit(&u->down_until, memory_order_relaxed),
        };
        for (int k = 0; k < M_COUNT; k++)
            eddy_metric(m, upstream_metrics[k].type, upstream_metrics[k].name,
                        upstream_metrics[k].help, "upstream", u->name, v[k]);
    }
}

/* FNV-1a of the client's IP address (not its port): ip_hash's key.  A
 * Unix client hashes as the empty address. */
static unsigned client_hash(eddy_conn *c)
{
    struct sockaddr_storage a = {.ss_family = AF_UNSPEC};
    socklen_t len;
    const unsigned char *p = NULL;
    size_t n = 0;
    if (eddy_conn_peer_addr(c, &a, &len) == 0 && a.ss_family == AF_INET) {
        p = (const unsigned char *)&((const struct sockaddr_in *)&a)->sin_addr;
        n = 4;
    } else if (a.ss_family == AF_INET6) {
        p = (const unsigned char *)&((const struct sockaddr_in6 *)&a)->sin6_addr;
        n = 16;
    }
    unsigned h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* The upstream for p's next attempt: not tried yet, not down; or -1. */
static int pick(proxy_state *st, pair *p)
{
    long long now = now_ms();
    unsigned start;
    if (st->balance == BALANCE_HASH) {
        start = client_hash(p->client);
    } else {
        start = atomic_fetch_add_explicit(&st->rr, 1, memory_order_relaxed);
    }
    int best = -1;
    long long best_active = 0;
    for (unsigned k = 0; k < st->n; k++) {
        unsigned i = (start + k) % st->n;
        upstream *u = &st->ups[i];
        if ((p->tried >> i) & 1 || now < atomic_load_explicit(&u->down_until, memory_order_relaxed))
            continue;
        if (st->balance != BALANCE_LEAST)
            return (int)i;
        long long a = atomic_load_explicit(&u->active, memory_order_relaxed);
        if (best < 0 || a < best_active) {
            best = (int)i;
            best_active = a;
        }
    }
    return best;
}

/* The PROXY header naming p's client (the address a PROXY header named,
 * on a listener with proxy_protocol) and the address it reached; 0 when
 * off. */
static size_t proxy_header(const proxy_state *st, pair *p, char *out, size_t cap)
{
    if (!st->pp)
        return 0;
    struct sockaddr_storage src, dst;
    socklen_t sl, dl;
    int fam = 0;
    if (eddy_conn_peer_addr(p->client, &src, &sl) == 0 &&
        eddy_conn_local_addr(p->client, &dst, &dl) == 0 && src.ss_family == dst.ss_family)
        fam = src.ss_family == AF_INET ? 4 : src.ss_family == AF_INET6 ? 6 : 0;
    const struct sockaddr_in *s4 = (const void *)&src, *d4 = (const void *)&dst;
    const struct sockaddr_in6 *s6 = (const void *)&src, *d6 = (const void *)&dst;
    const void *sa = fam == 4 ? (const void *)&s4->sin_addr : (const void *)&s6->sin6_addr;
    const void *da = fam == 4 ? (const void *)&d4->sin_addr : (const void *)&d6->sin6_addr;
    unsigned sport = fam == 4 ? ntohs(s4->sin_port) : ntohs(s6->sin6_port);
    unsigned dport = fam == 4 ? ntohs(d4->sin_port) : ntohs(d6->sin6_port);
    if (st->pp == 1) {
        char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
        if (!fam)
            return (size_t)snprintf(out, cap, "PROXY UNKNOWN\r\n");
        inet_ntop(fam == 4 ? AF_INET : AF_INET6, sa, a, sizeof(a));
        inet_ntop(fam == 4 ? AF_INET : AF_INET6, da, b, sizeof(b));
        return (size_t)snprintf(out, cap, "PROXY TCP%d %s %s %u %u\r\n", fam, a, b, sport, dport);
    }
    static const char sig[12] = "\r\n\r\n\0\r\nQUIT\n";
    size_t alen = fam == 4 ? 4 : 16, len = fam ? 2 * alen + 4 : 0;
    memcpy(out, sig, 12);
    out[12] = fam ? 0x21 : 0x20; /* v2 PROXY, or LOCAL */
    out[13] = fam == 4 ? 0x11 : fam == 6 ? 0x21 : 0x00;
    out[14] = (char)(len >> 8);
    out[15] = (char)len;
    unsigned char *x = (unsigned char *)out + 16;
    if (fam) {
        memcpy(x, sa, alen);
        memcpy(x + alen, da, alen);
        x[2 * alen] = (unsigned char)(sport >> 8);
        x[2 * alen + 1] = (unsigned char)sport;
        x[2 * alen + 2] = (unsigned char)(dport >> 8);
        x[2 * alen + 3] = (unsigned char)dport;
    }
    return 16 + len;
}

static const eddy_client upstream_client;

/* u failed a connect: counted, and skipped for fail_timeout (logged when
 * it was up). */
static void mark_failed(const proxy_state *st, upstream *u, int err)
{
    atomic_fetch_add_explicit(&u->failures, 1, memory_order_relaxed);
    if (!st->fail_ms)
        return;
    long long now = now_ms();
    if (now >= atomic_exchange_explicit(&u->down_until, now + st->fail_ms, memory_order_relaxed)) {
        char why[96];
        snprintf(why, sizeof(why), "down (%s)", eddy_strerror(err));
        log_upstream(u, why);
    }
}

/* Dial the next upstream for p: 0, or -1 when none is left to try. */
static int dial(proxy_state *st, pair *p)
{
    while (p->attempts <= (unsigned)st->retries) {
        int i = pick(st, p);
        if (i < 0)
            return -1;
        p->tried |= 1ull << i;
        p->attempts++;
        p->u = &st->ups[i];
        eddy_conn *up;
        int rc = eddy_connect(p->client, &p->u->addr, &upstream_client, p, st->connect_ms, &up);
        if (rc == 0) {
            p->up = up;
            char hdr[128];
            size_t n = proxy_header(st, p, hdr, sizeof(hdr));
            if (n)
                eddy_send(up, hdr, n);
            return 0;
        }
        if (rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM || rc == -EADDRNOTAVAIL)
            return -1; /* ours, not the upstream's */
        mark_failed(st, p->u, rc);
    }
    return -1;
}

/* Close a side of p ourselves: its close() then passes a FIN on, not a
 * reset. */
static void end_client(pair *p)
{
    p->ended_client = 1;
    eddy_close(p->client);
}

static void end_up(pair *p)
{
    p->ended_up = 1;
    eddy_close(p->up);
}

/* No upstream took p's client: close it, and say so once a second. */
static void all_down(proxy_state *st, pair *p)
{
    long long s = now_ms() / 1000, last = atomic_load_explicit(&st->last_all_down_log, memory_order_relaxed);
    if (s != last && atomic_compare_exchange_strong(&st->last_all_down_log, &last, s)) {
        char who[80];
        eddy_conn_peer(p->client, who, sizeof(who));
        eddy_log(EDDY_LOG_WARN, "proxy: no upstream reachable for %s (%u tried): closing it", who,
                 p->attempts);
    }
    end_client(p);
}

/* Pause `from` while `to` holds more than high_water of its bytes; 0, or
 * -1 when `to` cannot take them (it is closing). */
static int forward(eddy_conn *from, eddy_conn *to, const char *buf, size_t len)
{
    if (eddy_send(to, buf, len) < 0)
        return -1;
    if (eddy_conn_queued(to) > eddy_conn_high_water(to))
        eddy_conn_pause(from, 1);
    return 0;
}

/* The upstream's side. */

/* Up: the client may be read.  Failed: the upstream is marked down and
 * the next one tried, while nothing of the client's has been sent. */
static void up_connected(eddy_conn *b, int err)
{
    pair *p = eddy_conn_data(b);
    proxy_state *st = eddy_conn_state(b);
    if (!p->client)
        return;
    upstream *u = p->u;
    if (err == 0) {
        p->connected = 1;
        atomic_fetch_add_explicit(&u->conns, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&u->active, 1, memory_order_relaxed);
        if (atomic_exchange_explicit(&u->down_until, 0, memory_order_relaxed))
            log_upstream(u, "up");
        if (p->client_fin)
            eddy_conn_shutdown(b);
        eddy_conn_pause(p->client, 0);
        /* Streams go by splice(), both ways (not over TLS: refused, and
         * copied as before). */
        eddy_conn_splice(p->client, b);
        eddy_conn_splice(b, p->client);
        return;
    }
    if (err == -ECANCELED)
        return;
    mark_failed(st, u, err);
    if (!p->committed && dial(st, p) == 0)
        return; /* p->up is the new one; b's close() leaves p alone */
    all_down(st, p);
}

/* Upstream bytes go to the client; they count as the pair's activity. */
static size_t up_data(eddy_conn *b, const char *buf, size_t len)
{
    pair *p = eddy_conn_data(b);
    if (!p->client)
        return len;
    p->bytes_in += len;
    if (forward(b, p->client, buf, len) < 0)
        end_up(p);
    eddy_conn_touch(p->client);
    return len;
}

/* The upstream took the client's backlog: read the client again. */
static void up_drained(eddy_conn *b)
{
    pair *p = eddy_conn_data(b);
    if (p->client)
        eddy_conn_pause(p->client, 0);
}

/* The upstream's FIN: the client gets it after the bytes before it. */
static void up_shutdown(eddy_conn *b)
{
    pair *p = eddy_conn_data(b);
    p->up_fin = 1;
    if (!p->client || p->client_fin) {
        end_up(p);
        if (p->client)
            end_client(p);
        return;
    }
    eddy_conn_shutdown(p->client);
}

/* The upstream is gone: counted, and the client follows (reset when the
 * upstream ended without a FIN).  The second close frees the pair. */
static void up_close(eddy_conn *b)
{
    pair *p = eddy_conn_data(b);
    if (p->up != b)
        return; /* an attempt that failed and was retried */
    p->bytes_in += eddy_conn_spliced(b); /* what data() never saw */
    if (p->client)
        p->bytes_out += eddy_conn_spliced(p->client);
    if (p->connected) {
        upstream *u = p->u;
        atomic_fetch_add_explicit(&u->active, -1, memory_order_relaxed);
        atomic_fetch_add_explicit(&u->bytes_in, p->bytes_in, memory_order_relaxed);
        atomic_fetch_add_explicit(&u->bytes_out, p->bytes_out, memory_order_relaxed);
    }
    int aborted = !p->ended_up && !p->up_fin;
    p->up = NULL;
    if (!p->client)
        free(p);
    else if (aborted && p->connected && !p->ended_client)
        eddy_conn_reset(p->client); /* the upstream reset: so does the client */
    else
        end_client(p); /* after what is queued for it */
}

static const eddy_client upstream_client = {
    .connected = up_connected,
    .data = up_data,
    .peer_shutdown = up_shutdown,
    .drained = up_drained,
    .close = up_close,
};

/* The client's side. */

/* A client: its pair, and the first upstream dialled; not read until
 * that one connects. */
static int proxy_open(eddy_conn *c)
{
    proxy_state *st = eddy_conn_state(c);
    pair *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->client = c;
    eddy_conn_set_data(c, p);
    eddy_conn_pause(c, 1); /* until an upstream is connected */
    if (dial(st, p) < 0)
        all_down(st, p);
    return 0;
}

/* Client bytes go to the upstream. */
static size_t proxy_data(eddy_conn *c, const char *buf, size_t len)
{
    pair *p = eddy_conn_data(c);
    if (!p->up)
        return len;
    if (!p->connected)
        p->committed = 1; /* came with a PROXY header: no retry once queued */
    p->bytes_out += len;
    if (forward(c, p->up, buf, len) < 0)
        end_client(p);
    return len;
}

/* The client took the upstream's backlog: read the upstream again. */
static void proxy_drained(eddy_conn *c)
{
    pair *p = eddy_conn_data(c);
    if (p->up && p->connected)
        eddy_conn_pause(p->up, 0);
}

/* The client's FIN: the upstream gets it after the bytes before it. */
static void proxy_shutdown(eddy_conn *c)
{
    pair *p = eddy_conn_data(c);
    p->client_fin = 1;
    if (!p->up || p->up_fin) {
        end_client(p);
        if (p->up)
            end_up(p);
        return;
    }
    if (p->connected)
        eddy_conn_shutdown(p->up); /* else once connected */
}

/* The client is gone: the upstream follows (reset when the client ended
 * without a FIN).  The second close frees the pair. */
static void proxy_close(eddy_conn *c)
{
    pair *p = eddy_conn_data(c);
    if (!p)
        return;
    int aborted = !p->ended_client && !p->client_fin;
    if (p->up)
        p->bytes_out += eddy_conn_spliced(c); /* else up_close() counted them */
    p->client = NULL;
    if (!p->up)
        free(p);
    else if (aborted && p->connected && !p->ended_up)
        eddy_conn_reset(p->up); /* the client reset (or timed out): so does the upstream */
    else
        end_up(p); /* a connect under way is cancelled */
}

static const eddy_param proxy_params[] = {
    {"upstream", EDDY_PARAM_LIST}, {"balance", 0},      {"connect_timeout", 0},
    {"retries", 0},                {"fail_timeout", 0}, {"proxy_protocol_send", 0},
    {NULL, 0}};

static const eddy_handler proxy_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "proxy",
    .flags = EDDY_HANDLER_RELAY, /* each side is read on while its own output is backed up */
    .params = proxy_params,
    .init = proxy_init,
    .fini = proxy_fini,
    .open = proxy_open,
    .data = proxy_data,
    .close = proxy_close,
    .peer_shutdown = proxy_shutdown,
    .drained = proxy_drained,
    .metrics = proxy_metrics,
};

EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &proxy_handler;
}
