/* core/splice.h - a connection's input moved to another connection by
 * splice(2) through a pipe, without a copy into user space and without
 * data(): eddy_conn_splice() of eddy/handler.h.
 *
 * A link (from -> to) is made by the handler and lasts until either side
 * closes.  Bytes go through data() as usual until a read fills the whole
 * read room (a stream is flowing): then the link takes a pipe and splices,
 * socket to pipe to socket, until a read brings little (the stream
 * paused) with the pipe empty, when the pipe is closed and data() has the
 * bytes again.  conn.c calls in at those points. */
#ifndef EDDY_CORE_SPLICE_H
#define EDDY_CORE_SPLICE_H

#include "conn.h"

typedef struct eddy__splice {
    eddy_conn *from, *to;
    int rd, wr;               /* the pipe while splicing, else -1 */
    size_t len;               /* bytes in the pipe */
    unsigned long long moved; /* bytes spliced so far (eddy_conn_spliced) */
    int eof;                  /* from's FIN came: told once the pipe is empty */
} eddy__splice;

/* Is c's input being spliced now (its link holds a pipe)? */
static inline int eddy__splice_on(const eddy_conn *c)
{
    return c->ext && c->ext->sp_out && c->ext->sp_out->rd >= 0;
}

/* Bytes spliced toward c and not yet taken by its socket. */
static inline size_t eddy__splice_pending(const eddy_conn *c)
{
    return c->ext && c->ext->sp_in ? c->ext->sp_in->len : 0;
}

/* c's read filled the whole read room: if c is linked, and nothing of it
 * is unconsumed nor queued on its peer, take a pipe (when a descriptor is
 * free under max_connections) and splice its next reads. */
void eddy__splice_start(eddy_conn *c);
/* A read turn of c while it splices: pipe into the peer first, then the
 * socket into the pipe, up to the loop's read budget; c's FIN goes to
 * peer_shutdown() once the pipe is empty.  -1 when c is gone. */
int eddy__splice_read(eddy_conn *c);
/* c is writable: the pipe into it first; once it is empty its source
 * reads on (or hears its FIN). */
void eddy__splice_writable(eddy_conn *c);
/* c closes: end its links, both ways (a pipe's bytes are dropped: the
 * handler resets the peer of a side that ended badly). */
void eddy__splice_end(eddy_conn *c);

#endif
