/* eddy-load - closed-loop load generator for echo servers on loopback.
 *
 * Ping-pong mode (default): N connections spread over T threads, each thread
 * its own edge-triggered epoll loop over nonblocking sockets.  Every
 * connection keeps D messages of S bytes in flight: a new message is issued
 * the moment a whole reply has come back (closed loop).  A warm-up is run
 * and not counted; then the measured window; then the in-flight messages are
 * drained (and verified) and the connections closed.
 *
 * Verification: every byte of every reply is checked.  Message k of
 * connection c is a slice of one shared pseudo-random pattern starting at an
 * offset hashed from (c, k), so consecutive messages differ and sending is
 * a writev straight from the pattern (no per-message copy), checking a
 * memcmp against it.  In pure echo mode the reply stream must equal the
 * sent stream.  With --prefix STR the server replies STR + each chunk it
 * read, so the reply stream is (STR chunk)* where the chunks concatenate to
 * the sent stream; the pattern never contains STR's first byte, so every
 * occurrence of that byte starts a prefix and the stream parses without
 * ambiguity.  A message completes when all of its payload bytes are back.
 *
 * Latency is the time from the moment a message may be sent (the previous
 * completion that freed its slot, or the start) to the moment its last byte
 * is back, kept in a log-linear histogram (64 sub-buckets per power of two,
 * about 1.6% resolution, no allocation per sample).
 *
 * --idle N: open N connections, keep them open without sending for the
 * duration, then close (to measure a server's memory per idle connection).
 *
 * With --pid PID the server's CPU time (utime+stime from /proc/PID/stat) is
 * sampled at the start and the end of the measured window, giving its CPU
 * time per message whether or not the client is the bottleneck, and its
 * VmRSS/VmHWM are read from /proc/PID/status.  The client's own CPU over
 * the window is always reported (cores busy), to show when it is the
 * bottleneck.
 *
 * Every loop is bounded: connects by --connect-timeout, the run by its
 * duration, the drain by --drain.  Only 127.0.0.0/8 targets are accepted.
 * Exit status: 0 clean, 1 any error (connect failure, verify mismatch, reset,
 * unexpected EOF, reply lost), 2 bad usage or setup failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "uring.h" /* core/uring.h: the core's ring code, header-only */

#define MAX_THREADS 64
#define MAX_CONNS 19000
#define MAX_SIZE (16u << 20)
#define MAX_DEPTH 1024
#define PAT_OFFSETS 4093u       /* distinct start offsets into the pattern */
#define RDBUF_SIZE (256u << 10)
#define MAX_IOV 64
#define EV_BATCH 512

/* ---- histogram ---------------------------------------------------------- */

#define H_SUB_BITS 6
#define H_SUB (1u << H_SUB_BITS)
#define H_BUCKETS ((64 - H_SUB_BITS + 1) * H_SUB)

typedef struct {
    uint64_t n[H_BUCKETS];
    uint64_t count, max;
    double sum;
} hist;

static unsigned h_index(uint64_t v)
{
    if (v < H_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= H_SUB_BITS */
    uint64_t mant = v >> (e - H_SUB_BITS);            /* in [H_SUB, 2*H_SUB) */
    return (e - H_SUB_BITS + 1) * H_SUB + (unsigned)(mant - H_SUB);
}

/* Midpoint of bucket i. */
static uint64_t h_value(unsigned i)
{
    if (i < H_SUB)
        return i;
    unsigned e = i / H_SUB - 1 + H_SUB_BITS;
    uint64_t mant = H_SUB + i % H_SUB;
    uint64_t lo = mant << (e - H_SUB_BITS);
    uint64_t width = (uint64_t)1 << (e - H_SUB_BITS);
    return lo + width / 2;
}

static void h_add(hist *h, uint64_t v)
{
    h->n[h_index(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v > h->max)
        h->max = v;
}

static void h_merge(hist *dst, const hist *src)
{
    for (unsigned i = 0; i < H_BUCKETS; i++)
        dst->n[i] += src->n[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
}

static uint64_t h_quantile(const hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1)
        rank = 1;
    uint64_t acc = 0;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        acc += h->n[i];
        if (acc >= rank) {
            uint64_t v = h_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* ---- options and shared state ------------------------------------------ */

static struct {
    const char *host;
    int port;
    int conns, threads, depth;
    size_t size;
    double duration, warmup, connect_timeout, drain;
    const char *prefix;
    size_t plen;
    int json;
    int idle;   /* >0: idle mode with that many connections */
    int pid;    /* server pid for /proc sampling, 0 = none */
    int batch;  /* connects in progress at once, per thread */
    int quiet;
    long spin_ns; /* diagnostic: burn this much CPU per reply (headroom test) */
    int uring;    /* run phase on io_uring instead of epoll */
} opt = {
    .host = "127.0.0.1",
    .port = 7777,
    .conns = 64,
    .threads = 1,
    .depth = 1,
    .size = 64,
    .duration = 5.0,
    .warmup = 1.0,
    .connect_timeout = 30.0,
    .drain = 10.0,
    .prefix = "",
    .batch = 256,
};

static struct sockaddr_in target;
static unsigned char *pattern; /* size + PAT_OFFSETS bytes */
static atomic_int interrupted;
static atomic_int engine_uring; /* thread 0 runs on io_uring */

/* Monotonic times (ns) shared by all threads, written before the start
 * barrier is released. */
static uint64_t t_start, t_meas, t_end;

static pthread_barrier_t bar_connected, bar_go;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000u), (long)(t % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        if (atomic_load(&interrupted))
            return;
    }
}

/* ---- connections ------------------------------------------------------- */

enum cstate { C_FREE, C_CONNECTING, C_OPEN, C_DONE, C_FAILED };

typedef struct conn {
    int fd;
    uint32_t id;          /* global connection index */
    uint8_t state;
    uint8_t blocked;      /* last write hit EAGAIN: wait for EPOLLOUT */
    uint8_t in_prefix;    /* prefix mode: bytes of the prefix still expected (0 = payload) */
    uint8_t retries;
    uint8_t rd_pending;   /* an input edge arrived while connecting */
    uint32_t prefix_pos;  /* prefix mode: index into the prefix being matched */
    uint64_t issued;      /* messages allowed to be sent: completed + depth (capped at stop) */
    uint64_t send_seq;    /* message being written */
    uint64_t recv_seq;    /* message being received */
    uint32_t send_off;    /* bytes of send_seq already written */
    uint64_t lim_seq;     /* bytes handed to the kernel end at (lim_seq, lim_off): */
    uint32_t lim_off;     /* a reply beyond that point is an error */
    uint32_t recv_off;    /* bytes of recv_seq already received */
    uint64_t *stamp;      /* [depth] time each in-flight message became sendable */
} conn;

typedef struct {
    uint64_t connect_fail, verify, reset, eof, lost, excess;
} errs;

typedef struct worker {
    int idx;
    pthread_t tid;
    int ep;
    conn *c;         /* this thread's connections */
    int n;           /* how many */
    int open;        /* connected */
    unsigned char *rdbuf;
    uint64_t msgs;   /* completions inside the measured window */
    uint64_t total_msgs;
    hist h;
    errs e;
    int stopping;    /* past t_end: issue nothing new */
    uint64_t connect_ns;
} worker;

static worker workers[MAX_THREADS];

static uint32_t pat_offset(uint32_t cid, uint64_t seq)
{
    uint64_t h = (seq + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)cid + 1) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return (uint32_t)(h % PAT_OFFSETS);
}

static void build_pattern(void)
{
    size_t len = opt.size + PAT_OFFSETS;
    pattern = malloc(len);
    if (!pattern) {
        perror("eddy-load: malloc");
        exit(2);
    }
    uint64_t x = 0x2545F4914F6CDD1Dull;
    int excl = opt.plen ? (unsigned char)opt.prefix[0] : -1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned b = (unsigned)(x >> 24) & 0xffu;
        if ((int)b == excl)
            b ^= 0x55u;
        pattern[i] = (unsigned char)b;
    }
}

static void conn_fail(worker *w, conn *c, uint64_t *counter)
{
    if (counter)
        (*counter)++;
    if (c->fd >= 0) {
        epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
        shutdown(c->fd, SHUT_RDWR); /* ends io_uring operations that hold the socket */
        close(c->fd);
        c->fd = -1;
    }
    if (c->state == C_OPEN)
        w->open--;
    c->state = C_FAILED;
}

/* Start a nonblocking connect; 0 on success or in progress. */
static int conn_start(worker *w, conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
        int err = -errno;
        close(fd);
        return err;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    c->fd = fd;
    c->state = C_CONNECTING;
    return 0;
}

/* Connect this thread's connections, at most opt.batch in progress at a
 * time, until all are open or failed or the connect deadline passes. */
static void connect_all(worker *w)
{
    uint64_t t0 = now_ns();
    uint64_t deadline = t0 + (uint64_t)(opt.connect_timeout * 1e9);
    int next = 0, pending = 0, failed = 0;
    struct epoll_event evs[EV_BATCH];

    while (w->open + failed < w->n) {
        if (atomic_load(&interrupted) || now_ns() >= deadline)
            break;
        while (next < w->n && pending < opt.batch) {
            conn *c = &w->c[next];
            int r = conn_start(w, c);
            if (r < 0) {
                if ((r == -EAGAIN || r == -EADDRNOTAVAIL) && c->retries < 3) {
                    c->retries++;
                    break; /* try again after some complete */
                }
                if (!opt.quiet && w->e.connect_fail == 0)
                    fprintf(stderr, "eddy-load: connect: %s\n", strerror(-r));
                c->state = C_FAILED;
                w->e.connect_fail++;
                failed++;
            } else {
                pending++;
            }
            next++;
        }
        int n = epoll_wait(w->ep, evs, EV_BATCH, 50);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->state == C_OPEN && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                c->rd_pending = 1; /* consumed edge: look at it when the run starts */
            if (c->state != C_CONNECTING)
                continue;
            int err = 0;
            socklen_t el = sizeof err;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
                err = errno;
            if (err == 0 && !(evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                continue;
            pending--;
            if (err == 0 && !(evs[i].events & (EPOLLERR | EPOLLHUP))) {
                c->state = C_OPEN;
                w->open++;
            } else {
                if (!opt.quiet && w->e.connect_fail == 0)
                    fprintf(stderr, "eddy-load: connect: %s\n", strerror(err ? err : ECONNRESET));
                conn_fail(w, c, &w->e.connect_fail);
                failed++;
            }
        }
        if (n < 0 && errno != EINTR)
            break;
    }
    for (int i = 0; i < w->n; i++) {
        conn *c = &w->c[i];
        if (c->state == C_CONNECTING || c->state == C_FREE) {
            if (c->state == C_CONNECTING)
                conn_fail(w, c, NULL);
            c->state = C_FAILED;
            w->e.connect_fail++;
        }
    }
    w->connect_ns = now_ns() - t0;
}

/* ---- ping-pong --------------------------------------------------------- */

static void conn_send(worker *w, conn *c)
{
    while (c->state == C_OPEN && !c->blocked && c->send_seq < c->issued) {
        struct iovec iov[MAX_IOV];
        int k = 0;
        uint64_t seq = c->send_seq;
        uint32_t off = c->send_off;
        size_t total = 0;
        while (k < MAX_IOV && seq < c->issued) {
            iov[k].iov_base = pattern + pat_offset(c->id, seq) + off;
            iov[k].iov_len = opt.size - off;
            total += iov[k].iov_len;
            k++;
            seq++;
            off = 0;
        }
        ssize_t r = writev(c->fd, iov, k);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->blocked = 1;
                return;
            }
            if (errno == EINTR)
                continue;
            conn_fail(w, c, &w->e.reset);
            return;
        }
        /* advance by r bytes */
        size_t left = (size_t)r;
        while (left > 0) {
            size_t rem = opt.size - c->send_off;
            if (left >= rem) {
                left -= rem;
                c->send_seq++;
                c->send_off = 0;
            } else {
                c->send_off += (uint32_t)left;
                left = 0;
            }
        }
        c->lim_seq = c->send_seq;
        c->lim_off = c->send_off;
        if ((size_t)r < total) {
            c->blocked = 1; /* short write: the socket buffer is full */
            return;
        }
    }
}

static void complete_msg(worker *w, conn *c, uint64_t now)
{
    if (opt.spin_ns) {
        /* --spin: a client made slower on purpose; if throughput does not
         * drop, the client had that much headroom per message */
        uint64_t until = now_ns() + (uint64_t)opt.spin_ns;
        while (now_ns() < until)
            ;
    }
    uint64_t seq = c->recv_seq;
    uint64_t *slot = &c->stamp[seq % (uint64_t)opt.depth];
    if (now >= t_meas && now < t_end) {
        w->msgs++;
        h_add(&w->h, now - *slot);
    }
    w->total_msgs++;
    c->recv_seq++;
    c->recv_off = 0;
    if (!w->stopping) {
        /* the slot is free: message seq + depth may now be sent */
        *slot = now;
        c->issued++;
    }
}

/* Check n payload bytes against the expected stream; complete messages. */
static int check_payload(worker *w, conn *c, const unsigned char *p, size_t n, uint64_t now)
{
    while (n > 0) {
        if (c->recv_seq >= c->lim_seq + (c->lim_off ? 1 : 0)) {
            /* more bytes than were sent: a duplicate or a corrupt reply */
            if (!opt.quiet && w->e.excess == 0)
                fprintf(stderr, "eddy-load: conn %u: %zu bytes more than were sent\n", c->id, n);
            conn_fail(w, c, &w->e.excess);
            return -1;
        }
        size_t rem = opt.size - c->recv_off;
        size_t k = n < rem ? n : rem;
        if (c->recv_seq == c->lim_seq && c->recv_off + k > c->lim_off) {
            conn_fail(w, c, &w->e.excess);
            return -1;
        }
        const unsigned char *exp = pattern + pat_offset(c->id, c->recv_seq) + c->recv_off;
        if (memcmp(p, exp, k) != 0) {
            if (!opt.quiet && w->e.verify == 0) {
                size_t j = 0;
                while (j < k && p[j] == exp[j])
                    j++;
                fprintf(stderr,
                        "eddy-load: conn %u: reply mismatch in message %" PRIu64
                        " at byte %zu: got 0x%02x, expected 0x%02x\n",
                        c->id, c->recv_seq, c->recv_off + j, p[j], exp[j]);
            }
            conn_fail(w, c, &w->e.verify);
            return -1;
        }
        p += k;
        n -= k;
        c->recv_off += (uint32_t)k;
        if (c->recv_off == opt.size)
            complete_msg(w, c, now);
    }
    return 0;
}

/* Process one read's worth of reply bytes. */
static int on_bytes(worker *w, conn *c, const unsigned char *p, size_t n, uint64_t now)
{
    if (opt.plen == 0)
        return check_payload(w, c, p, n, now);
    const unsigned char *pre = (const unsigned char *)opt.prefix;
    const unsigned char *end = p + n;
    while (p < end) {
        if (c->in_prefix) {
            /* match the rest of the prefix */
            while (p < end && c->prefix_pos < opt.plen) {
                if (*p != pre[c->prefix_pos]) {
                    if (!opt.quiet && w->e.verify == 0)
                        fprintf(stderr,
                                "eddy-load: conn %u: prefix mismatch at prefix byte %u: got 0x%02x, "
                                "expected 0x%02x\n",
                                c->id, c->prefix_pos, *p, pre[c->prefix_pos]);
                    conn_fail(w, c, &w->e.verify);
                    return -1;
                }
                p++;
                c->prefix_pos++;
            }
            if (c->prefix_pos == opt.plen)
                c->in_prefix = 0;
            continue;
        }
        /* payload up to the next prefix start byte */
        const unsigned char *q = memchr(p, pre[0], (size_t)(end - p));
        size_t k = q ? (size_t)(q - p) : (size_t)(end - p);
        if (k > 0 && check_payload(w, c, p, k, now) < 0)
            return -1;
        p += k;
        if (q) {
            c->in_prefix = 1;
            c->prefix_pos = 0;
        }
    }
    return 0;
}

static void conn_read(worker *w, conn *c, uint64_t now)
{
    for (int guard = 0; guard < 1024 && c->state == C_OPEN; guard++) {
        ssize_t r = read(c->fd, w->rdbuf, RDBUF_SIZE);
        if (r > 0) {
            if (on_bytes(w, c, w->rdbuf, (size_t)r, now) < 0)
                return;
            if ((size_t)r < RDBUF_SIZE)
                return; /* drained (edge-triggered: a new edge comes with new data) */
            continue;
        }
        if (r == 0) {
            if (!opt.quiet && w->e.eof == 0)
                fprintf(stderr, "eddy-load: conn %u: closed by the server\n", c->id);
            conn_fail(w, c, &w->e.eof);
            return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EINTR)
            continue;
        if (!opt.quiet && w->e.reset == 0)
            fprintf(stderr, "eddy-load: conn %u: read: %s\n", c->id, strerror(errno));
        conn_fail(w, c, &w->e.reset);
        return;
    }
}

/* All issued messages are back (after stop). */
static int conn_idle(const conn *c)
{
    return c->recv_seq == c->issued && c->send_seq == c->issued && c->send_off == 0;
}

static void run_pingpong(worker *w)
{
    struct epoll_event evs[EV_BATCH];
    uint64_t now = t_start;
    for (int i = 0; i < w->n; i++) {
        conn *c = &w->c[i];
        if (c->state != C_OPEN)
            continue;
        for (int d = 0; d < opt.depth; d++)
            c->stamp[d] = t_start;
        c->issued = (uint64_t)opt.depth;
        c->in_prefix = opt.plen ? 1 : 0; /* a reply starts with the prefix */
        conn_send(w, c);
        if (c->rd_pending && c->state == C_OPEN)
            conn_read(w, c, now);
    }
    uint64_t drain_deadline = t_end + (uint64_t)(opt.drain * 1e9);
    for (;;) {
        now = now_ns();
        if (atomic_load(&interrupted))
            break;
        if (!w->stopping && now >= t_end) {
            w->stopping = 1;
            /* issue nothing new; a message partly written is finished */
            for (int i = 0; i < w->n; i++) {
                conn *c = &w->c[i];
                if (c->state == C_OPEN)
                    c->issued = c->send_seq + (c->send_off ? 1 : 0);
            }
        }
        if (w->stopping) {
            int busy = 0;
            for (int i = 0; i < w->n && !busy; i++)
                busy = w->c[i].state == C_OPEN && !conn_idle(&w->c[i]);
            if (!busy || now >= drain_deadline)
                break;
        }
        uint64_t until = w->stopping ? drain_deadline : t_end;
        int timeout = (int)((until - now) / 1000000u) + 1;
        if (timeout > 100)
            timeout = 100;
        int n = epoll_wait(w->ep, evs, EV_BATCH, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("eddy-load: epoll_wait");
            break;
        }
        if (n > 0)
            now = now_ns();
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            if (c->state != C_OPEN)
                continue;
            if (e & EPOLLOUT)
                c->blocked = 0;
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                conn_read(w, c, now);
            if (c->state == C_OPEN)
                conn_send(w, c);
        }
    }
    /* whatever is still outstanding is lost */
    for (int i = 0; i < w->n; i++) {
        conn *c = &w->c[i];
        if (c->state == C_OPEN && !conn_idle(c) && !atomic_load(&interrupted)) {
            if (!opt.quiet && w->e.lost == 0)
                fprintf(stderr,
                        "eddy-load: conn %u: %" PRIu64 " replies missing after the drain\n",
                        c->id, c->issued - c->recv_seq);
            w->e.lost += c->issued - c->recv_seq;
        }
    }
}

/* ---- ping-pong on io_uring --------------------------------------------- */

/* --uring: the same closed loop with the run phase on io_uring, so that the
 * client spends far fewer syscalls per message than any epoll server (one
 * io_uring_enter per batch instead of a read and a writev per message):
 * one multishot recv per connection from a provided-buffer ring, one
 * sendmsg in flight per connection.  Same verification, same latency. */

#define U_IOV 16
#define U_SQ 4096
#define U_CQ 32768

typedef struct uconn {
    struct msghdr msg;
    struct iovec iov[U_IOV];
    size_t total;       /* bytes in the sendmsg in flight */
    uint64_t send_end;  /* the message after the last one in it */
    uint8_t sending;    /* a sendmsg is in flight */
    uint8_t armed;      /* the multishot recv is live */
} uconn;

/* The ring with its provided buffers sized to the traffic: few enough (two
 * per connection, at most 16 MiB) that they are reused while still in
 * cache.  0, or a negative errno (then the caller falls back to epoll). */
static int uring_init(eddy__uring *u, int nconns)
{
    int r = eddy__uring_open(u, U_SQ, U_CQ,
                             IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
                                 IORING_SETUP_DEFER_TASKRUN,
                             1, NULL);
    if (r < 0)
        return r;
    size_t want = opt.size * (size_t)opt.depth + opt.plen * (size_t)opt.depth;
    size_t size = 4096;
    while (size < want && size < (64u << 10))
        size *= 2;
    unsigned entries = 64;
    while (entries < 2u * (unsigned)nconns && entries < 4096)
        entries *= 2;
    while (entries > 64 && entries * size > (16u << 20))
        entries /= 2;
    r = eddy__uring_bufs(u, entries, size);
    if (r < 0)
        eddy__uring_free(u);
    return r;
}

static void uring_arm_recv(worker *w, eddy__uring *u, uconn *uc, int i)
{
    conn *c = &w->c[i];
    struct io_uring_sqe *sqe = eddy__uring_sqe(u);
    if (!sqe) {
        conn_fail(w, c, &w->e.reset);
        return;
    }
    sqe->opcode = IORING_OP_RECV;
    sqe->fd = c->fd;
    sqe->ioprio = IORING_RECV_MULTISHOT;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    sqe->user_data = (uint64_t)i << 1;
    uc->armed = 1;
}

static void uring_send(worker *w, eddy__uring *u, uconn *uc, int i)
{
    conn *c = &w->c[i];
    if (c->state != C_OPEN || uc->sending || c->send_seq >= c->issued)
        return;
    int k = 0;
    uint64_t seq = c->send_seq;
    uint32_t off = c->send_off;
    size_t total = 0;
    while (k < U_IOV && seq < c->issued) {
        uc->iov[k].iov_base = pattern + pat_offset(c->id, seq) + off;
        uc->iov[k].iov_len = opt.size - off;
        total += uc->iov[k].iov_len;
        k++;
        seq++;
        off = 0;
    }
    struct io_uring_sqe *sqe = eddy__uring_sqe(u);
    if (!sqe) {
        conn_fail(w, c, &w->e.reset);
        return;
    }
    memset(&uc->msg, 0, sizeof uc->msg);
    uc->msg.msg_iov = uc->iov;
    uc->msg.msg_iovlen = (size_t)k;
    sqe->opcode = IORING_OP_SENDMSG;
    sqe->fd = c->fd;
    sqe->addr = (uint64_t)(uintptr_t)&uc->msg;
    sqe->len = 1;
    sqe->msg_flags = MSG_NOSIGNAL;
    sqe->user_data = ((uint64_t)i << 1) | 1;
    uc->sending = 1;
    uc->total = total;
    uc->send_end = seq;
    c->lim_seq = seq; /* an upper bound until it completes */
    c->lim_off = 0;
}

static void uring_sent(worker *w, conn *c, uconn *uc, int res)
{
    uc->sending = 0;
    if (res < 0) {
        if (c->state == C_OPEN) {
            if (!opt.quiet && w->e.reset == 0)
                fprintf(stderr, "eddy-load: conn %u: send: %s\n", c->id, strerror(-res));
            conn_fail(w, c, &w->e.reset);
        }
        return;
    }
    size_t left = (size_t)res;
    while (left > 0) {
        size_t rem = opt.size - c->send_off;
        if (left >= rem) {
            left -= rem;
            c->send_seq++;
            c->send_off = 0;
        } else {
            c->send_off += (uint32_t)left;
            left = 0;
        }
    }
    c->lim_seq = c->send_seq;
    c->lim_off = c->send_off;
}

static int uconn_idle(const conn *c, const uconn *uc)
{
    return !uc->sending && conn_idle(c);
}

static void run_pingpong_uring(worker *w, eddy__uring *u)
{
    uconn *uc = calloc((size_t)w->n, sizeof *uc);
    int *rearm = malloc((size_t)w->n * sizeof *rearm);
    int nrearm = 0;
    if (!uc || !rearm) {
        perror("eddy-load: calloc");
        exit(2);
    }
    uint64_t now = t_start;
    for (int i = 0; i < w->n; i++) {
        conn *c = &w->c[i];
        if (c->state != C_OPEN)
            continue;
        for (int d = 0; d < opt.depth; d++)
            c->stamp[d] = t_start;
        c->issued = (uint64_t)opt.depth;
        c->in_prefix = opt.plen ? 1 : 0;
        uring_arm_recv(w, u, &uc[i], i);
        uring_send(w, u, &uc[i], i);
    }
    uint64_t drain_deadline = t_end + (uint64_t)(opt.drain * 1e9);
    for (;;) {
        now = now_ns();
        if (atomic_load(&interrupted))
            break;
        if (!w->stopping && now >= t_end) {
            w->stopping = 1;
            for (int i = 0; i < w->n; i++) {
                conn *c = &w->c[i];
                if (c->state != C_OPEN)
                    continue;
                uint64_t cap = c->send_seq + (c->send_off ? 1 : 0);
                if (uc[i].sending && uc[i].send_end > cap)
                    cap = uc[i].send_end;
                c->issued = cap;
            }
        }
        if (w->stopping) {
            int busy = 0;
            for (int i = 0; i < w->n && !busy; i++)
                busy = w->c[i].state == C_OPEN && !uconn_idle(&w->c[i], &uc[i]);
            if (!busy || now >= drain_deadline)
                break;
        }
        uint64_t until = w->stopping ? drain_deadline : t_end;
        int timeout = (int)((until - now) / 1000000u) + 1;
        if (timeout > 100)
            timeout = 100;
        if (eddy__uring_submit_wait(u, 1, timeout) < 0) {
            perror("eddy-load: io_uring_enter");
            break;
        }
        now = now_ns();
        unsigned head = *u->cq_head;
        unsigned tail = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
        for (; head != tail; head++) {
            struct io_uring_cqe *cqe = &u->cqes[head & u->cq_mask];
            int i = (int)(cqe->user_data >> 1);
            conn *c = &w->c[i];
            if (cqe->user_data & 1) {
                uring_sent(w, c, &uc[i], cqe->res);
            } else {
                if (cqe->flags & IORING_CQE_F_BUFFER) {
                    unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                    if (c->state == C_OPEN && cqe->res > 0)
                        on_bytes(w, c, eddy__uring_buf(u, bid), (size_t)cqe->res, now);
                    eddy__uring_buf_give(u, bid);
                }
                if (!(cqe->flags & IORING_CQE_F_MORE)) {
                    uc[i].armed = 0;
                    if (c->state == C_OPEN) {
                        if (cqe->res == 0) {
                            if (!opt.quiet && w->e.eof == 0)
                                fprintf(stderr, "eddy-load: conn %u: closed by the server\n", c->id);
                            conn_fail(w, c, &w->e.eof);
                        } else if (cqe->res < 0 && cqe->res != -ENOBUFS) {
                            if (!opt.quiet && w->e.reset == 0)
                                fprintf(stderr, "eddy-load: conn %u: recv: %s\n", c->id, strerror(-cqe->res));
                            conn_fail(w, c, &w->e.reset);
                        } else {
                            rearm[nrearm++] = i; /* out of buffers, or the kernel ended it */
                        }
                    }
                }
            }
            if (c->state == C_OPEN)
                uring_send(w, u, &uc[i], i);
        }
        __atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
        eddy__uring_buf_publish(u);
        for (int k = 0; k < nrearm; k++) {
            int i = rearm[k];
            if (w->c[i].state == C_OPEN && !uc[i].armed)
                uring_arm_recv(w, u, &uc[i], i);
        }
        nrearm = 0;
    }
    for (int i = 0; i < w->n; i++) {
        conn *c = &w->c[i];
        if (c->state == C_OPEN && !uconn_idle(c, &uc[i]) && !atomic_load(&interrupted)) {
            if (!opt.quiet && w->e.lost == 0)
                fprintf(stderr, "eddy-load: conn %u: %" PRIu64 " replies missing after the drain\n", c->id,
                        c->issued - c->recv_seq);
            w->e.lost += c->issued - c->recv_seq;
        }
    }
    eddy__uring_free(u); /* before the sockets close: cancels the recvs */
    free(uc);
    free(rearm);
}

/* ---- idle -------------------------------------------------------------- */

static void idle_check(worker *w, conn *c)
{
    ssize_t r = read(c->fd, w->rdbuf, RDBUF_SIZE);
    if (r > 0)
        conn_fail(w, c, &w->e.excess); /* nothing was sent: nothing may come back */
    else if (r == 0)
        conn_fail(w, c, &w->e.eof);
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        conn_fail(w, c, &w->e.reset);
}

static void run_idle(worker *w)
{
    struct epoll_event evs[EV_BATCH];
    for (int i = 0; i < w->n; i++)
        if (w->c[i].state == C_OPEN && w->c[i].rd_pending)
            idle_check(w, &w->c[i]);
    for (;;) {
        uint64_t now = now_ns();
        if (atomic_load(&interrupted) || now >= t_end)
            break;
        int timeout = (int)((t_end - now) / 1000000u) + 1;
        if (timeout > 100)
            timeout = 100;
        int n = epoll_wait(w->ep, evs, EV_BATCH, timeout);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->state != C_OPEN)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                idle_check(w, c);
        }
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    eddy__uring u;
    int use_uring = 0;
    if (opt.uring && !opt.idle) {
        int r = uring_init(&u, w->n);
        if (r == 0)
            use_uring = 1;
        else if (w->idx == 0)
            fprintf(stderr, "eddy-load: io_uring unavailable (%s): using epoll\n", strerror(-r));
    }
    if (w->idx == 0)
        atomic_store(&engine_uring, use_uring);
    connect_all(w);
    pthread_barrier_wait(&bar_connected);
    pthread_barrier_wait(&bar_go);
    if (opt.idle)
        run_idle(w);
    else if (use_uring)
        run_pingpong_uring(w, &u);
    else
        run_pingpong(w);
    for (int i = 0; i < w->n; i++) {
        conn *c = &w->c[i];
        if (c->fd >= 0) {
            close(c->fd);
            c->fd = -1;
        }
    }
    return NULL;
}

/* ---- /proc sampling ---------------------------------------------------- */

/* utime+stime of PID in seconds, or -1. */
static double proc_cpu(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* comm may contain spaces */
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* fields after comm: state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A "Vm...:" field of /proc/PID/status in kB, or -1. */
static long proc_status_kb(int pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = strtol(line + fl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* Busy CPU time of the whole machine in seconds (all CPUs, from /proc/stat:
 * everything but idle and iowait), or -1. */
static double machine_cpu(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    unsigned long long v[10] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(f);
    if (n < 8)
        return -1;
    /* user nice system idle iowait irq softirq steal (guest is in user) */
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- main -------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: eddy-load [options]\n"
            "  -c, --conns N          connections (default 64, at most %d)\n"
            "  -t, --threads N        client threads, each its own epoll loop (default 1)\n"
            "  -s, --size BYTES       message size (k/m suffix ok, default 64)\n"
            "  -d, --depth N          messages in flight per connection (default 1)\n"
            "  -D, --duration SEC     measured time (default 5)\n"
            "  -w, --warmup SEC       warm-up before it, not counted (default 1)\n"
            "      --host ADDR        IPv4 loopback address (default 127.0.0.1)\n"
            "  -p, --port PORT        (default 7777)\n"
            "      --prefix STR       the server replies STR + each chunk it read (default: pure echo)\n"
            "      --idle N           open N connections, hold them for the duration, close\n"
            "      --pid PID          sample the server's CPU and memory from /proc/PID\n"
            "      --connect-timeout SEC  bound on connecting (default 30)\n"
            "      --drain SEC        bound on waiting for in-flight replies at the end (default 10)\n"
            "      --batch N          connects in progress at once per thread (default 256)\n"
            "      --spin NS          burn NS of CPU per reply: a slower client, to measure its headroom\n"
            "      --uring            run the load on io_uring (multishot recv, provided buffers):\n"
            "                         far fewer client syscalls per message than epoll\n"
            "      --json             one JSON object on stdout\n"
            "  -q, --quiet            no per-error messages on stderr\n"
            "exit status: 0 clean, 1 any error, 2 usage or setup failure\n",
            MAX_CONNS);
}

static long long parse_num(const char *s, const char *what, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end != s) {
        if (*end == 'k' || *end == 'K') {
            v *= 1024;
            end++;
        } else if (*end == 'm' || *end == 'M') {
            v *= 1024 * 1024;
            end++;
        }
    }
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "eddy-load: bad %s '%s' (expected %lld..%lld)\n", what, s, lo, hi);
        exit(2);
    }
    return v;
}

static double parse_sec(const char *s, const char *what, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "eddy-load: bad %s '%s' (expected %g..%g seconds)\n", what, s, lo, hi);
        exit(2);
    }
    return v;
}

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&interrupted, 1);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    enum { O_HOST = 256, O_PREFIX, O_IDLE, O_PID, O_CTO, O_DRAIN, O_BATCH, O_JSON, O_SPIN, O_URING };
    static const struct option lopts[] = {
        {"conns", required_argument, 0, 'c'},  {"threads", required_argument, 0, 't'},
        {"size", required_argument, 0, 's'},   {"depth", required_argument, 0, 'd'},
        {"duration", required_argument, 0, 'D'}, {"warmup", required_argument, 0, 'w'},
        {"host", required_argument, 0, O_HOST}, {"port", required_argument, 0, 'p'},
        {"prefix", required_argument, 0, O_PREFIX}, {"idle", required_argument, 0, O_IDLE},
        {"pid", required_argument, 0, O_PID},  {"connect-timeout", required_argument, 0, O_CTO},
        {"drain", required_argument, 0, O_DRAIN}, {"batch", required_argument, 0, O_BATCH},
        {"json", no_argument, 0, O_JSON},      {"quiet", no_argument, 0, 'q'},
        {"spin", required_argument, 0, O_SPIN}, {"uring", no_argument, 0, O_URING},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "c:t:s:d:D:w:p:qh", lopts, NULL)) != -1) {
        switch (ch) {
        case 'c': opt.conns = (int)parse_num(optarg, "connections", 1, MAX_CONNS); break;
        case 't': opt.threads = (int)parse_num(optarg, "threads", 1, MAX_THREADS); break;
        case 's': opt.size = (size_t)parse_num(optarg, "size", 1, MAX_SIZE); break;
        case 'd': opt.depth = (int)parse_num(optarg, "depth", 1, MAX_DEPTH); break;
        case 'D': opt.duration = parse_sec(optarg, "duration", 0.01, 3600); break;
        case 'w': opt.warmup = parse_sec(optarg, "warm-up", 0, 600); break;
        case 'p': opt.port = (int)parse_num(optarg, "port", 1, 65535); break;
        case 'q': opt.quiet = 1; break;
        case O_HOST: opt.host = optarg; break;
        case O_PREFIX: opt.prefix = optarg; break;
        case O_IDLE: opt.idle = (int)parse_num(optarg, "idle connections", 1, MAX_CONNS); break;
        case O_PID: opt.pid = (int)parse_num(optarg, "pid", 1, INT_MAX); break;
        case O_CTO: opt.connect_timeout = parse_sec(optarg, "connect timeout", 0.1, 600); break;
        case O_DRAIN: opt.drain = parse_sec(optarg, "drain", 0.1, 600); break;
        case O_BATCH: opt.batch = (int)parse_num(optarg, "batch", 1, 65536); break;
        case O_JSON: opt.json = 1; break;
        case O_URING: opt.uring = 1; break;
        case O_SPIN: opt.spin_ns = (long)parse_num(optarg, "spin", 0, 1000000); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    opt.plen = strlen(opt.prefix);
    if (opt.plen > 255) {
        fprintf(stderr, "eddy-load: prefix longer than 255 bytes\n");
        return 2;
    }
    memset(&target, 0, sizeof target);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &target.sin_addr) != 1) {
        fprintf(stderr, "eddy-load: --host must be an IPv4 address, got '%s'\n", opt.host);
        return 2;
    }
    if ((ntohl(target.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "eddy-load: only loopback targets (127.0.0.0/8) are allowed\n");
        return 2;
    }
    int nconns = opt.idle ? opt.idle : opt.conns;
    if (opt.threads > nconns)
        opt.threads = nconns;

    /* fds: every connection, an epoll per thread, a few more */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)nconns + (rlim_t)opt.threads + 16 > rl.rlim_cur) {
        fprintf(stderr, "eddy-load: %d connections need more fds than RLIMIT_NOFILE allows (%llu)\n",
                nconns, (unsigned long long)rl.rlim_cur);
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (!opt.idle)
        build_pattern();

    conn *all = calloc((size_t)nconns, sizeof *all);
    uint64_t *stamps = opt.idle ? NULL : calloc((size_t)nconns * (size_t)opt.depth, sizeof *stamps);
    if (!all || (!opt.idle && !stamps)) {
        perror("eddy-load: calloc");
        return 2;
    }
    /* connection i goes to thread i % T; each thread's are contiguous here */
    int base = 0;
    for (int t = 0; t < opt.threads; t++) {
        worker *w = &workers[t];
        w->idx = t;
        w->n = nconns / opt.threads + (t < nconns % opt.threads ? 1 : 0);
        w->c = all + base;
        for (int i = 0; i < w->n; i++) {
            conn *c = &w->c[i];
            c->fd = -1;
            c->id = (uint32_t)(base + i);
            if (stamps)
                c->stamp = stamps + (size_t)(base + i) * (size_t)opt.depth;
        }
        base += w->n;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->rdbuf = malloc(RDBUF_SIZE);
        if (w->ep < 0 || !w->rdbuf) {
            perror("eddy-load: setup");
            return 2;
        }
    }

    long rss_before = opt.pid ? proc_status_kb(opt.pid, "VmRSS") : -1;
    pthread_barrier_init(&bar_connected, NULL, (unsigned)opt.threads + 1);
    pthread_barrier_init(&bar_go, NULL, (unsigned)opt.threads + 1);
    for (int t = 0; t < opt.threads; t++) {
        if (pthread_create(&workers[t].tid, NULL, worker_main, &workers[t]) != 0) {
            fprintf(stderr, "eddy-load: pthread_create failed\n");
            return 2;
        }
    }
    pthread_barrier_wait(&bar_connected);
    int connected = 0;
    uint64_t connect_ns = 0;
    for (int t = 0; t < opt.threads; t++) {
        connected += workers[t].open;
        if (workers[t].connect_ns > connect_ns)
            connect_ns = workers[t].connect_ns;
    }
    t_start = now_ns();
    t_meas = t_start + (uint64_t)(opt.warmup * 1e9);
    t_end = t_meas + (uint64_t)(opt.duration * 1e9);
    pthread_barrier_wait(&bar_go);

    double srv_cpu0 = -1, srv_cpu1 = -1, cli_cpu0, cli_cpu1, mach0, mach1;
    long rss_after = -1;
    sleep_until(t_meas);
    cli_cpu0 = self_cpu();
    mach0 = machine_cpu();
    if (opt.pid)
        srv_cpu0 = proc_cpu(opt.pid);
    uint64_t m0 = now_ns();
    if (opt.idle) {
        /* sample the server's RSS once it has had time to accept everything */
        sleep_until(t_meas + (t_end - t_meas) / 2);
        if (opt.pid)
            rss_after = proc_status_kb(opt.pid, "VmRSS");
    }
    sleep_until(t_end);
    cli_cpu1 = self_cpu();
    mach1 = machine_cpu();
    if (opt.pid)
        srv_cpu1 = proc_cpu(opt.pid);
    uint64_t m1 = now_ns();
    long srv_rss = opt.pid ? proc_status_kb(opt.pid, "VmRSS") : -1;
    long srv_hwm = opt.pid ? proc_status_kb(opt.pid, "VmHWM") : -1;

    for (int t = 0; t < opt.threads; t++)
        pthread_join(workers[t].tid, NULL);

    static hist h;
    errs e = {0};
    uint64_t msgs = 0, total = 0;
    int open_end = 0;
    for (int t = 0; t < opt.threads; t++) {
        worker *w = &workers[t];
        h_merge(&h, &w->h);
        msgs += w->msgs;
        total += w->total_msgs;
        open_end += w->open;
        e.connect_fail += w->e.connect_fail;
        e.verify += w->e.verify;
        e.reset += w->e.reset;
        e.eof += w->e.eof;
        e.lost += w->e.lost;
        e.excess += w->e.excess;
    }
    double window = (double)(m1 - m0) / 1e9;
    if (window <= 0)
        window = opt.duration;
    double mps = (double)msgs / opt.duration;
    double mbps = mps * (double)opt.size / 1e6;
    double cli_cores = (cli_cpu1 - cli_cpu0) / window;
    double mach_cores = (mach0 >= 0 && mach1 >= 0) ? (mach1 - mach0) / window : -1;
    double srv_cpu = (srv_cpu0 >= 0 && srv_cpu1 >= 0) ? srv_cpu1 - srv_cpu0 : -1;
    double srv_us_per_msg = (srv_cpu >= 0 && msgs > 0) ? srv_cpu * 1e6 / (double)msgs : -1;
    /* CPU used by everything else on the machine: the noise in this run */
    double other_cores = mach_cores >= 0 ? mach_cores - cli_cores - (srv_cpu >= 0 ? srv_cpu / window : 0) : -1;
    if (other_cores < 0 && mach_cores >= 0)
        other_cores = 0;
    uint64_t nerr = e.connect_fail + e.verify + e.reset + e.eof + e.lost + e.excess;
    int interrupted_run = atomic_load(&interrupted);
    double rss_per_conn = (rss_before >= 0 && rss_after >= 0 && connected > 0)
                              ? (double)(rss_after - rss_before) * 1024.0 / connected
                              : -1;

    if (opt.json) {
        printf("{\"mode\":\"%s\",\"host\":", opt.idle ? "idle" : "pingpong");
        json_str(opt.host);
        printf(",\"port\":%d,\"conns\":%d,\"threads\":%d,\"engine\":\"%s\"", opt.port, nconns, opt.threads,
               atomic_load(&engine_uring) ? "io_uring" : "epoll");
        if (!opt.idle) {
            printf(",\"size\":%zu,\"depth\":%d,\"prefix\":", opt.size, opt.depth);
            json_str(opt.prefix);
        }
        printf(",\"duration_s\":%.3f,\"warmup_s\":%.3f", opt.duration, opt.warmup);
        if (opt.spin_ns)
            printf(",\"spin_ns\":%ld", opt.spin_ns);
        printf(",\"connected\":%d,\"connect_s\":%.3f", connected, (double)connect_ns / 1e9);
        if (!opt.idle) {
            printf(",\"msgs\":%" PRIu64 ",\"msgs_total\":%" PRIu64 ",\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f",
                   msgs, total, mps, mbps);
            printf(",\"latency_us\":{\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f,\"mean\":%.2f}",
                   (double)h_quantile(&h, 0.50) / 1e3, (double)h_quantile(&h, 0.99) / 1e3,
                   (double)h_quantile(&h, 0.999) / 1e3, (double)h.max / 1e3,
                   h.count ? h.sum / (double)h.count / 1e3 : 0.0);
        }
        printf(",\"client_cpu_cores\":%.3f,\"machine_cpu_cores\":%.3f,\"other_cpu_cores\":%.3f,\"ncpu\":%ld",
               cli_cores, mach_cores, other_cores, sysconf(_SC_NPROCESSORS_ONLN));
        if (opt.pid) {
            printf(",\"server\":{\"pid\":%d,\"cpu_s\":%.3f,\"cpu_cores\":%.3f", opt.pid, srv_cpu,
                   srv_cpu >= 0 ? srv_cpu / window : -1.0);
            if (!opt.idle)
                printf(",\"cpu_us_per_msg\":%.4f", srv_us_per_msg);
            printf(",\"vmrss_kb\":%ld,\"vmhwm_kb\":%ld", srv_rss, srv_hwm);
            if (opt.idle)
                printf(",\"rss_before_kb\":%ld,\"rss_idle_kb\":%ld,\"rss_bytes_per_conn\":%.1f",
                       rss_before, rss_after, rss_per_conn);
            printf("}");
        }
        printf(",\"errors\":{\"total\":%" PRIu64 ",\"connect\":%" PRIu64 ",\"verify\":%" PRIu64
               ",\"reset\":%" PRIu64 ",\"eof\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"excess\":%" PRIu64
               "},\"interrupted\":%s}\n",
               nerr, e.connect_fail, e.verify, e.reset, e.eof, e.lost, e.excess,
               interrupted_run ? "true" : "false");
    } else {
        printf("eddy-load %s:%d  %s  conns %d  threads %d", opt.host, opt.port,
               opt.idle ? "idle" : "ping-pong", nconns, opt.threads);
        if (!opt.idle)
            printf("  size %zu  depth %d  %s  %s", opt.size, opt.depth, opt.plen ? "prefix" : "echo",
                   atomic_load(&engine_uring) ? "io_uring" : "epoll");
        printf("  warm-up %.1fs  measured %.1fs\n", opt.warmup, opt.duration);
        printf("connected   %d/%d in %.3f s\n", connected, nconns, (double)connect_ns / 1e9);
        if (!opt.idle) {
            printf("throughput  %.0f msgs/s  %.2f MB/s (payload, one direction)\n", mps, mbps);
            printf("latency     p50 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us\n",
                   (double)h_quantile(&h, 0.50) / 1e3, (double)h_quantile(&h, 0.99) / 1e3,
                   (double)h_quantile(&h, 0.999) / 1e3, (double)h.max / 1e3);
        }
        printf("client cpu  %.2f cores   machine %.2f of %ld cores busy, %.2f by other processes\n",
               cli_cores, mach_cores, sysconf(_SC_NPROCESSORS_ONLN), other_cores);
        if (opt.pid) {
            printf("server      pid %d  cpu %.2f cores", opt.pid, srv_cpu >= 0 ? srv_cpu / window : -1.0);
            if (!opt.idle)
                printf("  %.3f us/msg", srv_us_per_msg);
            printf("  VmRSS %ld kB  VmHWM %ld kB\n", srv_rss, srv_hwm);
            if (opt.idle)
                printf("idle rss    %ld kB -> %ld kB: %.1f bytes per connection\n", rss_before, rss_after,
                       rss_per_conn);
        }
        printf("errors      %" PRIu64 " (connect %" PRIu64 ", verify %" PRIu64 ", reset %" PRIu64
               ", eof %" PRIu64 ", lost %" PRIu64 ", excess %" PRIu64 ")%s\n",
               nerr, e.connect_fail, e.verify, e.reset, e.eof, e.lost, e.excess,
               interrupted_run ? "  [interrupted]" : "");
    }
    (void)open_end;
    free(all);
    free(stamps);
    free(pattern);
    for (int t = 0; t < opt.threads; t++) {
        close(workers[t].ep);
        free(workers[t].rdbuf);
    }
    return nerr ? 1 : (interrupted_run ? 1 : 0);
}
