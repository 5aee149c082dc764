/* core/timer.h - handler timers: a min-heap of deadlines per worker. */
#ifndef EDDY_CORE_TIMER_H
#define EDDY_CORE_TIMER_H

#include <stdint.h>

#include "eddy/handler.h"

typedef struct eddy__loop eddy__loop;

struct eddy_timer {
    eddy_conn *conn;
    eddy_timer_fn fn;
    void *arg;
    uint32_t due;            /* loop->now when it fires */
    int slot;                /* its place in the heap, -1 when not armed */
    struct eddy_timer *next; /* the connection's timers */
};

/* Run the timers that are due; returns the ms until the next one, or -1. */
long eddy__timers_run(eddy__loop *l);
/* Free every timer of a connection that is closing. */
void eddy__timers_free_all(eddy_conn *c);
void eddy__timers_destroy(eddy__loop *l);

#endif
