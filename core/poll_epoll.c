/* core/poll_epoll.c - the epoll backend of poller.h.
 *
 * Every descriptor is registered once with EPOLLET; a socket watched for
 * input and output also gets EPOLLRDHUP, so a half-close is seen without
 * a read that returns 0.  epoll_wait fills the caller's array itself:
 * eddy__poll_event has epoll_event's layout and epoll reports poll(2)'s
 * bits, which are eddy's flags, so nothing is copied or translated per
 * event.
 */
#include "poller.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

_Static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT && EPOLLRDHUP == POLLRDHUP &&
                   EPOLLHUP == POLLHUP && EPOLLERR == POLLERR,
               "epoll reports poll(2)'s bits");
_Static_assert(sizeof(eddy__poll_event) == sizeof(struct epoll_event) &&
                   offsetof(eddy__poll_event, flags) == offsetof(struct epoll_event, events) &&
                   offsetof(eddy__poll_event, ptr) == offsetof(struct epoll_event, data),
               "eddy__poll_event is laid out as struct epoll_event");

struct eddy__poller {
    int epfd;
};

const char eddy__poller_name[] = "epoll";

/* epoll is in every kernel eddy runs on. */
int eddy__poller_probe(void)
{
    return 0;
}

eddy__poller *eddy__poller_create(void)
{
    eddy__poller *p = malloc(sizeof(*p));
    if (!p)
        return NULL;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        int err = errno;
        free(p);
        errno = err;
        return NULL;
    }
    return p;
}

void eddy__poller_destroy(eddy__poller *p)
{
    if (!p)
        return;
    close(p->epfd);
    free(p);
}

int eddy__poller_add(eddy__poller *p, int fd, unsigned watch, void *ptr)
{
    struct epoll_event ev = {.events = EPOLLET, .data.ptr = ptr};
    if (watch & EDDY__WATCH_IN)
        ev.events |= EPOLLIN;
    if (watch & EDDY__WATCH_OUT)
        ev.events |= EPOLLOUT | EPOLLRDHUP;
    if (watch & EDDY__WATCH_EXCLUSIVE)
        ev.events |= EPOLLEXCLUSIVE;
    return epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int eddy__poller_delete(eddy__poller *p, int fd)
{
    return epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

/* A closed fd leaves every epoll set by itself (unless a dup keeps the
 * socket open: eddy__poller_delete): no epoll_ctl per connection. */
void eddy__poller_close(eddy__poller *p, int fd)
{
    (void)p;
    close(fd);
}

int eddy__poller_wait(eddy__poller *p, eddy__poll_event *ev, int max, long timeout_ms)
{
    int n = epoll_wait(p->epfd, (struct epoll_event *)ev, max, (int)timeout_ms);
    return n < 0 ? -errno : n;
}
