/* peer-libuv - echo server on libuv, used the way libuv is fastest:
 *
 *   - one uv_loop_t per worker, each with its own SO_REUSEPORT socket
 *     (made by hand, then uv_tcp_open: libuv 1.44 has no reuseport flag);
 *   - alloc_cb hands out the loop's one 64 KiB buffer (the read callback
 *     finishes with it before the next read), so reading allocates nothing;
 *     libuv reads until a short read (at most 32 reads per wake);
 *   - the reply goes out at once with uv_try_write(prefix, chunk), which
 *     writes straight to the socket when nothing is queued; only a remainder
 *     is copied into a uv_write_t request (libuv then orders it after the
 *     queue and polls for POLLOUT);
 *   - past 4 MiB queued, uv_read_stop until the write callback sees it drain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "peer_common.h"

static peer_opts o;

typedef struct worker {
    uv_thread_t tid;
    uv_loop_t loop;
    uv_tcp_t server;
    char *buf;
} worker;

typedef struct wreq {
    uv_write_t req;
    char data[]; /* the remainder */
} wreq;

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    worker *w = h->loop->data;
    *b = uv_buf_init(w->buf, PEER_RDBUF);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

static void write_cb(uv_write_t *req, int status)
{
    uv_stream_t *s = req->handle;
    free(req);
    if (status < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (s->data && s->write_queue_size < PEER_HIGH_WATER / 4) {
        s->data = NULL; /* was paused */
        uv_read_start(s, alloc_cb, read_cb);
    }
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    if (nread <= 0) {
        if (nread < 0 && !uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_close);
        return;
    }
    uv_buf_t bufs[2];
    unsigned n = 0;
    if (o.plen)
        bufs[n++] = uv_buf_init((char *)o.prefix, (unsigned)o.plen);
    bufs[n++] = uv_buf_init(b->base, (unsigned)nread);
    size_t total = o.plen + (size_t)nread;
    int r = uv_try_write(s, bufs, n);
    if (r == (int)total)
        return;
    if (r < 0 && r != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    size_t done = r > 0 ? (size_t)r : 0, rest = total - done;
    wreq *wr = malloc(sizeof *wr + rest);
    if (!wr) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    /* copy the unwritten tail of prefix + chunk */
    size_t k = 0;
    if (done < o.plen) {
        memcpy(wr->data, o.prefix + done, o.plen - done);
        k = o.plen - done;
        done = o.plen;
    }
    memcpy(wr->data + k, b->base + (done - o.plen), (size_t)nread - (done - o.plen));
    uv_buf_t wb = uv_buf_init(wr->data, (unsigned)rest);
    if (uv_write(&wr->req, s, &wb, 1, write_cb) < 0) {
        free(wr);
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (s->write_queue_size > PEER_HIGH_WATER) {
        uv_read_stop(s);
        s->data = s; /* paused */
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_init(server->loop, c);
    c->data = NULL;
    if (uv_accept(server, (uv_stream_t *)c) < 0) {
        uv_close((uv_handle_t *)c, on_close);
        return;
    }
    uv_tcp_nodelay(c, 1);
    uv_read_start((uv_stream_t *)c, alloc_cb, read_cb);
}

static void worker_main(void *arg)
{
    worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

int main(int argc, char **argv)
{
    peer_parse(argc, argv, "peer-libuv", NULL, &o);
    peer_setup_process();
    static worker ws[PEER_MAX_WORKERS];
    int port = o.port;
    for (int i = 0; i < o.workers; i++) {
        worker *w = &ws[i];
        int fd = peer_listen(port, &port);
        w->buf = peer_rdbuf_new();
        if (!w->buf || uv_loop_init(&w->loop) < 0 || uv_tcp_init(&w->loop, &w->server) < 0 ||
            uv_tcp_open(&w->server, fd) < 0 ||
            uv_listen((uv_stream_t *)&w->server, 4096, on_connection) < 0) {
            fprintf(stderr, "peer-libuv: setup failed\n");
            return 1;
        }
        w->loop.data = w;
    }
    peer_ready("peer-libuv", port, o.workers, NULL);
    for (int i = 1; i < o.workers; i++)
        if (uv_thread_create(&ws[i].tid, worker_main, &ws[i]) != 0) {
            fprintf(stderr, "uv_thread_create failed\n");
            return 1;
        }
    worker_main(&ws[0]);
    return 0;
}
