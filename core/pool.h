/* core/pool.h - the worker pool: threads that run a handler's data() for
 * listeners with `dispatch pool`, so a handler that blocks never stalls a
 * loop.
 *
 * A job carries one connection's buffered input to a pool thread.  While
 * the job is out the loop neither reads the connection nor frees it; what
 * the handler sends is collected in the job, and the finished job goes
 * back to the owning loop as a call on the connection's reference (ref.h,
 * the path of eddy_ref_post), woken through its eventfd.  The loop then
 * sends the replies and reads on, so replies keep their order.
 */
#ifndef EDDY_CORE_POOL_H
#define EDDY_CORE_POOL_H

#include <pthread.h>
#include <stddef.h>

#include "buf.h"
#include "eddy/handler.h"
#include "loop.h"
#include "ref.h"

typedef struct eddy__job {
    eddy__call done;   /* first: posted back to the loop when data() returned */
    struct eddy__job *next; /* the pool's queue */
    eddy_conn *conn;
    size_t (*data)(eddy_conn *c, const char *buf, size_t len); /* its handler's */
    eddy_ref *ref;     /* on conn: the loop waits for the job */
    const char *input; /* the connection's buffered input, left alone by the loop */
    size_t len;
    size_t consumed;   /* data()'s answer */
    eddy__buf *out;    /* what data() sent */
    int close;         /* data() called eddy_close() */
    int failed;        /* a send failed (out of memory, or over max_output) */
    int over;          /* data() sent more than max_output */
} eddy__job;

typedef struct eddy__pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    eddy__job *head, **tail;
    int stopping;
    pthread_t *threads;
    int nthreads;
} eddy__pool;

/* The job whose data() runs on this thread, or NULL (not a pool thread).
 * eddy_send() reads it on every call: the initial-exec model makes that
 * one load instead of a call to __tls_get_addr (libeddy is linked at
 * start-up, where static TLS is always there). */
extern _Thread_local eddy__job *eddy__current_job __attribute__((tls_model("initial-exec")));

int eddy__pool_start(eddy__pool *p, int nthreads);
void eddy__pool_submit(eddy__pool *p, eddy__job *j);
/* Finish the queued jobs, then join the threads. */
void eddy__pool_stop(eddy__pool *p);
/* eddy_send/eddy_close from data() on a pool thread. */
int eddy__job_send(eddy__job *j, const struct iovec *iov, int iovcnt);

#endif
