/* tests/unit/test_splice.c - eddy_conn_splice(): two connections on a loop
 * driven by hand, A (the fixture's) spliced to B, each with its peer the
 * other end of a socketpair.  A small proxy handler passes what data()
 * sees from A on to B, so every byte reaches B's peer either way; the
 * tests check which way it went, the order, backpressure, the FIN, the
 * descriptors and the errors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "conn_fixture.h"
#include "eddy/eddy.h"
#include "pool.h"
#include "server.h"
#include "splice.h"
#include "suites.h"

/* What the handler saw. */
static struct {
    eddy_conn *a, *b;
    size_t seen;    /* bytes data() had from A */
    int shutdowns;  /* peer_shutdown() of A */
    int closes;
} S;

/* A's bytes go on to B: what a proxy does with what eddy does not splice. */
static size_t h_data(eddy_conn *c, const char *buf, size_t len)
{
    if (c == S.a) {
        S.seen += len;
        if (S.b)
            ck_assert_int_eq(eddy_send(S.b, buf, len), 0);
    }
    return len;
}

/* A's FIN: B's follows, after what came before it. */
static void h_peer_shutdown(eddy_conn *c)
{
    if (c == S.a) {
        S.shutdowns++;
        if (S.b)
            eddy_conn_shutdown(S.b);
    }
}

static void h_close(eddy_conn *c)
{
    S.closes++;
    if (c == S.b)
        S.b = NULL;
    if (c == S.a)
        S.a = NULL;
}

static eddy_handler H = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "splice-test",
    .flags = EDDY_HANDLER_RELAY,
    .data = h_data,
    .close = h_close,
    .peer_shutdown = h_peer_shutdown,
};

typedef struct fixture {
    conn_fixture f;
    int bpeer; /* B's peer */
} fixture;

/* A = the fixture's connection; B a second one on the same loop. */
static void setup(fixture *x)
{
    memset(&S, 0, sizeof(S));
    conn_fixture_setup(&x->f, &H, NULL);
    eddy__loop_self = &x->f.loop;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    S.b = eddy__loop_open_local(&x->f.loop, x->f.listener, sv[0]);
    ck_assert_ptr_nonnull(S.b);
    x->bpeer = sv[1];
    S.a = x->f.conn;
}

static void teardown(fixture *x)
{
    eddy__loop_self = NULL;
    conn_fixture_teardown(&x->f);
    close(x->bpeer);
}

static unsigned open_count(fixture *x)
{
    return atomic_load(&x->f.server->shared.open);
}

/* Byte i of the stream: no period that a lost or repeated piece hides in. */
static char pattern(size_t i)
{
    return (char)((i * 7 + i / 65521) & 0xff);
}

/* Write bytes [*sent, want) of the pattern to fd, as far as it takes them. */
static void feed(int fd, size_t *sent, size_t want)
{
    static char buf[65536];
    while (*sent < want) {
        size_t n = want - *sent < sizeof(buf) ? want - *sent : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(*sent + i);
        ssize_t w = write(fd, buf, n);
        if (w <= 0)
            return;
        *sent += (size_t)w;
    }
}

/* Read what fd has, checking it against the pattern from *got on. */
static void take(int fd, size_t *got)
{
    static char buf[65536], want[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++) /* one check a read: each is a message to Check's parent */
            want[i] = pattern(*got + (size_t)i);
        ck_assert_mem_eq(buf, want, (size_t)n);
        *got += (size_t)n;
    }
}

/* Drive the loop by hand, writing the pattern from *sent to `total` into
 * A's peer and reading B's peer from *got, until B's peer has it all (or
 * nothing moves for a while).  Returns *got. */
static size_t pump(fixture *x, size_t *sent, size_t *got, size_t total)
{
    for (int idle = 0; idle < 100 && *got < total;) {
        size_t before = *sent + *got;
        feed(x->f.peer, sent, total);
        if (S.a)
            eddy__conn_event(S.a, EDDY__READABLE);
        if (S.b)
            eddy__conn_event(S.b, EDDY__WRITABLE);
        eddy__loop_run_ready(&x->f.loop);
        take(x->bpeer, got);
        idle = *sent + *got == before ? idle + 1 : 0;
    }
    return *got;
}

/* Stream until A is spliced (after its first full read), reading B's
 * peer; returns the bytes through so far. */
static size_t until_spliced(fixture *x)
{
    size_t sent = 0, got = 0;
    for (size_t want = 65536; !eddy__splice_on(S.a) && want <= (8u << 20); want += 65536)
        pump(x, &sent, &got, want);
    ck_assert(eddy__splice_on(S.a));
    return got;
}

/* Make B's socket small, then write `more` bytes into A's peer without
 * reading B's peer, running the loop until nothing moves: A is then read
 * no further than the pipe holds.  Returns the bytes A's peer got in. */
static size_t fill_while_b_stalls(fixture *x, size_t from, size_t more)
{
    int small = 4096;
    setsockopt(S.b->h.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    size_t sent = from;
    for (int idle = 0; idle < 20;) {
        size_t before = sent;
        feed(x->f.peer, &sent, from + more);
        eddy__conn_event(S.a, EDDY__READABLE);
        eddy__conn_event(S.b, EDDY__WRITABLE);
        eddy__loop_run_ready(&x->f.loop);
        idle = sent == before ? idle + 1 : 0;
    }
    return sent - from;
}

START_TEST(bad_arguments)
{
    fixture x;
    setup(&x);
    ck_assert_int_eq(eddy_conn_splice(NULL, S.b), -EINVAL);
    ck_assert_int_eq(eddy_conn_splice(S.a, NULL), -EINVAL);
    ck_assert_int_eq(eddy_conn_splice(S.a, S.a), -EINVAL);
    ck_assert_uint_eq(eddy_conn_spliced(S.a), 0);
    H.flags = 0; /* not a relay: its connections stop reading on their own output */
    ck_assert_int_eq(eddy_conn_splice(S.a, S.b), -EINVAL);
    H.flags = EDDY_HANDLER_RELAY;
    ck_assert_int_eq(eddy_conn_splice(S.a, S.b), 0);
    ck_assert_int_eq(eddy_conn_splice(S.a, S.b), -EINVAL); /* from already spliced */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    eddy_conn *c = eddy__loop_open_local(&x.f.loop, x.f.listener, sv[0]);
    ck_assert_int_eq(eddy_conn_splice(c, S.b), -EINVAL); /* to already spliced to */
    ck_assert_int_eq(eddy_conn_splice(S.b, S.a), 0);      /* the other way is free */
    /* TLS on either side */
    c->h.flags |= EDDY__CONN_TLS;
    ck_assert_int_eq(eddy_conn_splice(c, x.f.conn), -EINVAL); /* a is taken: EINVAL first */
    int sv2[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv2), 0);
    eddy_conn *d = eddy__loop_open_local(&x.f.loop, x.f.listener, sv2[0]);
    ck_assert_int_eq(eddy_conn_splice(c, d), -EOPNOTSUPP);
    ck_assert_int_eq(eddy_conn_splice(d, c), -EOPNOTSUPP);
    c->h.flags &= (uint16_t)~EDDY__CONN_TLS;
    /* from a pool thread */
    eddy__job job = {.conn = d};
    eddy__current_job = &job;
    ck_assert_int_eq(eddy_conn_splice(d, c), -EPERM);
    eddy__current_job = NULL;
    /* a dispatch pool listener's connection */
    ck_assert_int_eq(eddy_listener_set_dispatch(x.f.listener, EDDY_DISPATCH_POOL), 0);
    ck_assert_int_eq(eddy_conn_splice(d, c), -EINVAL);
    ck_assert_int_eq(eddy_listener_set_dispatch(x.f.listener, EDDY_DISPATCH_INLINE), 0);
    /* a closed one */
    eddy__conn_destroy(d, "closed (test)");
    ck_assert_int_eq(eddy_conn_splice(c, d), -EINVAL);
    ck_assert_int_eq(eddy_conn_splice(d, c), -EINVAL);
    close(sv[1]);
    close(sv2[1]);
    teardown(&x);
}
END_TEST

/* Small writes never fill a read: data() has them all, no pipe is made. */
START_TEST(small_messages_stay_with_data)
{
    fixture x;
    setup(&x);
    unsigned open0 = open_count(&x);
    ck_assert_int_eq(eddy_conn_splice(S.a, S.b), 0);
    size_t sent = 0, got = 0;
    for (size_t i = 1; i <= 50; i++) {
        feed(x.f.peer, &sent, i * 1000);
        eddy__conn_event(S.a, EDDY__READABLE);
        eddy__loop_run_ready(&x.f.loop);
        ck_assert(!eddy__splice_on(S.a));
        take(x.bpeer, &got);
    }
    ck_assert_uint_eq(got, 50000);
    ck_assert_uint_eq(S.seen, 50000);
    ck_assert_uint_eq(eddy_conn_spliced(S.a), 0);
    ck_assert_uint_eq(open_count(&x), open0);
    teardown(&x);
}
END_TEST

/* A stream: the first full read goes through data(), the rest by splice,
 * in order; the pipe counts as two connections while it exists; a small
 * read afterwards closes it and data() has the bytes again. */
START_TEST(a_stream_is_spliced_then_data_again)
{
    fixture x;
    setup(&x);
    unsigned open0 = open_count(&x);
    const eddy__lsock *ls = S.a->lsock;
    unsigned long long in0 = ls->n.bytes_in;
    ck_assert_int_eq(eddy_conn_splice(S.a, S.b), 0);
    size_t total = 4 << 20, sent = 0, got = 0;
    ck_assert_uint_eq(pump(&x, &sent, &got, total), total);
    ck_assert_uint_ge(S.seen, 65536);          /* the read that started it */
    ck_assert_uint_lt(S.seen, total / 2);      /* most went by splice */
    ck_assert_uint_eq(S.seen + eddy_conn_spliced(S.a), total);
    ck_assert_uint_eq(ls->n.bytes_in - in0, total); /* counted as read either way */
    if (eddy__splice_on(S.a))
        ck_assert_uint_eq(open_count(&x), open0 + 2);
    /* a pause: a small read ends it, and data() has the next bytes */
    size_t seen = S.seen;
    char small[100];
    for (int i = 0; i < 2; i++) {
        for (size_t k = 0; k < sizeof(small); k++)
            small[k] = pattern(total + (size_t)i * sizeof(small) + k);
        ck_assert_int_eq(write(x.f.peer, small, sizeof(small)), (ssize_t)sizeof(small));
        eddy__conn_event(S.a, EDDY__READABLE);
        eddy__loop_run_ready(&x.f.loop);
    }
    take(x.bpeer, &got);
    ck_assert_uint_eq(got, total + 2 * sizeof(small));
    ck_assert(!eddy__splice_on(S.a));
    ck_assert_uint_eq(open_count(&x), open0);
    ck_assert_uint_ge(S.seen - seen, sizeof(small)); /* the second at least */
    teardown(&x);
}
END_TEST

/* B's peer stops reading: A is read no further than the pipe holds (the
 * rest waits in A's socket, whose peer is stopped); once B's peer reads,
 * all of it comes, in order. */
START_TEST(backpressure_is_the_pipe)
{
    fixture x;
    setup(&x);
    ck_assert_int_eq(eddy_conn_splice(S.a, S.b), 0);
    size_t got = until_spliced(&x), more = 8 << 20;
    size_t in = fill_while_b_stalls(&x, got, more);
    ck_assert_uint_lt(in, more); /* A's peer was stopped by its window */
    ck_assert_uint_eq(eddy_conn_queued(S.b), 0);
    ck_assert_uint_gt(eddy__splice_pending(S.b), 0);
    ck_assert_uint_le(eddy__splice_pending(S.b), 65536);
    size_t sent = got + in;
    ck_assert_uint_eq(pump(&x, &sent, &got, got + more), got + 0);
    ck_assert_uint_eq(sent, got);
    teardown(&x);
}
END_TEST

/* A's FIN while bytes wait in the pipe: peer_shutdown() only once they are
 * in B's socket, and B's FIN after them. */
START_TEST(fin_after_the_pipe)
{
    fixture x;
    setup(&x);
    ck_assert_int_eq(eddy_conn_splice(S.a, S.b), 0);
    size_t got = until_spliced(&x);
    size_t total = got + fill_while_b_stalls(&x, got, 100000);
    ck_assert_int_eq(shutdown(x.f.peer, SHUT_WR), 0);
    eddy__conn_event(S.a, EDDY__READABLE | EDDY__HANGUP);
    eddy__loop_run_ready(&x.f.loop);
    ck_assert(eddy__splice_on(S.a));
    ck_assert_uint_gt(eddy__splice_pending(S.b), 0); /* B is full: the FIN waits */
    ck_assert_int_eq(S.shutdowns, 0);
    char c;
    for (int step = 0; step < 100000 && got < total; step++) {
        take(x.bpeer, &got);
        if (S.b)
            eddy__conn_event(S.b, EDDY__WRITABLE);
        if (S.a)
            eddy__conn_event(S.a, EDDY__READABLE | EDDY__HANGUP);
        eddy__loop_run_ready(&x.f.loop);
    }
    take(x.bpeer, &got);
    ck_assert_uint_eq(got, total);
    ck_assert_int_eq(S.shutdowns, 1);
    ck_assert_int_eq(read(x.bpeer, &c, 1), 0); /* B's FIN, after every byte */
    teardown(&x);
}
END_TEST

/* Reset A or B while A is spliced to B: the link and its pipe go with it,
 * and its place and the pipe's are given back. */
static void reset_mid_stream(fixture *x, int reset_b)
{
    unsigned open0 = open_count(x);
    ck_assert_int_eq(eddy_conn_splice(S.a, S.b), 0);
    until_spliced(x);
    eddy_conn_reset(reset_b ? S.b : S.a);
    eddy__loop_run_ready(&x->f.loop);
    ck_assert_ptr_null(reset_b ? S.b : S.a);
    if (reset_b)
        ck_assert_ptr_null(S.a->ext->sp_out);
    else
        ck_assert_ptr_null(S.b->ext->sp_in);
    ck_assert_uint_eq(open_count(x), open0 - 1);
}

/* B closes while A is spliced to it: A goes on through data(). */
START_TEST(to_closes_mid_stream)
{
    fixture x;
    setup(&x);
    reset_mid_stream(&x, 1);
    size_t seen = S.seen, sent = 0;
    feed(x.f.peer, &sent, 200000);
    for (int i = 0; i < 10; i++) {
        eddy__conn_event(S.a, EDDY__READABLE);
        eddy__loop_run_ready(&x.f.loop);
    }
    ck_assert_uint_eq(S.seen - seen, sent);
    teardown(&x);
}
END_TEST

/* A closes (reset) mid-stream. */
START_TEST(from_closes_mid_stream)
{
    fixture x;
    setup(&x);
    reset_mid_stream(&x, 0);
    teardown(&x);
}
END_TEST

/* Two below max_connections or nearer: no pipe, bytes are copied. */
START_TEST(no_pipe_near_max_connections)
{
    fixture x;
    setup(&x);
    ck_assert_int_eq(eddy_server_set_max_connections(x.f.server, open_count(&x) + 1), 0);
    ck_assert_int_eq(eddy_conn_splice(S.a, S.b), 0);
    size_t total = 1 << 20, sent = 0, got = 0;
    ck_assert_uint_eq(pump(&x, &sent, &got, total), total);
    ck_assert_uint_eq(S.seen, total);
    ck_assert_uint_eq(eddy_conn_spliced(S.a), 0);
    teardown(&x);
}
END_TEST

Suite *splice_suite(void)
{
    Suite *s = suite_create("splice");
    TCase *tc = tcase_create("splice");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, small_messages_stay_with_data);
    tcase_add_test(tc, a_stream_is_spliced_then_data_again);
    tcase_add_test(tc, backpressure_is_the_pipe);
    tcase_add_test(tc, fin_after_the_pipe);
    tcase_add_test(tc, to_closes_mid_stream);
    tcase_add_test(tc, from_closes_mid_stream);
    tcase_add_test(tc, no_pipe_near_max_connections);
    suite_add_tcase(s, tc);
    return s;
}
