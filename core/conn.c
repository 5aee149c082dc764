/* core/conn.c - the per-connection hot path.
 *
 * Reading: edge-triggered, so a wake reads until a read returns less than
 * the room it was given (the socket is drained; no extra read to EAGAIN),
 * or until the loop's per-connection budget is spent, when the connection
 * goes on the ready list and the others get their turn.  Each read is
 * handed to the handler at once, so a reply can go out in the same turn.
 *
 * Writing: eddy_send() writes straight to the socket when nothing is
 * queued, and queues only what the socket did not take; the next writable
 * edge flushes the queue with writev().  Every read and write goes through
 * the I/O seam (io.h), the place for a transport under the socket.  Above the high-water mark the connection stops
 * reading until the queue drains below the low-water mark, so a peer that
 * sends without reading holds at most about high_water bytes of eddyd's
 * memory.
 *
 * Handlers never cause a free under their own feet: eddy_send() and
 * eddy_close() only set flags; the connection is destroyed by the loop
 * after the callback returns (settle()).
 */
#include "conn.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "accept.h"
#include "io.h"
#include "pool.h"
#include "proxy.h"
#include "ref.h"
#include "splice.h"
#include "timer.h"
#include "worker.h"

/* settle()'s slow path: the connection ends, with the reason its flags give. */
static void __attribute__((noinline)) settle_close(eddy_conn *c, uint16_t f)
{
    eddy__conn_destroy(c, (f & EDDY__CONN_RESET)    ? "closed (reset by the handler)"
                          : (f & EDDY__CONN_FAILED) ? "closed (error)"
                          : (f & EDDY__CONN_EOF) ? "closed by client"
                          : c->lsock->loop->draining ? "closed (stopping)"
                                                     : "closed by server");
}

#ifdef EDDY_URING_FAST
/* The io_uring fast path, defined with its comment below eddy__conn_resume. */
#define RING_WRITES(c) ((c)->ring & EDDY__RING_WRITE)
static int ring_eligible(eddy__loop *l, const eddy_listener *ls);
static void ring_recv_update(eddy_conn *c);
static void ring_want_send(eddy_conn *c);
static void ring_unqueue(eddy_conn *c);
static void ring_resume(eddy_conn *c);
static void ring_drain_read(eddy_conn *c);
static int ring_direct(const struct iovec *iov, int iovcnt);
static int ring_make_room(eddy_conn *c);
#else
#define RING_WRITES(c) 0
#define ring_direct(iov, iovcnt) 0
#define ring_make_room(c) 0
#endif

/* After a handler callback or an I/O step: close the connection if it
 * failed, or if it is closing and nothing is left to send.  Returns -1 when
 * it is gone.  Small, so that it inlines into the hot path.  (On the
 * io_uring fast path it also arms or stops the recv as c may read.) */
static inline int settle(eddy_conn *c)
{
    if (c->h.fd < 0)
        return -1;
    uint16_t f = c->h.flags;
    if (!(f & EDDY__CONN_FAILED) && (!(f & (EDDY__CONN_CLOSING | EDDY__CONN_EOF)) ||
                                     eddy__buf_len(c->out) || eddy__splice_pending(c))) {
#ifdef EDDY_URING_FAST
        if (c->ring & EDDY__RING_READ)
            ring_recv_update(c);
#endif
        return 0;
    }
    settle_close(c, f);
    return -1;
}

/* A line about c: "#42 127.0.0.1:5555: " before the message. */
static void conn_vlog(eddy_conn *c, eddy__ratelimit *rl, int level, const char *fmt, va_list ap)
{
    char addr[INET6_ADDRSTRLEN + 16], who[sizeof(addr) + 16];
    eddy_conn_peer(c, addr, sizeof(addr));
    snprintf(who, sizeof(who), "#%u %s", (unsigned)c->id, addr);
    eddy__log_vline(rl, level, who, fmt, ap);
}

void eddy__conn_log_line(eddy_conn *c, eddy__ratelimit *rl, int level, const char *fmt, ...)
{
    if (!eddy__log_pass(rl, level))
        return;
    va_list ap;
    va_start(ap, fmt);
    conn_vlog(c, rl, level, fmt, ap);
    va_end(ap);
}

void eddy_conn_log(eddy_conn *c, int level, const char *fmt, ...)
{
    if (level < EDDY_LOG_ERROR)
        level = EDDY_LOG_ERROR;
    if (!eddy__log_on(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    conn_vlog(c, NULL, level, fmt, ap);
    va_end(ap);
}

/* A send found more than max_output queued for c's peer (a peer that
 * does not read): close it (after the callback), counted and logged at
 * most once a second. */
static int over_output_limit(eddy_conn *c)
{
    eddy__count(&c->lsock->n.errors_output_limit, 1);
    eddy__conn_log(c, &c->lsock->loop->rl_output, EDDY__LOG_WARN,
                   "closing: output queued for the peer over max_output (%zu bytes) on %s",
                   eddy__conn_listener(c)->max_output, eddy__conn_listener(c)->bound);
    c->h.flags |= EDDY__CONN_FAILED;
    return -ENOBUFS;
}

eddy__conn_ext *eddy__conn_ext_get(eddy_conn *c)
{
    if (!c->ext)
        c->ext = calloc(1, sizeof(*c->ext));
    return c->ext;
}

static void list_append(eddy__conn_list *list, eddy_conn *c)
{
    c->next = NULL;
    c->prev = list->tail;
    if (list->tail)
        list->tail->next = c;
    else
        list->head = c;
    list->tail = c;
}

static void list_remove(eddy__conn_list *list, eddy_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        list->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        list->tail = c->prev;
    c->next = c->prev = NULL;
}

static eddy__conn_list *list_of(eddy_conn *c)
{
    return (c->h.flags & EDDY__CONN_ACTIVE) ? &c->lsock->active : &c->lsock->fresh;
}

/* Bytes came: the connection is stamped, and leaves the fresh list for the
 * active one.  The active list is kept oldest first only while its
 * socket's listener has an idle_timeout, the one reader of that order:
 * with none (the default), or on the outgoing connections' socket (no
 * listener, never expired), an active connection stays where it is.  The
 * move touched three other connections (both neighbours and the tail),
 * cold at 1,000 connections, on every read.  The socket notes that its
 * list has fallen out of order, for the sort an idle_timeout added by a
 * reload needs (eddy__conn_expire).  On the read path for every read, so
 * always inlined, also where eddy_conn_touch() uses it. */
static inline __attribute__((always_inline)) void touch(eddy_conn *c)
{
    eddy__lsock *s = c->lsock;
    c->last = s->loop->now;
    if (s->active.tail == c)
        return;
    if ((c->h.flags & EDDY__CONN_ACTIVE) && (!s->listener || !s->listener->idle_timeout_ms)) {
        if (!s->unordered)
            s->unordered = 1;
        return;
    }
    list_remove(list_of(c), c);
    c->h.flags |= EDDY__CONN_ACTIVE;
    list_append(&s->active, c);
}

/* Put list in order of last activity, oldest first (a merge sort, stable,
 * O(n log n)): once, when an idle_timeout meets an active list that was
 * left unordered while its listener had none. */
static void sort_by_last(eddy__conn_list *list, uint32_t now)
{
    eddy_conn *head = list->head;
    for (size_t run = 1;; run *= 2) {
        eddy_conn *p = head, *tail = NULL;
        size_t merges = 0;
        head = NULL;
        while (p) {
            merges++;
            eddy_conn *q = p;
            size_t psize = 0, qsize = run;
            while (psize < run && q) {
                psize++;
                q = q->next;
            }
            while (psize > 0 || (qsize > 0 && q)) {
                eddy_conn *e;
                /* ages, not stamps: the ms clock wraps */
                if (psize == 0 || (qsize > 0 && q && (uint32_t)(now - q->last) > (uint32_t)(now - p->last))) {
                    e = q;
                    q = q->next;
                    qsize--;
                } else {
                    e = p;
                    p = p->next;
                    psize--;
                }
                e->prev = tail;
                if (tail)
                    tail->next = e;
                else
                    head = e;
                tail = e;
            }
            p = q;
        }
        if (tail)
            tail->next = NULL;
        list->head = head;
        list->tail = tail;
        if (merges <= 1)
            return;
    }
}

/* Close from the old end of a list while the timeout has passed. */
static long expire_list(eddy__conn_list *list, uint32_t now, long timeout_ms, const char *why)
{
    while (list->head) {
        eddy_conn *c = list->head;
        long age = (long)(uint32_t)(now - c->last);
        if (age < timeout_ms)
            return timeout_ms - age;
        eddy__count(&c->lsock->n.timeouts, 1);
        eddy__conn_destroy(c, why);
        if (list->head == c) { /* held by the pool: it closes when the job returns */
            c->last = now;
            list_remove(list, c);
            list_append(list, c);
        }
    }
    return -1;
}

static long earliest(long a, long b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

long eddy__conn_expire(eddy__lsock *s, uint32_t now)
{
    const eddy_listener *ls = s->listener;
    long next = -1;
    if (ls->first_byte_timeout_ms)
        next = expire_list(&s->fresh, now, ls->first_byte_timeout_ms,
                           "closed (first-byte timeout)");
    if (ls->idle_timeout_ms) {
        const char *idle = "closed (idle timeout)";
        if (s->unordered) { /* a reload gave the socket its idle_timeout */
            sort_by_last(&s->active, now);
            s->unordered = 0;
        }
        next = earliest(next, expire_list(&s->active, now, ls->idle_timeout_ms, idle));
        if (!ls->first_byte_timeout_ms) /* idle covers the silent ones too */
            next = earliest(next, expire_list(&s->fresh, now, ls->idle_timeout_ms, idle));
    }
    return next;
}

void eddy__conn_opened(eddy_conn *c)
{
    c->h.flags |= EDDY__CONN_OPENED;
    if (c->listener->handler->open && c->listener->handler->open(c) < 0)
        c->h.flags |= EDDY__CONN_CLOSING;
}

/* c takes fd, on s, serving ls: numbered, on s's fresh list, counted. */
static void conn_start(eddy_conn *c, eddy__lsock *s, eddy_listener *ls, int fd)
{
    eddy__loop *l = s->loop;
    c->id = l->conn_id;
    l->conn_id += l->conn_id_step;
    c->h.fd = fd;
    c->h.kind = EDDY__KIND_CONN;
    c->lsock = s;
    c->listener = ls;
    eddy__listener_hold(ls);
    c->last = l->now;
    list_append(&s->fresh, c);
    eddy__count(&s->n.accepted, 1);
    eddy__count_uint(&l->nconns, 1);
}

void eddy__conn_open(eddy__lsock *s, int fd, const struct sockaddr_storage *peer, int counted)
{
    eddy__loop *l = s->loop;
    const eddy_listener *ls = s->listener;
    eddy_conn *c = calloc(1, sizeof(*c));
    /* The address is kept when the per-IP count needs it back, and while
     * debugging, so that the close line names the client even after a
     * reset (getpeername() fails then). */
    int debug = eddy__log_on(EDDY__LOG_DEBUG);
    int need_ext = counted || ls->tls;
    eddy__conn_ext *ext = (peer && debug) || need_ext ? calloc(1, sizeof(*ext)) : NULL;
    int rc = !c || (need_ext && !ext) ? -ENOMEM : 0;
    int per_worker = eddy__worker_wanted(ls);
    unsigned watch = EDDY__WATCH_IN | EDDY__WATCH_OUT;
#ifdef EDDY_URING_FAST
    int ring = ring_eligible(l, ls);
    if (ring)
        watch = EDDY__WATCH_OUT | EDDY__WATCH_RING;
#endif
    if (rc == 0 && per_worker)
        rc = eddy__worker_hold(l, s->listener); /* made here by hand-driven loops only */
    if (rc == 0 && (rc = eddy__poller_add(l->poller, fd, watch, c)) < 0 && per_worker)
        eddy__worker_release(l, s->listener);
    if (rc < 0) {
        eddy__count(&s->n.errors_nomem, 1);
        eddy__log_limited(&l->rl_error, EDDY__LOG_ERROR, "cannot take a connection on %s: %s",
                          ls->bound, eddy_strerror(rc));
        free(c);
        free(ext);
        close(fd);
        eddy__accept_release(l, counted ? peer : NULL);
        return;
    }
    if (ext) {
        if (peer) {
            ext->addr = *peer;
            ext->has_addr = 1;
        }
        ext->counted = counted;
        c->ext = ext;
    }
    conn_start(c, s, s->listener, fd);
#ifdef EDDY_URING_FAST
    if (ring)
        c->ring = EDDY__RING_READ | EDDY__RING_WRITE | EDDY__RING_RECV;
#endif
    if (debug)
        eddy__conn_log_line(c, NULL, EDDY__LOG_DEBUG, "open on %s", ls->bound);
    if (ls->tls) { /* open() once the handshake has completed */
        if (eddy__tls_conn_start(c, ls->tls) < 0) {
            eddy__count(&s->n.errors_nomem, 1);
            eddy__conn_destroy(c, "closed (out of memory)");
            return;
        }
    } else if (ls->proxy_protocol) {
        c->h.flags |= EDDY__CONN_PROXY_WAIT;
    } else {
        eddy__conn_opened(c);
    }
    settle(c);
}

eddy_conn *eddy__conn_attach(eddy__lsock *s, eddy_listener *ls, int fd,
                             const struct sockaddr_storage *peer, int *err)
{
    eddy_conn *c = calloc(1, sizeof(*c));
    eddy__conn_ext *ext = calloc(1, sizeof(*ext)); /* the peer, for logs after a reset */
    int rc = !c || !ext ? -ENOMEM
                        : eddy__poller_add(s->loop->poller, fd, EDDY__WATCH_IN | EDDY__WATCH_OUT, c);
    if (rc < 0) {
        free(c);
        free(ext);
        *err = rc;
        return NULL;
    }
    ext->addr = *peer;
    ext->has_addr = 1;
    c->ext = ext;
    conn_start(c, s, ls, fd);
    c->h.flags |= EDDY__CONN_OUTGOING | EDDY__CONN_CONNECTING | EDDY__CONN_OPENED;
    return c;
}

/* Hand everything buffered to the handler; keep what it did not consume. */
static int deliver(eddy_conn *c)
{
    size_t len = c->in->len;
    const char *p = eddy__buf_linearize(c->in);
    size_t used = eddy__conn_listener(c)->handler->data(c, p, len);
    eddy__buf_consume(c->in, used < len ? used : len);
    return settle(c);
}

/* Room to read into: a pooled buffer, grown while the handler leaves input
 * unconsumed, up to max_message.  Returns -1 when there is none. */
static int input_room(eddy_conn *c)
{
    if (!c->in && !(c->in = eddy__bufpool_get(&c->lsock->loop->buffers)))
        return -1;
    if (c->in->len < c->in->cap)
        return 0;
    size_t max = eddy__conn_listener(c)->max_message, want = c->in->cap;
    if (c->in->len + want > max)
        want = max > c->in->len ? max - c->in->len : 0;
    return want && eddy__buf_reserve(&c->in, want, max) == 0 ? 0 : -1;
}

/* The job came back from the pool (a call on the connection's reference,
 * which kept it open): send what data() sent, run the calls that waited
 * for it, and read what came meanwhile. */
static void job_done(eddy_conn *c, void *arg)
{
    eddy__job *j = arg;
    c->h.flags &= (uint16_t)~EDDY__CONN_INPOOL;
    eddy__count(&c->lsock->loop->pool_pending, (unsigned long long)-1); /* a gauge: one fewer */
    if (j->over)
        over_output_limit(c);
    if (!(c->h.flags & EDDY__CONN_FAILED) && !j->failed) {
        eddy__buf_consume(c->in, j->consumed < j->len ? j->consumed : j->len);
        struct iovec iov[2];
        int cnt = j->out ? eddy__buf_data_iov(j->out, iov) : 0;
        if (cnt)
            eddy_sendv(c, iov, cnt);
        if (j->close)
            c->h.flags |= EDDY__CONN_CLOSING;
    } else {
        c->h.flags |= EDDY__CONN_FAILED;
    }
    eddy__buf_free(j->out);
    free(j);
    eddy__call *waited = eddy__ref_take_deferred(c);
    int open = settle(c) == 0;
    while (waited) { /* they see c closed if it is */
        eddy__call *next = (eddy__call *)waited->post.next;
        eddy__ref_run(waited);
        waited = next;
    }
    if (open && c->h.fd >= 0)
        eddy__loop_queue(c->lsock->loop, &c->h); /* read what came meanwhile */
}

/* Hand the buffered input to the pool; the connection waits for it. */
static void dispatch_to_pool(eddy_conn *c)
{
    eddy__job *j = calloc(1, sizeof(*j));
    if (!j || !(j->ref = eddy__ref_take(c))) {
        free(j);
        eddy__count(&c->lsock->n.errors_nomem, 1);
        eddy__conn_destroy(c, "closed (out of memory)");
        return;
    }
    j->done.fn = job_done;
    j->done.arg = j;
    j->done.pool = 1;
    j->conn = c;
    j->data = eddy__conn_listener(c)->handler->data;
    j->len = c->in->len;
    j->input = eddy__buf_linearize(c->in);
    c->h.flags |= EDDY__CONN_INPOOL;
    eddy__count(&c->lsock->loop->pool_pending, 1);
    eddy__pool_submit(c->lsock->loop->shared->pool, j);
}

int eddy__conn_peer_shutdown(eddy_conn *c)
{
    const eddy_handler *h = eddy__conn_listener(c)->handler;
    if (!h->peer_shutdown || !(c->h.flags & EDDY__CONN_OPENED)) {
        c->h.flags |= EDDY__CONN_EOF;
        return 0;
    }
    c->h.flags |= EDDY__CONN_SHUTRD;
    h->peer_shutdown(c);
    return settle(c);
}

/* May c be read now?  Not while closing, held, out in the pool, after the
 * peer's FIN, nor while its output is above high water: what a connection
 * sends answers what it read.  Except a relay's (a proxy's), whose output
 * comes from another connection: reading this one feeds that other one,
 * and may be the only way its peer gets to read again (a peer that stops
 * reading while its own output is backed up, as eddy does, would wait for
 * us as we waited for it).  A relay bounds each output by pausing where
 * its bytes come from (eddy_conn_pause).  The relay's test is off the
 * path of a connection with none of these flags. */
static inline int may_read(const eddy_conn *c)
{
    uint16_t f = c->h.flags & (EDDY__CONN_CLOSING | EDDY__CONN_EOF | EDDY__CONN_PAUSED |
                               EDDY__CONN_INPOOL | EDDY__CONN_SHUTRD | EDDY__CONN_HELD);
    return !f || (f == EDDY__CONN_PAUSED &&
                  (eddy__conn_listener(c)->handler->flags & EDDY_HANDLER_RELAY));
}

/* Unconsumed input would pass max_message (or memory ran out): close c,
 * counted and logged. */
static void input_over(eddy_conn *c)
{
    eddy__count(&c->lsock->n.errors_too_large, 1);
    eddy__conn_log(c, &c->lsock->loop->rl_error, EDDY__LOG_WARN,
                   "closing: unconsumed input over max_message (%zu bytes) or out of memory on %s",
                   eddy__conn_listener(c)->max_message, eddy__conn_listener(c)->bound);
    eddy__conn_destroy(c, "closed (max_message)");
}

/* Read and deliver until the socket is drained, the budget is spent, or
 * the connection may not be read; a relay's stream goes by splice. */
static void conn_read(eddy_conn *c)
{
    eddy__loop *l = c->lsock->loop;
    size_t budget = l->read_budget;
    int spliced = __builtin_expect(eddy__splice_on(c), 0);
    if (spliced && may_read(c) && eddy__splice_read(c) < 0)
        return;
    while (!spliced && may_read(c)) {
        if (input_room(c) < 0) {
            input_over(c);
            return;
        }
        struct iovec iov[2];
        int cnt = eddy__buf_space_iov(c->in, iov);
        size_t room = iov[0].iov_len + (cnt > 1 ? iov[1].iov_len : 0);
        ssize_t n = eddy__io_read(c, iov, cnt);
        if (n > 0) {
            eddy__buf_commit(c->in, (size_t)n);
            eddy__count(&c->lsock->n.bytes_in, (unsigned long long)n);
            eddy__count(&c->lsock->n.reads, 1);
            touch(c);
            if (c->h.flags & EDDY__CONN_PROXY_WAIT) {
                int r = eddy__accept_proxy_header(c);
                if (r < 0 || (r == 1 && settle(c) < 0))
                    return;
                if (r == 0 || c->in->len == 0) { /* nothing for the handler yet */
                    if ((size_t)n < room && !(c->h.flags & EDDY__CONN_RDHUP))
                        break;
                    continue;
                }
            }
            if (eddy__conn_listener(c)->dispatch == EDDY_DISPATCH_POOL) {
                dispatch_to_pool(c);
                return;
            }
            if (deliver(c) < 0)
                return;
            if ((size_t)n < room && !(c->h.flags & EDDY__CONN_RDHUP))
                break; /* drained */
            if ((size_t)n >= budget) {
                if ((size_t)n == room && c->ext && c->ext->sp_out)
                    eddy__splice_start(c); /* a full read: a stream, spliced from now on */
                eddy__loop_queue(l, &c->h); /* fairness: the others first */
                break;
            }
            budget -= (size_t)n;
        } else if (n == 0) {
            if (eddy__conn_peer_shutdown(c) < 0)
                return;
        } else if (n == -EAGAIN) {
            break;
        } else {
            eddy__count(&c->lsock->n.errors_io, 1);
            /* ECONNRESET and friends: this connection only */
            eddy__conn_log(c, NULL, EDDY__LOG_DEBUG, "read: %s", eddy_strerror((int)n));
            eddy__conn_destroy(c, "closed (read error)");
            return;
        }
    }
    if (c->in && c->in->len == 0 && !(c->h.flags & EDDY__CONN_INPOOL)) {
        eddy__bufpool_put(&l->buffers, c->in);
        c->in = NULL;
    }
    /* Draining: what has arrived is answered; once nothing more is to be
     * read this turn, the connection closes after its output is sent. */
    if (l->draining && !(c->h.flags & (EDDY__CONN_INPOOL | EDDY__CONN_OUTGOING)) && !c->h.queued &&
        !(c->ext && c->ext->sp_out && c->ext->sp_out->len)) /* spliced bytes get to the peer first */
        c->h.flags |= EDDY__CONN_CLOSING;
    settle(c);
}

void eddy__conn_settle(eddy_conn *c)
{
    settle(c);
}

void eddy__conn_drain(eddy_conn *c)
{
#ifdef EDDY_URING_FAST
    if (c->ring & EDDY__RING_READ) {
        c->ring = (uint8_t)((c->ring | EDDY__RING_DRAIN) & ~EDDY__RING_RECV);
        if (eddy__poller_recv(c->lsock->loop->poller, c->h.fd, 0))
            return; /* the recv's end (ring_recvd) reads the rest */
        ring_drain_read(c);
        return;
    }
#endif
    c->h.flags |= EDDY__CONN_RDHUP; /* read to EAGAIN, not to a short read */
    if (!(c->h.flags & EDDY__CONN_INPOOL))
        conn_read(c);
}

static void output_sent(eddy_conn *c);

/* Write c's queue until the socket is full. */
static void conn_flush(eddy_conn *c)
{
    while (eddy__buf_len(c->out)) {
        struct iovec iov[2];
        int cnt = eddy__buf_data_iov(c->out, iov);
        ssize_t n = eddy__io_write(c, iov, cnt);
        if (n > 0) {
            eddy__buf_consume(c->out, (size_t)n);
            eddy__count(&c->lsock->n.bytes_out, (unsigned long long)n);
        } else if (n == -EAGAIN) {
            break;
        } else {
            eddy__count(&c->lsock->n.errors_io, 1);
            /* EPIPE, ECONNRESET: this connection only */
            eddy__conn_log(c, NULL, EDDY__LOG_DEBUG, "write: %s", eddy_strerror((int)n));
            eddy__conn_destroy(c, "closed (write error)");
            return;
        }
    }
    output_sent(c);
}

/* The socket took what it could of c's queue: an empty buffer goes back,
 * a shutdown that waited for the queue sends its FIN, a connection paused
 * above high water reads again below low water (and its handler hears),
 * then c settles. */
static void output_sent(eddy_conn *c)
{
    eddy__loop *l = c->lsock->loop;
    if (c->out && c->out->len == 0) {
        eddy__bufpool_put(&l->buffers, c->out);
        c->out = NULL;
    }
    if ((c->h.flags & EDDY__CONN_SHUTWR) && !eddy__buf_len(c->out) && !eddy__splice_pending(c))
        eddy__io_shutdown(c);
    const eddy_listener *ls = eddy__conn_listener(c);
    if ((c->h.flags & EDDY__CONN_PAUSED) && eddy__buf_len(c->out) <= ls->low_water) {
        c->h.flags &= (uint16_t)~EDDY__CONN_PAUSED;
        eddy__loop_queue(l, &c->h); /* the edge may have passed: read on */
        /* Not while its data() is out on a pool thread: callbacks of one
         * connection never run at once (that data() sees the room). */
        if (ls->handler->drained && (c->h.flags & EDDY__CONN_OPENED) &&
            !(c->h.flags & (EDDY__CONN_INPOOL | EDDY__CONN_CLOSING | EDDY__CONN_FAILED)))
            ls->handler->drained(c);
    }
    settle(c);
}

void eddy__conn_event(eddy_conn *c, unsigned ready)
{
    if (c->h.flags & EDDY__CONN_TLS)
        ready = eddy__tls_ready(c, ready);
    if ((ready & EDDY__GONE) && (c->h.flags & EDDY__CONN_SHUTRD)) {
        /* half-closed, and now the rest is gone too (reset, or closed):
         * nothing will read what the handler would send */
        eddy__conn_destroy(c, "closed by client");
        return;
    }
    if (ready & EDDY__HANGUP)
        c->h.flags |= EDDY__CONN_RDHUP;
#ifdef EDDY_URING_FAST
    if (c->ring & EDDY__RING_WRITE) { /* room again: the next SEND goes at the turn's end */
        if ((ready & EDDY__WRITABLE) && (c->ring & EDDY__RING_SENDING))
            c->ring |= EDDY__RING_ROOM;
        else if ((ready & EDDY__WRITABLE) && eddy__buf_len(c->out))
            ring_want_send(c);
        if (!(c->ring & EDDY__RING_READ) && (ready & (EDDY__READABLE | EDDY__HANGUP)))
            conn_read(c);
        return;
    }
#endif
    if ((ready & EDDY__WRITABLE) && eddy__buf_len(c->out)) {
        conn_flush(c);
        if (c->h.fd < 0)
            return;
    } else if (__builtin_expect(eddy__splice_pending(c) != 0, 0) && (ready & EDDY__WRITABLE)) {
        eddy__splice_writable(c); /* (a pipe into c waits only while c's queue is empty) */
        if (c->h.fd < 0)
            return;
    }
    if (ready & (EDDY__READABLE | EDDY__HANGUP))
        conn_read(c);
}

void eddy__conn_resume(eddy_conn *c)
{
#ifdef EDDY_URING_FAST
    if (c->ring & EDDY__RING_READ) {
        ring_resume(c);
        return;
    }
#endif
    conn_read(c);
}

#ifdef EDDY_URING_FAST
/* The io_uring fast path (EDDY_POLLER=uring): a plain TCP connection (no
 * TLS, PROXY header, pool dispatch or relay) on a worker's running loop
 * is read by a multishot recv into the poller's provided buffers and
 * written by one SEND per turn, both inside the io_uring_enter that waits,
 * so that a message costs no system call of its own.
 *
 * Each chunk goes to data() straight from the ring's buffer when c holds
 * no unconsumed input; only what data() leaves is copied into c->in.
 * eddy_send() copies into c->out and puts c on the loop's send list; just
 * before the wait the loop queues a SEND of the queue's first run of
 * bytes (MSG_DONTWAIT, so it is done when the wait returns, and nothing
 * moves those bytes before then); the completion consumes what the
 * socket took.  When it took all, the rest goes next turn; when it took
 * less, the next POLLOUT brings c back.  The recv is armed exactly while
 * may_read() holds (high water, eddy_conn_pause, closing, the FIN): what
 * was already on its way when it stopped is kept in c->in and delivered
 * when c may read again.  The read budget has no part here: each
 * completion is one buffer, and the kernel interleaves the connections. */

static int ring_eligible(eddy__loop *l, const eddy_listener *ls)
{
    return eddy__poller_taken(l->poller) && ls->transport == EDDY__TCP && !ls->tls &&
           !ls->proxy_protocol && ls->dispatch != EDDY_DISPATCH_POOL &&
           !(ls->handler->flags & EDDY_HANDLER_RELAY);
}

/* Arm or stop c's recv as may_read() now says. */
static void ring_recv_update(eddy_conn *c)
{
    int want = may_read(c) && !(c->ring & EDDY__RING_DRAIN);
    if (!(c->ring & EDDY__RING_RECV) == !want)
        return;
    c->ring ^= EDDY__RING_RECV;
    eddy__poller_recv(c->lsock->loop->poller, c->h.fd, want);
}

/* c has output: on the loop's send list, once, unless its SEND is out. */
static void ring_want_send(eddy_conn *c)
{
    if (c->ring & (EDDY__RING_SENDQ | EDDY__RING_SENDING))
        return;
    eddy__loop *l = c->lsock->loop;
    if (l->nsendq == l->sendq_cap) {
        unsigned cap = l->sendq_cap ? 2 * l->sendq_cap : 64;
        eddy_conn **q = realloc(l->sendq, cap * sizeof(*q));
        if (!q) {
            eddy__count(&c->lsock->n.errors_nomem, 1);
            c->h.flags |= EDDY__CONN_FAILED;
            eddy__loop_queue(l, &c->h); /* closed this turn */
            return;
        }
        l->sendq = q;
        l->sendq_cap = cap;
    }
    l->sendq[l->nsendq++] = c;
    c->ring |= EDDY__RING_SENDQ;
}

/* c closes while on the send list: off it (the list is short: the
 * connections that sent this turn). */
static void ring_unqueue(eddy_conn *c)
{
    eddy__loop *l = c->lsock->loop;
    for (unsigned i = 0; i < l->nsendq; i++)
        if (l->sendq[i] == c)
            l->sendq[i] = NULL;
    c->ring &= (uint8_t)~EDDY__RING_SENDQ;
}

void eddy__conn_ring_submit(eddy__loop *l)
{
    for (unsigned i = 0; i < l->nsendq; i++) {
        eddy_conn *c = l->sendq[i];
        if (!c)
            continue;
        c->ring &= (uint8_t)~EDDY__RING_SENDQ;
        if (!eddy__buf_len(c->out) || (c->h.flags & EDDY__CONN_FAILED))
            continue;
        struct iovec iov[2];
        eddy__buf_data_iov(c->out, iov); /* the first run; a wrapped rest goes next turn */
        if (eddy__poller_send(l->poller, c->h.fd, iov[0].iov_base, iov[0].iov_len) < 0) {
            c->h.flags |= EDDY__CONN_FAILED; /* a broken ring: closed this turn */
            eddy__loop_queue(l, &c->h);
            continue;
        }
        c->ring |= EDDY__RING_SENDING;
        c->ring_len = iov[0].iov_len > UINT32_MAX ? UINT32_MAX : (uint32_t)iov[0].iov_len;
    }
    l->nsendq = 0;
}

/* Keep n bytes at p at the end of c->in, not yet shown to data(): up to
 * max_message, and while c may not read (or has bytes it was not shown)
 * the buffers a recv could fill before it stopped on top.  -1 when c is
 * gone (over that, or out of memory). */
static int ring_keep(eddy_conn *c, const char *p, size_t n)
{
    size_t max = eddy__conn_listener(c)->max_message;
    if (c->ring_unseen || !may_read(c))
        max += EDDY__RING_WINDOW;
    int rc = !c->in && !(c->in = eddy__bufpool_get(&c->lsock->loop->buffers))
                 ? -ENOMEM
                 : eddy__buf_append(&c->in, p, n, max);
    if (rc < 0) {
        input_over(c);
        return -1;
    }
    c->ring_unseen += (uint32_t)n;
    return 0;
}

/* Show data() what c->in holds, a buffer's worth of unseen bytes more at a
 * time (as reads of that size would), while c may read; then settle (and
 * give back an empty buffer).  -1 when c is gone. */
static int ring_reveal(eddy_conn *c)
{
    while (c->ring_unseen && may_read(c)) {
        size_t step = c->ring_unseen < EDDY__RING_BUF_SIZE ? c->ring_unseen : EDDY__RING_BUF_SIZE;
        size_t show = c->in->len - c->ring_unseen + step;
        c->ring_unseen -= (uint32_t)step;
        size_t used = eddy__conn_listener(c)->handler->data(c, eddy__buf_linearize(c->in), show);
        eddy__buf_consume(c->in, used < show ? used : show);
        if (settle(c) < 0)
            return -1;
    }
    if (c->in && !c->in->len) {
        eddy__bufpool_put(&c->lsock->loop->buffers, c->in);
        c->in = NULL;
    }
    return settle(c);
}

/* n bytes at data came (n > 0), or the recv ended: at the peer's FIN (0),
 * stopped as asked (-ECANCELED), or failed. */
static void ring_recvd(eddy_conn *c, int n, const char *data)
{
    if (n > 0) {
        if (c->h.flags & (EDDY__CONN_CLOSING | EDDY__CONN_FAILED))
            return; /* nothing more is read once closing */
        eddy__count(&c->lsock->n.bytes_in, (unsigned long long)n);
        eddy__count(&c->lsock->n.reads, 1);
        touch(c);
        /* After what data() left, or on its way when the recv stopped: kept */
        if (eddy__buf_len(c->in) || !may_read(c)) {
            if (ring_keep(c, data, (size_t)n) == 0)
                ring_reveal(c);
            return;
        }
        size_t used = eddy__conn_listener(c)->handler->data(c, data, (size_t)n);
        if (used < (size_t)n && ring_keep(c, data + used, (size_t)n - used) < 0)
            return;
        c->ring_unseen = 0; /* data() saw them */
        settle(c);
        return;
    }
    c->ring &= (uint8_t)~EDDY__RING_RECV; /* it has ended */
    if (n < 0 && n != -ECANCELED) {
        eddy__count(&c->lsock->n.errors_io, 1);
        /* ECONNRESET and friends: this connection only */
        eddy__conn_log(c, NULL, EDDY__LOG_DEBUG, "read: %s", eddy_strerror(n));
        eddy__conn_destroy(c, "closed (read error)");
        return;
    }
    /* A FIN is taken only after the input before it: else a recv armed
     * later meets it again (a FIN stays). */
    if (n == 0 && may_read(c) && !c->ring_unseen && eddy__conn_peer_shutdown(c) < 0)
        return;
    if (c->ring & EDDY__RING_DRAIN)
        ring_drain_read(c);
    else
        settle(c);
}

/* A send that a SEND at the turn's end would only delay: more than this,
 * with nothing queued, goes straight to the socket, as on readiness (a
 * system call is small beside copying that much). */
enum { RING_DIRECT = 64 * 1024 };

static int ring_direct(const struct iovec *iov, int iovcnt)
{
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    return total > RING_DIRECT;
}

/* c's queue is over max_output: write it to the socket now, as readiness
 * would have as it grew (unless its SEND is out: its completion has not
 * said what it took).  1 when it is no longer over, 0 when it still is,
 * -1 when the write failed (c fails). */
static int ring_make_room(eddy_conn *c)
{
    if (c->ring & EDDY__RING_SENDING)
        return 0;
    while (eddy__buf_len(c->out)) {
        struct iovec iov[2];
        int cnt = eddy__buf_data_iov(c->out, iov);
        ssize_t n = eddy__io_write(c, iov, cnt);
        if (n == -EAGAIN)
            break;
        if (n < 0) {
            eddy__count(&c->lsock->n.errors_io, 1);
            c->h.flags |= EDDY__CONN_FAILED; /* the loop closes it after the callback */
            return -1;
        }
        eddy__buf_consume(c->out, (size_t)n);
        eddy__count(&c->lsock->n.bytes_out, (unsigned long long)n);
    }
    return !eddy__output_over(eddy__buf_len(c->out), eddy__conn_listener(c));
}

/* The SEND of this turn took res bytes (or failed with res). */
static void ring_sent(eddy_conn *c, int res)
{
    int room = c->ring & EDDY__RING_ROOM;
    c->ring &= (uint8_t)~(EDDY__RING_SENDING | EDDY__RING_ROOM);
    if (res < 0 && res != -EAGAIN) {
        eddy__count(&c->lsock->n.errors_io, 1);
        /* EPIPE, ECONNRESET: this connection only */
        eddy__conn_log(c, NULL, EDDY__LOG_DEBUG, "write: %s", eddy_strerror(res));
        eddy__conn_destroy(c, "closed (write error)");
        return;
    }
    if (res > 0) {
        eddy__buf_consume(c->out, (size_t)res);
        eddy__count(&c->lsock->n.bytes_out, (unsigned long long)res);
    }
    /* took all it was given: the rest next turn; less: at the next POLLOUT */
    if (eddy__buf_len(c->out) && ((res > 0 && (uint32_t)res == c->ring_len) || room))
        ring_want_send(c);
    output_sent(c);
}

void eddy__conn_ring_event(eddy_conn *c, const eddy__poll_event *ev)
{
    if (ev->flags & EDDY__SENT)
        ring_sent(c, ev->res);
    else
        ring_recvd(c, ev->res, ev->data);
}

/* Its turn on the ready list (it may read again, it closes, ...): input
 * kept meanwhile goes to data() first, then the recv follows may_read(). */
static void ring_resume(eddy_conn *c)
{
    ring_reveal(c);
}

/* Stopping, and c's recv has ended: from now on c is read by readiness,
 * as eddy__conn_drain reads any connection (to the end of what has
 * arrived, then closing once answered). */
static void ring_drain_read(eddy_conn *c)
{
    c->ring &= (uint8_t)~(EDDY__RING_READ | EDDY__RING_DRAIN | EDDY__RING_RECV);
    if (ring_reveal(c) < 0)
        return;
    c->ring_unseen = 0; /* what is left goes with the next read's bytes */
    eddy__conn_drain(c);
}
#endif

/* A close that the handler asked for, after its last reply went out: if
 * the client had sent more (pipelined requests, the rest of a body), a
 * close() with unread bytes makes the kernel send a reset, which can
 * destroy that last reply in flight.  So, as nginx's lingering close does
 * in short: end our side first, then discard what has already arrived. */
static void linger(eddy_conn *c)
{
    if (eddy__conn_listener(c)->transport == EDDY__UDP ||
        !(c->h.flags & EDDY__CONN_CLOSING) ||
        (c->h.flags & (EDDY__CONN_FAILED | EDDY__CONN_EOF | EDDY__CONN_SHUTRD)))
        return;
    eddy__io_shutdown(c);
    char sink[4096];
    struct iovec iov = {.iov_base = sink, .iov_len = sizeof(sink)};
    for (int i = 0; i < 64 && eddy__io_read(c, &iov, 1) > 0; i++)
        ;
}

void eddy__conn_destroy(eddy_conn *c, const char *why)
{
    eddy__loop *l = c->lsock->loop;
    if (c->h.fd < 0)
        return;
    if (c->h.flags & EDDY__CONN_INPOOL) { /* the pool thread still uses it */
        c->h.flags |= EDDY__CONN_FAILED;   /* finished when the job comes back */
        return;
    }
    eddy__conn_log(c, NULL, EDDY__LOG_DEBUG, "%s", why);
    if ((c->h.flags & EDDY__CONN_OPENED) && c->listener->handler->close)
        c->listener->handler->close(c);
    eddy__conn_free_timers(c);
    if (c->ext && (c->ext->sp_out || c->ext->sp_in))
        eddy__splice_end(c);
    if (c->ext && c->ext->ref)
        eddy__ref_detach(c);
    /* Counted before the peer can see the end (close_notify, a FIN): a
     * client that read our EOF and then asks for the stats finds its
     * connection closed. */
    eddy__count(&c->lsock->n.closed, 1);
    eddy__count_uint(&l->nconns, -1);
    linger(c);
    if (c->h.flags & EDDY__CONN_TLS)
        eddy__tls_conn_end(c);
#ifdef EDDY_URING_FAST
    if (c->ring & EDDY__RING_SENDQ)
        ring_unqueue(c);
#endif
    eddy__poller_close(l->poller, c->h.fd);
    c->h.fd = -1;
    eddy__bufpool_put(&l->buffers, c->in);
    eddy__bufpool_put(&l->buffers, c->out);
    c->in = c->out = NULL;
    list_remove(list_of(c), c);
    if (eddy__worker_wanted(c->listener))
        eddy__worker_release(l, c->listener);
    eddy__listener_release(c->listener);
    struct sockaddr_storage counted;
    int was_counted = c->ext && c->ext->counted;
    if (was_counted)
        counted = c->ext->addr;
    free(c->ext);
    c->ext = NULL;
    if (!c->h.queued) { /* else the ready list hands it to the dead list */
        c->next = l->dead;
        l->dead = c;
    }
    eddy__accept_release(l, was_counted ? &counted : NULL);
}

void eddy__conn_free(eddy_conn *c)
{
    free(c);
}

int eddy_sendv(eddy_conn *c, const struct iovec *iov, int iovcnt)
{
    eddy__job *j = eddy__current_job;
    if (iovcnt < 0 || (j && j->conn != c))
        return -EINVAL;
    if (j) /* on a pool thread: collect, the loop sends */
        return eddy__job_send(j, iov, iovcnt);
    if (c->h.fd < 0 || (c->h.flags & (EDDY__CONN_CLOSING | EDDY__CONN_FAILED | EDDY__CONN_SHUTWR)))
        return -EPIPE;
    if (eddy__output_over(eddy__buf_len(c->out), eddy__conn_listener(c))) {
        int room = RING_WRITES(c) ? ring_make_room(c) : 0;
        if (room < 0)
            return -EPIPE;
        if (!room)
            return over_output_limit(c);
    }
    size_t skip = 0;
    int wrote = 0;
    /* (connecting: all of it is queued, and flushed once connected) */
    if (!(c->h.flags & EDDY__CONN_CONNECTING) && !eddy__buf_len(c->out) && iovcnt <= IOV_MAX &&
        (!RING_WRITES(c) || ring_direct(iov, iovcnt))) {
        ssize_t n = eddy__io_write(c, iov, iovcnt);
        if (n < 0 && n != -EAGAIN) {
            eddy__count(&c->lsock->n.errors_io, 1);
            c->h.flags |= EDDY__CONN_FAILED; /* the loop closes it after the callback */
            return -EPIPE;
        }
        eddy__count(&c->lsock->n.sends, 1);
        wrote = 1;
        if (n > 0) {
            eddy__count(&c->lsock->n.bytes_out, (unsigned long long)n);
            skip = (size_t)n;
        }
    }
    for (int i = 0; i < iovcnt; i++) {
        size_t len = iov[i].iov_len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        if (!c->out && !(c->out = eddy__bufpool_get(&c->lsock->loop->buffers))) {
            c->h.flags |= EDDY__CONN_FAILED;
            return -ENOMEM;
        }
        int rc = eddy__buf_append(&c->out, (const char *)iov[i].iov_base + skip, len - skip,
                                  EDDY__BUF_MAX);
        if (rc < 0) {
            c->h.flags |= EDDY__CONN_FAILED;
            return rc;
        }
        skip = 0;
    }
    if (eddy__buf_len(c->out) > eddy__conn_listener(c)->high_water)
        c->h.flags |= EDDY__CONN_PAUSED;
#ifdef EDDY_URING_FAST
    if (c->ring & EDDY__RING_WRITE) {
        if (!wrote)
            eddy__count(&c->lsock->n.sends, 1);
        if (eddy__buf_len(c->out))
            ring_want_send(c);
    }
#else
    (void)wrote;
#endif
    return 0;
}

int eddy_send(eddy_conn *c, const void *buf, size_t len)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    return eddy_sendv(c, &iov, 1);
}

void eddy_close(eddy_conn *c)
{
    eddy__job *j = eddy__current_job;
    if (j) {
        if (j->conn == c)
            j->close = 1;
        return;
    }
    /* Queued, so that the loop acts on it this turn even when it is
     * another connection's callback that closes it (a proxy closing its
     * backend). */
    c->h.flags |= EDDY__CONN_CLOSING;
    if (c->h.fd >= 0)
        eddy__loop_queue(c->lsock->loop, &c->h);
}

void eddy_conn_pause(eddy_conn *c, int pause)
{
    if (c->h.fd < 0 || eddy__current_job)
        return;
    if (pause) {
        c->h.flags |= EDDY__CONN_HELD;
    } else if (c->h.flags & EDDY__CONN_HELD) {
        c->h.flags &= (uint16_t)~EDDY__CONN_HELD;
        if (!(c->h.flags & EDDY__CONN_CONNECTING))
            eddy__loop_queue(c->lsock->loop, &c->h); /* the edge may have passed: read on */
    }
}

void eddy_conn_shutdown(eddy_conn *c)
{
    if (c->h.fd < 0 || eddy__current_job ||
        (c->h.flags & (EDDY__CONN_CLOSING | EDDY__CONN_FAILED | EDDY__CONN_SHUTWR)))
        return;
    c->h.flags |= EDDY__CONN_SHUTWR;
    if (!eddy__buf_len(c->out) && !(c->h.flags & EDDY__CONN_CONNECTING) && !eddy__splice_pending(c))
        eddy__io_shutdown(c); /* else once the queue (and a pipe into it) is sent */
}

void eddy_conn_touch(eddy_conn *c)
{
    if (c->h.fd >= 0 && !eddy__current_job)
        touch(c);
}

size_t eddy_conn_high_water(const eddy_conn *c)
{
    return eddy__conn_listener(c)->high_water;
}

size_t eddy_conn_queued(const eddy_conn *c)
{
    eddy__job *j = eddy__current_job;
    if (j) /* on a pool thread: what this data() has sent so far */
        return j->conn == c ? eddy__buf_len(j->out) : 0;
    return eddy__buf_len(c->out);
}

void eddy_conn_peer(const eddy_conn *c, char *buf, size_t len)
{
    struct sockaddr_storage a = {.ss_family = AF_UNSPEC};
    socklen_t sl = sizeof(a);
    if (c->ext && c->ext->has_addr)
        a = c->ext->addr;
    else if (c->h.fd < 0 || getpeername(c->h.fd, (struct sockaddr *)&a, &sl) < 0)
        a.ss_family = AF_UNSPEC;
    eddy__sockaddr_format(&a, buf, len);
}

/* The length of an address kept from accept or a PROXY header. */
static socklen_t addr_len(const struct sockaddr_storage *a)
{
    return a->ss_family == AF_INET    ? sizeof(struct sockaddr_in)
           : a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                      : sizeof(sa_family_t);
}

int eddy_conn_peer_addr(const eddy_conn *c, struct sockaddr_storage *out, socklen_t *len)
{
    if (c->ext && c->ext->has_addr) {
        *out = c->ext->addr;
        *len = addr_len(out);
        return 0;
    }
    *len = sizeof(*out);
    if (c->h.fd < 0)
        return -ENOTCONN;
    return getpeername(c->h.fd, (struct sockaddr *)out, len) < 0 ? -errno : 0;
}

int eddy_conn_local_addr(const eddy_conn *c, struct sockaddr_storage *out, socklen_t *len)
{
    *len = sizeof(*out);
    if (c->h.fd < 0)
        return -ENOTCONN;
    return getsockname(c->h.fd, (struct sockaddr *)out, len) < 0 ? -errno : 0;
}

void eddy_conn_reset(eddy_conn *c)
{
    if (eddy__current_job || c->h.fd < 0)
        return;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->h.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    c->h.flags |= EDDY__CONN_FAILED | EDDY__CONN_RESET; /* nothing more is sent */
    eddy__loop_queue(c->lsock->loop, &c->h);  /* closed this turn, as eddy_close() is */
}

void *eddy_conn_state(const eddy_conn *c)
{
    return eddy__conn_listener(c)->state;
}

void *eddy_conn_data(const eddy_conn *c)
{
    return c->data;
}

void eddy_conn_set_data(eddy_conn *c, void *data)
{
    c->data = data;
}
