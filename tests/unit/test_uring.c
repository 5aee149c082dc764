/* tests/unit/test_uring.c - the io_uring fast path (EDDY_POLLER=uring with
 * EDDY_URING_FAST): the poller's recv and SEND on real sockets (a recv
 * stopped and armed again, the peer's FIN, a SEND the socket takes only
 * part of), and a connection on it through the real connection code
 * (echo pausing at high water stops the recv, resumes below low water,
 * every byte in order).  Other builds: the suite has no test. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn_fixture.h"
#include "poller.h"
#include "suites.h"

#ifdef EDDY_URING_FAST
#include "builtin.h"

/* The events of one wait of up to wait_ms, into ev (16 at most). */
static int wait_events(eddy__poller *p, eddy__poll_event *ev, long wait_ms)
{
    int n = eddy__poller_wait(p, ev, 16, wait_ms);
    ck_assert_int_ge(n, 0);
    return n;
}

/* The first event of kind in one wait of up to 1 s (NULL: none). */
static const eddy__poll_event *wait_for(eddy__poller *p, eddy__poll_event *ev, uint32_t kind)
{
    int n = wait_events(p, ev, 1000);
    for (int i = 0; i < n; i++)
        if (ev[i].flags & kind)
            return &ev[i];
    return NULL;
}

/* A poller taken by this thread, and sv[0] of a new socketpair watched
 * on it with EDDY__WATCH_RING (its first POLLOUT consumed); sndbuf > 0
 * shrinks its send buffer first. */
static eddy__poller *ring_socket(int sv[2], int *tag, int sndbuf)
{
    eddy__poller *p = eddy__poller_create();
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    if (sndbuf > 0)
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    eddy__poll_event ev[16];
    wait_events(p, ev, 0); /* this thread takes the ring */
    ck_assert(eddy__poller_taken(p));
    ck_assert_int_eq(eddy__poller_add(p, sv[0], EDDY__WATCH_OUT | EDDY__WATCH_RING, tag), 0);
    wait_events(p, ev, 0);
    return p;
}

START_TEST(recv_stops_resumes_and_reports_fin)
{
    int sv[2], tag;
    eddy__poller *p = ring_socket(sv, &tag, 0);
    eddy__poll_event ev[16];
    ck_assert_int_eq(write(sv[1], "hello", 5), 5);
    const eddy__poll_event *e = wait_for(p, ev, EDDY__RECVD);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_eq(e->ptr, &tag);
    ck_assert_int_eq(e->res, 5);
    ck_assert_mem_eq(e->data, "hello", 5);
    /* stopped: its end is reported, and what comes meanwhile waits */
    ck_assert_int_eq(eddy__poller_recv(p, sv[0], 0), 1);
    e = wait_for(p, ev, EDDY__RECVD);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->res, -ECANCELED);
    ck_assert_int_eq(eddy__poller_recv(p, sv[0], 0), 0); /* already stopped */
    ck_assert_int_eq(write(sv[1], "again", 5), 5);
    ck_assert_ptr_null(wait_for(p, ev, EDDY__RECVD));
    /* armed again: the bytes that waited, then the FIN */
    ck_assert_int_eq(eddy__poller_recv(p, sv[0], 1), 0);
    e = wait_for(p, ev, EDDY__RECVD);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->res, 5);
    ck_assert_mem_eq(e->data, "again", 5);
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
    e = wait_for(p, ev, EDDY__RECVD);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->res, 0);
    eddy__poller_close(p, sv[0]);
    close(sv[1]);
    eddy__poller_destroy(p);
}
END_TEST

/* A stop taken back before the recv ended: no end is reported, the recv
 * goes on. */
START_TEST(recv_stop_taken_back_goes_on)
{
    int sv[2], tag;
    eddy__poller *p = ring_socket(sv, &tag, 0);
    eddy__poll_event ev[16];
    ck_assert_int_eq(eddy__poller_recv(p, sv[0], 0), 1);
    ck_assert_int_eq(eddy__poller_recv(p, sv[0], 1), 0);
    ck_assert_ptr_null(wait_for(p, ev, EDDY__RECVD));
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    const eddy__poll_event *e = wait_for(p, ev, EDDY__RECVD);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->res, 1);
    eddy__poller_close(p, sv[0]);
    close(sv[1]);
    eddy__poller_destroy(p);
}
END_TEST

/* A SEND larger than the socket's room: it takes part (MSG_DONTWAIT, no
 * waiting in the kernel), then nothing (-EAGAIN), and POLLOUT comes once
 * the peer reads. */
START_TEST(send_partially_taken)
{
    int sv[2], tag;
    eddy__poller *p = ring_socket(sv, &tag, 4096);
    eddy__poll_event ev[16];
    static char big[1 << 20];
    memset(big, 'b', sizeof(big));
    ck_assert_int_eq(eddy__poller_send(p, sv[0], big, sizeof(big)), 0);
    const eddy__poll_event *e = wait_for(p, ev, EDDY__SENT);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_gt(e->res, 0);
    ck_assert_int_lt(e->res, (int)sizeof(big));
    ck_assert_int_eq(eddy__poller_send(p, sv[0], big, sizeof(big)), 0);
    e = wait_for(p, ev, EDDY__SENT);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->res, -EAGAIN);
    static char sink[1 << 20];
    while (read(sv[1], sink, sizeof(sink)) > 0)
        ;
    e = wait_for(p, ev, EDDY__WRITABLE);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_eq(e->ptr, &tag);
    eddy__poller_close(p, sv[0]);
    close(sv[1]);
    eddy__poller_destroy(p);
}
END_TEST

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* One turn of the loop, as eddy__loop_run serves a connection. */
static void turn(conn_fixture *f, long wait_ms)
{
    eddy__poll_event ev[16];
    eddy__conn_ring_submit(&f->loop);
    int n = eddy__poller_wait(f->loop.poller, ev, 16, f->loop.ready ? 0 : wait_ms);
    f->loop.now = (uint32_t)now_ms();
    for (int i = 0; i < n; i++) {
        eddy__handle *h = ev[i].ptr;
        if (h->fd < 0)
            continue;
        if (ev[i].flags & (EDDY__RECVD | EDDY__SENT))
            eddy__conn_ring_event((eddy_conn *)h, &ev[i]);
        else if (h->kind == EDDY__KIND_CONN)
            eddy__conn_event((eddy_conn *)h, ev[i].flags);
    }
    eddy__loop_run_ready(&f->loop);
}

/* An echo connection on the ring: a peer that sends without reading
 * pauses it above high water, which stops its recv; once the peer reads,
 * it drains, reads on, and every byte comes back in order. */
START_TEST(echo_pauses_recv_at_high_water_and_resumes)
{
    eddy_params *kv;
    ck_assert_int_eq(eddy_params_new(&kv), 0);
    ck_assert_int_eq(eddy_params_add(kv, "prefix", "", 1), 0);
    conn_fixture f;
    conn_fixture_setup(&f, eddy_echo_handler(), kv);
    eddy_params_free(kv);
    ck_assert_int_eq(eddy_listener_set_water_marks(f.listener, 64 * 1024, 16 * 1024), 0);
    turn(&f, 0); /* the loop's thread takes the ring */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    eddy_conn *c = eddy__loop_open_local(&f.loop, f.listener, sv[0]);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->ring & (EDDY__RING_READ | EDDY__RING_WRITE),
                      EDDY__RING_READ | EDDY__RING_WRITE);
    static char in[1 << 20], out[1 << 20];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (char)(i * 7 + i / 251);
    size_t sent = 0, got = 0;
    int paused = 0;
    long deadline = now_ms() + 60000;
    while (!paused && now_ms() < deadline) { /* send, never read */
        ssize_t n = write(sv[1], in + sent, sizeof(in) - sent > 4096 ? 4096 : sizeof(in) - sent);
        if (n > 0)
            sent += (size_t)n;
        turn(&f, 10);
        paused = (c->h.flags & EDDY__CONN_PAUSED) && !(c->ring & EDDY__RING_RECV);
    }
    ck_assert_msg(paused, "never paused its recv (%zu bytes sent)", sent);
    ck_assert_uint_gt(eddy_conn_queued(c), 64 * 1024);
    while (got < sizeof(in) && now_ms() < deadline) { /* now read, and send the rest */
        if (sent < sizeof(in)) {
            ssize_t n = write(sv[1], in + sent, sizeof(in) - sent);
            if (n > 0)
                sent += (size_t)n;
        }
        ssize_t n = read(sv[1], out + got, sizeof(out) - got);
        if (n > 0)
            got += (size_t)n;
        turn(&f, 10);
    }
    ck_assert_uint_eq(got, sizeof(in));
    ck_assert(memcmp(in, out, sizeof(in)) == 0);
    ck_assert_int_eq(c->h.flags & EDDY__CONN_PAUSED, 0);
    ck_assert_uint_ne(c->ring & EDDY__RING_RECV, 0);
    close(sv[1]);
    conn_fixture_teardown(&f);
}
END_TEST
#endif

Suite *uring_suite(void)
{
    Suite *s = suite_create("uring");
    TCase *tc = tcase_create("fast path");
#ifdef EDDY_URING_FAST
    tcase_add_test(tc, recv_stops_resumes_and_reports_fin);
    tcase_add_test(tc, recv_stop_taken_back_goes_on);
    tcase_add_test(tc, send_partially_taken);
    tcase_add_test(tc, echo_pauses_recv_at_high_water_and_resumes);
#endif
    suite_add_tcase(s, tc);
    return s;
}
