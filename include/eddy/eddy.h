/* eddy/eddy.h - embedding libeddy: a server, its listeners, run and stop.
 *
 *   eddy_server *s;
 *   eddy_server_new(&s);
 *   eddy_server_listen(s, "127.0.0.1:7777", &my_handler, NULL, NULL);
 *   eddy_server_start(s);      spawns the worker threads, returns
 *   ...                        eddy_server_stop(s) from anywhere, even a signal handler
 *   eddy_server_wait(s);       joins the workers
 *   eddy_server_free(s);
 *
 * or, to serve on the calling thread (worker 0 there, signals taken there):
 *
 *   eddy_server_start_here(s, &signals, on_signal, arg);
 *   eddy_server_run(s);        returns once stopped (from on_signal, say)
 *
 * Every call that can fail returns 0 (or a count) or a negative errno.  A
 * call on a server or on one of its listeners that fails also leaves a
 * one-line message naming what failed in eddy_server_error() (but
 * eddy_server_new, which has no server yet, and eddy_server_worker_stats,
 * which reads only); the eddy_config_* calls write theirs to err; the
 * params and log calls return the errno alone (eddy_strerror() names it).
 */
#ifndef EDDY_EDDY_H
#define EDDY_EDDY_H

#include <signal.h>
#include <stddef.h>

#include "eddy/error.h"
#include "eddy/handler.h"
#include "eddy/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_server eddy_server;
typedef struct eddy_listener eddy_listener;

EDDY_API const char *eddy_version(void);

/* 0, or -ENOMEM. */
EDDY_API int eddy_server_new(eddy_server **out);
EDDY_API void eddy_server_free(eddy_server *s);
EDDY_API const char *eddy_server_error(const eddy_server *s);

/* workers: 0 = one per online CPU (the default). */
EDDY_API int eddy_server_set_workers(eddy_server *s, int workers);
/* The number of workers: as set, or resolved from the CPU count. */
EDDY_API int eddy_server_worker_count(const eddy_server *s);
/* Threads that run pool-dispatched handlers (default 4; started only when
 * a listener uses the pool). */
EDDY_API int eddy_server_set_pool_threads(eddy_server *s, int threads);
/* Connections open at once over all listeners (default 10000). */
EDDY_API int eddy_server_set_max_connections(eddy_server *s, unsigned max);
EDDY_API unsigned eddy_server_max_connections(const eddy_server *s);
/* Connections open at once from one client address (0 = no limit, the
 * default); behind a proxy_protocol listener, the address the header names. */
EDDY_API int eddy_server_set_max_connections_per_ip(eddy_server *s, unsigned max);

/* Make h known by its name to eddy_server_configure() and
 * eddy_server_reload(): a config's `handler NAME` finds the handlers
 * registered so (the program's built-ins: eddyd registers echo and stats)
 * before any plugin.  libeddy itself has none.  h must outlive s.  0;
 * -EINVAL for a table without a name, a name a config cannot write
 * (letters, digits, '_' and '-') or another ABI version; -EEXIST when the
 * name is taken; -ENOMEM. */
EDDY_API int eddy_server_register_handler(eddy_server *s, const eddy_handler *h);

/* Add a listener: "IPv4:PORT" or "[IPv6]:PORT" for TCP (optionally after
 * "tcp:"), "udp:" and such an address for UDP, "unix:PATH" for a Unix
 * stream socket.  Checks params against the handler's table (names it
 * knows; one value, given once, for each parameter without
 * EDDY_PARAM_LIST), then calls the handler's init() with params (which may
 * be NULL, and which the caller still owns) at once, so a bad parameter is
 * reported before any socket is opened.  *out, when given,
 * receives the listener for the setters below. */
EDDY_API int eddy_server_listen(eddy_server *s, const char *address, const eddy_handler *h,
                                eddy_params *params, eddy_listener **out);
/* Output above high stops reading the connection until it drains below low
 * (defaults 1 MiB and 256 KiB).  The setters below return 0, or -EINVAL
 * for a value out of the range each names (a message in
 * eddy_server_error()): here high 0 or low above high. */
EDDY_API int eddy_listener_set_water_marks(eddy_listener *l, size_t high, size_t low);
/* Largest input a handler may leave unconsumed (default 1 MiB; 1 byte to
 * 1 GiB). */
EDDY_API int eddy_listener_set_max_message(eddy_listener *l, size_t max);
/* The most output a connection may have queued for its peer (default 4
 * MiB, or high_water + 3 MiB when that is more, until this is called): a send past
 * it closes the connection, counted as errors_output_limit and logged at
 * most once a second per worker.  1 to 1 GiB, else -EINVAL; keep it above
 * high_water, where reading stops. */
EDDY_API int eddy_listener_set_max_output(eddy_listener *l, size_t max);
/* Where data() runs: inline on the connection's worker (the default), or
 * on the server's pool threads, for handlers that block.  A connection
 * with a request in the pool is not read until that request returns, so
 * its replies keep their order.  -EINVAL for pool on a UDP listener. */
typedef enum eddy_dispatch { EDDY_DISPATCH_INLINE, EDDY_DISPATCH_POOL } eddy_dispatch;
EDDY_API int eddy_listener_set_dispatch(eddy_listener *l, eddy_dispatch d);
/* Close a connection after idle_ms without input, or first_byte_ms after
 * accept when it has sent nothing (0 = never, the default; at most a day,
 * -EINVAL past it or below 0).
 * Idle connections with timeouts armed cost no CPU: each worker keeps its
 * connections in order of last activity and sleeps until the oldest is due. */
EDDY_API int eddy_listener_set_timeouts(eddy_listener *l, long idle_ms, long first_byte_ms);
/* Expect a PROXY protocol v1 or v2 header (HAProxy's) first on each
 * connection: the client address it names is the one per-IP limits and
 * eddy_conn_peer() see; a malformed header closes the connection.  -EINVAL
 * on a UDP listener. */
EDDY_API int eddy_listener_set_proxy_protocol(eddy_listener *l, int on);
/* An IPv6 listener takes IPv6 only (the default, as nginx), or IPv4 too. */
EDDY_API int eddy_listener_set_ipv6only(eddy_listener *l, int on);
/* A Unix socket file's permission bits (default 0660: never world-writable
 * unless asked; at most 0777). */
EDDY_API int eddy_listener_set_mode(eddy_listener *l, unsigned mode);
/* UDP: reply bytes per request byte on the wire, headers included
 * (default 3, 0 = no limit, for a network where sources cannot be spoofed;
 * at most 1000). */
EDDY_API int eddy_listener_set_max_amplification(eddy_listener *l, unsigned factor);
/* The port bound, once started (useful with port 0); 0 for a Unix socket. */
EDDY_API int eddy_listener_port(const eddy_listener *l);
/* The address bound, as text: "127.0.0.1:45123", "[::1]:7777",
 * "udp:127.0.0.1:9000", "unix:/run/eddy.sock". */
EDDY_API void eddy_listener_bound_address(const eddy_listener *l, char *buf, size_t len);

/* The index-th listener (in the order added), or NULL past the last. */
EDDY_API eddy_listener *eddy_server_listener(const eddy_server *s, int index);
/* Its address as given ("127.0.0.1:7777"), and its handler's name. */
EDDY_API const char *eddy_listener_address(const eddy_listener *l);
EDDY_API const char *eddy_listener_handler(const eddy_listener *l);

/* A configuration file (syntax: config/eddyd.conf), parsed but not yet
 * applied.  Errors are written to err as "FILE:LINE: what is wrong". */
typedef struct eddy_config eddy_config;
EDDY_API int eddy_config_load(eddy_config **out, const char *path, char *err, size_t errlen);
EDDY_API int eddy_config_parse(eddy_config **out, const char *name, const char *text, size_t len,
                               char *err, size_t errlen);
/* Override a directive as if the file said it: a global one (workers,
 * max_connections, pool_threads, log_level, plugin_dir), or "listen"
 * (the first listener's address), or any other name: a directive or
 * handler parameter of the first listener. */
EDDY_API int eddy_config_override(eddy_config *c, const char *directive, const char *value,
                                  char *err, size_t errlen);
EDDY_API void eddy_config_free(eddy_config *c);
/* The effective configuration in the file's own syntax (what `eddyd -T`
 * prints): every directive with its value, defaults included, a directive
 * that has none as a comment, the handler parameters as given.  Parsed
 * again it gives the same configuration and the same text.  A string to
 * free(), or NULL when out of memory. */
EDDY_API char *eddy_config_dump(const eddy_config *c);
/* The value of a global directive that takes a string ("plugin_dir",
 * "log_file", "pidfile", "user", "group"), from the file or an override
 * (a relative plugin_dir taken from the file's directory); NULL when
 * absent or not such a directive.  libeddy applies plugin_dir and log_file itself;
 * pidfile, user and group are the running program's to honour (eddyd
 * does): the library never writes a pidfile or changes its user. */
EDDY_API const char *eddy_config_string(const eddy_config *c, const char *directive);
/* The index-th listen block, in file order: its transport ("tcp", "udp"
 * or "unix"), its address as written (IPv4:PORT, [IPv6]:PORT or a path)
 * and its handler's name, each stored when its pointer is not NULL.  0, or
 * -ENOENT past the last. */
EDDY_API int eddy_config_listener(const eddy_config *c, int index, const char **transport,
                                  const char **address, const char **handler);
/* What serving c needs from this machine, checked without changing it (what
 * `eddyd -t` adds to the syntax): the user and group exist; the pidfile's
 * and each unix socket's directory exists and is writable by this process;
 * a unix socket path is not some other file.  0; -EINVAL with err =
 * "FILE:LINE: ..."; or 1 with a warning in err (workers above the online
 * CPUs), which does not stop anything. */
EDDY_API int eddy_config_check(const eddy_config *c, char *err, size_t errlen);
/* Apply a config to a new server: the globals, then each listener with its
 * handler (registered, or a plugin loaded from plugin_dir), whose init() runs
 * now.  Opens no socket.  eddy_server_error() says "FILE:LINE: ...". */
EDDY_API int eddy_server_configure(eddy_server *s, eddy_config *c);

/* Serve a listener from a socket someone else bound (systemd socket
 * activation): fd goes to the listener with the same transport and address
 * and is shared by every worker.  -ENOENT when no listener matches,
 * -EPROTOTYPE for a socket that is not TCP, UDP or a Unix stream, or the
 * errno of getsockname() or fcntl() on fd (-ENOTSOCK, -EBADF). */
EDDY_API int eddy_server_adopt_socket(eddy_server *s, int fd);
/* The same for a socket systemd passed under a name (LISTEN_FDNAMES, a
 * socket unit's FileDescriptorName=): it goes to the listener given that
 * name, whatever its address, when the transport agrees (-EPROTOTYPE when
 * not, or when that listener has a socket already); to the listener of
 * its address when no listener has the name; else as above. */
EDDY_API int eddy_server_adopt_named_socket(eddy_server *s, int fd, const char *name);
/* Name the systemd socket a listener serves when there is one (see
 * eddy_server_adopt_named_socket); without it, the listener binds its own.
 * -EINVAL for a name of 256 bytes or more, or one with a ':'. */
EDDY_API int eddy_listener_set_fdname(eddy_listener *l, const char *name);

/* Apply a new configuration to a running server without dropping a
 * connection: every check runs first, and on any error nothing changes.
 * Listeners at the same address keep their sockets and serve new
 * connections with the new handler and parameters (open connections keep
 * theirs); new listeners open; removed ones stop accepting and end with
 * their last connection.  workers and pool_threads take effect at the
 * next start only. */
EDDY_API int eddy_server_reload(eddy_server *s, eddy_config *c);
/* Count a reload that failed before eddy_server_reload (a file that does
 * not parse): the stats show reloads applied and failed. */
EDDY_API void eddy_server_reload_failed(eddy_server *s);

/* Bind every listener and start the workers.  Fails (and binds nothing) on
 * the first address that cannot be bound. */
EDDY_API int eddy_server_start(eddy_server *s);
/* A signal taken by the loop of worker 0 (eddy_server_start_here). */
typedef void (*eddy_signal_fn)(eddy_server *s, int signo, void *arg);
/* As eddy_server_start(), but worker 0's loop is left to eddy_server_run()
 * on the calling thread: with one worker (and no listener with dispatch
 * pool) the process then serves with no thread of eddy's, and the kernel
 * takes its single-threaded paths.  The signals of `signals` (NULL: none)
 * are blocked on the calling thread (block them in any other thread of the
 * program before it starts one) and taken by worker 0's loop from a
 * signalfd: on_signal(s, signo, arg) runs on that thread, between events.
 * -EINVAL for signals without on_signal. */
EDDY_API int eddy_server_start_here(eddy_server *s, const sigset_t *signals,
                                    eddy_signal_fn on_signal, void *arg);
/* Run worker 0 of a server started by eddy_server_start_here() on the
 * calling thread until the server stops (eddy_server_stop() or
 * eddy_server_stop_now(), from on_signal or anywhere), then wait for the
 * other workers as eddy_server_wait() does, taking signals meanwhile.
 * -EINVAL for a server not so started. */
EDDY_API int eddy_server_run(eddy_server *s);
/* Stop gracefully: accept nothing more, answer what has arrived (pool work
 * included), send what is queued, then close; connections still open
 * after the shutdown timeout are closed.  Async-signal-safe, thread-safe. */
EDDY_API void eddy_server_stop(eddy_server *s);
/* Stop now: close every connection at once.  Async-signal-safe. */
EDDY_API void eddy_server_stop_now(eddy_server *s);
/* Bound for a graceful stop (default 10 s; 0 = close at once; at most a
 * day). */
EDDY_API int eddy_server_set_shutdown_timeout(eddy_server *s, long ms);
/* Workers still running: 0 once a stop has completed. */
EDDY_API int eddy_server_running(const eddy_server *s);
/* For a watchdog (systemd's WatchdogSec): 1 when every worker has turned
 * its loop since the previous call, else 0 (a worker stuck in a handler,
 * or not running); then wakes every worker, so that an idle one turns
 * before the next call.  Call it from one thread, at an interval longer
 * than a loop needs to wake. */
EDDY_API int eddy_server_heartbeat(eddy_server *s);
/* Wait until every worker has closed its connections and exited. */
EDDY_API int eddy_server_wait(eddy_server *s);

/* Parameters for a listener, built by a program or by the config loader.
 * 0, or -ENOMEM. */
EDDY_API int eddy_params_new(eddy_params **out);
EDDY_API void eddy_params_free(eddy_params *p);
/* One value of parameter name; line: where it came from (0 when not from
 * a file).  A name added again adds a value after the ones before: right
 * for a parameter the handler flags EDDY_PARAM_LIST, and for any other
 * eddy_server_listen() refuses it (-EINVAL, "'name' given twice in this
 * listen block"), as it refuses a name the handler does not know.  0;
 * -EINVAL for a NULL argument; -ENOMEM. */
EDDY_API int eddy_params_add(eddy_params *p, const char *name, const char *value, int line);

/* Counters of one worker, or summed over workers. */
typedef struct eddy_stats {
    unsigned long long accepted;    /* connections accepted */
    unsigned long long refused;     /* closed at once: over max_connections */
    unsigned long long open;        /* open now */
    unsigned long long bytes_in;
    unsigned long long bytes_out;
    unsigned long long accept_pauses; /* times accepting paused for EMFILE/ENFILE */
    unsigned long long datagrams_in, datagrams_out;
    unsigned long long datagrams_dropped; /* replies too large or over the amplification limit */
    unsigned long long timeouts;          /* connections closed by idle or first-byte timeouts */
    unsigned long long reads;             /* reads handed to handlers */
    unsigned long long sends;             /* sends by handlers */
    unsigned long long errors_io;         /* resets and other read/write errors */
    unsigned long long errors_too_large;  /* closed: input over max_message */
    unsigned long long errors_nomem;      /* closed or refused: out of memory */
    unsigned long long pool_pending;      /* requests in the worker pool now */
    unsigned long long refused_per_ip;    /* closed at once: over max_connections_per_ip */
    unsigned long long errors_proxy;      /* closed: malformed PROXY protocol header */
    unsigned long long errors_output_limit; /* closed: output queued over max_output */
    /* TLS handshakes completed, by version, and those that resumed a session */
    unsigned long long tls_handshakes_v12, tls_handshakes_v13, tls_resumed;
    /* TLS handshakes failed: too slow, the client left, no common version,
     * its certificate refused, anything else (garbage, no common cipher) */
    unsigned long long tls_failed_timeout, tls_failed_closed, tls_failed_version,
        tls_failed_certificate, tls_failed_protocol;
} eddy_stats;
EDDY_API void eddy_server_stats(const eddy_server *s, eddy_stats *out);
/* One worker's counters (0 <= worker < eddy_server_worker_count()); -EINVAL
 * past the last or when not running. */
EDDY_API int eddy_server_worker_stats(const eddy_server *s, int worker, eddy_stats *out);
/* Every counter as text: per worker and in total, "name value" lines, or
 * the Prometheus text format (prometheus != 0).  Returns the length it
 * needed, like snprintf. */
EDDY_API int eddy_server_stats_format(const eddy_server *s, int prometheus, char *buf, size_t len);
/* The server a connection belongs to (for a handler that reports stats). */
EDDY_API eddy_server *eddy_conn_server(const eddy_conn *c);

/* The log: one line per event, "TIMESTAMP LEVEL [THREAD] message", or
 * "<N>LEVEL [THREAD] message" under journald (JOURNAL_STREAM set).  Levels
 * in order (EDDY_LOG_*, in eddy/handler.h); a level shows its own lines
 * and those above it. */
EDDY_API void eddy_set_log_level(int level); /* default EDDY_LOG_INFO */
/* Log to a file (appending) instead of stderr; NULL or "" for stderr.  0;
 * -ENAMETOOLONG for a path of 4096 bytes or more; the errno of open()
 * (-EACCES, -ENOENT, ...), the log then going where it went. */
EDDY_API int eddy_set_log_file(const char *path);
/* Reopen the log file (after logrotate moved it): 0 (also when logging to
 * stderr), or as eddy_set_log_file. */
EDDY_API int eddy_log_reopen(void);
/* 1 while the log goes to a file, 0 while it goes to stderr. */
EDDY_API int eddy_log_to_file(void);
/* A line of the embedder's own, at level, through the same logger. */
EDDY_API void eddy_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
