/* handlers/http/http_parse.c - the request-head parser (see http_parse.h).
 *
 * One forward pass over the bytes with a pointer that is checked against
 * the end before every read (NEXT()), so no input can make it read past
 * buf + min(len, max_header).  Each byte is classified with one table
 * look-up.  There is no hidden state: a caller with a partial head calls
 * again from its start once more bytes are in, and may pass a cursor that
 * says where the last call's complete lines ended, so that they are not
 * read again (http_parse_resume).  Nothing before that line end changes
 * the answer except what the cursor carries (the header count and the
 * Content-Length, the only cross-line checks made before the head ends);
 * the checks made at the end of the head need every line, so a resumed
 * parse that reaches the end parses the head again from its start.
 */
#include "http_parse.h"

#include <string.h>

enum {
    C_TOKEN = 1,  /* tchar (RFC 9110 5.6.2): method, field-name */
    C_VALUE = 2,  /* HTAB, SP, VCHAR, obs-text: field-value */
    C_TARGET = 4, /* VCHAR, obs-text: request-target */
};

static const unsigned char cls[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    2, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6, /* 0x20 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, /* 0x30 */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x40 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7, /* 0x50 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x60 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0, /* 0x70 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0x80 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0x90 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xa0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xb0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xc0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xd0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xe0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xf0 */
};

#define IS(c, k) (cls[(unsigned char)(c)] & (k))

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int http_token_eq(const char *p, size_t n, const char *lit)
{
    size_t i = 0;
    for (; i < n; i++)
        if (lit[i] == '\0' || lower((unsigned char)p[i]) != (unsigned char)lit[i])
            return 0;
    return lit[i] == '\0';
}

static const char *trim_left(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *trim_right(const char *b, const char *e)
{
    while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return e;
}

static int hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* unreserved or sub-delims (RFC 3986 2.2, 2.3): what a reg-name is made of
 * besides %HH. */
static int host_char(int c)
{
    return c && (IS(c, C_TOKEN) ? !strchr("#%^`|", c) : strchr("(),;=", c) != NULL);
}

/* Host = uri-host [ ":" port ] (RFC 9112 3.2, RFC 3986 3.2.2): a reg-name
 * (an IPv4 address is one) or an IP-literal in brackets, whose characters
 * only are checked; a port is digits.  Empty is valid: the field a client
 * sends for a target without an authority. */
static int host_ok(const char *p, size_t n)
{
    const char *e = p + n;
    if (p < e && *p == '[') {
        const char *b = ++p;
        while (p < e && (host_char((unsigned char)*p) || *p == ':'))
            p++;
        if (p == b || p == e || *p != ']')
            return 0;
        p++;
    } else {
        while (p < e && *p != ':') {
            if (*p == '%' && e - p >= 3 && hex((unsigned char)p[1]) && hex((unsigned char)p[2]))
                p += 3;
            else if (host_char((unsigned char)*p))
                p++;
            else
                return 0;
        }
    }
    if (p < e && *p == ':')
        while (++p < e)
            if (*p < '0' || *p > '9')
                return 0;
    return p == e;
}

/* Content-Length: one or more digits, nothing else.  Returns 0 and the
 * value (UINT64_MAX with *over set when it does not fit), or -1. */
static int parse_length(const char *p, size_t n, uint64_t *out, int *over)
{
    if (n == 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)((unsigned char)p[i] - '0');
        if (d > 9)
            return -1;
        if (v > (UINT64_MAX - d) / 10)
            *over = 1;
        else
            v = v * 10 + d;
    }
    *out = *over ? UINT64_MAX : v;
    return 0;
}

/* What the header fields say about framing and persistence. */
typedef struct fields {
    unsigned flags;
    uint64_t length;
    int length_over;  /* a Content-Length did not fit in 64 bits */
    int te_seen;      /* a Transfer-Encoding field */
    int te_chunked;   /* ... whose last coding is chunked */
    int hosts;
    int conn_close;
    int conn_keep_alive;
} fields;

/* Returns 0, or -1 when the field is malformed (400). */
static int interpret(fields *f, const char *name, size_t nlen, const char *v, size_t vlen)
{
    const char *ve = v + vlen;
    switch (nlen) {
    case 4:
        if (http_token_eq(name, nlen, "host")) {
            if (!host_ok(v, vlen))
                return -1;
            f->hosts++;
        }
        break;
    case 6:
        if (http_token_eq(name, nlen, "expect") && http_token_eq(v, vlen, "100-continue"))
            f->flags |= HTTP_F_EXPECT_CONTINUE;
        break;
    case 10:
        if (!http_token_eq(name, nlen, "connection"))
            break;
        while (v < ve) { /* a comma-separated list of options */
            const char *comma = memchr(v, ',', (size_t)(ve - v));
            const char *te = comma ? comma : ve;
            const char *b = trim_left(v, te), *e = trim_right(b, te);
            if (http_token_eq(b, (size_t)(e - b), "close"))
                f->conn_close = 1;
            else if (http_token_eq(b, (size_t)(e - b), "keep-alive"))
                f->conn_keep_alive = 1;
            v = comma ? comma + 1 : ve;
        }
        break;
    case 14:
        if (http_token_eq(name, nlen, "content-length")) {
            uint64_t n;
            int over = 0;
            if (parse_length(v, vlen, &n, &over) < 0)
                return -1;
            /* Repeats are allowed only when they agree (RFC 9110 8.6). */
            if ((f->flags & HTTP_F_CONTENT_LENGTH) && (n != f->length || over != f->length_over))
                return -1;
            f->flags |= HTTP_F_CONTENT_LENGTH;
            f->length = n;
            f->length_over = over;
        }
        break;
    case 17:
        if (http_token_eq(name, nlen, "transfer-encoding")) {
            /* Only the last coding of the last field matters: it must be
             * chunked, or the body length is unknowable (RFC 9112 6.3). */
            const char *b = ve;
            while (b > v && b[-1] != ',')
                b--;
            b = trim_left(b, ve);
            const char *e = trim_right(b, ve);
            f->te_seen = 1;
            f->te_chunked = http_token_eq(b, (size_t)(e - b), "chunked");
        }
        break;
    default:
        break;
    }
    return 0;
}

/* Refuse the head: the status to answer goes in req->error. */
static int fail(http_request *req, int status)
{
    req->error = status;
    return EDDY_PARSE_ERROR;
}

/* The parse behind both entry points.  cur: NULL, or where to resume and
 * where to save the state at the start of an incomplete header line. */
static int parse(const char *buf, size_t len, const http_limits *lim, http_request *req,
                 http_header *headers, http_cursor *cur)
{
    size_t max = lim->max_header < HTTP_MAX_HEADER_LIMIT ? lim->max_header : HTTP_MAX_HEADER_LIMIT;
    const char *p = buf, *end = buf + (len < max ? len : max);
    const char *line = NULL; /* the start of the header line being read */
    fields f = {0};
    int major, minor;

/* The byte at p, or out to `incomplete` when there is none yet. */
#define NEXT() \
    do { \
        if (p == end) \
            goto incomplete; \
    } while (0)
/* Past one line end (CRLF or LF) at p, or return 400. */
#define EOL() \
    do { \
        NEXT(); \
        if (*p == '\r') { \
            p++; \
            NEXT(); \
        } \
        if (*p != '\n') \
            return fail(req, HTTP_ERR_BAD); \
        p++; \
    } while (0)

    req->num_headers = 0;
    req->flags = 0;
    req->error = 0;
    req->content_length = 0;
    if (cur && cur->line) { /* the request line and cur->num_headers fields are fine */
        p = buf + cur->line;
        req->num_headers = cur->num_headers;
        f.flags = cur->has_length ? HTTP_F_CONTENT_LENGTH : 0;
        f.length = cur->length;
        f.length_over = cur->length_over;
        goto fields;
    }

    /* Empty lines before the request line. */
    for (;;) {
        NEXT();
        if (*p != '\r' && *p != '\n')
            break;
        EOL();
    }

    /* method SP */
    req->method = p;
    for (;;) {
        NEXT();
        if (!IS(*p, C_TOKEN))
            break;
        p++;
    }
    req->method_len = (size_t)(p - req->method);
    if (req->method_len == 0 || *p != ' ')
        return fail(req, HTTP_ERR_BAD);
    p++;

    /* request-target SP */
    req->path = p;
    for (;;) {
        NEXT();
        if (!IS(*p, C_TARGET))
            break;
        p++;
    }
    req->path_len = (size_t)(p - req->path);
    if (req->path_len == 0 || *p != ' ')
        return fail(req, HTTP_ERR_BAD);
    p++;

    /* "HTTP/" DIGIT "." DIGIT EOL */
    for (const char *v = "HTTP/"; *v; v++, p++) {
        NEXT();
        if (*p != *v)
            return fail(req, HTTP_ERR_BAD);
    }
    NEXT();
    if ((unsigned)(*p - '0') > 9)
        return fail(req, HTTP_ERR_BAD);
    major = *p++ - '0';
    NEXT();
    if (*p++ != '.')
        return fail(req, HTTP_ERR_BAD);
    NEXT();
    if ((unsigned)(*p - '0') > 9)
        return fail(req, HTTP_ERR_BAD);
    minor = *p++ - '0';
    EOL();
    if (major != 1)
        return fail(req, HTTP_ERR_VERSION);
    req->minor_version = minor > 0;

    /* header fields, up to the empty line */
fields:
    for (;;) {
        line = p;
        NEXT();
        if (*p == '\r' || *p == '\n') {
            EOL();
            break;
        }
        /* A line starting with whitespace: obs-fold (RFC 9112 5.2), or
         * whitespace between the request line and the first field. */
        const char *name = p;
        for (;;) {
            NEXT();
            if (!IS(*p, C_TOKEN))
                break;
            p++;
        }
        size_t nlen = (size_t)(p - name);
        if (nlen == 0 || *p != ':') /* empty name, space, control byte, no colon */
            return fail(req, HTTP_ERR_BAD);
        p++;
        for (;;) {
            NEXT();
            if (*p != ' ' && *p != '\t')
                break;
            p++;
        }
        const char *value = p;
        for (;;) {
            NEXT();
            if (!IS(*p, C_VALUE))
                break;
            p++;
        }
        const char *vend = trim_right(value, p);
        EOL(); /* anything but CRLF/LF here is a control byte: 400 */
        if (req->num_headers == lim->max_headers)
            return fail(req, HTTP_ERR_HEAD);
        http_header *h = &headers[req->num_headers++];
        h->name = name;
        h->name_len = nlen;
        h->value = value;
        h->value_len = (size_t)(vend - value);
        if (interpret(&f, name, nlen, value, h->value_len) < 0)
            return fail(req, HTTP_ERR_BAD);
    }
#undef EOL
#undef NEXT
    if (cur && cur->line) /* the end-of-head checks need every line */
        return parse(buf, len, lim, req, headers, NULL);

    if (f.te_seen) {
        /* With Content-Length: request smuggling material; in HTTP/1.0:
         * not defined; not ending in chunked: no way to find the end. */
        if ((f.flags & HTTP_F_CONTENT_LENGTH) || req->minor_version == 0 || !f.te_chunked)
            return fail(req, HTTP_ERR_BAD);
        f.flags |= HTTP_F_CHUNKED;
    }
    if (f.hosts > 1 || (req->minor_version == 1 && f.hosts == 0))
        return fail(req, HTTP_ERR_BAD); /* RFC 9112 3.2 */
    if (f.length_over || f.length > lim->max_body)
        return fail(req, HTTP_ERR_BODY);
    if (!f.conn_close && (req->minor_version == 1 || f.conn_keep_alive))
        f.flags |= HTTP_F_KEEP_ALIVE;
    req->flags = f.flags;
    req->content_length = f.length;
    return (int)(p - buf);

incomplete:
    if (len >= max)
        return fail(req, HTTP_ERR_HEAD);
    if (cur && line && req->num_headers <= UINT16_MAX) {
        cur->line = (uint32_t)(line - buf); /* < max_header <= 2^30 */
        cur->num_headers = (uint16_t)req->num_headers;
        cur->has_length = (f.flags & HTTP_F_CONTENT_LENGTH) != 0;
        cur->length = f.length;
        cur->length_over = (uint8_t)f.length_over;
    }
    return EDDY_PARSE_NEED_MORE;
}

int http_parse_request(const char *buf, size_t len, const http_limits *lim,
                       http_request *req, http_header *headers)
{
    return parse(buf, len, lim, req, headers, NULL);
}

int http_parse_resume(const char *buf, size_t len, const http_limits *lim, http_request *req,
                      http_header *headers, http_cursor *cur)
{
    int r = parse(buf, len, lim, req, headers, cur);
    if (r != EDDY_PARSE_NEED_MORE)
        *cur = (http_cursor){0};
    return r;
}
