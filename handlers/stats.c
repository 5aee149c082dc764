/* handlers/stats.c - eddyd's built-in `stats` handler: eddy's counters, per
 * worker and in total.  An HTTP/1.x GET gets them in the Prometheus text
 * format (point a scraper at a `listen tcp ... { handler stats }` block),
 * HEAD the same headers alone; any other line (what `eddyd --stats` sends over the Unix control socket)
 * gets "name value" lines.  Either way the connection closes after the
 * answer.  It uses only include/eddy/, exactly as a plugin would.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "eddy/eddy.h"
#include "eddy/handler.h"

enum { MAX_REQUEST = 8192 };

/* The end of the request, 0 while incomplete: the first newline of a
 * plain request, or the blank line after the headers of an HTTP/1.x one
 * (its request line ends in " HTTP/1.x"; *http is then set). */
static size_t request_end(const char *buf, size_t len, int *http)
{
    const char *nl = memchr(buf, '\n', len);
    if (!nl)
        return 0;
    size_t line = (size_t)(nl - buf);
    if (line && buf[line - 1] == '\r')
        line--;
    *http = line >= 9 && memcmp(buf + line - 9, " HTTP/1.", 8) == 0;
    if (!*http)
        return (size_t)(nl - buf) + 1;
    for (size_t i = (size_t)(nl - buf); i + 1 < len; i++) {
        if (buf[i] == '\n' && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && memcmp(buf + i, "\n\r\n", 3) == 0)
            return i + 3;
    }
    return 0;
}

/* The counters, formatted into a fresh buffer (*len bytes); NULL when out
 * of memory.  Sized after the last answer of the same format, so that one
 * pass usually does (each pass runs every handler's metrics()); the other
 * workers count on while we format: leave room for numbers that grow, and
 * format again in a buffer of the size needed when even that was not
 * enough. */
static char *format(const eddy_server *s, int prometheus, size_t *len)
{
    static atomic_size_t last[2]; /* the last length needed, by format */
    size_t cap = atomic_load_explicit(&last[prometheus], memory_order_relaxed) + 1024;
    for (;;) {
        char *body = malloc(cap);
        if (!body)
            return NULL;
        int need = eddy_server_stats_format(s, prometheus, body, cap);
        atomic_store_explicit(&last[prometheus], (size_t)need, memory_order_relaxed);
        if ((size_t)need < cap) {
            *len = (size_t)need;
            return body;
        }
        free(body);
        cap = (size_t)need + 1024;
    }
}

/* HTTP: GET gets the Prometheus text, HEAD its headers alone (curl -I),
 * any other method 405. */
static void answer_http(eddy_conn *c, const char *buf)
{
    int head = memcmp(buf, "HEAD ", 5) == 0;
    if (!head && memcmp(buf, "GET ", 4) != 0) {
        static const char no[] = "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"
                                 "Content-Length: 0\r\nConnection: close\r\n\r\n";
        eddy_send(c, no, sizeof(no) - 1);
        return;
    }
    size_t len;
    char *body = format(eddy_conn_server(c), 1, &len);
    if (!body)
        return;
    char hdr[200];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 200 OK\r\n"
                     "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     len);
    eddy_send(c, hdr, (size_t)n);
    if (!head)
        eddy_send(c, body, len);
    free(body);
}

static size_t stats_data(eddy_conn *c, const char *buf, size_t len)
{
    int http = 0;
    size_t end = request_end(buf, len, &http);
    if (!end) {
        if (len >= MAX_REQUEST)
            eddy_close(c); /* never answered: too long to be a stats request */
        return 0;
    }
    if (http) {
        answer_http(c, buf);
    } else {
        size_t n;
        char *body = format(eddy_conn_server(c), 0, &n);
        if (body)
            eddy_send(c, body, n);
        free(body);
    }
    eddy_close(c);
    return len;
}

static const eddy_param stats_params[] = {{NULL, 0}};

static const eddy_handler stats_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "stats",
    .params = stats_params,
    .data = stats_data,
};

const eddy_handler *eddy_stats_handler(void)
{
    return &stats_handler;
}
