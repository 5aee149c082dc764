/* core/server.h - the server: its listeners, its workers, the limits they
 * share. */
#ifndef EDDY_CORE_SERVER_H
#define EDDY_CORE_SERVER_H

#include <pthread.h>
#include <stdatomic.h>

#include "eddy/eddy.h"
#include "iplimit.h"
#include "listener.h"
#include "loop.h"
#include "plugin.h"
#include "pool.h"

struct eddy_server {
    eddy__shared shared; /* what its workers see of it */
    int workers; /* asked for; 0 = one per online CPU */
    int pool_threads;
    eddy__pool pool;
    eddy_listener *listeners;
    pthread_mutex_t listeners_mu; /* the list against the stats' walk: a reload swaps it */
    eddy__registry handlers; /* eddy_server_register_handler's, found by name first */
    eddy__loop *loops;
    pthread_t *threads;
    atomic_ullong reloads_ok, reloads_failed; /* eddy_server_reload's outcomes */
    int started;
    int first_thread; /* 1: worker 0 runs in eddy_server_run(), on the caller's thread */
    char error[320];
};

/* Add one socket's counters to out (the stats). */
void eddy__counters_add(const eddy__counters *n, eddy_stats *out);
/* The listeners whose handler has metrics(), in order, each held (release
 * each with eddy__listener_release): a fresh array of *n, NULL when there
 * is none or no memory.  Any thread, while a reload may swap the list. */
eddy_listener **eddy__server_metric_listeners(const eddy_server *s, unsigned *n);
/* Reloads so far: applied (failed == 0) or refused. */
unsigned long long eddy__server_reloads(const eddy_server *s, int failed);

#endif
