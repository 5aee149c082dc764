/* tests/unit/test_connect.c - outgoing connections (core/connect.c): a
 * worker's loop driven by hand, turn by turn, connecting to sockets this
 * test listens on (127.0.0.1 and a Unix path), as a handler would from one
 * of its connections.  No timing is asserted: every wait is a loop of
 * turns bounded by a generous deadline. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "builtin.h"
#include "conn.h"
#include "conn_fixture.h"
#include "connect.h"
#include "eddy/eddy.h"
#include "server.h"
#include "suites.h"

typedef conn_fixture fixture; /* its conn: the accepted connection a handler connects from */

/* What the client callbacks saw. */
static struct seen {
    int connected, err, closes, order_ok;
    char data[256];
    size_t len;
    int close_in_connected; /* connected(c, 0) closes at once */
} seen;

static void on_connected(eddy_conn *c, int err)
{
    seen.order_ok = seen.connected == 0 && seen.closes == 0;
    seen.connected++;
    seen.err = err;
    if (!err && seen.close_in_connected)
        eddy_close(c);
}

static size_t on_data(eddy_conn *c, const char *buf, size_t len)
{
    (void)c;
    size_t n = len < sizeof(seen.data) - seen.len ? len : sizeof(seen.data) - seen.len;
    memcpy(seen.data + seen.len, buf, n);
    seen.len += n;
    return len;
}

static void on_close(eddy_conn *c)
{
    ck_assert_ptr_eq(eddy_conn_data(c), &seen);
    seen.closes++;
}

static const eddy_client client = {
    .connected = on_connected,
    .data = on_data,
    .close = on_close,
};

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void setup(fixture *f)
{
    memset(&seen, 0, sizeof(seen));
    conn_fixture_setup(f, eddy_echo_handler(), NULL);
    f->loop.now = (uint32_t)now_ms();
}

static void teardown(fixture *f)
{
    conn_fixture_teardown(f);
}

/* One turn of the loop, as eddy__loop_run serves it. */
static void turn(fixture *f, long wait_ms)
{
    eddy__poll_event ev[16];
    int n = eddy__poller_wait(f->loop.poller, ev, 16, f->loop.ready ? 0 : wait_ms);
    f->loop.now = (uint32_t)now_ms();
    for (int i = 0; i < n; i++) {
        eddy__handle *h = ev[i].ptr;
        if (h->kind == EDDY__KIND_CONN && h->fd >= 0)
            eddy__conn_event((eddy_conn *)h, ev[i].flags);
        else if (h->kind == EDDY__KIND_CONNECTING && h->fd >= 0)
            eddy__connect_event((eddy_conn *)h, ev[i].flags);
    }
    eddy__timers_run(&f->loop.timers, f->loop.now);
    eddy__loop_run_ready(&f->loop);
}

/* Turn until *flag is non-zero (bounded: 60 s). */
static void turn_until(fixture *f, const int *flag)
{
    long deadline = now_ms() + 60000;
    while (!*flag && now_ms() < deadline)
        turn(f, 10);
    ck_assert_int_ne(*flag, 0);
}

/* A TCP socket listening on 127.0.0.1 with the given backlog, and its
 * address. */
static int listen_tcp(int backlog, eddy_addr *a)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, backlog), 0);
    a->len = sizeof(a->ss);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a->ss, &a->len), 0);
    return fd;
}

/* Accept one connection, waiting for it while the loop turns. */
static int accept_turning(fixture *f, int lfd)
{
    long deadline = now_ms() + 60000;
    int fd;
    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) < 0 && now_ms() < deadline)
        turn(f, 10);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static size_t outgoing_count(const eddy__loop *l, size_t offset)
{
    for (const eddy__lsock *s = eddy__loop_stats_first(l); s; s = eddy__loop_stats_next(s))
        if (strcmp(s->label, "outgoing") == 0) {
            eddy_stats st = {0};
            eddy__counters_add(&s->n, &st);
            return (size_t)*(const unsigned long long *)((const char *)&st + offset);
        }
    return (size_t)-1;
}

START_TEST(addresses_are_numeric)
{
    eddy_addr a;
    ck_assert_int_eq(eddy_addr_parse("192.0.2.1:80", &a), 0);
    ck_assert_int_eq(a.ss.ss_family, AF_INET);
    ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(eddy_addr_parse("[::1]:8080", &a), 0);
    ck_assert_int_eq(a.ss.ss_family, AF_INET6);
    ck_assert_int_eq(ntohs(((struct sockaddr_in6 *)&a.ss)->sin6_port), 8080);
    ck_assert_int_eq(eddy_addr_parse("tcp:127.0.0.1:1", &a), 0);
    ck_assert_int_eq(eddy_addr_parse("unix:/run/x.sock", &a), 0);
    ck_assert_int_eq(a.ss.ss_family, AF_UNIX);
    a.ss.ss_family = AF_UNSPEC;
    static const char *const bad[] = {"localhost:80", "192.0.2.1:0", "192.0.2.1", "[::1]:0",
                                      "udp:192.0.2.1:53", "unix:", "", "192.0.2.1:65536",
                                      "example.com:80", "[::1]", NULL};
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(eddy_addr_parse(bad[i], &a) == -EINVAL, "%s accepted", bad[i]);
    ck_assert_int_eq(a.ss.ss_family, AF_UNSPEC); /* untouched on error */
    ck_assert_int_eq(eddy_addr_parse(NULL, &a), -EINVAL);
}
END_TEST

START_TEST(bad_arguments_refused_at_once)
{
    fixture f;
    setup(&f);
    eddy_addr a;
    ck_assert_int_eq(eddy_addr_parse("127.0.0.1:9", &a), 0);
    eddy_conn *c = NULL;
    static const eddy_client no_data = {.connected = on_connected};
    static const eddy_client no_connected = {.data = on_data};
    ck_assert_int_eq(eddy_connect(f.conn, &a, NULL, NULL, 0, &c), -EINVAL);
    ck_assert_int_eq(eddy_connect(f.conn, &a, &no_data, NULL, 0, &c), -EINVAL);
    ck_assert_int_eq(eddy_connect(f.conn, &a, &no_connected, NULL, 0, &c), -EINVAL);
    ck_assert_int_eq(eddy_connect(f.conn, &a, &client, NULL, -1, &c), -EINVAL);
    ck_assert_int_eq(eddy_connect(f.conn, &a, &client, NULL, 86400001, &c), -EINVAL);
    ck_assert_int_eq(eddy_connect(NULL, &a, &client, NULL, 0, &c), -EINVAL);
    ck_assert_int_eq(eddy_connect(f.conn, NULL, &client, NULL, 0, &c), -EINVAL);
    ck_assert_int_eq(eddy_connect(f.conn, &a, &client, NULL, 0, NULL), -EINVAL);
    eddy_addr unspec = {.len = sizeof(struct sockaddr_in)};
    ck_assert_int_eq(eddy_connect(f.conn, &unspec, &client, NULL, 0, &c), -EAFNOSUPPORT);
    eddy_addr nopath; /* a Unix path nobody listens on fails at once */
    ck_assert_int_eq(eddy_addr_parse("unix:/nonexistent/eddy-test.sock", &nopath), 0);
    ck_assert_int_eq(eddy_connect(f.conn, &nopath, &client, NULL, 0, &c), -ENOENT);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(seen.connected + seen.closes, 0);
    ck_assert_int_eq(atomic_load(&f.server->shared.open), 1); /* only from */
    teardown(&f);
}
END_TEST

/* Bytes sent before the connect completes wait for it; the answer comes
 * to data(); eddy_close() ends it; the origin listener is held exactly as
 * long as the connection lives. */
START_TEST(connects_sends_and_closes)
{
    fixture f;
    setup(&f);
    eddy_addr a;
    int lfd = listen_tcp(8, &a);
    int refs = atomic_load(&f.listener->refs);
    eddy_conn *c;
    ck_assert_int_eq(eddy_connect(f.conn, &a, &client, &seen, 5000, &c), 0);
    ck_assert_int_eq(seen.connected, 0); /* never inside eddy_connect */
    ck_assert_int_eq(eddy_send(c, "ping\n", 5), 0);
    ck_assert_int_gt(atomic_load(&f.listener->refs), refs);
    ck_assert_ptr_eq(eddy_conn_state(c), eddy_conn_state(f.conn));
    char peer[64];
    eddy_conn_peer(c, peer, sizeof(peer));
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%d", ntohs(((struct sockaddr_in *)&a.ss)->sin_port));
    ck_assert_str_eq(peer, want);
    turn_until(&f, &seen.connected);
    ck_assert_int_eq(seen.err, 0);
    ck_assert(seen.order_ok);
    int b = accept_turning(&f, lfd);
    char buf[16];
    ssize_t n;
    long deadline = now_ms() + 60000;
    while ((n = read(b, buf, sizeof(buf))) < 0 && now_ms() < deadline)
        turn(&f, 10);
    ck_assert_int_eq(n, 5);
    ck_assert_mem_eq(buf, "ping\n", 5);
    ck_assert_int_eq(write(b, "pong\n", 5), 5);
    while (seen.len < 5 && now_ms() < deadline)
        turn(&f, 10);
    ck_assert_uint_eq(seen.len, 5);
    ck_assert_mem_eq(seen.data, "pong\n", 5);
    eddy_close(c); /* from outside its own callbacks: acted on in the turn */
    turn(&f, 0);
    ck_assert_int_eq(seen.closes, 1);
    ck_assert_int_eq(atomic_load(&f.listener->refs), refs);
    ck_assert_uint_eq(outgoing_count(&f.loop, offsetof(eddy_stats, accepted)), 1);
    ck_assert_uint_eq(outgoing_count(&f.loop, offsetof(eddy_stats, open)), 0);
    ck_assert_uint_eq(outgoing_count(&f.loop, offsetof(eddy_stats, bytes_in)), 5);
    ck_assert_int_eq(read(b, buf, sizeof(buf)), 0); /* the backend sees the FIN */
    ck_assert_int_eq(atomic_load(&f.server->shared.open), 1);
    close(b);
    close(lfd);
    teardown(&f);
}
END_TEST

START_TEST(refused)
{
    fixture f;
    setup(&f);
    eddy_addr a;
    close(listen_tcp(1, &a)); /* a port nobody listens on now */
    eddy_conn *c;
    int rc = eddy_connect(f.conn, &a, &client, &seen, 5000, &c);
    if (rc == 0) { /* loopback usually reports it later */
        turn_until(&f, &seen.closes);
        ck_assert_int_eq(seen.connected, 1);
        ck_assert_int_eq(seen.err, -ECONNREFUSED);
        ck_assert(seen.order_ok);
        ck_assert_uint_eq(outgoing_count(&f.loop, offsetof(eddy_stats, errors_io)), 1);
    } else {
        ck_assert_int_eq(rc, -ECONNREFUSED);
    }
    ck_assert_int_eq(seen.closes, rc == 0);
    ck_assert_int_eq(atomic_load(&f.server->shared.open), 1);
    teardown(&f);
}
END_TEST

/* A listener with backlog 0 takes one connection into its queue; while
 * nobody accepts it, Linux drops the SYNs of the next ones: their connect
 * stays under way until our timeout. */
static int full_backlog(eddy_addr *a, int *filler)
{
    int lfd = listen_tcp(0, a);
    *filler = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(*filler, (struct sockaddr *)&a->ss, a->len), 0);
    return lfd;
}

START_TEST(connect_timeout)
{
    fixture f;
    setup(&f);
    eddy_addr a;
    int filler, lfd = full_backlog(&a, &filler);
    eddy_conn *c;
    ck_assert_int_eq(eddy_connect(f.conn, &a, &client, &seen, 50, &c), 0);
    turn_until(&f, &seen.closes);
    ck_assert_int_eq(seen.connected, 1);
    ck_assert_int_eq(seen.err, -ETIMEDOUT);
    ck_assert(seen.order_ok);
    ck_assert_uint_eq(outgoing_count(&f.loop, offsetof(eddy_stats, timeouts)), 1);
    ck_assert_uint_eq(f.loop.timers.n, 0);
    close(filler);
    close(lfd);
    teardown(&f);
}
END_TEST

/* eddy_close() while connecting, nothing queued: cancelled.  And a
 * connect still under way when the worker stops: cancelled too. */
START_TEST(cancelled)
{
    fixture f;
    setup(&f);
    eddy_addr a;
    int filler, lfd = full_backlog(&a, &filler);
    eddy_conn *c;
    ck_assert_int_eq(eddy_connect(f.conn, &a, &client, &seen, 0, &c), 0);
    eddy_close(c);
    turn(&f, 0);
    ck_assert_int_eq(seen.connected, 1);
    ck_assert_int_eq(seen.err, -ECANCELED);
    ck_assert_int_eq(seen.closes, 1);
    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(eddy_connect(f.conn, &a, &client, &seen, 60000, &c), 0);
    ck_assert_uint_eq(f.loop.timers.n, 1);
    eddy__loop_close_conns(&f.loop);
    ck_assert_int_eq(seen.connected, 1);
    ck_assert_int_eq(seen.err, -ECANCELED);
    ck_assert_int_eq(seen.closes, 1);
    ck_assert_uint_eq(f.loop.timers.n, 0);
    close(filler);
    close(lfd);
    teardown(&f);
}
END_TEST

/* A Unix socket connects at once; connected() still comes from the loop.
 * A close in connected() ends it. */
START_TEST(unix_socket)
{
    fixture f;
    setup(&f);
    char path[] = "/tmp/eddy-connect-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(path));
    char sock[128], text[140];
    snprintf(sock, sizeof(sock), "%s/b.sock", path);
    snprintf(text, sizeof(text), "unix:%s", sock);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, sock);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    eddy_addr a;
    ck_assert_int_eq(eddy_addr_parse(text, &a), 0);
    seen.close_in_connected = 1;
    eddy_conn *c;
    ck_assert_int_eq(eddy_connect(f.conn, &a, &client, &seen, 1000, &c), 0);
    ck_assert_int_eq(seen.connected, 0);
    turn_until(&f, &seen.closes);
    ck_assert_int_eq(seen.connected, 1);
    ck_assert_int_eq(seen.err, 0);
    close(lfd);
    unlink(sock);
    rmdir(path);
    teardown(&f);
}
END_TEST

/* The backend sends its last words and closes: data(), then close(). */
START_TEST(backend_closes)
{
    fixture f;
    setup(&f);
    eddy_addr a;
    int lfd = listen_tcp(8, &a);
    eddy_conn *c;
    ck_assert_int_eq(eddy_connect(f.conn, &a, &client, &seen, 5000, &c), 0);
    turn_until(&f, &seen.connected);
    int b = accept_turning(&f, lfd);
    ck_assert_int_eq(write(b, "bye\n", 4), 4);
    close(b);
    turn_until(&f, &seen.closes);
    ck_assert_uint_eq(seen.len, 4);
    ck_assert_mem_eq(seen.data, "bye\n", 4);
    close(lfd);
    teardown(&f);
}
END_TEST

/* The backend resets while a large write is queued for it: the output is
 * dropped, close() comes once; and the origin's water marks apply (the
 * connection stops reading above high water). */
START_TEST(backend_resets_mid_write)
{
    fixture f;
    setup(&f);
    ck_assert_int_eq(eddy_listener_set_water_marks(f.listener, 64 * 1024, 16 * 1024), 0);
    eddy_addr a;
    int lfd = listen_tcp(8, &a);
    eddy_conn *c;
    ck_assert_int_eq(eddy_connect(f.conn, &a, &client, &seen, 5000, &c), 0);
    turn_until(&f, &seen.connected);
    int b = accept_turning(&f, lfd);
    static char chunk[256 * 1024];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 32 && !(c->h.flags & EDDY__CONN_PAUSED); i++)
        ck_assert_int_eq(eddy_send(c, chunk, sizeof(chunk)), 0);
    ck_assert_int_ne(c->h.flags & EDDY__CONN_PAUSED, 0); /* over the origin's high water */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    ck_assert_int_eq(setsockopt(b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(b); /* a reset */
    turn_until(&f, &seen.closes);
    ck_assert_int_eq(seen.closes, 1);
    ck_assert_uint_eq(outgoing_count(&f.loop, offsetof(eddy_stats, errors_io)), 1);
    close(lfd);
    teardown(&f);
}
END_TEST

Suite *connect_suite(void)
{
    Suite *s = suite_create("connect");
    TCase *tc = tcase_create("connect");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, addresses_are_numeric);
    tcase_add_test(tc, bad_arguments_refused_at_once);
    tcase_add_test(tc, connects_sends_and_closes);
    tcase_add_test(tc, refused);
    tcase_add_test(tc, connect_timeout);
    tcase_add_test(tc, cancelled);
    tcase_add_test(tc, unix_socket);
    tcase_add_test(tc, backend_closes);
    tcase_add_test(tc, backend_resets_mid_write);
    suite_add_tcase(s, tc);
    return s;
}
