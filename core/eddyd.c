/* core/eddyd.c - the daemon: parse the command line, build a server from
 * the public API, serve until SIGINT or SIGTERM, then stop cleanly.
 *
 * Exit status: 0 after a clean stop (or --help/--version), 1 when the
 * server cannot start (e.g. the port is in use), 2 for a bad flag or value.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eddy/eddy.h"

/* The listener with its handler, from the options; 2 on a usage error. */
static int configure(eddy_server *s, const eddyd_options *o, eddy_listener **l)
{
    eddy_params *params = NULL;
    int rc = eddy_server_set_workers(s, o->workers);
    if (rc == 0)
        rc = eddy_server_set_max_connections(s, o->max_connections);
    if (rc == 0)
        rc = eddy_params_new(&params);
    if (rc == 0)
        rc = eddy_params_add(params, "prefix", o->prefix, 0);
    if (rc == 0)
        rc = eddy_server_listen(s, o->listen, eddy_echo_handler(), params, l);
    eddy_params_free(params);
    if (rc == -EINVAL) {
        fprintf(stderr, "eddyd: %s\n", eddy_server_error(s));
        eddyd_cli_usage(stderr);
        return 2;
    }
    if (rc < 0) {
        fprintf(stderr, "eddyd: %s\n", eddy_server_error(s));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    eddyd_options o;
    switch (eddyd_cli_parse(argc, argv, &o, stdout, stderr)) {
    case EDDYD_CLI_EXIT:
        return 0;
    case EDDYD_CLI_USAGE:
        return 2;
    }
    /* SIGPIPE: a peer gone mid-write is an EPIPE on that connection only.
     * SIGINT/SIGTERM: taken by sigwait() below, on this thread only. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    eddy_server *s;
    eddy_listener *l = NULL;
    if (eddy_server_new(&s) < 0) {
        fprintf(stderr, "eddyd: out of memory\n");
        return 1;
    }
    int rc = configure(s, &o, &l);
    if (rc == 0 && eddy_server_start(s) < 0) {
        fprintf(stderr, "eddyd: %s\n", eddy_server_error(s));
        rc = 1;
    }
    if (rc != 0) {
        eddy_server_free(s);
        return rc;
    }
    const char *colon = strrchr(o.listen, ':');
    int workers = eddy_server_worker_count(s);
    fprintf(stderr, "eddyd: listening on %.*s:%d, handler echo, %d worker%s\n",
            (int)(colon - o.listen), o.listen, eddy_listener_port(l), workers,
            workers == 1 ? "" : "s");

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "eddyd: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    eddy_server_stop(s);
    eddy_server_wait(s);
    eddy_server_free(s);
    return 0;
}
