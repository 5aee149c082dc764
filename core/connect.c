/* core/connect.c - outgoing connections: eddy_connect() and eddy_addr_parse()
 * of eddy/handler.h.
 *
 * An outgoing connection is an eddy_conn like an accepted one, so that
 * conn.c serves both without a test on its hot path.  What it needs:
 *
 *   - a socket for its lists and counters: each worker has one pseudo
 *     listening socket, never in the poller, labelled "outgoing" in the
 *     stats (struct eddy__outgoing);
 *   - a listener for its settings and handler: a "kind" per (listener it
 *     was opened from, client table), the origin's settings copied (water
 *     marks, max_message, max_output: field by field) with the
 *     client's callbacks as its handler table.  A kind holds its origin
 *     listener, so the plugin stays loaded while its connections live, and
 *     lives exactly as long as its connections: the last one's close drops
 *     it.  A handler has one or two client tables, so a worker's kinds are
 *     a short list;
 *   - while the connect is under way: h.kind EDDY__KIND_CONNECTING (the
 *     loop hands its events here, not to conn.c) and a dial, with the
 *     connect timeout in the worker's timer heap.
 *
 * connected() and close() of the client come through kind_close(), the
 * kind's close callback, so that every way a connect can end (refused,
 * timed out, cancelled by the handler, the worker stopping) goes through
 * eddy__conn_destroy() like any other close.
 */
#include "connect.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "io.h"
#include "listener.h"
#include "pool.h"
#include "timer.h"

enum { CONNECT_TIMEOUT_MAX_MS = 86400000 };

/* The listener of a worker's outgoing connections opened from one
 * listener with one client table. */
typedef struct client_kind {
    eddy_listener ls; /* first: its connections' c->listener */
    eddy_handler handler;
    const eddy_client *client;
    eddy_listener *origin; /* held */
    struct client_kind *next;
} client_kind;

/* What a worker keeps for its outgoing connections. */
typedef struct eddy__outgoing {
    eddy__lsock s; /* their lists and counters */
    client_kind *kinds;
} eddy__outgoing;

/* A connect under way. */
typedef struct eddy__dial {
    eddy__timer timer; /* first: the connect timeout */
    eddy_conn *conn;
    int err; /* how it ends if it ends now: -ECANCELED until the kernel or the timer says */
} eddy__dial;

int eddy_addr_parse(const char *text, eddy_addr *out)
{
    eddy__transport t;
    eddy_addr a;
    if (!text || !out || eddy__addr_parse(text, &t, &a.ss, &a.len) < 0 || t == EDDY__UDP ||
        eddy__addr_any_port(&a.ss))
        return -EINVAL;
    *out = a;
    return 0;
}

static client_kind *kind_of(const eddy_conn *c)
{
    return (client_kind *)c->listener;
}

/* Take k off the worker's list, drop the list's reference and let its
 * origin go.  Its memory goes with the last connection's reference. */
static void kind_drop(eddy__outgoing *o, client_kind *k)
{
    for (client_kind **p = &o->kinds; *p; p = &(*p)->next)
        if (*p == k) {
            *p = k->next;
            break;
        }
    eddy_listener *origin = k->origin;
    eddy__listener_release(&k->ls);
    eddy__listener_release(origin);
}

/* k's connection could not be made: drop k if no other holds it. */
static void kind_put(eddy__outgoing *o, client_kind *k)
{
    if (atomic_load_explicit(&k->ls.refs, memory_order_relaxed) == 1)
        kind_drop(o, k);
}

/* End the dial of c (connected or failed): its timer stops.  Returns how
 * the connect ended if it ends now. */
static int dial_end(eddy_conn *c)
{
    eddy__dial *d = c->ext->dial;
    int err = d->err;
    eddy__timers_disarm(&c->lsock->loop->timers, &d->timer);
    free(d);
    c->ext->dial = NULL;
    c->h.kind = EDDY__KIND_CONN;
    c->h.flags &= (uint16_t)~EDDY__CONN_CONNECTING;
    return err;
}

/* The kind's close(): a connection that never connected hears why first;
 * then the client's close(); the last connection of a kind drops it. */
static void kind_close(eddy_conn *c)
{
    client_kind *k = kind_of(c);
    if (c->h.flags & EDDY__CONN_CONNECTING)
        k->client->connected(c, dial_end(c));
    if (k->client->close)
        k->client->close(c);
    /* Held by the list and by this connection only: after the client's
     * close() no code of the plugin runs for it, so the origin (and the
     * plugin) may go now; the kind's memory goes when eddy__conn_destroy
     * releases the connection's reference. */
    if (atomic_load_explicit(&k->ls.refs, memory_order_relaxed) == 2)
        kind_drop(c->lsock->loop->outgoing, k);
}

static void dial_timeout(eddy__timer *t)
{
    eddy__dial *d = (eddy__dial *)t;
    eddy_conn *c = d->conn;
    d->err = -ETIMEDOUT;
    eddy__count(&c->lsock->n.timeouts, 1);
    eddy__conn_destroy(c, "closed (connect timeout)");
}

void eddy__connect_event(eddy_conn *c, unsigned ready)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->h.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (!err && !(ready & EDDY__WRITABLE))
        return; /* not over yet */
    if (err) {
        c->ext->dial->err = -err;
        eddy__count(&c->lsock->n.errors_io, 1);
        eddy__conn_log(c, NULL, EDDY__LOG_DEBUG, "connect: %s", eddy_strerror(-err));
        eddy__conn_destroy(c, "closed (connect failed)");
        return;
    }
    dial_end(c);
    c->last = c->lsock->loop->now;
    kind_of(c)->client->connected(c, 0);
    if ((c->h.flags & EDDY__CONN_SHUTWR) && !eddy__buf_len(c->out))
        eddy__io_shutdown(c); /* eddy_conn_shutdown() while connecting, nothing queued */
    eddy__conn_event(c, ready); /* send what was queued, read what came */
    eddy__conn_settle(c);
}

/* The worker's outgoing socket, made at its first connect. */
static eddy__outgoing *outgoing_of(eddy__loop *l)
{
    if (l->outgoing)
        return l->outgoing;
    eddy__outgoing *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->s.h.fd = -1;
    o->s.h.kind = EDDY__KIND_LISTEN;
    o->s.loop = l;
    snprintf(o->s.label, sizeof(o->s.label), "outgoing");
    eddy__loop_publish(l, &o->s);
    l->outgoing = o;
    return o;
}

/* The kind for connections opened from origin with client cb. */
static client_kind *kind_get(eddy__outgoing *o, eddy_listener *origin, const eddy_client *cb)
{
    for (client_kind *k = o->kinds; k; k = k->next)
        if (k->origin == origin && k->client == cb)
            return k;
    client_kind *k = malloc(sizeof(*k));
    if (!k)
        return NULL;
    /* The origin's settings that apply to a connection, field by field:
     * the origin is shared with the other workers (its refs and its reload
     * fields change under them), so it is never copied whole. */
    memset(&k->ls, 0, sizeof(k->ls));
    atomic_init(&k->ls.refs, 1); /* the list's */
    k->ls.transport = origin->transport;
    k->ls.server = origin->server;
    k->ls.state = origin->state;
    k->ls.high_water = origin->high_water;
    k->ls.low_water = origin->low_water;
    k->ls.max_message = origin->max_message;
    k->ls.max_output = origin->max_output;
    k->ls.shared_fd = -1;
    k->ls.dispatch = EDDY_DISPATCH_INLINE; /* a client's callbacks run on the loop */
    snprintf(k->ls.bound, sizeof(k->ls.bound), "outgoing from %.140s", origin->bound);
    k->handler = (eddy_handler){
        .abi_version = EDDY_ABI_VERSION,
        .name = origin->handler->name,
        .flags = origin->handler->flags & EDDY_HANDLER_RELAY, /* a proxy's upstream side too */
        .data = cb->data,
        .close = kind_close,
        .peer_shutdown = cb->peer_shutdown,
        .drained = cb->drained,
    };
    k->ls.handler = &k->handler;
    k->client = cb;
    k->origin = origin;
    eddy__listener_hold(origin);
    k->next = o->kinds;
    o->kinds = k;
    return k;
}

/* A non-blocking socket connecting to `to` (under way or done): its fd,
 * or a negative errno. */
static int dial_socket(const eddy_addr *to)
{
    int fd = socket(to->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    if (to->ss.ss_family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc;
    do
        rc = connect(fd, (const struct sockaddr *)&to->ss, to->len);
    while (rc < 0 && errno == EINTR);
    if (rc < 0 && errno != EINPROGRESS) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int eddy_connect(eddy_conn *from, const eddy_addr *to, const eddy_client *cb, void *data,
                 long timeout_ms, eddy_conn **out)
{
    if (eddy__current_job)
        return -EPERM;
    if (!from || !to || !cb || !cb->connected || !cb->data || !out || timeout_ms < 0 ||
        timeout_ms > CONNECT_TIMEOUT_MAX_MS || from->h.fd < 0)
        return -EINVAL;
    sa_family_t fam = to->ss.ss_family;
    if (fam != AF_INET && fam != AF_INET6 && fam != AF_UNIX)
        return -EAFNOSUPPORT;
    if (to->len == 0 || to->len > sizeof(to->ss))
        return -EINVAL;
    eddy__loop *l = from->lsock->loop;
    eddy_listener *origin = (from->h.flags & EDDY__CONN_OUTGOING) ? kind_of(from)->origin
                                                                  : from->listener;
    eddy__outgoing *o = outgoing_of(l);
    client_kind *k = o ? kind_get(o, origin, cb) : NULL;
    eddy__dial *d = k ? calloc(1, sizeof(*d)) : NULL;
    if (!d) {
        if (k)
            kind_put(o, k);
        return -ENOMEM;
    }
    int fd = dial_socket(to);
    int err = fd;
    eddy_conn *c = fd < 0 ? NULL : eddy__conn_attach(&o->s, &k->ls, fd, &to->ss, &err);
    if (!c) {
        if (fd >= 0)
            close(fd);
        free(d);
        kind_put(o, k);
        return err;
    }
    atomic_fetch_add_explicit(&l->shared->open, 1, memory_order_relaxed); /* as admission does */
    c->h.kind = EDDY__KIND_CONNECTING;
    c->data = data;
    d->conn = c;
    d->err = -ECANCELED;
    eddy__timer_init(&d->timer, dial_timeout);
    c->ext->dial = d;
    if (timeout_ms && eddy__timers_arm(&l->timers, &d->timer, l->now + (uint32_t)timeout_ms) < 0) {
        eddy__count(&o->s.n.errors_nomem, 1);
        c->h.flags &= (uint16_t)~EDDY__CONN_OPENED; /* the handler has not had it */
        dial_end(c);
        eddy__conn_destroy(c, "closed (out of memory)");
        kind_put(o, k);
        return -ENOMEM;
    }
    eddy__conn_log(c, NULL, EDDY__LOG_DEBUG, "connecting from #%u", (unsigned)from->id);
    *out = c;
    return 0;
}

void eddy__connect_close_all(eddy__loop *l)
{
    eddy__outgoing *o = l->outgoing;
    if (!o)
        return;
    while (o->s.fresh.head)
        eddy__conn_destroy(o->s.fresh.head, "closed (stopped)");
    while (o->s.active.head)
        eddy__conn_destroy(o->s.active.head, "closed (stopped)");
}

void eddy__connect_free(eddy__loop *l)
{
    eddy__outgoing *o = l->outgoing;
    if (!o)
        return;
    while (o->kinds) /* none once their connections closed; a kind held by none goes */
        kind_put(o, o->kinds);
    free(o);
    l->outgoing = NULL;
}
