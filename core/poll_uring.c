/* core/poll_uring.c - the io_uring backend of poller.h (-DEDDY_POLLER=uring).
 *
 * One ring per poller (core/uring.h: raw system calls, no liburing), set
 * up SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL and disabled until the
 * thread that waits on it first does (the worker's, not the one that made
 * the loop): every request is submitted, and its task work run, by that
 * thread, inside the one io_uring_enter per turn that also waits.
 *
 * Each watched fd has one multishot POLL_ADD (IORING_POLL_ADD_MULTI): a
 * completion per wakeup, as epoll's EPOLLET gives, with poll(2)'s bits in
 * cqe->res, which are eddy's flags.  A multishot poll that the kernel ends
 * (a full completion queue) is armed again; the arming checks readiness,
 * so no edge is lost.
 *
 * Descriptors and staleness: a request in flight holds a reference to its
 * file, so close(fd) alone would not end the socket, and the poll's last
 * completion (-ECANCELED) may come after the fd's number was reused.  So
 * the backend keeps a table indexed by fd, each entry with a generation
 * that changes with every eddy__poller_add, and a request's user_data is
 * (tag, generation, fd): a completion whose generation is not its fd's
 * current one is stale and dropped, and no user_data is ever a pointer.
 * eddy__poller_close cancels the fd's requests (by fd, all of them,
 * CQE_SKIP_SUCCESS) and has the kernel act on it at once (one
 * io_uring_enter that runs the cancellations' task work) before close(fd),
 * so the socket ends when the caller closes it, as with epoll.
 *
 * Before its thread takes the ring, a watch is only written in the table;
 * the taking arms them all.
 *
 * A socket watched with EDDY__WATCH_RING (conn.c's fast path) has, beside
 * a multishot poll for POLLOUT only, a multishot RECV that the kernel
 * fills from a provided-buffer ring of the poller (256 buffers of 16 KiB:
 * bench/README.md says why), reported as EDDY__RECVD events that point
 * into the buffer; the buffers delivered by one wait go back to the
 * kernel at the start of the next.  A recv that ends for want of buffers
 * is armed again (the buffers are back by the next submit).  SENDs are
 * queued by the caller before it waits and carry MSG_DONTWAIT, so each
 * completes inside that io_uring_enter: a socket that has no room says
 * -EAGAIN (or takes part), and no request points at the caller's bytes
 * once the wait returns.
 */
#include "poller.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "uring.h"

enum {
    SQ_ENTRIES = 1024,
    CQ_ENTRIES = 16384, /* a poll completion per ready fd per turn; more wait in the kernel */
    SETUP_FLAGS = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                  IORING_SETUP_SUBMIT_ALL,
    RECV_BUFS = EDDY__RING_BUFS, /* provided buffers: a power of two */
};

/* user_data: tag in the top 4 bits, then the generation, then the fd. */
enum { T_POLL = 1, T_CANCEL = 2, T_RECV = 3, T_SEND = 4 };
#define GEN_MASK 0x0fffffffu
#define USER_DATA(tag, gen, fd) \
    ((uint64_t)(tag) << 60 | (uint64_t)((gen)&GEN_MASK) << 32 | (uint32_t)(fd))

enum { SLOT_FREE, SLOT_WATCHED, SLOT_ARMED }; /* armed: its poll is in the kernel */
enum { RECV_OFF, RECV_ARMED, RECV_STOPPING }; /* a RING socket's multishot recv */

typedef struct slot {
    void *ptr;
    uint32_t gen;
    uint8_t state;
    uint8_t watch;     /* EDDY__WATCH_* */
    uint8_t recv;      /* RECV_* */
    uint8_t recv_want; /* the owner wants it armed */
} slot;

struct eddy__poller {
    eddy__uring u;
    int taken; /* enabled by the thread that waits on it; watches armed */
    uint32_t gen;
    slot *slots; /* indexed by fd */
    unsigned nslots;
    uint16_t lent[RECV_BUFS]; /* provided buffers delivered by the last wait */
    unsigned nlent;
    int filled; /* a provided buffer was filled since the last trim */
};

const char eddy__poller_name[] = "io_uring";

int eddy__poller_probe(void)
{
    eddy__uring u;
    int rc = eddy__uring_open(&u, 2, 4, SETUP_FLAGS, 0, NULL);
    if (rc == 0)
        eddy__uring_free(&u);
    return rc;
}

eddy__poller *eddy__poller_create(void)
{
    eddy__poller *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    int rc = eddy__uring_open(&p->u, SQ_ENTRIES, CQ_ENTRIES, SETUP_FLAGS | IORING_SETUP_R_DISABLED,
                              0, NULL);
#ifdef EDDY_URING_FAST
    if (rc == 0 && (rc = eddy__uring_bufs(&p->u, RECV_BUFS, EDDY__RING_BUF_SIZE)) < 0)
        eddy__uring_free(&p->u);
#endif
    if (rc < 0) {
        free(p);
        errno = -rc;
        return NULL;
    }
    return p;
}

void eddy__poller_destroy(eddy__poller *p)
{
    if (!p)
        return;
    eddy__uring_free(&p->u); /* closing the ring cancels what is in flight */
    free(p->slots);
    free(p);
}

/* The table covers fd.  0 or -ENOMEM. */
static int slots_cover(eddy__poller *p, int fd)
{
    if ((unsigned)fd < p->nslots)
        return 0;
    unsigned n = p->nslots ? p->nslots : 64;
    while (n <= (unsigned)fd)
        n *= 2;
    slot *grown = realloc(p->slots, n * sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    memset(grown + p->nslots, 0, (n - p->nslots) * sizeof(*grown));
    p->slots = grown;
    p->nslots = n;
    return 0;
}

/* poll32_events in the kernel's order (it swaps the halves on big-endian). */
static uint32_t poll_events(unsigned watch)
{
    uint32_t ev = 0;
    if (watch & EDDY__WATCH_RING)
        ev = POLLOUT; /* input comes by the recv */
    else if (watch & EDDY__WATCH_IN)
        ev |= POLLIN;
    if (watch & EDDY__WATCH_OUT)
        ev |= POLLOUT | POLLRDHUP;
    if (watch & EDDY__WATCH_EXCLUSIVE)
        ev |= EPOLLEXCLUSIVE;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    ev = ev << 16 | ev >> 16;
#endif
    return ev;
}

/* Queue fd's multishot poll.  0 or -EBUSY (no room even after handing the
 * queue to the kernel). */
static int arm(eddy__poller *p, int fd)
{
    slot *s = &p->slots[fd];
    struct io_uring_sqe *sqe = eddy__uring_sqe(&p->u);
    if (!sqe)
        return -EBUSY;
    sqe->opcode = IORING_OP_POLL_ADD;
    sqe->fd = fd;
    sqe->len = IORING_POLL_ADD_MULTI;
    sqe->poll32_events = poll_events(s->watch);
    sqe->user_data = USER_DATA(T_POLL, s->gen, fd);
    s->state = SLOT_ARMED;
    return 0;
}

/* Queue fd's multishot recv into the provided buffers (group 0). */
static int arm_recv(eddy__poller *p, int fd)
{
    slot *s = &p->slots[fd];
    struct io_uring_sqe *sqe = eddy__uring_sqe(&p->u);
    if (!sqe)
        return -EBUSY;
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = fd;
    sqe->ioprio = IORING_RECV_MULTISHOT;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    sqe->user_data = USER_DATA(T_RECV, s->gen, fd);
    s->recv = RECV_ARMED;
    return 0;
}

/* Arm what fd's slot asks for: its poll, and its recv when wanted. */
static int arm_slot(eddy__poller *p, int fd)
{
    int rc = arm(p, fd);
    if (rc == 0 && p->slots[fd].recv_want && p->slots[fd].recv == RECV_OFF)
        rc = arm_recv(p, fd);
    return rc;
}

/* The waiting thread takes the ring: enabled for it (SINGLE_ISSUER), its
 * fd registered, the watches made so far armed. */
static int take(eddy__poller *p)
{
    int rc = eddy__uring_enable(&p->u);
    if (rc < 0)
        return rc;
    eddy__uring_register_ring(&p->u); /* an optimisation: the fd works too */
    p->taken = 1;
    for (unsigned fd = 0; fd < p->nslots; fd++)
        if (p->slots[fd].state == SLOT_WATCHED && (rc = arm_slot(p, (int)fd)) < 0)
            return rc;
    return 0;
}

int eddy__poller_taken(const eddy__poller *p)
{
    return p->taken;
}

int eddy__poller_add(eddy__poller *p, int fd, unsigned watch, void *ptr)
{
    if (fd < 0)
        return -EBADF;
    if (slots_cover(p, fd) < 0)
        return -ENOMEM;
    slot *s = &p->slots[fd];
    if (s->state != SLOT_FREE)
        return -EEXIST;
    if ((watch & EDDY__WATCH_RING) && !p->u.br)
        return -EINVAL; /* built without the fast path: no buffers */
    *s = (slot){.ptr = ptr,
                .gen = ++p->gen & GEN_MASK,
                .state = SLOT_WATCHED,
                .watch = (uint8_t)watch,
                .recv_want = (watch & EDDY__WATCH_RING) != 0};
    int rc = p->taken ? arm_slot(p, fd) : 0;
    if (rc < 0)
        s->state = SLOT_FREE;
    return rc;
}

/* Cancel every request on fd and have the kernel complete the
 * cancellations now, so that none holds the file any more. */
static void cancel_now(eddy__poller *p, int fd)
{
    struct io_uring_sqe *sqe = eddy__uring_sqe(&p->u);
    if (sqe) {
        sqe->opcode = IORING_OP_ASYNC_CANCEL;
        sqe->fd = fd;
        sqe->cancel_flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
        sqe->flags = IOSQE_CQE_SKIP_SUCCESS;
        sqe->user_data = USER_DATA(T_CANCEL, 0, 0);
    }
    eddy__uring_submit_wait(&p->u, 0, 0);
}

int eddy__poller_delete(eddy__poller *p, int fd)
{
    if (fd < 0 || (unsigned)fd >= p->nslots || p->slots[fd].state == SLOT_FREE)
        return fcntl(fd, F_GETFD) < 0 ? -EBADF : -ENOENT;
    slot *s = &p->slots[fd];
    if (s->state == SLOT_ARMED)
        cancel_now(p, fd);
    s->state = SLOT_FREE;
    s->recv = RECV_OFF;
    s->ptr = NULL;
    return 0;
}

int eddy__poller_recv(eddy__poller *p, int fd, int on)
{
    slot *s = &p->slots[fd];
    s->recv_want = (uint8_t)(on != 0);
    if (on) {
        if (s->state == SLOT_ARMED && s->recv == RECV_OFF)
            arm_recv(p, fd); /* (a stopping one is armed again when it ends) */
        return 0;
    }
    if (s->recv == RECV_ARMED) {
        struct io_uring_sqe *sqe = eddy__uring_sqe(&p->u);
        if (!sqe)
            return 0; /* it stays armed: its data comes on, buffered by the owner */
        sqe->opcode = IORING_OP_ASYNC_CANCEL;
        sqe->addr = USER_DATA(T_RECV, s->gen, fd);
        sqe->flags = IOSQE_CQE_SKIP_SUCCESS;
        sqe->user_data = USER_DATA(T_CANCEL, 0, 0);
        s->recv = RECV_STOPPING;
    }
    return s->recv == RECV_STOPPING;
}

int eddy__poller_send(eddy__poller *p, int fd, const void *buf, size_t len)
{
    struct io_uring_sqe *sqe = eddy__uring_sqe(&p->u);
    if (!sqe)
        return -EBUSY;
    sqe->opcode = IORING_OP_SEND;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)buf;
    sqe->len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    sqe->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
    sqe->user_data = USER_DATA(T_SEND, p->slots[fd].gen, fd);
    return 0;
}

/* (Between waits, no buffer holds anything the caller still reads: the
 * last wait's were handed to it and consumed or copied.) */
int eddy__poller_trim(eddy__poller *p, int now)
{
    if (now && p->filled && p->u.bufs) {
        madvise(p->u.bufs, (size_t)RECV_BUFS * EDDY__RING_BUF_SIZE, MADV_DONTNEED);
        p->filled = 0;
    }
    return p->filled;
}

/* A recv completion of a current slot: the event to report (0: none).
 * A recv that ended is armed again while wanted, unless the peer's FIN or
 * an error ended it; -ENOBUFS (the buffers were all lent) and the end of
 * a stop that was taken back are not reported. */
static uint32_t on_recv(eddy__poller *p, int fd, const struct io_uring_cqe *cqe, eddy__poll_event *ev)
{
    slot *s = &p->slots[fd];
    int res = cqe->res;
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        s->recv = RECV_OFF;
        int quiet = res == -ENOBUFS || (res == -ECANCELED && s->recv_want);
        if (s->recv_want && (res > 0 || quiet))
            arm_recv(p, fd);
        if (quiet)
            return 0;
    }
    ev->res = res;
    ev->data = res > 0 ? (const char *)eddy__uring_buf(&p->u, cqe->flags >> IORING_CQE_BUFFER_SHIFT)
                       : NULL;
    return EDDY__RECVD;
}

void eddy__poller_close(eddy__poller *p, int fd)
{
    if (fd >= 0 && (unsigned)fd < p->nslots && p->slots[fd].state != SLOT_FREE)
        eddy__poller_delete(p, fd);
    close(fd);
}

int eddy__poller_wait(eddy__poller *p, eddy__poll_event *ev, int max, long timeout_ms)
{
    eddy__uring *u = &p->u;
    int rc;
    if (!p->taken && (rc = take(p)) < 0)
        return rc;
    if (p->nlent) { /* the caller is done with the last wait's buffers */
        for (unsigned i = 0; i < p->nlent; i++)
            eddy__uring_buf_give(u, p->lent[i]);
        eddy__uring_buf_publish(u);
        p->nlent = 0;
    }
    /* Completions left from the last call (more than max): none to wait for. */
    int left = *u->cq_head != __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
    rc = eddy__uring_submit_wait(u, left || timeout_ms == 0 ? 0 : 1, left ? 0 : timeout_ms);
    if (rc < 0)
        return rc;
    int n = 0;
    unsigned head = *u->cq_head, tail = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
    for (; head != tail && n < max; head++) {
        const struct io_uring_cqe *cqe = &u->cqes[head & u->cq_mask];
        uint64_t ud = cqe->user_data;
        uint32_t fd = (uint32_t)ud, tag = (uint32_t)(ud >> 60);
        if (cqe->flags & IORING_CQE_F_BUFFER) { /* lent to the caller until the next wait */
            p->lent[p->nlent++ & (RECV_BUFS - 1)] = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
            p->filled = 1;
        }
        if (tag == T_CANCEL || fd >= p->nslots) /* a failed cancel: nothing to do */
            continue;
        slot *s = &p->slots[fd];
        if (s->state != SLOT_ARMED || s->gen != ((ud >> 32) & GEN_MASK))
            continue; /* stale: the fd was closed (and maybe reused) since */
        if (tag == T_RECV || tag == T_SEND) {
            uint32_t kind = EDDY__SENT;
            if (tag == T_RECV && !(kind = on_recv(p, (int)fd, cqe, &ev[n])))
                continue;
            if (tag == T_SEND)
                ev[n].res = cqe->res;
            ev[n].flags = kind;
            ev[n].ptr = s->ptr;
            n++;
            continue;
        }
        int res = cqe->res;
        if (!(cqe->flags & IORING_CQE_F_MORE)) {
            /* The kernel ended it (a full CQ, or an error): arm again;
             * on an error the owner hears of a failed socket. */
            s->state = SLOT_WATCHED;
            if (res >= 0 || res == -ECANCELED || res == -ENOMEM)
                arm(p, (int)fd);
            if (res < 0)
                res = res == -ECANCELED || res == -ENOMEM ? 0 : POLLERR | POLLHUP;
        }
        if (res) {
            ev[n].flags = (uint32_t)res;
            ev[n].ptr = s->ptr;
            n++;
        }
    }
    __atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
    return n;
}
