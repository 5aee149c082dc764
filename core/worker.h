/* core/worker.h - what a handler keeps per worker (eddy/handler.h): its
 * state from worker_init(), per listener, and timers not tied to a
 * connection.
 *
 * A listener's worker state lives while the worker uses the listener: its
 * listening socket there (from the worker's start or the reload that adds
 * it, until the stop or the reload that removes it) and each of its
 * connections there (an old listener's connections keep it after a reload
 * handed its socket to the new one).  worker_init() runs on the worker's
 * thread at the first use, worker_fini() after the last. */
#ifndef EDDY_CORE_WORKER_H
#define EDDY_CORE_WORKER_H

#include "listener.h"
#include "loop.h"

typedef struct eddy__wstate {
    struct eddy__wstate *next; /* the loop's */
    eddy_listener *listener;
    void *state;    /* from worker_init() */
    unsigned users; /* the socket serving it and its connections, on this worker */
} eddy__wstate;

/* Does ls's handler keep per-worker state?  Checked before the calls
 * below, so that other handlers pay nothing. */
static inline int eddy__worker_wanted(const eddy_listener *ls)
{
    return ls->handler->worker_init || ls->handler->worker_fini;
}

/* One more use of ls on l's worker; the first calls worker_init().  0, or
 * worker_init()'s error (or -ENOMEM): then ls is not used there. */
int eddy__worker_hold(eddy__loop *l, eddy_listener *ls);
/* One use fewer; the last calls worker_fini(). */
void eddy__worker_release(eddy__loop *l, eddy_listener *ls);
/* The loop ends: free the worker timers a handler left. */
void eddy__worker_destroy(eddy__loop *l);

#endif
