/* handlers/echo.c - the seed's echo: for each chunk read, reply
 * prefix + chunk; for each UDP datagram, reply prefix + datagram to its
 * sender.  It uses only include/eddy/, exactly as a plugin would.
 *
 * Parameters:
 *   prefix             bytes put before each chunk (default "Received: ";
 *                      "" makes a pure byte-for-byte echo)
 *   close_after_reply  on: the seed's server exactly - one read of at most
 *                      1024 bytes, one reply, close (default off)
 */
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "eddy/eddy.h"
#include "eddy/handler.h"

enum { SEED_RECV_SIZE = 1024 }; /* the seed's recv(1024) */

typedef struct echo_state {
    size_t prefix_len;
    int close_after_reply;
    char prefix[]; /* prefix_len bytes */
} echo_state;

static int echo_init(void **state, eddy_params *params)
{
    const char *prefix = eddy_params_str(params, "prefix", "Received: ");
    int close_after_reply;
    if (eddy_params_bool(params, "close_after_reply", 0, &close_after_reply) < 0)
        return -EINVAL;
    size_t len = strlen(prefix);
    echo_state *st = malloc(sizeof(*st) + len);
    if (!st)
        return -ENOMEM;
    st->prefix_len = len;
    st->close_after_reply = close_after_reply;
    memcpy(st->prefix, prefix, len);
    *state = st;
    return 0;
}

static void echo_fini(void *state)
{
    free(state);
}

static size_t echo_data(eddy_conn *c, const char *buf, size_t len)
{
    const echo_state *st = eddy_conn_state(c);
    if (st->close_after_reply && len > SEED_RECV_SIZE)
        len = SEED_RECV_SIZE;
    struct iovec iov[2] = {
        {.iov_base = (void *)st->prefix, .iov_len = st->prefix_len},
        {.iov_base = (void *)buf, .iov_len = len},
    };
    if (st->prefix_len)
        eddy_sendv(c, iov, 2);
    else
        eddy_send(c, buf, len);
    if (st->close_after_reply)
        eddy_close(c);
    return len;
}

static void echo_datagram(eddy_dgram *d, const char *buf, size_t len)
{
    const echo_state *st = eddy_dgram_state(d);
    struct iovec iov[2] = {
        {.iov_base = (void *)st->prefix, .iov_len = st->prefix_len},
        {.iov_base = (void *)buf, .iov_len = len},
    };
    eddy_dgram_replyv(d, iov, 2); /* too large or over the amplification limit: dropped, counted */
}

static const eddy_param echo_params[] = {{"prefix", 0}, {"close_after_reply", 0}, {NULL, 0}};

static const eddy_handler echo_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "echo",
    .params = echo_params,
    .init = echo_init,
    .fini = echo_fini,
    .data = echo_data,
    .datagram = echo_datagram,
};

const eddy_handler *eddy_echo_handler(void)
{
    return &echo_handler;
}
