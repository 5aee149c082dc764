/* tests/unit/test_resp.c - the resp handler's pure parts: the RESP2
 * request parser (handlers/resp/resp_parse.c) on every edge, and the
 * shared key space (handlers/resp/resp_db.c), including from several
 * threads at once (run under TSan by scripts/test tsan). */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../handlers/resp/resp_db.h"
#include "../../handlers/resp/resp_parse.h"
#include "suites.h"

/* ---- parser helpers --------------------------------------------------- */

static const resp_limits DEFAULTS = {.max_args = 1024, .max_bulk = 512 << 10,
                                     .max_inline = 64 << 10, .max_query = 32 << 20};

enum { ARGV = 64, SCRATCH = 256 };

typedef struct parsed {
    resp_arg argv[ARGV];
    char scratch[SCRATCH];
    resp_cmd cmd;
    ptrdiff_t rc;
} parsed;

/* Parse with argv_cap slots and scratch_cap bytes of room, checking that
 * the answer keeps the convention of eddy/parse.h: the command's length
 * (within the buffer), EDDY_PARSE_NEED_MORE, EDDY_PARSE_ERROR, or
 * resp's own RESP_NEED_SPACE. */
static ptrdiff_t parse_with(parsed *p, const char *buf, size_t len, const resp_limits *lim,
                      size_t argv_cap, size_t scratch_cap)
{
    memset(&p->cmd, 0, sizeof(p->cmd));
    p->cmd.argv = p->argv;
    p->cmd.argv_cap = argv_cap;
    p->cmd.scratch = scratch_cap ? p->scratch : NULL;
    p->cmd.scratch_cap = scratch_cap;
    p->rc = resp_parse(buf, len, lim, &p->cmd);
    ck_assert_msg((p->rc > 0 && (size_t)p->rc <= len) || p->rc == EDDY_PARSE_NEED_MORE ||
                      p->rc == EDDY_PARSE_ERROR || p->rc == RESP_NEED_SPACE,
                  "returned %td for %zu bytes", p->rc, len);
    return p->rc;
}

static ptrdiff_t parse(parsed *p, const char *buf, size_t len)
{
    return parse_with(p, buf, len, &DEFAULTS, ARGV, SCRATCH);
}

/* The arguments as "a|b|c" (bytes as they are) for easy comparison. */
static const char *joined(const parsed *p, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < p->cmd.argc; i++) {
        if (i && n < cap - 1)
            out[n++] = '|';
        for (size_t j = 0; j < p->cmd.argv[i].len && n < cap - 1; j++)
            out[n++] = p->cmd.argv[i].p[j];
    }
    out[n] = '\0';
    return out;
}

static const char *err_text(const parsed *p, char *out, size_t cap)
{
    size_t n = p->cmd.err_len < cap - 1 ? p->cmd.err_len : cap - 1;
    memcpy(out, p->cmd.err, n);
    out[n] = '\0';
    return out;
}

/* A valid command: complete, it parses to want (args joined by '|') and
 * consumes exactly its bytes, also with another command after it; every
 * proper prefix needs more.  Then each prefix is fed to a parse over a
 * copy in a buffer of exactly that size, so ASan sees any read past it. */
static void check_valid_lim(const char *buf, size_t len, const char *want,
                            const resp_limits *lim)
{
    parsed p;
    char got[4096];
    ck_assert_int_eq(parse_with(&p, buf, len, lim, ARGV, SCRATCH), (ptrdiff_t)len);
    ck_assert_str_eq(joined(&p, got, sizeof(got)), want);

    char *more = malloc(len + 6);
    memcpy(more, buf, len);
    memcpy(more + len, "PING\r\n", 6);
    ck_assert_int_eq(parse_with(&p, more, len + 6, lim, ARGV, SCRATCH), (ptrdiff_t)len);
    ck_assert_str_eq(joined(&p, got, sizeof(got)), want);
    free(more);

    for (size_t k = 0; k < len; k++) {
        char *part = malloc(k ? k : 1);
        memcpy(part, buf, k);
        ptrdiff_t rc = parse_with(&p, part, k, lim, ARGV, SCRATCH);
        if (rc != EDDY_PARSE_NEED_MORE)
            ck_abort_msg("prefix of %zu/%zu bytes of \"%.*s\": got %td, want need-more", k, len,
                         (int)len, buf, rc);
        free(part);
    }
}

static void check_valid(const char *buf, size_t len, const char *want)
{
    check_valid_lim(buf, len, want, &DEFAULTS);
}
#define VALID(lit, want) check_valid(lit, sizeof(lit) - 1, want)

/* An invalid command: complete, it is the error `want`; each prefix is
 * either need-more or already that same error (early detection), and once
 * an error shows, every longer prefix shows it too. */
static void check_error_lim(const char *buf, size_t len, const char *want,
                            const resp_limits *lim)
{
    parsed p;
    char got[256];
    ck_assert_int_eq(parse_with(&p, buf, len, lim, ARGV, SCRATCH), EDDY_PARSE_ERROR);
    ck_assert_str_eq(err_text(&p, got, sizeof(got)), want);
    int seen = 0;
    for (size_t k = 0; k < len; k++) {
        char *part = malloc(k ? k : 1);
        memcpy(part, buf, k);
        ptrdiff_t rc = parse_with(&p, part, k, lim, ARGV, SCRATCH);
        free(part);
        if (rc == EDDY_PARSE_NEED_MORE && !seen)
            continue;
        if (rc != EDDY_PARSE_ERROR)
            ck_abort_msg("prefix of %zu bytes: got %td, want %s", k,
                         rc, seen ? "the error again" : "need-more or the error");
        ck_assert_str_eq(err_text(&p, got, sizeof(got)), want);
        seen = 1;
    }
}

static void check_error(const char *buf, size_t len, const char *want)
{
    check_error_lim(buf, len, want, &DEFAULTS);
}
#define INVALID(lit, want) check_error(lit, sizeof(lit) - 1, want)
#define INVALID_LIM(lit, want, lim) check_error_lim(lit, sizeof(lit) - 1, want, lim)

#define E_MBULK "ERR Protocol error: invalid multibulk length"
#define E_BULK "ERR Protocol error: invalid bulk length"
#define E_CRLF "ERR Protocol error: expected CRLF after bulk data"
#define E_INLINE "ERR Protocol error: too big inline request"
#define E_QUOTES "ERR Protocol error: unbalanced quotes in request"
#define E_TOOMANY "ERR Protocol error: too many arguments in inline request"

/* ---- parser: valid input ---------------------------------------------- */

START_TEST(multibulk_commands)
{
    VALID("*1\r\n$4\r\nPING\r\n", "PING");
    VALID("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", "SET|key|value");
    VALID("*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n", "GET|key:__rand_int__");
    VALID("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", "ECHO|");
    /* bulk bytes are opaque: CR, LF, '*', '$' and NUL inside */
    {
        static const char cmd[] = "*2\r\n$4\r\nECHO\r\n$8\r\na\r\n*$\0\nb\r\n";
        parsed p;
        ck_assert_int_eq(parse(&p, cmd, sizeof(cmd) - 1), (ptrdiff_t)sizeof(cmd) - 1);
        ck_assert_uint_eq(p.cmd.argc, 2);
        ck_assert_uint_eq(p.cmd.argv[1].len, 8);
        ck_assert_mem_eq(p.cmd.argv[1].p, "a\r\n*$\0\nb", 8);
        check_valid(cmd, sizeof(cmd) - 1, "ECHO|a\r\n*$");
    }
}
END_TEST

START_TEST(multibulk_empty_and_negative_counts)
{
    parsed p;
    /* as Redis: *0 and *-N are empty commands, consumed without a reply */
    ck_assert_int_eq(parse(&p, "*0\r\n", 4), 4);
    ck_assert_uint_eq(p.cmd.argc, 0);
    ck_assert_int_eq(parse(&p, "*-1\r\n*1\r\n", 9), 5);
    ck_assert_uint_eq(p.cmd.argc, 0);
    VALID("*-9223372036854775808\r\n", "");
    INVALID("*-9223372036854775809\r\n", E_MBULK);
    INVALID("*-0\r\n", E_MBULK);
    INVALID("*-\r\n", E_MBULK);
}
END_TEST

START_TEST(multibulk_at_the_limits)
{
    resp_limits lim = {.max_args = 3, .max_bulk = 5, .max_inline = 16, .max_query = 1 << 20};
    check_valid_lim("*3\r\n$1\r\na\r\n$1\r\nb\r\n$5\r\nccccc\r\n",
                    sizeof("*3\r\n$1\r\na\r\n$1\r\nb\r\n$5\r\nccccc\r\n") - 1, "a|b|ccccc", &lim);
    check_error_lim("*4\r\n", 4, E_MBULK, &lim);
    check_error_lim("*1\r\n$6\r\nabcdef\r\n", 16, E_BULK, &lim);
    /* max_args beyond the caller's argv: asks for room, then parses */
    static const char cmd[] = "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n";
    parsed p;
    ck_assert_int_eq(parse_with(&p, cmd, sizeof(cmd) - 1, &DEFAULTS, 2, 0), RESP_NEED_SPACE);
    ck_assert_uint_eq(p.cmd.need_argc, 3);
    ck_assert_int_eq(parse_with(&p, cmd, sizeof(cmd) - 1, &DEFAULTS, 3, 0),
                     (ptrdiff_t)sizeof(cmd) - 1);
    ck_assert_uint_eq(p.cmd.argc, 3);
}
END_TEST

START_TEST(multibulk_1024_args)
{
    /* the default max_args exactly, and one more */
    size_t cap = 1025 * 8 + 16;
    char *buf = malloc(cap);
    size_t n = (size_t)sprintf(buf, "*1024\r\n");
    for (int i = 0; i < 1024; i++)
        n += (size_t)sprintf(buf + n, "$1\r\n%c\r\n", 'a' + i % 26);
    resp_arg *argv = malloc(1024 * sizeof(*argv));
    resp_cmd cmd = {.argv = argv, .argv_cap = 1024};
    ck_assert_int_eq(resp_parse(buf, n, &DEFAULTS, &cmd), (ptrdiff_t)n);
    ck_assert_uint_eq(cmd.argc, 1024);
    ck_assert_int_eq(argv[1023].p[0], 'a' + 1023 % 26);
    n = (size_t)sprintf(buf, "*1025\r\n");
    ck_assert_int_eq(resp_parse(buf, n, &DEFAULTS, &cmd), EDDY_PARSE_ERROR);
    free(argv);
    free(buf);
}
END_TEST

START_TEST(multibulk_room_asked_only_when_complete)
{
    /* "*65536" and a few arguments: no room asked for yet (the caller
     * would allocate 1 MiB of argv for bytes that never come) */
    resp_limits lim = {.max_args = 65536, .max_bulk = 16, .max_inline = 16, .max_query = 1 << 20};
    parsed p;
    static const char part[] = "*65536\r\n$3\r\nDEL\r\n$1\r\na\r\n";
    ck_assert_int_eq(parse_with(&p, part, sizeof(part) - 1, &lim, 2, 0), EDDY_PARSE_NEED_MORE);
    /* an error after the room would have run out is still an error */
    static const char bad[] = "*3\r\n$1\r\na\r\n$1\r\nb\r\nX";
    ck_assert_int_eq(parse_with(&p, bad, sizeof(bad) - 1, &lim, 1, 0), EDDY_PARSE_ERROR);
    /* complete: room for all of them */
    static const char full[] = "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n";
    ck_assert_int_eq(parse_with(&p, full, sizeof(full) - 1, &lim, 1, 0), RESP_NEED_SPACE);
    ck_assert_uint_eq(p.cmd.need_argc, 3);
}
END_TEST

START_TEST(multibulk_max_query)
{
    /* the whole command: refused at the "$LEN" that would pass it */
    resp_limits lim = {.max_args = 16, .max_bulk = 100, .max_inline = 16, .max_query = 30};
    /* "*2\r\n$1\r\na\r\n" is 11 bytes, "$13\r\n" ends at 16: 16 + 13 + 2 > 30 */
    check_error_lim("*2\r\n$1\r\na\r\n$13\r\n", 16, "ERR Protocol error: too big multibulk request",
                    &lim);
    check_valid_lim("*2\r\n$1\r\na\r\n$10\r\n0123456789\r\n", 28, "a|0123456789", &lim);
    lim.max_query = 27;
    check_error_lim("*2\r\n$1\r\na\r\n$10\r\n0123456789\r\n", 28,
                    "ERR Protocol error: too big multibulk request", &lim);
}
END_TEST

START_TEST(inline_commands)
{
    VALID("PING\r\n", "PING");
    VALID("PING\n", "PING");
    VALID("set a b\r\n", "set|a|b");
    VALID("  set \t a   b  \r\n", "set|a|b");
    VALID("set\va\fb\n", "set\va\fb"); /* \v \f separate only between words */
    VALID("get key:__rand_int__\r\n", "get|key:__rand_int__");
    VALID("x\ry\r\n", "x|y"); /* a lone CR ends a word */
}
END_TEST

START_TEST(inline_empty_lines)
{
    parsed p;
    ck_assert_int_eq(parse(&p, "\r\n", 2), 2);
    ck_assert_uint_eq(p.cmd.argc, 0);
    ck_assert_int_eq(parse(&p, "\n", 1), 1);
    ck_assert_int_eq(parse(&p, "   \t \r\n", 7), 7);
    ck_assert_uint_eq(p.cmd.argc, 0);
    ck_assert_int_eq(parse(&p, "", 0), EDDY_PARSE_NEED_MORE);
}
END_TEST

START_TEST(inline_quotes)
{
    VALID("set \"a b\" 'c d'\r\n", "set|a b|c d");
    VALID("echo \"\"\r\n", "echo|");
    VALID("echo ''\r\n", "echo|");
    VALID("echo \"\\x41\\x7a\\n\\r\\t\\b\\a\\\\\\\"\\q\"\r\n", "echo|Az\n\r\t\b\a\\\"q");
    VALID("echo \"\\x4g\"\r\n", "echo|x4g"); /* not two hex digits: \x is x */
    VALID("echo 'it\\'s' 'a\\nb'\r\n", "echo|it's|a\\nb");
    VALID("echo foo\"bar baz\"\r\n", "echo|foobar baz");
    VALID("echo \"a\"\tb\r\n", "echo|a|b");
    VALID("echo \"a\"\r\n", "echo|a");
    /* NUL ends the words of an inline line, as in Redis */
    {
        static const char cmd[] = "echo a\0b c\r\n";
        parsed p;
        ck_assert_int_eq(parse(&p, cmd, sizeof(cmd) - 1), (ptrdiff_t)sizeof(cmd) - 1);
        ck_assert_uint_eq(p.cmd.argc, 2);
    }
}
END_TEST

START_TEST(inline_needs_space)
{
    parsed p;
    char got[64];
    /* more words than argv slots: exact count asked for */
    ck_assert_int_eq(parse_with(&p, "a b c d\r\n", 9, &DEFAULTS, 2, 0), RESP_NEED_SPACE);
    ck_assert_uint_eq(p.cmd.need_argc, 4);
    ck_assert_int_eq(parse_with(&p, "a b c d\r\n", 9, &DEFAULTS, 4, 0), 9);
    ck_assert_str_eq(joined(&p, got, sizeof(got)), "a|b|c|d");
    /* quoted words need scratch: none given, then too small, then enough */
    ck_assert_int_eq(parse_with(&p, "echo \"abc\" 'de'\r\n", 17, &DEFAULTS, 8, 0),
                     RESP_NEED_SPACE);
    ck_assert_uint_eq(p.cmd.need_scratch, 5);
    ck_assert_int_eq(parse_with(&p, "echo \"abc\" 'de'\r\n", 17, &DEFAULTS, 8, 4),
                     RESP_NEED_SPACE);
    ck_assert_uint_eq(p.cmd.need_scratch, 5);
    ck_assert_int_eq(parse_with(&p, "echo \"abc\" 'de'\r\n", 17, &DEFAULTS, 8, 5), 17);
    ck_assert_str_eq(joined(&p, got, sizeof(got)), "echo|abc|de");
    /* unquoted words never need scratch: they are slices of the input */
    static const char plain[] = "echo abc\r\n";
    ck_assert_int_eq(parse_with(&p, plain, 10, &DEFAULTS, 8, 0), 10);
    ck_assert_ptr_eq(p.cmd.argv[1].p, plain + 5);
    /* and neither do multibulk arguments */
    static const char mb[] = "*1\r\n$3\r\nabc\r\n";
    ck_assert_int_eq(parse_with(&p, mb, sizeof(mb) - 1, &DEFAULTS, 1, 0),
                     (ptrdiff_t)sizeof(mb) - 1);
    ck_assert_ptr_eq(p.cmd.argv[0].p, mb + 8);
}
END_TEST

START_TEST(inline_at_max_inline)
{
    resp_limits lim = {.max_args = 16, .max_bulk = 16, .max_inline = 8, .max_query = 1 << 20};
    check_valid_lim("12345678\r\n", 10, "12345678", &lim);
    check_valid_lim("12345678\n", 9, "12345678", &lim);
    check_error_lim("123456789\r\n", 11, E_INLINE, &lim);
    check_error_lim("123456789\n", 10, E_INLINE, &lim);
    parsed p;
    /* 8 bytes and a CR may still be a line of 8: wait */
    ck_assert_int_eq(parse_with(&p, "12345678\r", 9, &lim, ARGV, SCRATCH), EDDY_PARSE_NEED_MORE);
    /* 9 bytes without CR: over, without waiting for a newline */
    ck_assert_int_eq(parse_with(&p, "123456789", 9, &lim, ARGV, SCRATCH), EDDY_PARSE_ERROR);
    /* the default 64k */
    size_t n = (64 << 10) + 1;
    char *big = malloc(n + 2);
    memset(big, 'a', n);
    ck_assert_int_eq(parse(&p, big, n), EDDY_PARSE_ERROR);
    char got[128];
    ck_assert_str_eq(err_text(&p, got, sizeof(got)), E_INLINE);
    ck_assert_int_eq(parse(&p, big, n - 1), EDDY_PARSE_NEED_MORE);
    memcpy(big + n - 1, "\r\n", 2);
    ck_assert_int_eq(parse(&p, big, n + 1), (ptrdiff_t)n + 1);
    ck_assert_uint_eq(p.cmd.argv[0].len, n - 1);
    free(big);
}
END_TEST

START_TEST(pipelined_commands)
{
    static const char burst[] = "PING\r\n*1\r\n$4\r\nPING\r\n"
                                "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
                                "get k\n*0\r\n\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    static const char *const want[] = {"PING", "PING", "SET|k|v", "get|k", "", "", "GET|k"};
    size_t off = 0, len = sizeof(burst) - 1;
    parsed p;
    char got[64];
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ptrdiff_t r = parse(&p, burst + off, len - off);
        ck_assert_int_gt(r, 0);
        ck_assert_str_eq(joined(&p, got, sizeof(got)), want[i]);
        off += (size_t)r;
    }
    ck_assert_uint_eq(off, len);
    ck_assert_int_eq(parse(&p, burst + off, 0), EDDY_PARSE_NEED_MORE);
}
END_TEST

/* ---- parser: errors --------------------------------------------------- */

START_TEST(errors_multibulk_length)
{
    INVALID("*abc\r\n", E_MBULK);
    INVALID("*1x\r\n", E_MBULK);
    INVALID("*01\r\n", E_MBULK);
    INVALID("*+1\r\n", E_MBULK);
    INVALID("* 1\r\n", E_MBULK);
    INVALID("*\r\n", E_MBULK);
    INVALID("*1 \r\n", E_MBULK);
    INVALID("*1025\r\n", E_MBULK);
    INVALID("*2147483648\r\n", E_MBULK);
    INVALID("*99999999999999999999999\r\n", E_MBULK);
    INVALID("*1\rX", E_MBULK); /* CR not followed by LF */
    INVALID("*1\n", E_MBULK);  /* LF alone does not end a multibulk line */
    parsed p;
    /* refused at the first byte that makes it wrong, no newline needed */
    ck_assert_int_eq(parse(&p, "*1x", 3), EDDY_PARSE_ERROR);
    ck_assert_int_eq(parse(&p, "*99999", 6), EDDY_PARSE_ERROR);
}
END_TEST

START_TEST(errors_bulk_length)
{
    INVALID("*1\r\n$-1\r\n", E_BULK);
    INVALID("*1\r\n$-5\r\n", E_BULK);
    INVALID("*1\r\n$abc\r\n", E_BULK);
    INVALID("*1\r\n$01\r\n", E_BULK);
    INVALID("*1\r\n$+1\r\n", E_BULK);
    INVALID("*1\r\n$\r\n", E_BULK);
    INVALID("*1\r\n$1x\r\n", E_BULK);
    INVALID("*1\r\n$1\rx", E_BULK);
    INVALID("*1\r\n$524289\r\n", E_BULK); /* max_bulk + 1 */
    INVALID("*1\r\n$99999999999999999999999999\r\n", E_BULK);
}
END_TEST

START_TEST(error_2gb_bulk_declared)
{
    /* the case: refused from its digits alone, before any payload */
    INVALID("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2147483648\r\n", E_BULK);
    parsed p;
    static const char head[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2147483648";
    ck_assert_int_eq(parse(&p, head, sizeof(head) - 1), EDDY_PARSE_ERROR);
    /* even with a limit as large as Redis's 512m */
    resp_limits big = {.max_args = 1024, .max_bulk = (size_t)512 << 20, .max_inline = 65536, .max_query = (size_t)1 << 30};
    INVALID_LIM("*1\r\n$2147483648\r\n", E_BULK, &big);
    INVALID_LIM("*1\r\n$536870913\r\n", E_BULK, &big);
    /* and exactly at the limit it is a length like any other: need more */
    ck_assert_int_eq(parse_with(&p, "*1\r\n$536870912\r\n", 16, &big, ARGV, 0),
                     EDDY_PARSE_NEED_MORE);
}
END_TEST

START_TEST(errors_expected_dollar)
{
    INVALID("*1\r\nfoo\r\n", "ERR Protocol error: expected '$', got 'f'");
    INVALID("*2\r\n$3\r\nfoo\r\n:1\r\n", "ERR Protocol error: expected '$', got ':'");
    INVALID("*1\r\n*1\r\n", "ERR Protocol error: expected '$', got '*'");
    INVALID("*1\r\n\r\n", "ERR Protocol error: expected '$', got ' '");
    INVALID("*1\r\n\n", "ERR Protocol error: expected '$', got ' '");
}
END_TEST

START_TEST(errors_missing_crlf_after_bulk)
{
    INVALID("*1\r\n$3\r\nfooXY", E_CRLF);
    INVALID("*1\r\n$3\r\nfoo\rX", E_CRLF);
    INVALID("*1\r\n$3\r\nfoo\n\r", E_CRLF);
    INVALID("*1\r\n$3\r\nfoobar\r\n", E_CRLF); /* more bytes than declared */
    INVALID("*2\r\n$1\r\na\r\n$1\r\nbc", E_CRLF);
    parsed p;
    /* a short payload is just incomplete */
    ck_assert_int_eq(parse(&p, "*1\r\n$3\r\nfo", 10), EDDY_PARSE_NEED_MORE);
    ck_assert_int_eq(parse(&p, "*1\r\n$3\r\nfoo\r", 12), EDDY_PARSE_NEED_MORE);
}
END_TEST

START_TEST(errors_inline)
{
    INVALID("set \"a b\r\n", E_QUOTES);
    INVALID("set 'a b\r\n", E_QUOTES);
    INVALID("set \"a\"b\r\n", E_QUOTES);
    INVALID("set 'a'b\r\n", E_QUOTES);
    INVALID("set \"a\\\"\r\n", E_QUOTES);
    INVALID("set \"\\\r\n", E_QUOTES);
    resp_limits lim = {.max_args = 3, .max_bulk = 16, .max_inline = 64, .max_query = 1 << 20};
    check_valid_lim("a b c\r\n", 7, "a|b|c", &lim);
    check_error_lim("a b c d\r\n", 9, E_TOOMANY, &lim);
}
END_TEST

/* Random byte strings never crash the parser, never claim more than they
 * were given, and parse the same whatever the argv/scratch room (ASan
 * checks the reads). */
START_TEST(random_input)
{
    unsigned seed = 12345;
    static const char alphabet[] = "*$\r\n0123456789-+ \"'\\xabPING";
    for (int round = 0; round < 20000; round++) {
        char buf[48];
        size_t n = (size_t)(rand_r(&seed) % sizeof(buf));
        for (size_t i = 0; i < n; i++)
            buf[i] = rand_r(&seed) % 4 ? alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)]
                                       : (char)rand_r(&seed);
        char *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        parsed p;
        ptrdiff_t rc = parse(&p, exact, n); /* checks the answer */
        ck_assert_int_ne(rc, RESP_NEED_SPACE);
        free(exact);
    }
}
END_TEST

/* ---- integers ---------------------------------------------------------- */

START_TEST(str2ll_like_redis)
{
    long long v;
    static const struct {
        const char *s;
        int ok;
        long long v;
    } cases[] = {
        {"0", 1, 0},
        {"1", 1, 1},
        {"-1", 1, -1},
        {"9223372036854775807", 1, LLONG_MAX},
        {"-9223372036854775808", 1, LLONG_MIN},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775809", 0, 0},
        {"", 0, 0},
        {"-", 0, 0},
        {"-0", 0, 0},
        {"01", 0, 0},
        {"+1", 0, 0},
        {" 1", 0, 0},
        {"1 ", 0, 0},
        {"1.5", 0, 0},
        {"abc", 0, 0},
        {"000000000000000000001", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int ok = resp_str2ll(cases[i].s, strlen(cases[i].s), &v);
        ck_assert_msg(ok == cases[i].ok, "'%s': %d", cases[i].s, ok);
        if (ok)
            ck_assert_int_eq(v, cases[i].v);
    }
    char buf[24];
    ck_assert_uint_eq(resp_ll2str(buf, LLONG_MIN), 20);
    ck_assert_mem_eq(buf, "-9223372036854775808", 20);
    ck_assert_uint_eq(resp_ll2str(buf, 0), 1);
    ck_assert_int_eq(buf[0], '0');
}
END_TEST

/* ---- key space ---------------------------------------------------------- */

typedef struct value {
    char buf[256];
    size_t len;
    int calls;
} value;

static int copy_value(void *arg, const char *v, size_t len)
{
    value *out = arg;
    out->len = len < sizeof(out->buf) ? len : sizeof(out->buf);
    memcpy(out->buf, v, out->len);
    out->calls++;
    return 0;
}

static int get_str(resp_db *db, const char *key, value *v)
{
    memset(v, 0, sizeof(*v));
    return resp_db_get(db, key, strlen(key), copy_value, v);
}

static int set_str(resp_db *db, const char *key, const char *val)
{
    return resp_db_set(db, key, strlen(key), val, strlen(val), 0, 0, NULL, NULL, NULL);
}

START_TEST(db_set_get_del_exists)
{
    resp_db *db = resp_db_new(16 << 20);
    value v;
    ck_assert_int_eq(get_str(db, "a", &v), RESP_DB_NOTFOUND);
    ck_assert_int_eq(set_str(db, "a", "hello"), RESP_DB_OK);
    ck_assert_int_eq(get_str(db, "a", &v), RESP_DB_OK);
    ck_assert_mem_eq(v.buf, "hello", 5);
    ck_assert_uint_eq(v.len, 5);
    ck_assert_int_eq(set_str(db, "a", "world"), RESP_DB_OK); /* same class: in place */
    ck_assert_int_eq(get_str(db, "a", &v), RESP_DB_OK);
    ck_assert_mem_eq(v.buf, "world", 5);
    ck_assert_int_eq(set_str(db, "a", "longer value"), RESP_DB_OK);
    ck_assert_int_eq(get_str(db, "a", &v), RESP_DB_OK);
    ck_assert_uint_eq(v.len, 12);
    ck_assert_int_eq(set_str(db, "empty", ""), RESP_DB_OK);
    ck_assert_int_eq(get_str(db, "empty", &v), RESP_DB_OK);
    ck_assert_uint_eq(v.len, 0);
    /* binary keys: NUL inside, prefixes are other keys */
    ck_assert_int_eq(resp_db_set(db, "k\0x", 3, "1", 1, 0, 0, NULL, NULL, NULL), RESP_DB_OK);
    ck_assert_int_eq(resp_db_exists(db, "k\0x", 3), 1);
    ck_assert_int_eq(resp_db_exists(db, "k", 1), 0);
    ck_assert_uint_eq(resp_db_count(db, NULL), 3);
    ck_assert_int_eq(resp_db_del(db, "a", 1), 1);
    ck_assert_int_eq(resp_db_del(db, "a", 1), 0);
    ck_assert_int_eq(resp_db_exists(db, "a", 1), 0);
    ck_assert_uint_eq(resp_db_count(db, NULL), 2);
    resp_db_flush(db);
    ck_assert_uint_eq(resp_db_count(db, NULL), 0);
    ck_assert_uint_eq(resp_db_used(db), 0);
    resp_db_free(db);
}
END_TEST

START_TEST(db_set_flags)
{
    resp_db *db = resp_db_new(16 << 20);
    value v, old;
    int had;
    ck_assert_int_eq(resp_db_set(db, "k", 1, "1", 1, RESP_DB_XX, 0, NULL, NULL, &had),
                     RESP_DB_NOTFOUND);
    ck_assert_int_eq(had, 0);
    ck_assert_int_eq(resp_db_exists(db, "k", 1), 0);
    ck_assert_int_eq(resp_db_set(db, "k", 1, "1", 1, RESP_DB_NX, 0, NULL, NULL, &had), RESP_DB_OK);
    ck_assert_int_eq(resp_db_set(db, "k", 1, "2", 1, RESP_DB_NX, 0, NULL, NULL, &had),
                     RESP_DB_NOTFOUND);
    ck_assert_int_eq(had, 1);
    ck_assert_int_eq(get_str(db, "k", &v), RESP_DB_OK);
    ck_assert_int_eq(v.buf[0], '1');
    /* SET ... GET: the old value is shown, then replaced */
    memset(&old, 0, sizeof(old));
    ck_assert_int_eq(resp_db_set(db, "k", 1, "three", 5, RESP_DB_XX, 0, copy_value, &old, &had),
                     RESP_DB_OK);
    ck_assert_int_eq(old.calls, 1);
    ck_assert_int_eq(old.buf[0], '1');
    ck_assert_int_eq(get_str(db, "k", &v), RESP_DB_OK);
    ck_assert_mem_eq(v.buf, "three", 5);
    resp_db_free(db);
}
END_TEST

START_TEST(db_incr)
{
    resp_db *db = resp_db_new(16 << 20);
    int64_t r;
    value v;
    ck_assert_int_eq(resp_db_incrby(db, "n", 1, 1, &r), RESP_DB_OK);
    ck_assert_int_eq(r, 1);
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq(resp_db_incrby(db, "n", 1, 1, &r), RESP_DB_OK);
    ck_assert_int_eq(r, 10); /* "9" -> "10": a longer value */
    ck_assert_int_eq(get_str(db, "n", &v), RESP_DB_OK);
    ck_assert_mem_eq(v.buf, "10", 2);
    ck_assert_int_eq(resp_db_incrby(db, "n", 1, -20, &r), RESP_DB_OK);
    ck_assert_int_eq(r, -10);

    static const char *const bad[] = {"abc", " 1", "1 ", "01", "+1", "1.5", "", "-0",
                                      "9223372036854775808", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        set_str(db, "s", bad[i]);
        ck_assert_msg(resp_db_incrby(db, "s", 1, 1, &r) == RESP_DB_NOTINT, "'%s'", bad[i]);
        ck_assert_int_eq(get_str(db, "s", &v), RESP_DB_OK); /* unchanged */
        ck_assert_uint_eq(v.len, strlen(bad[i]));
    }
    set_str(db, "max", "9223372036854775807");
    ck_assert_int_eq(resp_db_incrby(db, "max", 3, 1, &r), RESP_DB_OVERFLOW);
    ck_assert_int_eq(resp_db_incrby(db, "max", 3, -1, &r), RESP_DB_OK);
    ck_assert_int_eq(r, LLONG_MAX - 1);
    set_str(db, "min", "-9223372036854775808");
    ck_assert_int_eq(resp_db_incrby(db, "min", 3, -1, &r), RESP_DB_OVERFLOW);
    ck_assert_int_eq(resp_db_incrby(db, "min", 3, LLONG_MAX, &r), RESP_DB_OK);
    ck_assert_int_eq(r, -1);
    ck_assert_int_eq(resp_db_incrby(db, "new", 3, LLONG_MIN, &r), RESP_DB_OK);
    ck_assert_int_eq(r, LLONG_MIN);
    resp_db_free(db);
}
END_TEST

START_TEST(db_max_memory)
{
    resp_db *db = resp_db_new(1 << 20);
    char key[32], val[1000];
    memset(val, 'v', sizeof(val));
    int stored = 0, refused = 0;
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof(key), "key:%d", i);
        int rc = resp_db_set(db, key, (size_t)n, val, sizeof(val), 0, 0, NULL, NULL, NULL);
        ck_assert(rc == RESP_DB_OK || rc == RESP_DB_OOM);
        if (rc == RESP_DB_OK)
            stored++;
        else
            refused++;
        ck_assert_uint_le(resp_db_used(db), 1 << 20);
    }
    ck_assert_int_gt(stored, 500);
    ck_assert_int_gt(refused, 0);
    /* a refused write changed nothing */
    ck_assert_int_eq(resp_db_exists(db, "key:4999", 8), 0);
    /* an overwrite within the item's size class needs no memory: allowed
     * even when full, for the same length and a slightly shorter one */
    val[0] = 'w';
    ck_assert_int_eq(resp_db_set(db, "key:0", 5, val, sizeof(val), 0, 0, NULL, NULL, NULL),
                     RESP_DB_OK);
    size_t full = resp_db_used(db);
    ck_assert_int_eq(resp_db_set(db, "key:0", 5, val, sizeof(val) - 10, 0, 0, NULL, NULL, NULL),
                     RESP_DB_OK);
    ck_assert_uint_eq(resp_db_used(db), full);
    /* INCR allocates too: refused or within the limit */
    int64_t r;
    for (int i = 0; i < 100; i++) {
        int n = snprintf(key, sizeof(key), "counter:%d", i);
        int rc = resp_db_incrby(db, key, (size_t)n, 1, &r);
        ck_assert(rc == RESP_DB_OK || rc == RESP_DB_OOM);
        ck_assert_uint_le(resp_db_used(db), 1 << 20);
    }
    /* deleting frees room */
    ck_assert_int_eq(resp_db_del(db, "key:0", 5), 1);
    ck_assert_int_eq(resp_db_del(db, "key:1", 5), 1);
    ck_assert_int_eq(resp_db_set(db, "again", 5, val, sizeof(val), 0, 0, NULL, NULL, NULL),
                     RESP_DB_OK);
    resp_db_flush(db);
    ck_assert_uint_eq(resp_db_used(db), 0);
    resp_db_free(db);
}
END_TEST

/* A value's length and whether every byte is `fill`. */
typedef struct filled {
    size_t len;
    char fill;
    int uniform;
} filled;

static int check_filled(void *arg, const char *v, size_t len)
{
    filled *f = arg;
    f->len = len;
    f->uniform = 1;
    for (size_t i = 0; i < len; i++)
        f->uniform &= v[i] == f->fill;
    return 0;
}

START_TEST(db_size_classes)
{
    resp_db *db = resp_db_new(16 << 20);
    static char val[5000];
    /* Items are charged by size class: 4,096 value lengths give few
     * distinct charges, each at least the bytes kept and at most about a
     * quarter more. */
    ck_assert_int_eq(set_str(db, "k", ""), RESP_DB_OK);
    ck_assert_int_eq(resp_db_del(db, "k", 1), 1);
    size_t table = resp_db_used(db); /* the stripe's buckets stay */
    size_t last = 0, classes = 0;
    for (size_t n = 1; n <= 4096; n++) {
        ck_assert_int_eq(resp_db_set(db, "k", 1, val, n, 0, 0, NULL, NULL, NULL), RESP_DB_OK);
        size_t used = resp_db_used(db) - table;
        ck_assert_uint_ge(used, n + 1);
        ck_assert_uint_le(used, (n + 1 + 64) * 5 / 4);
        ck_assert_uint_ge(used, last); /* growing values never cost less */
        classes += used != last;
        last = used;
    }
    ck_assert_uint_ge(classes, 16);
    ck_assert_uint_le(classes, 32);
    resp_db_flush(db);
    ck_assert_uint_eq(resp_db_used(db), 0);

    /* Within a class a SET overwrites in place: shorter, then longer again,
     * each read back whole, and the charge does not move. */
    memset(val, 'a', 670);
    ck_assert_int_eq(resp_db_set(db, "k", 1, val, 670, 0, 0, NULL, NULL, NULL), RESP_DB_OK);
    size_t charged = resp_db_used(db);
    static const size_t lens[] = {669, 650, 700, 670};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        char c = (char)('b' + i);
        memset(val, c, lens[i]);
        filled f = {.fill = c};
        ck_assert_int_eq(resp_db_set(db, "k", 1, val, lens[i], 0, 0, NULL, NULL, NULL),
                         RESP_DB_OK);
        ck_assert_uint_eq(resp_db_used(db), charged);
        ck_assert_int_eq(resp_db_get(db, "k", 1, check_filled, &f), RESP_DB_OK);
        ck_assert_uint_eq(f.len, lens[i]);
        ck_assert(f.uniform);
    }
    /* SET ... GET shows the old value, whole, before the in-place write */
    filled old = {.fill = 'e'};
    memset(val, 'z', 665);
    ck_assert_int_eq(resp_db_set(db, "k", 1, val, 665, 0, 0, check_filled, &old, NULL),
                     RESP_DB_OK);
    ck_assert_uint_eq(old.len, 670);
    ck_assert(old.uniform);
    /* INCR from "99" to "100" stays in its class: in place, same charge */
    ck_assert_int_eq(set_str(db, "n", "99"), RESP_DB_OK);
    size_t with_n = resp_db_used(db);
    int64_t r;
    value v;
    ck_assert_int_eq(resp_db_incrby(db, "n", 1, 1, &r), RESP_DB_OK);
    ck_assert_uint_eq(resp_db_used(db), with_n);
    ck_assert_int_eq(get_str(db, "n", &v), RESP_DB_OK);
    ck_assert_uint_eq(v.len, 3);
    ck_assert_mem_eq(v.buf, "100", 3);
    ck_assert_int_eq(resp_db_del(db, "n", 1), 1);
    /* a value of another class is a new item with its own charge */
    ck_assert_int_eq(resp_db_set(db, "k", 1, val, 3000, 0, 0, NULL, NULL, NULL), RESP_DB_OK);
    ck_assert_uint_gt(resp_db_used(db), charged);
    ck_assert_int_eq(resp_db_set(db, "k", 1, "1", 1, 0, 0, NULL, NULL, NULL), RESP_DB_OK);
    ck_assert_uint_lt(resp_db_used(db), charged);
    resp_db_free(db);
}
END_TEST

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

START_TEST(db_expiry)
{
    resp_db *db = resp_db_new(16 << 20);
    value v;
    ck_assert_int_eq(resp_db_pttl(db, "k", 1), -2);
    set_str(db, "k", "v");
    ck_assert_int_eq(resp_db_pttl(db, "k", 1), -1);
    ck_assert_int_eq(resp_db_set(db, "k", 1, "v", 1, 0, resp_db_unix_ms() + 100000, NULL, NULL, NULL), RESP_DB_OK);
    int64_t ttl = resp_db_pttl(db, "k", 1);
    ck_assert(ttl > 90000 && ttl <= 100000);
    /* KEEPTTL keeps it, a plain SET clears it, INCR keeps it */
    ck_assert_int_eq(resp_db_set(db, "k", 1, "vv", 2, RESP_DB_KEEPTTL, 0, NULL, NULL, NULL),
                     RESP_DB_OK);
    ck_assert_int_gt(resp_db_pttl(db, "k", 1), 0);
    set_str(db, "k", "1");
    ck_assert_int_eq(resp_db_pttl(db, "k", 1), -1);
    ck_assert_int_eq(resp_db_set(db, "k", 1, "1", 1, 0, resp_db_unix_ms() + 100000, NULL, NULL, NULL), RESP_DB_OK);
    int64_t r;
    ck_assert_int_eq(resp_db_incrby(db, "k", 1, 100, &r), RESP_DB_OK);
    ck_assert_int_gt(resp_db_pttl(db, "k", 1), 0);
    /* expired: gone for every operation, and its memory comes back */
    size_t base = resp_db_used(db);
    for (int i = 0; i < 100; i++) {
        char key[16];
        int n = snprintf(key, sizeof(key), "t%d", i);
        ck_assert_int_eq(resp_db_set(db, key, (size_t)n, "x", 1, 0, resp_db_unix_ms() + 1, NULL, NULL, NULL),
                         RESP_DB_OK);
    }
    ck_assert_uint_gt(resp_db_used(db), base);
    sleep_ms(20);
    ck_assert_int_eq(get_str(db, "t0", &v), RESP_DB_NOTFOUND);
    ck_assert_int_eq(resp_db_exists(db, "t1", 2), 0);
    ck_assert_int_eq(resp_db_pttl(db, "t2", 2), -2);
    ck_assert_int_eq(resp_db_del(db, "t3", 2), 0);
    ck_assert_int_eq(resp_db_set(db, "t4", 2, "y", 1, RESP_DB_NX, 0, NULL, NULL, NULL),
                     RESP_DB_OK);
    ck_assert_int_eq(resp_db_pttl(db, "t4", 2), -1);
    /* the sweep: expired keys nobody asks for again are reclaimed by
     * accesses to other keys of their stripe */
    for (int i = 0; i < 10000; i++) {
        char key[16];
        int n = snprintf(key, sizeof(key), "e%d", i);
        ck_assert_int_eq(resp_db_set(db, key, (size_t)n, "x", 1, 0, resp_db_unix_ms() + 1, NULL, NULL, NULL),
                         RESP_DB_OK);
    }
    size_t swept_from = resp_db_used(db);
    sleep_ms(20);
    for (int i = 0; i < 20000; i++) {
        char key[16];
        int n = snprintf(key, sizeof(key), "miss%d", i);
        ck_assert_int_eq(resp_db_exists(db, key, (size_t)n), 0);
    }
    /* most of the 10,000 items (48 bytes each at least) came back */
    ck_assert_uint_lt(resp_db_used(db), swept_from - 10000 * 48 / 2);
    for (int i = 0; i < 100; i++) {
        char key[16];
        int n = snprintf(key, sizeof(key), "t%d", i);
        resp_db_exists(db, key, (size_t)n);
    }
    ck_assert_uint_eq(resp_db_count(db, NULL), 2);
    resp_db_free(db);
}
END_TEST

static int value_len(void *arg, const char *v, size_t len)
{
    (void)v;
    *(size_t *)arg = len;
    return 0;
}

typedef struct writer {
    resp_db *db;
    _Atomic int done;
} writer;

static void *write_one(void *arg)
{
    writer *w = arg;
    set_str(w->db, "other", "1");
    atomic_store(&w->done, 1);
    return NULL;
}

static int count_key(void *arg, const char *key, size_t klen)
{
    (void)key;
    (void)klen;
    (*(size_t *)arg)++;
    return 0;
}

START_TEST(db_expire_append_scan)
{
    resp_db *db = resp_db_new(16 << 20);
    value v;
    int64_t now = resp_db_unix_ms();
    set_str(db, "k", "ab");
    /* EXPIRE's conditions, as Redis: no deadline is an infinite one */
    ck_assert_int_eq(resp_db_expire(db, "k", 1, now + 100000, RESP_DB_XX), 0);
    ck_assert_int_eq(resp_db_expire(db, "k", 1, now + 100000, RESP_DB_GT), 0);
    ck_assert_int_eq(resp_db_expire(db, "k", 1, now + 100000, RESP_DB_NX), 1);
    ck_assert_int_eq(resp_db_expire(db, "k", 1, now + 200000, RESP_DB_NX), 0);
    ck_assert_int_eq(resp_db_expire(db, "k", 1, now + 50000, RESP_DB_GT), 0);
    ck_assert_int_eq(resp_db_expire(db, "k", 1, now + 200000, RESP_DB_LT), 0);
    ck_assert_int_eq(resp_db_expire(db, "k", 1, now + 50000, RESP_DB_LT), 1);
    ck_assert_int_le(resp_db_pttl(db, "k", 1), 50000);
    ck_assert_int_eq(resp_db_expire(db, "nope", 4, now + 1000, 0), 0);
    /* APPEND keeps the deadline, grows past the item's size class, stops at max */
    size_t len;
    ck_assert_int_eq(resp_db_append(db, "k", 1, "cd", 2, 100, &len), RESP_DB_OK);
    ck_assert_uint_eq(len, 4);
    char big[300];
    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(resp_db_append(db, "k", 1, big, sizeof(big), 1000, &len), RESP_DB_OK);
    ck_assert_uint_eq(len, 304);
    ck_assert_int_eq(get_str(db, "k", &v), RESP_DB_OK);
    ck_assert_mem_eq(v.buf, "abcdxx", 6);
    ck_assert_int_eq(resp_db_get(db, "k", 1, value_len, &len), RESP_DB_OK);
    ck_assert_uint_eq(len, 304);
    ck_assert_int_gt(resp_db_pttl(db, "k", 1), 0);
    ck_assert_int_eq(resp_db_append(db, "k", 1, big, sizeof(big), 500, &len), RESP_DB_TOOBIG);
    ck_assert_int_eq(resp_db_append(db, "new", 3, "", 0, 10, &len), RESP_DB_OK);
    ck_assert_uint_eq(len, 0);
    /* PERSIST, GETDEL */
    ck_assert_int_eq(resp_db_persist(db, "k", 1), 1);
    ck_assert_int_eq(resp_db_persist(db, "k", 1), 0);
    ck_assert_int_eq(resp_db_pttl(db, "k", 1), -1);
    len = 0;
    ck_assert_int_eq(resp_db_getdel(db, "k", 1, value_len, &len), RESP_DB_OK);
    ck_assert_uint_eq(len, 304);
    ck_assert_int_eq(resp_db_exists(db, "k", 1), 0);
    ck_assert_int_eq(resp_db_getdel(db, "k", 1, copy_value, &v), RESP_DB_NOTFOUND);
    /* a deadline already past deletes */
    ck_assert_int_eq(resp_db_expire(db, "new", 3, now - 1, 0), 1);
    ck_assert_int_eq(resp_db_exists(db, "new", 3), 0);
    /* DBSIZE and INFO's expires leave expired keys out, before any access */
    for (int i = 0; i < 1000; i++) {
        char key[16];
        int n = snprintf(key, sizeof(key), "p%d", i);
        ck_assert_int_eq(resp_db_set(db, key, (size_t)n, "x", 1, 0, i % 2 ? resp_db_unix_ms() + 1
                                                                          : 0, NULL, NULL, NULL),
                         RESP_DB_OK);
    }
    set_str(db, "long", "x");
    ck_assert_int_eq(resp_db_expire(db, "long", 4, now + 100000, 0), 1);
    sleep_ms(20);
    size_t expires;
    ck_assert_uint_eq(resp_db_count(db, &expires), 501);
    ck_assert_uint_eq(expires, 1);
    /* SCAN: every key once over a whole iteration, though tables double
     * between calls */
    size_t seen = 0;
    uint64_t cursor = 0;
    int calls = 0;
    do {
        cursor = resp_db_scan(db, cursor, 10, count_key, &seen);
        if (calls++ == 5)
            for (int i = 0; i < 5000; i++) {
                char key[16];
                int n = snprintf(key, sizeof(key), "q%d", i);
                ck_assert_int_eq(resp_db_set(db, key, (size_t)n, "x", 1, 0, 0, NULL, NULL, NULL),
                                 RESP_DB_OK);
            }
    } while (cursor);
    ck_assert_uint_ge(seen, 501);
    seen = 0;
    ck_assert_uint_eq(resp_db_scan(db, 0, SIZE_MAX, count_key, &seen), 0);
    ck_assert_uint_eq(seen, 5501);
    /* EXEC's lock: the same calls work in this thread, while another
     * thread's write waits for the end (it cannot have finished, however
     * long we wait) */
    resp_db_lock_all(db);
    writer w = {.db = db};
    atomic_init(&w.done, 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, write_one, &w), 0);
    set_str(db, "in", "1");
    ck_assert_uint_eq(resp_db_count(db, NULL), 5502);
    sleep_ms(50);
    ck_assert_int_eq(atomic_load(&w.done), 0);
    resp_db_unlock_all(db);
    pthread_join(t, NULL);
    ck_assert_int_eq(atomic_load(&w.done), 1);
    ck_assert_int_eq(get_str(db, "in", &v), RESP_DB_OK);
    ck_assert_int_eq(get_str(db, "other", &v), RESP_DB_OK);
    resp_db_free(db);
}
END_TEST

START_TEST(db_many_keys)
{
    resp_db *db = resp_db_new(256 << 20);
    char key[32], val[32];
    enum { N = 100000 };
    for (int i = 0; i < N; i++) {
        int k = snprintf(key, sizeof(key), "key:%d", i);
        int v = snprintf(val, sizeof(val), "%d", i * 7);
        ck_assert_int_eq(resp_db_set(db, key, (size_t)k, val, (size_t)v, 0, 0, NULL, NULL, NULL),
                         RESP_DB_OK);
    }
    ck_assert_uint_eq(resp_db_count(db, NULL), N);
    value got;
    for (int i = 0; i < N; i += 7) {
        snprintf(key, sizeof(key), "key:%d", i);
        int v = snprintf(val, sizeof(val), "%d", i * 7);
        ck_assert_int_eq(get_str(db, key, &got), RESP_DB_OK);
        ck_assert_uint_eq(got.len, (size_t)v);
        ck_assert_mem_eq(got.buf, val, (size_t)v);
    }
    for (int i = 0; i < N; i += 2) {
        int k = snprintf(key, sizeof(key), "key:%d", i);
        ck_assert_int_eq(resp_db_del(db, key, (size_t)k), 1);
    }
    ck_assert_uint_eq(resp_db_count(db, NULL), N / 2);
    resp_db_free(db); /* frees what is left: LeakSanitizer checks */
}
END_TEST

/* Several threads on one key space: INCR on shared counters must add up
 * exactly, values read must be whole values some thread wrote, and
 * TSan sees every access under a lock. */
enum { THREADS = 4, ITERS = 20000, SHARED = 8 };

typedef struct worker_arg {
    resp_db *db;
    int id;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    char key[32], val[64];
    value got;
    for (int i = 0; i < ITERS; i++) {
        int64_t r;
        int k = snprintf(key, sizeof(key), "counter:%d", i % SHARED);
        if (resp_db_incrby(a->db, key, (size_t)k, 1, &r) != RESP_DB_OK)
            return (void *)1;
        /* shared keys with values of varying length: whole or absent */
        k = snprintf(key, sizeof(key), "shared:%d", i % 64);
        int v = snprintf(val, sizeof(val), "%d:%.*s", a->id, i % 40, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        if (resp_db_set(a->db, key, (size_t)k, val, (size_t)v, 0, 0, NULL, NULL, NULL) != RESP_DB_OK)
            return (void *)2;
        memset(&got, 0, sizeof(got));
        if (resp_db_get(a->db, key, (size_t)k, copy_value, &got) == RESP_DB_OK) {
            char *colon = memchr(got.buf, ':', got.len);
            if (!colon)
                return (void *)3;
            for (char *c = colon + 1; c < got.buf + got.len; c++)
                if (*c != 'x')
                    return (void *)4;
        }
        if (i % 5 == 0)
            resp_db_del(a->db, key, (size_t)k);
        resp_db_exists(a->db, key, (size_t)k);
        /* private keys: read back exactly */
        k = snprintf(key, sizeof(key), "own:%d:%d", a->id, i % 100);
        v = snprintf(val, sizeof(val), "%d", i);
        if (resp_db_set(a->db, key, (size_t)k, val, (size_t)v, 0, 0, NULL, NULL, NULL) != RESP_DB_OK)
            return (void *)5;
        memset(&got, 0, sizeof(got));
        if (resp_db_get(a->db, key, (size_t)k, copy_value, &got) != RESP_DB_OK ||
            got.len != (size_t)v || memcmp(got.buf, val, (size_t)v) != 0)
            return (void *)6;
        if (i % 1000 == 0)
            (void)resp_db_count(a->db, NULL);
    }
    return NULL;
}

START_TEST(db_concurrent)
{
    resp_db *db = resp_db_new(64 << 20);
    pthread_t t[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){.db = db, .id = i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        ck_assert_msg(rc == NULL, "thread %d failed at check %ld", i, (long)(intptr_t)rc);
    }
    long long total = 0;
    for (int i = 0; i < SHARED; i++) {
        char key[32];
        int k = snprintf(key, sizeof(key), "counter:%d", i);
        int64_t r;
        ck_assert_int_eq(resp_db_incrby(db, key, (size_t)k, 0, &r), RESP_DB_OK);
        total += r;
    }
    ck_assert_int_eq(total, (long long)THREADS * ITERS);
    resp_db_free(db);
}
END_TEST

Suite *resp_suite(void)
{
    Suite *s = suite_create("resp");
    TCase *p = tcase_create("parser");
    tcase_set_timeout(p, 60);
    tcase_add_test(p, multibulk_commands);
    tcase_add_test(p, multibulk_empty_and_negative_counts);
    tcase_add_test(p, multibulk_at_the_limits);
    tcase_add_test(p, multibulk_1024_args);
    tcase_add_test(p, multibulk_room_asked_only_when_complete);
    tcase_add_test(p, multibulk_max_query);
    tcase_add_test(p, inline_commands);
    tcase_add_test(p, inline_empty_lines);
    tcase_add_test(p, inline_quotes);
    tcase_add_test(p, inline_needs_space);
    tcase_add_test(p, inline_at_max_inline);
    tcase_add_test(p, pipelined_commands);
    tcase_add_test(p, errors_multibulk_length);
    tcase_add_test(p, errors_bulk_length);
    tcase_add_test(p, error_2gb_bulk_declared);
    tcase_add_test(p, errors_expected_dollar);
    tcase_add_test(p, errors_missing_crlf_after_bulk);
    tcase_add_test(p, errors_inline);
    tcase_add_test(p, random_input);
    tcase_add_test(p, str2ll_like_redis);
    suite_add_tcase(s, p);

    TCase *d = tcase_create("keyspace");
    tcase_set_timeout(d, 120);
    tcase_add_test(d, db_set_get_del_exists);
    tcase_add_test(d, db_set_flags);
    tcase_add_test(d, db_incr);
    tcase_add_test(d, db_max_memory);
    tcase_add_test(d, db_size_classes);
    tcase_add_test(d, db_expiry);
    tcase_add_test(d, db_expire_append_scan);
    tcase_add_test(d, db_many_keys);
    tcase_add_test(d, db_concurrent);
    suite_add_tcase(s, d);
    return s;
}
