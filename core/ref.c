/* core/ref.c - see ref.h. */
#include "ref.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "conn.h"
#include "listener.h"
#include "pool.h"

/* The last count is gone: on the worker's thread. */
static void ref_free(eddy_ref *r)
{
    eddy__listener_release(r->listener);
    free(r);
}

/* The last count was dropped on another thread, which kept its hold on
 * the loop for this post. */
static void ref_free_posted(eddy__post *p)
{
    eddy_ref *r = (eddy_ref *)((char *)p - offsetof(eddy_ref, last));
    eddy__loop *l = r->loop;
    ref_free(r);
    atomic_fetch_sub_explicit(&l->holds, 1, memory_order_release);
}

eddy_ref *eddy__ref_take(eddy_conn *c)
{
    eddy__conn_ext *ext = eddy__conn_ext_get(c);
    if (!ext)
        return NULL;
    eddy_ref *r = ext->ref;
    if (!r) {
        if (!(r = malloc(sizeof(*r))))
            return NULL;
        atomic_init(&r->count, 1); /* the connection's */
        r->conn = c;
        r->loop = c->lsock->loop;
        r->listener = c->listener;
        eddy__listener_hold(r->listener);
        ext->ref = r;
    }
    atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->loop->holds, 1, memory_order_relaxed);
    return r;
}

void eddy__ref_drop(eddy_ref *r)
{
    eddy__loop *l = r->loop;
    if (atomic_fetch_sub_explicit(&r->count, 1, memory_order_acq_rel) != 1) {
        eddy__loop_drop_hold(l);
    } else if (eddy__loop_self == l) {
        ref_free(r);
        atomic_fetch_sub_explicit(&l->holds, 1, memory_order_release);
    } else {
        r->last.run = ref_free_posted;
        eddy__loop_post(l, &r->last);
    }
}

void eddy__ref_detach(eddy_conn *c)
{
    eddy_ref *r = c->ext->ref;
    c->ext->ref = NULL;
    r->conn = NULL;
    if (atomic_fetch_sub_explicit(&r->count, 1, memory_order_acq_rel) == 1)
        ref_free(r);
}

eddy__call *eddy__ref_take_deferred(eddy_conn *c)
{
    eddy__call *d = c->ext ? c->ext->deferred : NULL;
    if (d)
        c->ext->deferred = NULL;
    return d;
}

/* While the connection's pool job is out its handler is busy on another
 * thread: a call waits, in order, for the job to come back. */
static void defer(eddy_conn *c, eddy__call *call)
{
    eddy__call **p = &c->ext->deferred;
    while (*p)
        p = (eddy__call **)&(*p)->post.next;
    call->post.next = NULL;
    *p = call;
}

void eddy__ref_run(eddy__call *call)
{
    eddy_ref *r = call->ref;
    eddy_conn *c = r->conn;
    if (c && (c->h.flags & EDDY__CONN_INPOOL) && !call->pool) {
        defer(c, call);
        return;
    }
    int owned = call->owned, pool = call->pool;
    call->fn(c, call->arg); /* a pool job's frees the call */
    if (c && !pool)
        eddy__conn_settle(c);
    if (owned)
        free(call);
    eddy__ref_drop(r);
}

static void run_posted_call(eddy__post *p)
{
    eddy__ref_run((eddy__call *)p);
}

void eddy__ref_call(eddy_ref *r, eddy__call *call)
{
    call->ref = r;
    call->post.run = run_posted_call;
    eddy__loop_post(r->loop, &call->post);
}

eddy_ref *eddy_conn_ref(eddy_conn *c)
{
    if (eddy__current_job || c->h.fd < 0)
        return NULL;
    return eddy__ref_take(c);
}

int eddy_ref_post(eddy_ref *r, void (*fn)(eddy_conn *c, void *arg), void *arg)
{
    if (!r || !fn)
        return -EINVAL;
    eddy__call *call = calloc(1, sizeof(*call));
    if (!call)
        return -ENOMEM;
    call->fn = fn;
    call->arg = arg;
    call->owned = 1;
    atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->loop->holds, 1, memory_order_relaxed);
    eddy__ref_call(r, call);
    return 0;
}

void eddy_ref_release(eddy_ref *r)
{
    if (r)
        eddy__ref_drop(r);
}
