/* core/ref.h - references on a connection that other threads hold, and
 * calls they post to run on the connection's worker (eddy_conn_ref,
 * eddy_ref_post in eddy/handler.h).  The worker pool returns its jobs the
 * same way: a job holds a reference and its completion is a posted call.
 *
 * A reference is counted: the connection holds one while it is open, each
 * holder one more, each call in flight one more.  Its connection pointer
 * is read and cleared only on the worker, so a call learns there whether
 * the connection is still open.  The loop counts the holds that are not a
 * connection's own (loop->holds) and does not stop before they are gone:
 * nothing a holder may still touch is freed under it.  A reference also
 * holds its connection's listener, so that the plugin whose functions its
 * calls name is not unloaded (hot swap) before they have run; the last
 * count is dropped on the worker, where a listener is released. */
#ifndef EDDY_CORE_REF_H
#define EDDY_CORE_REF_H

#include <stdatomic.h>

#include "eddy/handler.h"
#include "loop.h"

struct eddy_ref {
    atomic_uint count;
    eddy_conn *conn; /* NULL once closed; the worker's thread only */
    eddy__loop *loop;
    eddy_listener *listener; /* held: the handler's code stays loaded for its calls */
    eddy__post last;         /* the last count dropped elsewhere: freed on the worker */
};

/* A function to run on a reference's worker, posted from any thread. */
typedef struct eddy__call {
    eddy__post post; /* first: on the loop's posted list, then on a deferred list */
    eddy_ref *ref;   /* the call holds one count of it, dropped after fn */
    void (*fn)(eddy_conn *c, void *arg);
    void *arg;
    unsigned char owned; /* malloc'd by eddy_ref_post: freed after fn */
    unsigned char pool;  /* a pool job's return: runs while the job is out */
} eddy__call;

/* c's reference with one more count and hold, made on first use; worker
 * thread only.  NULL when out of memory. */
eddy_ref *eddy__ref_take(eddy_conn *c);
/* Drop one count and hold of r, from any thread. */
void eddy__ref_drop(eddy_ref *r);
/* Post call to r's worker; the call takes over a count the caller holds. */
void eddy__ref_call(eddy_ref *r, eddy__call *call);
/* The connection closes: its reference forgets it, and drops its count. */
void eddy__ref_detach(eddy_conn *c);
/* Take the calls that waited for c's pool job; run each with eddy__ref_run. */
eddy__call *eddy__ref_take_deferred(eddy_conn *c);
void eddy__ref_run(eddy__call *call);

#endif
