/* core/worker.c - see worker.h. */
#include "worker.h"

#include <errno.h>
#include <stdlib.h>

#include "conn.h"
#include "pool.h"

struct eddy_worker_timer {
    eddy__timer t; /* first: the heap's timer is the handler's */
    eddy__loop *loop;
    eddy_worker_timer_fn fn;
    void *arg;
    struct eddy_worker_timer *next, *prev; /* the loop's */
};

static eddy__wstate *find(const eddy__loop *l, const eddy_listener *ls)
{
    eddy__wstate *w = l->wstates;
    while (w && w->listener != ls)
        w = w->next;
    return w;
}

int eddy__worker_hold(eddy__loop *l, eddy_listener *ls)
{
    eddy__wstate *w = find(l, ls);
    if (!w) {
        if (!(w = calloc(1, sizeof(*w))))
            return -ENOMEM;
        int rc = ls->handler->worker_init ? ls->handler->worker_init(ls->state, l->id, &w->state)
                                          : 0;
        if (rc < 0) {
            free(w);
            eddy__log(EDDY__LOG_ERROR, "handler '%s': worker_init on worker %d for %s: %s",
                      ls->handler->name, l->id, ls->bound, eddy_strerror(rc));
            return rc;
        }
        w->listener = ls;
        w->next = l->wstates;
        l->wstates = w;
    }
    w->users++;
    return 0;
}

void eddy__worker_release(eddy__loop *l, eddy_listener *ls)
{
    eddy__wstate **p = &l->wstates;
    while (*p && (*p)->listener != ls)
        p = &(*p)->next;
    eddy__wstate *w = *p;
    if (!w || --w->users)
        return;
    *p = w->next;
    if (ls->handler->worker_fini)
        ls->handler->worker_fini(ls->state, l->id, w->state);
    free(w);
}

void eddy__worker_destroy(eddy__loop *l)
{
    while (l->wtimers) {
        eddy_worker_timer *t = l->wtimers;
        l->wtimers = t->next;
        free(t);
    }
}

void *eddy_conn_worker_state(const eddy_conn *c)
{
    const eddy__wstate *w = find(c->lsock->loop, c->listener);
    return w ? w->state : NULL;
}

eddy_worker *eddy_conn_worker(const eddy_conn *c)
{
    return (eddy_worker *)c->lsock->loop;
}

eddy_worker *eddy_worker_self(void)
{
    return (eddy_worker *)eddy__loop_self;
}

int eddy_worker_id(const eddy_worker *w)
{
    return ((const eddy__loop *)w)->id;
}

static void fire(eddy__timer *base)
{
    eddy_worker_timer *t = (eddy_worker_timer *)base;
    t->fn((eddy_worker *)t->loop, t->arg);
}

eddy_worker_timer *eddy_worker_timer_new(eddy_worker *w, eddy_worker_timer_fn fn, void *arg)
{
    if (!w || !fn || eddy__current_job)
        return NULL;
    eddy_worker_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    eddy__loop *l = (eddy__loop *)w;
    eddy__timer_init(&t->t, fire);
    t->loop = l;
    t->fn = fn;
    t->arg = arg;
    t->next = l->wtimers;
    if (t->next)
        t->next->prev = t;
    l->wtimers = t;
    return t;
}

int eddy_worker_timer_start(eddy_worker_timer *t, long ms)
{
    if (eddy__current_job || ms < 0 || ms > 86400000L)
        return -EINVAL;
    return eddy__timers_arm(&t->loop->timers, &t->t, t->loop->now + (uint32_t)ms);
}

void eddy_worker_timer_stop(eddy_worker_timer *t)
{
    if (!eddy__current_job)
        eddy__timers_disarm(&t->loop->timers, &t->t);
}

void eddy_worker_timer_free(eddy_worker_timer *t)
{
    if (!t || eddy__current_job)
        return;
    eddy__timers_disarm(&t->loop->timers, &t->t);
    if (t->prev)
        t->prev->next = t->next;
    else
        t->loop->wtimers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    free(t);
}
