/* epoll_floor - the floor: a hand-written edge-triggered epoll echo server
 * with no framework.
 *
 * Per worker thread: one epoll fd, one SO_REUSEPORT listening socket, one
 * 64 KiB read buffer.  A connection is registered once with
 * EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET and never modified.  On input it reads
 * until a short read (the socket is then drained: the next edge comes with
 * new data), and replies to each chunk at once with one writev(prefix,
 * chunk) (one write() without a prefix).  Only a remainder the socket would
 * not take is copied into a per-connection buffer, flushed on EPOLLOUT; past
 * 4 MiB of queued output the connection is not read until it drains.  An
 * idle connection holds only its small struct.
 *
 * SIGUSR1 prints how many connections each worker has accepted so far,
 * `epoll_floor: accepted N0 N1 ...` on stderr (bench/scaling.py's accept
 * spread); the counters cost a plain store per accept, none per message.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "peer_common.h"

typedef struct conn {
    int fd;
    int paused;   /* not reading: too much output queued */
    char *out;    /* queued output, NULL when none */
    size_t olen, ooff, ocap;
} conn;

typedef struct worker {
    pthread_t tid;
    int ep, lfd;
    char *buf;
    atomic_ulong accepted; /* written by its thread only, read by on_usr1 */
} worker;

static peer_opts o;
static worker ws[PEER_MAX_WORKERS];

static void conn_close(conn *c)
{
    close(c->fd);
    free(c->out);
    free(c);
}

static int queue(conn *c, const char *p, size_t n)
{
    return peer_append(&c->out, &c->olen, &c->ocap, p, n);
}

/* Write queued output; 0 when all is out, 1 when some remains, -1 error. */
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

/* Reply prefix + chunk: straight to the socket unless output is queued. */
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
    size_t total = o.plen + n;
    ssize_t r;
    do
        r = writev(c->fd, iov, k);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        r = 0;
    }
    if ((size_t)r == total)
        return 0;
    /* keep the remainder */
    size_t done = (size_t)r;
    if (done < o.plen) {
        if (queue(c, o.prefix + done, o.plen - done) < 0)
            return -1;
        done = o.plen;
    }
    return queue(c, p + (done - o.plen), n - (done - o.plen));
}

/* Read until a short read; 0 keep, -1 close. */
static int on_input(worker *w, conn *c)
{
    for (;;) {
        if (c->olen - c->ooff > PEER_HIGH_WATER) {
            c->paused = 1;
            return 0;
        }
        ssize_t r = read(c->fd, w->buf, PEER_RDBUF);
        if (r > 0) {
            if (reply(c, w->buf, (size_t)r) < 0)
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

static void on_accept(worker *w)
{
    for (int i = 0; i < 256; i++) {
        int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or EMFILE: the level-triggered listener asks again */
        peer_nodelay(fd);
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        atomic_store_explicit(&w->accepted,
                              atomic_load_explicit(&w->accepted, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            conn_close(c);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(w->ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            exit(1);
        }
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                on_accept(w);
                continue;
            }
            uint32_t e = evs[i].events;
            if (e & EPOLLERR) {
                conn_close(c);
                continue;
            }
            if ((e & EPOLLOUT) && c->out) {
                int f = flush(c);
                if (f < 0) {
                    conn_close(c);
                    continue;
                }
                if (f == 0 && c->paused) {
                    c->paused = 0;
                    e |= EPOLLIN; /* the input edge was consumed while paused */
                }
            }
            if ((e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) && !c->paused && on_input(w, c) < 0)
                conn_close(c);
        }
    }
    return NULL;
}

/* Append v in decimal, after a space, at *at in buf (async-signal-safe). */
static void put_count(char *buf, size_t *at, unsigned long v)
{
    char d[24];
    int n = 0;
    do
        d[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < (int)sizeof d);
    buf[(*at)++] = ' ';
    while (n)
        buf[(*at)++] = d[--n];
}

/* SIGUSR1: "epoll_floor: accepted N0 N1 ..." on stderr, one write. */
static void on_usr1(int sig)
{
    (void)sig;
    char buf[64 + PEER_MAX_WORKERS * 24];
    static const char head[] = "epoll_floor: accepted";
    size_t at = sizeof head - 1;
    memcpy(buf, head, at);
    for (int i = 0; i < o.workers; i++)
        put_count(buf, &at, atomic_load_explicit(&ws[i].accepted, memory_order_relaxed));
    buf[at++] = '\n';
    ssize_t r = write(2, buf, at);
    (void)r;
}

int main(int argc, char **argv)
{
    peer_parse(argc, argv, "epoll_floor", NULL, &o);
    peer_setup_process();
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    int port = o.port;
    for (int i = 0; i < o.workers; i++) {
        worker *w = &ws[i];
        w->lfd = peer_listen(port, &port);
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->buf = peer_rdbuf_new();
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        if (w->ep < 0 || !w->buf || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->lfd, &ev) < 0) {
            perror("setup");
            return 1;
        }
    }
    peer_ready("epoll_floor", port, o.workers, NULL);
    for (int i = 1; i < o.workers; i++)
        if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    worker_main(&ws[0]);
    return 0;
}
