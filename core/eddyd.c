/* core/eddyd.c - the daemon: turn the command line and the config file
 * into a configuration, build a server from it with the public API, serve
 * until SIGINT or SIGTERM, then stop cleanly.
 *
 * Exit status: 0 after a clean stop, --help, --version or a passing -t;
 * 1 when the configuration is wrong or the server cannot start (e.g. the
 * port is in use); 2 for a bad flag or value.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eddy/eddy.h"

/* One line naming each listener, its handler and the workers. */
static void say_ready(const eddy_server *s)
{
    int workers = eddy_server_worker_count(s);
    eddy_listener *l;
    for (int i = 0; (l = eddy_server_listener(s, i)); i++) {
        const char *addr = eddy_listener_address(l);
        const char *colon = strrchr(addr, ':');
        fprintf(stderr, "eddyd: listening on %.*s:%d, handler %s, %d worker%s\n",
                (int)(colon - addr), addr, eddy_listener_port(l), eddy_listener_handler(l),
                workers, workers == 1 ? "" : "s");
    }
}

int main(int argc, char **argv)
{
    eddyd_options o;
    switch (eddyd_cli_parse(argc, argv, &o, stdout, stderr)) {
    case EDDYD_CLI_EXIT:
        return 0;
    case EDDYD_CLI_USAGE:
        return 2;
    case EDDYD_CLI_CONFIG:
        return 1;
    }
    /* SIGPIPE: a peer gone mid-write is an EPIPE on that connection only.
     * SIGINT/SIGTERM: taken by sigwait() below, on this thread only. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    eddy_server *s = NULL;
    int rc = eddy_server_new(&s);
    if (rc == 0)
        rc = eddy_server_configure(s, o.config);
    if (rc == 0 && o.test_only)
        printf("%s: ok\n", o.config_path ? o.config_path : "command line");
    else if (rc == 0)
        rc = eddy_server_start(s);
    if (rc < 0)
        fprintf(stderr, "eddyd: %s\n", s ? eddy_server_error(s) : "out of memory");
    eddy_config_free(o.config);
    if (rc < 0 || o.test_only) {
        eddy_server_free(s);
        return rc < 0 ? 1 : 0;
    }
    say_ready(s);

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "eddyd: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    eddy_server_stop(s);
    eddy_server_wait(s);
    eddy_server_free(s);
    return 0;
}
