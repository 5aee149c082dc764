/* core/loop.c - the reactor of one worker thread.
 *
 * One poller per worker.  Connections are registered once, edge-triggered
 * for input and output, and never re-armed.  A turn of the loop: wait for
 * events (not at all when the ready list has work), serve them, serve the
 * ready list (connections whose read budget ran out, connections that
 * drained below their low-water mark, listeners with more to accept), then
 * free the connections closed during the turn.  Freeing only at the end of
 * a turn is what makes a later event of the same batch for a closed
 * connection harmless: its fd is -1 and it is skipped.
 *
 * What the loop serves is elsewhere: connections (conn.c), accepting and
 * listening sockets (accept.c), datagrams (udp.c); work from other
 * threads comes as posts.
 */
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "accept.h"
#include "conn.h"
#include "connect.h"
#include "listener.h"
#include "udp.h"
#include "worker.h"

enum {
    LOOP_EVENTS = 256,         /* events taken from one wait */
    /* Bytes read per connection per turn: one buffer.  At 256 KiB a greedy
     * client took half a worker and raised 63 ping-pong clients' p99 2.78x;
     * at 64 KiB 1.08x, with no loss on 64 KiB messages (bench/fairness.sh). */
    READ_BUDGET = 64 * 1024,
    BUF_BASE = 64 * 1024,      /* size of pooled I/O buffers */
    BUF_POOL_MAX = 64,         /* pooled buffers kept per worker */
    /* Pooled buffers unused this long are freed.  At 10 s, the soak's
     * sporadic slow readers had a worker unmap its second buffer and map it
     * again a few seconds later, every minute or two. */
    POOL_TRIM_MS = 30 * 1000,
    ACCEPT_RETRY_MS = 100,     /* out of fds: try accepting again this often */
};

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The sooner of two delays in ms, where -1 means never. */
static long sooner(long a, long b)
{
    return a < 0 || (b >= 0 && b < a) ? b : a;
}

/* Every POOL_TRIM_MS, free the pooled buffers that no connection took in
 * that time: a burst's buffers go back to the kernel instead of staying
 * for the worker's life.  The ms until the next trim, or -1 while the pool
 * holds no more than the buffers a trim keeps (an idle worker then
 * sleeps until its next event). */
static long trim_pool(eddy__loop *l)
{
    long left = (long)(int32_t)(l->buffers_trim_at - l->now);
    int now = left <= 0;
    if (now) {
        eddy__bufpool_trim(&l->buffers);
        l->buffers_trim_at = l->now + POOL_TRIM_MS;
        left = POOL_TRIM_MS;
    }
    int trimmable = eddy__bufpool_trimmable(&l->buffers);
#ifdef EDDY_URING_FAST
    trimmable |= eddy__poller_trim(l->poller, now); /* the ring's buffers too */
#else
    (void)now;
#endif
    return trimmable ? left : -1;
}

/* Close what timed out, run the handler timers that are due, trim the
 * buffer pool; the ms until the next of these, or -1. */
static long expire(eddy__loop *l)
{
    long next = sooner(eddy__timers_run(&l->timers, l->now), trim_pool(l));
    for (unsigned i = 0; i < l->nlsocks; i++)
        next = sooner(next, eddy__conn_expire(l->lsocks[i], l->now));
    return next;
}

int eddy__loop_init(eddy__loop *l, eddy_server *s, eddy__shared *sh, eddy_listener *listeners,
                    int id)
{
    memset(l, 0, sizeof(*l));
    l->server = s;
    l->shared = sh;
    l->id = id;
    l->wake.fd = -1;
    l->wake.kind = EDDY__KIND_WAKE;
    l->sig.fd = -1;
    l->sig.kind = EDDY__KIND_SIGNAL;
    l->ready_tail = &l->ready;
    l->read_budget = READ_BUDGET;
    l->conn_id = (uint32_t)id + 1;
    l->conn_id_step = 1;
    pthread_mutex_init(&l->post_mu, NULL);
    pthread_mutex_init(&l->stats_mu, NULL);
    if (eddy__bufpool_init(&l->buffers, BUF_BASE, BUF_POOL_MAX) < 0)
        return -ENOMEM;
    for (eddy_listener *ls = listeners; ls; ls = ls->next)
        l->nlsocks++;
    l->lsocks = calloc(l->nlsocks ? l->nlsocks : 1, sizeof(*l->lsocks));
    if (!l->lsocks)
        return -ENOMEM;
    for (unsigned i = 0; i < l->nlsocks; i++) {
        if (!(l->lsocks[i] = calloc(1, sizeof(**l->lsocks))))
            return -ENOMEM;
        l->lsocks[i]->h.fd = -1;
    }
    if (!(l->poller = eddy__poller_create()))
        return -errno;
    l->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->wake.fd < 0)
        return -errno;
    return eddy__poller_add(l->poller, l->wake.fd, EDDY__WATCH_IN, &l->wake);
}

void eddy__loop_queue(eddy__loop *l, eddy__handle *h)
{
    if (h->queued)
        return;
    h->queued = 1;
    h->ready_next = NULL;
    *l->ready_tail = h;
    l->ready_tail = &h->ready_next;
}

void eddy__loop_run_ready(eddy__loop *l)
{
    eddy__handle *h = l->ready;
    l->ready = NULL;
    l->ready_tail = &l->ready;
    while (h) {
        eddy__handle *next = h->ready_next;
        h->queued = 0;
        if (h->kind == EDDY__KIND_LISTEN) {
            if (h->fd >= 0 && !((eddy__lsock *)h)->paused)
                eddy__accept_some(l, (eddy__lsock *)h);
        } else if (h->kind == EDDY__KIND_UDP) {
            if (h->fd >= 0)
                eddy__udp_read(l, (eddy__lsock *)h);
        } else if (h->fd >= 0) {
            eddy__conn_resume((eddy_conn *)h);
        } else { /* closed while queued */
            eddy_conn *c = (eddy_conn *)h;
            c->next = l->dead;
            l->dead = c;
        }
        h = next;
    }
}

void eddy__loop_publish(eddy__loop *l, eddy__lsock *s)
{
    atomic_store_explicit(&s->stats_next,
                          atomic_load_explicit(&l->stats_lsocks, memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(&l->stats_lsocks, s, memory_order_release);
}

void eddy__loop_stats_lock(const eddy__loop *l)
{
    pthread_mutex_lock((pthread_mutex_t *)&l->stats_mu);
}

void eddy__loop_stats_unlock(const eddy__loop *l)
{
    pthread_mutex_unlock((pthread_mutex_t *)&l->stats_mu);
}

/* Add each counter of from to into's (on into's owner thread): the
 * counters are all atomic_ullong. */
static void counters_fold(eddy__counters *into, const eddy__counters *from)
{
    _Static_assert(sizeof(eddy__counters) % sizeof(atomic_ullong) == 0, "counters only");
    atomic_ullong *to = (atomic_ullong *)into;
    const atomic_ullong *add = (const atomic_ullong *)from;
    for (size_t i = 0; i < sizeof(*into) / sizeof(*to); i++)
        eddy__count(&to[i], atomic_load_explicit(&add[i], memory_order_relaxed));
}

void eddy__loop_unpublish(eddy__loop *l, eddy__lsock *s)
{
    eddy__lsock *_Atomic *link = &l->stats_lsocks;
    eddy__lsock *same = NULL;
    eddy__loop_stats_lock(l);
    for (eddy__lsock *o; (o = atomic_load_explicit(link, memory_order_relaxed));) {
        if (o == s) {
            atomic_store_explicit(link, atomic_load_explicit(&s->stats_next, memory_order_relaxed),
                                  memory_order_relaxed);
            continue;
        }
        if (!same && strcmp(o->label, s->label) == 0)
            same = o;
        link = &o->stats_next;
    }
    counters_fold(same ? &same->n : &l->retired, &s->n);
    eddy__loop_stats_unlock(l);
}

_Thread_local eddy__loop *eddy__loop_self __attribute__((tls_model("initial-exec")));

/* The wake is written under the lock, and only for the first post of a
 * batch (the loop takes the whole list at once): many threads posting
 * cost one eventfd write per wake, and once the loop has taken the list
 * no poster touches the loop any more (ref.c relies on it). */
void eddy__loop_post(eddy__loop *l, eddy__post *p)
{
    pthread_mutex_lock(&l->post_mu);
    p->next = l->posted;
    l->posted = p;
    if (!p->next)
        eddy__loop_wake(l);
    pthread_mutex_unlock(&l->post_mu);
}

void eddy__loop_drop_hold(eddy__loop *l)
{
    if (eddy__loop_self == l) {
        atomic_fetch_sub_explicit(&l->holds, 1, memory_order_release);
        return;
    }
    pthread_mutex_lock(&l->post_mu);
    if (atomic_fetch_sub_explicit(&l->holds, 1, memory_order_release) == 1)
        eddy__loop_wake(l);
    pthread_mutex_unlock(&l->post_mu);
}

void eddy__loop_run_posted(eddy__loop *l)
{
    pthread_mutex_lock(&l->post_mu);
    eddy__post *p = l->posted;
    l->posted = NULL;
    pthread_mutex_unlock(&l->post_mu);
    eddy__post *fifo = NULL;
    while (p) { /* the list is newest first: reverse it */
        eddy__post *next = p->next;
        p->next = fifo;
        fifo = p;
        p = next;
    }
    while (fifo) {
        eddy__post *next = fifo->next;
        fifo->run(fifo);
        fifo = next;
    }
}

/* The eventfd fired: a stop request, a reload, posted work, or several. */
static void on_wake(eddy__loop *l)
{
    uint64_t v;
    ssize_t r = read(l->wake.fd, &v, sizeof(v));
    (void)r;
    eddy__loop_run_posted(l);
    unsigned gen = atomic_load_explicit(&l->shared->reload_gen, memory_order_acquire);
    if (gen != l->reload_gen)
        eddy__accept_reload(l, gen);
}

int eddy__loop_take_signals(eddy__loop *l, const sigset_t *set, eddy_signal_fn fn, void *arg)
{
    l->sig.fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (l->sig.fd < 0)
        return -errno;
    l->on_signal = fn;
    l->signal_arg = arg;
    return eddy__poller_add(l->poller, l->sig.fd, EDDY__WATCH_IN, &l->sig);
}

/* Pass on every signal waiting on the signalfd (edge-triggered: read to
 * the end).  Meanwhile the log names the thread as the program's own
 * ("main"), not as the worker: the callback does the program's work. */
static void on_signals(eddy__loop *l)
{
    struct signalfd_siginfo si;
    while (read(l->sig.fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        eddy__log_thread("", -1);
        l->on_signal(l->server, (int)si.ssi_signo, l->signal_arg);
        if (eddy__loop_self == l)
            eddy__log_thread("w", l->id);
    }
}

void eddy__loop_wait_signals(eddy__loop *l, int ms)
{
    struct pollfd p = {.fd = l->sig.fd, .events = POLLIN};
    if (poll(&p, 1, ms) > 0)
        on_signals(l);
}

static void free_dead(eddy__loop *l)
{
    while (l->dead) {
        eddy_conn *c = l->dead;
        l->dead = c->next;
        eddy__conn_free(c);
    }
}

eddy_conn *eddy__loop_open_local(eddy__loop *l, eddy_listener *listener, int fd)
{
    eddy__lsock *s = l->lsocks[0];
    if (s->listener != listener) { /* the socket holds it once, as a worker's does */
        if (s->listener)
            eddy__listener_release(s->listener);
        s->listener = listener;
        eddy__listener_hold(listener);
    }
    s->loop = l;
    eddy__accept_publish(l, s, listener);
    atomic_fetch_add(&l->shared->open, 1); /* as admission does */
    eddy_conn *before = s->fresh.tail;
    eddy__conn_open(s, fd, NULL, 0);
    return s->fresh.tail != before ? s->fresh.tail : NULL; /* new ones go last */
}

/* Close each connection of list; one whose pool job is out is only
 * marked, and closes when the job comes back. */
static void close_list(eddy__conn_list *list)
{
    for (eddy_conn *c = list->head, *next; c; c = next) {
        next = c->next;
        eddy__conn_destroy(c, "closed (stopped)");
    }
}

void eddy__loop_close_conns(eddy__loop *l)
{
    for (unsigned i = 0; i < l->nlsocks; i++) {
        close_list(&l->lsocks[i]->fresh);
        close_list(&l->lsocks[i]->active);
    }
    eddy__connect_close_all(l);
    for (eddy__handle *h = l->ready; h; h = h->ready_next)
        if (h->kind == EDDY__KIND_CONN && h->fd < 0) { /* closed while queued */
            eddy_conn *c = (eddy_conn *)h;
            c->next = l->dead;
            l->dead = c;
        }
    l->ready = NULL;
    l->ready_tail = &l->ready;
    free_dead(l);
}

static void drain_list(eddy__conn_list *list)
{
    for (eddy_conn *c = list->head, *next; c; c = next) {
        next = c->next;
        eddy__conn_drain(c);
    }
}

/* The graceful stop begins: accept nothing more, answer what has arrived. */
static void begin_drain(eddy__loop *l)
{
    l->draining = 1;
    eddy__accept_close_all(l);
    for (unsigned i = 0; i < l->nlsocks; i++) {
        drain_list(&l->lsocks[i]->fresh);
        drain_list(&l->lsocks[i]->active);
    }
}

static int has_connections(const eddy__loop *l)
{
    for (unsigned i = 0; i < l->nlsocks; i++)
        if (l->lsocks[i]->fresh.head || l->lsocks[i]->active.head)
            return 1;
    return 0;
}

void eddy__loop_run(eddy__loop *l)
{
    eddy__poll_event events[LOOP_EVENTS];
    eddy__shared *srv = l->shared;
    eddy__log_thread("w", l->id);
    eddy__loop_self = l;
    eddy__accept_begin(l);
    /* Worker i numbers its connections i+1, i+1+n, i+1+2n...: unique
     * without a shared counter. */
    l->conn_id_step = srv->nloops > 0 ? (uint32_t)srv->nloops : 1;
    l->now = (uint32_t)now_ms();
    uint32_t retry_at = l->now, drain_deadline = 0;
    for (;;) {
        eddy__count(&l->turns, 1);
        int stop = atomic_load_explicit(&srv->stopping, memory_order_acquire);
        if (stop == EDDY__STOP_NOW)
            break;
        if (stop == EDDY__DRAIN && !l->draining) {
            begin_drain(l);
            drain_deadline = l->now + (uint32_t)srv->shutdown_timeout_ms;
            eddy__loop_run_ready(l);
            free_dead(l);
        }
        long timeout = expire(l);
        if (l->draining) {
            if (!has_connections(l) && !atomic_load_explicit(&l->holds, memory_order_acquire))
                break;
            long left = (long)(int32_t)(drain_deadline - l->now);
            if (left <= 0) {
                eddy__log(EDDY__LOG_WARN,
                          "shutdown_timeout passed: closing the connections still open");
                break;
            }
            if (timeout < 0 || timeout > left)
                timeout = left;
        }
        if (l->npaused && (timeout < 0 || timeout > ACCEPT_RETRY_MS))
            timeout = ACCEPT_RETRY_MS;
        if (l->ready)
            timeout = 0;
#ifdef EDDY_URING_FAST
        eddy__conn_ring_submit(l); /* last: nothing may move their bytes before the wait */
#endif
        int n = eddy__poller_wait(l->poller, events, LOOP_EVENTS, timeout);
        l->now = (uint32_t)now_ms();
        if (n < 0) {
            if (n == -EINTR)
                continue;
            eddy__log(EDDY__LOG_ERROR, "waiting for events: %s", eddy_strerror(n));
            break;
        }
        for (int i = 0; i < n; i++) {
            eddy__handle *h = events[i].ptr;
#ifdef EDDY_URING_FAST
            if (events[i].flags & (EDDY__RECVD | EDDY__SENT)) {
                if (h->fd >= 0)
                    eddy__conn_ring_event((eddy_conn *)h, &events[i]);
                continue;
            }
#endif
            if (h->kind == EDDY__KIND_CONN) {
                if (h->fd >= 0)
                    eddy__conn_event((eddy_conn *)h, events[i].flags);
            } else if (h->kind == EDDY__KIND_CONNECTING) {
                if (h->fd >= 0)
                    eddy__connect_event((eddy_conn *)h, events[i].flags);
            } else if (h->kind == EDDY__KIND_LISTEN) {
                if (h->fd >= 0 && !((eddy__lsock *)h)->paused)
                    eddy__accept_some(l, (eddy__lsock *)h);
            } else if (h->kind == EDDY__KIND_UDP) {
                if (h->fd >= 0)
                    eddy__udp_read(l, (eddy__lsock *)h);
            } else if (h->kind == EDDY__KIND_SIGNAL) {
                on_signals(l);
            } else {
                on_wake(l);
            }
        }
        if (l->npaused && (int32_t)(l->now - retry_at) >= 0) {
            retry_at = l->now + ACCEPT_RETRY_MS;
            eddy__accept_resume(l);
        }
        eddy__loop_run_ready(l);
        free_dead(l);
        if (l->nretired)
            eddy__accept_retire(l);
    }
    /* Stopped: no more accepts, every connection closed (handlers see
     * close(); one whose pool job is out once it is back), the references
     * held elsewhere dropped (their calls run, told the connection is
     * gone), every byte of memory given back. */
    eddy__accept_close_all(l);
    eddy__loop_close_conns(l);
    while (atomic_load_explicit(&l->holds, memory_order_acquire)) {
        struct pollfd p = {.fd = l->wake.fd, .events = POLLIN};
        poll(&p, 1, -1);
        on_wake(l);
        free_dead(l);
    }
    eddy__loop_close_conns(l);
    eddy__loop_self = NULL; /* the thread may go on (eddy_server_run) */
    eddy__log_thread("", -1);
    atomic_fetch_sub_explicit(&srv->running, 1, memory_order_release);
}

void eddy__loop_wake(eddy__loop *l)
{
    uint64_t one = 1;
    while (write(l->wake.fd, &one, sizeof(one)) < 0 && errno == EINTR) /* async-signal-safe */
        ;
}

void eddy__loop_destroy(eddy__loop *l)
{
    for (unsigned i = 0; l->lsocks && i < l->nlsocks; i++) {
        if (l->lsocks[i] && l->lsocks[i]->h.fd >= 0)
            close(l->lsocks[i]->h.fd);
        if (l->lsocks[i] && l->lsocks[i]->listener)
            eddy__listener_release(l->lsocks[i]->listener);
        free(l->lsocks[i]);
    }
    free(l->lsocks);
    l->lsocks = NULL;
    pthread_mutex_lock(&l->post_mu); /* a thread that dropped the last hold is done with l */
    pthread_mutex_unlock(&l->post_mu);
    if (l->wake.fd >= 0)
        close(l->wake.fd);
    if (l->sig.fd >= 0)
        close(l->sig.fd);
    l->sig.fd = -1;
    eddy__poller_destroy(l->poller);
    l->poller = NULL;
    l->wake.fd = -1;
    eddy__bufpool_destroy(&l->buffers);
    eddy__udp_free(l);
    eddy__connect_free(l);
#ifdef EDDY_URING_FAST
    free(l->sendq);
    l->sendq = NULL;
#endif
    eddy__worker_destroy(l);
    eddy__timers_destroy(&l->timers);
    pthread_mutex_destroy(&l->post_mu);
    pthread_mutex_destroy(&l->stats_mu);
}
