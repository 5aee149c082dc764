/* handlers/stats.c - the built-in `stats` handler: eddy's counters, per
 * worker and in total.  An HTTP GET gets them in the Prometheus text
 * format (point a scraper at a `listen tcp ... { handler stats }` block);
 * any other line (what `eddyd --stats` sends over the Unix control socket)
 * gets "name value" lines.  Either way the connection closes after the
 * answer.  It uses only include/eddy/, exactly as a plugin would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/eddy.h"
#include "eddy/handler.h"

enum { MAX_REQUEST = 8192 };

static int is_http(const char *buf, size_t len)
{
    return len >= 4 && memcmp(buf, "GET ", 4) == 0;
}

/* The end of the request: the blank line after HTTP headers, or the first
 * newline of a plain request.  0 while incomplete. */
static size_t request_end(const char *buf, size_t len)
{
    if (!is_http(buf, len)) {
        const char *nl = memchr(buf, '\n', len);
        return nl ? (size_t)(nl - buf) + 1 : 0;
    }
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] == '\n' && buf[i + 1] == '\n')
            return i + 2;
        if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0)
            return i + 4;
    }
    return 0;
}

static size_t stats_data(eddy_conn *c, const char *buf, size_t len)
{
    size_t end = request_end(buf, len);
    if (!end) {
        if (len >= MAX_REQUEST)
            eddy_close(c); /* never answered: too long to be a stats request */
        return 0;
    }
    int http = is_http(buf, len);
    const eddy_server *s = eddy_conn_server(c);
    /* The other workers count on while we format: leave room for numbers
     * that grow between the measuring pass and the writing one, and measure
     * again if even that was not enough. */
    size_t cap = (size_t)eddy_server_stats_format(s, http, NULL, 0) + 1024;
    char *body = NULL;
    int need;
    for (;;) {
        free(body);
        if (!(body = malloc(cap))) {
            eddy_close(c);
            return len;
        }
        need = eddy_server_stats_format(s, http, body, cap);
        if ((size_t)need < cap)
            break;
        cap = (size_t)need + 1024;
    }
    if (http) {
        char head[160];
        int n = snprintf(head, sizeof(head),
                         "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                         "Content-Length: %d\r\nConnection: close\r\n\r\n",
                         need);
        eddy_send(c, head, (size_t)n);
    }
    eddy_send(c, body, (size_t)need);
    free(body);
    eddy_close(c);
    return len;
}

static const char *const stats_params[] = {NULL};

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
