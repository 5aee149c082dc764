/* flood.so - a handler that sends on a timer, not in answer to input: from
 * open(), 16 KiB every millisecond (issue 17's case).  Read-paused
 * backpressure does not stop it; max_output must (test_handler_api.py).
 *
 * With `polite on` it does what a well-behaved handler does: it stops once
 * eddy_conn_queued() passes the listener's high_water (the test sets 256k)
 * and goes on when drained() says the queue went below low_water. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/handler.h"

enum { CHUNK = 16 * 1024, POLITE_MAX = 256 * 1024 };

static char chunk[CHUNK];

static int flood_init(void **state, eddy_params *params)
{
    int polite;
    if (eddy_params_bool(params, "polite", 0, &polite) < 0)
        return -EINVAL;
    memset(chunk, 'f', sizeof(chunk));
    *state = polite ? chunk : NULL; /* non-NULL: polite */
    return 0;
}

static void tick(eddy_conn *c, void *arg)
{
    eddy_timer *t = eddy_conn_data(c);
    (void)arg;
    int polite = eddy_conn_state(c) != NULL;
    if (polite && eddy_conn_queued(c) > POLITE_MAX)
        return; /* drained() starts the timer again */
    if (eddy_send(c, chunk, sizeof(chunk)) == 0)
        eddy_timer_start(t, 1);
}

static int flood_open(eddy_conn *c)
{
    eddy_timer *t = eddy_timer_new(c, tick, NULL);
    if (!t)
        return -ENOMEM;
    eddy_conn_set_data(c, t); /* freed with the connection */
    return eddy_timer_start(t, 1);
}

static size_t flood_data(eddy_conn *c, const char *buf, size_t len)
{
    (void)c;
    (void)buf;
    return len; /* input is ignored */
}

static void flood_drained(eddy_conn *c)
{
    eddy_timer_start(eddy_conn_data(c), 0);
}

static const eddy_param flood_params[] = {{"polite", 0}, {NULL, 0}};

static const eddy_handler flood_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "flood",
    .params = flood_params,
    .init = flood_init,
    .open = flood_open,
    .data = flood_data,
    .drained = flood_drained,
};

EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &flood_handler;
}
