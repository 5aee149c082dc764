/* faultinject.so - an LD_PRELOAD shim that injects the faults a correct
 * edge-triggered server must survive, at rates set by the environment.
 *
 *   LD_PRELOAD=build/tests/faultinject/faultinject.so EDDY_FI_EINTR=0.05 eddyd ...
 *
 * Environment (rates are probabilities per call, 0 = off; all default 0):
 *   EDDY_FI_EINTR    read, write, readv, writev, recv, send, recvfrom,
 *                    sendto, recvmsg, sendmsg, recvmmsg, sendmmsg on sockets,
 *                    and epoll_wait/epoll_pwait: return -1/EINTR without
 *                    making the call.  Only sockets (checked with fstat when
 *                    the dice say "inject"): eddyd's eventfd, its log pipe
 *                    and files are left alone (EDDY_FI_EINTR_ALL=1: every
 *                    fd, though the kernel never returns EINTR for a
 *                    non-blocking eventfd or a regular file).
 *   EDDY_FI_ACCEPT   accept/accept4: return -1 with one of ECONNABORTED,
 *                    EMFILE, ENFILE, ENOBUFS, EINTR (in turn) without
 *                    accepting; the connection stays in the backlog.
 *   EDDY_FI_MALLOC   malloc, calloc, realloc, posix_memalign, aligned_alloc:
 *                    return NULL/ENOMEM; anonymous mmap (eddy's large I/O
 *                    buffers): MAP_FAILED/ENOMEM.  Only on threads that
 *                    have called epoll_wait (eddyd's worker loops), and
 *                    only once the process has called accept4 once
 *                    (startup is over: config, plugins, listeners and
 *                    threads are set up).
 *                    The main thread (signals, reload, stop) and the pool
 *                    threads never see an injected ENOMEM.
 *   EDDY_FI_RESET=N  every Nth accepted connection (N >= 1; 0 = off): its
 *                    first read returns -1/ECONNRESET; the shim first sets
 *                    SO_LINGER 0 and shuts the socket down, so the peer sees
 *                    FIN at once and RST when the server closes it.
 *   EDDY_FI_SEED     PRNG seed (default 1).  Each thread has its own
 *                    xorshift state, seeded from the seed and the thread's
 *                    creation order, so runs are repeatable up to thread
 *                    scheduling.
 *   EDDY_FI_LOG      a file to which one summary line is appended at exit:
 *                    "faultinject pid=P eintr=N accept=N enomem=N reset=N
 *                    calls=N accepted=N allocs=N" (calls: I/O calls seen,
 *                    allocs: allocations that could have failed); also
 *                    printed to stderr when EDDY_FI_VERBOSE=1.
 *
 * Not injected, on purpose: short reads and short writes.  An edge-
 * triggered server may take a read that returns fewer bytes than asked as
 * "the socket is drained" and go back to epoll_wait (eddy does: conn.c,
 * "drained"; epoll(7) describes exactly this use: for a stream socket, a
 * read that returns less than requested means the read space is exhausted).
 * That is sound because of how the kernel works, not by luck: tcp_recvmsg()
 * copies from the receive queue until the buffer is full or the queue is
 * empty, and a non-blocking socket never sleeps, so a short count means the
 * queue was empty at that moment; the only exceptions are the urgent mark
 * (out-of-band data, which eddy's peers do not send) and a signal arriving
 * while a *blocking* read waits for more (a non-blocking one never waits).
 * Any byte that arrives after that point wakes the socket again and epoll
 * reports a new edge.  An injected short read would leave bytes in the
 * queue with no edge to come: a correct server would then wait forever for
 * an event that already happened.  That hang would be a bug of the test,
 * not of the server.  Short writes are the same story reversed: a short
 * write means the send buffer is full and EPOLLOUT will come when it
 * drains; a faked one has no EPOLLOUT coming if the buffer is not full.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define FI_TLS __thread __attribute__((tls_model("initial-exec")))
#define FI_API __attribute__((visibility("default")))
#define FI_MAXFD 65536

/* glibc's own allocator entry points: no dlsym, so no recursion through
 * dlsym's own calloc. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static double rate_eintr, rate_accept, rate_malloc;
static unsigned long reset_every;
static uint64_t seed = 1;
static const char *log_path;
static int verbose;
static int eintr_all;                      /* EDDY_FI_EINTR_ALL=1 */

static atomic_bool armed;                 /* the first accept4 happened */
static atomic_uint thread_counter;
static atomic_ulong n_eintr, n_accept, n_enomem, n_reset, n_calls, n_accepted, n_allocs;
static atomic_uchar reset_mark[FI_MAXFD]; /* 1: the next read is reset */

static FI_TLS uint64_t rng;              /* 0: not seeded yet */
static FI_TLS int is_loop;               /* this thread called epoll_wait */
static FI_TLS int in_shim;               /* no injection inside the shim */

/* ---- the real functions ---- */

#define DECLARE_REAL(ret, name, ...) static ret (*real_##name)(__VA_ARGS__)
DECLARE_REAL(ssize_t, read, int, void *, size_t);
DECLARE_REAL(ssize_t, write, int, const void *, size_t);
DECLARE_REAL(ssize_t, readv, int, const struct iovec *, int);
DECLARE_REAL(ssize_t, writev, int, const struct iovec *, int);
DECLARE_REAL(ssize_t, recv, int, void *, size_t, int);
DECLARE_REAL(ssize_t, send, int, const void *, size_t, int);
DECLARE_REAL(ssize_t, recvfrom, int, void *, size_t, int, struct sockaddr *, socklen_t *);
DECLARE_REAL(ssize_t, sendto, int, const void *, size_t, int, const struct sockaddr *, socklen_t);
DECLARE_REAL(ssize_t, recvmsg, int, struct msghdr *, int);
DECLARE_REAL(ssize_t, sendmsg, int, const struct msghdr *, int);
DECLARE_REAL(int, recvmmsg, int, struct mmsghdr *, unsigned int, int, struct timespec *);
DECLARE_REAL(int, sendmmsg, int, struct mmsghdr *, unsigned int, int);
DECLARE_REAL(int, epoll_wait, int, struct epoll_event *, int, int);
DECLARE_REAL(int, epoll_pwait, int, struct epoll_event *, int, int, const sigset_t *);
DECLARE_REAL(int, accept, int, struct sockaddr *, socklen_t *);
DECLARE_REAL(int, accept4, int, struct sockaddr *, socklen_t *, int);
DECLARE_REAL(int, close, int);
DECLARE_REAL(void *, mmap, void *, size_t, int, int, int, off_t);

static void *resolve(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p)
        abort(); /* libc without that symbol: nothing sensible to do */
    return p;
}

/* Resolved once by the constructor; LOAD() also covers a call made before
 * it ran (another library's constructor). */
static void *load_fn(void **slot, const char *name)
{
    void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!p) {
        p = resolve(name);
        __atomic_store_n(slot, p, __ATOMIC_RELEASE);
    }
    return p;
}

#define LOAD(name) ((__typeof__(real_##name))load_fn((void **)&real_##name, #name))

/* ---- configuration and counters ---- */

static double env_rate(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0.0;
    double r = strtod(v, NULL);
    return r < 0.0 ? 0.0 : r > 1.0 ? 1.0 : r;
}

__attribute__((constructor)) static void fi_init(void)
{
    (void)LOAD(read), (void)LOAD(write), (void)LOAD(readv), (void)LOAD(writev);
    (void)LOAD(recv), (void)LOAD(send), (void)LOAD(recvfrom), (void)LOAD(sendto);
    (void)LOAD(recvmsg), (void)LOAD(sendmsg), (void)LOAD(recvmmsg), (void)LOAD(sendmmsg);
    (void)LOAD(epoll_wait), (void)LOAD(epoll_pwait), (void)LOAD(accept), (void)LOAD(accept4);
    (void)LOAD(close), (void)LOAD(mmap);
    rate_eintr = env_rate("EDDY_FI_EINTR");
    rate_accept = env_rate("EDDY_FI_ACCEPT");
    rate_malloc = env_rate("EDDY_FI_MALLOC");
    const char *v = getenv("EDDY_FI_RESET");
    reset_every = v ? strtoul(v, NULL, 10) : 0;
    v = getenv("EDDY_FI_SEED");
    if (v && *v)
        seed = strtoull(v, NULL, 0);
    log_path = getenv("EDDY_FI_LOG");
    v = getenv("EDDY_FI_EINTR_ALL");
    eintr_all = v && *v == '1';
    v = getenv("EDDY_FI_VERBOSE");
    verbose = v && *v == '1';
}

__attribute__((destructor)) static void fi_fini(void)
{
    char line[256];
    int n = snprintf(line, sizeof(line),
                     "faultinject pid=%ld eintr=%lu accept=%lu enomem=%lu reset=%lu "
                     "calls=%lu accepted=%lu allocs=%lu\n",
                     (long)getpid(), atomic_load(&n_eintr), atomic_load(&n_accept),
                     atomic_load(&n_enomem), atomic_load(&n_reset), atomic_load(&n_calls),
                     atomic_load(&n_accepted), atomic_load(&n_allocs));
    if (n <= 0 || (size_t)n >= sizeof(line))
        return;
    in_shim = 1;
    if (log_path && *log_path) {
        int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ssize_t r = LOAD(write)(fd, line, (size_t)n); /* one append: atomic */
            (void)r;
            LOAD(close)(fd);
        }
    }
    if (verbose) {
        ssize_t r = LOAD(write)(2, line, (size_t)n);
        (void)r;
    }
}

/* ---- per-thread PRNG ---- */

static uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static double dice(void)
{
    if (rng == 0) {
        unsigned t = atomic_fetch_add(&thread_counter, 1) + 1;
        rng = splitmix(seed * 0x100000001B3ull + t);
        if (rng == 0)
            rng = 1;
    }
    /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

static int is_socket(int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Inject EINTR on this call?  Counts the call either way. */
static int eintr_on(int fd)
{
    if (in_shim)
        return 0;
    atomic_fetch_add_explicit(&n_calls, 1, memory_order_relaxed);
    if (rate_eintr <= 0.0 || dice() >= rate_eintr)
        return 0;
    if (fd >= 0 && !eintr_all && !is_socket(fd))
        return 0;
    atomic_fetch_add_explicit(&n_eintr, 1, memory_order_relaxed);
    errno = EINTR;
    return 1;
}

/* A read on a connection chosen for reset: reset it instead. */
static int reset_on(int fd)
{
    if (reset_every == 0 || fd < 0 || fd >= FI_MAXFD)
        return 0;
    if (!atomic_exchange_explicit(&reset_mark[fd], 0, memory_order_relaxed))
        return 0;
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    shutdown(fd, SHUT_RDWR);
    atomic_fetch_add_explicit(&n_reset, 1, memory_order_relaxed);
    errno = ECONNRESET;
    return 1;
}

static int enomem_now(void)
{
    if (rate_malloc <= 0.0 || in_shim || !is_loop ||
        !atomic_load_explicit(&armed, memory_order_relaxed))
        return 0;
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    if (dice() >= rate_malloc)
        return 0;
    atomic_fetch_add_explicit(&n_enomem, 1, memory_order_relaxed);
    errno = ENOMEM;
    return 1;
}

/* ---- reads ---- */

FI_API ssize_t read(int fd, void *buf, size_t len)
{
    if (reset_on(fd) || eintr_on(fd))
        return -1;
    return LOAD(read)(fd, buf, len);
}

FI_API ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    if (reset_on(fd) || eintr_on(fd))
        return -1;
    return LOAD(readv)(fd, iov, cnt);
}

FI_API ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    if (reset_on(fd) || eintr_on(fd))
        return -1;
    return LOAD(recv)(fd, buf, len, flags);
}

FI_API ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *a,
                        socklen_t *alen)
{
    if (reset_on(fd) || eintr_on(fd))
        return -1;
    return LOAD(recvfrom)(fd, buf, len, flags, a, alen);
}

FI_API ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
    if (reset_on(fd) || eintr_on(fd))
        return -1;
    return LOAD(recvmsg)(fd, m, flags);
}

FI_API int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *t)
{
    if (eintr_on(fd))
        return -1;
    return LOAD(recvmmsg)(fd, v, n, flags, t);
}

/* ---- writes ---- */

FI_API ssize_t write(int fd, const void *buf, size_t len)
{
    if (eintr_on(fd))
        return -1;
    return LOAD(write)(fd, buf, len);
}

FI_API ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    if (eintr_on(fd))
        return -1;
    return LOAD(writev)(fd, iov, cnt);
}

FI_API ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    if (eintr_on(fd))
        return -1;
    return LOAD(send)(fd, buf, len, flags);
}

FI_API ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *a,
                      socklen_t alen)
{
    if (eintr_on(fd))
        return -1;
    return LOAD(sendto)(fd, buf, len, flags, a, alen);
}

FI_API ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    if (eintr_on(fd))
        return -1;
    return LOAD(sendmsg)(fd, m, flags);
}

FI_API int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
    if (eintr_on(fd))
        return -1;
    return LOAD(sendmmsg)(fd, v, n, flags);
}

/* ---- the loop ---- */

FI_API int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
    is_loop = 1;
    if (eintr_on(-1))
        return -1;
    return LOAD(epoll_wait)(epfd, ev, max, timeout);
}

FI_API int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
                       const sigset_t *mask)
{
    is_loop = 1;
    if (eintr_on(-1))
        return -1;
    return LOAD(epoll_pwait)(epfd, ev, max, timeout, mask);
}

/* ---- accepting ---- */

static int accept_fault(void)
{
    static const int errs[] = {ECONNABORTED, EMFILE, ENFILE, ENOBUFS, EINTR};
    atomic_store_explicit(&armed, 1, memory_order_relaxed);
    if (rate_accept <= 0.0 || in_shim || dice() >= rate_accept)
        return 0;
    unsigned long k = atomic_fetch_add_explicit(&n_accept, 1, memory_order_relaxed);
    errno = errs[k % (sizeof(errs) / sizeof(errs[0]))];
    return 1;
}

static int accepted(int fd)
{
    if (fd >= 0) {
        unsigned long k = atomic_fetch_add_explicit(&n_accepted, 1, memory_order_relaxed) + 1;
        if (fd < FI_MAXFD)
            atomic_store_explicit(&reset_mark[fd], reset_every && k % reset_every == 0,
                                  memory_order_relaxed);
    }
    return fd;
}

FI_API int accept4(int fd, struct sockaddr *a, socklen_t *alen, int flags)
{
    if (accept_fault())
        return -1;
    return accepted(LOAD(accept4)(fd, a, alen, flags));
}

FI_API int accept(int fd, struct sockaddr *a, socklen_t *alen)
{
    if (accept_fault())
        return -1;
    return accepted(LOAD(accept)(fd, a, alen));
}

FI_API int close(int fd)
{
    if (fd >= 0 && fd < FI_MAXFD)
        atomic_store_explicit(&reset_mark[fd], 0, memory_order_relaxed);
    return LOAD(close)(fd);
}

/* ---- memory ---- */

FI_API void *malloc(size_t n)
{
    if (enomem_now())
        return NULL;
    return __libc_malloc(n);
}

FI_API void *calloc(size_t a, size_t b)
{
    if (enomem_now())
        return NULL;
    return __libc_calloc(a, b);
}

FI_API void *realloc(void *p, size_t n)
{
    if (n != 0 && enomem_now())
        return NULL;
    return __libc_realloc(p, n);
}

/* Only eddy's own calls get here: glibc's malloc and thread stacks map
 * memory through libc's internal entry point, not this symbol. */
FI_API void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if ((flags & MAP_ANONYMOUS) && enomem_now())
        return MAP_FAILED;
    return LOAD(mmap)(addr, len, prot, flags, fd, off);
}

FI_API int posix_memalign(void **out, size_t align, size_t n)
{
    if (enomem_now())
        return ENOMEM;
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

FI_API void *aligned_alloc(size_t align, size_t n)
{
    if (enomem_now())
        return NULL;
    return __libc_memalign(align, n);
}
