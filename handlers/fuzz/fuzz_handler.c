/* handlers/fuzz/fuzz_handler.c - eddy-fuzz-handler: checks anyone's handler the way
 * eddy's own are checked.
 *
 *   eddy-fuzz-handler [-n RUNS] [-s SEED] [-p name=value]... HANDLER [INPUT...]
 *
 * -p gives the handler a parameter; the same name again adds a value, for
 * a list (-p upstream=A -p upstream=B), as a second config line does.
 * HANDLER is a plugin (.so, or a name found as eddyd finds it: eddyd's
 * built-in echo and stats, then the plugin directories).  Each INPUT
 * (a file, or every file of a directory; with none, random bytes) is fed to
 * the handler through the real connection code - a connection whose peer is
 * the other end of a socketpair, read by eddy's own read path, answered
 * through eddy_send() - first in one piece, then RUNS times split at random
 * points, interleaved with reads that find nothing (EAGAIN), the peer's
 * half-close at the end, and in some runs a reset at a random point.  A
 * handler with drained() gets a small socket buffer and water marks, so
 * that its output queues and drains; one with peer_shutdown() is told of
 * the half-close and may answer after it (its timers run then).  It
 * checks that the handler never crashes (build with ASan to check memory
 * and leaks too), and that for the same bytes its replies do not depend on
 * how the input was split: a handler whose answer changes with the TCP
 * segmentation is wrong on a real network.  Exit status 0 when every check
 * held, 1 when a reply differed (the input and both replies are reported),
 * 2 for bad arguments.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builtin.h"
#include "conn.h"
#include "eddy/eddy.h"
#include "params.h"
#include "plugin.h"
#include "server.h"

enum { INPUT_LIMIT = 1 << 20 };

typedef struct bytes {
    char *p;
    size_t len, cap;
} bytes;

static void bytes_add(bytes *b, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            fprintf(stderr, "eddy-fuzz-handler: out of memory\n");
            exit(2);
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static unsigned long long rng_state;

static unsigned rnd(unsigned n) /* 0 .. n-1, xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return n ? (unsigned)((rng_state * 2685821657736338717ull) >> 33) % n : 0;
}

typedef struct harness {
    const eddy_handler *h;
    eddy_params *params;
} harness;

/* Read whatever the connection has sent so far; let it flush the rest. */
static void pump(eddy_conn *c, int peer, bytes *out)
{
    char buf[65536];
    for (int idle = 0; idle < 2;) {
        ssize_t n = read(peer, buf, sizeof(buf));
        if (n > 0) {
            bytes_add(out, buf, (size_t)n);
            idle = 0;
        } else {
            idle++;
        }
        if (c->h.fd >= 0 && eddy__buf_len(c->out))
            eddy__conn_event(c, EDDY__WRITABLE);
    }
}

/* An event for the connection, then its turns on the loop's ready list
 * while it is over its read budget, given as the loop gives them (issue
 * 15: clearing its `queued` flag by hand left it on the list, and a
 * connection that then closed was freed twice). */
static void turn(eddy__loop *l, eddy_conn *c, unsigned events)
{
    eddy__conn_event(c, events);
    while (c->h.fd >= 0 && c->h.queued)
        eddy__loop_run_ready(l);
}

/* One run: a fresh listener (init .. fini), one connection, the input in
 * pieces.  mode 0: one piece; 1: random splits; 2: random splits and a
 * reset somewhere.  Returns the replies. */
static bytes run(const harness *hs, const char *in, size_t len, int mode)
{
    eddy_server *s;
    eddy_listener *l;
    bytes out = {0};
    if (eddy_server_new(&s) < 0 || eddy_server_listen(s, "127.0.0.1:0", hs->h, hs->params, &l) < 0) {
        fprintf(stderr, "eddy-fuzz-handler: %s\n", eddy_server_error(s));
        exit(2);
    }
    eddy_listener_set_dispatch(l, EDDY_DISPATCH_INLINE); /* the same data(), on this thread */
    eddy__loop loop;
    int sv[2];
    if (eddy__loop_init(&loop, s, &s->shared, s->listeners, 0) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("eddy-fuzz-handler");
        exit(2);
    }
    if (hs->h->drained) { /* replies queue and drain: drained() is called */
        int small = 4096;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
        eddy_listener_set_water_marks(l, 8192, 2048);
    }
    eddy__loop_self = &loop; /* this thread runs it: worker_init() sees its worker */
    eddy_conn *c = eddy__loop_open_local(&loop, l, sv[0]);
    if (!c) {
        fprintf(stderr, "eddy-fuzz-handler: cannot open a connection: out of memory\n");
        exit(2);
    }
    size_t reset_at = mode == 2 ? rnd((unsigned)len + 1) : (size_t)-1;
    size_t at = 0;
    while (c->h.fd >= 0 && at < len) {
        size_t n = mode == 0 ? len - at : 1 + rnd((unsigned)(len - at < 4096 ? len - at : 4096));
        if (at < reset_at && at + n >= reset_at) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(sv[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(sv[1]); /* the peer is gone mid-request */
            sv[1] = -1;
            turn(&loop, c, EDDY__READABLE | EDDY__HANGUP);
            break;
        }
        ssize_t w = write(sv[1], in + at, n);
        if (w > 0)
            at += (size_t)w;
        if (mode && rnd(4) == 0)
            eddy__conn_event(c, EDDY__READABLE); /* data or not: EAGAIN is a path too */
        turn(&loop, c, EDDY__READABLE);
        pump(c, sv[1], &out);
    }
    if (sv[1] >= 0) {
        shutdown(sv[1], SHUT_WR); /* half-close: what is queued must still arrive */
        for (int i = 0; i < 64 && c->h.fd >= 0; i++) {
            turn(&loop, c, EDDY__READABLE | (EDDY__HANGUP & ~EDDY__GONE)); /* a FIN */
            loop.now += 100; /* what peer_shutdown() deferred to a timer */
            eddy__timers_run(&loop.timers, loop.now);
            pump(c, sv[1], &out);
        }
        pump(c, sv[1], &out);
        close(sv[1]);
    }
    eddy__loop_close_conns(&loop);
    eddy__loop_destroy(&loop);
    eddy_server_free(s);
    return out;
}

static int read_file(const char *path, bytes *b)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0 && b->len < INPUT_LIMIT)
        bytes_add(b, buf, (size_t)n);
    close(fd);
    return 0;
}

static void show(const char *what, const bytes *b)
{
    fprintf(stderr, "  %s (%zu bytes): ", what, b->len);
    for (size_t i = 0; i < b->len && i < 200; i++)
        fputc(b->p[i] >= 0x20 && b->p[i] < 0x7f ? b->p[i] : '.', stderr);
    fputc('\n', stderr);
}

/* Every run of one input: 0 when the replies never depended on the split. */
static int check(const harness *hs, const char *name, const char *in, size_t len, int runs)
{
    bytes whole = run(hs, in, len, 0);
    int bad = 0;
    for (int r = 0; r < runs && !bad; r++) {
        bytes split = run(hs, in, len, 1);
        if (split.len != whole.len || (whole.len && memcmp(split.p, whole.p, whole.len) != 0)) {
            fprintf(stderr, "eddy-fuzz-handler: %s: the replies depend on how the input is split\n",
                    name);
            show("in one piece", &whole);
            show("split", &split);
            bad = 1;
        }
        free(split.p);
        bytes reset = run(hs, in, len, 2); /* only: no crash, no leak */
        free(reset.p);
    }
    free(whole.p);
    return bad;
}

static int check_path(const harness *hs, const char *path, int runs, int *inputs)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "eddy-fuzz-handler: %s: %s\n", path, strerror(errno));
        return 2;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        int rc = 0;
        while (d && (e = readdir(d)))
            if (e->d_name[0] != '.') {
                char sub[4096];
                snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
                rc |= check_path(hs, sub, runs, inputs);
            }
        if (d)
            closedir(d);
        return rc;
    }
    bytes in = {0};
    read_file(path, &in);
    (*inputs)++;
    int rc = check(hs, path, in.p ? in.p : "", in.len, runs);
    free(in.p);
    return rc;
}

int main(int argc, char **argv)
{
    int runs = 20, opt, inputs = 0;
    rng_state = 0x9e3779b97f4a7c15ull;
    harness hs = {0};
    if (eddy_params_new(&hs.params) < 0)
        return 2;
    while ((opt = getopt(argc, argv, "n:s:p:h")) != -1) {
        char *eq;
        switch (opt) {
        case 'n':
            runs = atoi(optarg);
            break;
        case 's':
            rng_state = strtoull(optarg, NULL, 0) | 1;
            break;
        case 'p':
            if (!(eq = strchr(optarg, '='))) {
                fprintf(stderr, "eddy-fuzz-handler: -p takes name=value\n");
                return 2;
            }
            *eq = '\0';
            if (eddy_params_add(hs.params, optarg, eq + 1, 0) < 0) {
                fprintf(stderr, "eddy-fuzz-handler: out of memory\n");
                return 2;
            }
            break;
        default:
            fprintf(stderr, "usage: eddy-fuzz-handler [-n RUNS] [-s SEED] [-p name=value]... "
                            "HANDLER [INPUT...]\n");
            return 2;
        }
    }
    if (optind >= argc || runs < 1) {
        fprintf(stderr, "usage: eddy-fuzz-handler [-n RUNS] [-s SEED] [-p name=value]... "
                        "HANDLER [INPUT...]\n");
        return 2;
    }
    void *dl = NULL;
    char why[512] = "out of memory";
    eddy_server *names = NULL; /* holds the built-ins, as eddyd's server does */
    int found = eddy_server_new(&names) == 0 && eddy_builtin_register(names) == 0 &&
                eddy__plugin_load(argv[optind], &names->handlers, NULL, &hs.h, &dl, why,
                                  sizeof(why)) == 0;
    eddy_server_free(names);
    if (!found) {
        fprintf(stderr, "eddy-fuzz-handler: %s\n", why);
        return 2;
    }
    if (!hs.h->data) {
        fprintf(stderr, "eddy-fuzz-handler: handler '%s' has no data(): nothing to drive\n",
                hs.h->name);
        eddy__plugin_unload(dl);
        return 2;
    }
    int rc = 0;
    for (int i = optind + 1; i < argc; i++)
        rc |= check_path(&hs, argv[i], runs, &inputs);
    if (optind + 1 == argc) { /* no corpus: random bytes, printable and not */
        for (int k = 0; k < 64 && !rc; k++) {
            size_t len = rnd(8192);
            char *in = malloc(len + 1);
            for (size_t j = 0; in && j < len; j++)
                in[j] = rnd(2) ? (char)rnd(256) : " \r\nabcdefGETSET*$0123456789:"[rnd(28)];
            rc |= check(&hs, "random input", in ? in : "", in ? len : 0, runs);
            free(in);
            inputs++;
        }
    }
    printf("eddy-fuzz-handler: %s: %d inputs, %d split runs each: %s\n", hs.h->name, inputs, runs,
           rc ? "FAILED" : "ok");
    eddy_params_free(hs.params);
    eddy__plugin_unload(dl);
    return rc ? 1 : 0;
}
