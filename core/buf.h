/* core/buf.h - byte ring buffers and a per-worker free list of them.
 *
 * A buffer holds len bytes starting at head in a power-of-two ring of cap
 * bytes, so consuming from the front never moves memory and writev() of the
 * whole content takes at most two iovecs.  Buffers are taken from a
 * worker's pool only when a connection has bytes to hold, and go back as
 * soon as it has none: an idle connection holds no buffer.
 */
#ifndef EDDY_CORE_BUF_H
#define EDDY_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* data[] starts on a cache line (a page in a mapped buffer, see buf.c).
 * Reads and writes copy to and from it, and the kernel's copy into a
 * destination that is not even 8-byte aligned, as data[] was 12 bytes into
 * its allocation, took 19 % of eddyd's samples at 1,000 conns x 4 KiB
 * against 4 % aligned (issue 20). */
#define EDDY__BUF_ALIGN 64

typedef struct eddy__buf {
    uint32_t head; /* offset of the first byte */
    uint32_t len;  /* bytes held */
    uint32_t cap;  /* a power of two */
    _Alignas(EDDY__BUF_ALIGN) char data[];
} eddy__buf;

/* The largest capacity a buffer may grow to. */
#define EDDY__BUF_MAX ((size_t)1 << 30)

typedef struct eddy__bufpool {
    eddy__buf **free; /* a stack: the top is reused first, the bottom ages */
    unsigned nfree, max_free;
    unsigned low;  /* the fewest free buffers since the last trim */
    uint32_t base; /* capacity of pooled buffers */
} eddy__bufpool;

int eddy__bufpool_init(eddy__bufpool *p, size_t base, unsigned max_free);
void eddy__bufpool_destroy(eddy__bufpool *p);
/* An empty buffer of the pool's base capacity, or NULL when out of memory. */
eddy__buf *eddy__bufpool_get(eddy__bufpool *p);
/* Give a buffer back: kept for reuse when it has the base capacity and the
 * pool has room, freed otherwise. */
void eddy__bufpool_put(eddy__bufpool *p, eddy__buf *b);
/* Buffers a trim leaves in the pool however long they go unused: the
 * last used ones, 256 KiB of 64 KiB buffers.  A worker whose load needs a
 * few buffers at a time now and then would otherwise unmap them at one
 * trim and map them again soon after (a 30-minute soak saw a worker's
 * second buffer do that, RSS moving by 68 kB each time). */
enum { EDDY__BUFPOOL_KEEP = 4 };
/* Free the buffers that no get() has needed since the previous trim (the
 * bottom `low` of the stack), so that a burst's buffers do not stay for
 * the life of the worker, but never below EDDY__BUFPOOL_KEEP.  Returns
 * how many remain pooled. */
unsigned eddy__bufpool_trim(eddy__bufpool *p);
/* Whether a trim could free anything. */
static inline int eddy__bufpool_trimmable(const eddy__bufpool *p)
{
    return p->nfree > EDDY__BUFPOOL_KEEP;
}

/* A new empty buffer of at least cap bytes, outside any pool. */
eddy__buf *eddy__buf_new(size_t cap);
/* Free a buffer from buf_new, or one taken from a pool and not given back
 * (NULL is fine). */
void eddy__buf_free(eddy__buf *b);

/* Append n bytes, growing the buffer (by doubling) so that it never holds
 * more than limit bytes.  Returns 0, -ENOBUFS over limit, -ENOMEM. */
int eddy__buf_append(eddy__buf **b, const void *src, size_t n, size_t limit);
/* Grow so that at least `want` bytes of space are free, without passing
 * limit in total capacity.  Returns 0, -ENOBUFS or -ENOMEM. */
int eddy__buf_reserve(eddy__buf **b, size_t want, size_t limit);
void eddy__buf_consume(eddy__buf *b, size_t n);
/* The held bytes as at most two iovecs; returns their count. */
int eddy__buf_data_iov(const eddy__buf *b, struct iovec iov[2]);
/* The free space, in order after the held bytes, as at most two iovecs. */
int eddy__buf_space_iov(eddy__buf *b, struct iovec iov[2]);
/* Count n bytes just written into the space that space_iov returned. */
void eddy__buf_commit(eddy__buf *b, size_t n);
/* Make the held bytes contiguous and return a pointer to the first. */
char *eddy__buf_linearize(eddy__buf *b);

static inline size_t eddy__buf_len(const eddy__buf *b) { return b ? b->len : 0; }

#endif
