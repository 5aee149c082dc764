/* tests/unit/test_buf.c - ring buffers: append, consume, wrap, growth
 * limit, linearize, recycling through the pool. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "suites.h"

static eddy__buf *make(size_t cap)
{
    eddy__bufpool p;
    ck_assert_int_eq(eddy__bufpool_init(&p, cap, 0), 0);
    eddy__buf *b = eddy__bufpool_get(&p);
    eddy__bufpool_destroy(&p);
    ck_assert_ptr_nonnull(b);
    return b;
}

/* Copy the held bytes out through data_iov, as writev would see them. */
static size_t contents(const eddy__buf *b, char *out)
{
    struct iovec iov[2];
    int n = eddy__buf_data_iov(b, iov);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        memcpy(out + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return off;
}

START_TEST(append_and_consume)
{
    eddy__buf *b = make(64);
    ck_assert_int_eq(eddy__buf_append(&b, "hello ", 6, 1024), 0);
    ck_assert_int_eq(eddy__buf_append(&b, "world", 5, 1024), 0);
    ck_assert_uint_eq(eddy__buf_len(b), 11);
    char out[64];
    ck_assert_uint_eq(contents(b, out), 11);
    ck_assert_mem_eq(out, "hello world", 11);
    eddy__buf_consume(b, 6);
    ck_assert_uint_eq(contents(b, out), 5);
    ck_assert_mem_eq(out, "world", 5);
    eddy__buf_consume(b, 5);
    ck_assert_uint_eq(eddy__buf_len(b), 0);
    ck_assert_uint_eq(b->head, 0); /* empty restarts at the front */
    eddy__buf_free(b);
}
END_TEST

START_TEST(wraps_around)
{
    eddy__buf *b = make(64);
    char fill[64], out[64];
    for (int i = 0; i < 64; i++)
        fill[i] = (char)i;
    ck_assert_int_eq(eddy__buf_append(&b, fill, 60, 64), 0);
    eddy__buf_consume(b, 50); /* head at 50, 10 held */
    ck_assert_int_eq(eddy__buf_append(&b, fill, 30, 64), 0); /* wraps: 4 more at the end, 26 at the front */
    ck_assert_uint_eq(b->cap, 64);                            /* no growth needed */
    struct iovec iov[2];
    ck_assert_int_eq(eddy__buf_data_iov(b, iov), 2);
    ck_assert_uint_eq(iov[0].iov_len, 14);
    ck_assert_uint_eq(iov[1].iov_len, 26);
    ck_assert_uint_eq(contents(b, out), 40);
    ck_assert_mem_eq(out, fill + 50, 10);
    ck_assert_mem_eq(out + 10, fill, 30);
    /* free space is the gap between tail and head */
    ck_assert_int_eq(eddy__buf_space_iov(b, iov), 1);
    ck_assert_uint_eq(iov[0].iov_len, 24);
    /* linearize rotates in place and keeps the order */
    char *p = eddy__buf_linearize(b);
    ck_assert_ptr_eq(p, b->data);
    ck_assert_mem_eq(p, fill + 50, 10);
    ck_assert_mem_eq(p + 10, fill, 30);
    eddy__buf_free(b);
}
END_TEST

START_TEST(space_wraps_for_readv)
{
    eddy__buf *b = make(64);
    char fill[64] = {0};
    ck_assert_int_eq(eddy__buf_append(&b, fill, 40, 64), 0);
    eddy__buf_consume(b, 30); /* head 30, 10 held, tail at 40 */
    struct iovec iov[2];
    ck_assert_int_eq(eddy__buf_space_iov(b, iov), 2);
    ck_assert_uint_eq(iov[0].iov_len, 24); /* 40..63 */
    ck_assert_uint_eq(iov[1].iov_len, 30); /* 0..29 */
    memset(iov[0].iov_base, 'a', 24);
    memset(iov[1].iov_base, 'b', 5);
    eddy__buf_commit(b, 29);
    ck_assert_uint_eq(eddy__buf_len(b), 39);
    char *p = eddy__buf_linearize(b);
    ck_assert_int_eq(p[10], 'a');
    ck_assert_int_eq(p[33], 'a');
    ck_assert_int_eq(p[34], 'b');
    eddy__buf_free(b);
}
END_TEST

START_TEST(grows_up_to_limit)
{
    eddy__buf *b = make(64);
    char big[1000];
    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(eddy__buf_append(&b, big, 100, 1000), 0);
    ck_assert_uint_ge(b->cap, 100);
    ck_assert_int_eq(eddy__buf_append(&b, big, 900, 1000), 0); /* exactly at the limit */
    ck_assert_uint_eq(eddy__buf_len(b), 1000);
    ck_assert_int_eq(eddy__buf_append(&b, big, 1, 1000), -ENOBUFS);
    ck_assert_uint_eq(eddy__buf_len(b), 1000); /* a refused append changes nothing */
    eddy__buf_free(b);
}
END_TEST

START_TEST(growth_keeps_wrapped_order)
{
    eddy__buf *b = make(64);
    char seq[200], out[200];
    for (int i = 0; i < 200; i++)
        seq[i] = (char)(i * 7);
    ck_assert_int_eq(eddy__buf_append(&b, seq, 50, 4096), 0);
    eddy__buf_consume(b, 40);
    ck_assert_int_eq(eddy__buf_append(&b, seq + 50, 40, 4096), 0); /* wrapped */
    ck_assert_int_eq(eddy__buf_append(&b, seq + 90, 110, 4096), 0); /* grows */
    ck_assert_uint_eq(contents(b, out), 160);
    ck_assert_mem_eq(out, seq + 40, 160);
    eddy__buf_free(b);
}
END_TEST

START_TEST(reserve_refuses_past_limit)
{
    eddy__buf *b = make(64);
    ck_assert_int_eq(eddy__buf_reserve(&b, 64, 64), 0);
    ck_assert_int_eq(eddy__buf_reserve(&b, 65, 64), -ENOBUFS);
    ck_assert_int_eq(eddy__buf_reserve(&b, 100, 100), 0); /* a limit that is no power of two */
    ck_assert_uint_eq(b->cap, 100);
    eddy__buf_free(b);
}
END_TEST

START_TEST(pool_recycles)
{
    eddy__bufpool p;
    ck_assert_int_eq(eddy__bufpool_init(&p, 100, 2), 0);
    ck_assert_uint_eq(p.base, 128); /* rounded to a power of two */
    eddy__buf *a = eddy__bufpool_get(&p), *b = eddy__bufpool_get(&p), *c = eddy__bufpool_get(&p);
    ck_assert_int_eq(eddy__buf_append(&a, "x", 1, 128), 0);
    eddy__bufpool_put(&p, a);
    eddy__bufpool_put(&p, b);
    eddy__bufpool_put(&p, c); /* pool full: freed */
    ck_assert_uint_eq(p.nfree, 2);
    eddy__buf *again = eddy__bufpool_get(&p);
    ck_assert(again == a || again == b);
    ck_assert_uint_eq(eddy__buf_len(again), 0); /* reset when pooled */
    /* a grown buffer is freed, not pooled */
    ck_assert_int_eq(eddy__buf_reserve(&again, 1000, 4096), 0);
    eddy__bufpool_put(&p, again);
    ck_assert_uint_eq(p.nfree, 1);
    eddy__bufpool_put(&p, NULL); /* harmless */
    eddy__bufpool_destroy(&p);
}
END_TEST

START_TEST(pool_trim_frees_what_went_unused)
{
    enum { KEEP = EDDY__BUFPOOL_KEEP, BURST = KEEP + 4 };
    eddy__bufpool p;
    ck_assert_int_eq(eddy__bufpool_init(&p, 64, 16), 0);
    eddy__buf *b[BURST];
    for (int i = 0; i < BURST; i++)
        b[i] = eddy__bufpool_get(&p);
    for (int i = 0; i < BURST; i++)
        eddy__bufpool_put(&p, b[i]);
    /* The burst's buffers were all taken during this first interval. */
    ck_assert_uint_eq(eddy__bufpool_trim(&p), BURST);
    ck_assert(eddy__bufpool_trimmable(&p));
    /* Next interval: only one connection at a time needs a buffer; the
     * unused ones go, down to the KEEP last used. */
    for (int i = 0; i < 10; i++)
        eddy__bufpool_put(&p, eddy__bufpool_get(&p));
    ck_assert_uint_eq(eddy__bufpool_trim(&p), KEEP);
    ck_assert(!eddy__bufpool_trimmable(&p));
    for (int i = 0; i < KEEP; i++) /* the top of the stack stayed */
        ck_assert(p.free[i] == b[BURST - KEEP + i]);
    /* Idle intervals: they stay, however long they last. */
    ck_assert_uint_eq(eddy__bufpool_trim(&p), KEEP);
    ck_assert_uint_eq(eddy__bufpool_trim(&p), KEEP);
    /* A busier interval that took KEEP + 2: all stay; a quiet one after
     * it frees the 2 that went unused. */
    eddy__buf *t[KEEP + 2];
    for (int i = 0; i < KEEP + 2; i++)
        t[i] = eddy__bufpool_get(&p);
    for (int i = 0; i < KEEP + 2; i++)
        eddy__bufpool_put(&p, t[i]);
    ck_assert_uint_eq(eddy__bufpool_trim(&p), KEEP + 2);
    ck_assert_uint_eq(eddy__bufpool_trim(&p), KEEP);
    /* An empty pool stays so, and serves from malloc or mmap. */
    eddy__buf *all[KEEP];
    for (int i = 0; i < KEEP; i++)
        all[i] = eddy__bufpool_get(&p);
    ck_assert_uint_eq(eddy__bufpool_trim(&p), 0);
    eddy__buf *another = eddy__bufpool_get(&p);
    ck_assert_ptr_nonnull(another);
    ck_assert_uint_eq(another->cap, 64);
    eddy__bufpool_put(&p, another);
    for (int i = 0; i < KEEP; i++)
        eddy__bufpool_put(&p, all[i]);
    eddy__bufpool_destroy(&p);
}
END_TEST

/* Whether the page at p is mapped in this process. */
static int page_mapped(const void *p)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned char vec;
    void *start = (void *)((uintptr_t)p & ~(uintptr_t)(page - 1));
    return mincore(start, (size_t)page, &vec) == 0;
}

/* Buffers of 64 KiB and more (header included) are mapped on their own,
 * smaller ones come from malloc (under ASan all do): content survives
 * growth across that line both ways of a wrapped ring, each kind goes back
 * the way it came, and a freed mapping is gone from the address space. */
START_TEST(large_buffers_are_mapped_and_unmapped)
{
    eddy__bufpool p;
    ck_assert_int_eq(eddy__bufpool_init(&p, 64 << 10, 8), 0);
    eddy__buf *b = eddy__bufpool_get(&p);
    ck_assert_ptr_nonnull(b);
#ifdef EDDY_TEST_MAPPED_BUFFERS
    ck_assert_uint_eq((uintptr_t)b->data % (uintptr_t)sysconf(_SC_PAGESIZE), 0); /* its own mapping */
#endif
    static char in[300 << 10], out[300 << 10];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (char)(i * 7 + i / 251);
    /* wrap the 64 KiB ring, then grow it to 256 KiB: mapped to mapped */
    ck_assert_int_eq(eddy__buf_append(&b, in, 60 << 10, 1 << 20), 0);
    eddy__buf_consume(b, 50 << 10);
    ck_assert_int_eq(eddy__buf_append(&b, in + (60 << 10), 40 << 10, 1 << 20), 0);
    eddy__buf *first = b;
    ck_assert_int_eq(eddy__buf_append(&b, in + (100 << 10), 150 << 10, 1 << 20), 0);
    ck_assert_uint_eq(b->cap, 256 << 10);
    ck_assert_uint_eq(contents(b, out), 200 << 10);
    ck_assert(memcmp(out, in + (50 << 10), 200 << 10) == 0);
#ifdef EDDY_TEST_MAPPED_BUFFERS
    ck_assert(!page_mapped(first)); /* the 64 KiB one went back at once */
#else
    (void)first;
#endif
    eddy__bufpool_put(&p, b); /* grown: freed, not pooled */
    ck_assert_uint_eq(p.nfree, 0);
#ifdef EDDY_TEST_MAPPED_BUFFERS
    ck_assert(!page_mapped(b));
#endif

    /* from malloc's 16 KiB to a mapped 128 KiB and back down to a pool */
    eddy__buf *s = eddy__buf_new(16 << 10);
    ck_assert_int_eq(eddy__buf_append(&s, in, 10 << 10, 1 << 20), 0);
    eddy__buf_consume(s, 8 << 10);
    ck_assert_int_eq(eddy__buf_append(&s, in + (10 << 10), 100 << 10, 1 << 20), 0);
    ck_assert_uint_eq(s->cap, 128 << 10);
    ck_assert_uint_eq(contents(s, out), 102 << 10);
    ck_assert(memcmp(out, in + (8 << 10), 102 << 10) == 0);
    eddy__buf_free(s);

    /* pooled mappings stay mapped until a trim or the pool's end */
    enum { N = EDDY__BUFPOOL_KEEP + 1 };
    eddy__buf *x[N];
    for (int i = 0; i < N; i++)
        x[i] = eddy__bufpool_get(&p);
    for (int i = 0; i < N; i++)
        eddy__bufpool_put(&p, x[i]);
    for (int i = 0; i < N; i++)
        ck_assert(page_mapped(x[i]));
    ck_assert_uint_eq(eddy__bufpool_trim(&p), N); /* all were used */
    ck_assert_uint_eq(eddy__bufpool_trim(&p), N - 1); /* one idle interval */
#ifdef EDDY_TEST_MAPPED_BUFFERS
    ck_assert(!page_mapped(x[0])); /* the bottom of the stack went */
#endif
    ck_assert(page_mapped(x[N - 1]));
    eddy__bufpool_destroy(&p);
#ifdef EDDY_TEST_MAPPED_BUFFERS
    ck_assert(!page_mapped(x[N - 1]));
#endif
}
END_TEST

/* Every buffer's data[] starts on a cache line, and a mapped one's on a
 * page, whatever its capacity, from the pool, new, or grown (by doubling,
 * or to a limit that is not a power of two): the kernel copies into and
 * out of it on every read and write, and a misaligned destination made
 * that copy several times slower. */
START_TEST(data_is_aligned)
{
    static const size_t caps[] = {1, 12, 64, 100, 4096, 60000, 64 << 10, 1 << 20};
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        eddy__buf *b = eddy__buf_new(caps[i]);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_eq((uintptr_t)b->data % EDDY__BUF_ALIGN, 0);
        eddy__buf_free(b);
    }
    eddy__bufpool p;
    ck_assert_int_eq(eddy__bufpool_init(&p, 64 << 10, 2), 0);
    eddy__buf *b = eddy__bufpool_get(&p);
    ck_assert_uint_eq((uintptr_t)b->data % EDDY__BUF_ALIGN, 0);
#ifdef EDDY_TEST_MAPPED_BUFFERS
    ck_assert_uint_eq((uintptr_t)b->data % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
#endif
    eddy__bufpool_put(&p, b);
    eddy__bufpool_destroy(&p);

    static char in[3000];
    eddy__buf *g = eddy__buf_new(64);
    ck_assert_int_eq(eddy__buf_append(&g, in, 200, 1 << 20), 0); /* doubled to 256 */
    ck_assert_uint_eq(g->cap, 256);
    ck_assert_uint_eq((uintptr_t)g->data % EDDY__BUF_ALIGN, 0);
    ck_assert_int_eq(eddy__buf_append(&g, in, 2800, 3000), 0); /* stopped at the limit */
    ck_assert_uint_eq(g->cap, 3000);
    ck_assert_uint_eq((uintptr_t)g->data % EDDY__BUF_ALIGN, 0);
    eddy__buf_free(g);
}
END_TEST

Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("buf");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, append_and_consume);
    tcase_add_test(tc, wraps_around);
    tcase_add_test(tc, space_wraps_for_readv);
    tcase_add_test(tc, grows_up_to_limit);
    tcase_add_test(tc, growth_keeps_wrapped_order);
    tcase_add_test(tc, reserve_refuses_past_limit);
    tcase_add_test(tc, pool_recycles);
    tcase_add_test(tc, pool_trim_frees_what_went_unused);
    tcase_add_test(tc, large_buffers_are_mapped_and_unmapped);
    tcase_add_test(tc, data_is_aligned);
    suite_add_tcase(s, tc);
    return s;
}
