/* tests/unit/conn_fixture.h - one connection on a worker's loop, its peer
 * the other end of a socketpair: the real connection code, no network,
 * no thread.  For the suites that drive a connection by hand. */
#ifndef EDDY_TEST_CONN_FIXTURE_H
#define EDDY_TEST_CONN_FIXTURE_H

#include "conn.h"
#include "server.h"

typedef struct conn_fixture {
    eddy_server *server;
    eddy_listener *listener;
    eddy__loop loop;
    eddy_conn *conn;
    int peer; /* -1 once a test closed it */
} conn_fixture;

/* A server with one listener of handler h (parameters p, or NULL), its
 * first worker's loop, and a connection on it as accepting would open it. */
void conn_fixture_setup(conn_fixture *f, const eddy_handler *h, eddy_params *p);
/* Close the connections, then free the loop and the server. */
void conn_fixture_teardown(conn_fixture *f);

#endif
