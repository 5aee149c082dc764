/* core/handler_timer.c - the timers of eddy/handler.h: a handler's
 * deadlines on one of its connections, in its worker's timer heap.
 *
 * A timer belongs to its connection (freed with it) and fires on the
 * connection's worker; what its callback asks (send, close) is acted on
 * as for data().  While the connection's handler is busy on a pool thread
 * a due timer waits, retried every ms, so that callbacks of one
 * connection never run at once. */
#include <errno.h>
#include <stdlib.h>

#include "conn.h"
#include "pool.h"
#include "timer.h"

struct eddy_timer {
    eddy__timer t;           /* first: the heap's timer is the handler's */
    eddy_conn *conn;
    eddy_timer_fn fn;
    void *arg;
    struct eddy_timer *next; /* the connection's timers */
};

static eddy__timers *heap_of(const eddy_timer *t)
{
    return &t->conn->lsock->loop->timers;
}

static void fire(eddy__timer *base)
{
    eddy_timer *t = (eddy_timer *)base;
    eddy_conn *c = t->conn;
    if (c->h.flags & EDDY__CONN_INPOOL) { /* its handler is busy on a pool thread */
        eddy_timer_start(t, 1);
        return;
    }
    t->fn(c, t->arg);
    eddy__conn_settle(c);
}

eddy_timer *eddy_timer_new(eddy_conn *c, eddy_timer_fn fn, void *arg)
{
    if (eddy__current_job || !fn)
        return NULL;
    eddy__conn_ext *ext = eddy__conn_ext_get(c);
    eddy_timer *t = ext ? calloc(1, sizeof(*t)) : NULL;
    if (!t)
        return NULL;
    eddy__timer_init(&t->t, fire);
    t->conn = c;
    t->fn = fn;
    t->arg = arg;
    t->next = ext->timers;
    ext->timers = t;
    return t;
}

int eddy_timer_start(eddy_timer *t, long ms)
{
    if (eddy__current_job || ms < 0 || ms > 86400000L)
        return -EINVAL;
    return eddy__timers_arm(heap_of(t), &t->t, t->conn->lsock->loop->now + (uint32_t)ms);
}

void eddy_timer_stop(eddy_timer *t)
{
    if (!eddy__current_job)
        eddy__timers_disarm(heap_of(t), &t->t);
}

void eddy_timer_free(eddy_timer *t)
{
    if (eddy__current_job)
        return;
    eddy_timer_stop(t);
    for (eddy_timer **p = &t->conn->ext->timers; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    free(t);
}

void eddy__conn_free_timers(eddy_conn *c)
{
    while (c->ext && c->ext->timers) {
        eddy_timer *t = c->ext->timers;
        c->ext->timers = t->next;
        eddy__timers_disarm(heap_of(t), &t->t);
        free(t);
    }
}
