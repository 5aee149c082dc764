/* tests/unit/test_echo.c - the echo handler against a connection whose
 * peer is the other end of a socketpair: the real eddy_send/eddy_close
 * code, no network. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "builtin.h"
#include "conn.h"
#include "conn_fixture.h"
#include "eddy/eddy.h"
#include "server.h"
#include "suites.h"
#include "timer.h"

typedef conn_fixture fixture;

/* A connection on an echo listener with the given parameters (NULL-ended
 * name/value pairs). */
static void setup(fixture *f, const char *const *kv)
{
    eddy_params *p;
    ck_assert_int_eq(eddy_params_new(&p), 0);
    for (; kv && kv[0]; kv += 2)
        ck_assert_int_eq(eddy_params_add(p, kv[0], kv[1], 1), 0);
    conn_fixture_setup(f, eddy_echo_handler(), p);
    eddy_params_free(p);
}

static void teardown(fixture *f)
{
    conn_fixture_teardown(f);
}

static size_t feed(fixture *f, const char *data, size_t len)
{
    return eddy__conn_listener(f->conn)->handler->data(f->conn, data, len);
}

static ssize_t drain(int fd, char *out, size_t cap)
{
    size_t got = 0;
    ssize_t n;
    while (got < cap && (n = read(fd, out + got, cap - got)) > 0)
        got += (size_t)n;
    return (ssize_t)got;
}

START_TEST(replies_with_prefix)
{
    fixture f;
    setup(&f, NULL);
    ck_assert_uint_eq(feed(&f, "hello", 5), 5);
    char out[64];
    ck_assert_int_eq(drain(f.peer, out, sizeof(out)), 15);
    ck_assert_mem_eq(out, "Received: hello", 15);
    ck_assert_int_eq(f.conn->h.flags & EDDY__CONN_CLOSING, 0);
    teardown(&f);
}
END_TEST

START_TEST(empty_prefix_is_pure_echo)
{
    static const char *const kv[] = {"prefix", "", NULL};
    fixture f;
    setup(&f, kv);
    char in[300], out[400];
    for (int i = 0; i < 300; i++)
        in[i] = (char)i;
    ck_assert_uint_eq(feed(&f, in, 300), 300);
    ck_assert_int_eq(drain(f.peer, out, sizeof(out)), 300);
    ck_assert_mem_eq(out, in, 300);
    teardown(&f);
}
END_TEST

START_TEST(custom_prefix)
{
    static const char *const kv[] = {"prefix", ">> ", NULL};
    fixture f;
    setup(&f, kv);
    feed(&f, "a", 1);
    feed(&f, "bc", 2);
    char out[64];
    ck_assert_int_eq(drain(f.peer, out, sizeof(out)), 9);
    ck_assert_mem_eq(out, ">> a>> bc", 9);
    teardown(&f);
}
END_TEST

START_TEST(close_after_reply_is_the_seed)
{
    static const char *const kv[] = {"close_after_reply", "on", NULL};
    fixture f;
    setup(&f, kv);
    char in[2000], out[2100];
    memset(in, 'z', sizeof(in));
    ck_assert_uint_eq(feed(&f, in, sizeof(in)), 1024); /* one recv(1024) */
    ck_assert_int_ne(f.conn->h.flags & EDDY__CONN_CLOSING, 0);
    ck_assert_int_eq(drain(f.peer, out, sizeof(out)), 10 + 1024);
    ck_assert_mem_eq(out, "Received: ", 10);
    ck_assert_mem_eq(out + 10, in, 1024);
    /* nothing more may be sent once closing */
    ck_assert_int_eq(eddy_send(f.conn, "x", 1), -EPIPE);
    teardown(&f);
}
END_TEST

START_TEST(queues_what_the_socket_refuses_and_pauses)
{
    static const char *const kv[] = {"prefix", "", NULL};
    fixture f;
    setup(&f, kv);
    ck_assert_int_eq(eddy_listener_set_water_marks(f.listener, 256 * 1024, 64 * 1024), 0);
    int small = 4096;
    setsockopt(f.conn->h.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    static char chunk[64 * 1024];
    memset(chunk, 'q', sizeof(chunk));
    size_t sent = 0;
    while (!(f.conn->h.flags & EDDY__CONN_PAUSED) && sent < 8 * sizeof(chunk)) {
        ck_assert_uint_eq(feed(&f, chunk, sizeof(chunk)), sizeof(chunk));
        sent += sizeof(chunk);
    }
    ck_assert_int_ne(f.conn->h.flags & EDDY__CONN_PAUSED, 0);
    ck_assert_uint_gt(eddy__buf_len(f.conn->out), 256 * 1024);
    /* the peer reads everything: every byte arrives, in order */
    static char out[8 * 64 * 1024];
    size_t got = 0;
    while (got < sent) {
        ssize_t n = read(f.peer, out + got, sizeof(out) - got);
        if (n > 0)
            got += (size_t)n;
        else
            eddy__conn_event(f.conn, EDDY__WRITABLE); /* the loop's flush on a writable edge */
    }
    ck_assert_uint_eq(got, sent);
    static char expect[sizeof(out)];
    memset(expect, 'q', got);
    ck_assert(memcmp(out, expect, got) == 0);
    ck_assert_uint_eq(eddy__buf_len(f.conn->out), 0);
    ck_assert_int_eq(f.conn->h.flags & EDDY__CONN_PAUSED, 0);
    teardown(&f);
}
END_TEST

static void tick(eddy_conn *c, void *arg)
{
    int *fired = arg;
    (*fired)++;
    eddy_send(c, "tick", 4);
    if (*fired == 2)
        eddy_close(c);
}

START_TEST(timers_fire_in_order_and_close)
{
    fixture f;
    setup(&f, NULL);
    int a = 0, b = 0;
    eddy_timer *ta = eddy_timer_new(f.conn, tick, &a);
    eddy_timer *tb = eddy_timer_new(f.conn, tick, &b);
    eddy_timer *tc = eddy_timer_new(f.conn, tick, &b);
    ck_assert_int_eq(eddy_timer_start(ta, 30), 0);
    ck_assert_int_eq(eddy_timer_start(tb, 10), 0);
    ck_assert_int_eq(eddy_timer_start(tc, 20), 0);
    ck_assert_int_eq(eddy_timer_start(ta, -1), -EINVAL);
    eddy_timer_stop(tc); /* stopped: never fires */
    f.loop.now += 5;
    ck_assert_int_eq(eddy__timers_run(&f.loop.timers, f.loop.now), 5); /* tb due in 5 ms */
    ck_assert_int_eq(a + b, 0);
    f.loop.now += 10;
    ck_assert_int_eq(eddy__timers_run(&f.loop.timers, f.loop.now), 15); /* tb fired; ta in 15 */
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(eddy_timer_start(tb, 1), 0); /* restart */
    f.loop.now += 20;
    ck_assert_int_eq(eddy__timers_run(&f.loop.timers, f.loop.now), -1); /* tb (b=2: closes) then ta */
    ck_assert_int_eq(b, 2);
    char out[16];
    ck_assert_int_eq(drain(f.peer, out, sizeof(out)), 8);
    ck_assert_mem_eq(out, "ticktick", 8);
    ck_assert_int_lt(f.conn->h.fd, 0); /* closed by the second tick: its timers are gone */
    ck_assert_int_eq(a, 0);
    ck_assert_uint_eq(f.loop.timers.n, 0);
    teardown(&f);
}
END_TEST

/* Every error eddy_send/eddy_sendv documents, on a live connection. */
START_TEST(send_error_returns)
{
    fixture f;
    setup(&f, NULL);
    struct iovec one = {.iov_base = "x", .iov_len = 1};
    ck_assert_int_eq(eddy_sendv(f.conn, &one, -1), -EINVAL);
    ck_assert_int_eq(eddy_sendv(f.conn, &one, 0), 0); /* nothing: fine */
    /* Past 1 GiB queued (the peer reads nothing): refused before a byte of
     * the source past what the socket took is read; the pages are never
     * touched but by that write. */
    size_t len = ((size_t)1 << 30) + ((size_t)16 << 20);
    void *zeros = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ck_assert_ptr_ne(zeros, MAP_FAILED);
    ck_assert_int_eq(eddy_send(f.conn, zeros, len), -ENOBUFS);
    munmap(zeros, len);
    ck_assert_int_ne(f.conn->h.flags & EDDY__CONN_FAILED, 0); /* the loop closes it */
    ck_assert_int_eq(eddy_send(f.conn, "x", 1), -EPIPE);
    teardown(&f);
    setup(&f, NULL);
    eddy_close(f.conn);
    ck_assert_int_eq(eddy_send(f.conn, "x", 1), -EPIPE);
    ck_assert_int_eq(eddy_sendv(f.conn, &one, -1), -EINVAL);
    teardown(&f);
}
END_TEST

/* A peer gone before a write: eddy_send() and eddy_sendv() of several
 * buffers return -EPIPE and the connection fails, even in a program that
 * does not ignore SIGPIPE (an embedder's: the writes use MSG_NOSIGNAL). */
START_TEST(peer_gone_is_epipe_not_sigpipe)
{
    void (*before)(int) = signal(SIGPIPE, SIG_DFL);
    struct iovec two[2] = {{.iov_base = "a", .iov_len = 1}, {.iov_base = "b", .iov_len = 1}};
    for (int iovcnt = 1; iovcnt <= 2; iovcnt++) {
        fixture f;
        setup(&f, NULL);
        close(f.peer);
        f.peer = -1;
        ck_assert_int_eq(eddy_sendv(f.conn, two, iovcnt), -EPIPE);
        ck_assert_int_ne(f.conn->h.flags & EDDY__CONN_FAILED, 0); /* the loop closes it */
        ck_assert_int_eq(eddy_conn_queued(f.conn), 0);             /* nothing kept for it */
        teardown(&f);
    }
    signal(SIGPIPE, before);
}
END_TEST

static void never(eddy_conn *c, void *arg)
{
    (void)c;
    (void)arg;
    ck_abort_msg("a timer that was never started fired");
}

/* eddy_timer_new and eddy_timer_start refuse what handler.h says. */
START_TEST(timer_error_returns)
{
    fixture f;
    setup(&f, NULL);
    ck_assert_ptr_null(eddy_timer_new(f.conn, NULL, NULL));
    eddy_timer *t = eddy_timer_new(f.conn, never, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(eddy_timer_start(t, -1), -EINVAL);
    ck_assert_int_eq(eddy_timer_start(t, 86400001L), -EINVAL);
    eddy_timer_free(t);
    teardown(&f);
}
END_TEST

/* A connection on f's loop beside f->conn, its peer's fd in *peer. */
static eddy_conn *another(fixture *f, int *peer)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    eddy_conn *c = eddy__loop_open_local(&f->loop, f->listener, sv[0]);
    ck_assert_ptr_nonnull(c);
    *peer = sv[1];
    return c;
}

/* The active list, head to tail, must be exactly want[0..n), linked both
 * ways. */
static void assert_active(const eddy__lsock *s, eddy_conn *const *want, int n)
{
    const eddy_conn *prev = NULL, *c = s->active.head;
    for (int i = 0; i < n; i++, prev = c, c = c->next) {
        ck_assert_ptr_eq(c, want[i]);
        ck_assert_ptr_eq(c->prev, prev);
    }
    ck_assert_ptr_null(c);
    ck_assert_ptr_eq(s->active.tail, prev);
}

/* Without an idle_timeout nothing reads the order of the active list, so
 * activity leaves an active connection where it is (no list move per
 * read); once a reload gives the listener an idle_timeout, the next
 * expiry puts the list in order of last activity before it looks at its
 * head, and from then on activity moves a connection to the tail. */
START_TEST(active_list_ordered_only_under_idle_timeout)
{
    fixture f;
    setup(&f, NULL);
    eddy__lsock *s = f.loop.lsocks[0];
    eddy_conn *c[4];
    int peer[4];
    for (int i = 0; i < 4; i++) {
        c[i] = another(&f, &peer[i]);
        f.loop.now = 1000u + (uint32_t)i;
        eddy_conn_touch(c[i]); /* the first byte: fresh -> active, in order */
    }
    assert_active(s, c, 4);
    ck_assert_int_eq(s->unordered, 0);
    f.loop.now = 2000;
    eddy_conn_touch(c[0]); /* no idle_timeout: stamped, not moved */
    ck_assert_uint_eq(c[0]->last, 2000);
    assert_active(s, c, 4);
    ck_assert_int_eq(s->unordered, 1);
    eddy_conn_touch(c[3]); /* the tail stays the tail */
    ck_assert_uint_eq(c[3]->last, 2000);

    f.listener->idle_timeout_ms = 5000; /* as a reload would bring */
    f.loop.now = 2100;
    ck_assert_int_eq(eddy__conn_expire(s, f.loop.now), 5000 - (2100 - 0)); /* f.conn, fresh */
    eddy_conn *sorted[4] = {c[1], c[2], c[0], c[3]}; /* 1001, 1002, 2000, 2000 (stable) */
    assert_active(s, sorted, 4);
    ck_assert_int_eq(s->unordered, 0);
    eddy_conn_touch(c[1]); /* under an idle_timeout: to the tail */
    eddy_conn *moved[4] = {c[2], c[0], c[3], c[1]};
    assert_active(s, moved, 4);
    ck_assert_int_eq(s->unordered, 0);

    f.loop.now = 1002 + 5000; /* c[2] is the first to time out, alone */
    eddy__conn_expire(s, f.loop.now);
    ck_assert_int_lt(c[2]->h.fd, 0);
    eddy_conn *left[3] = {c[0], c[3], c[1]};
    assert_active(s, left, 3);
    for (int i = 0; i < 4; i++)
        close(peer[i]);
    teardown(&f);
}
END_TEST

START_TEST(bad_parameters_refused)
{
    eddy_server *s;
    eddy_params *p;
    ck_assert_int_eq(eddy_server_new(&s), 0);
    ck_assert_int_eq(eddy_params_new(&p), 0);
    ck_assert_int_eq(eddy_params_add(p, "close_after_reply", "sometimes", 7), 0);
    ck_assert_int_eq(eddy_server_listen(s, "127.0.0.1:0", eddy_echo_handler(), p, NULL), -EINVAL);
    ck_assert_str_eq(eddy_server_error(s),
                     "handler 'echo': close_after_reply: 'sometimes' is not on or off");
    eddy_params_free(p);
    ck_assert_int_eq(eddy_params_new(&p), 0);
    ck_assert_int_eq(eddy_params_add(p, "suffix", "x", 8), 0);
    ck_assert_int_eq(eddy_server_listen(s, "127.0.0.1:0", eddy_echo_handler(), p, NULL), -EINVAL);
    ck_assert_str_eq(eddy_server_error(s), "handler 'echo': suffix: unknown parameter for handler 'echo'");
    eddy_params_free(p);
    eddy_server_free(s);
}
END_TEST

Suite *echo_suite(void)
{
    Suite *s = suite_create("echo");
    TCase *tc = tcase_create("echo");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, replies_with_prefix);
    tcase_add_test(tc, empty_prefix_is_pure_echo);
    tcase_add_test(tc, custom_prefix);
    tcase_add_test(tc, close_after_reply_is_the_seed);
    tcase_add_test(tc, queues_what_the_socket_refuses_and_pauses);
    tcase_add_test(tc, bad_parameters_refused);
    tcase_add_test(tc, timers_fire_in_order_and_close);
    tcase_add_test(tc, send_error_returns);
    tcase_add_test(tc, peer_gone_is_epipe_not_sigpipe);
    tcase_add_test(tc, timer_error_returns);
    tcase_add_test(tc, active_list_ordered_only_under_idle_timeout);
    suite_add_tcase(s, tc);
    return s;
}
