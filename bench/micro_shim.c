/* bench/micro_shim.c - C glue for the Google Benchmark harness: reaches the
 * core's internals (eddy_internal) the way tests/unit/test_echo.c does, so
 * that the C++ side needs only this small C interface and never includes a
 * core header that C++ cannot compile (stdatomic.h, flexible arrays).
 * When the core's internals change, mirror test_echo.c's fixture here
 * (scripts/bench builds this only with --micro).
 *
 * bench_echo: one connection of an echo listener, its fd one end of a
 * nonblocking AF_UNIX socketpair; bench_echo_feed() runs the handler's
 * data() on bytes exactly as the loop does after a read, so the real
 * eddy_send()/eddy_sendv() write path runs; the other end is for the
 * benchmark to drain.
 */
#include "micro_shim.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "builtin.h"
#include "conn.h"
#include "eddy/eddy.h"
#include "listener.h"
#include "loop.h"
#include "server.h"

struct bench_echo {
    eddy_server *server;
    eddy_listener *listener;
    eddy__loop loop;
    eddy_conn *conn;
    int peer;
};

bench_echo *bench_echo_new(const char *prefix)
{
    bench_echo *f = calloc(1, sizeof *f);
    eddy_params *p = NULL;
    int sv[2];
    if (!f)
        return NULL;
    if (eddy_server_new(&f->server) < 0 || eddy_params_new(&p) < 0 ||
        eddy_params_add(p, "prefix", prefix, 0) < 0 ||
        eddy_server_listen(f->server, "127.0.0.1:0", eddy_echo_handler(), p, &f->listener) < 0 ||
        eddy__loop_init(&f->loop, f->server, &f->server->shared, f->server->listeners, 0) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        eddy_params_free(p);
        if (f->server)
            eddy_server_free(f->server);
        free(f);
        return NULL;
    }
    eddy_params_free(p);
    /* big socket buffers: a feed of 64 KiB must fit at once */
    int sz = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    f->conn = eddy__loop_open_local(&f->loop, f->listener, sv[0]);
    f->peer = sv[1];
    if (!f->conn) {
        bench_echo_free(f);
        return NULL;
    }
    return f;
}

size_t bench_echo_feed(bench_echo *f, const char *buf, size_t len)
{
    return eddy__conn_listener(f->conn)->handler->data(f->conn, buf, len);
}

int bench_echo_peer(const bench_echo *f)
{
    return f->peer;
}

void bench_echo_free(bench_echo *f)
{
    if (!f)
        return;
    eddy__loop_close_conns(&f->loop);
    eddy__loop_destroy(&f->loop);
    eddy_server_free(f->server);
    close(f->peer);
    free(f);
}

/* ---- buffers ----------------------------------------------------------- */

struct bench_bufs {
    eddy__bufpool pool;
    eddy__buf *b;
};

bench_bufs *bench_bufs_new(size_t base)
{
    bench_bufs *x = calloc(1, sizeof *x);
    if (!x || eddy__bufpool_init(&x->pool, base, 64) < 0) {
        free(x);
        return NULL;
    }
    return x;
}

void bench_bufs_free(bench_bufs *x)
{
    if (!x)
        return;
    if (x->b)
        eddy__bufpool_put(&x->pool, x->b);
    eddy__bufpool_destroy(&x->pool);
    free(x);
}

/* The lazy-buffer cycle of a connection whose write came up short: take a
 * buffer from the pool, append the remainder, look at it as iovecs, consume
 * it, give the buffer back. */
size_t bench_bufs_cycle(bench_bufs *x, const void *src, size_t n)
{
    eddy__buf *b = eddy__bufpool_get(&x->pool);
    if (!b || eddy__buf_append(&b, src, n, EDDY__BUF_MAX) < 0)
        return 0;
    struct iovec iov[2];
    int k = eddy__buf_data_iov(b, iov);
    size_t got = 0;
    for (int i = 0; i < k; i++)
        got += iov[i].iov_len;
    eddy__buf_consume(b, got);
    eddy__bufpool_put(&x->pool, b);
    return got;
}

/* A held buffer used as a ring: append n, consume n - n/4 - 1 so the head
 * walks and wraps; drain when it passes half.  Returns the bytes held. */
size_t bench_bufs_ring(bench_bufs *x, const void *src, size_t n)
{
    if (!x->b && !(x->b = eddy__bufpool_get(&x->pool)))
        return 0;
    if (eddy__buf_append(&x->b, src, n, EDDY__BUF_MAX) < 0)
        return 0;
    size_t eat = n - n / 4;
    if (eat > eddy__buf_len(x->b))
        eat = eddy__buf_len(x->b);
    eddy__buf_consume(x->b, eat);
    if (eddy__buf_len(x->b) > x->pool.base / 2)
        eddy__buf_consume(x->b, eddy__buf_len(x->b));
    return eddy__buf_len(x->b);
}
