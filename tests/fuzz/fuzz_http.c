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
 * Handler (http.c with the stand-ins of fake_handler_api.c for the core's
 * calls): the input is delivered in reads cut as byte 1 says, the
 * unconsumed rest handed back as the core does; data() never consumes more
 * than it got, never leaves a partial head of max_header bytes or more,
 * sends nothing after eddy_close(), and everything it sends starts with
 * "HTTP/1.1 ".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake_handler_api.h"
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

/* ---- the handler ------------------------------------------------------ */

/* http.c on one connection (fake_handler_api.c), max_header 256: it never
 * leaves a partial head of 256 bytes (that is 431), and all it sends
 * starts with "HTTP/1.1 ". */
static void fuzz_handler(const char *in, size_t len, int echo, unsigned cut)
{
    static const char want[] = "HTTP/1.1 ";
    const fake_param v[] = {
        {.name = "body_mode", .text = echo ? "echo" : "discard"},
        {.name = "max_header", .text = "256", .size = 256},
        {.name = "max_body", .size = 100000},
    };
    eddy_params params = {.v = v, .n = sizeof(v) / sizeof(v[0])};
    size_t n;
    char *out = fake_run(eddy_handler_entry(), &params, in, len, cut, 256, &n);
    if (n && memcmp(out, want, n < sizeof(want) - 1 ? n : sizeof(want) - 1) != 0)
        abort();
    free(out);
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
