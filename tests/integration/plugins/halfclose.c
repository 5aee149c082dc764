/* halfclose.so - answers after the peer's FIN (peer_shutdown), the way an
 * HTTP/1.0 body delimited by close is answered: it counts the bytes it
 * receives and, 20 ms after the FIN, sends "got N bytes\n" and closes
 * (test_handler_api.py). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "eddy/handler.h"

typedef struct count {
    size_t n;
    eddy_timer *t;
} count;

static void answer(eddy_conn *c, void *arg)
{
    count *k = arg;
    char line[64];
    int len = snprintf(line, sizeof(line), "got %zu bytes\n", k->n);
    eddy_send(c, line, (size_t)len);
    eddy_close(c);
}

static int hc_open(eddy_conn *c)
{
    count *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    eddy_conn_set_data(c, k);
    return (k->t = eddy_timer_new(c, answer, k)) ? 0 : -ENOMEM;
}

static size_t hc_data(eddy_conn *c, const char *buf, size_t len)
{
    (void)buf;
    ((count *)eddy_conn_data(c))->n += len;
    return len;
}

static void hc_peer_shutdown(eddy_conn *c)
{
    eddy_timer_start(((count *)eddy_conn_data(c))->t, 20);
}

static void hc_close(eddy_conn *c)
{
    free(eddy_conn_data(c));
}

static const eddy_handler hc_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "halfclose",
    .open = hc_open,
    .data = hc_data,
    .close = hc_close,
    .peer_shutdown = hc_peer_shutdown,
};

EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
{
    return &hc_handler;
}
