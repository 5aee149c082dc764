/* core/timer.c - see timer.h.  An idle worker sleeps in the poller until
 * its earliest deadline, so armed timers cost nothing while they wait. */
#include "timer.h"

#include <errno.h>
#include <stdlib.h>

static int earlier(const eddy__timer *a, const eddy__timer *b)
{
    return (int32_t)(a->due - b->due) < 0;
}

static void place(eddy__timers *h, eddy__timer *t, unsigned i)
{
    h->heap[i] = t;
    t->slot = (int)i;
}

static void sift_up(eddy__timers *h, unsigned i)
{
    eddy__timer *t = h->heap[i];
    while (i > 0 && earlier(t, h->heap[(i - 1) / 2])) {
        place(h, h->heap[(i - 1) / 2], i);
        i = (i - 1) / 2;
    }
    place(h, t, i);
}

static void sift_down(eddy__timers *h, unsigned i)
{
    eddy__timer *t = h->heap[i];
    for (;;) {
        unsigned child = 2 * i + 1;
        if (child >= h->n)
            break;
        if (child + 1 < h->n && earlier(h->heap[child + 1], h->heap[child]))
            child++;
        if (!earlier(h->heap[child], t))
            break;
        place(h, h->heap[child], i);
        i = child;
    }
    place(h, t, i);
}

void eddy__timers_disarm(eddy__timers *h, eddy__timer *t)
{
    if (t->slot < 0)
        return;
    unsigned i = (unsigned)t->slot;
    eddy__timer *last = h->heap[--h->n];
    t->slot = -1;
    if (i == h->n)
        return;
    place(h, last, i);
    sift_down(h, i);
    sift_up(h, (unsigned)last->slot);
}

int eddy__timers_arm(eddy__timers *h, eddy__timer *t, uint32_t due)
{
    eddy__timers_disarm(h, t);
    if (h->n == h->cap) {
        unsigned cap = h->cap ? h->cap * 2 : 64;
        eddy__timer **grown = realloc(h->heap, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        h->heap = grown;
        h->cap = cap;
    }
    t->due = due;
    place(h, t, h->n++);
    sift_up(h, (unsigned)t->slot);
    return 0;
}

long eddy__timers_run(eddy__timers *h, uint32_t now)
{
    while (h->n) {
        eddy__timer *t = h->heap[0];
        int32_t left = (int32_t)(t->due - now);
        if (left > 0)
            return left;
        eddy__timers_disarm(h, t);
        t->fire(t);
    }
    return -1;
}

void eddy__timers_destroy(eddy__timers *h)
{
    free(h->heap);
    h->heap = NULL;
    h->n = h->cap = 0;
}
