/* core/stats.c - the counters as text: "name value" lines for people and
 * eddyd --stats, or the Prometheus text exposition format (0.0.4) with
 * Prometheus' naming: nouns with units, _total on counters, one metric
 * with a label where several things are counted alike, samples per
 * listener (its address) and worker, plus build_info and the standard
 * process_* metrics. */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
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

/* A label value as the format wants it: \\, \" and \n escaped. */
static void put_label(char *buf, size_t len, size_t *at, const char *v)
{
    for (; *v; v++) {
        const char *esc = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
        if (esc)
            put(buf, len, at, "%s", esc);
        else
            put(buf, len, at, "%c", *v);
    }
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

/* One family row's samples: each listener socket of each worker. */
static void put_family(const eddy_server *s, const struct family *f, char *buf, size_t len,
                       size_t *at)
{
    if (f->help)
        put(buf, len, at, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
    for (int k = 0; k < s->shared.nloops; k++) {
        const eddy__loop *l = &s->loops[k];
        for (const eddy__lsock *ls = eddy__loop_stats_first(l); ls; ls = eddy__loop_stats_next(ls)) {
            eddy_stats st = {0};
            eddy__counters_add(&ls->n, &st);
            put(buf, len, at, "%s{listener=\"", f->name);
            put_label(buf, len, at, ls->label);
            put(buf, len, at, "\",worker=\"%d\"%s%s} %llu\n", k, f->label ? "," : "",
                f->label ? f->label : "", field(&st, f->offset));
        }
    }
}

static void format_prometheus(const eddy_server *s, char *buf, size_t len, size_t *at)
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
    if (prometheus) {
        format_prometheus(s, buf, len, &at);
        return (int)at;
    }
    eddy_stats total, w;
    eddy_server_stats(s, &total);
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
        const struct metric *m = &metrics[i];
        put(buf, len, &at, "%s %llu\n", m->name, field(&total, m->offset));
        for (int k = 0; eddy_server_worker_stats(s, k, &w) == 0; k++)
            put(buf, len, &at, "worker.%d.%s %llu\n", k, m->name, field(&w, m->offset));
    }
    return (int)at;
}
