/* core/timer.h - deadlines in a binary min-heap: arm, re-arm and stop in
 * O(log n), fire what is due in order.  The heap knows nothing of what
 * its timers are for: each carries the function that fires it.  Times are
 * ms on the owner's 32-bit clock, compared with wrap-around. */
#ifndef EDDY_CORE_TIMER_H
#define EDDY_CORE_TIMER_H

#include <stdint.h>

typedef struct eddy__timer {
    uint32_t due;                          /* when it fires */
    int slot;                              /* its place in the heap; -1: not armed */
    void (*fire)(struct eddy__timer *t);   /* called once it is due, disarmed */
} eddy__timer;

typedef struct eddy__timers {
    eddy__timer **heap;
    unsigned n, cap;
} eddy__timers;

/* A timer that is not armed, to be fired by fire. */
static inline void eddy__timer_init(eddy__timer *t, void (*fire)(eddy__timer *t))
{
    t->slot = -1;
    t->fire = fire;
}

/* Arm t to fire at due (re-arming it if it was armed).  0, or -ENOMEM. */
int eddy__timers_arm(eddy__timers *h, eddy__timer *t, uint32_t due);
/* Disarm t; nothing if it was not armed. */
void eddy__timers_disarm(eddy__timers *h, eddy__timer *t);
/* Fire, earliest first, every timer due at now, including those armed
 * while firing for a time already due; returns the ms until the next one,
 * or -1 when none is armed. */
long eddy__timers_run(eddy__timers *h, uint32_t now);
void eddy__timers_destroy(eddy__timers *h);

#endif
