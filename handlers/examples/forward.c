/* handlers/examples/forward.c - forward.so: a line protocol answered by a
 * backend, the model of a plugin that opens outgoing connections.
 *
 * Protocol: each client connection gets its own connection to the backend,
 * opened when the client connects.  Each complete line the client sends
 * (ended by "\n") goes to the backend as it is; each complete line the
 * backend answers goes back to the client as it is, in order.  A client
 * line longer than max_line gets "ERR line too long\n" and the client is
 * closed.  When the backend cannot be reached the client gets
 * "ERR backend: REASON\n" (REASON from eddy_strerror: "connection
 * refused", "connection timed out", ...) and is closed; when the backend
 * closes, the client is closed once its answers are sent; when the client
 * goes, so does its backend connection.
 *
 * Parameters:
 *   backend          required: "192.0.2.1:6379", "[::1]:6379",
 *                    "unix:/run/backend.sock", or "NAME:PORT", which init()
 *                    resolves once (getaddrinfo, the first address)
 *   connect_timeout  a duration (default 5s)
 *   max_line         longest client line, 1 to 1m (default 8k)
 *
 * The contract it shows:
 *   - Names are resolved in init(), where blocking is allowed: eddy never
 *     looks a name up on a loop.  The result is an eddy_addr in the state.
 *   - eddy_connect() from open(): the backend connection lives on the same
 *     worker as its client, so the two reach each other's eddy_conn without
 *     a lock.  One struct (a "pair") is the data of both.
 *   - Lines sent before the backend has answered the connect are queued by
 *     eddy: no buffering of our own.
 *   - Each side's close() forgets the other and closes it; the pair is
 *     freed by the second close().  After close() an eddy_conn is gone, so
 *     neither side touches the other's pointer once it has been cleared.
 *   - Not for `dispatch pool`: outgoing connections belong to the loop.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/handler.h"

enum {
    DEFAULT_MAX_LINE = 8 << 10,
    LIMIT_MAX_LINE = 1 << 20,
    DEFAULT_TIMEOUT_MS = 5000,
};

typedef struct forward_state {
    eddy_addr backend;
    long timeout_ms;
    size_t max_line;
} forward_state;

/* A client and its backend connection; either is NULL once closed. */
typedef struct pair {
    eddy_conn *client, *backend;
} pair;

/* "NAME:PORT" (or a numeric address) to an eddy_addr, in init(). */
static int resolve(const char *text, eddy_addr *out)
{
    if (eddy_addr_parse(text, out) == 0)
        return 0;
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || text[0] == '[' || strncmp(text, "unix:", 5) == 0)
        return -EINVAL;
    char host[256];
    size_t n = (size_t)(colon - text);
    if (n >= sizeof(host))
        return -EINVAL;
    memcpy(host, text, n);
    host[n] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -EINVAL;
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int forward_init(void **state, eddy_params *params)
{
    const char *backend = eddy_params_str(params, "backend", NULL);
    if (!backend)
        return eddy_params_reject(params, "backend", "required: the address to forward to");
    forward_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    int rc = 0;
    if (resolve(backend, &st->backend) < 0)
        rc = eddy_params_reject(params, "backend",
                                "'%s' is not an address (IPV4:PORT, [IPV6]:PORT, unix:PATH) "
                                "nor a name that resolves (NAME:PORT)",
                                backend);
    else if (eddy_params_msec(params, "connect_timeout", DEFAULT_TIMEOUT_MS, &st->timeout_ms) < 0 ||
             eddy_params_size(params, "max_line", DEFAULT_MAX_LINE, &st->max_line) < 0)
        rc = -EINVAL;
    else if (st->max_line < 1 || st->max_line > LIMIT_MAX_LINE)
        rc = eddy_params_reject(params, "max_line", "out of range: must be from 1 to 1m");
    if (rc < 0) {
        free(st);
        return rc;
    }
    *state = st;
    return 0;
}

static void forward_fini(void *state)
{
    free(state);
}

/* The part of buf made of complete lines. */
static size_t complete_lines(const char *buf, size_t len)
{
    size_t n = len;
    while (n && buf[n - 1] != '\n')
        n--;
    return n;
}

/* The backend's side. */

static void backend_connected(eddy_conn *b, int err)
{
    pair *p = eddy_conn_data(b);
    if (err == 0 || !p->client)
        return;
    char msg[128];
    int n = snprintf(msg, sizeof(msg), "ERR backend: %s\n", eddy_strerror(err));
    eddy_send(p->client, msg, (size_t)n);
    eddy_close(p->client);
}

/* Whole answer lines go back to the client; a partial one waits. */
static size_t backend_data(eddy_conn *b, const char *buf, size_t len)
{
    pair *p = eddy_conn_data(b);
    size_t n = complete_lines(buf, len);
    if (!p->client)
        return len;
    if (n && eddy_send(p->client, buf, n) < 0)
        eddy_close(b);
    return n;
}

static void backend_close(eddy_conn *b)
{
    pair *p = eddy_conn_data(b);
    p->backend = NULL;
    if (p->client)
        eddy_close(p->client); /* after the answers queued for it */
    else
        free(p);
}

static const eddy_client backend_client = {
    .connected = backend_connected,
    .data = backend_data,
    .close = backend_close,
};

/* The client's side. */

static int forward_open(eddy_conn *c)
{
    const forward_state *st = eddy_conn_state(c);
    pair *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->client = c;
    eddy_conn_set_data(c, p);
    int rc = eddy_connect(c, &st->backend, &backend_client, p, st->timeout_ms, &p->backend);
    if (rc < 0) {
        char msg[128];
        int n = snprintf(msg, sizeof(msg), "ERR backend: %s\n", eddy_strerror(rc));
        eddy_send(c, msg, (size_t)n);
        eddy_close(c);
    }
    return 0;
}

/* Whole lines go to the backend; a partial one waits.  A line over
 * max_line, complete or not: the lines before it are forwarded, then the
 * error, and the client is closed. */
static size_t forward_data(eddy_conn *c, const char *buf, size_t len)
{
    const forward_state *st = eddy_conn_state(c);
    pair *p = eddy_conn_data(c);
    size_t done = 0, rest = len;
    int too_long = 0;
    while (rest) {
        const char *nl = memchr(buf + done, '\n', rest);
        size_t line = nl ? (size_t)(nl - (buf + done)) : rest;
        if ((too_long = line > st->max_line) || !nl)
            break;
        done += line + 1;
        rest -= line + 1;
    }
    if (done && (!p->backend || eddy_send(p->backend, buf, done) < 0))
        eddy_close(c);
    if (too_long) {
        eddy_send(c, "ERR line too long\n", 18);
        eddy_close(c);
        return len;
    }
    return done;
}

static void forward_close(eddy_conn *c)
{
    pair *p = eddy_conn_data(c);
    if (!p)
        return;
    p->client = NULL;
    if (p->backend)
        eddy_close(p->backend);
    else
        free(p);
}

static const eddy_param forward_params[] = {
    {"backend", 0}, {"connect_timeout", 0}, {"max_line", 0}, {NULL, 0}};

static const eddy_handler forward_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "forward",
    .params = forward_params,
    .init = forward_init,
    .fini = forward_fini,
    .open = forward_open,
    .data = forward_data,
    .close = forward_close,
};

EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &forward_handler;
}
