/* core/loop.h - one worker's reactor: a poller, its listening sockets,
 * its connections, its buffers and its ready list.  Everything here is
 * touched only by the worker's own thread, except the counters (read by
 * eddy_server_stats with relaxed atomics) and the wake eventfd. */
#ifndef EDDY_CORE_LOOP_H
#define EDDY_CORE_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"
#include "eddy/eddy.h"
#include "iplimit.h"
#include "log.h"
#include "poller.h"
#include "timer.h"

typedef struct eddy__loop eddy__loop;

enum {
    EDDY__KIND_CONN,
    EDDY__KIND_LISTEN,
    EDDY__KIND_UDP,
    EDDY__KIND_WAKE,
    EDDY__KIND_CONNECTING, /* an outgoing connection until its connect is over (connect.c) */
    EDDY__KIND_SIGNAL,     /* the signalfd of eddy_server_start_here()'s signals */
};

/* What a poller event points at: the first member of a connection, a
 * listening socket and the wake eventfd. */
typedef struct eddy__handle {
    int fd;              /* -1 once closed: later events for it are stale */
    uint8_t kind;
    uint8_t queued;      /* on the ready list */
    uint16_t flags;      /* a connection's EDDY__CONN_* flags */
    struct eddy__handle *ready_next;
} eddy__handle;

/* Connections in order of their last activity, oldest first, so that
 * the first one is the next to time out. */
typedef struct eddy__conn_list {
    eddy_conn *head, *tail;
} eddy__conn_list;

/* Written by the owning thread only; read by anyone (relaxed). */
typedef struct eddy__counters {
    atomic_ullong accepted, closed, refused, bytes_in, bytes_out, accept_pauses;
    atomic_ullong datagrams_in, datagrams_out, datagrams_dropped;
    atomic_ullong timeouts; /* connections closed by idle or first-byte timeouts */
    atomic_ullong reads, sends;
    atomic_ullong errors_io, errors_too_large, errors_nomem, errors_proxy;
    atomic_ullong errors_output_limit; /* closed: output queued over max_output */
    atomic_ullong refused_per_ip;
    atomic_ullong tls_v12, tls_v13, tls_resumed; /* handshakes completed */
    atomic_ullong tls_failed_timeout, tls_failed_closed, tls_failed_version,
        tls_failed_certificate, tls_failed_protocol;
} eddy__counters;

typedef struct eddy__lsock {
    eddy__handle h;
    eddy_listener *listener;
    struct eddy__loop *loop;
    int paused; /* out of fds: accepting waits for a close or the retry tick */
    int unordered; /* active is not oldest first: touched while its listener had no
                      idle_timeout (conn.c) */
    eddy__conn_list fresh;  /* connections that have sent nothing yet */
    eddy__conn_list active; /* the others */
    eddy__counters n;       /* what this worker did on this listener */
    char label[160];        /* the listener's address, for the stats */
    struct eddy__lsock *_Atomic stats_next; /* the loop's list for the stats */
    int worker_held;        /* holds its listener's worker state (worker.h) */
    int retired;            /* a reload removed its listener: freed once its connections end */
} eddy__lsock;

/* Work that another thread hands to a loop: run() is called on the loop's
 * own thread, in the order posted.  The poster owns the memory. */
typedef struct eddy__post {
    struct eddy__post *next;
    void (*run)(struct eddy__post *p);
} eddy__post;

enum { EDDY__RUN, EDDY__DRAIN, EDDY__STOP_NOW };

/* What the workers of one server share, and all that a worker sees of its
 * server: admission limits and the count they apply to, the stop flag,
 * the reload handshake and the thread pool.  The server (server.h) embeds
 * it and sets it up. */
typedef struct eddy__shared {
    int nloops;
    struct eddy__loop *loops; /* the nloops workers, for the accept balance (NULL: none) */
    atomic_uint max_connections;
    atomic_uint max_connections_per_ip; /* 0: no limit */
    eddy__iplimit iplimit;
    atomic_uint open;     /* connections open over all workers */
    atomic_int stopping;  /* EDDY__RUN, EDDY__DRAIN or EDDY__STOP_NOW */
    atomic_int running;   /* workers still in their loop */
    long shutdown_timeout_ms;
    /* A reload hands each worker the new listeners (reload_list) and waits
     * until every worker has swapped its sockets (reload_acks). */
    eddy_listener *reload_list;
    atomic_uint reload_gen, reload_acks;
    struct eddy__pool *pool; /* for listeners with `dispatch pool` */
} eddy__shared;

struct eddy__loop {
    eddy_server *server;     /* for eddy_conn_server() only */
    eddy__shared *shared;
    int id;
    eddy__poller *poller;
    eddy__handle wake; /* eventfd: eddy_server_stop() */
    eddy__handle sig;  /* signalfd (eddy__loop_take_signals), fd -1 without */
    eddy_signal_fn on_signal;
    void *signal_arg;
    eddy__lsock **lsocks;     /* each allocated alone: connections point at them */
    unsigned nlsocks, npaused;
    eddy__bufpool buffers;    /* I/O buffers, lent to connections while they hold data */
    uint32_t buffers_trim_at; /* l->now of the next eddy__bufpool_trim */
    size_t read_budget;      /* bytes read per connection per wake */
    uint32_t now;            /* ms on a monotonic clock, read once a turn */
    int draining;            /* stopping: no accepts, connections close once answered */
    unsigned reload_gen;     /* the last reload this worker applied */
    uint32_t conn_id, conn_id_step; /* the next connection's id; this worker's stride */
    eddy__handle *ready;     /* more to do without waiting for the poller */
    eddy__handle **ready_tail;
    eddy_conn *dead;         /* closed this turn, freed at its end */
    /* References on its connections held elsewhere (ref.h: the handlers',
     * calls in flight, pool jobs): the loop does not end before they are
     * dropped.  Changed from any thread. */
    atomic_uint holds;
    /* The accept balance (accept.c): the connections open on this worker
     * (written by it only) and those other workers handed to it that it
     * has not opened yet (added to by them, taken off by it). */
    atomic_uint nconns, handed_in;
    pthread_mutex_t post_mu; /* guards posted */
    eddy__post *posted;      /* newest first */
    struct eddy__udp *udp;   /* UDP batch buffers, made at the first datagram */
    eddy__timers timers;     /* the handlers' timers */
    struct eddy__wstate *wstates;          /* handlers' per-worker state (worker.h) */
    struct eddy_worker_timer *wtimers;     /* handlers' timers not tied to a connection */
    struct eddy__outgoing *outgoing; /* outgoing connections (connect.c), from the first */
#ifdef EDDY_URING_FAST
    eddy_conn **sendq;       /* connections with output for this turn's SENDs (NULL: closed) */
    unsigned nsendq, sendq_cap;
#endif
    /* Each socket this worker serves or served, once labelled, newest
     * first.  The worker prepends (release) without a lock; it unlinks a
     * retired socket only under stats_mu, which the stats hold while they
     * walk the list (acquire). */
    eddy__lsock *_Atomic stats_lsocks;
    pthread_mutex_t stats_mu;
    eddy__counters retired;  /* of freed sockets whose address no other socket here serves */
    unsigned nretired;       /* sockets marked retired, not yet freed */
    atomic_ullong pool_pending; /* a gauge: jobs out in the pool now */
    atomic_ullong turns;     /* turns of the loop so far: its heartbeat for a watchdog */
    unsigned long long turns_seen; /* turns at the last eddy_server_heartbeat() */
    eddy__ratelimit rl_refused, rl_nofile, rl_error, rl_per_ip, rl_proxy, rl_output;
};

/* Owner-thread increment of a counter that others may read. */
static inline void eddy__count(atomic_ullong *c, unsigned long long n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Owner-thread change of a count that others may read. */
static inline void eddy__count_uint(atomic_uint *c, int d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (unsigned)d,
                          memory_order_relaxed);
}

/* The sockets a worker serves or served, for the stats, from any thread:
 * walk them between eddy__loop_stats_lock and eddy__loop_stats_unlock. */
static inline const eddy__lsock *eddy__loop_stats_first(const eddy__loop *l)
{
    return atomic_load_explicit(&((eddy__loop *)l)->stats_lsocks, memory_order_acquire);
}
static inline const eddy__lsock *eddy__loop_stats_next(const eddy__lsock *s)
{
    return atomic_load_explicit(&((eddy__lsock *)s)->stats_next, memory_order_relaxed);
}

/* Hold off (and let go on) the retiring of l's sockets while the caller
 * walks them; taking the lock changes nothing of l. */
void eddy__loop_stats_lock(const eddy__loop *l);
void eddy__loop_stats_unlock(const eddy__loop *l);

/* Show s, already labelled, to the stats: once, on the worker's (or,
 * before the workers start, the starter's) thread. */
void eddy__loop_publish(eddy__loop *l, eddy__lsock *s);
/* On the worker's thread: take s out of the stats, its counters kept in
 * those of another socket here with the same label (its series goes on)
 * or else in l->retired (the worker's totals still hold them).  The
 * caller may then free s. */
void eddy__loop_unpublish(eddy__loop *l, eddy__lsock *s);

/* A worker's loop for the listeners of server s, whose shared part is sh;
 * number id of sh->nloops. */
int eddy__loop_init(eddy__loop *l, eddy_server *s, eddy__shared *sh, eddy_listener *listeners,
                    int id);
/* Serve until eddy__loop_wake() after the server's stop flag is set; then
 * close every connection. */
void eddy__loop_run(eddy__loop *l);
void eddy__loop_wake(eddy__loop *l);
void eddy__loop_destroy(eddy__loop *l);
/* Have the loop take the signals of set (blocked by the caller in every
 * thread) from a signalfd and call fn(server, signo, arg) for each, on its
 * own thread, between events.  0 or negative errno. */
int eddy__loop_take_signals(eddy__loop *l, const sigset_t *set, eddy_signal_fn fn, void *arg);
/* Once its loop has ended, for a loop that takes signals: wait up to ms
 * for one and pass on those that came. */
void eddy__loop_wait_signals(eddy__loop *l, int ms);

/* From any thread: have p->run(p) called on l's thread, and wake it. */
void eddy__loop_post(eddy__loop *l, eddy__post *p);
/* One hold on l fewer (l->holds).  From another thread the last one wakes
 * the loop (it may be waiting to stop), under the post lock so that the
 * loop cannot be destroyed between the count and the wake. */
void eddy__loop_drop_hold(eddy__loop *l);
/* Run what was posted to l, oldest first (the loop does it when woken;
 * for drivers that run a loop by hand). */
void eddy__loop_run_posted(eddy__loop *l);

/* The loop the calling thread runs, or NULL. */
extern _Thread_local eddy__loop *eddy__loop_self __attribute__((tls_model("initial-exec")));

/* Put a handle on the ready list (once). */
void eddy__loop_queue(eddy__loop *l, eddy__handle *h);

/* For code that drives one connection by hand (unit tests, the benchmark
 * harness, eddy-fuzz-handler): open fd as a connection on the loop's first
 * socket serving listener, exactly as accepting it would; returns it, or
 * NULL when it could not be opened (then fd is closed). */
eddy_conn *eddy__loop_open_local(eddy__loop *l, eddy_listener *listener, int fd);
/* Give each handle on the ready list its turn (a connection over its read
 * budget reads on), as the loop does after each epoll_wait: a driver that
 * calls eddy__conn_event() by hand must run the list this way, never clear
 * a handle's `queued` flag itself (it would stay on the list). */
void eddy__loop_run_ready(eddy__loop *l);
/* Close the loop's connections and free them, with those closed while on
 * the ready list; the loop itself stays for eddy__loop_destroy. */
void eddy__loop_close_conns(eddy__loop *l);

#endif
