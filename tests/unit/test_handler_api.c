/* tests/unit/test_handler_api.c - the calls of handler ABI 3 against a
 * connection whose peer is the other end of a socketpair, on a loop driven
 * by hand: references and posts from other threads. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "conn_fixture.h"
#include "eddy/eddy.h"
#include "ref.h"
#include "server.h"
#include "suites.h"

/* What epoll reports for a FIN: input and RDHUP, not HUP. */
#define FIN ((unsigned)POLLRDHUP)

/* What the test handler saw. */
typedef struct seen {
    int closes, drained, shutdowns, reads;
    int close_on_shutdown; /* peer_shutdown() answers "bye" and closes */
} seen;
static seen S;

static size_t h_data(eddy_conn *c, const char *buf, size_t len)
{
    S.reads++;
    eddy_send(c, buf, len);
    return len;
}

static void h_close(eddy_conn *c)
{
    (void)c;
    S.closes++;
}

static void h_drained(eddy_conn *c)
{
    S.drained++;
    ck_assert_uint_le(eddy_conn_queued(c), 16 * 1024); /* below low water */
}

static void h_peer_shutdown(eddy_conn *c)
{
    S.shutdowns++;
    if (S.close_on_shutdown) {
        ck_assert_int_eq(eddy_send(c, "bye", 3), 0);
        eddy_close(c);
    }
}

static eddy_handler H = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "t",
    .data = h_data,
    .close = h_close,
    .drained = h_drained,
    .peer_shutdown = h_peer_shutdown,
};

typedef conn_fixture fixture;

static void setup(fixture *f)
{
    memset(&S, 0, sizeof(S));
    H.flags = 0;
    conn_fixture_setup(f, &H, NULL);
    eddy__loop_self = &f->loop;
}

static void teardown(fixture *f)
{
    eddy__loop_close_conns(&f->loop);
    ck_assert_uint_eq(atomic_load(&f->loop.holds), 0); /* every reference was released */
    conn_fixture_teardown(f);
}

static size_t drain(int fd, char *out, size_t cap)
{
    size_t got = 0;
    ssize_t n;
    while (got < cap && (n = read(fd, out + got, cap - got)) > 0)
        got += (size_t)n;
    return got;
}

/* A post's record of its call: the connection it was given. */
typedef struct call_seen {
    int ran;
    eddy_conn *conn;
} call_seen;

static void record(eddy_conn *c, void *arg)
{
    call_seen *cs = arg;
    cs->ran++;
    cs->conn = c;
    if (c)
        eddy_send(c, "posted", 6);
}

START_TEST(post_runs_on_the_worker_with_the_connection)
{
    fixture f;
    setup(&f);
    eddy_ref *r = eddy_conn_ref(f.conn);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_eq(eddy_conn_ref(f.conn), r); /* one reference, two counts */
    eddy_ref_release(r);
    call_seen cs = {0};
    ck_assert_int_eq(eddy_ref_post(r, record, &cs), 0);
    ck_assert_int_eq(cs.ran, 0); /* not before the loop runs it */
    eddy__loop_run_posted(&f.loop);
    ck_assert_int_eq(cs.ran, 1);
    ck_assert_ptr_eq(cs.conn, f.conn);
    char out[16];
    ck_assert_uint_eq(drain(f.peer, out, sizeof(out)), 6);
    ck_assert_mem_eq(out, "posted", 6);
    ck_assert_int_eq(eddy_ref_post(r, NULL, NULL), -EINVAL);
    ck_assert_int_eq(eddy_ref_post(NULL, record, &cs), -EINVAL);
    eddy_ref_release(r);
    eddy_ref_release(NULL);
    teardown(&f);
}
END_TEST

START_TEST(post_to_a_closed_connection_gets_null)
{
    fixture f;
    setup(&f);
    eddy_ref *r = eddy_conn_ref(f.conn);
    call_seen before = {0}, after = {0};
    ck_assert_int_eq(eddy_ref_post(r, record, &before), 0); /* in flight at the close */
    eddy__conn_destroy(f.conn, "closed (test)");
    ck_assert_int_eq(S.closes, 1);
    ck_assert_ptr_null(eddy_conn_ref(f.conn)); /* closed: no new reference */
    ck_assert_int_eq(eddy_ref_post(r, record, &after), 0);
    eddy__loop_run_posted(&f.loop);
    ck_assert_int_eq(before.ran, 1);
    ck_assert_ptr_null(before.conn);
    ck_assert_int_eq(after.ran, 1);
    ck_assert_ptr_null(after.conn);
    ck_assert_uint_eq(atomic_load(&f.loop.holds), 1); /* ours */
    eddy_ref_release(r); /* after the close: the last count frees it (ASan: no leak) */
    teardown(&f);
}
END_TEST

static void *release_later(void *arg)
{
    eddy_ref_release(arg);
    return NULL;
}

START_TEST(reference_released_after_close_on_another_thread)
{
    fixture f;
    setup(&f);
    eddy_ref *r = eddy_conn_ref(f.conn);
    eddy__conn_destroy(f.conn, "closed (test)");
    eddy__loop_close_conns(&f.loop); /* the connection's memory is gone */
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, release_later, r), 0);
    pthread_join(t, NULL);
    /* the last count, dropped elsewhere, is freed on the worker (where
     * the listener it holds may be released) */
    ck_assert_uint_eq(atomic_load(&f.loop.holds), 1);
    eddy__loop_run_posted(&f.loop);
    ck_assert_uint_eq(atomic_load(&f.loop.holds), 0);
    teardown(&f);
}
END_TEST

enum { POSTERS = 8, POSTS = 2000 };

typedef struct poster {
    eddy_ref *ref;
    int id;
    int next_seen; /* on the worker: the next sequence number expected */
    int out_of_order;
} poster;

typedef struct numbered {
    poster *p;
    int seq;
} numbered;

static void count_in_order(eddy_conn *c, void *arg)
{
    numbered *n = arg;
    if (c && n->seq != n->p->next_seen)
        n->p->out_of_order++;
    n->p->next_seen++;
    free(n);
}

static void *post_many(void *arg)
{
    poster *p = arg;
    for (int i = 0; i < POSTS; i++) {
        numbered *n = malloc(sizeof(*n));
        n->p = p;
        n->seq = i;
        ck_assert_int_eq(eddy_ref_post(p->ref, count_in_order, n), 0);
    }
    eddy_ref_release(p->ref);
    return NULL;
}

START_TEST(posts_from_eight_threads_at_once)
{
    fixture f;
    setup(&f);
    poster ps[POSTERS];
    pthread_t t[POSTERS];
    for (int i = 0; i < POSTERS; i++) {
        ps[i] = (poster){.ref = eddy_conn_ref(f.conn), .id = i};
        ck_assert_ptr_nonnull(ps[i].ref);
    }
    for (int i = 0; i < POSTERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, post_many, &ps[i]), 0);
    /* the worker: wait for the wake, run what came, until every call ran */
    int done = 0;
    while (!done) {
        struct pollfd p = {.fd = f.loop.wake.fd, .events = POLLIN};
        poll(&p, 1, 100);
        uint64_t v;
        ssize_t r = read(f.loop.wake.fd, &v, sizeof(v)); /* EAGAIN after a timeout */
        (void)r;
        eddy__loop_run_posted(&f.loop);
        done = 1;
        for (int i = 0; i < POSTERS; i++)
            done &= ps[i].next_seen == POSTS;
    }
    for (int i = 0; i < POSTERS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(ps[i].out_of_order, 0);
    }
    teardown(&f);
}
END_TEST

/* Send 8 KiB chunks until the socket refuses and the queue passes at
 * least `past`; returns the last eddy_send() result. */
static int send_until(fixture *f, size_t past)
{
    static char chunk[8192];
    int rc = 0;
    while (rc == 0 && eddy_conn_queued(f->conn) <= past)
        rc = eddy_send(f->conn, chunk, sizeof(chunk));
    return rc;
}

START_TEST(queued_and_drained_after_high_water)
{
    fixture f;
    setup(&f);
    ck_assert_int_eq(eddy_listener_set_water_marks(f.listener, 64 * 1024, 16 * 1024), 0);
    int small = 4096;
    setsockopt(f.conn->h.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    ck_assert_uint_eq(eddy_conn_queued(f.conn), 0);
    ck_assert_int_eq(send_until(&f, 64 * 1024), 0);
    ck_assert_uint_gt(eddy_conn_queued(f.conn), 64 * 1024);
    ck_assert_uint_eq(eddy_conn_queued(f.conn), eddy__buf_len(f.conn->out));
    ck_assert_int_eq(S.drained, 0);
    /* the peer reads a little: still above low water, no drained() */
    char sink[65536];
    ck_assert_int_gt(read(f.peer, sink, 8192), 0);
    eddy__conn_event(f.conn, EDDY__WRITABLE);
    ck_assert_int_eq(S.drained, 0);
    /* the peer reads everything: drained() once */
    while (eddy_conn_queued(f.conn)) {
        while (read(f.peer, sink, sizeof(sink)) > 0)
            ;
        eddy__conn_event(f.conn, EDDY__WRITABLE);
    }
    ck_assert_int_eq(S.drained, 1);
    /* under high water and back: no second call */
    ck_assert_int_eq(eddy_send(f.conn, sink, 100), 0);
    while (read(f.peer, sink, sizeof(sink)) > 0)
        ;
    eddy__conn_event(f.conn, EDDY__WRITABLE);
    ck_assert_int_eq(S.drained, 1);
    teardown(&f);
}
END_TEST

/* Output above high water: is the connection read while it stays there?
 * Returns data() calls for bytes the peer sent then; drained() must still
 * come once the peer has read everything. */
static int reads_while_above_high_water(unsigned flags)
{
    fixture f;
    setup(&f);
    H.flags = flags;
    ck_assert_int_eq(eddy_listener_set_water_marks(f.listener, 64 * 1024, 16 * 1024), 0);
    int small = 4096;
    setsockopt(f.conn->h.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    ck_assert_int_eq(send_until(&f, 64 * 1024), 0);
    ck_assert_int_eq(write(f.peer, "more", 4), 4);
    eddy__conn_event(f.conn, EDDY__READABLE);
    eddy__loop_run_ready(&f.loop);
    int reads = S.reads;
    char sink[65536];
    while (eddy_conn_queued(f.conn)) {
        while (read(f.peer, sink, sizeof(sink)) > 0)
            ;
        eddy__conn_event(f.conn, EDDY__WRITABLE);
    }
    ck_assert_int_eq(S.drained, 1);
    eddy__loop_run_ready(&f.loop); /* below low water: read on */
    ck_assert_int_eq(S.reads, 1);
    teardown(&f);
    return reads;
}

/* A connection whose output is above high water is not read (what it
 * sends answers what it reads); a relay's (EDDY_HANDLER_RELAY: its output
 * comes from another connection) is, and drained() still comes. */
START_TEST(above_high_water_stops_reading_but_a_relays)
{
    ck_assert_int_eq(reads_while_above_high_water(0), 0);
    ck_assert_int_eq(reads_while_above_high_water(EDDY_HANDLER_RELAY), 1);
}
END_TEST

START_TEST(output_over_max_output_closes)
{
    fixture f;
    setup(&f);
    ck_assert_int_eq(eddy_listener_set_max_output(f.listener, 0), -EINVAL);
    ck_assert_int_eq(eddy_listener_set_max_output(f.listener, 128 * 1024), 0);
    int small = 4096;
    setsockopt(f.conn->h.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    ck_assert_int_eq(send_until(&f, 1 << 20), -ENOBUFS);
    /* past the cap by the one send that crossed it, never more */
    ck_assert_uint_gt(eddy_conn_queued(f.conn), 128 * 1024);
    ck_assert_uint_le(eddy_conn_queued(f.conn), 128 * 1024 + 8192);
    ck_assert_int_eq(eddy_send(f.conn, "x", 1), -EPIPE);
    eddy__conn_settle(f.conn); /* after the callback: closed */
    ck_assert_int_lt(f.conn->h.fd, 0);
    ck_assert_int_eq(S.closes, 1);
    ck_assert_uint_eq(atomic_load(&f.conn->lsock->n.errors_output_limit), 1);
    teardown(&f);
}
END_TEST

/* A high water mark above the default max_output, set through the API
 * as an embedder would: max_output follows it until it is set itself, so
 * the queue reaches the mark (where reading stops) without a close. */
START_TEST(max_output_follows_high_water_until_set)
{
    fixture f;
    setup(&f);
    ck_assert_int_eq(eddy_listener_set_water_marks(f.listener, 8u << 20, 2u << 20), 0);
    int small = 4096;
    setsockopt(f.conn->h.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    ck_assert_int_eq(send_until(&f, 6u << 20), 0); /* past the 4 MiB default */
    ck_assert_int_eq(eddy_listener_set_max_output(f.listener, 7u << 20), 0);
    ck_assert_int_eq(send_until(&f, 8u << 20), -ENOBUFS); /* the value set wins */
    ck_assert_uint_le(eddy_conn_queued(f.conn), (7u << 20) + 8192);
    teardown(&f);
}
END_TEST

/* One reply larger than max_output (resp's GET of a value above it) is
 * queued whole and reaches a peer that reads; only a send that finds the
 * queue already over max_output is refused. */
START_TEST(one_send_larger_than_max_output_is_taken)
{
    fixture f;
    setup(&f);
    ck_assert_int_eq(eddy_listener_set_max_output(f.listener, 128 * 1024), 0);
    int small = 4096;
    setsockopt(f.conn->h.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    static char reply[1 << 20], sink[65536];
    memset(reply, 'r', sizeof(reply));
    for (int round = 0; round < 2; round++) { /* the peer reads all: again */
        ck_assert_int_eq(eddy_send(f.conn, reply, sizeof(reply)), 0);
        ck_assert_uint_gt(eddy_conn_queued(f.conn), 128 * 1024);
        size_t got = 0;
        while (got < sizeof(reply)) {
            ssize_t n = read(f.peer, sink, sizeof(sink));
            if (n > 0)
                got += (size_t)n;
            eddy__conn_event(f.conn, EDDY__WRITABLE);
        }
        ck_assert_uint_eq(got, sizeof(reply));
        ck_assert_uint_eq(eddy_conn_queued(f.conn), 0);
    }
    /* a peer that does not read: the next send past the cap closes */
    ck_assert_int_eq(eddy_send(f.conn, reply, sizeof(reply)), 0);
    ck_assert_int_eq(eddy_send(f.conn, "x", 1), -ENOBUFS);
    eddy__conn_settle(f.conn);
    ck_assert_int_lt(f.conn->h.fd, 0);
    ck_assert_uint_eq(atomic_load(&f.conn->lsock->n.errors_output_limit), 1);
    teardown(&f);
}
END_TEST

/* The peer's FIN: data first, then peer_shutdown(), and the connection
 * stays open for the handler's answer. */
START_TEST(peer_shutdown_then_answer_and_close)
{
    fixture f;
    setup(&f);
    S.close_on_shutdown = 1;
    ck_assert_int_eq(write(f.peer, "hi", 2), 2);
    ck_assert_int_eq(shutdown(f.peer, SHUT_WR), 0);
    eddy__conn_event(f.conn, EDDY__READABLE | FIN);
    ck_assert_int_eq(S.shutdowns, 1);
    char out[16];
    ck_assert_uint_eq(drain(f.peer, out, sizeof(out)), 5);
    ck_assert_mem_eq(out, "hibye", 5);
    ck_assert_int_lt(f.conn->h.fd, 0); /* closed once "bye" went out */
    ck_assert_int_eq(read(f.peer, out, 1), 0); /* EOF */
    teardown(&f);
}
END_TEST

/* Without closing in peer_shutdown() the connection waits for the
 * handler: here a post answers later, then closes. */
static void answer_late(eddy_conn *c, void *arg)
{
    (void)arg;
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(eddy_send(c, "late", 4), 0);
    eddy_close(c);
}

START_TEST(peer_shutdown_keeps_the_connection_for_a_later_answer)
{
    fixture f;
    setup(&f);
    eddy_ref *r = eddy_conn_ref(f.conn);
    ck_assert_int_eq(shutdown(f.peer, SHUT_WR), 0);
    eddy__conn_event(f.conn, EDDY__READABLE | FIN);
    eddy__conn_event(f.conn, EDDY__READABLE | FIN); /* told once */
    ck_assert_int_eq(S.shutdowns, 1);
    ck_assert_int_ge(f.conn->h.fd, 0);
    ck_assert_int_eq(eddy_ref_post(r, answer_late, NULL), 0);
    eddy_ref_release(r);
    eddy__loop_run_posted(&f.loop);
    char out[16];
    ck_assert_uint_eq(drain(f.peer, out, sizeof(out)), 4);
    ck_assert_mem_eq(out, "late", 4);
    ck_assert_int_lt(f.conn->h.fd, 0);
    teardown(&f);
}
END_TEST

/* Half-closed, then the peer is gone altogether: closed, close() called. */
START_TEST(peer_gone_after_shutdown_closes)
{
    fixture f;
    setup(&f);
    ck_assert_int_eq(shutdown(f.peer, SHUT_WR), 0);
    eddy__conn_event(f.conn, EDDY__READABLE | FIN);
    ck_assert_int_ge(f.conn->h.fd, 0);
    close(f.peer);
    f.peer = -1;
    eddy__conn_event(f.conn, EDDY__HANGUP);
    ck_assert_int_lt(f.conn->h.fd, 0);
    ck_assert_int_eq(S.closes, 1);
    teardown(&f);
}
END_TEST

static void count_tick(eddy_worker *w, void *arg)
{
    int *n = arg;
    ck_assert_ptr_nonnull(w);
    (*n)++;
}

START_TEST(worker_timers_fire_without_a_connection)
{
    fixture f;
    setup(&f);
    eddy_worker *w = eddy_conn_worker(f.conn);
    ck_assert_ptr_eq(w, eddy_worker_self());
    ck_assert_int_eq(eddy_worker_id(w), 0);
    int a = 0, b = 0;
    eddy_worker_timer *ta = eddy_worker_timer_new(w, count_tick, &a);
    eddy_worker_timer *tb = eddy_worker_timer_new(w, count_tick, &b);
    ck_assert_ptr_null(eddy_worker_timer_new(w, NULL, NULL));
    ck_assert_int_eq(eddy_worker_timer_start(ta, 10), 0);
    ck_assert_int_eq(eddy_worker_timer_start(tb, 20), 0);
    ck_assert_int_eq(eddy_worker_timer_start(ta, -1), -EINVAL);
    eddy__conn_destroy(f.conn, "closed (test)"); /* not tied to it */
    f.loop.now += 15;
    eddy__timers_run(&f.loop.timers, f.loop.now);
    ck_assert_int_eq(a, 1);
    ck_assert_int_eq(b, 0);
    eddy_worker_timer_stop(tb);
    f.loop.now += 15;
    ck_assert_int_eq(eddy__timers_run(&f.loop.timers, f.loop.now), -1);
    ck_assert_int_eq(b, 0);
    eddy_worker_timer_free(ta);
    ck_assert_int_eq(eddy_worker_timer_start(tb, 5), 0); /* left armed: the loop frees it */
    teardown(&f);
}
END_TEST

/* worker_init/worker_fini around the connections of a hand-driven loop. */
static int winits, wfinis;
static int h_worker_init(void *state, int worker, void **ws)
{
    (void)state;
    ck_assert_int_eq(worker, 0);
    winits++;
    *ws = &winits;
    return 0;
}

static void h_worker_fini(void *state, int worker, void *ws)
{
    (void)state;
    (void)worker;
    ck_assert_ptr_eq(ws, &winits);
    wfinis++;
}

START_TEST(worker_state_lives_with_the_workers_connections)
{
    H.worker_init = h_worker_init;
    H.worker_fini = h_worker_fini;
    fixture f;
    setup(&f);
    ck_assert_int_eq(winits, 1);
    ck_assert_ptr_eq(eddy_conn_worker_state(f.conn), &winits);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    eddy_conn *c2 = eddy__loop_open_local(&f.loop, f.listener, sv[0]);
    ck_assert_ptr_eq(eddy_conn_worker_state(c2), &winits);
    ck_assert_int_eq(winits, 1); /* one per worker, not per connection */
    eddy__conn_destroy(f.conn, "closed (test)");
    ck_assert_int_eq(wfinis, 0);
    eddy__conn_destroy(c2, "closed (test)");
    ck_assert_int_eq(wfinis, 1); /* after the last */
    close(sv[1]);
    teardown(&f);
    H.worker_init = NULL;
    H.worker_fini = NULL;
}
END_TEST

START_TEST(addresses_and_a_log_line)
{
    fixture f;
    setup(&f);
    struct sockaddr_storage a;
    socklen_t len;
    ck_assert_int_eq(eddy_conn_local_addr(f.conn, &a, &len), 0);
    ck_assert_int_eq(a.ss_family, AF_UNIX);
    ck_assert_int_eq(eddy_conn_peer_addr(f.conn, &a, &len), 0);
    ck_assert_int_eq(a.ss_family, AF_UNIX);
    char path[] = "/tmp/eddy-log-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(eddy_set_log_file(path), 0);
    eddy_set_log_level(EDDY_LOG_INFO);
    eddy_conn_log(f.conn, EDDY_LOG_WARN, "about %d things", 42);
    eddy_conn_log(f.conn, EDDY_LOG_DEBUG, "not shown");
    eddy_set_log_file(NULL);
    char text[512] = {0};
    ck_assert_int_gt(read(fd, text, sizeof(text) - 1), 0);
    close(fd);
    unlink(path);
    ck_assert_ptr_nonnull(strstr(text, " warn [main] #1 unix: about 42 things\n"));
    ck_assert_ptr_null(strstr(text, "not shown"));
    eddy__conn_destroy(f.conn, "closed (test)");
    ck_assert_int_eq(eddy_conn_peer_addr(f.conn, &a, &len), -ENOTCONN);
    ck_assert_int_eq(eddy_conn_local_addr(f.conn, &a, &len), -ENOTCONN);
    teardown(&f);
}
END_TEST

START_TEST(reset_closes_in_the_same_turn)
{
    fixture f;
    setup(&f);
    eddy_conn_reset(f.conn);
    ck_assert_int_ge(f.conn->h.fd, 0); /* after the callback, on the ready list */
    ck_assert_int_eq(eddy_send(f.conn, "x", 1), -EPIPE);
    eddy__loop_run_ready(&f.loop);
    ck_assert_int_eq(S.closes, 1);
    teardown(&f);
}
END_TEST

/* eddy_conn_pause(): no data() while paused, even with bytes waiting;
 * resuming reads them without a new event (the edge has passed). */
START_TEST(pause_stops_reading_until_resumed)
{
    fixture f;
    setup(&f);
    eddy_conn_pause(f.conn, 1);
    ck_assert_int_eq(write(f.peer, "held", 4), 4);
    eddy__conn_event(f.conn, EDDY__READABLE);
    char out[16];
    ck_assert_int_eq(read(f.peer, out, sizeof(out)), -1); /* not echoed: not read */
    ck_assert_int_eq(errno, EAGAIN);
    eddy_conn_pause(f.conn, 0);
    eddy__loop_run_ready(&f.loop);
    ck_assert_uint_eq(drain(f.peer, out, sizeof(out)), 4);
    ck_assert_mem_eq(out, "held", 4);
    teardown(&f);
}
END_TEST

/* eddy_conn_shutdown(): the peer gets the queued bytes, then EOF, while
 * the connection still reads; later sends are refused. */
START_TEST(shutdown_sends_fin_after_queued_output)
{
    fixture f;
    setup(&f);
    ck_assert_int_eq(eddy_send(f.conn, "last", 4), 0);
    eddy_conn_shutdown(f.conn);
    ck_assert_int_eq(eddy_send(f.conn, "x", 1), -EPIPE);
    char out[16];
    ck_assert_uint_eq(drain(f.peer, out, sizeof(out)), 4);
    ck_assert_mem_eq(out, "last", 4);
    ck_assert_int_eq(read(f.peer, out, 1), 0); /* EOF */
    ck_assert_int_ge(f.conn->h.fd, 0);          /* still open */
    ck_assert_int_eq(write(f.peer, "in", 2), 2);
    eddy__conn_event(f.conn, EDDY__READABLE); /* read: data() runs (its echo is refused) */
    ck_assert_int_eq(S.closes, 0);
    teardown(&f);
}
END_TEST

/* With output queued, the FIN waits for it to be written. */
START_TEST(shutdown_waits_for_the_queue)
{
    fixture f;
    setup(&f);
    static char big[1 << 20];
    ck_assert_int_eq(eddy_send(f.conn, big, sizeof(big)), 0);
    ck_assert_uint_gt(eddy_conn_queued(f.conn), 0);
    eddy_conn_shutdown(f.conn);
    size_t got = 0;
    char buf[65536];
    for (;;) {
        ssize_t n = read(f.peer, buf, sizeof(buf));
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0)
            break;
        ck_assert_int_eq(errno, EAGAIN);
        eddy__conn_event(f.conn, EDDY__WRITABLE);
    }
    ck_assert_uint_eq(got, sizeof(big));
    teardown(&f);
}
END_TEST

/* eddy_conn_high_water() is the listener's; eddy_conn_touch() moves the
 * connection to the active list, as a read would. */
START_TEST(high_water_and_touch)
{
    fixture f;
    setup(&f);
    ck_assert_uint_eq(eddy_conn_high_water(f.conn), f.listener->high_water);
    ck_assert(!(f.conn->h.flags & EDDY__CONN_ACTIVE));
    eddy_conn_touch(f.conn);
    ck_assert(f.conn->h.flags & EDDY__CONN_ACTIVE);
    teardown(&f);
}
END_TEST

Suite *handler_api_suite(void)
{
    Suite *s = suite_create("handler_api");
    TCase *tc = tcase_create("refs");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, post_runs_on_the_worker_with_the_connection);
    tcase_add_test(tc, post_to_a_closed_connection_gets_null);
    tcase_add_test(tc, reference_released_after_close_on_another_thread);
    tcase_add_test(tc, posts_from_eight_threads_at_once);
    suite_add_tcase(s, tc);
    tc = tcase_create("backpressure");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, queued_and_drained_after_high_water);
    tcase_add_test(tc, above_high_water_stops_reading_but_a_relays);
    tcase_add_test(tc, output_over_max_output_closes);
    tcase_add_test(tc, one_send_larger_than_max_output_is_taken);
    tcase_add_test(tc, max_output_follows_high_water_until_set);
    suite_add_tcase(s, tc);
    tc = tcase_create("half_close");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, peer_shutdown_then_answer_and_close);
    tcase_add_test(tc, peer_shutdown_keeps_the_connection_for_a_later_answer);
    tcase_add_test(tc, peer_gone_after_shutdown_closes);
    suite_add_tcase(s, tc);
    tc = tcase_create("rest");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, worker_timers_fire_without_a_connection);
    tcase_add_test(tc, worker_state_lives_with_the_workers_connections);
    tcase_add_test(tc, addresses_and_a_log_line);
    tcase_add_test(tc, reset_closes_in_the_same_turn);
    suite_add_tcase(s, tc);
    tc = tcase_create("proxy_calls");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pause_stops_reading_until_resumed);
    tcase_add_test(tc, shutdown_sends_fin_after_queued_output);
    tcase_add_test(tc, shutdown_waits_for_the_queue);
    tcase_add_test(tc, high_water_and_touch);
    suite_add_tcase(s, tc);
    return s;
}
