/* tests/unit/test_poller.c - the poller backend (poller.h) on real
 * sockets, whichever the build chose: edge-triggered readiness, eddy's
 * flags, a half-close, delete, a close that ends the socket at once, no
 * event of a closed fd for the one that reuses its number, and a clear
 * failure where the backend's system call is refused. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "builtin.h"
#include "eddy/eddy.h"
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

/* io_uring: a poll in flight holds the socket; eddy__poller_close must
 * cancel it, or the peer would see no end. */
START_TEST(close_ends_the_socket_at_once)
{
    eddy__poller *p = eddy__poller_create();
    struct pair s = make_pair();
    int tag;
    ck_assert_int_eq(eddy__poller_add(p, s.a, EDDY__WATCH_IN | EDDY__WATCH_OUT, &tag), 0);
    eddy__poll_event ev;
    ck_assert_int_eq(wait_one(p, &ev), 1); /* armed in the kernel by now */
    eddy__poller_close(p, s.a);
    char c;
    ck_assert_int_eq(read(s.b, &c, 1), 0); /* EOF, not EAGAIN */
    close(s.b);
    eddy__poller_destroy(p);
}
END_TEST

/* A closed fd's number comes back from the next socket: no completion of
 * the old one (its poll's cancellation) may be reported as the new one's. */
START_TEST(reused_fd_gets_no_stale_event)
{
    eddy__poller *p = eddy__poller_create();
    struct pair s = make_pair();
    int old_tag, new_tag;
    ck_assert_int_eq(eddy__poller_add(p, s.a, EDDY__WATCH_IN | EDDY__WATCH_OUT, &old_tag), 0);
    eddy__poll_event ev[8];
    ck_assert_int_eq(eddy__poller_wait(p, ev, 8, 0), 1);
    ck_assert_int_eq(write(s.b, "x", 1), 1); /* an event pending for the old one */
    int old_fd = s.a;
    eddy__poller_close(p, s.a);
    close(s.b);
    struct pair t = make_pair();
    ck_assert_int_eq(t.a, old_fd);
    ck_assert_int_eq(eddy__poller_add(p, t.a, EDDY__WATCH_IN, &new_tag), 0);
    int n = eddy__poller_wait(p, ev, 8, 0);
    for (int i = 0; i < n; i++)
        ck_assert_ptr_ne(ev[i].ptr, &old_tag);
    ck_assert_int_eq(n, 0); /* the new one has nothing to read yet */
    ck_assert_int_eq(write(t.b, "y", 1), 1);
    ck_assert_int_eq(eddy__poller_wait(p, ev, 8, 0), 1);
    ck_assert_ptr_eq(ev[0].ptr, &new_tag);
    ck_assert(ev[0].flags & EDDY__READABLE);
    eddy__poller_close(p, t.a);
    close(t.b);
    eddy__poller_destroy(p);
}
END_TEST

/* Have this (forked) test process fail system call nr with EPERM, as a
 * seccomp profile that refuses io_uring does. */
static void refuse_syscall(long nr)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
    ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

/* The backend's system call refused: no poller, the reason in errno, and
 * an io_uring build's server refuses to start, saying why and what to
 * build instead. */
START_TEST(refused_backend_fails_clearly)
{
    int uring = strcmp(eddy__poller_name, "io_uring") == 0;
    refuse_syscall(uring ? __NR_io_uring_setup : __NR_epoll_create1);
    errno = 0;
    ck_assert_ptr_null(eddy__poller_create());
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(eddy__poller_probe(), uring ? -EPERM : 0);
    if (!uring)
        return;
    eddy_server *srv;
    ck_assert_int_eq(eddy_server_new(&srv), 0);
    ck_assert_int_eq(eddy_server_listen(srv, "127.0.0.1:0", eddy_echo_handler(), NULL, NULL), 0);
    ck_assert_int_eq(eddy_server_start(srv), -EPERM);
    const char *msg = eddy_server_error(srv);
    ck_assert_msg(strstr(msg, "built for io_uring") && strstr(msg, "-DEDDY_POLLER=epoll"), "%s", msg);
    eddy_server_free(srv);
}
END_TEST

Suite *poller_suite(void)
{
    Suite *s = suite_create("poller");
    TCase *tc = tcase_create(eddy__poller_name);
    tcase_add_test(tc, reports_writable_then_readable_once_per_edge);
    tcase_add_test(tc, reports_half_close_as_hangup);
    tcase_add_test(tc, delete_stops_events_of_a_dup);
    tcase_add_test(tc, exclusive_watch_is_accepted);
    tcase_add_test(tc, close_ends_the_socket_at_once);
    tcase_add_test(tc, reused_fd_gets_no_stale_event);
    tcase_add_test(tc, refused_backend_fails_clearly);
    suite_add_tcase(s, tc);
    return s;
}
