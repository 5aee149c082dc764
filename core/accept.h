/* core/accept.h - the accepting side of a worker (accept.c): listening
 * sockets, accepts, admission. */
#ifndef EDDY_CORE_ACCEPT_H
#define EDDY_CORE_ACCEPT_H

#include "loop.h"

/* Open this worker's socket for every listener of the list.  Negative
 * errno and the listener that failed in *failed. */
int eddy__accept_open_listeners(eddy__loop *l, eddy_listener *listeners, eddy_listener **failed);
/* Name s after the address ls serves and show it to the stats: once, on
 * the worker's (or, before the workers start, the starter's) thread. */
void eddy__accept_publish(eddy__loop *l, eddy__lsock *s, const eddy_listener *ls);
/* A reload (generation gen) on this worker's own thread: each socket of a
 * listener that goes on passes to its successor, the sockets of removed
 * listeners close and retire (their connections stay until they end), and
 * the new listeners' sockets join. */
void eddy__accept_reload(eddy__loop *l, unsigned gen);
/* Free each retired socket whose last connection has ended: its counters
 * kept (eddy__loop_unpublish), its hold on its listener dropped (the last
 * one runs the handler's fini).  The loop calls it at the end of a turn
 * while l->nretired. */
void eddy__accept_retire(eddy__loop *l);
/* Accept on s up to a budget, then queue s for the next turn. */
void eddy__accept_some(eddy__loop *l, eddy__lsock *s);
/* Out of fds, accepting paused: try again (a close freed one, or the
 * retry tick). */
void eddy__accept_resume(eddy__loop *l);
/* Stop accepting: close every listening socket of the worker. */
void eddy__accept_close_all(eddy__loop *l);
/* The worker starts: its sockets' handlers get their per-worker state. */
void eddy__accept_begin(eddy__loop *l);

/* A listener with proxy_protocol: the header comes before anything else,
 * and names the client that max_connections_per_ip counts.  Returns 1 when
 * it has been taken (the handler's open() has run), 0 while it is
 * incomplete, -1 when the connection was closed (malformed header, or its
 * client over the limit; counted and logged). */
int eddy__accept_proxy_header(eddy_conn *c);
/* A connection ended: give back its places (counted: the address holding
 * a per-IP place, or NULL), and resume accepting if it was paused. */
void eddy__accept_release(eddy__loop *l, const struct sockaddr_storage *counted);

#endif
