/* core/stats.c - the counters as text: "name value" lines for people and
 * eddyd --stats, or the Prometheus text exposition format (0.0.4) with
 * Prometheus' naming: nouns with units, _total on counters, one metric
 * with a label where several things are counted alike, samples per
 * listener (its address) and worker, plus build_info and the standard
 * process_* metrics.
 *
 * Then the handlers' own metrics (eddy_metric): each listener's metrics()
 * is called once per output, with the listener held, and its samples are
 * copied into a collection bounded at MAX_SAMPLES, grouped by name (one
 * # HELP and # TYPE each, as the format requires, also when several
 * listeners run the same handler) in the order first reported. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

/* The "name value" lines: eddy_stats' fields by their own names. */
static const struct metric {
    const char *name;
    size_t offset;
} metrics[] = {
#define M(field) {#field, offsetof(eddy_stats, field)}
    M(accepted),       M(refused),       M(refused_per_ip),   M(open),
    M(bytes_in),       M(bytes_out),     M(reads),            M(sends),
    M(datagrams_in),   M(datagrams_out), M(datagrams_dropped), M(timeouts),
    M(errors_io),      M(errors_too_large), M(errors_nomem),  M(errors_proxy),
    M(errors_output_limit), M(accept_pauses), M(pool_pending),
    M(tls_handshakes_v12), M(tls_handshakes_v13), M(tls_resumed), M(tls_failed_timeout),
    M(tls_failed_closed), M(tls_failed_version), M(tls_failed_certificate), M(tls_failed_protocol),
#undef M
};

/* Prometheus: what each listener's socket on each worker counts.  Rows
 * with the same name are one metric told apart by label. */
static const struct family {
    const char *name, *label, *type, *help;
    size_t offset;
} families[] = {
#define F(name, label, type, field, help) {name, label, type, help, offsetof(eddy_stats, field)}
    F("eddy_connections_accepted_total", NULL, "counter", accepted, "Connections accepted."),
    F("eddy_connections_refused_total", "reason=\"max_connections\"", "counter", refused,
      "Connections closed at once, by the limit they were over."),
    F("eddy_connections_refused_total", "reason=\"max_connections_per_ip\"", "counter",
      refused_per_ip, NULL),
    F("eddy_connections_open", NULL, "gauge", open, "Connections open now."),
    F("eddy_connections_timed_out_total", NULL, "counter", timeouts,
      "Connections closed by idle_timeout or first_byte_timeout."),
    F("eddy_received_bytes_total", NULL, "counter", bytes_in, "Bytes read."),
    F("eddy_sent_bytes_total", NULL, "counter", bytes_out, "Bytes written."),
    F("eddy_reads_total", NULL, "counter", reads, "Reads handed to handlers."),
    F("eddy_sends_total", NULL, "counter", sends, "Sends by handlers."),
    F("eddy_received_datagrams_total", NULL, "counter", datagrams_in, "UDP datagrams read."),
    F("eddy_sent_datagrams_total", NULL, "counter", datagrams_out, "UDP replies sent."),
    F("eddy_dropped_datagrams_total", NULL, "counter", datagrams_dropped,
      "UDP replies dropped: too large or over the amplification limit."),
    F("eddy_errors_total", "reason=\"io\"", "counter", errors_io,
      "Connections closed or refused by an error, by reason: io (a read or write error, "
      "resets included), too_large (unconsumed input over max_message), nomem (out of memory), "
      "proxy (a malformed PROXY protocol header), output_limit (output queued over max_output)."),
    F("eddy_errors_total", "reason=\"too_large\"", "counter", errors_too_large, NULL),
    F("eddy_errors_total", "reason=\"nomem\"", "counter", errors_nomem, NULL),
    F("eddy_errors_total", "reason=\"proxy\"", "counter", errors_proxy, NULL),
    F("eddy_errors_total", "reason=\"output_limit\"", "counter", errors_output_limit, NULL),
    F("eddy_accept_pauses_total", NULL, "counter", accept_pauses,
      "Times accepting paused: out of file descriptors."),
    F("eddy_tls_handshakes_total", "version=\"TLSv1.2\"", "counter", tls_handshakes_v12,
      "TLS handshakes completed, by protocol version."),
    F("eddy_tls_handshakes_total", "version=\"TLSv1.3\"", "counter", tls_handshakes_v13, NULL),
    F("eddy_tls_resumed_handshakes_total", NULL, "counter", tls_resumed,
      "TLS handshakes that resumed a session (a ticket)."),
    F("eddy_tls_handshake_failures_total", "reason=\"timeout\"", "counter", tls_failed_timeout,
      "TLS handshakes failed, by reason: timeout (tls_handshake_timeout), closed (the client "
      "left), version (no common protocol version), certificate (the client's refused), "
      "protocol (anything else: garbage, no common cipher)."),
    F("eddy_tls_handshake_failures_total", "reason=\"closed\"", "counter", tls_failed_closed,
      NULL),
    F("eddy_tls_handshake_failures_total", "reason=\"version\"", "counter", tls_failed_version,
      NULL),
    F("eddy_tls_handshake_failures_total", "reason=\"certificate\"", "counter",
      tls_failed_certificate, NULL),
    F("eddy_tls_handshake_failures_total", "reason=\"protocol\"", "counter",
      tls_failed_protocol, NULL),
#undef F
};

/* Append to buf as snprintf would, tracking the length needed. */
static void put(char *buf, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
    size_t room = *at < len ? len - *at : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room ? buf + *at : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        *at += (size_t)n;
}

static unsigned long long field(const eddy_stats *st, size_t offset)
{
    return *(const unsigned long long *)((const char *)st + offset);
}

/* Text as the format wants it: \\ and \n escaped, and \" too in a label
 * value (quote 1), not in a # HELP line. */
static void put_escaped(char *buf, size_t len, size_t *at, const char *v, int quote)
{
    for (; *v; v++) {
        const char *esc = *v == '\\'           ? "\\\\"
                          : *v == '"' && quote ? "\\\""
                          : *v == '\n'         ? "\\n"
                                               : NULL;
        if (esc)
            put(buf, len, at, "%s", esc);
        else
            put(buf, len, at, "%c", *v);
    }
}

/* A label value: \\, \" and \n escaped. */
static void put_label(char *buf, size_t len, size_t *at, const char *v)
{
    put_escaped(buf, len, at, v, 1);
}

/* Handlers' metrics: the bounds of one output. */
enum {
    MAX_SAMPLES = 4096,      /* samples over all listeners */
    SLOTS = 2 * MAX_SAMPLES, /* slots of each hash table (a power of 2): at most half full */
    MAX_NAME = 200,          /* bytes of a metric or label name */
    MAX_TEXT = 1024,         /* bytes of a help text or a label value */
};

/* A metric name that handlers reported, with the list of its samples. */
typedef struct hname {
    char *name, *help; /* help: NULL until one is given */
    int type;
    unsigned first, last; /* its samples (index + 1), in the order reported */
} hname;

/* One sample: its name, its listener, its label ("label\0value" in one
 * allocation, or NULL), the next sample of the same name (index + 1). */
typedef struct hsample {
    unsigned name, listener, next;
    char *label;
    unsigned long long value;
} hsample;

struct eddy_metrics {
    eddy_listener **listeners; /* held until the output is written */
    unsigned nlisteners, cur;  /* cur: the one whose metrics() runs */
    hname *names;
    hsample *samples;
    unsigned nnames, nsamples, cap; /* cap: of both arrays (nnames <= nsamples) */
    unsigned *by_name, *by_series;  /* hash tables of index + 1; 0: free */
    unsigned long long dropped;     /* samples refused */
};

/* FNV-1a of s and its terminating NUL, continuing from h. */
static uint32_t hash(uint32_t h, const char *s)
{
    do
        h = (h ^ (unsigned char)*s) * 16777619u;
    while (*s++);
    return h;
}

/* FNV-1a's step for a whole number v, continuing from h. */
static uint32_t hash_u(uint32_t h, unsigned v)
{
    return (h ^ v) * 16777619u;
}

/* name's slot in by_name: its index + 1, or the free slot for it. */
static unsigned *name_slot(eddy_metrics *m, const char *name)
{
    uint32_t i = hash(2166136261u, name) & (SLOTS - 1);
    while (m->by_name[i] && strcmp(m->names[m->by_name[i] - 1].name, name) != 0)
        i = (i + 1) & (SLOTS - 1);
    return &m->by_name[i];
}

/* The slot in by_series of the sample with this name, listener and
 * label (NULL: none) and value, or the free slot for it. */
static unsigned *series_slot(eddy_metrics *m, unsigned name, const char *label, const char *value)
{
    uint32_t h = hash_u(hash_u(2166136261u, name), m->cur);
    if (label)
        h = hash(hash(h, label), value);
    for (uint32_t i = h & (SLOTS - 1);; i = (i + 1) & (SLOTS - 1)) {
        if (!m->by_series[i])
            return &m->by_series[i];
        const hsample *x = &m->samples[m->by_series[i] - 1];
        if (x->name == name && x->listener == m->cur && !x->label == !label &&
            (!label || (strcmp(x->label, label) == 0 &&
                        strcmp(x->label + strlen(x->label) + 1, value) == 0)))
            return &m->by_series[i];
    }
}

/* A metric name ([a-zA-Z_:][a-zA-Z0-9_:]*, colon 1) or a label name
 * ([a-zA-Z_][a-zA-Z0-9_]*, colon 0), at most MAX_NAME bytes. */
static int valid_name(const char *s, int colon)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colon && c == ':') || (n && c >= '0' && c <= '9');
        if (!ok || n == MAX_NAME)
            return 0;
    }
    return n > 0;
}

/* Valid UTF-8 (no overlong forms, no surrogates), at most MAX_TEXT bytes:
 * what the format, and its readers, take. */
static int valid_text(const char *s)
{
    if (strnlen(s, MAX_TEXT + 1) > MAX_TEXT)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned c = *p++, more, min;
        if (c < 0x80)
            continue;
        if (c >= 0xc2 && c <= 0xdf)
            more = 1, min = 0x80, c &= 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            more = 2, min = 0x800, c &= 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            more = 3, min = 0x10000, c &= 0x07;
        else
            return 0;
        for (; more; more--, p++) {
            if ((*p & 0xc0) != 0x80) /* the NUL ends the loop here too */
                return 0;
            c = c << 6 | (*p & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
    }
    return 1;
}

/* Is name eddy's, for a handler called handler: process_*, eddy_* but
 * eddy_HANDLER_*, and every name eddy's own output uses. */
static int reserved(const char *name, const char *handler)
{
    static const char *const own[] = {"eddy_build_info", "eddy_connections_max",
                                      "eddy_reloads_total", "eddy_pool_pending_requests",
                                      "eddy_handler_samples_dropped"};
    if (strncmp(name, "process_", 8) == 0)
        return 1;
    if (strncmp(name, "eddy_", 5) != 0)
        return 0;
    size_t n = strlen(handler);
    if (strncmp(name + 5, handler, n) != 0 || name[5 + n] != '_' || !name[6 + n])
        return 1;
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strcmp(name, own[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        if (strcmp(name, families[i].name) == 0)
            return 1;
    return 0;
}

/* Room for one more sample and name: 64, 128, ... MAX_SAMPLES. */
static int grow(eddy_metrics *m)
{
    unsigned cap = m->cap ? 2 * m->cap : 64;
    hsample *x = realloc(m->samples, cap * sizeof(*x));
    if (x)
        m->samples = x;
    hname *h = x ? realloc(m->names, cap * sizeof(*h)) : NULL;
    if (!h)
        return -ENOMEM;
    m->names = h;
    m->cap = cap;
    return 0;
}

/* eddy_metric without the count of those refused. */
static int add_sample(eddy_metrics *m, int type, const char *name, const char *help,
                      const char *label, const char *value, unsigned long long v)
{
    const eddy_listener *l = m->listeners[m->cur];
    if ((type != EDDY_METRIC_COUNTER && type != EDDY_METRIC_GAUGE) || !name ||
        !valid_name(name, 1) || reserved(name, l->handler->name) || (help && !valid_text(help)))
        return -EINVAL;
    if (label ? !valid_name(label, 0) || strncmp(label, "__", 2) == 0 ||
                    strcmp(label, "listener") == 0 || !value || !valid_text(value)
              : value != NULL)
        return -EINVAL;
    if (!m->by_name || !m->by_series)
        return -ENOMEM;
    unsigned *ns = name_slot(m, name);
    if (*ns && m->names[*ns - 1].type != type)
        return -EINVAL;
    unsigned k = *ns ? *ns - 1 : m->nnames;
    unsigned *ss = series_slot(m, k, label, value);
    if (*ss)
        return -EEXIST;
    if (m->nsamples == MAX_SAMPLES)
        return -ENOSPC;
    if (m->nsamples == m->cap && grow(m) < 0)
        return -ENOMEM;
    /* Every copy first: on failure nothing has changed. */
    size_t ll = label ? strlen(label) + 1 : 0, vl = label ? strlen(value) + 1 : 0;
    char *lv = label ? malloc(ll + vl) : NULL;
    char *copy = *ns ? NULL : strdup(name);
    int first_help = help && (!*ns || !m->names[k].help);
    char *h = first_help ? strdup(help) : NULL;
    if ((label && !lv) || (!*ns && !copy) || (first_help && !h)) {
        free(lv);
        free(copy);
        free(h);
        return -ENOMEM;
    }
    if (lv) {
        memcpy(lv, label, ll);
        memcpy(lv + ll, value, vl);
    }
    if (!*ns) {
        m->names[k] = (hname){.name = copy, .type = type};
        *ns = ++m->nnames;
    }
    hname *hn = &m->names[k];
    if (h)
        hn->help = h;
    m->samples[m->nsamples] = (hsample){.name = k, .listener = m->cur, .label = lv, .value = v};
    *ss = ++m->nsamples;
    if (hn->last)
        m->samples[hn->last - 1].next = m->nsamples;
    else
        hn->first = m->nsamples;
    hn->last = m->nsamples;
    return 0;
}

int eddy_metric(eddy_metrics *m, int type, const char *name, const char *help,
                const char *label, const char *label_value, unsigned long long value)
{
    if (!m)
        return -EINVAL;
    int rc = add_sample(m, type, name, help, label, label_value, value);
    if (rc < 0)
        m->dropped++;
    return rc;
}

/* Each listener's metrics(), with the listener held, into m. */
static void collect(const eddy_server *s, eddy_metrics *m)
{
    memset(m, 0, sizeof(*m));
    m->listeners = eddy__server_metric_listeners(s, &m->nlisteners);
    if (!m->nlisteners)
        return;
    m->by_name = calloc(SLOTS, sizeof(*m->by_name));
    m->by_series = calloc(SLOTS, sizeof(*m->by_series));
    for (m->cur = 0; m->cur < m->nlisteners; m->cur++) {
        eddy_listener *l = m->listeners[m->cur];
        l->handler->metrics(l->state, m);
    }
}

/* Free what collect() made, and let the listeners go (the last hold on a
 * listener that a reload replaced ends it here: its fini()). */
static void collect_end(eddy_metrics *m)
{
    for (unsigned i = 0; i < m->nsamples; i++)
        free(m->samples[i].label);
    for (unsigned i = 0; i < m->nnames; i++) {
        free(m->names[i].name);
        free(m->names[i].help);
    }
    free(m->samples);
    free(m->names);
    free(m->by_name);
    free(m->by_series);
    for (unsigned i = 0; i < m->nlisteners; i++)
        eddy__listener_release(m->listeners[i]);
    free(m->listeners);
}

/* The handlers' samples, name by name, each as
 * NAME{listener="ADDR"[,LABEL="VALUE"]} VALUE (after # HELP and # TYPE in
 * Prometheus), then the count of those refused. */
static void put_handler_metrics(const eddy_metrics *m, int prometheus, char *buf, size_t len,
                                size_t *at)
{
    for (unsigned k = 0; k < m->nnames; k++) {
        const hname *hn = &m->names[k];
        if (prometheus && hn->help) {
            put(buf, len, at, "# HELP %s ", hn->name);
            put_escaped(buf, len, at, hn->help, 0);
            put(buf, len, at, "\n");
        }
        if (prometheus)
            put(buf, len, at, "# TYPE %s %s\n", hn->name,
                hn->type == EDDY_METRIC_COUNTER ? "counter" : "gauge");
        for (unsigned i = hn->first; i; i = m->samples[i - 1].next) {
            const hsample *x = &m->samples[i - 1];
            put(buf, len, at, "%s{listener=\"", hn->name);
            put_label(buf, len, at, m->listeners[x->listener]->bound);
            if (x->label) {
                put(buf, len, at, "\",%s=\"", x->label);
                put_label(buf, len, at, x->label + strlen(x->label) + 1);
            }
            put(buf, len, at, "\"} %llu\n", x->value);
        }
    }
    if (prometheus)
        put(buf, len, at,
            "# HELP eddy_handler_samples_dropped Samples that handlers' metrics() reported for "
            "this output and eddy_metric() refused: a bad or reserved name, label or type, a "
            "duplicate, past the bound of %d, out of memory.\n"
            "# TYPE eddy_handler_samples_dropped gauge\neddy_handler_samples_dropped %llu\n",
            MAX_SAMPLES, m->dropped);
    else
        put(buf, len, at, "handler_samples_dropped %llu\n", m->dropped);
}

/* The process_* metrics of Prometheus' client libraries, from /proc/self
 * (what ProcSubset=pid leaves visible): -1 when unreadable. */
static double start_time_seconds(void)
{
    char stat[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    size_t n = f ? fread(stat, 1, sizeof(stat) - 1, f) : 0;
    if (f)
        fclose(f);
    stat[n] = '\0';
    const char *p = strrchr(stat, ')'); /* the command may hold spaces */
    unsigned long long ticks;
    /* starttime is field 22; fields after ')' start at 3 (state). */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                            "%*d %*d %llu", &ticks) != 1)
        return -1;
    struct timespec real, boot;
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    double booted = (double)(real.tv_sec - boot.tv_sec) + (real.tv_nsec - boot.tv_nsec) / 1e9;
    return booted + (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

static long long resident_bytes(void)
{
    long long pages = -1;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f && fscanf(f, "%*d %lld", &pages) != 1)
        pages = -1;
    if (f)
        fclose(f);
    return pages < 0 ? -1 : pages * sysconf(_SC_PAGESIZE);
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = -1; /* the directory's own fd */
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Has worker l a socket before ls in its list with ls's label?  A
 * listener that a reload removed keeps its socket's counters until its
 * last connection ends (then another socket of its label takes them, or
 * its series goes); one at the same address later (added back, or port 0
 * given the same port again) has a socket of its own. */
static int label_seen(const eddy__loop *l, const eddy__lsock *ls)
{
    for (const eddy__lsock *o = eddy__loop_stats_first(l); o != ls; o = eddy__loop_stats_next(o))
        if (strcmp(o->label, ls->label) == 0)
            return 1;
    return 0;
}

/* One family row's samples: each listener address of each worker, summed
 * over the sockets that served it (one sample per label set, as the
 * format requires). */
static void put_family(const eddy_server *s, const struct family *f, char *buf, size_t len,
                       size_t *at)
{
    if (f->help)
        put(buf, len, at, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
    for (int k = 0; k < s->shared.nloops; k++) {
        const eddy__loop *l = &s->loops[k];
        eddy__loop_stats_lock(l);
        for (const eddy__lsock *ls = eddy__loop_stats_first(l); ls; ls = eddy__loop_stats_next(ls)) {
            if (label_seen(l, ls))
                continue;
            eddy_stats st = {0};
            for (const eddy__lsock *o = ls; o; o = eddy__loop_stats_next(o))
                if (strcmp(o->label, ls->label) == 0)
                    eddy__counters_add(&o->n, &st);
            put(buf, len, at, "%s{listener=\"", f->name);
            put_label(buf, len, at, ls->label);
            put(buf, len, at, "\",worker=\"%d\"%s%s} %llu\n", k, f->label ? "," : "",
                f->label ? f->label : "", field(&st, f->offset));
        }
        eddy__loop_stats_unlock(l);
    }
}

static void format_prometheus(const eddy_server *s, const eddy_metrics *m, char *buf, size_t len,
                              size_t *at)
{
    put(buf, len, at,
        "# HELP eddy_build_info The eddy version serving, as a label.\n"
        "# TYPE eddy_build_info gauge\neddy_build_info{version=\"%s\"} 1\n",
        eddy_version());
    put(buf, len, at,
        "# HELP eddy_connections_max The max_connections limit: connections open at once over "
        "all listeners.\n# TYPE eddy_connections_max gauge\neddy_connections_max %u\n",
        eddy_server_max_connections(s));
    put(buf, len, at,
        "# HELP eddy_reloads_total Configuration reloads (SIGHUP), by result.\n"
        "# TYPE eddy_reloads_total counter\neddy_reloads_total{result=\"applied\"} %llu\n"
        "eddy_reloads_total{result=\"failed\"} %llu\n",
        eddy__server_reloads(s, 0), eddy__server_reloads(s, 1));
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        put_family(s, &families[i], buf, len, at);
    put(buf, len, at,
        "# HELP eddy_pool_pending_requests Requests in the worker pool now.\n"
        "# TYPE eddy_pool_pending_requests gauge\n");
    eddy_stats w;
    for (int k = 0; eddy_server_worker_stats(s, k, &w) == 0; k++)
        put(buf, len, at, "eddy_pool_pending_requests{worker=\"%d\"} %llu\n", k, w.pool_pending);
    put_handler_metrics(m, 1, buf, len, at);
    double start = start_time_seconds();
    if (start >= 0)
        put(buf, len, at,
            "# HELP process_start_time_seconds Start time of the process since the Unix epoch in "
            "seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds "
            "%.2f\n",
            start);
    long long rss = resident_bytes();
    if (rss >= 0)
        put(buf, len, at,
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
            "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %lld\n",
            rss);
    long fds = open_fds();
    if (fds >= 0)
        put(buf, len, at,
            "# HELP process_open_fds Number of open file descriptors.\n"
            "# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
            fds);
}

int eddy_server_stats_format(const eddy_server *s, int prometheus, char *buf, size_t len)
{
    size_t at = 0;
    eddy_metrics hm;
    collect(s, &hm);
    if (prometheus) {
        format_prometheus(s, &hm, buf, len, &at);
    } else {
        eddy_stats total, w;
        eddy_server_stats(s, &total);
        for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
            const struct metric *m = &metrics[i];
            put(buf, len, &at, "%s %llu\n", m->name, field(&total, m->offset));
            for (int k = 0; eddy_server_worker_stats(s, k, &w) == 0; k++)
                put(buf, len, &at, "worker.%d.%s %llu\n", k, m->name, field(&w, m->offset));
        }
        put_handler_metrics(&hm, 0, buf, len, &at);
    }
    collect_end(&hm);
    return (int)at;
}
