/* handlers/http/http.c - http.so: a minimal, fast HTTP/1.1 responder.
 *
 * Every request gets the same configured response (status, Content-Type,
 * an optional extra header, body), or with body_mode echo its own body
 * back.  Keep-alive and pipelining: data() answers every complete request
 * in its input and sends all the responses with one eddy_sendv() (two or
 * more only when they exceed the 16 KiB batch buffer or 64 pieces).  A
 * partial request head stays unconsumed for the next call.
 *
 * Responses carry Status, Content-Type, the extra header, Content-Length
 * and Connection when needed - nothing else: no Date and no Server header
 * (RFC 9110 6.6.1 lets a server without a reliable clock omit Date; it
 * also keeps every response byte-identical, so they are built once, in
 * init()).
 *
 * Persistence: HTTP/1.1 keeps the connection unless "Connection: close";
 * HTTP/1.0 closes after the response unless "Connection: keep-alive", which
 * the response then repeats.  After a response that closes, the rest of the
 * input (pipelined requests) is dropped.
 *
 * Request bodies (Content-Length only) are consumed as they arrive, however
 * large (up to max_body), so they never count against the core's
 * max_message: per connection the handler keeps only the bytes still to
 * come (or, for a head that spans reads, where its parse stopped), in a
 * 32-byte struct allocated the first time a request spans two reads and
 * freed in close().  With body_mode discard the response goes out
 * once the whole body is in; with echo the response head goes at once
 * (Content-Length is the request's) and the body follows as it arrives,
 * each piece sent straight from the input buffer.  HEAD gets the head only.
 * "Expect: 100-continue" with a body gets "100 Continue" first (even when the
 * body came with the head, so the replies do not depend on the split).
 *
 * Chunked request bodies get 411 Length Required (and close): the handler
 * has no use for a body it would have to de-chunk with its own state
 * machine, and 411 tells the client exactly what would work instead
 * (resend with Content-Length), which 501 would not; 501 is what RFC 9112
 * reserves for codings a server does not know, and chunked is not one.
 *
 * Errors, each with "Connection: close" and then eddy_close(), after the
 * responses to the requests before it:
 *   400 malformed request (see http_parse.h for the exact rules)
 *   405 CONNECT (with Allow)
 *   411 Transfer-Encoding: chunked
 *   413 Content-Length over max_body
 *   431 request head over max_header bytes, or more than 64 header fields
 *   505 an HTTP version other than 1.x
 *
 * Bounds: the parser reads at most max_header bytes of a head and nothing
 * past the input; the handler allocates the per-connection struct and
 * nothing else after init().  Keep the listener's max_message (default 1m)
 * at or above max_header, or the core closes a connection with a long head
 * before this handler can answer 431.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/handler.h"
#include "http_parse.h"

enum {
    DEFAULT_MAX_HEADER = 8 << 10,
    MIN_MAX_HEADER = 64,
    LIMIT_MAX_HEADER = 1 << 20,
    DEFAULT_MAX_BODY = 1 << 20,
    LIMIT_TEXT = 64 << 10, /* longest body / header / content_type parameter */
    MAX_FIELDS = 64,       /* header fields per request; more is 431 */
    OUT_CAP = 16 << 10,    /* the batch buffer for response bytes */
    OUT_IOV = 64,          /* pieces per eddy_sendv(); well under IOV_MAX */
    COPY_MAX = 1024,       /* pieces up to this size are copied into the batch */
};

/* How a response ends the exchange: its Connection header. */
enum { KEEP_11, KEEP_10, CLOSE, NKINDS };
static const char *const conn_line[NKINDS] = {"", "Connection: keep-alive\r\n",
                                              "Connection: close\r\n"};

enum { E400, E405, E411, E413, E431, E505, NERRS };
static const struct {
    int status;
    const char *reason;
    const char *extra; /* header lines */
} errs[NERRS] = {
    {400, "Bad Request", ""},
    /* RFC 9110 15.5.6: a 405 lists what is allowed.  Any method but
     * CONNECT gets the configured response; these are the registered ones
     * a client may expect (TRACE is not: the response is not its echo). */
    {405, "Method Not Allowed", "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n"},
    {411, "Length Required", ""},
    {413, "Content Too Large", ""},
    {431, "Request Header Fields Too Large", ""},
    {505, "HTTP Version Not Supported", ""},
};

static const char CONTINUE[] = "HTTP/1.1 100 Continue\r\n\r\n";

typedef struct http_response {
    char *p;
    size_t len;      /* the whole response */
    size_t head_len; /* without the body: for HEAD */
} http_response;

typedef struct http_state {
    http_limits lim;
    int echo;    /* body_mode echo */
    int no_body; /* status 204 or 304: no body, no Content-Length */
    char *pre;   /* status line, Content-Type, extra header */
    size_t pre_len;
    http_response fixed[NKINDS]; /* the configured response, per kind */
    http_response err[NERRS];
} http_state;

/* Per connection, allocated the first time a request spans two reads. */
typedef struct http_conn {
    uint64_t body_left; /* body bytes of the current request still to come */
    http_cursor cur;    /* where the parse of a partial head stopped */
    uint8_t echo_body;  /* body bytes are echoed as they arrive */
    uint8_t reply;      /* 0, or 1 + kind: the response owed once the body is in */
    uint8_t head_only;  /* that owed response is for HEAD */
    uint8_t close_after;
} http_conn;

static const char *reason_phrase(int status)
{
    static const struct {
        int status;
        const char *reason;
    } t[] = {
        {200, "OK"}, {201, "Created"}, {202, "Accepted"}, {204, "No Content"},
        {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"}, {304, "Not Modified"},
        {307, "Temporary Redirect"}, {308, "Permanent Redirect"}, {400, "Bad Request"},
        {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"},
        {405, "Method Not Allowed"}, {410, "Gone"}, {418, "I'm a teapot"},
        {429, "Too Many Requests"}, {500, "Internal Server Error"}, {501, "Not Implemented"},
        {502, "Bad Gateway"}, {503, "Service Unavailable"}, {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i].status == status)
            return t[i].reason;
    return ""; /* the reason-phrase may be empty (RFC 9112 4) */
}

/* Text that goes into a header line: no CR, LF or other control byte. */
static int header_text_ok(const char *s)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
            return 0;
    return 1;
}

/* "Name: value": a token, a colon, a value of header text. */
static int header_line_ok(const char *s)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || !header_text_ok(s))
        return 0;
    for (const char *p = s; p < colon; p++)
        if (!strchr("!#$%&'*+-.^_`|~", *p) && !(*p >= '0' && *p <= '9') &&
            !(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z'))
            return 0;
    return 1;
}

static int response_build(http_response *r, const char *pre, size_t pre_len, const char *conn,
                          const char *body, size_t body_len, int with_length)
{
    char cl[48] = "";
    if (with_length)
        snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", body_len);
    size_t cl_len = strlen(cl), conn_len = strlen(conn);
    r->head_len = pre_len + cl_len + conn_len + 2;
    r->len = r->head_len + body_len;
    if (!(r->p = malloc(r->len)))
        return -ENOMEM;
    char *w = r->p;
    memcpy(w, pre, pre_len), w += pre_len;
    memcpy(w, cl, cl_len), w += cl_len;
    memcpy(w, conn, conn_len), w += conn_len;
    memcpy(w, "\r\n", 2), w += 2;
    if (body_len)
        memcpy(w, body, body_len);
    return 0;
}

static void http_fini(void *state)
{
    http_state *st = state;
    if (!st)
        return;
    free(st->pre);
    for (int i = 0; i < NKINDS; i++)
        free(st->fixed[i].p);
    for (int i = 0; i < NERRS; i++)
        free(st->err[i].p);
    free(st);
}

static int http_init(void **state, eddy_params *params)
{
    const char *status_s = eddy_params_str(params, "status", "200");
    const char *body = eddy_params_str(params, "body", "hello");
    const char *ctype = eddy_params_str(params, "content_type", "text/plain");
    const char *extra = eddy_params_str(params, "header", "");
    const char *mode = eddy_params_str(params, "body_mode", "discard");
    size_t max_header, max_body;
    if (eddy_params_size(params, "max_header", DEFAULT_MAX_HEADER, &max_header) < 0 ||
        eddy_params_size(params, "max_body", DEFAULT_MAX_BODY, &max_body) < 0)
        return -EINVAL;

    char *end;
    long status = strtol(status_s, &end, 10);
    if (*status_s < '0' || *status_s > '9' || *end || status < 200 || status > 599)
        return eddy_params_reject(params, "status", "'%s' is not a status code from 200 to 599",
                                  status_s);
    if (max_header < MIN_MAX_HEADER || max_header > LIMIT_MAX_HEADER)
        return eddy_params_reject(params, "max_header",
                                  "'%s' is out of range: must be from %d bytes to 1m",
                                  eddy_params_str(params, "max_header", ""), MIN_MAX_HEADER);
    int echo;
    if (strcmp(mode, "discard") == 0)
        echo = 0;
    else if (strcmp(mode, "echo") == 0)
        echo = 1;
    else
        return eddy_params_reject(params, "body_mode", "'%s' must be discard or echo", mode);
    if (strlen(body) > LIMIT_TEXT)
        return eddy_params_reject(params, "body", "longer than 64k");
    if (strlen(ctype) > LIMIT_TEXT || !header_text_ok(ctype))
        return eddy_params_reject(params, "content_type",
                                  "must be header text: no control characters, at most 64k");
    if (strlen(extra) > LIMIT_TEXT || (*extra && !header_line_ok(extra)))
        return eddy_params_reject(params, "header",
                                  "'%s' must be one header line \"Name: value\" (a token, a "
                                  "colon, no control characters), at most 64k", extra);

    http_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->lim.max_header = max_header;
    st->lim.max_body = max_body;
    st->lim.max_headers = MAX_FIELDS;
    st->echo = echo;
    st->no_body = status == 204 || status == 304; /* RFC 9110 8.6, 15.3.5 */

    /* pre: status line, Content-Type, the extra header */
    size_t cap = 64 + strlen(ctype) + strlen(extra) + 48;
    if (!(st->pre = malloc(cap)))
        goto nomem;
    int n = snprintf(st->pre, cap, "HTTP/1.1 %ld %s\r\n", status, reason_phrase((int)status));
    if (*ctype && !st->no_body)
        n += snprintf(st->pre + n, cap - (size_t)n, "Content-Type: %s\r\n", ctype);
    if (*extra)
        n += snprintf(st->pre + n, cap - (size_t)n, "%s\r\n", extra);
    st->pre_len = (size_t)n;

    size_t body_len = st->no_body ? 0 : strlen(body);
    for (int k = 0; k < NKINDS; k++)
        if (response_build(&st->fixed[k], st->pre, st->pre_len, conn_line[k], body, body_len,
                           !st->no_body) < 0)
            goto nomem;
    for (int e = 0; e < NERRS; e++) {
        char line[160], text[64];
        int ln = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n%sContent-Type: text/plain\r\n",
                          errs[e].status, errs[e].reason, errs[e].extra);
        int tn = snprintf(text, sizeof(text), "%d %s\n", errs[e].status, errs[e].reason);
        if (response_build(&st->err[e], line, (size_t)ln, conn_line[CLOSE], text, (size_t)tn, 1) < 0)
            goto nomem;
    }
    *state = st;
    return 0;

nomem:
    http_fini(st);
    return -ENOMEM;
}

/* Response bytes gathered for one eddy_sendv(): small pieces are copied
 * into out (and merged into one iovec), large ones point to where they are
 * (the state, or the input buffer, both valid until the call returns). */
typedef struct batch {
    eddy_conn *c;
    int n;
    int failed; /* eddy_sendv() refused: the connection is closing or gone */
    size_t used;
    struct iovec iov[OUT_IOV];
    char out[OUT_CAP];
} batch;

static void batch_flush(batch *b)
{
    if (b->n && !b->failed && eddy_sendv(b->c, b->iov, b->n) < 0)
        b->failed = 1;
    b->n = 0;
    b->used = 0;
}

static void batch_put(batch *b, const char *p, size_t n)
{
    if (n == 0)
        return;
    int copy = n <= COPY_MAX;
    if (b->n == OUT_IOV || (copy && b->used + n > OUT_CAP))
        batch_flush(b);
    if (copy) {
        char *dst = b->out + b->used;
        memcpy(dst, p, n);
        b->used += n;
        p = dst;
    }
    if (b->n) {
        struct iovec *last = &b->iov[b->n - 1];
        if ((const char *)last->iov_base + last->iov_len == p) {
            last->iov_len += n;
            return;
        }
    }
    b->iov[b->n++] = (struct iovec){.iov_base = (void *)p, .iov_len = n};
}

static void put_response(batch *b, const http_response *r, int head_only)
{
    batch_put(b, r->p, head_only ? r->head_len : r->len);
}

/* The echo's head: its Content-Length is the request's. */
static void put_echo_head(batch *b, const http_state *st, int kind, uint64_t length)
{
    char num[48];
    int n = st->no_body ? 0 : snprintf(num, sizeof(num), "Content-Length: %llu\r\n",
                                       (unsigned long long)length);
    batch_put(b, st->pre, st->pre_len);
    batch_put(b, num, (size_t)n);
    batch_put(b, conn_line[kind], strlen(conn_line[kind]));
    batch_put(b, "\r\n", 2);
}

static http_conn *conn_get(eddy_conn *c)
{
    http_conn *hc = eddy_conn_data(c);
    if (!hc && (hc = calloc(1, sizeof(*hc))))
        eddy_conn_set_data(c, hc);
    return hc;
}

static size_t http_data(eddy_conn *c, const char *buf, size_t len)
{
    const http_state *st = eddy_conn_state(c);
    http_conn *hc = eddy_conn_data(c);
    batch b; /* not zeroed: only the first n iovecs and used bytes are read */
    b.c = c;
    b.n = 0;
    b.failed = 0;
    b.used = 0;
    size_t pos = 0;
    int err;

    if (hc && hc->body_left) { /* the rest of a body */
        size_t take = hc->body_left < len ? (size_t)hc->body_left : len;
        if (hc->echo_body)
            batch_put(&b, buf, take);
        pos = take;
        hc->body_left -= take;
        if (hc->body_left)
            goto out;
        if (hc->reply)
            put_response(&b, &st->fixed[hc->reply - 1], hc->head_only);
        hc->reply = 0;
        if (hc->close_after)
            goto close;
    }

    while (pos < len && !b.failed) {
        /* A head that arrives in pieces is checked as each piece comes
         * (a bad one gets its 400 however it was split), from where the
         * last piece's complete lines ended: the cursor belongs to the
         * head at buf[0], as a partial head is left unconsumed. */
        http_cursor none = {0}, *cur = hc ? &hc->cur : &none;
        http_request req;
        http_header fields[MAX_FIELDS];
        int r = http_parse_resume(buf + pos, len - pos, &st->lim, &req, fields, cur);
        if (r == EDDY_PARSE_NEED_MORE) {
            /* hc is an optimisation here: without memory, the next call
             * reads this head again from its start. */
            if (cur == &none && none.line && (hc = conn_get(c)) != NULL)
                hc->cur = none;
            break;
        }
        if (r < 0) { /* EDDY_PARSE_ERROR: req.error is the status */
            err = req.error == HTTP_ERR_BODY      ? E413
                  : req.error == HTTP_ERR_HEAD    ? E431
                  : req.error == HTTP_ERR_VERSION ? E505
                                                  : E400;
            goto error;
        }
        /* CONNECT asks for a tunnel, which a 2xx would open (RFC 9110
         * 9.3.6) and this handler has none to give: 405 and close, as nginx
         * does (whatever bytes follow were meant for the tunnel). */
        if (req.method_len == 7 && memcmp(req.method, "CONNECT", 7) == 0) {
            err = E405;
            goto error;
        }
        if (req.flags & HTTP_F_CHUNKED) {
            err = E411;
            goto error;
        }
        pos += (size_t)r;

        /* HOOK(stats): the operations issue adds the `/stats` route here:
         * when req.path is "/stats", answer with the server's counters
         * instead of the configured response (same persistence rules). */

        int kind = !(req.flags & HTTP_F_KEEP_ALIVE) ? CLOSE
                   : req.minor_version == 0       ? KEEP_10
                                                  : KEEP_11;
        int head_only = req.method_len == 4 && memcmp(req.method, "HEAD", 4) == 0;
        uint64_t length = req.content_length;
        size_t here = len - pos < length ? len - pos : (size_t)length;
        int echo_body = st->echo && !head_only && !st->no_body;

        /* 100 Continue for every HTTP/1.1 request with content that asks
         * for it, even when the content is already here: RFC 9110 10.1.1
         * lets a server skip it then, but the replies would depend on how
         * the bytes were split into reads, and nginx sends it whenever it
         * reads or discards a body (ngx_http_test_expect) without looking
         * at what has arrived.  None when the framing says there is no
         * content, which 10.1.1 allows and which has nothing to continue. */
        if (length > 0 && (req.flags & HTTP_F_EXPECT_CONTINUE) && req.minor_version == 1)
            batch_put(&b, CONTINUE, sizeof(CONTINUE) - 1);
        if (st->echo)
            put_echo_head(&b, st, kind, length);
        else if (length == here)
            put_response(&b, &st->fixed[kind], head_only);
        if (echo_body)
            batch_put(&b, buf + pos, here);
        pos += here;
        if (length > here) { /* the body goes on in the next reads */
            if (!(hc = conn_get(c)))
                goto close; /* out of memory: the client will retry */
            hc->body_left = length - here;
            hc->echo_body = (uint8_t)echo_body;
            hc->reply = st->echo ? 0 : (uint8_t)(1 + kind);
            hc->head_only = (uint8_t)head_only;
            hc->close_after = kind == CLOSE;
            break; /* pos == len */
        }
        if (kind == CLOSE)
            goto close;
    }
out:
    batch_flush(&b);
    return b.failed ? len : pos; /* failed: closing anyway, drop the rest */

error:
    put_response(&b, &st->err[err], 0);
close:
    batch_flush(&b);
    eddy_close(c);
    return len;
}

static void http_close(eddy_conn *c)
{
    free(eddy_conn_data(c));
}

static const eddy_param http_params[] = {
    {"status", 0},     {"body", 0},     {"content_type", 0}, {"header", 0},
    {"max_header", 0}, {"max_body", 0}, {"body_mode", 0},    {NULL, 0}};

static const eddy_handler http_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "http",
    .params = http_params,
    .init = http_init,
    .fini = http_fini,
    .data = http_data,
    .close = http_close,
};

EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &http_handler;
}
