/* handlers/resp/resp_parse.c - the RESP2 request parser (see resp_parse.h).
 *
 * Pure: no allocation, no global state, no I/O.  Each call starts again at
 * the start of the buffer: a command arriving in pieces is scanned once
 * per piece, which costs little since bulk payloads are skipped by length,
 * never scanned.
 */
#include "resp_parse.h"

#include <limits.h>
#include <string.h>

#define E_MBULK "ERR Protocol error: invalid multibulk length"
#define E_BULK "ERR Protocol error: invalid bulk length"
#define E_CRLF "ERR Protocol error: expected CRLF after bulk data"
#define E_INLINE "ERR Protocol error: too big inline request"
#define E_QUOTES "ERR Protocol error: unbalanced quotes in request"
#define E_TOOMANY "ERR Protocol error: too many arguments in inline request"
#define E_QUERY "ERR Protocol error: too big multibulk request"

static int fail(resp_cmd *cmd, const char *text, size_t len)
{
    cmd->err = text;
    cmd->err_len = len;
    return EDDY_PARSE_ERROR;
}
#define FAIL(cmd, lit) fail((cmd), lit, sizeof(lit) - 1)

/* "expected '$', got 'x'": as Redis formats it, CR and LF shown as spaces
 * so that the error stays one line. */
static int fail_dollar(resp_cmd *cmd, char got)
{
    static const char head[] = "ERR Protocol error: expected '$', got '";
    size_t n = sizeof(head) - 1;
    memcpy(cmd->errbuf, head, n);
    cmd->errbuf[n++] = (got == '\r' || got == '\n') ? ' ' : got;
    cmd->errbuf[n++] = '\'';
    cmd->errbuf[n] = '\0';
    return fail(cmd, cmd->errbuf, n);
}

/* A length line after '*' or '$', read as Redis's string2ll() reads it:
 * "0", or an optional '-' (when allowed) and digits not starting with 0;
 * no '+', no blanks, nothing past LLONG_MIN..LLONG_MAX; then "\r\n".
 * A positive value over max is an error as soon as its digits pass max,
 * so a huge declared length is refused before its line is even complete.
 * Returns 1 (value in *out, *next after the CRLF), 0 (need more), -1. */
static int parse_len(const char *p, const char *end, int allow_neg, unsigned long long max,
                     long long *out, const char **next)
{
    int neg = 0;
    unsigned long long v = 0;
    if (p == end)
        return 0;
    if (*p == '-') {
        if (!allow_neg)
            return -1;
        neg = 1;
        if (++p == end)
            return 0;
    }
    if (*p == '0' && !neg) {
        p++; /* "0" only: "01" and "-0" are not numbers to string2ll */
    } else {
        if (*p < '1' || *p > '9')
            return -1;
        unsigned long long limit =
            neg ? (unsigned long long)LLONG_MAX + 1 : (max < LLONG_MAX ? max : LLONG_MAX);
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            unsigned d = (unsigned)(*p - '0');
            if (d > limit || v > (limit - d) / 10)
                return -1;
            v = v * 10 + d;
        }
    }
    if (p == end)
        return 0;
    if (*p != '\r')
        return -1;
    if (p + 1 == end)
        return 0;
    if (p[1] != '\n')
        return -1;
    *out = neg ? (v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v)
               : (long long)v;
    *next = p + 2;
    return 1;
}

static ptrdiff_t parse_multibulk(const char *buf, size_t len, const resp_limits *lim,
                                 resp_cmd *cmd)
{
    const char *end = buf + len, *p;
    long long n;
    int r = parse_len(buf + 1, end, 1, lim->max_args, &n, &p);
    if (r < 0)
        return FAIL(cmd, E_MBULK);
    if (r == 0)
        return EDDY_PARSE_NEED_MORE;
    if (n <= 0) { /* "*0", "*-1": an empty command, as in Redis */
        cmd->argc = 0;
        return p - buf;
    }
    /* Arguments are stored only if argv has room for all; else the
     * command is checked to its end first and room asked for then, so a
     * client that declares "*1000000" and stops makes the caller allocate
     * nothing. */
    int store = (size_t)n <= cmd->argv_cap;
    for (long long i = 0; i < n; i++) {
        if (p == end)
            return EDDY_PARSE_NEED_MORE;
        if (*p != '$')
            return fail_dollar(cmd, *p);
        long long blen;
        const char *data;
        r = parse_len(p + 1, end, 0, lim->max_bulk, &blen, &data);
        if (r < 0)
            return FAIL(cmd, E_BULK);
        if (r == 0)
            return EDDY_PARSE_NEED_MORE;
        size_t bl = (size_t)blen, avail = (size_t)(end - data);
        if ((size_t)(data - buf) + bl + 2 > lim->max_query)
            return FAIL(cmd, E_QUERY);
        if ((avail > bl && data[bl] != '\r') || (avail > bl + 1 && data[bl + 1] != '\n'))
            return FAIL(cmd, E_CRLF);
        if (avail < bl + 2)
            return EDDY_PARSE_NEED_MORE;
        if (store)
            cmd->argv[i] = (resp_arg){.p = data, .len = bl};
        p = data + bl + 2;
    }
    if (!store) {
        cmd->need_argc = (size_t)n;
        cmd->need_scratch = 0;
        return RESP_NEED_SPACE;
    }
    cmd->argc = (size_t)n;
    return p - buf;
}

/* Blanks between words: C's isspace() in the "C" locale, as sdssplitargs. */
static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* What ends an unquoted word (sdssplitargs: not \v or \f). */
static int ends_word(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Collects unescaped bytes in the scratch while there is room, and counts
 * them in any case, so that one pass tells how much room is needed. */
typedef struct sink {
    char *buf;
    size_t cap, used;
} sink;

static void put(sink *s, char c)
{
    if (s->used < s->cap)
        s->buf[s->used] = c;
    s->used++;
}

/* Split an inline line (no terminator) into words, with sdssplitargs()'s
 * rules: a word is unquoted bytes, optionally followed by one quoted part
 * ("..." with escapes, '...' with \' only) that must be followed by a blank
 * or the end of the line.  Unquoted words are slices of the line; words
 * with quotes are unescaped into the scratch.  Words are stored only while
 * argv and scratch have room; the pass completes anyway so that, when room
 * ran out, need_argc and need_scratch are exact.  Returns 0 (argc set),
 * EDDY_PARSE_ERROR or RESP_NEED_SPACE. */
static int split_inline(const char *line, size_t n, const resp_limits *lim, resp_cmd *cmd)
{
    const char *nul = memchr(line, '\0', n);
    const char *p = line, *end = nul ? nul : line + n;
    sink s = {.buf = cmd->scratch, .cap = cmd->scratch ? cmd->scratch_cap : 0, .used = 0};
    size_t argc = 0;
    for (;;) {
        while (p < end && is_blank(*p))
            p++;
        if (p == end)
            break;
        if (argc == lim->max_args)
            return FAIL(cmd, E_TOOMANY);
        const char *start = p;
        while (p < end && !ends_word(*p) && *p != '"' && *p != '\'')
            p++;
        if (p == end || ends_word(*p)) { /* no quotes: a slice of the line */
            if (argc < cmd->argv_cap)
                cmd->argv[argc] = (resp_arg){.p = start, .len = (size_t)(p - start)};
            argc++;
            continue;
        }
        size_t first = s.used;
        for (const char *q = start; q < p; q++)
            put(&s, *q);
        char quote = *p++;
        for (;;) {
            if (p == end)
                return FAIL(cmd, E_QUOTES);
            char c = *p;
            if (quote == '"' && c == '\\' && end - p > 3 && p[1] == 'x' &&
                hex_value(p[2]) >= 0 && hex_value(p[3]) >= 0) {
                put(&s, (char)(hex_value(p[2]) * 16 + hex_value(p[3])));
                p += 4;
            } else if (quote == '"' && c == '\\' && end - p > 1) {
                char e = p[1];
                put(&s, e == 'n'   ? '\n'
                        : e == 'r' ? '\r'
                        : e == 't' ? '\t'
                        : e == 'b' ? '\b'
                        : e == 'a' ? '\a'
                                   : e);
                p += 2;
            } else if (quote == '\'' && c == '\\' && end - p > 1 && p[1] == '\'') {
                put(&s, '\'');
                p += 2;
            } else if (c == quote) {
                p++;
                if (p < end && !is_blank(*p))
                    return FAIL(cmd, E_QUOTES); /* a closing quote must end the word */
                break;
            } else {
                put(&s, c);
                p++;
            }
        }
        if (argc < cmd->argv_cap && s.used <= s.cap)
            cmd->argv[argc] = (resp_arg){.p = s.buf + first, .len = s.used - first};
        argc++;
    }
    if (argc > cmd->argv_cap || s.used > s.cap) {
        cmd->need_argc = argc;
        cmd->need_scratch = s.used;
        return RESP_NEED_SPACE;
    }
    cmd->argc = argc;
    return 0;
}

static ptrdiff_t parse_inline(const char *buf, size_t len, const resp_limits *lim, resp_cmd *cmd)
{
    /* The "\n" of a line that is not too long is within max_inline + 2
     * bytes (line, "\r", "\n"): never search further. */
    size_t window = len < lim->max_inline + 2 ? len : lim->max_inline + 2;
    const char *nl = memchr(buf, '\n', window);
    if (!nl) {
        /* Over-long already, whatever comes: more than max_inline bytes,
         * unless the last one may be the "\r" of the "\r\n". */
        if (len > lim->max_inline + 1 || (len > lim->max_inline && buf[len - 1] != '\r'))
            return FAIL(cmd, E_INLINE);
        return EDDY_PARSE_NEED_MORE;
    }
    size_t n = (size_t)(nl - buf);
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n > lim->max_inline)
        return FAIL(cmd, E_INLINE);
    int r = split_inline(buf, n, lim, cmd);
    return r < 0 ? r : nl + 1 - buf;
}

ptrdiff_t resp_parse(const char *buf, size_t len, const resp_limits *lim, resp_cmd *cmd)
{
    cmd->argc = 0;
    if (len == 0)
        return EDDY_PARSE_NEED_MORE;
    if (buf[0] == '*')
        return parse_multibulk(buf, len, lim, cmd);
    return parse_inline(buf, len, lim, cmd);
}
