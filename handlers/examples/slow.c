/* handlers/examples/slow.c - slow.so: a handler that blocks, the model of
 * one that must run on the worker pool.
 *
 * Protocol: for each chunk it receives, sleep `delay`, then echo the chunk
 * unchanged.  A chunk is whatever input the core has for the connection
 * when data() is called; under `dispatch pool` that is everything that
 * arrived while the previous chunk was sleeping.
 *
 * Parameters:
 *   delay  how long each chunk waits, a duration from 0 to 60s (default
 *          100ms; the unit is required: 250ms, 2s)
 *
 * The contract it shows:
 *   - A data() that blocks (sleeps, calls a blocking library, waits for a
 *     disk) sets EDDY_HANDLER_BLOCKING in its table: it then runs on the
 *     server's pool threads by default, as with `dispatch pool` in the
 *     listener's block, while the worker loops keep serving every other
 *     connection.  Inline on a loop, it would stall all the connections of
 *     that worker for `delay` per chunk.
 *   - The code of a pool handler is the same as an inline one: the core
 *     calls data() for one connection from one thread at a time and does
 *     not read that connection meanwhile, so per-connection state needs no
 *     lock, and replies keep their order.  The per-listener state is shared
 *     by all pool threads, so it is read-only after init().
 *   - eddy_send() from a pool thread is safe: the core takes the reply back
 *     to the connection's own loop.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* nanosleep() under -std=c11 */
#endif
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "eddy/handler.h"

enum {
    DEFAULT_DELAY_MS = 100,
    LIMIT_DELAY_MS = 60 * 1000,
};

typedef struct slow_state {
    struct timespec delay;
} slow_state;

static int slow_init(void **state, eddy_params *params)
{
    long ms;
    if (eddy_params_msec(params, "delay", DEFAULT_DELAY_MS, &ms) < 0)
        return -EINVAL; /* the getter has said what is wrong */
    if (ms > LIMIT_DELAY_MS)
        return eddy_params_reject(params, "delay", "'%s' is too long: at most 60s (%d ms)",
                                  eddy_params_str(params, "delay", ""), LIMIT_DELAY_MS);
    slow_state *st = malloc(sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->delay.tv_sec = ms / 1000;
    st->delay.tv_nsec = ms % 1000 * 1000000L;
    *state = st;
    return 0;
}

static void slow_fini(void *state)
{
    free(state);
}

static size_t slow_data(eddy_conn *c, const char *buf, size_t len)
{
    const slow_state *st = eddy_conn_state(c);
    struct timespec left = st->delay;
    while (nanosleep(&left, &left) < 0 && errno == EINTR)
        ; /* a signal cut the sleep short: sleep the rest */
    eddy_send(c, buf, len); /* -EPIPE if the peer left meanwhile: nothing to do */
    return len;
}

static const eddy_param slow_params[] = {{"delay", 0}, {NULL, 0}};

static const eddy_handler slow_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "slow",
    .params = slow_params,
    .flags = EDDY_HANDLER_BLOCKING,
    .init = slow_init,
    .fini = slow_fini,
    .data = slow_data,
};

/* The one exported symbol (the build hides everything else). */
EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &slow_handler;
}
