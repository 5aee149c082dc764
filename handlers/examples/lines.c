/* handlers/examples/lines.c - lines.so: a line-framed handler, the model of
 * a plugin that frames its input.
 *
 * Protocol: for each complete line the client sends (ended by "\n"; one
 * "\r" just before it is stripped) the reply is prefix + line + "\n".  A
 * line longer than max_line bytes (terminator not counted) gets the reply
 * "ERR line too long (max N bytes)\n" (N = max_line), after the replies to
 * the lines before it, and the connection closes.  An over-long line is
 * caught as soon as its first max_line + 1 bytes have arrived (+ 2 when the
 * last of them is a "\r"): there is no waiting for a newline that may
 * never come.  A partial line left at end of input gets no reply.
 *
 * Parameters:
 *   prefix    bytes put before each reply line (default "")
 *   max_line  longest line accepted, a size from 1 to 1m (default 8k).
 *             Keep the listener's max_message above max_line + 1 (the
 *             default max_message, 1m, covers max_line up to 1m - 2): the
 *             core closes a connection whose unconsumed input reaches
 *             max_message before this handler can reply.
 *
 * The contract it shows:
 *   - A plugin includes only "eddy/..." headers and exports one function,
 *     eddy_handler_entry(), that returns its const table; all else is static.
 *   - The table names exactly the parameters init() reads, so the config
 *     loader rejects a misspelt one before any socket is opened.
 *   - init() reads each parameter with one eddy_params_* call, rejects a bad
 *     value with eddy_params_reject() (the operator sees
 *     "FILE:LINE: max_line: ..."), and copies what it keeps: the params are
 *     gone once init() returns.  The state is read-only afterwards, so every
 *     worker shares it without a lock; fini() frees it.
 *   - data() consumes only complete lines and returns how many bytes they
 *     took.  The partial line after them is left to the core, which hands it
 *     back followed by the next bytes.  So lines copies nothing, allocates
 *     nothing per line or per connection, and its only per-connection state
 *     is one number kept in the eddy_conn_set_data() slot (see lines_data).
 *   - Replies point into the input buffer and go out in one eddy_sendv()
 *     per call (per BATCH pieces): one writev() for a whole pipelined burst.
 *   - eddy_close() after the error reply: queued replies are still sent,
 *     then the connection closes; data() is not called again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/handler.h"

enum {
    DEFAULT_MAX_LINE = 8 << 10,
    LIMIT_MAX_LINE = 1 << 20,
    BATCH = 64, /* iovecs gathered before an eddy_sendv(); well under IOV_MAX */
};

typedef struct lines_state {
    size_t max_line;
    size_t err_len;
    char err[64];      /* the over-long reply, formatted once in init() */
    size_t prefix_len;
    char prefix[];     /* prefix_len bytes */
} lines_state;

static int lines_init(void **state, eddy_params *params)
{
    const char *prefix = eddy_params_str(params, "prefix", "");
    size_t max_line;
    if (eddy_params_size(params, "max_line", DEFAULT_MAX_LINE, &max_line) < 0)
        return -EINVAL; /* the getter has said what is wrong */
    if (max_line < 1 || max_line > LIMIT_MAX_LINE)
        return eddy_params_reject(params, "max_line",
                                  "'%s' is out of range: must be from 1 to 1m (%d bytes)",
                                  eddy_params_str(params, "max_line", ""), LIMIT_MAX_LINE);

    size_t prefix_len = strlen(prefix);
    lines_state *st = malloc(sizeof(*st) + prefix_len);
    if (!st)
        return -ENOMEM;
    st->max_line = max_line;
    int n = snprintf(st->err, sizeof(st->err), "ERR line too long (max %zu bytes)\n", max_line);
    if (n < 0 || (size_t)n >= sizeof(st->err)) { /* cannot happen for max_line <= 1m */
        free(st);
        return -EINVAL;
    }
    st->err_len = (size_t)n;
    st->prefix_len = prefix_len;
    memcpy(st->prefix, prefix, prefix_len);
    *state = st;
    return 0;
}

static void lines_fini(void *state)
{
    free(state);
}

/* Replies gathered as iovecs that point into the input (or the state), so
 * nothing is copied.  A piece that starts where the previous one ends is
 * merged into it: with an empty prefix and "\n" endings, the replies to a
 * whole burst are one iovec over the input itself. */
typedef struct batch {
    struct iovec iov[BATCH];
    int n;
    int failed; /* eddy_sendv() refused: the connection is closing or gone */
} batch;

static void batch_flush(eddy_conn *c, batch *b)
{
    if (b->n && !b->failed && eddy_sendv(c, b->iov, b->n) < 0)
        b->failed = 1;
    b->n = 0;
}

static void batch_add(eddy_conn *c, batch *b, const char *p, size_t len)
{
    if (len == 0)
        return;
    if (b->n) {
        struct iovec *last = &b->iov[b->n - 1];
        if ((const char *)last->iov_base + last->iov_len == p) {
            last->iov_len += len;
            return;
        }
    }
    if (b->n == BATCH)
        batch_flush(c, b);
    b->iov[b->n++] = (struct iovec){.iov_base = (void *)p, .iov_len = len};
}

/* A partial line of n bytes (no "\n" yet) that is already over max_line:
 * its content is at least n - 1 bytes even if its last byte turns out to be
 * the "\r" of a "\r\n". */
static int partial_too_long(const lines_state *st, const char *p, size_t n)
{
    if (n <= st->max_line)
        return 0;
    return n > st->max_line + 1 || p[n - 1] != '\r';
}

static size_t lines_data(eddy_conn *c, const char *buf, size_t len)
{
    const lines_state *st = eddy_conn_state(c);
    /* Per-connection state without an allocation: the data slot holds a
     * number, not a pointer - how many bytes at the start of buf are the
     * partial line the last call left, already searched for "\n".  Without
     * it a line arriving a few bytes at a time would be searched again from
     * its start on every call.  There is nothing to free, hence no close(). */
    size_t searched = (size_t)(uintptr_t)eddy_conn_data(c);
    if (searched > len) /* cannot happen: the core hands the partial line back */
        searched = 0;

    batch b; /* not zeroed: only n entries are ever read */
    b.n = 0;
    b.failed = 0;
    size_t done = 0; /* bytes of complete lines: what we consume */
    while (!b.failed) {
        const char *line = buf + done;
        size_t rest = len - done;
        const char *nl = memchr(line + searched, '\n', rest - searched);
        searched = 0;
        if (!nl) {
            if (partial_too_long(st, line, rest))
                goto too_long;
            eddy_conn_set_data(c, (void *)(uintptr_t)rest);
            break;
        }
        size_t n = (size_t)(nl - line); /* the line without its "\n" */
        int cr = n > 0 && line[n - 1] == '\r';
        if (n - (size_t)cr > st->max_line)
            goto too_long;
        batch_add(c, &b, st->prefix, st->prefix_len);
        if (cr) {
            batch_add(c, &b, line, n - 1);
            batch_add(c, &b, "\n", 1);
        } else {
            batch_add(c, &b, line, n + 1); /* the line and its own "\n" */
        }
        done += n + 1;
        if (done == len) {
            eddy_conn_set_data(c, (void *)(uintptr_t)0);
            break;
        }
    }
    batch_flush(c, &b);
    return b.failed ? len : done; /* failed: closing anyway, drop the rest */

too_long:
    batch_flush(c, &b); /* the lines before it are answered first */
    eddy_send(c, st->err, st->err_len);
    eddy_close(c);
    return len;
}

static const eddy_param lines_params[] = {{"prefix", 0}, {"max_line", 0}, {NULL, 0}};

static const eddy_handler lines_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "lines",
    .params = lines_params,
    .init = lines_init,
    .fini = lines_fini,
    .data = lines_data,
};

/* The one exported symbol (the build hides everything else); handler.h
 * declares it, so the loader's type and this definition cannot drift. */
EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &lines_handler;
}
