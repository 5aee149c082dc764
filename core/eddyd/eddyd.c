/* core/eddyd/eddyd.c - the daemon: turn the command line and the config file
 * into a configuration, build a server from it with the public API, serve
 * until SIGINT or SIGTERM, then stop cleanly.
 *
 * What it says goes to stderr as "eddyd: WHY" until the configuration is
 * applied (a bad flag, "FILE:LINE: what is wrong", and -t's verdict); from
 * then on everything goes through eddy's log (eddy_log): to log_file when
 * set, with a timestamp and a level on every line.
 *
 * Exit status: 0 after a clean stop, --help, --version or a passing -t;
 * 1 when the configuration is wrong or the server cannot start (e.g. the
 * port is in use); 2 for a bad flag or value.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <time.h>

#include "builtin.h"
#include "cli.h"
#include "daemon.h"
#include "eddy/eddy.h"

/* One line naming each listener, its handler and the workers. */
static void say_ready(const eddy_server *s)
{
    int workers = eddy_server_worker_count(s);
    eddy_listener *l;
    for (int i = 0; (l = eddy_server_listener(s, i)); i++) {
        char addr[160];
        eddy_listener_bound_address(l, addr, sizeof(addr));
        eddy_log(EDDY_LOG_INFO, "listening on %s, handler %s, %d worker%s", addr,
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
        eddy_log(EDDY_LOG_WARN,
                 "open-file limit %llu is below max_connections %u + %d; "
                 "past it, accepting pauses until connections close",
                 (unsigned long long)rl.rlim_cur, max_connections, RESERVE);
}

/* The path of the first `listen unix PATH { handler stats }` block: the
 * control socket eddyd --stats asks; NULL when there is none. */
static const char *control_socket(const eddy_config *c)
{
    const char *transport, *path, *handler;
    for (int i = 0; eddy_config_listener(c, i, &transport, &path, &handler) == 0; i++)
        if (strcmp(transport, "unix") == 0 && strcmp(handler, "stats") == 0)
            return path;
    return NULL;
}

/* eddyd --stats: ask the running eddyd over its control socket. */
static int print_stats(const eddy_config *c, const char *name)
{
    const char *path = control_socket(c);
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

/* SIGHUP: read the configuration again (the same file and flags); if it
 * has any error, log it (an error: "FILE:LINE: ...") and keep serving the
 * running one unchanged. */
static void reload(eddy_server *s, int argc, char **argv)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    char msg[96];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)now.tv_sec * 1000000ull + (unsigned long long)now.tv_nsec / 1000);
    eddyd_notify(msg);
    eddy_log(EDDY_LOG_INFO, "SIGHUP: reloading the configuration");
    eddyd_options o;
    int rc = eddyd_cli_parse(argc, argv, &o, stdout, NULL);
    const char *why = o.error;
    if (rc == EDDYD_CLI_RUN) {
        rc = eddy_server_reload(s, o.config);
        why = eddy_server_error(s);
        eddy_config_free(o.config);
    } else {
        eddy_server_reload_failed(s);
    }
    if (rc != 0) {
        eddy_log(EDDY_LOG_ERROR, "reload failed, still serving the running configuration: %s", why);
    } else {
        eddy_log(EDDY_LOG_INFO, "reload done");
        say_ready(s); /* the addresses now served, port 0 resolved */
    }
    eddyd_notify("READY=1");
}

/* SIGUSR1: logrotate moved the log file; the next lines go to a new one. */
static void reopen_log(void)
{
    int rc = eddy_log_reopen();
    if (rc < 0)
        eddy_log(EDDY_LOG_ERROR, "SIGUSR1: cannot reopen the log file: %s", eddy_strerror(rc));
    else
        eddy_log(EDDY_LOG_INFO, "SIGUSR1: log file reopened");
}

/* WatchdogSec: ping systemd only when every worker loop has turned since
 * the last check, so that a worker stuck in a handler gets eddyd
 * restarted; the check also wakes idle workers for the next one. */
static void watchdog_check(eddy_server *s)
{
    if (eddy_server_heartbeat(s))
        eddyd_notify("WATCHDOG=1");
}

/* What the signals act on. */
typedef struct eddyd_state {
    int argc;
    char **argv;
    int stopping; /* the first SIGINT or SIGTERM came: draining */
    int here;     /* one worker: its loop runs on the main thread and takes them */
} eddyd_state;

/* One signal: SIGINT/SIGTERM the graceful stop (a second one stops at
 * once), SIGHUP reload, SIGUSR1 reopen the log, SIGALRM the watchdog's
 * check.  While draining only a second stop counts.  Runs on the thread
 * that takes the signals: worker 0's with one worker, else main's. */
static void on_signal(eddy_server *s, int sig, void *arg)
{
    eddyd_state *d = arg;
    if (sig == SIGINT || sig == SIGTERM) {
        const char *name = sig == SIGINT ? "SIGINT" : "SIGTERM";
        if (d->stopping) {
            eddy_log(EDDY_LOG_INFO, "%s again: stopping now", name);
            eddy_server_stop_now(s);
            return;
        }
        d->stopping = 1;
        eddyd_notify("STOPPING=1");
        eddy_log(EDDY_LOG_INFO, "%s: draining (a second signal stops at once)", name);
        eddy_server_stop(s);
    } else if (d->stopping) {
        return;
    } else if (sig == SIGHUP) {
        reload(s, d->argc, d->argv);
    } else if (sig == SIGUSR1) {
        reopen_log();
    } else if (sig == SIGALRM) {
        watchdog_check(s);
    }
}

/* With several workers the main thread takes the signals until every
 * worker has stopped. */
static void take_signals(eddy_server *s, const sigset_t *signals, eddyd_state *d)
{
    while (eddy_server_running(s) > 0) {
        struct timespec tick = {.tv_nsec = 50 * 1000 * 1000}; /* draining: is it over? */
        int sig = d->stopping ? sigtimedwait(signals, NULL, &tick) : sigwaitinfo(signals, NULL);
        if (sig > 0)
            on_signal(s, sig, d);
    }
    eddy_server_wait(s);
}

/* WatchdogSec: SIGALRM every ms (half of WATCHDOG_USEC), taken with the
 * other signals. */
static void watchdog_start(long ms)
{
    struct itimerval t = {.it_interval = {.tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000}};
    t.it_value = t.it_interval;
    setitimer(ITIMER_REAL, &t, NULL);
}

/* Start serving: the pidfile first (a second eddyd on the same pidfile
 * stops here, naming the first, before it touches any socket), sockets
 * (systemd's or our own), then the process setup that must follow
 * binding.  With one worker, its loop is left for eddy_server_run() on
 * this thread, and takes the signals (d's): the process then has no other
 * thread (unless a listener dispatches to the pool), so the kernel takes
 * its single-threaded path on every descriptor.  *pidfd is the pidfile's
 * lock (-1 without one).  Returns 0 or an exit status. */
static int start(eddy_server *s, eddy_config *c, const sigset_t *signals, eddyd_state *d,
                 int *pidfd, char *why, size_t whylen)
{
    /* The pidfile while still root (it usually lives in a root-owned
     * directory such as /run), then privileges go: privileged ports and
     * socket files are ours by now. */
    const char *pidfile = eddy_config_string(c, "pidfile");
    long holder = 0;
    *pidfd = pidfile ? eddyd_pidfile_write(pidfile, &holder) : -1;
    if (*pidfd < 0 && holder > 0) {
        snprintf(why, whylen, "pidfile %s is locked by pid %ld: another eddyd is running with it",
                 pidfile, holder);
        return 1;
    }
    if (*pidfd < 0 && pidfile) {
        snprintf(why, whylen, "pidfile %s: %s%s", pidfile, eddy_strerror(*pidfd),
                 *pidfd == -EWOULDBLOCK ? " (locked by a process that wrote no pid)" : "");
        return 1;
    }
    int rc = eddyd_take_systemd_sockets(s, why, whylen) < 0 ? 1 : 0;
    if (rc == 0) {
        raise_fd_limit(eddy_server_max_connections(s));
        d->here = eddy_server_worker_count(s) == 1;
        if ((d->here ? eddy_server_start_here(s, signals, on_signal, d) : eddy_server_start(s)) < 0) {
            snprintf(why, whylen, "%s", eddy_server_error(s));
            rc = 1;
        }
    }
    if (rc == 0 && eddyd_drop_privileges(eddy_config_string(c, "user"),
                                         eddy_config_string(c, "group"), why, whylen) < 0)
        rc = 1;
    if (rc != 0) {
        eddyd_pidfile_remove(pidfile, *pidfd);
        *pidfd = -1;
    }
    return rc;
}

int main(int argc, char **argv)
{
    eddyd_malloc_init();
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
     * The others are blocked here, before any thread starts, and taken
     * by on_signal(): on worker 0's loop with one worker, else on this
     * thread. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGUSR1);
    sigaddset(&signals, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    eddyd_state state = {.argc = argc, .argv = argv};

    eddy_server *s = NULL;
    char why[600] = "out of memory";
    int rc = eddy_server_new(&s) < 0 ? 1 : 0;
    if (rc == 0 && (eddy_builtin_register(s) < 0 || eddy_server_configure(s, o.config) < 0)) {
        snprintf(why, sizeof(why), "%s", eddy_server_error(s));
        rc = 1;
    }
    /* What start needs from the machine, checked by -t as well. */
    int check = rc == 0 ? eddy_config_check(o.config, why, sizeof(why)) : 0;
    if (check < 0)
        rc = 1;
    int pidfd = -1;
    if (rc != 0) { /* before the log is set up: what -t would say */
        fprintf(stderr, "eddyd: %s\n", why);
    } else if (o.test_only) {
        if (check > 0)
            fprintf(stderr, "eddyd: warning: %s\n", why);
        char *text = o.dump ? eddy_config_dump(o.config) : NULL;
        if (o.dump && !text)
            fprintf(stderr, "eddyd: %s\n", eddy_strerror(-ENOMEM)), rc = 1;
        else if (text) /* only the configuration on stdout: it can be piped to -t */
            fputs(text, stdout);
        else
            printf("%s: ok\n", o.config_path ? o.config_path : "command line");
        free(text);
    } else {
        if (check > 0)
            eddy_log(EDDY_LOG_WARN, "%s", why);
        rc = start(s, o.config, &signals, &state, &pidfd, why, sizeof(why));
        if (rc != 0) {
            eddy_log(EDDY_LOG_ERROR, "cannot start: %s", why);
            if (eddy_log_to_file()) /* and to whoever started us */
                fprintf(stderr, "eddyd: %s\n", why);
        }
    }
    const char *pidfile = eddy_config_string(o.config, "pidfile");
    char *pidfile_copy = rc == 0 && !o.test_only && pidfile ? strdup(pidfile) : NULL;
    eddy_config_free(o.config);
    if (rc != 0 || o.test_only) {
        /* -t and -T say ok or what is wrong, nothing else: what a handler
         * logs as its listener ends (a proxy's counters) is not a check's */
        if (o.test_only)
            eddy_set_log_level(EDDY_LOG_WARN);
        eddy_server_free(s);
        return rc;
    }
    eddy_log(EDDY_LOG_INFO, "eddyd %s started, pid %ld, configuration %s", eddy_version(),
             (long)getpid(), o.config_path ? o.config_path : "from the command line");
    say_ready(s);
    eddyd_notify("READY=1\nSTATUS=serving");

    long watchdog_ms = eddyd_watchdog_ms();
    if (watchdog_ms) {
        eddy_server_heartbeat(s); /* the workers' turns from here on count */
        watchdog_start(watchdog_ms);
    }
    if (state.here)
        eddy_server_run(s);
    else
        take_signals(s, &signals, &state);
    eddy_server_free(s);
    eddyd_pidfile_remove(pidfile_copy, pidfd);
    free(pidfile_copy);
    eddy_log(EDDY_LOG_INFO, "stopped");
    return 0;
}
