/* core/uring.h - a minimal io_uring over raw system calls (no liburing):
 * the ring of the io_uring poller (poll_uring.c), and of the benchmark
 * tools that run on io_uring (eddy-load's --uring engine, peer-uring),
 * which include it from here.
 *
 * One ring (SQ and CQ in one mapping, IORING_FEAT_SINGLE_MMAP), SQEs queued
 * in user space and handed to the kernel by one io_uring_enter per loop
 * turn (eddy__uring_submit_wait), and one provided-buffer ring (group 0) of
 * equal buffers for multishot receives: a completion names its buffer by
 * id (cqe->flags >> IORING_CQE_BUFFER_SHIFT), the user gives it back with
 * eddy__uring_buf_give and makes the returns visible with
 * eddy__uring_buf_publish.
 *
 * Header-only, every function static inline: each benchmark tool stays
 * one translation unit, and this layer includes nothing of eddy.
 */
#ifndef EDDY_CORE_URING_H
#define EDDY_CORE_URING_H

#include <errno.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct eddy__uring {
    int fd;
    int enter_fd;         /* fd, or its index once registered (eddy__uring_register_ring) */
    unsigned enter_flags; /* IORING_ENTER_REGISTERED_RING once registered */
    void *sq_ptr;
    size_t sq_len, sqes_len;
    unsigned *sq_head, *sq_tail, *sq_array, sq_mask, sq_entries;
    unsigned *cq_head, *cq_tail, cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    unsigned tail, pending; /* our SQ tail and SQEs not yet submitted */
    struct io_uring_buf_ring *br;
    size_t br_len;
    unsigned br_entries;
    uint16_t br_tail;
    unsigned char *bufs;
    size_t buf_size;
} eddy__uring;

/* The raw system calls (glibc has no wrappers). */
static inline int eddy__sys_uring_setup(unsigned entries, struct io_uring_params *p)
{
    return (int)syscall(__NR_io_uring_setup, entries, p);
}

static inline int eddy__sys_uring_enter(int fd, unsigned submit, unsigned wait, unsigned flags,
                                        void *arg, size_t argsz)
{
    return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, arg, argsz);
}

/* Close the ring (which cancels whatever is still in flight) and unmap and
 * free everything; *u is left closed (fd -1), safe to free again. */
static inline void eddy__uring_free(eddy__uring *u)
{
    if (u->fd >= 0)
        close(u->fd);
    if (u->sq_ptr && u->sq_ptr != MAP_FAILED)
        munmap(u->sq_ptr, u->sq_len);
    if (u->sqes && (void *)u->sqes != MAP_FAILED)
        munmap(u->sqes, u->sqes_len);
    if (u->br && (void *)u->br != MAP_FAILED)
        munmap(u->br, u->br_len);
    free(u->bufs);
    memset(u, 0, sizeof *u);
    u->fd = -1;
}

/* Set up a ring of sq SQEs and cq CQEs with the setup flags `flags` (on top
 * of IORING_SETUP_CQSIZE); when `fallback` is set and the kernel refuses
 * them, without them.  *used receives the flags the ring has (may be
 * NULL).  Requires single mmap, the extended enter argument and fast
 * poll.  0, or a negative errno with *u closed. */
static inline int eddy__uring_open(eddy__uring *u, unsigned sq, unsigned cq, unsigned flags,
                                   int fallback, unsigned *used)
{
    memset(u, 0, sizeof *u);
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE | flags;
    p.cq_entries = cq;
    u->fd = eddy__sys_uring_setup(sq, &p);
    if (u->fd < 0 && flags && fallback && errno == EINVAL) { /* older kernel: without them */
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = cq;
        u->fd = eddy__sys_uring_setup(sq, &p);
    }
    if (u->fd < 0) {
        int err = -errno;
        u->fd = -1;
        return err;
    }
    u->enter_fd = u->fd;
    if (used)
        *used = p.flags & ~(unsigned)IORING_SETUP_CQSIZE;
    if (!(p.features & IORING_FEAT_SINGLE_MMAP) || !(p.features & IORING_FEAT_EXT_ARG) ||
        !(p.features & IORING_FEAT_FAST_POLL)) {
        eddy__uring_free(u);
        return -ENOSYS;
    }
    u->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (cq_len > u->sq_len)
        u->sq_len = cq_len;
    u->sq_ptr = mmap(NULL, u->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
                     IORING_OFF_SQ_RING);
    u->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
    u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
                   IORING_OFF_SQES);
    if (u->sq_ptr == MAP_FAILED || (void *)u->sqes == MAP_FAILED) {
        int err = -errno;
        eddy__uring_free(u);
        return err;
    }
    char *r = u->sq_ptr;
    u->sq_head = (unsigned *)(r + p.sq_off.head);
    u->sq_tail = (unsigned *)(r + p.sq_off.tail);
    u->sq_mask = *(unsigned *)(r + p.sq_off.ring_mask);
    u->sq_entries = *(unsigned *)(r + p.sq_off.ring_entries);
    u->sq_array = (unsigned *)(r + p.sq_off.array);
    u->cq_head = (unsigned *)(r + p.cq_off.head);
    u->cq_tail = (unsigned *)(r + p.cq_off.tail);
    u->cq_mask = *(unsigned *)(r + p.cq_off.ring_mask);
    u->cqes = (struct io_uring_cqe *)(r + p.cq_off.cqes);
    u->tail = *u->sq_tail;
    return 0;
}

/* Start a ring set up with IORING_SETUP_R_DISABLED, from the thread that
 * is to submit to it (IORING_SETUP_SINGLE_ISSUER binds it to this one).
 * 0, or a negative errno. */
static inline int eddy__uring_enable(eddy__uring *u)
{
    if (syscall(__NR_io_uring_register, u->fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
        return -errno;
    return 0;
}

/* Register the ring's fd with itself (for the calling thread), so that
 * io_uring_enter skips the fd lookup (IORING_REGISTER_RING_FDS, Linux
 * 5.18).  0, or a negative errno (the ring keeps working through its fd). */
static inline int eddy__uring_register_ring(eddy__uring *u)
{
    struct io_uring_rsrc_update up;
    memset(&up, 0, sizeof up);
    up.offset = -1U; /* any free slot */
    up.data = (uint64_t)u->fd;
    if (syscall(__NR_io_uring_register, u->fd, IORING_REGISTER_RING_FDS, &up, 1) != 1)
        return -errno;
    u->enter_fd = (int)up.offset;
    u->enter_flags = IORING_ENTER_REGISTERED_RING;
    return 0;
}

/* Queue buffer bid at the tail of the provided-buffer ring (not yet
 * visible to the kernel: see eddy__uring_buf_publish). */
static inline void eddy__uring_buf_give(eddy__uring *u, unsigned bid)
{
    struct io_uring_buf *b = &u->br->bufs[u->br_tail & (u->br_entries - 1)];
    b->addr = (uint64_t)(uintptr_t)(u->bufs + (size_t)bid * u->buf_size);
    b->len = (uint32_t)u->buf_size;
    b->bid = (uint16_t)bid;
    u->br_tail++;
}

/* Make every buffer given back so far visible to the kernel. */
static inline void eddy__uring_buf_publish(eddy__uring *u)
{
    __atomic_store_n(&u->br->tail, u->br_tail, __ATOMIC_RELEASE);
}

/* The start of buffer bid. */
static inline unsigned char *eddy__uring_buf(const eddy__uring *u, unsigned bid)
{
    return u->bufs + (size_t)bid * u->buf_size;
}

/* Register buffer group 0: `entries` (a power of two, at most 32,768)
 * buffers of `size` bytes each, page-aligned, all given to the kernel.
 * 0, or a negative errno (the ring itself stays usable). */
static inline int eddy__uring_bufs(eddy__uring *u, unsigned entries, size_t size)
{
    u->br_entries = entries;
    u->buf_size = size;
    u->br_len = entries * sizeof(struct io_uring_buf);
    u->br = mmap(NULL, u->br_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    u->bufs = aligned_alloc(4096, (entries * size + 4095) & ~(size_t)4095);
    if ((void *)u->br == MAP_FAILED || !u->bufs)
        return -ENOMEM;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)u->br;
    reg.ring_entries = entries;
    reg.bgid = 0;
    if (syscall(__NR_io_uring_register, u->fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0)
        return -errno;
    for (unsigned i = 0; i < entries; i++)
        eddy__uring_buf_give(u, i);
    eddy__uring_buf_publish(u);
    return 0;
}

/* Submit what is queued and wait for at least `wait` completions, at most
 * timeout_ms (< 0: no limit).  0 (also on timeout or a signal), or a
 * negative errno. */
static inline int eddy__uring_submit_wait(eddy__uring *u, unsigned wait, long timeout_ms)
{
    __atomic_store_n(u->sq_tail, u->tail, __ATOMIC_RELEASE);
    struct __kernel_timespec ts = {timeout_ms / 1000, (long long)(timeout_ms % 1000) * 1000000};
    struct io_uring_getevents_arg arg;
    memset(&arg, 0, sizeof arg);
    if (timeout_ms >= 0)
        arg.ts = (uint64_t)(uintptr_t)&ts;
    int r = eddy__sys_uring_enter(u->enter_fd, u->pending, wait,
                                  IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG | u->enter_flags,
                                  &arg, sizeof arg);
    if (r >= 0) {
        u->pending -= (unsigned)r < u->pending ? (unsigned)r : u->pending;
        return 0;
    }
    if (errno == ETIME || errno == EINTR || errno == EAGAIN || errno == EBUSY)
        return 0;
    return -errno;
}

/* A zeroed SQE at the tail of the queue (handing the queue to the kernel
 * first when it is full), or NULL when even then there is no room. */
static inline struct io_uring_sqe *eddy__uring_sqe(eddy__uring *u)
{
    unsigned head = __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE);
    if (u->tail - head >= u->sq_entries) {
        __atomic_store_n(u->sq_tail, u->tail, __ATOMIC_RELEASE);
        int r = eddy__sys_uring_enter(u->enter_fd, u->pending, 0, u->enter_flags, NULL, 0);
        if (r > 0)
            u->pending -= (unsigned)r < u->pending ? (unsigned)r : u->pending;
        head = __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE);
        if (u->tail - head >= u->sq_entries)
            return NULL;
    }
    unsigned idx = u->tail & u->sq_mask;
    struct io_uring_sqe *sqe = &u->sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    u->sq_array[idx] = idx;
    u->tail++;
    u->pending++;
    return sqe;
}

#endif
