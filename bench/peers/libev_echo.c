/* peer-libev - echo server on libev, used the way libev is fastest:
 *
 *   - one ev_loop (epoll backend) per worker, each with its own SO_REUSEPORT
 *     listening socket;
 *   - one ev_io per connection, embedded in the connection struct (no extra
 *     allocation), watching EV_READ only while nothing is queued, so the
 *     steady state never touches epoll_ctl;
 *   - on input: read until a short read, writev(prefix, chunk) at once, and
 *     only when the socket takes less, queue the remainder and add EV_WRITE
 *     until it is flushed (then back to EV_READ only);
 *   - past 4 MiB queued, stop watching EV_READ until the queue drains.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ev.h>

#include "peer_common.h"

static peer_opts o;

typedef struct worker {
    pthread_t tid;
    struct ev_loop *loop;
    ev_io lio;
    int lfd;
    char *buf;
} worker;

typedef struct conn {
    ev_io io; /* first: the watcher pointer is the conn pointer */
    worker *w;
    char *out;
    size_t olen, ooff, ocap;
} conn;

static void conn_close(conn *c)
{
    ev_io_stop(c->w->loop, &c->io);
    close(c->io.fd);
    free(c->out);
    free(c);
}

static void set_events(conn *c, int events)
{
    if (c->io.events == events)
        return;
    ev_io_stop(c->w->loop, &c->io);
    ev_io_set(&c->io, c->io.fd, events);
    ev_io_start(c->w->loop, &c->io);
}

static int queue(conn *c, const char *p, size_t n)
{
    return peer_append(&c->out, &c->olen, &c->ocap, p, n);
}

static int flush(conn *c)
{
    while (c->ooff < c->olen) {
        ssize_t r = write(c->io.fd, c->out + c->ooff, c->olen - c->ooff);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 1;
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->ooff += (size_t)r;
    }
    free(c->out);
    c->out = NULL;
    c->olen = c->ooff = c->ocap = 0;
    return 0;
}

static int reply(conn *c, const char *p, size_t n)
{
    if (c->out) {
        if (o.plen && queue(c, o.prefix, o.plen) < 0)
            return -1;
        return queue(c, p, n);
    }
    struct iovec iov[2];
    int k = 0;
    if (o.plen)
        iov[k++] = (struct iovec){(void *)o.prefix, o.plen};
    iov[k++] = (struct iovec){(void *)p, n};
    ssize_t r;
    do
        r = writev(c->io.fd, iov, k);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        r = 0;
    }
    size_t done = (size_t)r;
    if (done == o.plen + n)
        return 0;
    if (done < o.plen) {
        if (queue(c, o.prefix + done, o.plen - done) < 0)
            return -1;
        done = o.plen;
    }
    return queue(c, p + (done - o.plen), n - (done - o.plen));
}

/* 0 keep, -1 close. */
static int on_input(conn *c)
{
    for (;;) {
        if (c->olen - c->ooff > PEER_HIGH_WATER)
            return 0; /* stop reading; the caller drops EV_READ */
        ssize_t r = read(c->io.fd, c->w->buf, PEER_RDBUF);
        if (r > 0) {
            if (reply(c, c->w->buf, (size_t)r) < 0)
                return -1;
            if ((size_t)r < PEER_RDBUF)
                return 0;
            continue;
        }
        if (r == 0)
            return -1;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

static void conn_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    conn *c = (conn *)io;
    if ((revents & EV_WRITE) && c->out && flush(c) < 0) {
        conn_close(c);
        return;
    }
    if ((revents & EV_READ) && on_input(c) < 0) {
        conn_close(c);
        return;
    }
    int want = 0;
    if (c->olen - c->ooff <= PEER_HIGH_WATER)
        want |= EV_READ;
    if (c->out)
        want |= EV_WRITE;
    set_events(c, want ? want : EV_WRITE);
}

static void accept_cb(struct ev_loop *loop, ev_io *lio, int revents)
{
    (void)revents;
    worker *w = lio->data;
    for (int i = 0; i < 256; i++) {
        int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        peer_nodelay(fd);
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->w = w;
        ev_io_init(&c->io, conn_cb, fd, EV_READ);
        ev_io_start(loop, &c->io);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    ev_run(w->loop, 0);
    return NULL;
}

int main(int argc, char **argv)
{
    peer_parse(argc, argv, "peer-libev", NULL, &o);
    peer_setup_process();
    static worker ws[PEER_MAX_WORKERS];
    int port = o.port;
    for (int i = 0; i < o.workers; i++) {
        worker *w = &ws[i];
        w->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
        w->lfd = peer_listen(port, &port);
        w->buf = peer_rdbuf_new();
        if (!w->loop || !w->buf) {
            fprintf(stderr, "peer-libev: setup failed\n");
            return 1;
        }
        ev_io_init(&w->lio, accept_cb, w->lfd, EV_READ);
        w->lio.data = w;
        ev_io_start(w->loop, &w->lio);
    }
    peer_ready("peer-libev", port, o.workers, NULL);
    for (int i = 1; i < o.workers; i++)
        if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    worker_main(&ws[0]);
    return 0;
}
