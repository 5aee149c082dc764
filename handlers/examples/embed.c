/* handlers/examples/embed.c - eddy-embed-example: libeddy inside a program
 * of your own, with a handler compiled into it.
 *
 * Usage: eddy-embed-example [IPV4:PORT]
 * Serves "upper" on the address (default 127.0.0.1:7778; port 0 takes a
 * free port): each chunk a client sends comes back upper-cased (ASCII
 * letters only).  Prints "listening on ADDR:PORT" on stderr once it
 * accepts connections; exits 0 after SIGINT or SIGTERM, 1 if the server
 * cannot start (e.g. the port is in use), 2 on a bad argument.
 *
 * The contract it shows:
 *   - A program passes its own const eddy_handler table to
 *     eddy_server_listen(): no plugin, no dlopen, no config file.  The
 *     table is the same as a plugin's; it just needs no entry symbol.
 *   - Only include/eddy/eddy.h: new, listen, start, stop, wait, free.
 *     eddy_server_error() names what failed.
 *   - The server's threads block every signal; the program decides who takes
 *     them.  Here main() blocks SIGINT and SIGTERM before anything starts and
 *     takes them with sigwait(), so the stop runs in plain code, not in a
 *     signal handler (eddy_server_stop() would be safe there too).
 *   - SIGPIPE is ignored, as in any program that writes to sockets: a peer
 *     gone mid-write is then an error on that connection only.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* sigwait(), pthread_sigmask() under -std=c11 */
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "eddy/eddy.h"

#define DEFAULT_ADDRESS "127.0.0.1:7778"

/* The handler: stateless, so no init/fini, no parameters (params NULL:
 * it accepts none) and no per-connection data. */
static size_t upper_data(eddy_conn *c, const char *buf, size_t len)
{
    char out[4096]; /* on the stack: nothing allocated per chunk */
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof(out) ? len - done : sizeof(out);
        for (size_t i = 0; i < n; i++) {
            char ch = buf[done + i];
            out[i] = ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
        }
        if (eddy_send(c, out, n) < 0) /* eddy_send copies what it cannot write now */
            break;                    /* closing: the rest would be dropped */
        done += n;
    }
    return len;
}

static const eddy_handler upper_handler = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "upper",
    .data = upper_data,
};

static void usage(FILE *f)
{
    fprintf(f, "usage: eddy-embed-example [IPV4:PORT]   (default " DEFAULT_ADDRESS ")\n");
}

int main(int argc, char **argv)
{
    if (argc > 2) {
        usage(stderr);
        return 2;
    }
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    const char *address = argc == 2 ? argv[1] : DEFAULT_ADDRESS;

    /* Before any thread exists, so every thread inherits the mask. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    eddy_server *s;
    int rc = eddy_server_new(&s);
    if (rc < 0) {
        fprintf(stderr, "eddy-embed-example: %s\n", eddy_strerror(rc));
        return 1;
    }
    eddy_listener *l = NULL;
    rc = eddy_server_listen(s, address, &upper_handler, NULL, &l);
    if (rc < 0) {
        fprintf(stderr, "eddy-embed-example: %s\n", eddy_server_error(s));
        if (rc == -EINVAL) /* not an IPV4:PORT address */
            usage(stderr);
        eddy_server_free(s);
        return rc == -EINVAL ? 2 : 1;
    }
    rc = eddy_server_start(s);
    if (rc < 0) {
        fprintf(stderr, "eddy-embed-example: %s\n", eddy_server_error(s));
        eddy_server_free(s);
        return 1;
    }
    const char *colon = strrchr(address, ':'); /* there is one: listen accepted it */
    fprintf(stderr, "listening on %.*s:%d\n", (int)(colon - address), address,
            eddy_listener_port(l));

    int sig = 0;
    sigwait(&stop, &sig);
    eddy_server_stop(s);
    rc = eddy_server_wait(s);
    if (rc < 0)
        fprintf(stderr, "eddy-embed-example: %s\n", eddy_server_error(s));
    eddy_server_free(s);
    return rc < 0 ? 1 : 0;
}
