/* tests/unit/test_metrics.c - handlers' own metrics (eddy_metric, the
 * metrics callback of handler ABI 4) in eddy_server_stats_format's
 * output, on real servers: both formats, one # HELP and # TYPE per name
 * over several listeners, escaping, every refusal and the bound, eddy's
 * own names reserved, and reloads while another thread reads the stats;
 * eddy's own samples one per listener address and worker across reloads;
 * replaced listeners freed (fini) once their sockets let them go. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "builtin.h"
#include "eddy/eddy.h"
#include "listener.h"
#include "suites.h"

enum { MAGIC = 0x5ca1ab1e };

/* A listener's state: a base for the values it reports, how often its
 * metrics() ran, and a mark that fini() clears. */
typedef struct meter {
    unsigned long long base;
    atomic_int calls, inside;
    unsigned magic;
} meter;

/* What each test has metrics() report (every test runs in its own
 * process). */
static void (*report)(meter *st, eddy_metrics *m);
static atomic_int live, broken; /* states made and not freed; misuses seen */

static int meter_init(void **state, eddy_params *p)
{
    meter *st = calloc(1, sizeof(*st));
    size_t base = 0;
    if (!st || eddy_params_size(p, "base", 0, &base) < 0) {
        free(st);
        return -EINVAL;
    }
    st->base = base;
    st->magic = MAGIC;
    atomic_fetch_add(&live, 1);
    *state = st;
    return 0;
}

static void meter_fini(void *state)
{
    meter *st = state;
    if (st->magic != MAGIC || atomic_load(&st->inside))
        atomic_fetch_add(&broken, 1); /* freed twice, or while its metrics() runs */
    st->magic = 0;
    atomic_fetch_sub(&live, 1);
    free(st);
}

static size_t meter_data(eddy_conn *c, const char *buf, size_t len)
{
    (void)c;
    (void)buf;
    return len;
}

static void meter_metrics(void *state, eddy_metrics *m)
{
    meter *st = state;
    if (st->magic != MAGIC)
        atomic_fetch_add(&broken, 1);
    atomic_fetch_add(&st->inside, 1);
    atomic_fetch_add(&st->calls, 1);
    if (report)
        report(st, m);
    atomic_fetch_sub(&st->inside, 1);
}

static const eddy_param meter_params[] = {{"base", 0}, {NULL, 0}};

/* Not const: core_names_reserved renames it. */
static eddy_handler meter_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "meter",
    .params = meter_params,
    .init = meter_init,
    .fini = meter_fini,
    .data = meter_data,
    .metrics = meter_metrics,
};

/* A listener of meter on a fresh port with this base. */
static eddy_listener *listen_meter(eddy_server *s, const char *base)
{
    eddy_params *p;
    ck_assert_int_eq(eddy_params_new(&p), 0);
    ck_assert_int_eq(eddy_params_add(p, "base", base, 0), 0);
    eddy_listener *l;
    ck_assert_msg(eddy_server_listen(s, "127.0.0.1:0", &meter_handler, p, &l) == 0, "%s",
                  eddy_server_error(s));
    eddy_params_free(p);
    return l;
}

/* A server (not started) with one listener of meter, whose metrics()
 * reports with fn. */
static eddy_server *meter_server(void (*fn)(meter *st, eddy_metrics *m), const char *base)
{
    report = fn;
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    listen_meter(s, base);
    return s;
}

/* The stats as a string (free it), formatted as handlers/stats.c does:
 * measured, then written with room for counters that grew meanwhile. */
static char *format(const eddy_server *s, int prometheus)
{
    size_t cap = (size_t)eddy_server_stats_format(s, prometheus, NULL, 0) + 1024;
    for (;;) {
        char *buf = malloc(cap);
        ck_assert_ptr_nonnull(buf);
        int need = eddy_server_stats_format(s, prometheus, buf, cap);
        if ((size_t)need < cap)
            return buf;
        free(buf);
        cap = (size_t)need + 1024;
    }
}

static int occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static char *bound_of(const eddy_listener *l)
{
    static char addr[2][64];
    static int next;
    char *a = addr[next++ % 2];
    eddy_listener_bound_address(l, a, sizeof(addr[0]));
    return a;
}

static void report_things(meter *st, eddy_metrics *m)
{
    ck_assert_int_eq(eddy_metric(m, EDDY_METRIC_COUNTER, "eddy_meter_things_total", "Things.",
                                 "kind", "a", st->base + 1), 0);
    ck_assert_int_eq(eddy_metric(m, EDDY_METRIC_GAUGE, "eddy_meter_level", NULL, NULL, NULL,
                                 st->base), 0);
    ck_assert_int_eq(eddy_metric(m, EDDY_METRIC_COUNTER, "eddy_meter_things_total", "Ignored.",
                                 "kind", "b", st->base + 2), 0);
}

/* Two listeners of one handler on a running server with two workers and
 * an echo listener: each metrics() runs once per output (not per worker),
 * and each name's samples, from both listeners, come together under one
 * # HELP (the first given) and # TYPE, in the order first reported. */
START_TEST(grouped_once_per_name)
{
    report = report_things;
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    ck_assert_int_eq(eddy_server_set_workers(s, 2), 0);
    eddy_listener *a = listen_meter(s, "10");
    ck_assert_int_eq(eddy_server_listen(s, "127.0.0.1:0", eddy_echo_handler(), NULL, NULL), 0);
    eddy_listener *b = listen_meter(s, "20");
    ck_assert_int_eq(eddy_server_start(s), 0);
    char things[512], level[256], want[1024], *la = bound_of(a), *lb = bound_of(b);
    snprintf(things, sizeof(things),
             "eddy_meter_things_total{listener=\"%s\",kind=\"a\"} 11\n"
             "eddy_meter_things_total{listener=\"%s\",kind=\"b\"} 12\n"
             "eddy_meter_things_total{listener=\"%s\",kind=\"a\"} 21\n"
             "eddy_meter_things_total{listener=\"%s\",kind=\"b\"} 22\n",
             la, la, lb, lb);
    snprintf(level, sizeof(level),
             "eddy_meter_level{listener=\"%s\"} 10\neddy_meter_level{listener=\"%s\"} 20\n", la,
             lb);
    snprintf(want, sizeof(want),
             "# HELP eddy_meter_things_total Things.\n# TYPE eddy_meter_things_total counter\n"
             "%s# TYPE eddy_meter_level gauge\n%s# HELP eddy_handler_samples_dropped ",
             things, level);
    char *prom = format(s, 1);
    ck_assert_msg(strstr(prom, want), "want:\n%s\nin:\n%s", want, prom);
    ck_assert_int_eq(occurrences(prom, "# TYPE eddy_meter_things_total"), 1);
    ck_assert_int_eq(occurrences(prom, "# TYPE eddy_meter_level"), 1);
    ck_assert_ptr_nonnull(strstr(prom, "\neddy_handler_samples_dropped 0\n"));
    ck_assert_ptr_nonnull(strstr(prom, "# TYPE eddy_handler_samples_dropped gauge\n"));
    free(prom);

    snprintf(want, sizeof(want), "\n%s%shandler_samples_dropped 0\n", things, level);
    char *text = format(s, 0);
    ck_assert_msg(strstr(text, want), "want:\n%s\nin:\n%s", want, text);
    ck_assert_ptr_null(strstr(text, "# "));
    free(text);

    /* One call per listener and output: two outputs, each measured and
     * written (format() calls eddy_server_stats_format twice). */
    eddy_server_stop_now(s);
    eddy_server_wait(s);
    ck_assert_int_eq(atomic_load(&((meter *)a->state)->calls), 4);
    ck_assert_int_eq(atomic_load(&((meter *)b->state)->calls), 4);
    eddy_server_free(s);
    ck_assert_int_eq(atomic_load(&live), 0);
}
END_TEST

static void report_escapes(meter *st, eddy_metrics *m)
{
    (void)st;
    ck_assert_int_eq(eddy_metric(m, EDDY_METRIC_GAUGE, "eddy_meter_odd",
                                 "say \"hi\" \\ back\nslash", "v", "a\"b\\c\nd \xc3\xa9", 1), 0);
    ck_assert_int_eq(eddy_metric(m, EDDY_METRIC_GAUGE, "eddy_meter_odd", NULL, "v", "", 2), 0);
}

/* Label values escaped as the format wants (\\, \" and \n; UTF-8 as
 * is), # HELP with \\ and \n only; the listener's own address too. */
START_TEST(label_values_escaped)
{
    report = report_escapes;
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    ck_assert_int_eq(eddy_server_listen(s, "unix:/tmp/eddy \"q\" \\.sock", &meter_handler, NULL,
                                        NULL), 0);
    char *prom = format(s, 1);
    const char *want = "# HELP eddy_meter_odd say \"hi\" \\\\ back\\nslash\n"
                       "# TYPE eddy_meter_odd gauge\n"
                       "eddy_meter_odd{listener=\"unix:/tmp/eddy \\\"q\\\" \\\\.sock\","
                       "v=\"a\\\"b\\\\c\\nd \xc3\xa9\"} 1\n"
                       "eddy_meter_odd{listener=\"unix:/tmp/eddy \\\"q\\\" \\\\.sock\",v=\"\"} 2\n";
    ck_assert_msg(strstr(prom, want), "want:\n%s\nin:\n%s", want, prom);
    free(prom);
    char *text = format(s, 0);
    ck_assert_ptr_nonnull(strstr(text, "eddy_meter_odd{listener=\"unix:/tmp/eddy \\\"q\\\" "
                                       "\\\\.sock\",v=\"a\\\"b\\\\c\\nd \xc3\xa9\"} 1\n"));
    free(text);
    eddy_server_free(s);
}
END_TEST

/* What report_bad got back, call by call. */
static int got[64], ngot;

static void report_bad(meter *st, eddy_metrics *m)
{
    (void)st;
    char longest[202], longer[1026];
    memset(longest, 'x', 200); /* 200 bytes: the most a name may have */
    longest[200] = '\0';
    memset(longer, 'v', 1025); /* 1025 bytes: one past a label value's */
    longer[1025] = '\0';
    const int C = EDDY_METRIC_COUNTER, G = EDDY_METRIC_GAUGE;
    ngot = 0;
#define R(...) got[ngot++] = eddy_metric(m, __VA_ARGS__)
    R(C, "eddy_meter_good_total", "Good.", "k", "v", 1);     /* 0 */
    R(0, "eddy_meter_a", NULL, NULL, NULL, 1);               /* types */
    R(3, "eddy_meter_a", NULL, NULL, NULL, 1);
    R(C, NULL, NULL, NULL, NULL, 1); /* names */
    R(C, "", NULL, NULL, NULL, 1);
    R(C, "1abc", NULL, NULL, NULL, 1);
    R(C, "a-b", NULL, NULL, NULL, 1);
    R(C, "a b", NULL, NULL, NULL, 1);
    R(C, "caf\xc3\xa9", NULL, NULL, NULL, 1);
    R(C, longest, NULL, NULL, NULL, 1);                      /* 0 */
    longest[200] = 'x';
    longest[201] = '\0';
    R(C, longest, NULL, NULL, NULL, 1);                      /* 201 bytes */
    R(C, "eddy_connections_accepted_total", NULL, NULL, NULL, 1); /* reserved */
    R(C, "eddy_other_total", NULL, NULL, NULL, 1);
    R(C, "eddy_meter_", NULL, NULL, NULL, 1);
    R(C, "eddy_meterx_total", NULL, NULL, NULL, 1);
    R(G, "process_open_fds", NULL, NULL, NULL, 1);
    R(G, "process_mine", NULL, NULL, NULL, 1);
    R(G, "ns:sub_metric", NULL, NULL, NULL, 1);              /* 0: ':' in a name */
    R(C, "eddy_meter_b", NULL, "listener", "x", 1);          /* labels */
    R(C, "eddy_meter_b", NULL, "__name", "x", 1);
    R(C, "eddy_meter_b", NULL, "9a", "x", 1);
    R(C, "eddy_meter_b", NULL, "a:b", "x", 1);
    R(C, "eddy_meter_b", NULL, "", "x", 1);
    R(C, "eddy_meter_b", NULL, "k", NULL, 1);
    R(C, "eddy_meter_b", NULL, NULL, "x", 1);
    R(C, "eddy_meter_b", NULL, "k", "\xff", 1);              /* not UTF-8 */
    R(C, "eddy_meter_b", NULL, "k", "\xc0\xaf", 1);          /* overlong '/' */
    R(C, "eddy_meter_b", NULL, "k", "\xed\xa0\x80", 1);      /* a surrogate */
    R(C, "eddy_meter_b", NULL, "k", "\xe2\x82", 1);          /* cut short */
    R(C, "eddy_meter_b", NULL, "k", "\xf4\x90\x80\x80", 1);  /* past U+10FFFF */
    R(C, "eddy_meter_b", NULL, "k", longer, 1);
    R(C, "eddy_meter_b", "\xfe", "k", "x", 1);               /* help not UTF-8 */
    R(C, "eddy_meter_b", longer, "k", "x", 1);               /* help too long */
    R(C, "eddy_meter_b", NULL, "k", "\xf0\x9f\x98\x80", 1);  /* 0: U+1F600 */
    longer[1024] = '\0';
    R(C, "eddy_meter_b", longer, "k", longer, 1);            /* 0: 1024 bytes each */
    R(C, "eddy_meter_good_total", NULL, "k", "v", 2);        /* a duplicate */
    R(G, "eddy_meter_good_total", NULL, "k", "w", 2);        /* the other type */
    R(C, "eddy_meter_good_total", NULL, "k", "w", 3);        /* 0 */
    R(C, "eddy_meter_good_total", NULL, NULL, NULL, 4);      /* 0: no label */
    R(C, "eddy_meter_good_total", NULL, NULL, NULL, 5);      /* a duplicate */
#undef R
}

/* Each bad sample is refused with the documented errno and left out; the
 * output counts them; eddy_metric(NULL, ...) is refused too. */
START_TEST(bad_samples_dropped)
{
    eddy_server *s = meter_server(report_bad, "0");
    char *prom = format(s, 1);
    static const int want[] = {
        0,       -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL,
        0,       -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, 0,
        -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL,
        -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, 0,       0,       -EEXIST,
        -EINVAL, 0,       0,       -EEXIST};
    ck_assert_int_eq(ngot, (int)(sizeof(want) / sizeof(want[0])));
    int refused = 0;
    for (int i = 0; i < ngot; i++) {
        ck_assert_msg(got[i] == want[i], "call %d: %d, not %d", i, got[i], want[i]);
        refused += got[i] < 0;
    }
    char line[96];
    snprintf(line, sizeof(line), "\neddy_handler_samples_dropped %d\n", refused);
    ck_assert_msg(strstr(prom, line), "%s", prom);
    ck_assert_int_eq(occurrences(prom, "\neddy_meter_good_total{"), 3);
    ck_assert_int_eq(occurrences(prom, "\neddy_meter_b{"), 2);
    ck_assert_int_eq(occurrences(prom, "\nxxxx"), 1);
    ck_assert_int_eq(occurrences(prom, "\nns:sub_metric{"), 1);
    ck_assert_ptr_null(strstr(prom, "eddy_meter_a"));
    ck_assert_ptr_null(strstr(prom, "eddy_other"));
    ck_assert_ptr_null(strstr(prom, "process_mine"));
    ck_assert_int_eq(occurrences(prom, "process_open_fds"), 3); /* eddy's own: HELP, TYPE, value */
    ck_assert_int_eq(occurrences(prom, "eddy_connections_accepted_total"), 2); /* HELP, TYPE */
    free(prom);
    char *text = format(s, 0);
    snprintf(line, sizeof(line), "\nhandler_samples_dropped %d\n", refused);
    ck_assert_msg(strstr(text, line), "%s", text);
    free(text);
    ck_assert_int_eq(eddy_metric(NULL, EDDY_METRIC_GAUGE, "x", NULL, NULL, NULL, 1), -EINVAL);
    eddy_server_free(s);
}
END_TEST

static void report_many(meter *st, eddy_metrics *m)
{
    int zero = 0, full = 0;
    for (int i = 0; i < 3000; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        int rc = eddy_metric(m, EDDY_METRIC_GAUGE, "eddy_meter_many", NULL, "i", v, st->base);
        zero += rc == 0;
        full += rc == -ENOSPC;
    }
    /* The first listener takes 3000; the second the rest of 4096. */
    ck_assert_int_eq(zero, st->base == 11 ? 3000 : 1096);
    ck_assert_int_eq(full, 3000 - zero);
}

/* At most 4096 samples per output, over all listeners: the rest are
 * refused with -ENOSPC and counted. */
START_TEST(sample_bound)
{
    eddy_server *s = meter_server(report_many, "11");
    listen_meter(s, "12");
    char *prom = format(s, 1);
    ck_assert_int_eq(occurrences(prom, "\neddy_meter_many{"), 4096);
    ck_assert_int_eq(occurrences(prom, "# TYPE eddy_meter_many gauge"), 1);
    ck_assert_int_eq(occurrences(prom, "\"} 11\n"), 3000);
    ck_assert_int_eq(occurrences(prom, "\"} 12\n"), 1096);
    ck_assert_ptr_nonnull(strstr(prom, "\neddy_handler_samples_dropped 1904\n"));
    free(prom);
    eddy_server_free(s);
}
END_TEST

static const char *probe;
static int probe_rc;

static void report_probe(meter *st, eddy_metrics *m)
{
    (void)st;
    probe_rc = probe ? eddy_metric(m, EDDY_METRIC_GAUGE, probe, NULL, NULL, NULL, 1) : 1;
}

/* Every name eddy's own output uses is refused, even to a handler whose
 * name would let it use it (a handler named "tls" may name metrics
 * eddy_tls_*, but not eddy_tls_handshakes_total). */
START_TEST(core_names_reserved)
{
    eddy_server *s = meter_server(report_probe, "0");
    char *prom = format(s, 1);
    int checked = 0;
    for (char *p = prom; (p = strstr(p, "# TYPE ")); p++) {
        char name[128], word[64];
        ck_assert_int_eq(sscanf(p, "# TYPE %127s", name), 1);
        ck_assert(strncmp(name, "process_", 8) == 0 || strncmp(name, "eddy_", 5) == 0);
        if (strncmp(name, "eddy_", 5) == 0) { /* the handler named after its first word */
            ck_assert_int_eq(sscanf(name + 5, "%63[^_]", word), 1);
            meter_handler.name = word;
        }
        probe = name;
        free(format(s, 0));
        ck_assert_msg(probe_rc == -EINVAL, "%s: %d", name, probe_rc);
        checked++;
    }
    ck_assert_int_ge(checked, 20);
    meter_handler.name = "tls";
    probe = "eddy_tls_other_total";
    free(format(s, 0));
    ck_assert_int_eq(probe_rc, 0);
    meter_handler.name = "meter";
    free(prom);
    eddy_server_free(s);
}
END_TEST

static void report_slowly(meter *st, eddy_metrics *m)
{
    struct timespec t = {.tv_nsec = 20 * 1000};
    nanosleep(&t, NULL); /* a wider window for a reload to end the listener */
    ck_assert_int_eq(eddy_metric(m, EDDY_METRIC_COUNTER, "eddy_meter_reads_total", NULL, NULL,
                                 NULL, st->base), 0);
}

typedef struct reader {
    eddy_server *s;
    atomic_int stop;
    int outputs, missing;
} reader;

static void *read_stats(void *arg)
{
    reader *r = arg;
    while (!atomic_load(&r->stop) && r->outputs < 100000) {
        char *text = format(r->s, r->outputs % 2);
        r->missing += !strstr(text, "eddy_meter_reads_total{listener=");
        free(text);
        r->outputs++;
    }
    return NULL;
}

/* Reloads that replace listeners (the unix one) and remove them (the one
 * on port 0) while another thread reads the stats over and over: a
 * listener's state lives while its metrics() runs (a replaced one's fini()
 * waits for the reader's hold, and may then run on the reader's thread),
 * every state is freed once, each output has samples. */
START_TEST(reload_while_reading)
{
    report = report_slowly;
    char text[256];
    snprintf(text, sizeof(text),
             "workers 2\n"
             "listen tcp 127.0.0.1:0 { handler meter; base 1 }\n"        /* new at each reload */
             "listen unix /tmp/eddy-test-metrics-%d.sock { handler meter; base 2 }\n", /* kept */
             (int)getpid());
    eddy_config *c = NULL;
    char err[256] = "";
    ck_assert_msg(eddy_config_parse(&c, "t.conf", text, strlen(text), err, sizeof(err)) == 0,
                  "%s", err);
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    ck_assert_int_eq(eddy_server_register_handler(s, &meter_handler), 0);
    ck_assert_msg(eddy_server_configure(s, c) == 0, "%s", eddy_server_error(s));
    ck_assert_msg(eddy_server_start(s) == 0, "%s", eddy_server_error(s));
    reader r = {.s = s};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, read_stats, &r), 0);
    for (int i = 0; i < 30; i++)
        ck_assert_msg(eddy_server_reload(s, c) == 0, "%s", eddy_server_error(s));
    atomic_store(&r.stop, 1);
    pthread_join(t, NULL);
    ck_assert_int_gt(r.outputs, 0);
    ck_assert_int_eq(r.missing, 0);
    eddy_server_stop_now(s);
    eddy_server_wait(s);
    eddy_server_free(s);
    eddy_config_free(c);
    ck_assert_int_eq(atomic_load(&live), 0);
    ck_assert_int_eq(atomic_load(&broken), 0);
}
END_TEST

/* Connect to the unix socket at path, and wait until s has accepted
 * `total` connections in all. */
/* Connect to the unix listener at path and wait until s has accepted
 * total connections; the caller closes the fd returned. */
static int connect_unix(eddy_server *s, const char *path, unsigned long long total)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    eddy_stats st;
    for (int i = 0; i < 10000; i++) { /* at most 10 s */
        eddy_server_stats(s, &st);
        if (st.accepted >= total)
            break;
        usleep(1000);
    }
    ck_assert_uint_eq(st.accepted, total);
    return fd;
}

/* Wait until want meter states are live (the others' fini ran). */
static void wait_live(int want)
{
    int now = atomic_load(&live);
    for (int i = 0; i < 10000 && now != want; i++) { /* at most 10 s */
        usleep(1000);
        now = atomic_load(&live);
    }
    ck_assert_int_eq(now, want);
}

/* eddy_connections_accepted_total's sample for the unix listener at path
 * on worker 0: its value, or -1 when there is none; and that there is at
 * most one. */
static long long unix_accepted(const eddy_server *s, const char *path)
{
    char *prom = format(s, 1), sample[160];
    snprintf(sample, sizeof(sample),
             "\neddy_connections_accepted_total{listener=\"unix:%s\",worker=\"0\"} ", path);
    ck_assert_int_le(occurrences(prom, sample), 1);
    const char *at = strstr(prom, sample);
    long long v = at ? strtoll(at + strlen(sample), NULL, 10) : -1;
    free(prom);
    return v;
}

static unsigned long long total_accepted(const eddy_server *s)
{
    eddy_stats st;
    eddy_server_stats(s, &st);
    return st.accepted;
}

/* A listener that a reload removed and a later one added back at the same
 * address: eddy's own samples for it stay one per worker (Prometheus
 * refuses a sample given twice), summing what both counted, also once the
 * removed one's last connection has closed and it is freed.  Removed with
 * no connection, it is freed at once: its series goes, the totals keep
 * its counts. */
START_TEST(listener_back_at_its_address)
{
    char path[64], with[256], without[128];
    snprintf(path, sizeof(path), "/tmp/eddy-test-metrics-back-%d.sock", (int)getpid());
    snprintf(without, sizeof(without), "workers 1\nlisten tcp 127.0.0.1:0 { handler meter }\n");
    snprintf(with, sizeof(with), "%slisten unix %s { handler meter }\n", without, path);
    eddy_config *c1 = NULL, *c2 = NULL;
    char err[256] = "";
    ck_assert_int_eq(eddy_config_parse(&c1, "1.conf", with, strlen(with), err, sizeof(err)), 0);
    ck_assert_int_eq(eddy_config_parse(&c2, "2.conf", without, strlen(without), err,
                                       sizeof(err)), 0);
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    ck_assert_int_eq(eddy_server_register_handler(s, &meter_handler), 0);
    ck_assert_int_eq(eddy_server_configure(s, c1), 0);
    ck_assert_msg(eddy_server_start(s) == 0, "%s", eddy_server_error(s));
    wait_live(2);
    int held = connect_unix(s, path, 1);
    /* Each reload replaces the port-0 listener (freed at once); the held
     * connection keeps the first unix listener. */
    ck_assert_msg(eddy_server_reload(s, c2) == 0, "%s", eddy_server_error(s));
    wait_live(2);
    ck_assert_msg(eddy_server_reload(s, c1) == 0, "%s", eddy_server_error(s));
    wait_live(3);
    close(connect_unix(s, path, 2));
    ck_assert_int_eq(unix_accepted(s, path), 2);
    close(held); /* the first unix listener ends: its count goes to the second's */
    wait_live(2);
    ck_assert_int_eq(unix_accepted(s, path), 2);
    ck_assert_uint_eq(total_accepted(s), 2);
    ck_assert_msg(eddy_server_reload(s, c2) == 0, "%s", eddy_server_error(s));
    wait_live(1);
    ck_assert_int_eq(unix_accepted(s, path), -1);
    ck_assert_uint_eq(total_accepted(s), 2);
    ck_assert_int_eq(atomic_load(&broken), 0);
    eddy_server_stop_now(s);
    eddy_server_wait(s);
    eddy_server_free(s);
    eddy_config_free(c1);
    eddy_config_free(c2);
}
END_TEST

/* worker_init for picky: worker 1 refuses, so that worker stops its socket. */
static int picky_worker_init(void *state, int worker, void **worker_state)
{
    (void)state;
    *worker_state = NULL;
    return worker == 1 ? -EINVAL : 0;
}

/* A listener whose worker_init failed on one worker (that worker stopped
 * its socket at the start) and that a reload then replaces: the stopped
 * socket lets it go as the other does, and its fini runs. */
START_TEST(stopped_socket_lets_its_listener_go)
{
    static const char text[] = "workers 2\nlisten tcp 127.0.0.1:0 { handler picky }\n";
    eddy_handler picky = meter_handler;
    picky.name = "picky";
    picky.worker_init = picky_worker_init;
    eddy_config *c = NULL;
    char err[256] = "";
    ck_assert_int_eq(eddy_config_parse(&c, "p.conf", text, strlen(text), err, sizeof(err)), 0);
    eddy_server *s;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    ck_assert_int_eq(eddy_server_register_handler(s, &picky), 0);
    ck_assert_int_eq(eddy_server_configure(s, c), 0);
    ck_assert_msg(eddy_server_start(s) == 0, "%s", eddy_server_error(s));
    wait_live(1);
    for (int i = 0; i < 3; i++) { /* port 0: each reload replaces the listener */
        ck_assert_msg(eddy_server_reload(s, c) == 0, "%s", eddy_server_error(s));
        wait_live(1);
    }
    ck_assert_int_eq(atomic_load(&broken), 0);
    eddy_server_stop_now(s);
    eddy_server_wait(s);
    eddy_server_free(s);
    ck_assert_int_eq(atomic_load(&live), 0);
    eddy_config_free(c);
}
END_TEST

Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, grouped_once_per_name);
    tcase_add_test(tc, label_values_escaped);
    tcase_add_test(tc, bad_samples_dropped);
    tcase_add_test(tc, sample_bound);
    tcase_add_test(tc, core_names_reserved);
    tcase_add_test(tc, reload_while_reading);
    tcase_add_test(tc, listener_back_at_its_address);
    tcase_add_test(tc, stopped_socket_lets_its_listener_go);
    suite_add_tcase(s, tc);
    return s;
}
