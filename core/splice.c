/* core/splice.c - eddy_conn_splice(): one connection's input moved to
 * another's socket with splice(2) through a pipe (see splice.h).
 *
 * Why only while a stream flows: a splice costs two system calls per
 * pipe-full as read() and write() do, and saves the two copies through
 * user space, which is most of a proxy's time with 64 KiB reads (43 % in
 * _copy_from_iter and _copy_to_iter under perf) and nothing with small
 * ones, where the pipe's own work made it a little dearer (measured in
 * handlers/proxy/README.md).  So a link splices from a read that filled
 * the whole read room until a read brings less than LEAVE_BELOW with the
 * pipe empty.  The pipe (two descriptors) is held only meanwhile, and
 * counts as two connections against max_connections, so that splicing
 * never takes a descriptor a connection would need.
 *
 * Backpressure is the pipe: `from` is read only once the pipe is empty,
 * so at most one pipe-full (64 KiB) waits for `to`, and `to`'s writable
 * edge reads `from` on. */
#include "splice.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "accept.h"
#include "io.h"
#include "pool.h"

enum {
    PIPE_BYTES = 65536,     /* the kernel's default pipe: 16 pages */
    LEAVE_BELOW = 4096,     /* a read bringing less, pipe empty: back to copying */
};

int eddy_conn_splice(eddy_conn *from, eddy_conn *to)
{
    if (eddy__current_job)
        return -EPERM;
    if (!from || !to || from == to || from->h.fd < 0 || to->h.fd < 0 ||
        from->lsock->loop != to->lsock->loop || (from->ext && from->ext->sp_out) ||
        (to->ext && to->ext->sp_in) || eddy__conn_listener(from)->dispatch == EDDY_DISPATCH_POOL ||
        !(eddy__conn_listener(from)->handler->flags & eddy__conn_listener(to)->handler->flags &
          EDDY_HANDLER_RELAY))
        return -EINVAL;
    if ((from->h.flags | to->h.flags) & EDDY__CONN_TLS)
        return -EOPNOTSUPP;
    eddy__conn_ext *fe = eddy__conn_ext_get(from), *te = eddy__conn_ext_get(to);
    eddy__splice *s = fe && te ? calloc(1, sizeof(*s)) : NULL;
    if (!s)
        return -ENOMEM;
    s->from = from;
    s->to = to;
    s->rd = s->wr = -1;
    fe->sp_out = s;
    te->sp_in = s;
    return 0;
}

unsigned long long eddy_conn_spliced(const eddy_conn *from)
{
    return from->ext && from->ext->sp_out ? from->ext->sp_out->moved : 0;
}

/* Close s's pipe and give its places back. */
static void pipe_close(eddy__splice *s)
{
    if (s->rd < 0)
        return;
    close(s->rd);
    close(s->wr);
    s->rd = s->wr = -1;
    s->len = 0;
    eddy__loop *l = s->from->lsock->loop;
    atomic_fetch_sub_explicit(&l->shared->open, 2, memory_order_relaxed);
    if (l->npaused)
        eddy__accept_resume(l); /* two descriptors are free again */
}

void eddy__splice_start(eddy_conn *c)
{
    eddy__splice *s = c->ext ? c->ext->sp_out : NULL;
    if (!s || s->rd >= 0 || s->eof || eddy__buf_len(c->in) || eddy__buf_len(s->to->out) ||
        (c->h.flags & EDDY__CONN_PROXY_WAIT) ||
        (s->to->h.flags & (EDDY__CONN_CONNECTING | EDDY__CONN_CLOSING | EDDY__CONN_FAILED |
                           EDDY__CONN_SHUTWR)))
        return;
    eddy__shared *sh = c->lsock->loop->shared;
    if (atomic_fetch_add_explicit(&sh->open, 2, memory_order_relaxed) + 2 >
        atomic_load_explicit(&sh->max_connections, memory_order_relaxed)) {
        atomic_fetch_sub_explicit(&sh->open, 2, memory_order_relaxed);
        return; /* near the limit: keep copying */
    }
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
        atomic_fetch_sub_explicit(&sh->open, 2, memory_order_relaxed);
        return; /* out of descriptors: keep copying */
    }
    s->rd = p[0];
    s->wr = p[1];
}

/* Move the pipe's bytes into s->to (then a FIN that waited for them): 0
 * when the pipe is empty, 1 when to's socket is full, -1 when to failed
 * (it is destroyed). */
static int flush(eddy__splice *s)
{
    eddy_conn *to = s->to;
    if (!s->len)
        return 0;
    while (s->len) {
        ssize_t n = splice(s->rd, NULL, to->h.fd, NULL, s->len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            s->len -= (size_t)n;
            eddy__count(&to->lsock->n.bytes_out, (unsigned long long)n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return 1;
        } else { /* EPIPE, ECONNRESET: as a failed write */
            eddy__count(&to->lsock->n.errors_io, 1);
            eddy__conn_log(to, NULL, EDDY__LOG_DEBUG, "splice: %s", eddy_strerror(n < 0 ? -errno : -EPIPE));
            eddy__conn_destroy(to, "closed (write error)");
            return -1;
        }
    }
    if ((to->h.flags & EDDY__CONN_SHUTWR) && !eddy__buf_len(to->out))
        eddy__io_shutdown(to); /* eddy_conn_shutdown() while the pipe held bytes */
    return 0;
}

/* The pipe is empty after from's FIN: it goes, and the handler hears the
 * FIN.  -1 when from is gone. */
static int deliver_eof(eddy__splice *s)
{
    pipe_close(s);
    return eddy__conn_peer_shutdown(s->from);
}

int eddy__splice_read(eddy_conn *c)
{
    eddy__splice *s = c->ext->sp_out;
    eddy__loop *l = c->lsock->loop;
    size_t budget = l->read_budget;
    for (;;) {
        int r = flush(s);
        if (r < 0)
            return 0; /* to is gone */
        if (s->eof)
            return r ? 0 : deliver_eof(s);
        if (s->len >= PIPE_BYTES)
            return 0; /* full: to's writable edge reads c on */
        ssize_t n = splice(c->h.fd, NULL, s->wr, NULL, PIPE_BYTES - s->len,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            s->len += (size_t)n;
            s->moved += (unsigned long long)n;
            eddy__count(&c->lsock->n.bytes_in, (unsigned long long)n);
            eddy__count(&c->lsock->n.reads, 1);
            eddy_conn_touch(c);
            eddy_conn_touch(s->to); /* the pair's activity, as the handler would */
            int full = flush(s);
            if (full < 0)
                return 0;
            if (full && s->len >= PIPE_BYTES)
                return 0; /* to's writable edge reads c on */
            if ((size_t)n < LEAVE_BELOW && !full) {
                /* The stream paused: data() has the next bytes.  Read on
                 * (a pipe's 16 slots may have stopped a splice of small
                 * pieces short, which a short read() never is). */
                pipe_close(s);
                eddy__loop_queue(l, &c->h);
                return 0;
            }
            /* No "a short read drained it" here: that same stop short;
             * the next splice says EAGAIN. */
            if ((size_t)n >= budget) {
                eddy__loop_queue(l, &c->h); /* fairness: the others first */
                return 0;
            }
            budget -= (size_t)n;
        } else if (n == 0) {
            s->eof = 1; /* told once the pipe is empty */
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN) {
            return 0;
        } else {
            eddy__count(&c->lsock->n.errors_io, 1);
            eddy__conn_log(c, NULL, EDDY__LOG_DEBUG, "splice: %s", eddy_strerror(-errno));
            eddy__conn_destroy(c, "closed (read error)");
            return -1;
        }
    }
}

void eddy__splice_writable(eddy_conn *c)
{
    eddy__splice *s = c->ext->sp_in;
    size_t before = s->len;
    int r = flush(s);
    if (r < 0 || (r > 0 && s->len == before))
        return;
    eddy_conn *from = s->from;
    if (r > 0) { /* room again */
        eddy__loop_queue(from->lsock->loop, &from->h);
        return;
    }
    if (s->eof) {
        if (deliver_eof(s) == 0)
            eddy__conn_settle(from);
    } else {
        eddy__loop_queue(from->lsock->loop, &from->h); /* read on */
    }
    if (c->h.fd >= 0)
        eddy__conn_settle(c); /* it may have waited for the pipe to close */
}

void eddy__splice_end(eddy_conn *c)
{
    eddy__splice *out = c->ext->sp_out, *in = c->ext->sp_in;
    c->ext->sp_out = c->ext->sp_in = NULL;
    if (out) {
        pipe_close(out);
        if (out->to->ext)
            out->to->ext->sp_in = NULL;
        free(out);
    }
    if (in) {
        pipe_close(in);
        if (in->from->ext)
            in->from->ext->sp_out = NULL;
        free(in);
    }
}
