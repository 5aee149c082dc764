/* handlers/resp/resp_parse.h - a pure RESP2 request parser over a buffer.
 *
 * One command per call.  The parser never allocates and never copies the
 * common case: each argument is a slice (pointer + length) into the
 * caller's buffer.  Two request forms, chosen by the first byte as Redis
 * does:
 *
 *   multibulk  "*N\r\n" then N times "$LEN\r\n" LEN bytes "\r\n".  N <= 0
 *              is an empty command (consumed, argc 0, no reply).
 *   inline     anything else: words separated by blanks up to "\n" (a "\r"
 *              before it is dropped), with Redis's quoting: "..." with the
 *              escapes \xHH \n \r \t \b \a \<any>, and '...' with \'.  A
 *              blank line is an empty command.  As in Redis, a NUL byte
 *              ends the words of an inline line.
 *
 * Limits, all checked before the bytes they describe are waited for, so a
 * client never makes the caller buffer more than it allows:
 *   max_args    arguments of one command (multibulk N or inline words)
 *   max_bulk    bytes of one multibulk argument ("$2147483648" is refused
 *               as soon as its digits exceed the limit)
 *   max_inline  bytes of one inline line (without its "\r\n")
 *   max_query   bytes of one multibulk command, all arguments together
 *               (checked at each "$LEN", before its bytes are waited for)
 *
 * Returns, as every eddy parser does (eddy/parse.h), the bytes of the
 * command (> 0, its terminator included; argv[0..argc) holds its
 * arguments), EDDY_PARSE_NEED_MORE (call again with the same bytes and
 * more) or EDDY_PARSE_ERROR (err/err_len say why; reply it and close), and
 * one answer of its own: RESP_NEED_SPACE, argv or scratch too small (give
 * argv_cap >= need_argc and scratch_cap >= need_scratch and call again).
 * A command's length is at most max_query (up to 2g) or max_inline + 2,
 * hence ptrdiff_t.
 *
 * Malformed input is refused at the first byte that makes it malformed
 * (e.g. "*1x" is an error at once, not after waiting for a newline).  A
 * valid command cut anywhere gives EDDY_PARSE_NEED_MORE, and then,
 * complete, the same result as if it had arrived at once.
 *
 * Errors carry Redis's texts, without the leading '-' and trailing CRLF:
 *   ERR Protocol error: invalid multibulk length     bad or over-limit *N
 *   ERR Protocol error: invalid bulk length          bad, negative or over-limit $LEN
 *   ERR Protocol error: expected '$', got 'x'        ("\r" and "\n" shown as ' ')
 *   ERR Protocol error: too big inline request       inline line over max_inline
 *   ERR Protocol error: unbalanced quotes in request
 * and three of ours, where Redis has no check (or, for the last, closes
 * without a reply at its client-query-buffer-limit):
 *   ERR Protocol error: expected CRLF after bulk data   (Redis skips 2 bytes unchecked)
 *   ERR Protocol error: too many arguments in inline request
 *   ERR Protocol error: too big multibulk request       over max_query
 * After an error the stream cannot be resynchronised: reply and close.
 */
#ifndef EDDY_RESP_PARSE_H
#define EDDY_RESP_PARSE_H

#include <stddef.h>

#include "eddy/parse.h"

/* argv or scratch too small: see need_argc and need_scratch. */
#define RESP_NEED_SPACE (-3)

typedef struct resp_arg {
    const char *p;
    size_t len;
} resp_arg;

typedef struct resp_limits {
    size_t max_args;   /* >= 1 */
    size_t max_bulk;
    size_t max_inline; /* >= 1 */
    size_t max_query;  /* >= 1 */
} resp_limits;

typedef struct resp_cmd {
    /* in: where arguments go.  argv has argv_cap slots (may be fewer than
     * max_args); scratch receives inline arguments that had quotes, which
     * are unescaped there (scratch may be NULL with scratch_cap 0). */
    resp_arg *argv;
    size_t argv_cap;
    char *scratch;
    size_t scratch_cap;
    /* out */
    size_t argc;         /* a command: its arguments in argv */
    size_t need_argc;    /* RESP_NEED_SPACE: argv slots needed (<= max_args); a
                          * multibulk command asks only once it is complete */
    size_t need_scratch; /* RESP_NEED_SPACE: scratch bytes needed (<= max_inline) */
    const char *err;     /* EDDY_PARSE_ERROR: the text (in errbuf or static) */
    size_t err_len;
    char errbuf[48];
} resp_cmd;

/* Parse the command at the start of buf[0..len): its length in bytes,
 * EDDY_PARSE_NEED_MORE, EDDY_PARSE_ERROR or RESP_NEED_SPACE (see above). */
ptrdiff_t resp_parse(const char *buf, size_t len, const resp_limits *lim, resp_cmd *cmd);

#endif
