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
#include <errno.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <time.h>

#include "cli.h"
#include "eddy/eddy.h"

/* One line naming each listener, its handler and the workers. */
static void say_ready(const eddy_server *s)
{
    int workers = eddy_server_worker_count(s);
    eddy_listener *l;
    for (int i = 0; (l = eddy_server_listener(s, i)); i++) {
        char addr[160];
        eddy_listener_bound_address(l, addr, sizeof(addr));
        fprintf(stderr, "eddyd: listening on %s, handler %s, %d worker%s\n", addr,
                eddy_listener_handler(l), workers, workers == 1 ? "" : "s");
    }
}

/* Like Redis with maxclients: raise the soft open-file limit so that
 * max_connections can be reached, as far as the hard limit allows; say so
 * when it cannot (accepting then pauses on EMFILE, nothing breaks). */
static void raise_fd_limit(unsigned max_connections)
{
    enum { RESERVE = 64 }; /* listeners, epoll and eventfds, log, plugins */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rlim_t want = (rlim_t)max_connections + RESERVE;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want)
        fprintf(stderr,
                "eddyd: warning: open-file limit %llu is below max_connections %u + %d; "
                "past it, accepting pauses until connections close\n",
                (unsigned long long)rl.rlim_cur, max_connections, RESERVE);
}

/* eddyd --stats: ask the running eddyd over its control socket. */
static int print_stats(const eddy_config *c, const char *name)
{
    const char *path = eddy_config_unix_listener(c, "stats");
    if (!path) {
        fprintf(stderr, "eddyd: %s has no `listen unix PATH { handler stats }` block to ask\n",
                name);
        return 1;
    }
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        write(fd, "stats\n", 6) != 6) {
        fprintf(stderr, "eddyd: cannot ask %s: %s\n", path, eddy_strerror(-errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    close(fd);
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
    case EDDYD_CLI_CONFIG:
        return 1;
    }
    if (o.stats) {
        int rc = print_stats(o.config, o.config_path ? o.config_path : "the command line");
        eddy_config_free(o.config);
        return rc;
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
    else if (rc == 0) {
        raise_fd_limit(eddy_server_max_connections(s));
        rc = eddy_server_start(s);
    }
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
    fprintf(stderr, "eddyd: %s: draining (a second signal stops at once)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    eddy_server_stop(s);
    while (eddy_server_running(s) > 0) {
        struct timespec tick = {.tv_nsec = 50 * 1000 * 1000};
        if (sigtimedwait(&stop, NULL, &tick) > 0) {
            fprintf(stderr, "eddyd: stopping now\n");
            eddy_server_stop_now(s);
        }
    }
    eddy_server_wait(s);
    eddy_server_free(s);
    fprintf(stderr, "eddyd: stopped\n");
    return 0;
}
