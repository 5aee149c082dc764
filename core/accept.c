/* core/accept.c - the accepting side of a worker: its listening sockets
 * (started, stopped, handed on at a reload), accepts with a budget per
 * turn, admission (max_connections, max_connections_per_ip, counted for
 * all workers at once), and pausing while the process is out of fds.
 *
 * Over a limit a connection is closed at once and the refusal logged,
 * rate-limited.  A listener with proxy_protocol counts a client against
 * max_connections_per_ip only once its PROXY header has named it.
 *
 * The balance: each worker has its own SO_REUSEPORT socket, and the kernel
 * spreads connections over them by a hash of their addresses, so 64
 * connections land 32 +- 4 on each of two workers (one standard
 * deviation), often outside 45-55 %.  A worker that would hold more than
 * BALANCE_SLACK connections more than the least loaded one hands the new
 * connection to it instead (a post to its loop); the kernel's spread
 * stands otherwise, so a well-spread load hands almost nothing over. */
#include "accept.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <unistd.h>

#include "conn.h"
#include "listener.h"
#include "proxy.h"
#include "worker.h"

enum { ACCEPT_BUDGET = 64 }; /* accepts per listener per turn */
enum { BALANCE_SLACK = 4 };  /* connections a worker may hold above the least loaded one */

/* Name s after the address ls serves and show it to the stats: once, on
 * the worker's (or, before the workers start, the starter's) thread. */
void eddy__accept_publish(eddy__loop *l, eddy__lsock *s, const eddy_listener *ls)
{
    if (s->label[0])
        return;
    eddy__listener_format(ls, s->label, sizeof(s->label));
    eddy__loop_publish(l, s);
}

/* Serve ls on fd in this worker through lsock s. */
static int lsock_start(eddy__loop *l, eddy__lsock *s, eddy_listener *ls, int fd)
{
    s->h.fd = fd;
    s->h.kind = ls->transport == EDDY__UDP ? EDDY__KIND_UDP : EDDY__KIND_LISTEN;
    s->listener = ls;
    eddy__listener_hold(ls);
    s->loop = l;
    /* A shared socket (Unix, or from systemd) is in every worker's
     * poller: wake one worker, not all. */
    unsigned exclusive = ls->shared_fd >= 0 ? EDDY__WATCH_EXCLUSIVE : 0;
    int rc = eddy__poller_add(l->poller, fd, EDDY__WATCH_IN | exclusive, &s->h);
    if (rc == 0)
        eddy__accept_publish(l, s, ls);
    return rc;
}

int eddy__accept_open_listeners(eddy__loop *l, eddy_listener *listeners, eddy_listener **failed)
{
    unsigned i = 0;
    for (eddy_listener *ls = listeners; ls; ls = ls->next, i++) {
        int fd = eddy__listener_open_socket(ls);
        int rc = fd < 0 ? fd : lsock_start(l, l->lsocks[i], ls, fd);
        if (rc < 0) {
            *failed = ls;
            return rc;
        }
    }
    return 0;
}

/* s serves its listener on this worker: the handler's per-worker state is
 * made (worker_init, on this thread) before the first connection.  When it
 * cannot be, s stops: the other workers serve the listener. */
static void lsock_stop(eddy__loop *l, eddy__lsock *s);
static void lsock_hold(eddy__loop *l, eddy__lsock *s)
{
    if (s->h.fd < 0 || s->worker_held || !eddy__worker_wanted(s->listener))
        return;
    if (eddy__worker_hold(l, s->listener) < 0) {
        lsock_stop(l, s); /* first: once the line is logged, the socket takes nothing more */
        eddy__log(EDDY__LOG_ERROR, "worker %d does not serve %s", l->id, s->listener->bound);
        return;
    }
    s->worker_held = 1;
}

void eddy__accept_begin(eddy__loop *l)
{
    for (unsigned i = 0; i < l->nlsocks; i++)
        lsock_hold(l, l->lsocks[i]);
}

/* Stop accepting on s and close its socket.  It leaves the poller first:
 * the socket of a shared listener is a dup, and its events would go on
 * coming while another descriptor holds it open. */
static void lsock_stop(eddy__loop *l, eddy__lsock *s)
{
    if (s->h.fd < 0)
        return;
    if (s->worker_held) {
        s->worker_held = 0;
        eddy__worker_release(l, s->listener);
    }
    eddy__poller_delete(l->poller, s->h.fd);
    close(s->h.fd);
    s->h.fd = -1;
    if (s->paused)
        l->npaused--;
    s->paused = 0;
}

/* s serves no listener any more: it closes, and goes once its last
 * connection has (eddy__accept_retire). */
static void lsock_retire(eddy__loop *l, eddy__lsock *s)
{
    lsock_stop(l, s);
    s->retired = 1;
    l->nretired++;
}

/* A reload: on this worker's own thread, each socket of a listener that
 * goes on passes to its successor (new connections get the new handler
 * and settings, open ones keep theirs), the sockets of removed listeners
 * retire (their connections stay until they end), and the new listeners'
 * sockets join.  A socket that had stopped (its worker_init failed) has
 * nothing to hand on: it retires too. */
void eddy__accept_reload(eddy__loop *l, unsigned gen)
{
    eddy__shared *srv = l->shared;
    for (unsigned i = 0; i < l->nlsocks; i++) {
        eddy__lsock *s = l->lsocks[i];
        if (s->retired)
            continue;
        if (s->h.fd < 0) {
            lsock_retire(l, s);
            continue;
        }
        eddy_listener *old = s->listener, *next = old->successor;
        if (next) {
            int held = s->worker_held;
            s->listener = next;
            eddy__listener_hold(next);
            s->worker_held = 0;
            lsock_hold(l, s); /* the new one's worker_init, then the old one's fini */
            if (held)
                eddy__worker_release(l, old);
            eddy__listener_release(old);
            continue;
        }
        lsock_retire(l, s);
    }
    for (eddy_listener *ls = srv->reload_list; ls; ls = ls->next) {
        if (!ls->reload_fds)
            continue;
        eddy__lsock **grown = realloc(l->lsocks, (l->nlsocks + 1) * sizeof(*grown));
        eddy__lsock *s = calloc(1, sizeof(*s));
        if (grown)
            l->lsocks = grown;
        int fd = ls->reload_fds[l->id];
        ls->reload_fds[l->id] = -1;
        if (!grown || !s || lsock_start(l, s, ls, fd) < 0) {
            eddy__log(EDDY__LOG_ERROR, "cannot serve %s after the reload", ls->bound);
            if (s && s->listener)
                eddy__listener_release(ls);
            free(s);
            close(fd);
            continue;
        }
        l->lsocks[l->nlsocks++] = s;
        lsock_hold(l, s);
    }
    l->reload_gen = gen;
    atomic_fetch_add_explicit(&srv->reload_acks, 1, memory_order_release);
}

void eddy__accept_retire(eddy__loop *l)
{
    unsigned kept = 0;
    for (unsigned i = 0; i < l->nlsocks; i++) {
        eddy__lsock *s = l->lsocks[i];
        if (!s->retired || s->fresh.head || s->active.head || s->h.queued) {
            l->lsocks[kept++] = s;
            continue;
        }
        eddy__loop_unpublish(l, s);
        l->nretired--;
        if (s->listener)
            eddy__listener_release(s->listener); /* the last hold: worker_fini ran, now fini */
        free(s);
    }
    l->nlsocks = kept;
}

static void accept_pause(eddy__loop *l, eddy__lsock *s, int err)
{
    if (s->paused)
        return;
    s->paused = 1;
    l->npaused++;
    eddy__count(&s->n.accept_pauses, 1);
    eddy__log_limited(&l->rl_nofile, EDDY__LOG_WARN,
                      "accepting on %s paused: %s; open connections are still served",
                      s->listener->bound, eddy_strerror(-err));
}

void eddy__accept_resume(eddy__loop *l)
{
    for (unsigned i = 0; i < l->nlsocks && l->npaused; i++) {
        if (l->lsocks[i]->paused) {
            l->lsocks[i]->paused = 0;
            l->npaused--;
            eddy__loop_queue(l, &l->lsocks[i]->h);
        }
    }
}

/* A connection closed at once over a limit: "127.0.0.1:5555: refused on
 * 127.0.0.1:7777: max_connections (10) reached", rate-limited; the address
 * is formatted only for a line that goes out. */
static void refused(eddy__ratelimit *rl, const struct sockaddr_storage *peer, const eddy__lsock *s,
                    const char *limit, unsigned max)
{
    if (!eddy__log_pass(rl, EDDY__LOG_WARN))
        return;
    char who[INET6_ADDRSTRLEN + 16];
    eddy__sockaddr_format(peer, who, sizeof(who));
    eddy__log_line(rl, EDDY__LOG_WARN, who, "refused on %s: %s (%u) reached", s->listener->bound,
                   limit, max);
}

/* Admit a connection from peer accepted on s: a place under
 * max_connections, and one under max_connections_per_ip unless a PROXY
 * header will name the client (eddy__accept_proxied).  0, with *counted
 * saying whether peer holds a per-IP place; -1 when over a limit (counted
 * and logged: the caller closes it). */
static int admit(eddy__loop *l, eddy__lsock *s, const struct sockaddr_storage *peer, int *counted)
{
    eddy__shared *srv = l->shared;
    *counted = 0;
    if (atomic_fetch_add_explicit(&srv->open, 1, memory_order_relaxed) >= srv->max_connections) {
        atomic_fetch_sub_explicit(&srv->open, 1, memory_order_relaxed);
        eddy__count(&s->n.refused, 1);
        refused(&l->rl_refused, peer, s, "max_connections", srv->max_connections);
        return -1;
    }
    unsigned per_ip = atomic_load_explicit(&srv->max_connections_per_ip, memory_order_relaxed);
    if (!per_ip || s->listener->transport != EDDY__TCP || s->listener->proxy_protocol)
        return 0;
    if (eddy__iplimit_acquire(&srv->iplimit, peer, per_ip) < 0) {
        atomic_fetch_sub_explicit(&srv->open, 1, memory_order_relaxed);
        eddy__count(&s->n.refused_per_ip, 1);
        refused(&l->rl_per_ip, peer, s, "max_connections_per_ip", per_ip);
        return -1;
    }
    *counted = 1;
    return 0;
}

/* The client a PROXY header named: take its place under
 * max_connections_per_ip.  0 (*counted: it holds one), or the limit it is
 * over (nothing taken). */
static unsigned admit_proxied(eddy__loop *l, const struct sockaddr_storage *client, int *counted)
{
    eddy__shared *srv = l->shared;
    unsigned per_ip = atomic_load_explicit(&srv->max_connections_per_ip, memory_order_relaxed);
    *counted = 0;
    if (!per_ip)
        return 0;
    if (eddy__iplimit_acquire(&srv->iplimit, client, per_ip) < 0)
        return per_ip;
    *counted = 1;
    return 0;
}

int eddy__accept_proxy_header(eddy_conn *c)
{
    eddy__loop *l = c->lsock->loop;
    eddy__proxy_info pi;
    int n = eddy__proxy_parse(eddy__buf_linearize(c->in), c->in->len, &pi);
    if (n == EDDY_PARSE_NEED_MORE)
        return 0;
    if (n < 0) {
        eddy__count(&c->lsock->n.errors_proxy, 1);
        eddy__conn_log(c, &l->rl_proxy, EDDY__LOG_WARN,
                       "closing: malformed PROXY protocol header on %s", c->listener->bound);
        eddy__conn_destroy(c, "closed (malformed PROXY header)");
        return -1;
    }
    eddy__buf_consume(c->in, (size_t)n);
    c->h.flags &= (uint16_t)~EDDY__CONN_PROXY_WAIT;
    if (!pi.local) { /* the client's address, as the proxy saw it */
        eddy__conn_ext *ext = eddy__conn_ext_get(c);
        if (!ext) {
            eddy__count(&c->lsock->n.errors_nomem, 1);
            eddy__conn_destroy(c, "closed (out of memory)");
            return -1;
        }
        ext->addr = pi.src;
        ext->has_addr = 1;
        unsigned over = admit_proxied(l, &pi.src, &ext->counted);
        if (over) {
            eddy__count(&c->lsock->n.refused_per_ip, 1);
            eddy__conn_log(c, &l->rl_per_ip, EDDY__LOG_WARN,
                           "refused on %s: max_connections_per_ip (%u) reached",
                           c->listener->bound, over);
            eddy__conn_destroy(c, "closed (max_connections_per_ip)");
            return -1;
        }
    }
    eddy__conn_opened(c);
    return 1;
}

void eddy__accept_release(eddy__loop *l, const struct sockaddr_storage *counted)
{
    if (counted)
        eddy__iplimit_release(&l->shared->iplimit, counted);
    atomic_fetch_sub_explicit(&l->shared->open, 1, memory_order_relaxed);
    if (l->npaused)
        eddy__accept_resume(l);
}

/* A connection accepted by one worker, on its way to another. */
typedef struct eddy__handoff {
    eddy__post post;
    eddy__loop *from;
    eddy_listener *listener; /* held */
    struct sockaddr_storage peer;
    int fd, counted, returned;
} eddy__handoff;

/* What l holds for the balance: its connections and those on their way. */
static unsigned balance_load(eddy__loop *l)
{
    return atomic_load_explicit(&l->nconns, memory_order_relaxed) +
           atomic_load_explicit(&l->handed_in, memory_order_relaxed);
}

/* The worker to hand a connection accepted by l to: the least loaded one,
 * when l would otherwise hold more than BALANCE_SLACK connections more
 * than it; NULL to keep it. */
static eddy__loop *balance_target(eddy__loop *l)
{
    eddy__shared *srv = l->shared;
    if (!srv->loops || srv->nloops < 2)
        return NULL;
    unsigned keep = balance_load(l) + 1;
    if (keep <= BALANCE_SLACK)
        return NULL;
    unsigned least = keep - BALANCE_SLACK; /* hand over to a worker below this */
    eddy__loop *to = NULL;
    for (int i = 0; i < srv->nloops; i++) {
        eddy__loop *k = &srv->loops[i];
        unsigned v = k == l ? least : balance_load(k);
        if (v < least) {
            least = v;
            to = k;
        }
    }
    return to;
}

/* The socket of l that serves ls, or NULL. */
static eddy__lsock *serving(eddy__loop *l, const eddy_listener *ls)
{
    for (unsigned i = 0; i < l->nlsocks; i++) {
        eddy__lsock *s = l->lsocks[i];
        if (s->h.fd >= 0 && !s->retired && s->listener == ls)
            return s;
    }
    return NULL;
}

static void handoff_run(eddy__post *p);

/* Post h to worker to: 0, or -1 (nothing done) when the server is
 * stopping.  The hold on `to` is taken before the stop flag is read: a
 * worker that stops after that read waits for the hold, so the post runs. */
static int handoff_post(eddy__loop *to, eddy__handoff *h)
{
    atomic_fetch_add(&to->holds, 1);
    if (atomic_load(&to->shared->stopping) != EDDY__RUN) {
        eddy__loop_drop_hold(to);
        return -1;
    }
    atomic_fetch_add_explicit(&to->handed_in, 1, memory_order_relaxed);
    h->post.run = handoff_run;
    eddy__loop_post(to, &h->post);
    return 0;
}

/* On the receiving worker: serve the connection on its socket for the
 * listener.  A worker that does not serve it (its worker_init failed, or
 * a reload or a stop came in between) sends it back once; then it is
 * closed, as the listening socket's close would have. */
static void handoff_run(eddy__post *p)
{
    eddy__handoff *h = (eddy__handoff *)p;
    eddy__loop *l = eddy__loop_self;
    atomic_fetch_sub_explicit(&l->handed_in, 1, memory_order_relaxed);
    eddy__lsock *s = serving(l, h->listener);
    if (s) {
        eddy__conn_open(s, h->fd, &h->peer, h->counted);
    } else {
        eddy__loop *back = h->from;
        h->from = l;
        if (!h->returned++ && handoff_post(back, h) == 0) {
            atomic_fetch_sub_explicit(&l->holds, 1, memory_order_release);
            return;
        }
        close(h->fd);
        eddy__accept_release(l, h->counted ? &h->peer : NULL);
    }
    eddy__listener_release(h->listener);
    free(h);
    atomic_fetch_sub_explicit(&l->holds, 1, memory_order_release);
}

/* Hand fd, accepted by l on s, to worker to: 0, or -1 when l keeps it. */
static int handoff(eddy__loop *l, eddy__loop *to, eddy__lsock *s, int fd,
                   const struct sockaddr_storage *peer, int counted)
{
    eddy__handoff *h = malloc(sizeof(*h));
    if (!h)
        return -1;
    *h = (eddy__handoff){.from = l, .listener = s->listener, .peer = *peer, .fd = fd, .counted = counted};
    eddy__listener_hold(h->listener);
    if (handoff_post(to, h) < 0) {
        eddy__listener_release(h->listener);
        free(h);
        return -1;
    }
    return 0;
}

/* Accept up to a budget of connections, then yield to the rest of the
 * turn.  Over max_connections a connection is closed at once; a worker
 * ahead of the others hands it over (the balance above). */
void eddy__accept_some(eddy__loop *l, eddy__lsock *s)
{
    for (int i = 0; i < ACCEPT_BUDGET; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(s->h.fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            switch (errno) {
            case EAGAIN:
                return;
            case EINTR:
            case ECONNABORTED:
            case EPROTO:
                continue;
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM:
                accept_pause(l, s, errno);
                return;
            default:
                eddy__log_limited(&l->rl_error, EDDY__LOG_ERROR, "accept on %s: %s",
                                  s->listener->bound, eddy_strerror(-errno));
                return;
            }
        }
        int counted;
        if (admit(l, s, &peer, &counted) < 0) {
            close(fd);
            continue;
        }
        int one = 1;
        if (s->listener->transport == EDDY__TCP)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        eddy__loop *to = balance_target(l);
        if (to && handoff(l, to, s, fd, &peer, counted) == 0)
            continue;
        eddy__conn_open(s, fd, &peer, counted);
    }
    eddy__loop_queue(l, &s->h); /* budget spent: more may be waiting */
}

void eddy__accept_close_all(eddy__loop *l)
{
    for (unsigned i = 0; i < l->nlsocks; i++)
        lsock_stop(l, l->lsocks[i]);
}

