/* tests/unit/test_poller.c - the poller backend (poller.h) on real
 * sockets: edge-triggered readiness, eddy's flags, a half-close, delete. */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "poller.h"
#include "suites.h"

struct pair {
    int a, b; /* a is watched; b is its peer */
};

static struct pair make_pair(void)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    return (struct pair){sv[0], sv[1]};
}

static int wait_one(eddy__poller *p, eddy__poll_event *ev)
{
    return eddy__poller_wait(p, ev, 1, 0);
}

START_TEST(reports_writable_then_readable_once_per_edge)
{
    eddy__poller *p = eddy__poller_create();
    ck_assert_ptr_nonnull(p);
    struct pair s = make_pair();
    int tag;
    ck_assert_int_eq(eddy__poller_add(p, s.a, EDDY__WATCH_IN | EDDY__WATCH_OUT, &tag), 0);
    eddy__poll_event ev;
    ck_assert_int_eq(wait_one(p, &ev), 1); /* a fresh socket can be written */
    ck_assert_ptr_eq(ev.ptr, &tag);
    ck_assert_uint_eq(ev.flags & (EDDY__READABLE | EDDY__WRITABLE | EDDY__HANGUP), EDDY__WRITABLE);
    ck_assert_int_eq(wait_one(p, &ev), 0); /* edge-triggered: reported once */
    ck_assert_int_eq(write(s.b, "x", 1), 1);
    ck_assert_int_eq(wait_one(p, &ev), 1);
    ck_assert(ev.flags & EDDY__READABLE);
    ck_assert(!(ev.flags & EDDY__HANGUP));
    ck_assert_int_eq(wait_one(p, &ev), 0); /* nothing new, though unread */
    close(s.a);
    close(s.b);
    eddy__poller_destroy(p);
}
END_TEST

START_TEST(reports_half_close_as_hangup)
{
    eddy__poller *p = eddy__poller_create();
    struct pair s = make_pair();
    int tag;
    ck_assert_int_eq(eddy__poller_add(p, s.a, EDDY__WATCH_IN | EDDY__WATCH_OUT, &tag), 0);
    eddy__poll_event ev;
    ck_assert_int_eq(wait_one(p, &ev), 1);
    ck_assert_int_eq(shutdown(s.b, SHUT_WR), 0);
    ck_assert_int_eq(wait_one(p, &ev), 1);
    ck_assert(ev.flags & EDDY__HANGUP);
    close(s.a);
    close(s.b);
    eddy__poller_destroy(p);
}
END_TEST

START_TEST(delete_stops_events_of_a_dup)
{
    eddy__poller *p = eddy__poller_create();
    struct pair s = make_pair();
    int dup_fd = dup(s.a), tag;
    ck_assert_int_ge(dup_fd, 0);
    ck_assert_int_eq(eddy__poller_add(p, dup_fd, EDDY__WATCH_IN, &tag), 0);
    ck_assert_int_eq(eddy__poller_delete(p, dup_fd), 0);
    close(dup_fd); /* s.a still holds the socket open */
    ck_assert_int_eq(write(s.b, "x", 1), 1);
    eddy__poll_event ev;
    ck_assert_int_eq(wait_one(p, &ev), 0);
    ck_assert_int_eq(eddy__poller_delete(p, dup_fd), -EBADF);
    ck_assert_int_eq(eddy__poller_add(p, -1, EDDY__WATCH_IN, &tag), -EBADF);
    close(s.a);
    close(s.b);
    eddy__poller_destroy(p);
}
END_TEST

START_TEST(exclusive_watch_is_accepted)
{
    eddy__poller *p = eddy__poller_create();
    struct pair s = make_pair();
    int tag;
    ck_assert_int_eq(eddy__poller_add(p, s.a, EDDY__WATCH_IN | EDDY__WATCH_EXCLUSIVE, &tag), 0);
    ck_assert_int_eq(write(s.b, "x", 1), 1);
    eddy__poll_event ev;
    ck_assert_int_eq(wait_one(p, &ev), 1);
    ck_assert(ev.flags & EDDY__READABLE);
    close(s.a);
    close(s.b);
    eddy__poller_destroy(p);
}
END_TEST

Suite *poller_suite(void)
{
    Suite *s = suite_create("poller");
    TCase *tc = tcase_create("epoll");
    tcase_add_test(tc, reports_writable_then_readable_once_per_edge);
    tcase_add_test(tc, reports_half_close_as_hangup);
    tcase_add_test(tc, delete_stops_events_of_a_dup);
    tcase_add_test(tc, exclusive_watch_is_accepted);
    suite_add_tcase(s, tc);
    return s;
}
