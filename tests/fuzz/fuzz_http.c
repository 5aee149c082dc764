/* tests/fuzz/fuzz_http.c - libFuzzer target for the HTTP request parser and
 * the http handler's data() path.
 *
 * Input: byte 0 picks the limits (max_header, max_headers, max_body) and
 * the handler's body_mode, byte 1 how the rest is cut into reads; the rest
 * is what a client sends.  Whatever it is, nothing may crash, read or write
 * out of bounds (each read is an exact-size heap copy), hit undefined
 * behaviour or leak, and these must hold (else abort, so libFuzzer keeps
 * the input):
 *
 * Parser, on the whole input:
 *   - the result is EDDY_PARSE_NEED_MORE, EDDY_PARSE_ERROR with one of the
 *     four statuses in req.error (0 otherwise), or a length from 1 to
 *     min(len, max_header);
 *   - NEED_MORE only while fewer than max_header bytes are in;
 *   - on success every slice lies inside the head, names are non-empty
 *     and hold no ':' or whitespace, values no CR, LF or NUL, at most
 *     max_headers fields, Content-Length <= max_body, chunked never with
 *     Content-Length, and parsing exactly the head gives the same result;
 *   - every prefix of the input parses to NEED_MORE or to the same result
 *     (a prefix of a valid head always to NEED_MORE): the parser decides
 *     from the bytes it has seen, so a request cut anywhere is not lost;
 *   - http_parse_resume() fed growing prefixes gives for each what a whole
 *     parse of it gives.
 *
 * Handler (http.c with stand-ins for the core's calls): the input is
 * delivered in reads cut as byte 1 says, the unconsumed rest handed back as
 * the core does; data() never consumes more than it got, never leaves a
 * partial head of max_header bytes or more, sends nothing after
 * eddy_close(), and everything it sends starts with "HTTP/1.1 ".
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/handler.h"
#include "http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the parser ------------------------------------------------------- */

static int inside(const char *p, size_t n, const char *b, size_t len)
{
    return p >= b && n <= len && (size_t)(p - b) <= len - n;
}

static void check_request(const char *b, int r, const http_limits *lim, const http_request *q,
                          const http_header *h)
{
    size_t len = (size_t)r;
    if (!inside(q->method, q->method_len, b, len) || q->method_len == 0 ||
        !inside(q->path, q->path_len, b, len) || q->path_len == 0)
        abort();
    if (q->minor_version != 0 && q->minor_version != 1)
        abort();
    if (q->num_headers > lim->max_headers || q->content_length > lim->max_body)
        abort();
    if ((q->flags & HTTP_F_CHUNKED) && (q->flags & HTTP_F_CONTENT_LENGTH))
        abort();
    if (!(q->flags & HTTP_F_CONTENT_LENGTH) && q->content_length)
        abort();
    for (size_t i = 0; i < q->num_headers; i++) {
        if (!inside(h[i].name, h[i].name_len, b, len) || h[i].name_len == 0 ||
            !inside(h[i].value, h[i].value_len, b, len))
            abort();
        for (size_t k = 0; k < h[i].name_len; k++)
            if (strchr(": \t\r\n", h[i].name[k]) || (unsigned char)h[i].name[k] <= 0x20)
                abort();
        for (size_t k = 0; k < h[i].value_len; k++)
            if (h[i].value[k] == '\r' || h[i].value[k] == '\n' || h[i].value[k] == '\0')
                abort();
    }
}

/* The parser's answer as one number: the head's length,
 * EDDY_PARSE_NEED_MORE, or for EDDY_PARSE_ERROR the status in q->error,
 * negated; aborts on anything else. */
static int answer(int r, const http_request *q)
{
    if (r == EDDY_PARSE_ERROR) {
        if (q->error != HTTP_ERR_BAD && q->error != HTTP_ERR_BODY && q->error != HTTP_ERR_HEAD &&
            q->error != HTTP_ERR_VERSION)
            abort();
        return -q->error;
    }
    if ((r <= 0 && r != EDDY_PARSE_NEED_MORE) || q->error != 0)
        abort();
    return r;
}

static int parse_copy(const char *src, size_t n, const http_limits *lim, http_request *q,
                      http_header *h)
{
    char *b = malloc(n ? n : 1); /* exact size: ASan sees any read past it */
    if (!b)
        abort();
    memcpy(b, src, n);
    int r = answer(http_parse_request(b, n, lim, q, h), q);
    if (r > 0)
        check_request(b, r, lim, q, h);
    free(b);
    return r;
}

static void fuzz_parser(const char *buf, size_t len, const http_limits *lim)
{
    http_request q, q2;
    http_header h[64], h2[64];
    int r = parse_copy(buf, len, lim, &q, h);
    switch (r) {
    case EDDY_PARSE_NEED_MORE:
        if (len >= lim->max_header)
            abort();
        break;
    case -HTTP_ERR_BAD:
    case -HTTP_ERR_BODY:
    case -HTTP_ERR_HEAD:
    case -HTTP_ERR_VERSION:
        break;
    default:
        if (r <= 0 || (size_t)r > len || (size_t)r > lim->max_header)
            abort();
        /* the head alone parses the same */
        if (parse_copy(buf, (size_t)r, lim, &q2, h2) != r || q2.flags != q.flags ||
            q2.content_length != q.content_length || q2.num_headers != q.num_headers ||
            q2.method_len != q.method_len || q2.path_len != q.path_len)
            abort();
        break;
    }
    /* prefixes: a few cut points, chosen from the input itself */
    size_t end = r > 0 ? (size_t)r : len;
    size_t cuts[6] = {0, end / 2, end > 0 ? end - 1 : 0, end / 3, (end * 7) / 8, 1};
    for (int i = 0; i < 6; i++) {
        size_t k = cuts[i];
        if (k >= end)
            continue;
        int rk = parse_copy(buf, k, lim, &q2, h2);
        if (rk != EDDY_PARSE_NEED_MORE && (r > 0 || rk != r))
            abort();
    }
    /* resumed over growing prefixes: what a whole parse of each gives */
    http_cursor cur = {0};
    for (int i = 1; i <= 4; i++) {
        size_t k = len * (size_t)i / 4;
        int want = parse_copy(buf, k, lim, &q2, h2);
        char *b = malloc(k ? k : 1);
        if (!b)
            abort();
        memcpy(b, buf, k);
        int got = answer(http_parse_resume(b, k, lim, &q, h, &cur), &q);
        free(b);
        if (got != want || (got > 0 && (q.flags != q2.flags || q.num_headers != q2.num_headers ||
                                        q.content_length != q2.content_length)))
            abort();
        if (got != EDDY_PARSE_NEED_MORE)
            break;
    }
}

/* ---- the handler, with the core's calls stood in for ------------------ */

struct eddy_conn {
    void *state;
    void *data;
    int closed;
    size_t out_len;
    int out_checked;
};

struct eddy_params {
    int echo;
};

static void got_output(eddy_conn *c, const char *p, size_t n)
{
    static const char want[] = "HTTP/1.1 ";
    if (c->closed)
        abort(); /* nothing may be sent after eddy_close() */
    for (size_t i = 0; i < n && c->out_len + i < sizeof(want) - 1; i++)
        if (p[i] != want[c->out_len + i])
            abort();
    c->out_len += n;
}

int eddy_send(eddy_conn *c, const void *buf, size_t len)
{
    got_output(c, buf, len);
    return 0;
}

int eddy_sendv(eddy_conn *c, const struct iovec *iov, int iovcnt)
{
    if (iovcnt <= 0 || iovcnt > 1024)
        abort();
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len == 0)
            abort();
        got_output(c, iov[i].iov_base, iov[i].iov_len);
    }
    return 0;
}

void eddy_close(eddy_conn *c)
{
    c->closed = 1;
}

void *eddy_conn_state(const eddy_conn *c)
{
    return c->state;
}

void *eddy_conn_data(const eddy_conn *c)
{
    return c->data;
}

void eddy_conn_set_data(eddy_conn *c, void *data)
{
    c->data = data;
}

const char *eddy_params_str(const eddy_params *p, const char *name, const char *def)
{
    if (strcmp(name, "body_mode") == 0)
        return p->echo ? "echo" : "discard";
    if (strcmp(name, "max_header") == 0)
        return "256";
    return def;
}

int eddy_params_size(eddy_params *p, const char *name, size_t def, size_t *out)
{
    (void)p;
    *out = strcmp(name, "max_header") == 0 ? 256 : strcmp(name, "max_body") == 0 ? 100000 : def;
    return 0;
}

int eddy_params_bool(eddy_params *p, const char *name, int def, int *out)
{
    (void)p, (void)name;
    *out = def;
    return 0;
}

int eddy_params_msec(eddy_params *p, const char *name, long def, long *out)
{
    (void)p, (void)name;
    *out = def;
    return 0;
}

int eddy_params_reject(eddy_params *p, const char *name, const char *fmt, ...)
{
    (void)p, (void)name, (void)fmt;
    abort(); /* the stand-in parameters are all valid */
}

static void fuzz_handler(const char *in, size_t len, int echo, unsigned cut)
{
    const eddy_handler *h = eddy_handler_entry();
    eddy_params params = {.echo = echo};
    void *state = NULL;
    if (h->init(&state, &params) != 0)
        abort();
    eddy_conn c = {.state = state};
    if (h->open && h->open(&c) < 0)
        abort();

    /* reads of 1 + (cut-derived) bytes, like the core: pending + new */
    char *pending = NULL;
    size_t plen = 0, pos = 0, step = 1 + (cut & 0x3f) * ((cut >> 6) + 1);
    while (pos < len && !c.closed) {
        size_t n = len - pos < step ? len - pos : step;
        char *b = malloc(plen + n);
        if (!b)
            abort();
        if (plen)
            memcpy(b, pending, plen);
        memcpy(b + plen, in + pos, n);
        pos += n;
        free(pending);
        size_t total = plen + n;
        size_t used = h->data(&c, b, total);
        if (used > total)
            abort();
        plen = total - used;
        if (!c.closed && plen >= 256) /* a partial head at max_header is 431 */
            abort();
        pending = malloc(plen ? plen : 1);
        if (!pending)
            abort();
        memcpy(pending, b + used, plen);
        free(b);
        step = 1 + ((step * 31 + cut) % 97);
    }
    free(pending);
    if (h->close)
        h->close(&c);
    h->fini(state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const size_t max_header[4] = {64, 256, 1024, 8192};
    static const size_t max_headers[4] = {0, 3, 16, 64};
    static const uint64_t max_body[4] = {0, 10, 1 << 20, UINT64_MAX};
    unsigned sel = data[0], cut = data[1];
    const char *in = (const char *)data + 2;
    size_t len = size - 2;
    http_limits lim = {.max_header = max_header[sel & 3],
                       .max_headers = max_headers[(sel >> 2) & 3],
                       .max_body = max_body[(sel >> 4) & 3]};
    fuzz_parser(in, len, &lim);
    fuzz_handler(in, len, (sel >> 6) & 1, cut);
    return 0;
}
