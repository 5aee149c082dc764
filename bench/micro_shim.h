/* bench/micro_shim.h - the C interface the Google Benchmark harness uses
 * to reach core internals (see micro_shim.c). */
#ifndef EDDY_BENCH_MICRO_SHIM_H
#define EDDY_BENCH_MICRO_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bench_echo bench_echo;
bench_echo *bench_echo_new(const char *prefix);
size_t bench_echo_feed(bench_echo *f, const char *buf, size_t len);
int bench_echo_peer(const bench_echo *f);
void bench_echo_free(bench_echo *f);

typedef struct bench_bufs bench_bufs;
bench_bufs *bench_bufs_new(size_t base);
void bench_bufs_free(bench_bufs *x);
size_t bench_bufs_cycle(bench_bufs *x, const void *src, size_t n);
size_t bench_bufs_ring(bench_bufs *x, const void *src, size_t n);

#ifdef __cplusplus
}
#endif
#endif
