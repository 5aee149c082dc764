/* eddy-connrate - connection rate against an echo server on loopback.
 *
 *   eddy-connrate [-p PORT] [-t THREADS] [-D SECONDS] [-s SIZE] [--pid PID]
 *
 * Each thread, in a loop for the duration: connect, send SIZE bytes
 * (default 64), read them back, close: one new connection per request.
 * Prints one JSON object: connections completed, per second, errors, and
 * with --pid the server's CPU time per connection (utime + stime from
 * /proc/PID/stat over the run).  Exit status 0, 1 when any connection
 * failed or came back wrong, 2 for bad usage.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port = 7777, threads = 4, size = 64;
static double duration = 5;
static atomic_ullong done, errors;
static atomic_int stop;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One connection, one request: 0, or -1 when anything went wrong. */
static int one(const struct sockaddr_in *to, const char *msg, char *buf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), rc = -1;
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* close with RST: no TIME_WAIT left to exhaust the ports of a long run */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) == 0 &&
        write(fd, msg, (size_t)size) == size) {
        int got = 0;
        ssize_t n;
        while (got < size && (n = read(fd, buf + got, (size_t)(size - got))) > 0)
            got += (int)n;
        rc = got == size && memcmp(buf, msg, (size_t)size) == 0 ? 0 : -1;
    }
    close(fd);
    return rc;
}

static void *run(void *arg)
{
    (void)arg;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char *msg = malloc((size_t)size), *buf = malloc((size_t)size);
    if (!msg || !buf)
        abort();
    memset(msg, 'c', (size_t)size);
    while (!atomic_load(&stop))
        atomic_fetch_add(one(&to, msg, buf) == 0 ? &done : &errors, 1);
    free(msg);
    free(buf);
    return NULL;
}

static double cpu_s(int pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    double s = -1;
    if (fgets(line, sizeof(line), f)) {
        char *p = strrchr(line, ')');
        unsigned long ut, st;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
            s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    fclose(f);
    return s;
}

int main(int argc, char **argv)
{
    int pid = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            goto usage;
        if (!strcmp(argv[i], "-p"))
            port = atoi(v);
        else if (!strcmp(argv[i], "-t"))
            threads = atoi(v);
        else if (!strcmp(argv[i], "-D"))
            duration = atof(v);
        else if (!strcmp(argv[i], "-s"))
            size = atoi(v);
        else if (!strcmp(argv[i], "--pid"))
            pid = atoi(v);
        else
            goto usage;
        i++;
    }
    if (port <= 0 || threads <= 0 || threads > 256 || size <= 0 || size > (1 << 20) || duration <= 0)
        goto usage;
    pthread_t t[256];
    double c0 = pid ? cpu_s(pid) : 0, t0 = now();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, run, NULL);
    struct timespec d = {(time_t)duration, (long)((duration - (long)duration) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double el = now() - t0, c1 = pid ? cpu_s(pid) : 0;
    unsigned long long n = atomic_load(&done), e = atomic_load(&errors);
    printf("{\"conns\":%llu,\"conns_per_s\":%.1f,\"errors\":%llu,\"server_cpu_us_per_conn\":%.3f}\n", n,
           n / el, e, pid && n ? (c1 - c0) * 1e6 / (double)n : 0.0);
    return e ? 1 : 0;
usage:
    fprintf(stderr, "usage: eddy-connrate [-p PORT] [-t THREADS] [-D SECONDS] [-s SIZE] [--pid PID]\n");
    return 2;
}
