/* eddy/handler.h - the handler contract.
 *
 * A handler is a const table of callbacks.  A plugin (.so) exports one
 * function, eddy_handler_entry(), returning a pointer to its table; a program
 * that embeds libeddy passes its table to eddy_server_listen() directly.
 *
 * The loop calls a handler only from the thread that owns the connection
 * (or, for a listener with `dispatch pool`, from one pool thread at a time
 * per connection): a handler never takes a lock for per-connection state and
 * never sees an fd, epoll or a thread.
 *
 *   init   once per listener, before any socket is opened, with the
 *          listener's parameters; stores per-listener state in *state.
 *          Returns 0, or a negative errno after eddy_params_reject().
 *   fini   once per listener at shutdown, with that state.
 *   open   once per connection; optional.  Return 0 to keep it, <0 to close.
 *   data   bytes read from the connection.  Returns how many it consumed;
 *          the rest is handed back, followed by new bytes, on the next call.
 *          A handler that consumes nothing while its buffered input is at
 *          the listener's max_message is closed (it can never progress).
 *   close  once per connection, also after an open() that refused it (so
 *          per-connection data may still be NULL); after it the eddy_conn
 *          is gone.  Optional.
 *   datagram  one UDP datagram (udp listeners only; a handler without it
 *          cannot serve one).  It may answer once with eddy_dgram_reply();
 *          the buffer and the eddy_dgram live only during the call.
 *
 * From ABI 3, all optional:
 *   peer_shutdown  the peer ended its side (a FIN): no more data() will
 *          come (every byte before the FIN has been given to data()), and
 *          the handler may still send, at once or later (a timer, a
 *          post), then eddy_close(): the connection stays open until then,
 *          or until the peer is gone altogether (a reset) or a timeout.
 *          Without it the connection closes once its output is sent.
 *   drained  the output queued for the peer fell below the listener's
 *          low_water after it had passed high_water: send more.  Not
 *          called once the connection is closing, nor while its data()
 *          is out on a pool thread.
 *   worker_init / worker_fini  once per worker thread that serves the
 *          listener, on that thread, before its first connection and after
 *          its last: per-worker state without locks (eddy_conn_worker_state;
 *          see "Workers" below, reloads included).
 *
 * From ABI 4, optional:
 *   metrics  the handler's own counters and gauges, for the stats output
 *          (eddyd's `stats` handler, text and Prometheus): called with the
 *          listener's state whenever the stats are read
 *          (eddy_server_stats_format: once per listener and output, not
 *          per worker), on the thread that reads them, while workers run
 *          and possibly on several such threads at once: it reads what it
 *          counts with atomics, and reports each sample with eddy_metric().
 *          The listener is held meanwhile: its fini() waits for it, also
 *          when a reload replaces it.
 */
#ifndef EDDY_HANDLER_H
#define EDDY_HANDLER_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "eddy/error.h"
#include "eddy/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_conn eddy_conn;
typedef struct eddy_params eddy_params;
typedef struct eddy_dgram eddy_dgram;

/* flags */
#define EDDY_HANDLER_BLOCKING 1u /* data() may block: dispatch to the pool by default */
/* The handler relays bytes between connections (a proxy): what it sends
 * on a connection comes from another one, not from what that connection
 * sent.  Such a connection (accepted, or opened with eddy_connect) is read
 * on while its own output is above high_water; drained() still comes once
 * that output falls below low_water.  The handler bounds each output
 * itself, by pausing (eddy_conn_pause) the connection its bytes come from
 * above eddy_conn_high_water() and resuming it in drained(). */
#define EDDY_HANDLER_RELAY 2u

/* A parameter the handler accepts, as nginx's directives are data: its
 * name, and its flags.  Without EDDY_PARAM_LIST it takes exactly one value,
 * given once; with it, one or more values, on one line or on several
 * (`upstream a b` then `upstream c` give a, b, c: eddy_params_count and
 * eddy_params_value read them).  The list ends with {NULL, 0}. */
#define EDDY_PARAM_LIST 1u
typedef struct eddy_param {
    const char *name;
    unsigned flags;
} eddy_param;

/* A handler's own metrics: see eddy_metric(). */
typedef struct eddy_metrics eddy_metrics;

typedef struct eddy_handler {
    unsigned abi_version;       /* EDDY_ABI_VERSION of the headers it was built with */
    const char *name;
    const eddy_param *params;   /* the parameters it accepts, ended by {NULL, 0} */
    unsigned flags;
    int (*init)(void **state, eddy_params *params);
    void (*fini)(void *state);
    int (*open)(eddy_conn *c);
    size_t (*data)(eddy_conn *c, const char *buf, size_t len);
    void (*close)(eddy_conn *c);
    void (*datagram)(eddy_dgram *d, const char *buf, size_t len);
    /* ABI 3 */
    void (*peer_shutdown)(eddy_conn *c);
    void (*drained)(eddy_conn *c);
    int (*worker_init)(void *state, int worker, void **worker_state);
    void (*worker_fini)(void *state, int worker, void *worker_state);
    /* ABI 4 */
    void (*metrics)(void *state, eddy_metrics *m);
} eddy_handler;

/* The symbol a plugin exports, declared here so that a plugin built with
 * -fvisibility=hidden and -Wmissing-prototypes needs no boilerplate:
 *
 *     EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void)
 *     {
 *         return &my_table;
 *     }
 */
#define EDDY_HANDLER_ENTRY "eddy_handler_entry"
#define EDDY_HANDLER_EXPORT __attribute__((visibility("default")))
typedef const eddy_handler *(*eddy_handler_entry_fn)(void);
EDDY_HANDLER_EXPORT const eddy_handler *eddy_handler_entry(void);

/* Queue bytes for the peer.  Written at once when nothing is queued; the
 * rest is kept and flushed when the socket is writable.  Returns 0, or
 * (the bytes dropped):
 *   -EPIPE    the connection is closing or closed: after eddy_close(), or
 *             a write that failed (reset, broken pipe)
 *   -ENOMEM   no memory to queue the rest; the connection is closed
 *   -ENOBUFS  the queue already holds more than the listener's max_output
 *             (default 4 MiB): the connection is closed, counted
 *             (errors_output_limit) and logged.  The send that crosses
 *             max_output is queued whole, so one reply larger than it
 *             reaches a peer that reads; a peer that does not read costs
 *             at most max_output plus the handler's largest send
 *   -EINVAL   iovcnt below 0, or from a pool thread, a connection other
 *             than the one whose data() runs there
 * Above high_water the connection stops reading until the queue drains
 * below low_water, when drained() is called: a handler that sends on its
 * own (a timer, a post) watches eddy_conn_queued() and waits for drained().
 * (A relay's connections are read on: EDDY_HANDLER_RELAY.) */
EDDY_API int eddy_send(eddy_conn *c, const void *buf, size_t len);
EDDY_API int eddy_sendv(eddy_conn *c, const struct iovec *iov, int iovcnt);

/* Bytes queued for the peer, not yet taken by the socket; on the
 * connection's worker.  From data() on a pool thread: what that data() has
 * sent so far. */
EDDY_API size_t eddy_conn_queued(const eddy_conn *c);

/* Stop reading from c (pause 1), or read again (pause 0): backpressure a
 * handler drives across connections, as a proxy does when it pauses its
 * client while the upstream's output is above high water and resumes it
 * in the upstream's drained().  What the peer sends meanwhile waits in the
 * kernel (whose window then stops the peer).  On the connection's worker,
 * not from a pool thread; a closed connection is left alone. */
EDDY_API void eddy_conn_pause(eddy_conn *c, int pause);

/* End our side of the stream (a FIN) once everything queued so far is
 * sent; reading goes on.  After it eddy_send() returns -EPIPE.  On an
 * outgoing connection still connecting, the FIN follows the connect.  For
 * passing a peer's half-close on (a proxy).  On the connection's worker. */
EDDY_API void eddy_conn_shutdown(eddy_conn *c);

/* Count as activity for the listener's idle_timeout, as bytes read do: for
 * a connection whose traffic runs through another one (a proxy's client
 * while the upstream streams to it).  On the connection's worker. */
EDDY_API void eddy_conn_touch(eddy_conn *c);

/* The listener's high_water for c: above it eddy_conn_queued() makes c
 * stop reading (unless its handler is an EDDY_HANDLER_RELAY), and
 * drained() follows once the queue falls below low_water.  A proxy pauses the other side of a pair at the same mark, so
 * that drained() is certain to resume it. */
EDDY_API size_t eddy_conn_high_water(const eddy_conn *c);

/* Let eddy move the bytes that come in on `from` to `to` itself, without
 * a copy into user space, while a stream flows: a proxy's pair.  Bytes go
 * through data() as usual until a read fills the whole read room (64
 * KiB); from then on they go socket to pipe to socket with splice(2),
 * without data(), until a read brings under 4 KiB with the pipe empty,
 * when data() has them again.  Meanwhile:
 *   - `from` is read only as fast as `to` takes the bytes: the pipe (64
 *     KiB) is the whole queue, high_water does not apply to it;
 *   - both count as active for idle_timeout;
 *   - `from`'s FIN reaches peer_shutdown() once every byte before it is in
 *     `to`'s socket; a read error closes `from`, a write error `to`, as
 *     on the copying path; `to` closes (after eddy_close()) or ends its
 *     side (eddy_conn_shutdown()) only once the pipe is empty;
 *   - the stats count the bytes as read from `from` and sent to `to`;
 *     eddy_conn_spliced() says how many went this way.
 * The handler sends nothing of its own on `to` while the link lives (a
 * proxy sends on `to` only what `from` sent, from `from`'s data()): such
 * bytes could pass bytes still in the pipe.  The pipe holds two
 * descriptors, and counts as two connections against max_connections
 * while it exists: near the limit, or out of descriptors, bytes are
 * copied.  The link lasts until either side closes.  Plain TCP and Unix
 * connections of one worker only.  On that worker.  Returns 0; -EPERM on
 * a pool thread; -EOPNOTSUPP when either side is TLS; -EINVAL for NULL,
 * the same connection twice, a closed one, connections of two workers,
 * `from` already spliced to a connection or `to` already spliced from
 * one, `from` on a `dispatch pool` listener, or either side's handler
 * not an EDDY_HANDLER_RELAY (whose connections alone are read on while
 * their output waits); -ENOMEM. */
EDDY_API int eddy_conn_splice(eddy_conn *from, eddy_conn *to);

/* Bytes eddy_conn_splice() has moved from `from` so far, which data()
 * never saw (0 without a link); until `from` closes. */
EDDY_API unsigned long long eddy_conn_spliced(const eddy_conn *from);

/* Close after everything queued so far is sent.  No further data() call.
 * It may close another connection of the same worker than the one whose
 * callback is running (a proxy closing its backend): it takes effect in the
 * same turn of the loop. */
EDDY_API void eddy_close(eddy_conn *c);

/* Timers on a connection, for handlers: fn(c, arg) runs on the
 * connection's worker, like data(), once the time given to
 * eddy_timer_start() has passed; it may send and close.  Starting an armed
 * timer restarts it; stopping an idle one does nothing.  A connection's
 * timers are freed when it closes (after which the handle is gone), or
 * earlier with eddy_timer_free().  Not for pool threads: from one,
 * eddy_timer_new() returns NULL, eddy_timer_start() -EINVAL and the others
 * do nothing.  eddy_timer_new() also returns NULL for a NULL fn or out of
 * memory; eddy_timer_start() returns 0, -EINVAL for ms outside 0 to a day
 * (86,400,000), or -ENOMEM. */
typedef struct eddy_timer eddy_timer;
typedef void (*eddy_timer_fn)(eddy_conn *c, void *arg);
EDDY_API eddy_timer *eddy_timer_new(eddy_conn *c, eddy_timer_fn fn, void *arg);
EDDY_API int eddy_timer_start(eddy_timer *t, long ms);
EDDY_API void eddy_timer_stop(eddy_timer *t);
EDDY_API void eddy_timer_free(eddy_timer *t);

/* Replies from any thread.  A handler that hands work to a thread of its
 * own (a library with its own threads, a blocking call) takes a reference
 * on the connection and later posts a function to run on the connection's
 * worker, where it may send and close as data() does:
 *
 *   eddy_conn_ref     on the connection's worker only (not from a pool
 *                     thread): a reference, or NULL (out of memory, or the
 *                     connection is closed).  Each call returns one more
 *                     count on the same reference; each is released once.
 *   eddy_ref_post     from any thread, while holding a count: fn(c, arg)
 *                     runs on the worker, after the callbacks already
 *                     running there, in the order posted by this thread;
 *                     never at the same time as another callback of the
 *                     connection (while its data() is out on a pool thread,
 *                     fn waits for it).  c is NULL when the connection
 *                     closed meanwhile (close() has run): fn then only
 *                     frees arg.  Returns 0, -ENOMEM (fn will not run) or
 *                     -EINVAL (r or fn NULL).
 *   eddy_ref_release  from any thread, once per count; a reference may
 *                     outlive its connection.  NULL does nothing.
 *
 * Nothing is freed under a holder: the connection's worker does not stop
 * (eddy_server_wait does not return) until every count is released, so a
 * handler releases each one, at the latest when its threads end.  Until
 * then the handler's listener stays (its fini() waits; a hot-swapped
 * plugin stays loaded), so a posted fn always has its code. */
typedef struct eddy_ref eddy_ref;
EDDY_API eddy_ref *eddy_conn_ref(eddy_conn *c);
EDDY_API int eddy_ref_post(eddy_ref *r, void (*fn)(eddy_conn *c, void *arg), void *arg);
EDDY_API void eddy_ref_release(eddy_ref *r);

/* The client's address as text ("127.0.0.1:5353", "[::1]:80"; the one a
 * PROXY header named, on a listener with proxy_protocol), "unix" or
 * "unknown". */
EDDY_API void eddy_conn_peer(const eddy_conn *c, char *buf, size_t len);

/* The peer's and the local address, as struct sockaddr (AF_INET,
 * AF_INET6 or AF_UNIX): *len is set to the address's length.  The peer is
 * the client a PROXY header named, on a listener with proxy_protocol; the
 * local address is always the socket's own.  From any thread that runs the
 * connection's callbacks.  0, -ENOTCONN once the connection is closed, or
 * getpeername()/getsockname()'s error. */
EDDY_API int eddy_conn_peer_addr(const eddy_conn *c, struct sockaddr_storage *out, socklen_t *len);
EDDY_API int eddy_conn_local_addr(const eddy_conn *c, struct sockaddr_storage *out, socklen_t *len);

/* Abortive close: the connection ends with a TCP reset (SO_LINGER 0), in
 * the current turn of its worker; what is queued is dropped and close()
 * is called as for any close.  On the connection's worker; from a pool
 * thread, or on a closed connection, it does nothing. */
EDDY_API void eddy_conn_reset(eddy_conn *c);

/* A line in eddyd's log (its file or stderr, as configured), at level
 * EDDY_LOG_ERROR .. EDDY_LOG_DEBUG, shown when the log level lets it
 * through (nothing is formatted otherwise), naming the connection as the
 * core's own lines do: "... warn [w1] #42 127.0.0.1:5555: message" (a
 * level below EDDY_LOG_ERROR counts as EDDY_LOG_ERROR).  From any thread
 * that runs the connection's callbacks.  Not rate-limited: a handler that
 * may log per message limits itself. */
enum { EDDY_LOG_ERROR, EDDY_LOG_WARN, EDDY_LOG_INFO, EDDY_LOG_DEBUG };
EDDY_API void eddy_conn_log(eddy_conn *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Workers.  Each worker thread runs one loop; a handler sees it as an
 * eddy_worker, to keep timers that belong to no connection (a periodic
 * flush, a pool of backend connections' keepalive) and, through
 * worker_init/worker_fini in its table, state per worker and listener
 * that its connections on that worker share without locks.
 *
 *   eddy_conn_worker        the worker of a connection (valid while the
 *                           server runs; the same for all its connections
 *                           on that thread).
 *   eddy_worker_self        the worker running the calling thread, or NULL
 *                           (a pool thread, the main thread): from
 *                           worker_init() too.
 *   eddy_worker_id          its number, 0 .. workers-1, as worker_init() got.
 *   eddy_conn_worker_state  what worker_init() stored for the connection's
 *                           listener on its worker (NULL without one); on
 *                           the worker's thread only.
 *
 * worker_init(state, worker, &ws) runs on the worker's thread before the
 * first connection of the listener there (at the start, or at the reload
 * that adds the listener); returning <0 keeps that worker from serving the
 * listener (logged).  worker_fini(state, worker, ws) runs there after the
 * last one: at the stop, or once the last connection of a listener that a
 * reload replaced has closed (the new listener has had its own
 * worker_init by then).  Both before the listener's fini().
 *
 * Worker timers: fn(w, arg) runs on the worker once the time given to
 * eddy_worker_timer_start() (0 ms to 24 h; -EINVAL otherwise, -ENOMEM) has
 * passed; starting an armed timer restarts it, stopping an idle one does
 * nothing.  On the worker's thread only (from a pool thread _new returns
 * NULL, _start -EINVAL, and the others do nothing); _new also returns NULL
 * for a NULL w or fn, or out of memory; _free(NULL) does nothing.  A
 * handler must free its timers at the latest in worker_fini(): after it, a
 * hot swap may unload the plugin that a timer's fn lives in (the worker
 * frees any left when it ends). */
typedef struct eddy_worker eddy_worker;
typedef struct eddy_worker_timer eddy_worker_timer;
typedef void (*eddy_worker_timer_fn)(eddy_worker *w, void *arg);
EDDY_API eddy_worker *eddy_conn_worker(const eddy_conn *c);
EDDY_API eddy_worker *eddy_worker_self(void);
EDDY_API int eddy_worker_id(const eddy_worker *w);
EDDY_API void *eddy_conn_worker_state(const eddy_conn *c);
EDDY_API eddy_worker_timer *eddy_worker_timer_new(eddy_worker *w, eddy_worker_timer_fn fn,
                                                  void *arg);
EDDY_API int eddy_worker_timer_start(eddy_worker_timer *t, long ms);
EDDY_API void eddy_worker_timer_stop(eddy_worker_timer *t);
EDDY_API void eddy_worker_timer_free(eddy_worker_timer *t);

/* A handler's own metrics (ABI 4): inside its metrics(state, m) callback,
 * one call per sample, into the stats output next to eddy's own counters:
 *
 *   NAME{listener="ADDR",LABEL="LABEL_VALUE"} VALUE
 *
 * The core adds the listener label (the listener's bound address, as in
 * its own samples); one label of the handler's may follow (label NULL: none,
 * and label_value must be NULL too).  In the Prometheus output the samples
 * of one NAME, from every listener, come together under one # HELP (the
 * first non-NULL help given for it) and one # TYPE, in the order first
 * reported.
 *
 *   type         EDDY_METRIC_COUNTER (only goes up; name it ..._total) or
 *                EDDY_METRIC_GAUGE (a value now).
 *   name         [a-zA-Z_:][a-zA-Z0-9_:]*, at most 200 bytes.  process_*
 *                and eddy_* are eddy's, except eddy_HANDLER_* where
 *                HANDLER is the name in the handler's table (the proxy's
 *                eddy_proxy_upstream_connections_total), as long as it is
 *                not one of eddy's own metrics' names.
 *   help         what it measures, or NULL; valid UTF-8, at most 1024 bytes.
 *   label        [a-zA-Z_][a-zA-Z0-9_]*, at most 200 bytes, not __*, not
 *                "listener".
 *   label_value  any valid UTF-8, at most 1024 bytes (escaped as the
 *                format wants: \\, \" and \n).
 *
 * Returns 0, or the sample is dropped and not shown (counted in the output
 * as eddy_handler_samples_dropped, handler_samples_dropped in the text):
 *   -EINVAL   m NULL, a bad type, name, label, label_value or help, a
 *             reserved name, or a name reported before with the other type
 *   -EEXIST   this listener reported the same name, label and value already
 *   -ENOSPC   4096 samples already, over all listeners: the bound of one
 *             output
 *   -ENOMEM   out of memory
 * Strings are copied.  Only inside metrics(), with the m it was given. */
enum { EDDY_METRIC_COUNTER = 1, EDDY_METRIC_GAUGE = 2 };
EDDY_API int eddy_metric(eddy_metrics *m, int type, const char *name, const char *help,
                         const char *label, const char *label_value, unsigned long long value);

/* The listener's state from init(), and a per-connection pointer that the
 * handler owns (NULL until set; the handler frees it in close()). */
EDDY_API void *eddy_conn_state(const eddy_conn *c);
EDDY_API void *eddy_conn_data(const eddy_conn *c);
EDDY_API void eddy_conn_set_data(eddy_conn *c, void *data);

/* Answer a datagram, to the address it came from.  At most one reply per
 * datagram; the reply is dropped (and counted) when it exceeds the largest
 * UDP payload or the listener's amplification limit: on the wire, a reply
 * may be at most max_amplification (default 3) times the request, headers
 * included.  Returns 0, -EBUSY (already answered, or a reply already
 * dropped), -EMSGSIZE (dropped). */
EDDY_API int eddy_dgram_reply(eddy_dgram *d, const void *buf, size_t len);
EDDY_API int eddy_dgram_replyv(eddy_dgram *d, const struct iovec *iov, int iovcnt);
/* The listener's state from init(). */
EDDY_API void *eddy_dgram_state(const eddy_dgram *d);
/* The sender as text, "127.0.0.1:5353" or "[::1]:5353". */
EDDY_API void eddy_dgram_peer(const eddy_dgram *d, char *buf, size_t len);

/* Outgoing connections (ABI 3).
 *
 * A handler opens a TCP (IPv4, IPv6) or Unix stream connection from the
 * worker of one of its connections, usually on that connection's behalf
 * (a proxy, a gateway, a cache in front of a database).  The new
 * connection is an eddy_conn like an accepted one: eddy_send, eddy_sendv,
 * eddy_close, eddy_timer_*, eddy_conn_data, eddy_conn_peer and
 * eddy_conn_state (the listener's state of the connection it was opened
 * from) work on it; it reads into the same buffers, stops reading above
 * the listener's high_water until its output drains below low_water
 * (unless the handler is an EDDY_HANDLER_RELAY), and
 * counts in the stats under the listener label "outgoing".  It counts
 * against max_connections like any other descriptor (as nginx's
 * worker_connections does), but is never refused by it.  The listener's
 * idle and first-byte timeouts do not apply to it: its connect timeout
 * does, and the handler's own timers.  A graceful stop does not end it:
 * it lives until its handler closes it, or until the worker's accepted
 * connections are all gone, when it is closed like the rest.
 *
 * Addresses: eddy_connect() never resolves a name (that would block the
 * loop).  Resolve names in init(), where blocking is allowed: getaddrinfo()
 * there, copy the result into an eddy_addr, and keep it in the listener's
 * state (handlers/examples/forward.c parses a numeric `backend`). */
typedef struct eddy_addr {
    struct sockaddr_storage ss; /* AF_INET, AF_INET6 or AF_UNIX */
    socklen_t len;              /* the length connect(2) takes */
} eddy_addr;

/* Parse a numeric address: "192.0.2.1:80", "[2001:db8::1]:80" (each
 * optionally after "tcp:"), or "unix:/run/backend.sock".  Never looks a
 * name up.  Returns 0, or -EINVAL (a NULL argument, not one of those
 * forms, a udp: address, port 0, a Unix path too long); *out is written
 * only on success.  Any thread. */
EDDY_API int eddy_addr_parse(const char *text, eddy_addr *out);

/* The callbacks of an outgoing connection: a const table, like the
 * handler's, that must outlive its connections (it lives in the plugin).
 * Every callback runs on the worker that opened the connection, never on a
 * pool thread, and one at a time per connection.  Order: connected()
 * exactly once, first; then data(), peer_shutdown() and drained() as for
 * an accepted connection; then close() exactly once, last, after which the
 * eddy_conn is gone.
 *
 *   connected  required.  err 0: the connection is up (bytes sent before
 *          it are on their way).  err < 0: it failed, and close() follows
 *          at once: -ECONNREFUSED, -ETIMEDOUT (the connect timeout passed,
 *          or the kernel's), -ENETUNREACH, -EHOSTUNREACH, -ECONNRESET, or
 *          -ECANCELED (the handler closed it while it was connecting with
 *          nothing queued, or the worker stopped).
 *   data   required; as eddy_handler's (returns the bytes consumed).
 *   peer_shutdown, drained, close  optional; as eddy_handler's. */
typedef struct eddy_client {
    void (*connected)(eddy_conn *c, int err);
    size_t (*data)(eddy_conn *c, const char *buf, size_t len);
    void (*peer_shutdown)(eddy_conn *c);
    void (*drained)(eddy_conn *c);
    void (*close)(eddy_conn *c);
} eddy_client;

/* Open a non-blocking connection to `to` from the worker that owns `from`,
 * with callbacks cb and per-connection data (eddy_conn_data()).  Call it
 * on that worker: from a callback or timer of `from`, or of another
 * connection of the same worker (an outgoing connection may open another;
 * they share the origin's listener).  Not from a pool thread.
 *
 * Returns 0 and the new connection in *out; connected() follows later,
 * never inside this call, even when the connection was made at once (a
 * Unix socket).  Until connected(c, 0), eddy_send() queues (nothing is
 * written) and eddy_close() closes once the queue is sent; with nothing
 * queued it cancels the connect (connected(c, -ECANCELED), then close()).
 * timeout_ms: the connect must complete within it, else connected(c,
 * -ETIMEDOUT); 0 leaves it to the kernel (about two minutes for TCP).
 *
 * Errors, at once (no connection, no callback): -EINVAL (a NULL argument,
 * cb without connected or data, timeout_ms < 0 or over a day, `from`
 * closed, to->len 0 or over sizeof(to->ss)), -EPERM (on a pool thread),
 * -EAFNOSUPPORT (not AF_INET, AF_INET6 or AF_UNIX), -ENOMEM, -EMFILE /
 * -ENFILE (out of descriptors), and what connect(2) says at once:
 * -ECONNREFUSED or -ENOENT for a Unix socket nobody listens on, -EAGAIN
 * for one whose backlog is full, -EADDRNOTAVAIL when no local port is
 * free, -ENETUNREACH. */
EDDY_API int eddy_connect(eddy_conn *from, const eddy_addr *to, const eddy_client *cb, void *data,
                          long timeout_ms, eddy_conn **out);

/* Parameters of a listener, for init().  Each getter returns 0 and stores
 * the value (or def when the parameter is absent), or records a precise
 * error against that parameter and returns -EINVAL.
 * Sizes accept a k/m/g suffix (powers of 1024); durations need a unit,
 * ms/s/m/h (a bare number other than 0 is refused: "add a unit: 30s or
 * 30ms"); booleans on/off, yes/no, true/false, 1/0.  eddy_params_str() of
 * an EDDY_PARAM_LIST parameter returns its first value. */
EDDY_API const char *eddy_params_str(const eddy_params *p, const char *name, const char *def);
EDDY_API int eddy_params_size(eddy_params *p, const char *name, size_t def, size_t *out);
EDDY_API int eddy_params_bool(eddy_params *p, const char *name, int def, int *out);
EDDY_API int eddy_params_msec(eddy_params *p, const char *name, long def, long *out);

/* The values of an EDDY_PARAM_LIST parameter, in the order given, over
 * all its lines (`upstream a b` then `upstream c`: 3 values, a, b, c):
 * how many there are (0 when absent), and value i (NULL from i == count
 * on).  For any other parameter, count is 1 when it is given.  The
 * strings belong to the params, as eddy_params_str()'s do. */
EDDY_API size_t eddy_params_count(const eddy_params *p, const char *name);
EDDY_API const char *eddy_params_value(const eddy_params *p, const char *name, size_t i);

/* Reject parameter NAME (NULL: the listener as a whole) with a message;
 * returns -EINVAL for init() to return.  The error names the line of
 * NAME's first statement; eddy_params_reject_value() names the line of
 * value i (as eddy_params_value() counts; past the last, NAME's first
 * line), for a list whose values may come on several lines. */
EDDY_API int eddy_params_reject(eddy_params *p, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
EDDY_API int eddy_params_reject_value(eddy_params *p, const char *name, size_t i,
                                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif
#endif
