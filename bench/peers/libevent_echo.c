/* peer-libevent - echo server on libevent 2.1, two ways:
 *
 *   --mode raw (default)  one `struct event` per connection, registered once
 *                         with EV_READ|EV_WRITE|EV_PERSIST|EV_ET (the epoll
 *                         backend passes EPOLLET through): the same data path
 *                         as the floor - read until a short read, writev the
 *                         reply at once, queue only the remainder.
 *   --mode bev            bufferevents: the read callback moves the input
 *                         evbuffer into the output one (no copy of the chunk)
 *                         behind the prefix; libevent writes it.
 *
 * Both run one event_base per worker with EVENT_BASE_FLAG_NOLOCK (each base
 * is used by one thread only) and a SO_REUSEPORT listening socket each.
 * raw is the default because it measured faster here (see bench/README.md:
 * fewer syscalls per message, since a bufferevent defers its write to the
 * next loop iteration and re-arms EPOLLOUT through the changelist).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "peer_common.h"

static peer_opts o;
static int use_bev;

typedef struct worker {
    pthread_t tid;
    struct event_base *base;
    struct event *lev;
    int lfd;
    char *buf;
} worker;

/* ---- raw events -------------------------------------------------------- */

typedef struct conn {
    int fd;
    int paused;
    struct event *ev;
    worker *w;
    char *out;
    size_t olen, ooff, ocap;
} conn;

static void conn_close(conn *c)
{
    event_free(c->ev);
    close(c->fd);
    free(c->out);
    free(c);
}

static int queue(conn *c, const char *p, size_t n)
{
    return peer_append(&c->out, &c->olen, &c->ocap, p, n);
}

static int flush(conn *c)
{
    while (c->ooff < c->olen) {
        ssize_t r = write(c->fd, c->out + c->ooff, c->olen - c->ooff);
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
        r = writev(c->fd, iov, k);
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

static int on_input(conn *c)
{
    for (;;) {
        if (c->olen - c->ooff > PEER_HIGH_WATER) {
            c->paused = 1;
            return 0;
        }
        ssize_t r = read(c->fd, c->w->buf, PEER_RDBUF);
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

static void raw_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    conn *c = arg;
    if ((what & EV_WRITE) && c->out) {
        int f = flush(c);
        if (f < 0) {
            conn_close(c);
            return;
        }
        if (f == 0 && c->paused) {
            c->paused = 0;
            what |= EV_READ;
        }
    }
    if ((what & EV_READ) && !c->paused && on_input(c) < 0)
        conn_close(c);
}

/* ---- bufferevents ------------------------------------------------------ */

static void bev_read_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer *out = bufferevent_get_output(bev);
    if (o.plen)
        evbuffer_add(out, o.prefix, o.plen);
    evbuffer_add_buffer(out, in);
    if (evbuffer_get_length(out) > PEER_HIGH_WATER)
        bufferevent_disable(bev, EV_READ); /* re-enabled by bev_write_cb once drained */
}

static void bev_write_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (!(bufferevent_get_enabled(bev) & EV_READ))
        bufferevent_enable(bev, EV_READ);
}

static void bev_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

/* ---- accept ------------------------------------------------------------ */

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    worker *w = arg;
    for (int i = 0; i < 256; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        peer_nodelay(fd);
        if (use_bev) {
            struct bufferevent *bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
            if (!bev) {
                close(fd);
                continue;
            }
            bufferevent_set_max_single_read(bev, PEER_RDBUF);
            bufferevent_setcb(bev, bev_read_cb, bev_write_cb, bev_event_cb, NULL);
            bufferevent_enable(bev, EV_READ);
            continue;
        }
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->w = w;
        c->ev = event_new(w->base, fd, EV_READ | EV_WRITE | EV_PERSIST | EV_ET, raw_cb, c);
        if (!c->ev || event_add(c->ev, NULL) < 0) {
            if (c->ev)
                event_free(c->ev);
            close(fd);
            free(c);
        }
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

int main(int argc, char **argv)
{
    peer_parse(argc, argv, "peer-libevent", "raw|bev", &o);
    if (o.mode && strcmp(o.mode, "bev") == 0)
        use_bev = 1;
    else if (o.mode && strcmp(o.mode, "raw") != 0) {
        peer_usage("peer-libevent", "raw|bev");
        return 2;
    }
    peer_setup_process();
    static worker ws[PEER_MAX_WORKERS];
    int port = o.port;
    for (int i = 0; i < o.workers; i++) {
        worker *w = &ws[i];
        struct event_config *cfg = event_config_new();
        event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
        event_config_require_features(cfg, EV_FEATURE_ET | EV_FEATURE_O1);
        w->base = event_base_new_with_config(cfg);
        event_config_free(cfg);
        if (!w->base || strcmp(event_base_get_method(w->base), "epoll") != 0) {
            fprintf(stderr, "peer-libevent: no epoll event_base\n");
            return 1;
        }
        w->lfd = peer_listen(port, &port);
        w->buf = peer_rdbuf_new();
        w->lev = event_new(w->base, w->lfd, EV_READ | EV_PERSIST, accept_cb, w);
        if (!w->buf || !w->lev || event_add(w->lev, NULL) < 0) {
            fprintf(stderr, "peer-libevent: setup failed\n");
            return 1;
        }
    }
    peer_ready("peer-libevent", port, o.workers, use_bev ? "bev" : "raw");
    for (int i = 1; i < o.workers; i++)
        if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    worker_main(&ws[0]);
    return 0;
}
