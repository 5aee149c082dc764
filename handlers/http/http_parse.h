/* handlers/http/http_parse.h - a small, pure HTTP/1.x request-head parser.
 *
 * http_parse_request() reads one request line and its header block from
 * the start of a buffer and fills a caller-provided struct with slices that
 * point into that buffer.  It never allocates, never writes outside the
 * request and header array it is given, reads no byte at or past buf + len
 * (nor past max_header bytes), and keeps no state between calls: after
 * EDDY_PARSE_NEED_MORE, call it again from the same start with more bytes.
 * http_parse_resume() gives the same answers for a head that arrives in
 * pieces without reading its complete lines again (see there).
 *
 * Returns, as every eddy parser does (eddy/parse.h):
 *   > 0                   bytes of the request head (request line, headers,
 *                         the empty line, and any empty lines before the
 *                         request line); the body, if any, follows.
 *   EDDY_PARSE_NEED_MORE  every byte so far is valid but the head is not
 *                         complete yet.
 *   EDDY_PARSE_ERROR      the head is refused; req->error says why, as the
 *                         status to answer:
 *     HTTP_ERR_BAD (400)      malformed: bad request line, NUL or control
 *                             byte, header name with a space or other
 *                             non-token byte, missing colon, obs-fold (a
 *                             line starting with SP/HTAB), bare CR, bad or
 *                             conflicting Content-Length, Transfer-Encoding
 *                             whose last coding is not chunked (or with
 *                             Content-Length, or in HTTP/1.0), missing or
 *                             repeated Host in HTTP/1.1, a Host that is not
 *                             uri-host [":" port] (RFC 3986: "a/b", "a b",
 *                             "a:x" are 400; empty is valid).
 *     HTTP_ERR_BODY (413)     Content-Length over max_body (including values
 *                             too large for 64 bits).
 *     HTTP_ERR_HEAD (431)     the head is longer than max_header bytes
 *                             (decided as soon as max_header bytes are in
 *                             without its end), or it has more headers than
 *                             the array holds.
 *     HTTP_ERR_VERSION (505)  a well-formed "HTTP/d.d" other than 1.x.
 *
 * An error is reported as soon as the bytes that prove it are in: garbage
 * is rejected at its first bad byte, not after max_header bytes.  So the
 * answer for some bytes never depends on how they arrived: a prefix that
 * is an error stays that error whatever follows.
 *
 * Grammar accepted (RFC 9112, strict where leniency has bitten servers):
 *   - Lines end with CRLF or a bare LF; a CR anywhere else is an error.
 *   - Empty lines before the request line are skipped (RFC 9112 2.2).
 *   - request-line = method SP request-target SP HTTP-version, one SP each;
 *     method is a token; the target is any bytes above 0x20 except 0x7f.
 *   - HTTP/1.0 and HTTP/1.1; HTTP/1.2..1.9 are read as 1.1 (minor_version
 *     1); HTTP/0.x and 2.x..9.x are 505; anything else (HTTP/1, HTTP/1.10,
 *     a missing version) is 400.
 *   - field-name is a token (no space before the colon); the value has its
 *     leading and trailing SP/HTAB removed and may hold SP, HTAB, visible
 *     ASCII and bytes >= 0x80 (obs-text), nothing else.
 */
#ifndef EDDY_HTTP_PARSE_H
#define EDDY_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "eddy/parse.h"

/* Why a head was refused (http_request.error): the status to answer. */
#define HTTP_ERR_BAD 400
#define HTTP_ERR_BODY 413
#define HTTP_ERR_HEAD 431
#define HTTP_ERR_VERSION 505

/* Largest max_header the parser honours (its return value is an int). */
#define HTTP_MAX_HEADER_LIMIT ((size_t)1 << 30)

typedef struct http_header {
    const char *name;
    size_t name_len;
    const char *value; /* without surrounding SP/HTAB; may be empty */
    size_t value_len;
} http_header;

/* flags */
#define HTTP_F_KEEP_ALIVE 1u       /* keep the connection after this request */
#define HTTP_F_CONTENT_LENGTH 2u   /* a Content-Length header was given */
#define HTTP_F_CHUNKED 4u          /* Transfer-Encoding ends with chunked */
#define HTTP_F_EXPECT_CONTINUE 8u  /* Expect: 100-continue */

typedef struct http_request {
    const char *method;
    size_t method_len;
    const char *path; /* the request-target as sent */
    size_t path_len;
    int minor_version; /* 0 or 1 */
    unsigned flags;
    uint64_t content_length; /* 0 unless HTTP_F_CONTENT_LENGTH */
    size_t num_headers;      /* entries filled in the header array */
    int error;               /* after EDDY_PARSE_ERROR: HTTP_ERR_*; else 0 */
} http_request;

typedef struct http_limits {
    size_t max_header;   /* longest head accepted, in bytes */
    uint64_t max_body;   /* largest Content-Length accepted */
    size_t max_headers;  /* entries in the header array (may be 0) */
} http_limits;

/* Parse the head at buf[0, len).  headers may be NULL when max_headers is
 * 0 (then any header line is 431).  On EDDY_PARSE_NEED_MORE or
 * EDDY_PARSE_ERROR, *req (but req->error) and headers hold partial results
 * the caller must ignore. */
int http_parse_request(const char *buf, size_t len, const http_limits *lim,
                       http_request *req, http_header *headers);

/* Where the parse of a partial head stopped: the start of its first
 * incomplete header line and what the complete lines before it said that
 * matters before the head ends.  All zero: nothing saved (a new head, or
 * one whose request line is not complete yet). */
typedef struct http_cursor {
    uint64_t length;      /* the Content-Length seen so far */
    uint32_t line;        /* offset of the first incomplete header line */
    uint16_t num_headers; /* complete header lines before it */
    uint8_t has_length;   /* a Content-Length was seen */
    uint8_t length_over;  /* ... and it did not fit in 64 bits */
} http_cursor;

/* http_parse_request() for a head that arrives in pieces: call it with the
 * same start and more bytes each time, and the same cursor, zeroed for the
 * first call.  It returns exactly what http_parse_request() returns for
 * those bytes, but reads only from the first incomplete line on: a head
 * of n lines that arrives a line at a time costs O(its length), not
 * O(n * length).  On EDDY_PARSE_NEED_MORE it updates *cur; on anything
 * else it zeroes it (for the next head), and once the head is complete it
 * fills *req and headers as http_parse_request() does. */
int http_parse_resume(const char *buf, size_t len, const http_limits *lim, http_request *req,
                      http_header *headers, http_cursor *cur);

/* Case-insensitive (ASCII only) equality of a slice and a lower-case
 * literal. */
int http_token_eq(const char *p, size_t n, const char *lower);

#endif
