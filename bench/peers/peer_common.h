/* peer_common.h - what every peer echo server shares: the command line
 * (--port P, --workers N, --prefix STR), raising RLIMIT_NOFILE, the
 * listening socket (127.0.0.1 only, SO_REUSEPORT so each worker thread owns
 * its own socket and the kernel spreads accepts, as eddyd does), and the
 * ready line on stderr that scripts/bench waits for.
 *
 * Header-only: every function is static inline so that each peer is one
 * translation unit.
 */
#ifndef EDDY_BENCH_PEER_COMMON_H
#define EDDY_BENCH_PEER_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define PEER_MAX_WORKERS 16
#define PEER_RDBUF (64u << 10)         /* per-thread read buffer */
#define PEER_HIGH_WATER (4u << 20)     /* stop reading a connection above this much queued output */

/* A thread's read buffer, on a page as a careful author would place it:
 * the kernel copies every read into it, and malloc's 16-byte alignment can
 * leave that copy's destination off the cache line (issue 20 measured a
 * misaligned destination several times slower to copy into).  NULL when
 * out of memory; free() it. */
static inline char *peer_rdbuf_new(void)
{
    return aligned_alloc(4096, PEER_RDBUF);
}

typedef struct peer_opts {
    int port;
    int workers;
    const char *prefix;
    size_t plen;
    const char *mode; /* peer-specific variant, NULL = default */
} peer_opts;

static inline void peer_usage(const char *name, const char *modes)
{
    fprintf(stderr,
            "usage: %s --port P [--workers N] [--prefix STR]%s%s\n"
            "  echo server on 127.0.0.1:P; replies STR + each chunk it reads (default STR: empty,\n"
            "  a pure echo); N threads, each its own loop and SO_REUSEPORT socket (default 1)\n",
            name, modes ? " [--mode " : "", modes ? modes : "");
    if (modes)
        fprintf(stderr, "]\n");
}

static inline void peer_parse(int argc, char **argv, const char *name, const char *modes, peer_opts *o)
{
    static const struct option lopts[] = {
        {"port", required_argument, 0, 'p'},
        {"workers", required_argument, 0, 'w'},
        {"prefix", required_argument, 0, 'P'},
        {"mode", required_argument, 0, 'm'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    o->port = 7777;
    o->workers = 1;
    o->prefix = "";
    o->mode = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "p:w:h", lopts, NULL)) != -1) {
        switch (ch) {
        case 'p': o->port = atoi(optarg); break;
        case 'w': o->workers = atoi(optarg); break;
        case 'P': o->prefix = optarg; break;
        case 'm': o->mode = optarg; break;
        default: peer_usage(name, modes); exit(ch == 'h' ? 0 : 2);
        }
    }
    if (optind != argc || o->port < 0 || o->port > 65535 || o->workers < 1 ||
        o->workers > PEER_MAX_WORKERS || (o->mode && !modes)) {
        peer_usage(name, modes);
        exit(2);
    }
    o->plen = strlen(o->prefix);
}

/* Raise the soft fd limit to the hard one; ignore SIGPIPE. */
static inline void peer_setup_process(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
}

/* A nonblocking listening socket on 127.0.0.1:port with SO_REUSEPORT.
 * Exits on failure.  *bound receives the port (useful with port 0). */
static inline int peer_listen(int port, int *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        perror("SO_REUSEPORT");
        exit(1);
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
        fprintf(stderr, "listen 127.0.0.1:%d: %s\n", port, strerror(errno));
        exit(1);
    }
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    if (bound)
        *bound = ntohs(a.sin_port);
    return fd;
}

/* Append n bytes to the growable buffer *buf holding *len of *cap bytes
 * (4 KiB at first, doubling): what a peer queues when the socket would not
 * take all of a reply.  0, or -1 when out of memory (nothing changed). */
static inline int peer_append(char **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < *len + n)
            c *= 2;
        char *nb = realloc(*buf, c);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    return 0;
}

static inline void peer_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static inline void peer_ready(const char *name, int port, int workers, const char *mode)
{
    fprintf(stderr, "%s%s%s: listening on 127.0.0.1:%d (%d worker%s)\n", name, mode ? " " : "",
            mode ? mode : "", port, workers, workers == 1 ? "" : "s");
    fflush(stderr);
}

#endif
