/* core/server.c - the public server API: listeners, workers, start, stop,
 * wait, stats.  Sockets are bound in eddy_server_start() on the calling
 * thread, so a bad address is reported before any worker runs. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accept.h"
#include "config.h"
#include "conn.h"
#include "params.h"

enum { MAX_WORKERS = 1024, MAX_POOL_THREADS = 256 };

const char *eddy_version(void)
{
    return EDDY_VERSION_STRING;
}

static int fail(eddy_server *s, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(eddy_server *s, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
    return err;
}

int eddy_server_new(eddy_server **out)
{
    eddy_server *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    /* The config file's defaults (core/config.h), for a program without one. */
    s->workers = (int)EDDY__DEFAULT(workers);
    s->shared.max_connections = (unsigned)EDDY__DEFAULT(max_connections);
    s->shared.max_connections_per_ip = (unsigned)EDDY__DEFAULT(max_connections_per_ip);
    s->pool_threads = (int)EDDY__DEFAULT(pool_threads);
    s->shared.shutdown_timeout_ms = EDDY__DEFAULT(shutdown_timeout);
    eddy__iplimit_init(&s->shared.iplimit);
    pthread_mutex_init(&s->listeners_mu, NULL);
    s->shared.pool = &s->pool;
    *out = s;
    return 0;
}

const char *eddy_server_error(const eddy_server *s)
{
    return s->error;
}

int eddy_server_set_workers(eddy_server *s, int workers)
{
    if (workers < 0 || workers > MAX_WORKERS)
        return fail(s, -EINVAL, "workers must be 0 to %d, not %d", MAX_WORKERS, workers);
    s->workers = workers;
    return 0;
}

static int resolve_workers(const eddy_server *s)
{
    if (s->workers > 0)
        return s->workers;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 ? (int)(cpus < MAX_WORKERS ? cpus : MAX_WORKERS) : 1;
}

int eddy_server_worker_count(const eddy_server *s)
{
    return s->started ? s->shared.nloops : resolve_workers(s);
}

int eddy_server_set_shutdown_timeout(eddy_server *s, long ms)
{
    if (ms < 0 || ms > 86400000L)
        return fail(s, -EINVAL, "shutdown_timeout must be 0 to 24h, not %ld ms", ms);
    s->shared.shutdown_timeout_ms = ms;
    return 0;
}

int eddy_server_running(const eddy_server *s)
{
    return atomic_load_explicit(&s->shared.running, memory_order_acquire);
}

int eddy_server_heartbeat(eddy_server *s)
{
    int alive = s->started && s->shared.nloops > 0 &&
                atomic_load_explicit(&s->shared.running, memory_order_acquire) == s->shared.nloops;
    for (int i = 0; i < s->shared.nloops; i++) {
        eddy__loop *l = &s->loops[i];
        unsigned long long turns = atomic_load_explicit(&l->turns, memory_order_relaxed);
        alive = alive && turns != l->turns_seen;
        l->turns_seen = turns;
        eddy__loop_wake(l);
    }
    return alive;
}

int eddy_server_set_pool_threads(eddy_server *s, int threads)
{
    if (threads < 1 || threads > MAX_POOL_THREADS)
        return fail(s, -EINVAL, "pool_threads must be 1 to %d, not %d", MAX_POOL_THREADS, threads);
    s->pool_threads = threads;
    return 0;
}

int eddy_server_set_max_connections_per_ip(eddy_server *s, unsigned max)
{
    atomic_store(&s->shared.max_connections_per_ip, max);
    return 0;
}


unsigned eddy_server_max_connections(const eddy_server *s)
{
    return s->shared.max_connections;
}

int eddy_server_set_max_connections(eddy_server *s, unsigned max)
{
    if (max == 0)
        return fail(s, -EINVAL, "max_connections must be at least 1");
    s->shared.max_connections = max;
    return 0;
}

int eddy_server_register_handler(eddy_server *s, const eddy_handler *h)
{
    char why[200];
    int rc = eddy__registry_add(&s->handlers, h, why, sizeof(why));
    return rc < 0 ? fail(s, rc, "%s", why) : 0;
}

int eddy_server_listen(eddy_server *s, const char *address, const eddy_handler *h,
                       eddy_params *params, eddy_listener **out)
{
    if (s->started)
        return fail(s, -EBUSY, "listen %s: the server is already running", address);
    if (!h || !h->name)
        return fail(s, -EINVAL, "listen %s: handler table without a name", address);
    if (h->abi_version != EDDY_ABI_VERSION)
        return fail(s, -EINVAL, "handler '%s' has ABI version %u, this eddy has %u", h->name,
                    h->abi_version, EDDY_ABI_VERSION);
    eddy_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return fail(s, -ENOMEM, "listen %s: %s", address, eddy_strerror(-ENOMEM));
    if (eddy__addr_parse(address, &l->transport, &l->addr, &l->addrlen) < 0) {
        free(l);
        return fail(s, -EINVAL,
                    "'%s' is not an address: expected IPv4:PORT or [IPv6]:PORT (after udp: for "
                    "UDP) or unix:PATH, e.g. 127.0.0.1:7777",
                    address);
    }
    int udp = l->transport == EDDY__UDP;
    if (udp ? !h->datagram : !h->data) {
        free(l);
        return fail(s, -EINVAL, "handler '%s' cannot serve %s: it has no %s() callback", h->name,
                    address, udp ? "datagram" : "data");
    }
    for (eddy_listener *o = s->listeners; o; o = o->next)
        if (strcmp(o->name, address) == 0 && !eddy__addr_any_port(&l->addr)) {
            free(l);
            return fail(s, -EEXIST, "listen %s: given twice", address);
        }
    snprintf(l->name, sizeof(l->name), "%s", address);
    snprintf(l->bound, sizeof(l->bound), "%s", address);
    l->handler = h;
    l->server = s;
    l->high_water = (size_t)EDDY__DEFAULT(high_water);
    l->low_water = eddy__low_water(l->high_water);
    l->max_message = (size_t)EDDY__DEFAULT(max_message);
    l->max_output = (size_t)EDDY__DEFAULT(max_output);
    atomic_init(&l->refs, 1);
    l->ipv6only = (int)EDDY__DEFAULT(ipv6only);
    l->mode = (unsigned)EDDY__DEFAULT(mode);
    l->max_amplification = (unsigned)EDDY__DEFAULT(max_amplification);
    l->idle_timeout_ms = EDDY__DEFAULT(idle_timeout);
    l->first_byte_timeout_ms = EDDY__DEFAULT(first_byte_timeout);
    l->proxy_protocol = (int)EDDY__DEFAULT(proxy_protocol);
    l->shared_fd = -1;
    /* Datagrams always run inline: there is no connection to hold back. */
    l->dispatch = (h->flags & EDDY_HANDLER_BLOCKING) && l->transport != EDDY__UDP
                      ? EDDY_DISPATCH_POOL
                      : EDDY_DISPATCH_INLINE;
    if (params) { /* a fresh check: forget what an earlier use recorded */
        params->error[0] = '\0';
        params->error_line = 0;
    }
    int rc = eddy__params_check(params, h, eddy__listener_directives);
    if (rc == 0 && h->init)
        rc = h->init(&l->state, params);
    if (rc < 0) {
        free(l);
        const char *why = params && params->error[0] ? params->error : eddy_strerror(rc);
        return fail(s, rc, "handler '%s': %s", h->name, why);
    }
    eddy_listener **tail = &s->listeners;
    while (*tail)
        tail = &(*tail)->next;
    *tail = l;
    if (out)
        *out = l;
    return 0;
}

/* A listener setter's refusal: -EINVAL, with "listen ADDRESS: why" in its
 * server's eddy_server_error(), as eddy.h promises for every call. */
static int refuse(eddy_listener *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(eddy_listener *l, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return fail(l->server, -EINVAL, "listen %s: %s", l->name, why);
}

int eddy_listener_set_water_marks(eddy_listener *l, size_t high, size_t low)
{
    if (high == 0)
        return refuse(l, "high_water must be at least 1 byte");
    if (low > high)
        return refuse(l, "low_water (%zu) is above high_water (%zu)", low, high);
    l->high_water = high;
    l->low_water = low;
    if (!l->max_output_set)
        l->max_output = (size_t)eddy__default_max_output((long)high);
    return 0;
}

int eddy_listener_set_max_message(eddy_listener *l, size_t max)
{
    if (max == 0 || max > EDDY__BUF_MAX)
        return refuse(l, "max_message must be 1 to %zu bytes, not %zu", EDDY__BUF_MAX, max);
    l->max_message = max;
    return 0;
}

int eddy_listener_set_max_output(eddy_listener *l, size_t max)
{
    if (max == 0 || max > EDDY__BUF_MAX)
        return refuse(l, "max_output must be 1 to %zu bytes, not %zu", EDDY__BUF_MAX, max);
    l->max_output = max;
    l->max_output_set = 1;
    return 0;
}

int eddy_listener_set_dispatch(eddy_listener *l, eddy_dispatch d)
{
    if (d != EDDY_DISPATCH_INLINE && d != EDDY_DISPATCH_POOL)
        return refuse(l, "dispatch %d is neither inline nor pool", (int)d);
    if (d == EDDY_DISPATCH_POOL && l->transport == EDDY__UDP)
        return refuse(l, "dispatch pool does not apply to udp");
    l->dispatch = d;
    return 0;
}

int eddy_listener_set_timeouts(eddy_listener *l, long idle_ms, long first_byte_ms)
{
    if (idle_ms < 0 || idle_ms > 86400000L)
        return refuse(l, "idle_timeout must be 0 to 24h, not %ld ms", idle_ms);
    if (first_byte_ms < 0 || first_byte_ms > 86400000L)
        return refuse(l, "first_byte_timeout must be 0 to 24h, not %ld ms", first_byte_ms);
    l->idle_timeout_ms = idle_ms;
    l->first_byte_timeout_ms = first_byte_ms;
    return 0;
}

int eddy_listener_set_proxy_protocol(eddy_listener *l, int on)
{
    if (on && l->transport == EDDY__UDP)
        return refuse(l, "proxy_protocol does not apply to udp");
    l->proxy_protocol = on != 0;
    return 0;
}

int eddy_listener_set_ipv6only(eddy_listener *l, int on)
{
    l->ipv6only = on != 0;
    return 0;
}

int eddy_listener_set_mode(eddy_listener *l, unsigned mode)
{
    if (mode > 0777)
        return refuse(l, "mode must be 0 to 0777, not 0%o", mode);
    l->mode = mode;
    return 0;
}

int eddy_listener_set_max_amplification(eddy_listener *l, unsigned factor)
{
    if (factor > 1000)
        return refuse(l, "max_amplification must be 0 to 1000, not %u", factor);
    l->max_amplification = factor;
    return 0;
}

int eddy_listener_set_fdname(eddy_listener *l, const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len >= sizeof(l->fdname))
        return refuse(l, "a systemd socket name has at most %zu bytes, not %zu",
                      sizeof(l->fdname) - 1, len);
    if (name && strchr(name, ':'))
        return refuse(l, "a systemd socket name has no ':' ('%s')", name);
    memcpy(l->fdname, name ? name : "", len + 1);
    return 0;
}

/* Serve l from fd, bound at a: shared by every worker. */
static int adopt(eddy_server *s, eddy_listener *l, int fd, const struct sockaddr_storage *a,
                 socklen_t alen)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return fail(s, -errno, "%s", eddy_strerror(-errno));
    l->shared_fd = fd;
    l->addr = *a;
    l->addrlen = alen;
    if (l->transport != EDDY__UNIX)
        l->port = ntohs(a->ss_family == AF_INET6 ? ((struct sockaddr_in6 *)a)->sin6_port
                                                 : ((struct sockaddr_in *)a)->sin_port);
    return 0;
}

static const char *const transport_names[] = {"tcp", "udp", "unix"};

int eddy_server_adopt_named_socket(eddy_server *s, int fd, const char *name)
{
    struct sockaddr_storage a;
    socklen_t len = sizeof(a);
    int type;
    socklen_t tl = sizeof(type);
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0)
        return fail(s, -errno, "%s", eddy_strerror(-errno));
    if ((type != SOCK_STREAM && type != SOCK_DGRAM) ||
        (a.ss_family == AF_UNIX && type != SOCK_STREAM))
        return fail(s, -EPROTOTYPE, "not a TCP, UDP or Unix stream socket");
    eddy__transport t = a.ss_family == AF_UNIX ? EDDY__UNIX
                        : type == SOCK_DGRAM   ? EDDY__UDP
                                               : EDDY__TCP;
    for (eddy_listener *l = name && *name ? s->listeners : NULL; l; l = l->next) {
        if (strcmp(l->fdname, name) != 0)
            continue;
        if (l->transport != t || l->shared_fd >= 0)
            return fail(s, -EPROTOTYPE, "the %s socket named '%s' cannot serve listen %s %s%s",
                        transport_names[t], name, transport_names[l->transport], l->name,
                        l->shared_fd >= 0 ? ": it has one already" : "");
        return adopt(s, l, fd, &a, len);
    }
    for (eddy_listener *l = s->listeners; l; l = l->next)
        if (l->shared_fd < 0 && eddy__listener_matches(l, &a, type))
            return adopt(s, l, fd, &a, len);
    eddy_listener tmp = {.transport = t, .addr = a};
    if (t != EDDY__UNIX)
        tmp.port = ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port
                                                 : ((struct sockaddr_in *)&a)->sin_port);
    char text[160];
    eddy__listener_format(&tmp, text, sizeof(text));
    return fail(s, -ENOENT, "%s matches no listen block", text);
}

int eddy_server_adopt_socket(eddy_server *s, int fd)
{
    return eddy_server_adopt_named_socket(s, fd, NULL);
}

void eddy_listener_bound_address(const eddy_listener *l, char *buf, size_t len)
{
    eddy__listener_format(l, buf, len);
}

int eddy_listener_port(const eddy_listener *l)
{
    return l->port;
}

eddy_listener *eddy_server_listener(const eddy_server *s, int index)
{
    eddy_listener *l = index >= 0 ? s->listeners : NULL;
    for (; l && index > 0; index--)
        l = l->next;
    return l;
}

const char *eddy_listener_address(const eddy_listener *l)
{
    return l->name;
}

const char *eddy_listener_handler(const eddy_listener *l)
{
    return l->handler->name;
}

/* The config's log_level and log_file, for the whole process: applied
 * only once everything else in it has passed, so that a configuration
 * refused (at start or by a reload) leaves the log as it was. */
static int apply_log(eddy_server *s, const eddy_config *c)
{
    int rc;
    if (c->log_file && (rc = eddy_set_log_file(c->log_file)) < 0)
        return fail(s, rc, "%s:%d: log_file: cannot open %s: %s", c->name,
                    c->seen[EDDY__G_log_file], c->log_file, eddy_strerror(rc));
    eddy_set_log_level((int)c->log_level);
    return 0;
}

/* eddy_server_configure, with the handlers registered on names; a
 * reload's scratch server takes the running server's names and leaves the
 * log alone (with_log 0) until the reload can no longer fail. */
static int configure(eddy_server *s, eddy_config *c, const eddy_server *names, int with_log)
{
    int rc = eddy_server_set_workers(s, (int)c->workers);
    if (rc == 0)
        rc = eddy_server_set_max_connections(s, (unsigned)c->max_connections);
    if (rc == 0)
        rc = eddy_server_set_pool_threads(s, (int)c->pool_threads);
    if (rc == 0)
        rc = eddy_server_set_shutdown_timeout(s, c->shutdown_timeout);
    if (rc == 0)
        rc = eddy_server_set_max_connections_per_ip(s, (unsigned)c->max_connections_per_ip);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < c->nlisteners; i++) {
        eddy__cfg_listener *cl = &c->listeners[i];
        const eddy_handler *h;
        void *dl;
        char why[512];
        int handler_line = cl->seen[EDDY__L_handler] ? cl->seen[EDDY__L_handler] : cl->line;
        rc = eddy__plugin_load(cl->handler, &names->handlers, c->plugin_dir, &h, &dl, why,
                               sizeof(why));
        if (rc < 0)
            return fail(s, rc, "%s:%d: %s", c->name, handler_line, why);
        eddy_listener *l;
        char address[200];
        eddy__cfg_address(cl->transport, cl->address, address, sizeof(address)); /* checked */
        rc = eddy_server_listen(s, address, h, cl->params, &l);
        if (rc < 0) {
            eddy__plugin_unload(dl);
            int line = cl->params->error_line ? cl->params->error_line : cl->line;
            snprintf(why, sizeof(why), "%s", s->error);
            return fail(s, rc, "%s:%d: %s", c->name, line, why);
        }
        l->dl = dl;
        /* Every value is checked by the parser, or has its default. */
        if (cl->dispatch >= 0 && eddy_listener_set_dispatch(l, (eddy_dispatch)cl->dispatch) < 0)
            return fail(s, -EINVAL, "%s:%d: dispatch pool does not apply to udp", c->name,
                        cl->seen[EDDY__L_dispatch]);
        eddy_listener_set_ipv6only(l, (int)cl->ipv6only);
        eddy_listener_set_mode(l, (unsigned)cl->mode);
        eddy_listener_set_timeouts(l, cl->idle_timeout, cl->first_byte_timeout);
        if (eddy_listener_set_proxy_protocol(l, (int)cl->proxy_protocol) < 0)
            return fail(s, -EINVAL, "%s:%d: proxy_protocol does not apply to udp", c->name,
                        cl->seen[EDDY__L_proxy_protocol]);
        if (cl->systemd_socket)
            eddy_listener_set_fdname(l, cl->systemd_socket);
        eddy_listener_set_max_amplification(l, (unsigned)cl->max_amplification);
        size_t high = (size_t)cl->high_water;
        size_t low = cl->low_water ? (size_t)cl->low_water : eddy__low_water(high);
        if (eddy_listener_set_water_marks(l, high, low) < 0) /* overrides skip the file's check */
            return fail(s, -EINVAL, "%s:%d: low_water (%zu) is above high_water (%zu)", c->name,
                        cl->line, low, high);
        eddy_listener_set_max_message(l, (size_t)cl->max_message);
        if (cl->seen[EDDY__L_max_output]) /* else it follows high_water, as above */
            eddy_listener_set_max_output(l, (size_t)cl->max_output);
        eddy__tls_settings tls;
        if (eddy__cfg_tls(cl, &tls) && eddy__tls_new(&tls, c->name, &l->tls, why, sizeof(why)) < 0)
            return fail(s, -EINVAL, "%s", why);
    }
    return with_log ? apply_log(s, c) : 0;
}

int eddy_server_configure(eddy_server *s, eddy_config *c)
{
    return configure(s, c, s, 1);
}

static void *worker_main(void *arg)
{
    eddy__loop_run(arg);
    return NULL;
}

/* Close everything start() opened; the loops were never run. */
static void unwind(eddy_server *s, int nloops)
{
    eddy__pool_stop(&s->pool); /* after the loops: they wait for their jobs */
    for (int i = 0; i < nloops; i++)
        eddy__loop_destroy(&s->loops[i]);
    for (eddy_listener *l = s->listeners; l; l = l->next)
        eddy__listener_close(l);
    free(s->loops);
    free(s->threads);
    s->shared.loops = NULL;
    s->loops = NULL;
    s->threads = NULL;
}

/* Bind every listener, make every worker's loop and start the threads of
 * workers `first` and up (worker 0 then runs in eddy_server_run); worker
 * 0 takes `signals` when given. */
static int start(eddy_server *s, int first, const sigset_t *signals, eddy_signal_fn on_signal,
                 void *arg)
{
    if (s->started)
        return fail(s, -EBUSY, "the server is already running");
    if (!s->listeners)
        return fail(s, -EINVAL, "no listener");
    int n = resolve_workers(s);
    for (eddy_listener *l = s->listeners; l; l = l->next) {
        int rc = eddy__listener_probe(l);
        if (rc == -EEXIST)
            return fail(s, rc, "cannot listen on %s: the file exists and is not a socket", l->name);
        if (rc == -EADDRINUSE && l->transport == EDDY__UNIX)
            return fail(s, rc, "cannot listen on %s: another server is answering there", l->name);
        if (rc < 0)
            return fail(s, rc, "cannot listen on %s: %s", l->name, eddy_strerror(rc));
    }
    int probe = eddy__poller_probe();
    if (probe < 0)
        return fail(s, probe,
                    "cannot start: this eddy was built for %s (EDDY_POLLER), which this system "
                    "refuses: %s (disabled by the kernel.io_uring_disabled sysctl or a seccomp "
                    "filter, or a kernel before 6.1); use a build with -DEDDY_POLLER=epoll",
                    eddy__poller_name, eddy_strerror(probe));
    int use_pool = 0;
    for (eddy_listener *l = s->listeners; l; l = l->next)
        use_pool |= l->dispatch == EDDY_DISPATCH_POOL;
    if (use_pool) {
        int rc = eddy__pool_start(&s->pool, s->pool_threads);
        if (rc < 0)
            return fail(s, rc, "starting %d pool threads: %s", s->pool_threads, eddy_strerror(rc));
    }
    s->loops = calloc((size_t)n, sizeof(*s->loops));
    s->threads = calloc((size_t)n, sizeof(*s->threads));
    if (!s->loops || !s->threads) {
        unwind(s, 0);
        return fail(s, -ENOMEM, "starting %d workers: %s", n, eddy_strerror(-ENOMEM));
    }
    for (int i = 0; i < n; i++) {
        eddy_listener *failed = NULL;
        int rc = eddy__loop_init(&s->loops[i], s, &s->shared, s->listeners, i);
        if (rc == 0)
            rc = eddy__accept_open_listeners(&s->loops[i], s->listeners, &failed);
        if (rc < 0) {
            unwind(s, i + 1);
            if (failed)
                return fail(s, rc, "cannot listen on %s: %s", failed->name, eddy_strerror(rc));
            return fail(s, rc, "starting worker %d: %s", i, eddy_strerror(rc));
        }
    }
    if (signals) {
        int rc = eddy__loop_take_signals(&s->loops[0], signals, on_signal, arg);
        if (rc < 0) {
            unwind(s, n);
            return fail(s, rc, "taking signals: %s", eddy_strerror(rc));
        }
    }
    for (eddy_listener *l = s->listeners; l; l = l->next)
        eddy__listener_format(l, l->bound, sizeof(l->bound));
    /* Workers take no signals: the embedding program decides who does. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int started = first, rc = 0;
    atomic_store(&s->shared.stopping, EDDY__RUN);
    atomic_store(&s->shared.running, n);
    s->shared.nloops = n; /* before any worker runs: they read it (stats) */
    s->shared.loops = s->loops;
    s->started = 1;
    s->first_thread = first;
    for (; started < n; started++) {
        rc = -pthread_create(&s->threads[started], NULL, worker_main, &s->loops[started]);
        if (rc < 0)
            break;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc < 0) {
        atomic_store(&s->shared.running, started - first);
        eddy_server_stop_now(s);
        for (int i = first; i < started; i++)
            pthread_join(s->threads[i], NULL);
        s->started = 0;
        s->shared.nloops = 0;
        unwind(s, n);
        return fail(s, rc, "starting worker threads: %s", eddy_strerror(rc));
    }
    return 0;
}

int eddy_server_start(eddy_server *s)
{
    return start(s, 0, NULL, NULL, NULL);
}

int eddy_server_start_here(eddy_server *s, const sigset_t *signals, eddy_signal_fn on_signal,
                           void *arg)
{
    if (signals && !on_signal)
        return fail(s, -EINVAL, "signals to take but no function to take them");
    if (signals)
        pthread_sigmask(SIG_BLOCK, signals, NULL);
    return start(s, 1, signals, on_signal, arg);
}

int eddy_server_run(eddy_server *s)
{
    if (!s->started || s->first_thread != 1)
        return fail(s, -EINVAL, "run: the server was not started by eddy_server_start_here()");
    eddy__loop *l = &s->loops[0];
    eddy__loop_run(l);
    /* The others may drain on for a while: a second signal still stops them. */
    while (l->sig.fd >= 0 && eddy_server_running(s) > 0)
        eddy__loop_wait_signals(l, 50);
    return eddy_server_wait(s);
}

/* The running listener that a reloaded one takes over: the same address
 * as written.  Port 0 means any free port: such a listener is always new. */
static eddy_listener *find_listener(eddy_listener *list, const eddy_listener *n)
{
    if (eddy__addr_any_port(&n->addr))
        return NULL;
    for (; list; list = list->next)
        if (strcmp(list->name, n->name) == 0)
            return list;
    return NULL;
}

/* Sockets for a listener that a reload adds: one per worker, bound now so
 * that a failure leaves the running configuration untouched. */
static int open_for_reload(eddy_server *s, eddy_listener *n)
{
    int rc = eddy__listener_probe(n);
    if (rc < 0)
        return fail(s, rc, "cannot listen on %s: %s", n->name, eddy_strerror(rc));
    if (!(n->reload_fds = malloc((size_t)s->shared.nloops * sizeof(int))))
        return fail(s, -ENOMEM, "reload: %s", eddy_strerror(-ENOMEM));
    for (int i = 0; i < s->shared.nloops; i++) {
        n->reload_fds[i] = eddy__listener_open_socket(n);
        if (n->reload_fds[i] < 0) {
            rc = n->reload_fds[i];
            while (i-- > 0)
                close(n->reload_fds[i]);
            free(n->reload_fds);
            n->reload_fds = NULL;
            eddy__listener_close(n);
            return fail(s, rc, "cannot listen on %s: %s", n->name, eddy_strerror(rc));
        }
    }
    return 0;
}

/* eddy_server_reload without the counting. */
static int reload(eddy_server *s, eddy_config *c)
{
    if (!s->started)
        return fail(s, -EINVAL, "reload: the server is not running");
    /* Every check of a start runs on a scratch server first: on any error
     * nothing has changed. */
    eddy_server *next;
    int rc = eddy_server_new(&next);
    if (rc < 0)
        return fail(s, rc, "reload: %s", eddy_strerror(rc));
    rc = configure(next, c, s, 0);
    int use_pool = 0;
    for (eddy_listener *n = next->listeners; rc == 0 && n; n = n->next) {
        use_pool |= n->dispatch == EDDY_DISPATCH_POOL;
        eddy_listener *o = find_listener(s->listeners, n);
        if (!o || o->transport != n->transport)
            rc = open_for_reload(s, n);
    }
    if (rc == 0 && use_pool && !s->pool.threads) {
        rc = eddy__pool_start(&s->pool, s->pool_threads);
        if (rc < 0)
            fail(s, rc, "reload: starting the pool: %s", eddy_strerror(rc));
    }
    if (rc == 0)
        rc = apply_log(next, c); /* the last check: from here on nothing fails */
    if (rc < 0) {
        if (next->error[0])
            snprintf(s->error, sizeof(s->error), "%s", next->error);
        for (eddy_listener *n = next->listeners; n; n = n->next)
            for (int i = 0; n->reload_fds && i < s->shared.nloops; i++)
                if (n->reload_fds[i] >= 0)
                    close(n->reload_fds[i]);
        eddy_server_free(next);
        return rc;
    }
    /* Listeners that go on hand their sockets to their successors. */
    for (eddy_listener *n = next->listeners; n; n = n->next) {
        eddy_listener *o = find_listener(s->listeners, n);
        if (!o || o->transport != n->transport)
            continue;
        o->successor = n;
        n->port = o->port;
        n->shared_fd = o->shared_fd;
        n->owns_file = o->owns_file;
        o->shared_fd = -1;
        o->owns_file = 0;
    }
    atomic_store(&s->shared.max_connections, next->shared.max_connections);
    atomic_store(&s->shared.max_connections_per_ip, next->shared.max_connections_per_ip);
    s->shared.shutdown_timeout_ms = next->shared.shutdown_timeout_ms;
    for (eddy_listener *n = next->listeners; n; n = n->next) {
        eddy__listener_format(n, n->bound, sizeof(n->bound));
        n->server = s; /* no longer the scratch server's: before any worker reads it */
    }
    /* Each worker swaps its own sockets, on its own thread. */
    s->shared.reload_list = next->listeners;
    atomic_store(&s->shared.reload_acks, 0);
    unsigned gen = atomic_fetch_add_explicit(&s->shared.reload_gen, 1, memory_order_release) + 1;
    for (int i = 0; i < s->shared.nloops; i++)
        eddy__loop_wake(&s->loops[i]);
    /* Called on a worker's thread (eddy_server_run's signals): that worker
     * swaps its sockets here, or no one would. */
    eddy__loop *self = eddy__loop_self;
    if (self && self->server == s && self->reload_gen != gen)
        eddy__accept_reload(self, gen);
    while (atomic_load_explicit(&s->shared.reload_acks, memory_order_acquire) < (unsigned)s->shared.nloops) {
        struct timespec ms = {.tv_nsec = 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    /* The new listeners serve; the old ones end with their last connection
     * (and a stats reader's hold on them). */
    pthread_mutex_lock(&s->listeners_mu);
    eddy_listener *old = s->listeners;
    s->listeners = next->listeners;
    pthread_mutex_unlock(&s->listeners_mu);
    s->shared.reload_list = NULL;
    next->listeners = NULL;
    eddy_server_free(next);
    for (eddy_listener *n = s->listeners; n; n = n->next) {
        free(n->reload_fds);
        n->reload_fds = NULL;
    }
    while (old) {
        eddy_listener *o = old;
        old = o->next;
        if (!o->successor)
            eddy__listener_close(o); /* removed: its Unix socket file goes now */
        o->successor = NULL;
        eddy__listener_release(o);
    }
    return 0;
}

static void request_stop(eddy_server *s, int how)
{
    int cur = atomic_load_explicit(&s->shared.stopping, memory_order_acquire);
    while (cur < how &&
           !atomic_compare_exchange_weak_explicit(&s->shared.stopping, &cur, how, memory_order_acq_rel,
                                                  memory_order_acquire))
        ;
    for (int i = 0; i < s->shared.nloops; i++)
        eddy__loop_wake(&s->loops[i]);
}

void eddy_server_stop(eddy_server *s)
{
    request_stop(s, EDDY__DRAIN);
}

void eddy_server_stop_now(eddy_server *s)
{
    request_stop(s, EDDY__STOP_NOW);
}

int eddy_server_wait(eddy_server *s)
{
    if (!s->started)
        return 0;
    for (int i = s->first_thread; i < s->shared.nloops; i++)
        pthread_join(s->threads[i], NULL);
    unwind(s, s->shared.nloops);
    s->shared.nloops = 0;
    s->started = 0;
    return 0;
}

void eddy_server_free(eddy_server *s)
{
    if (!s)
        return;
    if (s->started) {
        eddy_server_stop_now(s);
        eddy_server_wait(s);
    }
    while (s->listeners) {
        eddy_listener *l = s->listeners;
        s->listeners = l->next;
        eddy__listener_release(l);
    }
    eddy__registry_free(&s->handlers);
    eddy__iplimit_destroy(&s->shared.iplimit);
    pthread_mutex_destroy(&s->listeners_mu);
    free(s);
}

int eddy_server_reload(eddy_server *s, eddy_config *c)
{
    int rc = reload(s, c);
    atomic_fetch_add_explicit(rc == 0 ? &s->reloads_ok : &s->reloads_failed, 1,
                              memory_order_relaxed);
    return rc;
}

void eddy_server_reload_failed(eddy_server *s)
{
    atomic_fetch_add_explicit(&s->reloads_failed, 1, memory_order_relaxed);
}

static unsigned long long load(const atomic_ullong *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void eddy__counters_add(const eddy__counters *n, eddy_stats *out)
{
    out->accepted += load(&n->accepted);
    out->refused += load(&n->refused);
    out->open += load(&n->accepted) - load(&n->closed);
    out->bytes_in += load(&n->bytes_in);
    out->bytes_out += load(&n->bytes_out);
    out->accept_pauses += load(&n->accept_pauses);
    out->datagrams_in += load(&n->datagrams_in);
    out->datagrams_out += load(&n->datagrams_out);
    out->datagrams_dropped += load(&n->datagrams_dropped);
    out->timeouts += load(&n->timeouts);
    out->reads += load(&n->reads);
    out->sends += load(&n->sends);
    out->errors_io += load(&n->errors_io);
    out->errors_too_large += load(&n->errors_too_large);
    out->errors_nomem += load(&n->errors_nomem);
    out->refused_per_ip += load(&n->refused_per_ip);
    out->errors_proxy += load(&n->errors_proxy);
    out->errors_output_limit += load(&n->errors_output_limit);
    out->tls_handshakes_v12 += load(&n->tls_v12);
    out->tls_handshakes_v13 += load(&n->tls_v13);
    out->tls_resumed += load(&n->tls_resumed);
    out->tls_failed_timeout += load(&n->tls_failed_timeout);
    out->tls_failed_closed += load(&n->tls_failed_closed);
    out->tls_failed_version += load(&n->tls_failed_version);
    out->tls_failed_certificate += load(&n->tls_failed_certificate);
    out->tls_failed_protocol += load(&n->tls_failed_protocol);
}

/* One worker's counters: those of every socket it served (the freed
 * ones' kept in l->retired), and its pool. */
static void add_worker(const eddy__loop *l, eddy_stats *out)
{
    eddy__loop_stats_lock(l);
    for (const eddy__lsock *ls = eddy__loop_stats_first(l); ls; ls = eddy__loop_stats_next(ls))
        eddy__counters_add(&ls->n, out);
    eddy__counters_add(&l->retired, out);
    eddy__loop_stats_unlock(l);
    out->pool_pending += load(&l->pool_pending);
}

void eddy_server_stats(const eddy_server *s, eddy_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < s->shared.nloops; i++)
        add_worker(&s->loops[i], out);
}

int eddy_server_worker_stats(const eddy_server *s, int worker, eddy_stats *out)
{
    if (worker < 0 || worker >= s->shared.nloops)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    add_worker(&s->loops[worker], out);
    return 0;
}

eddy_listener **eddy__server_metric_listeners(const eddy_server *s, unsigned *n)
{
    pthread_mutex_t *mu = (pthread_mutex_t *)&s->listeners_mu; /* taking it changes nothing of s */
    eddy_listener **held = NULL;
    unsigned count = 0;
    pthread_mutex_lock(mu);
    for (eddy_listener *l = s->listeners; l; l = l->next)
        count += l->handler->metrics != NULL;
    if (count && (held = malloc(count * sizeof(*held)))) {
        count = 0;
        for (eddy_listener *l = s->listeners; l; l = l->next)
            if (l->handler->metrics) {
                eddy__listener_hold(l);
                held[count++] = l;
            }
    }
    pthread_mutex_unlock(mu);
    *n = held ? count : 0;
    return held;
}

unsigned long long eddy__server_reloads(const eddy_server *s, int failed)
{
    return load(failed ? &s->reloads_failed : &s->reloads_ok);
}

eddy_server *eddy_conn_server(const eddy_conn *c)
{
    return c->lsock->loop->server;
}
