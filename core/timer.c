/* core/timer.c - handler timers (eddy/handler.h): one binary min-heap of
 * deadlines per worker.  Arming, re-arming and stopping are O(log n); an
 * idle worker sleeps in the poller until the earliest deadline, so armed
 * timers cost nothing while they wait. */
#include "timer.h"

#include <stdlib.h>

#include "conn.h"
#include "loop.h"
#include "pool.h"

static int earlier(const eddy_timer *a, const eddy_timer *b)
{
    return (int32_t)(a->due - b->due) < 0;
}

static void place(eddy__loop *l, eddy_timer *t, unsigned i)
{
    l->timers[i] = t;
    t->slot = (int)i;
}

static void sift_up(eddy__loop *l, unsigned i)
{
    eddy_timer *t = l->timers[i];
    while (i > 0 && earlier(t, l->timers[(i - 1) / 2])) {
        place(l, l->timers[(i - 1) / 2], i);
        i = (i - 1) / 2;
    }
    place(l, t, i);
}

static void sift_down(eddy__loop *l, unsigned i)
{
    eddy_timer *t = l->timers[i];
    for (;;) {
        unsigned child = 2 * i + 1;
        if (child >= l->ntimers)
            break;
        if (child + 1 < l->ntimers && earlier(l->timers[child + 1], l->timers[child]))
            child++;
        if (!earlier(l->timers[child], t))
            break;
        place(l, l->timers[child], i);
        i = child;
    }
    place(l, t, i);
}

static void heap_remove(eddy__loop *l, eddy_timer *t)
{
    unsigned i = (unsigned)t->slot;
    eddy_timer *last = l->timers[--l->ntimers];
    t->slot = -1;
    if (i == l->ntimers)
        return;
    place(l, last, i);
    sift_down(l, i);
    sift_up(l, (unsigned)last->slot);
}

eddy_timer *eddy_timer_new(eddy_conn *c, eddy_timer_fn fn, void *arg)
{
    if (eddy__current_job || !fn)
        return NULL;
    eddy__conn_ext *ext = eddy__conn_ext_get(c);
    eddy_timer *t = ext ? calloc(1, sizeof(*t)) : NULL;
    if (!t)
        return NULL;
    t->conn = c;
    t->fn = fn;
    t->arg = arg;
    t->slot = -1;
    t->next = ext->timers;
    ext->timers = t;
    return t;
}

int eddy_timer_start(eddy_timer *t, long ms)
{
    if (eddy__current_job || ms < 0 || ms > 86400000L)
        return -EINVAL;
    eddy__loop *l = t->conn->lsock->loop;
    if (t->slot >= 0)
        heap_remove(l, t);
    if (l->ntimers == l->timers_cap) {
        unsigned cap = l->timers_cap ? l->timers_cap * 2 : 64;
        eddy_timer **grown = realloc(l->timers, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        l->timers = grown;
        l->timers_cap = cap;
    }
    t->due = l->now + (uint32_t)ms;
    place(l, t, l->ntimers++);
    sift_up(l, (unsigned)t->slot);
    return 0;
}

void eddy_timer_stop(eddy_timer *t)
{
    if (!eddy__current_job && t->slot >= 0)
        heap_remove(t->conn->lsock->loop, t);
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

void eddy__timers_free_all(eddy_conn *c)
{
    while (c->ext && c->ext->timers) {
        eddy_timer *t = c->ext->timers;
        c->ext->timers = t->next;
        if (t->slot >= 0)
            heap_remove(c->lsock->loop, t);
        free(t);
    }
}

long eddy__timers_run(eddy__loop *l)
{
    while (l->ntimers) {
        eddy_timer *t = l->timers[0];
        int32_t left = (int32_t)(t->due - l->now);
        if (left > 0)
            return left;
        heap_remove(l, t);
        eddy_conn *c = t->conn;
        if (c->h.flags & EDDY__CONN_INPOOL) { /* its handler is busy on a pool thread */
            eddy_timer_start(t, 1);
            continue;
        }
        t->fn(c, t->arg);
        eddy__conn_settle(c);
    }
    return -1;
}

void eddy__timers_destroy(eddy__loop *l)
{
    free(l->timers);
    l->timers = NULL;
    l->ntimers = l->timers_cap = 0;
}
