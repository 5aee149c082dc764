/* tests/fuzz/fuzz_resp.c - libFuzzer target for the RESP2 request parser
 * and the resp handler's data() path.
 *
 * Input: what a client sends, with limits max_args 1024, max_bulk 512k,
 * max_inline 64k, max_query 32m and reads cut by a pattern taken
 * from the input's length.  An input that starts with '#' is instead
 * "#", a byte that picks small limits, a byte that picks the cut pattern,
 * then what the client sends.  So the seed corpus is plain RESP, which
 * eddy-fuzz-handler (ctest fuzzhandler.resp) feeds to the handler as is.
 * Whatever it is, nothing may crash, read or write out of bounds (each
 * parse runs on an exact-size heap copy), hit undefined behaviour or leak,
 * and these must hold (else abort, so libFuzzer keeps the input):
 *
 * Parser, on the whole input:
 *   - the result is a length, EDDY_PARSE_NEED_MORE or EDDY_PARSE_ERROR
 *     (RESP_NEED_SPACE only when given less room than the limits allow);
 *   - a length: 1 <= length <= len, argc <= max_args, every argument lies
 *     in the input (or the scratch, for quoted inline words), multibulk
 *     arguments are at most max_bulk bytes, and parsing exactly the
 *     command's bytes gives the same command;
 *   - EDDY_PARSE_ERROR: a one-line text starting "ERR Protocol error: ";
 *   - EDDY_PARSE_NEED_MORE on an inline line only while it is within
 *     max_inline (+1 for a pending "\r");
 *   - every prefix parses to EDDY_PARSE_NEED_MORE, or (for an error) to
 *     the same error: a command cut anywhere is not lost, and an error is
 *     decided by the bytes seen;
 *   - with little room (2 argv slots, 4 scratch bytes) the parser asks for
 *     room within the limits, and with the room it asked for, parses the
 *     same.
 *
 * Handler (resp.c, resp_db.c with the stand-ins of fake_handler_api.c for
 * the core's calls): the input is delivered in reads cut as byte 1 says,
 * the unconsumed rest handed back as the core does; data() never consumes more than it got, sends
 * nothing after eddy_close(), and everything it sends, concatenated, is a
 * sequence of complete, well-formed RESP2 replies.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake_handler_api.h"
#include "resp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the parser ------------------------------------------------------- */

enum { MAX_ARGS = 1024 };

typedef struct result {
    ptrdiff_t rc;   /* what resp_parse() returned */
    size_t argc;    /* the command's, or need_argc for RESP_NEED_SPACE */
    size_t scratch; /* need_scratch for RESP_NEED_SPACE */
    char err[128];
    size_t err_len;
    /* a digest of the arguments, to compare two parses */
    uint64_t digest;
} result;

static uint64_t digest_args(const resp_cmd *cmd)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < cmd->argc; i++) {
        h = (h ^ cmd->argv[i].len) * 1099511628211ULL;
        for (size_t k = 0; k < cmd->argv[i].len; k++)
            h = (h ^ (unsigned char)cmd->argv[i].p[k]) * 1099511628211ULL;
    }
    return h;
}

static int inside(const char *p, size_t n, const char *b, size_t len)
{
    return p >= b && n <= len && (size_t)(p - b) <= len - n;
}

/* Parse a copy of src[0..n) with the given room; check what must hold of
 * any single result. */
static result parse_copy(const char *src, size_t n, const resp_limits *lim, size_t argv_cap,
                         size_t scratch_cap, resp_cmd *out)
{
    static resp_arg argv[MAX_ARGS];
    char *b = malloc(n ? n : 1);
    char *scratch = malloc(scratch_cap ? scratch_cap : 1);
    if (!b || !scratch)
        abort();
    memcpy(b, src, n);
    resp_cmd cmd = {.argv = argv, .argv_cap = argv_cap, .scratch = scratch,
                    .scratch_cap = scratch_cap};
    result r = {.rc = resp_parse(b, n, lim, &cmd)};
    if (r.rc > 0) {
        size_t used = (size_t)r.rc;
        if (used > n || cmd.argc > lim->max_args || cmd.argc > argv_cap)
            abort();
        for (size_t i = 0; i < cmd.argc; i++) {
            const resp_arg *a = &cmd.argv[i];
            if (!inside(a->p, a->len, b, used) && !inside(a->p, a->len, scratch, scratch_cap))
                abort();
            if (b[0] == '*' && a->len > lim->max_bulk)
                abort();
            if (b[0] != '*' && a->len > lim->max_inline)
                abort();
        }
        r.argc = cmd.argc;
        r.digest = digest_args(&cmd);
    } else if (r.rc == EDDY_PARSE_ERROR) {
        if (!cmd.err || cmd.err_len >= sizeof(r.err) || cmd.err_len < 20 ||
            memcmp(cmd.err, "ERR Protocol error: ", 20) != 0 ||
            memchr(cmd.err, '\r', cmd.err_len) || memchr(cmd.err, '\n', cmd.err_len))
            abort();
        memcpy(r.err, cmd.err, cmd.err_len);
        r.err_len = cmd.err_len;
    } else if (r.rc == EDDY_PARSE_NEED_MORE) {
        if (n > 0 && b[0] != '*' && n > lim->max_inline + 1)
            abort();
    } else if (r.rc == RESP_NEED_SPACE) {
        if (cmd.need_argc > lim->max_args || cmd.need_scratch > lim->max_inline ||
            (cmd.need_argc <= argv_cap && cmd.need_scratch <= scratch_cap))
            abort();
        r.argc = cmd.need_argc;
        r.scratch = cmd.need_scratch;
    } else {
        abort(); /* 0 or an unknown answer */
    }
    if (out)
        *out = cmd;
    free(b);
    free(scratch);
    return r;
}

static int same(const result *a, const result *b)
{
    if (a->rc != b->rc)
        return 0;
    if (a->rc > 0)
        return a->argc == b->argc && a->digest == b->digest;
    if (a->rc == EDDY_PARSE_ERROR)
        return a->err_len == b->err_len && memcmp(a->err, b->err, a->err_len) == 0;
    return 1;
}

static void fuzz_parser(const char *buf, size_t len, const resp_limits *lim)
{
    size_t argv_cap = lim->max_args < MAX_ARGS ? lim->max_args : MAX_ARGS;
    size_t scratch_cap = lim->max_inline;
    result r = parse_copy(buf, len, lim, argv_cap, scratch_cap, NULL);
    if (r.rc == RESP_NEED_SPACE)
        abort(); /* full room was given */
    if (r.rc > 0) { /* the command alone parses the same */
        result again = parse_copy(buf, (size_t)r.rc, lim, argv_cap, scratch_cap, NULL);
        if (!same(&r, &again))
            abort();
    }
    /* little room: asks for what it needs, then parses the same with it */
    result small = parse_copy(buf, len, lim, 2, 4, NULL);
    if (small.rc == RESP_NEED_SPACE) {
        size_t a = small.argc > 2 ? small.argc : 2, s = small.scratch > 4 ? small.scratch : 4;
        result fit = parse_copy(buf, len, lim, a, s, NULL);
        if (!same(&r, &fit))
            abort();
    } else if (!same(&r, &small)) {
        abort();
    }
    /* prefixes: a few cut points, chosen from the input itself */
    size_t end = r.rc > 0 ? (size_t)r.rc : len;
    size_t cuts[7] = {0, 1, end / 2, end / 3, (end * 7) / 8, end > 0 ? end - 1 : 0,
                      end > 2 ? end - 2 : 0};
    for (int i = 0; i < 7; i++) {
        size_t k = cuts[i];
        if (k >= end)
            continue;
        result p = parse_copy(buf, k, lim, argv_cap, scratch_cap, NULL);
        if (p.rc == EDDY_PARSE_NEED_MORE)
            continue;
        if (r.rc != EDDY_PARSE_ERROR || !same(&r, &p))
            abort();
    }
}

/* ---- the handler ------------------------------------------------------ */

/* The length of the complete RESP2 reply at p, or 0 when p is empty;
 * aborts on anything malformed or cut short. */
static size_t reply_len(const char *p, size_t n, int depth)
{
    if (n == 0)
        return 0;
    if (depth > 4)
        abort();
    const char *cr = memchr(p, '\r', n);
    if (!cr || (size_t)(cr - p) + 1 >= n || cr[1] != '\n')
        abort();
    size_t head = (size_t)(cr - p) + 2;
    if (memchr(p, '\n', head - 1))
        abort();
    long long v = 0; /* for '$' and '*': -1, or a size that fits the output */
    if (p[0] == ':' || p[0] == '$' || p[0] == '*') {
        const char *d = p + 1;
        int neg = d < cr && *d == '-';
        d += neg;
        if (d == cr || cr - d > 19)
            abort();
        unsigned long long u = 0;
        for (; d < cr; d++) {
            if (*d < '0' || *d > '9')
                abort();
            u = u * 10 + (unsigned)(*d - '0');
        }
        if (p[0] != ':') {
            if (neg ? u != 1 : u > n)
                abort();
            v = neg ? -1 : (long long)u;
        }
    }
    switch (p[0]) {
    case '+':
    case '-':
    case ':':
        return head;
    case '$':
        if (v == -1)
            return head;
        if (v < 0 || (size_t)v + 2 > n - head || p[head + (size_t)v] != '\r' ||
            p[head + (size_t)v + 1] != '\n')
            abort();
        return head + (size_t)v + 2;
    case '*': {
        if (v == -1)
            return head;
        if (v < 0)
            abort();
        size_t at = head;
        for (long long i = 0; i < v; i++) {
            if (at >= n)
                abort();
            at += reply_len(p + at, n - at, depth + 1);
        }
        return at;
    }
    default:
        abort();
    }
}

/* resp.c on one connection (fake_handler_api.c): all it sends is a
 * sequence of complete, well-formed replies. */
static void fuzz_handler(const char *in, size_t len, const resp_limits *lim, unsigned cut)
{
    const fake_param v[] = {
        {.name = "max_args", .size = lim->max_args},
        {.name = "max_bulk", .size = lim->max_bulk},
        {.name = "max_inline", .size = lim->max_inline},
        {.name = "max_query", .size = lim->max_query},
        {.name = "max_memory", .size = (size_t)1 << 20},
    };
    eddy_params params = {.v = v, .n = sizeof(v) / sizeof(v[0])};
    size_t n;
    char *out = fake_run(eddy_handler_entry(), &params, in, len, cut, SIZE_MAX, &n);
    for (size_t at = 0; at < n;)
        at += reply_len(out + at, n - at, 0);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t max_args[4] = {1, 3, 16, 1024};
    static const size_t max_bulk[4] = {1, 5, 100, 512 << 10};
    static const size_t max_inline[4] = {1, 8, 64, 64 << 10};
    static const size_t max_query[4] = {16, 64, 4096, 32 << 20};
    unsigned sel = 0xff, cut = (unsigned)(size * 37) & 0xff;
    const char *in = (const char *)data;
    size_t len = size;
    if (size >= 3 && data[0] == '#') {
        sel = data[1];
        cut = data[2];
        in += 3;
        len -= 3;
    }
    resp_limits lim = {.max_args = max_args[sel & 3],
                       .max_bulk = max_bulk[(sel >> 2) & 3],
                       .max_inline = max_inline[(sel >> 4) & 3],
                       .max_query = max_query[(sel >> 6) & 3]};
    fuzz_parser(in, len, &lim);
    fuzz_handler(in, len, &lim, cut);
    return 0;
}
