/* core/poller.h - readiness of file descriptors, edge-triggered: the only
 * place where the loop meets the kernel's event interface.
 *
 * One backend per build, in a file of its own, chosen by CMake
 * (-DEDDY_POLLER=epoll|uring), so the hot path pays no indirect call: epoll
 * (poll_epoll.c, the default), or io_uring (poll_uring.c, Linux 6.1: a
 * multishot poll per descriptor; see there).  A descriptor is added once
 * and reported each time it becomes readable or writable again (edge
 * triggered); nothing is re-armed by the caller.  Callers see eddy's own
 * flags, never a backend's masks.  This layer includes nothing of eddy
 * above it.
 *
 * The io_uring build adds (EDDY_POLLER_URING, at the end) sockets read by a
 * multishot recv into the poller's provided buffers and written by SENDs in
 * the ring, all inside the one io_uring_enter that waits: conn.c's fast
 * path for plain TCP.  It took eddy's server CPU per message from
 * 1.00-1.01x the epoll floor's to 0.58-0.69x at 64 conns x 64 B and from
 * 0.95-0.99x to 0.66-0.76x at 1,000 conns x 4 KiB (eddy-load --uring,
 * depth 1, three runs each; README.md, "Build options"); the poll alone
 * (EDDY_URING_FAST off) measured as epoll does. */
#ifndef EDDY_CORE_POLLER_H
#define EDDY_CORE_POLLER_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

/* What a descriptor is ready for (eddy__poll_event.flags): poll(2)'s bits,
 * which epoll and io_uring's poll both report, so a backend passes them on
 * as they come. */
enum {
    EDDY__READABLE = POLLIN,
    EDDY__WRITABLE = POLLOUT,
    /* the peer ended its side, or the socket failed: read to the end */
    EDDY__HANGUP = POLLRDHUP | POLLHUP | POLLERR,
    EDDY__GONE = POLLHUP | POLLERR, /* both directions are closed, or reset */
};

/* How to watch a descriptor (eddy__poller_add). */
enum {
    EDDY__WATCH_IN = 1 << 0,
    EDDY__WATCH_OUT = 1 << 1,        /* with WATCH_IN: also the peer's half-close */
    EDDY__WATCH_EXCLUSIVE = 1 << 2,  /* shared by several pollers: wake one, not all */
};

/* One event.  Its layout is the kernel's epoll_event (packed on x86-64, as
 * glibc declares it), so that the epoll backend has the kernel write the
 * caller's array in place, with no copy per event; other backends fill it
 * field by field. */
typedef struct
#ifdef __x86_64__
    __attribute__((packed))
#endif
    eddy__poll_event {
    uint32_t flags; /* any bits of EDDY__READABLE, EDDY__WRITABLE, EDDY__HANGUP */
    void *ptr;      /* what eddy__poller_add was given */
#ifdef EDDY_POLLER_URING
    int32_t res;      /* EDDY__RECVD, EDDY__SENT: the operation's result */
    const char *data; /* EDDY__RECVD with res > 0: the bytes, valid until the next wait */
#endif
} eddy__poll_event;


typedef struct eddy__poller eddy__poller;

/* A new poller, or NULL with errno set. */
eddy__poller *eddy__poller_create(void);
void eddy__poller_destroy(eddy__poller *p);
/* Watch fd (EDDY__WATCH_*) until it is closed or deleted; ptr comes back
 * in its events.  0 or negative errno. */
int eddy__poller_add(eddy__poller *p, int fd, unsigned watch, void *ptr);
/* Stop watching fd before it is closed while another descriptor still
 * refers to the same socket (a dup of a shared listening socket), whose
 * events would otherwise go on coming.  0 or negative errno. */
int eddy__poller_delete(eddy__poller *p, int fd);
/* Close fd, watched or not, so that the socket ends now (an io_uring
 * request in flight holds the file open past a plain close(): the backend
 * cancels it first).  Every watched fd is closed through here. */
void eddy__poller_close(eddy__poller *p, int fd);
/* 0 when this backend can run on this machine, else a negative errno
 * (io_uring: disabled by sysctl or seccomp, or a kernel before 6.1), so
 * that a server fails at start with a clear message. */
int eddy__poller_probe(void);
/* The backend's name, for that message and the logs: "epoll", "io_uring". */
extern const char eddy__poller_name[];
/* Wait up to timeout_ms (-1: no limit, 0: not at all) and fill at most max
 * events.  Their number, or negative errno (-EINTR included). */
int eddy__poller_wait(eddy__poller *p, eddy__poll_event *ev, int max, long timeout_ms);

#ifdef EDDY_POLLER_URING
/* io_uring only: a socket whose input comes from a multishot recv into
 * the poller's provided buffers and whose output goes by SENDs queued in
 * the ring, each run inside the io_uring_enter that waits (conn.c's fast
 * path for plain TCP).  With it a descriptor is polled for POLLOUT only
 * (room after the socket was full; errors). */
enum { EDDY__WATCH_RING = 1 << 3 };

/* The provided buffers of a poller: 256 of 16 KiB (bench/README.md, "io_uring
 * against the floor", says why).  A recv can have filled all of them before
 * a stop takes effect, so a stopped connection may be handed up to
 * EDDY__RING_WINDOW bytes more. */
enum { EDDY__RING_BUFS = 256, EDDY__RING_BUF_SIZE = 16384 };
#define EDDY__RING_WINDOW ((size_t)EDDY__RING_BUFS * EDDY__RING_BUF_SIZE)

/* Events of such a socket, beyond poll(2)'s bits. */
enum {
    /* res: bytes at data (> 0); 0: the peer's FIN (the recv ended);
     * -ECANCELED: the recv stopped as eddy__poller_recv asked; another
     * negative errno: the socket failed */
    EDDY__RECVD = 1u << 28,
    EDDY__SENT = 1u << 29, /* res: bytes the socket took, or a negative errno (-EAGAIN: full) */
};

/* Whether the thread that waits has taken p (its first wait): only then
 * may a socket be watched with EDDY__WATCH_RING. */
int eddy__poller_taken(const eddy__poller *p);
/* Have fd's recv armed (on) or stopped.  Returns 1 when stopping a recv
 * that has not ended yet: an EDDY__RECVD event with -ECANCELED (or its
 * FIN, or an error) will say when it has; else 0. */
int eddy__poller_recv(eddy__poller *p, int fd, int on);
/* Queue a SEND of len bytes at buf on fd (MSG_DONTWAIT: it completes
 * inside the next wait, which reports it as EDDY__SENT; the bytes must
 * stay until then, and the kernel is done with them when it returns).
 * 0, or -EBUSY when the submission queue has no room. */
int eddy__poller_send(eddy__poller *p, int fd, const void *buf, size_t len);
/* Give the provided buffers' memory back to the kernel if any was filled
 * since the last call (their pages come back zeroed at the next use), so
 * that a burst does not leave a worker 4 MiB larger; returns whether
 * there is anything to give back now. */
int eddy__poller_trim(eddy__poller *p, int now);
#endif

#endif
