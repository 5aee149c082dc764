/* tests/unit/conn_fixture.c - see conn_fixture.h. */
#include "conn_fixture.h"

#include <sys/socket.h>
#include <unistd.h>

#include "suites.h"

void conn_fixture_setup(conn_fixture *f, const eddy_handler *h, eddy_params *p)
{
    ck_assert_int_eq(eddy_server_new(&f->server), 0);
    ck_assert_int_eq(eddy_server_listen(f->server, "127.0.0.1:0", h, p, &f->listener), 0);
    ck_assert_int_eq(
        eddy__loop_init(&f->loop, f->server, &f->server->shared, f->server->listeners, 0), 0);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    f->conn = eddy__loop_open_local(&f->loop, f->listener, sv[0]);
    ck_assert_ptr_nonnull(f->conn);
    f->peer = sv[1];
}

void conn_fixture_teardown(conn_fixture *f)
{
    eddy__loop_close_conns(&f->loop);
    eddy__loop_destroy(&f->loop);
    eddy_server_free(f->server);
    if (f->peer >= 0)
        close(f->peer);
}
