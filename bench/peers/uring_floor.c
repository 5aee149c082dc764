/* uring_floor - the floor's echo on a hand-written io_uring loop: what
 * io_uring gives over edge-triggered epoll here, as a reference.
 *
 * Per worker thread: one ring (SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL,
 * its fd registered with itself), one SO_REUSEPORT listening socket with a
 * multishot accept, one provided-buffer ring (group 0), and one multishot
 * recv per connection that the kernel fills from it.  Each loop turn is one
 * io_uring_enter that submits every SQE the turn queued and waits for at
 * least one completion; the kernel runs the receives (task work) inside
 * that call.
 *
 * The reply to each chunk (prefix + chunk), by --mode:
 *   ring (default): sent from the provided buffer itself, no copy in user
 *     space: SEND (SENDMSG with two iovecs, prefix and chunk, when there is a
 *     prefix) with MSG_DONTWAIT, so that it completes at once; the buffer goes
 *     back to the ring on its completion; what the socket would not take is
 *     copied into the connection's reply buffer and sent from there.
 *   copy: prefix + chunk copied into the connection's reply buffer, the
 *     provided buffer given back at once, SEND from the reply buffer.
 * One send in flight per connection; what arrives meanwhile is copied into
 * its queue, sent when the send in flight is done (the reply buffer and the
 * queue swap, keeping their capacity: the steady state allocates nothing).
 * Past 4 MiB queued the connection's recv is cancelled until all is sent.
 * Tuning for experiments, after the mode: ,bufs=N (provided buffers, a
 * power of two, default 256), ,size=N (bytes each, default 16384), ,coop
 * (COOP_TASKRUN instead of DEFER_TASKRUN), ,noreg (ring fd not registered).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "peer_common.h"
#include "uring.h" /* core/uring.h: the core's ring code, header-only */

#define SQ_ENTRIES 4096
#define CQ_ENTRIES 32768

/* user_data: a conn pointer (malloc'ed, so 8-aligned) or'ed with a tag */
enum { T_RECV, T_SEND, T_ACCEPT, T_CANCEL, T_TIMER, T_MASK = 7 };

typedef struct obuf {
    char *p;
    size_t len, off, cap;
} obuf;

typedef struct conn {
    int fd;
    uint8_t armed;   /* the multishot recv is live */
    uint8_t sending; /* a send is in flight */
    uint8_t paused;  /* recv cancelled: too much queued */
    uint8_t closing; /* shut down; freed once nothing is in flight */
    int held;        /* the provided buffer the send in flight is from, -1 when none */
    size_t held_len; /* its chunk's length */
    obuf out;        /* the bytes of the send in flight when not from a provided buffer */
    obuf q;          /* what waits behind the send in flight */
    struct msghdr msg;
    struct iovec iov[2];
} conn;

typedef struct worker {
    pthread_t tid;
    int lfd;
    eddy__uring u;
    struct __kernel_timespec retry; /* accept retry after EMFILE */
} worker;

static peer_opts o;
static int copy_mode;
static unsigned nbufs = 256, buf_size = 16384, setup_flags;
static int register_ring = 1;
static pthread_barrier_t ready;

/* An SQE, or exit: the queue is flushed when full, so only a broken ring
 * leaves none. */
static void *sqe_or_die(worker *w)
{
    struct io_uring_sqe *sqe = eddy__uring_sqe(&w->u);
    if (!sqe) {
        fprintf(stderr, "uring_floor: submission queue full\n");
        exit(1);
    }
    return sqe;
}

/* One multishot accept on the worker's listening socket. */
static void arm_accept(worker *w)
{
    struct io_uring_sqe *sqe = sqe_or_die(w);
    sqe->opcode = IORING_OP_ACCEPT;
    sqe->fd = w->lfd;
    sqe->ioprio = IORING_ACCEPT_MULTISHOT;
    sqe->accept_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
    sqe->user_data = T_ACCEPT;
}

/* One multishot recv on c, into provided buffers of group 0. */
static void arm_recv(worker *w, conn *c)
{
    struct io_uring_sqe *sqe = sqe_or_die(w);
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = c->fd;
    sqe->ioprio = IORING_RECV_MULTISHOT;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    sqe->user_data = (uint64_t)(uintptr_t)c | T_RECV;
    c->armed = 1;
}

/* Append prefix + chunk to b. */
static int obuf_reply(obuf *b, const void *p, size_t n)
{
    if (o.plen && peer_append(&b->p, &b->len, &b->cap, o.prefix, o.plen) < 0)
        return -1;
    return peer_append(&b->p, &b->len, &b->cap, p, n);
}

/* Send what is left of c->out (the send may wait for room). */
static void send_out(worker *w, conn *c)
{
    struct io_uring_sqe *sqe = sqe_or_die(w);
    sqe->opcode = IORING_OP_SEND;
    sqe->fd = c->fd;
    sqe->addr = (uint64_t)(uintptr_t)(c->out.p + c->out.off);
    sqe->len = (uint32_t)(c->out.len - c->out.off);
    sqe->msg_flags = MSG_NOSIGNAL;
    sqe->user_data = (uint64_t)(uintptr_t)c | T_SEND;
    c->sending = 1;
}

/* The reply straight from provided buffer bid; MSG_DONTWAIT: the send
 * completes in this turn's submission and the buffer goes back at once. */
static void send_ring(worker *w, conn *c, unsigned bid, size_t n)
{
    struct io_uring_sqe *sqe = sqe_or_die(w);
    void *p = eddy__uring_buf(&w->u, bid);
    sqe->fd = c->fd;
    if (o.plen) {
        c->iov[0] = (struct iovec){(void *)o.prefix, o.plen};
        c->iov[1] = (struct iovec){p, n};
        c->msg = (struct msghdr){.msg_iov = c->iov, .msg_iovlen = 2};
        sqe->opcode = IORING_OP_SENDMSG;
        sqe->addr = (uint64_t)(uintptr_t)&c->msg;
        sqe->len = 1;
    } else {
        sqe->opcode = IORING_OP_SEND;
        sqe->addr = (uint64_t)(uintptr_t)p;
        sqe->len = (uint32_t)n;
    }
    sqe->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
    sqe->user_data = (uint64_t)(uintptr_t)c | T_SEND;
    c->sending = 1;
    c->held = (int)bid;
    c->held_len = n;
}

/* Shut the connection down: its recv and send end (with EOF or EPIPE), and
 * it is freed when the last of them has completed (conn_release). */
static void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    shutdown(c->fd, SHUT_RDWR);
}

/* Free a closing connection with nothing in flight. */
static void conn_release(conn *c)
{
    if (!c->closing || c->armed || c->sending)
        return;
    close(c->fd);
    free(c->out.p);
    free(c->q.p);
    free(c);
}

/* Stop receiving on c until its queue is sent. */
static void pause_recv(worker *w, conn *c)
{
    c->paused = 1;
    if (!c->armed)
        return;
    struct io_uring_sqe *sqe = sqe_or_die(w);
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->addr = (uint64_t)(uintptr_t)c | T_RECV;
    sqe->flags = IOSQE_CQE_SKIP_SUCCESS;
    sqe->user_data = T_CANCEL;
}

/* A chunk of n bytes in provided buffer bid. */
static void on_data(worker *w, conn *c, unsigned bid, size_t n)
{
    const void *p = eddy__uring_buf(&w->u, bid);
    if (!c->sending && !copy_mode) {
        send_ring(w, c, bid, n);
        return;
    }
    int r = c->sending ? obuf_reply(&c->q, p, n) : obuf_reply(&c->out, p, n);
    eddy__uring_buf_give(&w->u, bid);
    if (r < 0) {
        conn_close(c);
        return;
    }
    if (!c->sending)
        send_out(w, c);
    else if (c->q.len > PEER_HIGH_WATER && !c->paused)
        pause_recv(w, c);
}

/* A recv completion: its chunk, then, if the multishot recv ended, close
 * (EOF, error) or arm it again (out of buffers, cancelled but resumed). */
static void on_recv(worker *w, conn *c, int res, unsigned flags)
{
    if (flags & IORING_CQE_F_BUFFER) {
        unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
        if (res > 0 && !c->closing)
            on_data(w, c, bid, (size_t)res);
        else
            eddy__uring_buf_give(&w->u, bid);
    }
    if (flags & IORING_CQE_F_MORE)
        return;
    c->armed = 0;
    if (res == 0 || (res < 0 && res != -ENOBUFS && res != -ECANCELED))
        conn_close(c); /* EOF, or an error */
    else if (!c->paused && !c->closing)
        arm_recv(w, c); /* out of buffers, or ended by the kernel: the buffers are back by the next submit */
    conn_release(c);
}

/* A send completion: the provided buffer back (the unsent rest copied),
 * then the next send: the rest, or the queue; recv resumed once all is out. */
static void on_sent(worker *w, conn *c, int res)
{
    c->sending = 0;
    int fail = res < 0 && res != -EAGAIN;
    if (c->held >= 0) {
        /* from a provided buffer: keep what the socket did not take */
        size_t done = res > 0 ? (size_t)res : 0;
        const char *p = (const char *)eddy__uring_buf(&w->u, (unsigned)c->held);
        if (!fail && done < o.plen)
            fail = peer_append(&c->out.p, &c->out.len, &c->out.cap, o.prefix + done, o.plen - done) < 0;
        if (!fail && done < o.plen + c->held_len) {
            size_t skip = done > o.plen ? done - o.plen : 0;
            fail = peer_append(&c->out.p, &c->out.len, &c->out.cap, p + skip, c->held_len - skip) < 0;
        }
        eddy__uring_buf_give(&w->u, (unsigned)c->held);
        c->held = -1;
    } else if (res > 0) {
        c->out.off += (size_t)res;
    }
    if (fail)
        conn_close(c);
    if (!c->closing) {
        if (c->out.off == c->out.len && c->q.len) {
            obuf t = c->out;
            c->out = c->q;
            c->q = (obuf){t.p, 0, 0, t.cap};
        }
        if (c->out.off < c->out.len) {
            send_out(w, c);
        } else {
            c->out.len = c->out.off = 0;
            if (c->paused) { /* all sent: read again */
                c->paused = 0;
                if (!c->armed)
                    arm_recv(w, c);
            }
        }
    }
    conn_release(c);
}

/* An accept completion: a connection with its recv; the accept armed again
 * if it ended (in 100 ms when out of descriptors). */
static void on_accept(worker *w, int res, unsigned flags)
{
    if (res >= 0) {
        peer_nodelay(res);
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(res);
        } else {
            c->fd = res;
            c->held = -1;
            arm_recv(w, c);
        }
    }
    if (flags & IORING_CQE_F_MORE)
        return;
    if (res == -EMFILE || res == -ENFILE || res == -ENOMEM || res == -ENOBUFS) {
        /* out of descriptors: ask again in 100 ms, not in a busy loop */
        struct io_uring_sqe *sqe = sqe_or_die(w);
        w->retry = (struct __kernel_timespec){0, 100 * 1000000};
        sqe->opcode = IORING_OP_TIMEOUT;
        sqe->addr = (uint64_t)(uintptr_t)&w->retry;
        sqe->len = 1;
        sqe->user_data = T_TIMER;
    } else {
        arm_accept(w);
    }
}

/* The worker's ring, provided buffers and accept; exits on failure. */
static void setup_ring(worker *w)
{
    int r = eddy__uring_open(&w->u, SQ_ENTRIES, CQ_ENTRIES, setup_flags, 1, NULL);
    if (r == 0)
        r = eddy__uring_bufs(&w->u, nbufs, buf_size);
    if (r == 0 && register_ring)
        r = eddy__uring_register_ring(&w->u);
    if (r < 0) {
        fprintf(stderr, "uring_floor: io_uring setup: %s\n", strerror(-r));
        exit(1);
    }
    arm_accept(w);
}

/* The loop: one io_uring_enter per turn, then every completion it brought. */
static void serve(worker *w)
{
    eddy__uring *u = &w->u;
    for (;;) {
        int r = eddy__uring_submit_wait(u, 1, -1);
        if (r < 0) {
            fprintf(stderr, "uring_floor: io_uring_enter: %s\n", strerror(-r));
            exit(1);
        }
        unsigned head = *u->cq_head;
        unsigned tail = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
        for (; head != tail; head++) {
            struct io_uring_cqe *cqe = &u->cqes[head & u->cq_mask];
            conn *c = (conn *)(uintptr_t)(cqe->user_data & ~(uint64_t)T_MASK);
            switch (cqe->user_data & T_MASK) {
            case T_RECV: on_recv(w, c, cqe->res, cqe->flags); break;
            case T_SEND: on_sent(w, c, cqe->res); break;
            case T_ACCEPT: on_accept(w, cqe->res, cqe->flags); break;
            case T_TIMER: arm_accept(w); break;
            default: break; /* T_CANCEL: its failure (the recv had ended) needs nothing */
            }
        }
        __atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
        eddy__uring_buf_publish(u);
    }
}

/* Workers 1..N-1: the ring is made in the thread that uses it
 * (SINGLE_ISSUER and DEFER_TASKRUN bind it to its creator). */
static void *worker_main(void *arg)
{
    worker *w = arg;
    setup_ring(w);
    pthread_barrier_wait(&ready);
    serve(w);
    return NULL;
}

/* --mode ring|copy[,bufs=N][,size=N][,coop][,noreg]; exits 2 on a bad one. */
static void parse_mode(const char *mode)
{
    char *s = strdup(mode ? mode : "ring"), *save = NULL;
    int bad = !s || !s[0];
    for (char *t = bad ? NULL : strtok_r(s, ",", &save); t && !bad; t = strtok_r(NULL, ",", &save)) {
        unsigned long v = 0;
        int end = 0;
        if (!strcmp(t, "ring") || !strcmp(t, "copy"))
            copy_mode = t[0] == 'c';
        else if (!strcmp(t, "coop"))
            setup_flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
                          IORING_SETUP_TASKRUN_FLAG;
        else if (!strcmp(t, "noreg"))
            register_ring = 0;
        else if (sscanf(t, "bufs=%lu%n", &v, &end) == 1 && !t[end] && v >= 1 && v <= 32768 && !(v & (v - 1)))
            nbufs = (unsigned)v;
        else if (sscanf(t, "size=%lu%n", &v, &end) == 1 && !t[end] && v >= 64 && v <= (1u << 20))
            buf_size = (unsigned)v;
        else
            bad = 1;
    }
    free(s);
    if (bad) {
        peer_usage("uring_floor", "ring|copy[,bufs=N][,size=N][,coop][,noreg]");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    peer_parse(argc, argv, "uring_floor", "ring|copy[,bufs=N][,size=N][,coop][,noreg]", &o);
    setup_flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    parse_mode(o.mode);
    peer_setup_process();
    static worker ws[PEER_MAX_WORKERS];
    int port = o.port;
    for (int i = 0; i < o.workers; i++)
        ws[i].lfd = peer_listen(port, &port);
    pthread_barrier_init(&ready, NULL, (unsigned)o.workers);
    for (int i = 1; i < o.workers; i++)
        if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    setup_ring(&ws[0]); /* worker 0 runs on this thread */
    pthread_barrier_wait(&ready);
    peer_ready("uring_floor", port, o.workers, o.mode);
    serve(&ws[0]);
    return 0;
}
