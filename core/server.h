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
#include "pool.h"

enum { EDDY__RUN, EDDY__DRAIN, EDDY__STOP_NOW };

struct eddy_server {
    int workers; /* asked for; 0 = one per online CPU */
    int nloops;
    atomic_uint max_connections;
    atomic_uint max_connections_per_ip; /* 0: no limit */
    eddy__iplimit iplimit;
    int pool_threads;
    eddy__pool pool;
    eddy_listener *listeners;
    eddy__loop *loops;
    pthread_t *threads;
    atomic_uint open; /* connections open over all workers */
    atomic_int stopping;  /* EDDY__RUN, EDDY__DRAIN or EDDY__STOP_NOW */
    atomic_int running;   /* workers still in their loop */
    long shutdown_timeout_ms;
    /* A reload hands each worker the new listeners (reload_list) and waits
     * until every worker has swapped its sockets (reload_acks). */
    eddy_listener *reload_list;
    atomic_uint reload_gen, reload_acks;
    atomic_ullong reloads_ok, reloads_failed; /* eddy_server_reload's outcomes */
    int started;
    char error[320];
};

/* Add one socket's counters to out (the stats). */
void eddy__counters_add(const eddy__counters *n, eddy_stats *out);
/* Reloads so far: applied (failed == 0) or refused. */
unsigned long long eddy__server_reloads(const eddy_server *s, int failed);

#endif
