/* core/stats.c - the counters as text: "name value" lines for people and
 * eddyd --stats, or the Prometheus text exposition format. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "server.h"

static const struct metric {
    const char *name, *help;
    int counter; /* else a gauge */
    size_t offset;
} metrics[] = {
#define M(field, counter, help) {#field, help, counter, offsetof(eddy_stats, field)}
    M(accepted, 1, "Connections accepted."),
    M(refused, 1, "Connections closed at once: over max_connections."),
    M(refused_per_ip, 1, "Connections closed at once: over max_connections_per_ip."),
    M(open, 0, "Connections open now."),
    M(bytes_in, 1, "Bytes read."),
    M(bytes_out, 1, "Bytes written."),
    M(messages_in, 1, "Reads handed to handlers."),
    M(messages_out, 1, "Sends by handlers."),
    M(datagrams_in, 1, "UDP datagrams read."),
    M(datagrams_out, 1, "UDP replies sent."),
    M(datagrams_dropped, 1, "UDP replies dropped: too large or over the amplification limit."),
    M(timeouts, 1, "Connections closed by idle or first-byte timeouts."),
    M(errors_io, 1, "Connections closed by a read or write error (resets included)."),
    M(errors_too_large, 1, "Connections closed: unconsumed input over max_message."),
    M(errors_nomem, 1, "Connections closed or refused: out of memory."),
    M(errors_proxy, 1, "Connections closed: malformed PROXY protocol header."),
    M(accept_pauses, 1, "Times accepting paused: out of file descriptors."),
    M(pool_queue, 0, "Requests in the worker pool now."),
#undef M
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

static unsigned long long value(const eddy_stats *st, const struct metric *m)
{
    return *(const unsigned long long *)((const char *)st + m->offset);
}

int eddy_server_stats_format(const eddy_server *s, int prometheus, char *buf, size_t len)
{
    size_t at = 0;
    eddy_stats total, w;
    eddy_server_stats(s, &total);
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
        const struct metric *m = &metrics[i];
        const char *suffix = m->counter ? "_total" : ""; /* Prometheus naming */
        if (prometheus)
            put(buf, len, &at, "# HELP eddy_%s%s %s\n# TYPE eddy_%s%s %s\n", m->name, suffix,
                m->help, m->name, suffix, m->counter ? "counter" : "gauge");
        else
            put(buf, len, &at, "%s %llu\n", m->name, value(&total, m));
        for (int k = 0; eddy_server_worker_stats(s, k, &w) == 0; k++) {
            if (prometheus)
                put(buf, len, &at, "eddy_%s%s{worker=\"%d\"} %llu\n", m->name, suffix, k,
                    value(&w, m));
            else
                put(buf, len, &at, "worker.%d.%s %llu\n", k, m->name, value(&w, m));
        }
    }
    return (int)at;
}
