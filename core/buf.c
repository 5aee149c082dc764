/* core/buf.c - ring buffers and their per-worker pool (see buf.h). */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define BUF_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BUF_UNDER_ASAN 1
#endif
#endif

/* Buffers this size or larger (the pool's 64 KiB ones, and any buffer that
 * grew) are mapped on their own instead of taken from malloc.  From the
 * heap, a freed 64 KiB buffer left a hole that small objects then filled,
 * so the next one extended the heap and RSS crept up for as long as the
 * traffic mixed the two; and glibc keeps what a thread frees in that
 * thread's arena, so a burst's buffers stayed resident after it ended.  A
 * mapping goes back to the kernel the moment it is freed.  The cost, an
 * mmap and a munmap, is paid only when the pool is empty or full, never
 * per read.  Each live mapping is one VMA (the kernel merges neighbours):
 * two per connection at most, under vm.max_map_count's 65,530 for the
 * 20,000 connections an fd limit of 20,000 allows. */
#define BUF_MAP_MIN ((size_t)64 * 1024)

/* Whether a buffer of `size` bytes, header included, is mapped.  Never
 * under ASan or valgrind: their overflow and leak checks see malloc's
 * blocks only, and the I/O buffers are what they most need to see. */
static int buf_is_mapped(size_t size)
{
#ifdef BUF_UNDER_ASAN
    (void)size;
    return 0;
#else
    return size >= BUF_MAP_MIN && !RUNNING_ON_VALGRIND;
#endif
}

static size_t round_pow2(size_t n)
{
    size_t c = 64;
    while (c < n)
        c <<= 1;
    return c;
}

/* Bytes mapped before a mapped buffer's header, so that its data[] starts
 * on a page: the header takes the last cache line of the first page.  A
 * 64 KiB buffer still spans and touches 17 pages, as it did with its
 * header in front of data[] at the mapping's start.  Against data[] 64
 * bytes into the mapping, page alignment took 0.97x the server CPU per
 * message at 1,000 conns x 4 KiB (7 paired runs, issue 20). */
#define BUF_MAP_LEAD ((size_t)4096 - sizeof(eddy__buf))

/* A buffer of cap bytes whose data[] is aligned (buf.h): malloc's blocks
 * are only 16-byte aligned, so small ones come from aligned_alloc. */
static eddy__buf *buf_alloc(size_t cap)
{
    size_t size = sizeof(eddy__buf) + cap;
    eddy__buf *b;
    if (buf_is_mapped(size)) {
        char *m = mmap(NULL, BUF_MAP_LEAD + size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        b = m == MAP_FAILED ? NULL : (eddy__buf *)(m + BUF_MAP_LEAD);
    } else {
        b = aligned_alloc(EDDY__BUF_ALIGN, (size + EDDY__BUF_ALIGN - 1) & ~(size_t)(EDDY__BUF_ALIGN - 1));
    }
    if (b) {
        b->head = 0;
        b->len = 0;
        b->cap = (uint32_t)cap;
    }
    return b;
}

void eddy__buf_free(eddy__buf *b)
{
    if (!b)
        return;
    size_t size = sizeof(*b) + b->cap;
    if (buf_is_mapped(size))
        munmap((char *)b - BUF_MAP_LEAD, BUF_MAP_LEAD + size);
    else
        free(b);
}

eddy__buf *eddy__buf_new(size_t cap)
{
    return cap <= EDDY__BUF_MAX ? buf_alloc(round_pow2(cap)) : NULL;
}

int eddy__bufpool_init(eddy__bufpool *p, size_t base, unsigned max_free)
{
    p->base = (uint32_t)round_pow2(base);
    p->nfree = 0;
    p->low = 0;
    p->max_free = max_free;
    p->free = calloc(max_free ? max_free : 1, sizeof(*p->free));
    return p->free ? 0 : -ENOMEM;
}

void eddy__bufpool_destroy(eddy__bufpool *p)
{
    while (p->nfree)
        eddy__buf_free(p->free[--p->nfree]);
    free(p->free);
    p->free = NULL;
}

eddy__buf *eddy__bufpool_get(eddy__bufpool *p)
{
    if (!p->nfree)
        return buf_alloc(p->base);
    eddy__buf *b = p->free[--p->nfree];
    if (p->nfree < p->low)
        p->low = p->nfree;
    return b;
}

void eddy__bufpool_put(eddy__bufpool *p, eddy__buf *b)
{
    if (!b)
        return;
    if (b->cap == p->base && p->nfree < p->max_free) {
        b->head = 0;
        b->len = 0;
        p->free[p->nfree++] = b;
    } else {
        eddy__buf_free(b);
    }
}

unsigned eddy__bufpool_trim(eddy__bufpool *p)
{
    unsigned spare = p->nfree > EDDY__BUFPOOL_KEEP ? p->nfree - EDDY__BUFPOOL_KEEP : 0;
    unsigned idle = p->low < spare ? p->low : spare; /* low <= nfree */
    for (unsigned i = 0; i < idle; i++)
        eddy__buf_free(p->free[i]);
    memmove(p->free, p->free + idle, (p->nfree - idle) * sizeof(*p->free));
    p->nfree -= idle;
    p->low = p->nfree;
    return p->nfree;
}

/* Reallocate to new_cap (a power of two), unwrapping the content so that
 * it starts at offset 0. */
static int buf_resize(eddy__buf **bp, size_t new_cap)
{
    eddy__buf *b = *bp;
    eddy__buf *n = buf_alloc(new_cap);
    if (!n)
        return -ENOMEM;
    struct iovec iov[2];
    int cnt = eddy__buf_data_iov(b, iov);
    size_t off = 0;
    for (int i = 0; i < cnt; i++) {
        memcpy(n->data + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    n->len = b->len;
    eddy__buf_free(b);
    *bp = n;
    return 0;
}

int eddy__buf_reserve(eddy__buf **bp, size_t want, size_t limit)
{
    eddy__buf *b = *bp;
    size_t need = (size_t)b->len + want;
    if (need <= b->cap)
        return 0;
    if (limit > EDDY__BUF_MAX)
        limit = EDDY__BUF_MAX;
    if (need > limit)
        return -ENOBUFS;
    size_t cap = round_pow2(need);
    if (cap > limit) /* a limit that is not a power of two: stop at it */
        cap = need;
    return buf_resize(bp, cap);
}

int eddy__buf_append(eddy__buf **bp, const void *src, size_t n, size_t limit)
{
    int rc = eddy__buf_reserve(bp, n, limit);
    if (rc < 0)
        return rc;
    eddy__buf *b = *bp;
    struct iovec iov[2];
    int cnt = eddy__buf_space_iov(b, iov);
    const char *s = src;
    for (int i = 0; i < cnt && n; i++) {
        size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
        memcpy(iov[i].iov_base, s, k);
        s += k;
        n -= k;
        b->len += (uint32_t)k;
    }
    return 0;
}

void eddy__buf_consume(eddy__buf *b, size_t n)
{
    if (n >= b->len) {
        b->head = 0; /* empty: restart at the front, so reads stay unwrapped */
        b->len = 0;
        return;
    }
    size_t head = (size_t)b->head + n; /* n < len <= cap: < 2 cap */
    b->head = (uint32_t)(head >= b->cap ? head - b->cap : head);
    b->len -= (uint32_t)n;
}

int eddy__buf_data_iov(const eddy__buf *b, struct iovec iov[2])
{
    if (b->len == 0)
        return 0;
    size_t first = b->cap - b->head;
    if (first >= b->len) {
        iov[0].iov_base = (char *)b->data + b->head;
        iov[0].iov_len = b->len;
        return 1;
    }
    iov[0].iov_base = (char *)b->data + b->head;
    iov[0].iov_len = first;
    iov[1].iov_base = (char *)b->data;
    iov[1].iov_len = b->len - first;
    return 2;
}

int eddy__buf_space_iov(eddy__buf *b, struct iovec iov[2])
{
    size_t space = b->cap - b->len;
    if (space == 0)
        return 0;
    size_t tail = (size_t)b->head + b->len; /* < 2 cap: a subtraction, not a division */
    if (tail >= b->cap)
        tail -= b->cap;
    size_t first = b->cap - tail;
    if (first >= space) {
        iov[0].iov_base = b->data + tail;
        iov[0].iov_len = space;
        return 1;
    }
    iov[0].iov_base = b->data + tail;
    iov[0].iov_len = first;
    iov[1].iov_base = b->data;
    iov[1].iov_len = space - first;
    return 2;
}

void eddy__buf_commit(eddy__buf *b, size_t n)
{
    b->len += (uint32_t)n;
}

static void reverse(char *p, size_t n)
{
    for (size_t i = 0, j = n; i + 1 < j; i++, j--) {
        char t = p[i];
        p[i] = p[j - 1];
        p[j - 1] = t;
    }
}

char *eddy__buf_linearize(eddy__buf *b)
{
    if (b->head + b->len <= b->cap)
        return b->data + b->head;
    /* Wrapped: rotate the ring left by head, in place, with three reversals
     * (no allocation, so it cannot fail). */
    reverse(b->data, b->head);
    reverse(b->data + b->head, b->cap - b->head);
    reverse(b->data, b->cap);
    b->head = 0;
    return b->data;
}
