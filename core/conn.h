/* core/conn.h - a TCP connection: its read path into the handler and its
 * write path out of eddy_send(). */
#ifndef EDDY_CORE_CONN_H
#define EDDY_CORE_CONN_H

#include <stdint.h>

#include "buf.h"
#include "eddy/handler.h"
#include "listener.h"
#include "loop.h"

enum {
    EDDY__CONN_CLOSING = 1 << 0, /* no more input; close once output is sent */
    EDDY__CONN_FAILED = 1 << 1,  /* a write failed: close now, drop output */
    EDDY__CONN_PAUSED = 1 << 2,  /* output above high water: not reading */
    EDDY__CONN_EOF = 1 << 3,     /* the peer sent FIN: close once output is sent */
    EDDY__CONN_RDHUP = 1 << 4,   /* FIN or error pending: read to the end, not to a short read */
    EDDY__CONN_INPOOL = 1 << 5,  /* a job is out in the pool: no reading, no freeing */
    EDDY__CONN_ACTIVE = 1 << 6,  /* has sent a byte: on lsock->active, not lsock->fresh */
    EDDY__CONN_PROXY_WAIT = 1 << 7, /* the PROXY header has not come yet: open() waits too */
    EDDY__CONN_OPENED = 1 << 8,  /* open() was called: close() will be */
    EDDY__CONN_CONNECTING = 1 << 9, /* outgoing, connect under way: sends queue, nothing is read */
    EDDY__CONN_OUTGOING = 1 << 10,  /* opened by eddy_connect (connect.c), not accepted */
    EDDY__CONN_RESET = 1 << 12,  /* eddy_conn_reset(): closes with a RST */
    EDDY__CONN_SHUTRD = 1 << 11, /* the peer sent FIN and peer_shutdown() took it: open until
                                    the handler closes */
    EDDY__CONN_TLS = 1 << 13,    /* I/O through ext->tls (tls.c); open() after the handshake */
    EDDY__CONN_HELD = 1 << 14,   /* eddy_conn_pause(): not reading */
    EDDY__CONN_SHUTWR = 1 << 15, /* eddy_conn_shutdown(): FIN once the output is sent */
};

struct eddy_conn {
    eddy__handle h;           /* first: the poller's event points here */
    eddy__lsock *lsock;       /* the listening socket it came from (and its loop) */
    eddy_listener *listener;  /* its handler and settings, fixed for its life (a reload
                                 changes lsock->listener for later connections only) */
    void *data;               /* the handler's */
    eddy__buf *in;            /* input the handler has not consumed yet */
    eddy__buf *out;           /* output the socket has not taken yet */
    eddy_conn *next, *prev;   /* its lsock's fresh or active list; next: the dead list */
    struct eddy__conn_ext *ext; /* what few connections need, made on first use, or NULL */
    uint32_t last;            /* loop->now at its last activity */
    uint32_t id;              /* "#id" in the log: unique among the server's connections */
#ifdef EDDY_URING_FAST
    uint32_t ring_len;        /* bytes of out the SEND of this turn was given */
    uint32_t ring_unseen;     /* bytes at the end of in that data() has not been shown */
    uint8_t ring;             /* EDDY__RING_*: read and written through the poller's ring */
#endif
};

#ifdef EDDY_URING_FAST
/* A plain TCP connection on the io_uring poller (conn.c's fast path). */
enum {
    EDDY__RING_READ = 1 << 0,    /* input from the multishot recv (EDDY__RECVD events) */
    EDDY__RING_WRITE = 1 << 1,   /* output by a SEND per turn (EDDY__SENT events) */
    EDDY__RING_RECV = 1 << 2,    /* the recv was last asked to be armed */
    EDDY__RING_SENDQ = 1 << 3,   /* on the loop's send list */
    EDDY__RING_SENDING = 1 << 4, /* a SEND went in; its completion not yet seen */
    EDDY__RING_ROOM = 1 << 5,    /* the socket had room again meanwhile (POLLOUT) */
    EDDY__RING_DRAIN = 1 << 6,   /* stopping: once the recv has ended, read to the end */
};
/* A RECVD or SENT event of c. */
void eddy__conn_ring_event(eddy_conn *c, const eddy__poll_event *ev);
/* Right before the loop waits: queue a SEND for each connection of l
 * with output (what each has at this moment, which stays put until the
 * wait returns). */
void eddy__conn_ring_submit(eddy__loop *l);
#endif

/* Kept out of struct eddy_conn so that an idle connection stays small. */
typedef struct eddy__conn_ext {
    struct sockaddr_storage addr; /* the client, when known without asking the socket */
    int has_addr;
    int counted;                  /* addr holds a place in the server's per-IP count */
    struct eddy_timer *timers;    /* the handler's */
    struct eddy__dial *dial;      /* an outgoing connection's connect under way (connect.c) */
    struct eddy_ref *ref;         /* its reference for other threads (ref.h), or NULL */
    struct eddy__call *deferred;  /* calls waiting for its pool job to come back */
    struct eddy__tls_conn *tls;   /* EDDY__CONN_TLS: its session */
    struct eddy__splice *sp_out;  /* eddy_conn_splice() from it (splice.h), or NULL */
    struct eddy__splice *sp_in;   /* eddy_conn_splice() to it, or NULL */
} eddy__conn_ext;

/* c's extension, made on first use; NULL when out of memory. */
eddy__conn_ext *eddy__conn_ext_get(eddy_conn *c);

static inline const eddy_listener *eddy__conn_listener(const eddy_conn *c)
{
    return c->listener;
}

/* Whether a send must be refused (-ENOBUFS, the connection closed) with
 * queued bytes already waiting for the peer: once they pass max_output.
 * The send that crosses it is taken whole, so a reply larger than
 * max_output (resp's GET of an 8 MiB value, under the 4m default) reaches
 * a peer that reads, while one that does not read makes eddy hold at most
 * max_output plus one send (which the handler bounds: a read's echo, a
 * value of at most max_bulk). */
static inline int eddy__output_over(size_t queued, const eddy_listener *ls)
{
    return queued > ls->max_output;
}

/* Take ownership of an accepted fd: register it and call open() (after
 * the PROXY header, on a listener that expects one).  peer: the client's
 * address from accept, or NULL; counted: it already holds a place in the
 * per-IP count. */
void eddy__conn_open(eddy__lsock *s, int fd, const struct sockaddr_storage *peer, int counted);
/* An outgoing connection (connect.c): fd, connecting to peer, on the
 * worker's outgoing socket s, serving ls (held): registered with the
 * poller, numbered, on s's fresh list, CONNECTING, and its close()
 * promised (OPENED: the handler holds it from the start).  NULL and a
 * negative errno in *err when it could not be made; fd stays the
 * caller's. */
eddy_conn *eddy__conn_attach(eddy__lsock *s, eddy_listener *ls, int fd,
                             const struct sockaddr_storage *peer, int *err);
/* The poller saw the connection ready: EDDY__READABLE, WRITABLE, HANGUP. */
void eddy__conn_event(eddy_conn *c, unsigned ready);
/* Its turn on the ready list: read on where the budget stopped. */
void eddy__conn_resume(eddy_conn *c);
/* Close now: call close(), free its buffers, mark the fd stale.  The
 * memory stays until the loop's turn ends (eddy__conn_free).  why is the
 * debug line that says so ("closed (idle timeout)"). */
void eddy__conn_destroy(eddy_conn *c, const char *why);
void eddy__conn_free(eddy_conn *c);
/* A line about c, "#42 127.0.0.1:5555: message", through rl (NULL: no
 * limit).  The level is checked before anything is formatted. */
#define eddy__conn_log(c, rl, level, ...)                      \
    do {                                                       \
        if (eddy__log_on(level))                               \
            eddy__conn_log_line(c, rl, level, __VA_ARGS__);    \
    } while (0)
void eddy__conn_log_line(eddy_conn *c, eddy__ratelimit *rl, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The handler meets c: its open() is called (a TLS connection's once its
 * handshake has completed). */
void eddy__conn_opened(eddy_conn *c);

/* The peer's FIN, read: the handler's peer_shutdown() (the connection
 * stays open), or a close once the output is sent.  -1 when c is gone. */
int eddy__conn_peer_shutdown(eddy_conn *c);

/* Free the handler's timers of c (handler_timer.c). */
void eddy__conn_free_timers(eddy_conn *c);
/* After a callback outside the read path (a handler timer): act on what
 * it asked (send, close). */
void eddy__conn_settle(eddy_conn *c);
/* Stopping gracefully: read what has arrived, answer it, then close once
 * the output is sent. */
void eddy__conn_drain(eddy_conn *c);
/* Close, counted as a timeout, the connections of s whose idle or
 * first-byte timeout has passed; returns the ms until the next one is
 * due, or -1 when none can be. */
long eddy__conn_expire(eddy__lsock *s, uint32_t now);

#endif
