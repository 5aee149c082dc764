/* core/io.h - the I/O seam under a connection: every byte a connection
 * reads or writes, and its last words, go through these calls.
 *
 * Plain sockets, or TLS (tls.c) on a connection with EDDY__CONN_TLS: one
 * predictable branch, so that neither the loop nor a handler knows it is
 * there.  Each call retries EINTR itself and returns
 * bytes moved, 0 at the end of input, or a negative errno (-EAGAIN: not
 * ready; wait for the poller's next edge). */
#ifndef EDDY_CORE_IO_H
#define EDDY_CORE_IO_H

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "conn.h"
#include "tls.h"

/* Read into iov[0..cnt) (cnt 1 or 2).  One buffer goes through recv(),
 * which skips the VFS layer that read() and readv() cross: about 80 ns
 * less than read() and 230 ns less than readv() per call on a loopback
 * TCP socket (a connection's fd is always a socket). */
static inline ssize_t eddy__io_read(eddy_conn *c, const struct iovec *iov, int cnt)
{
    if (c->h.flags & EDDY__CONN_TLS)
        return eddy__tls_read(c, iov, cnt);
    ssize_t n;
    do
        n = cnt == 1 ? recv(c->h.fd, iov[0].iov_base, iov[0].iov_len, 0)
                     : readv(c->h.fd, iov, cnt);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

/* Write iov[0..cnt) as far as the socket takes it.  One buffer (every
 * reply of a handler that gathers its replies, as http and resp do) goes
 * through send(), several through sendmsg(): both skip the VFS layer of
 * writev(), and MSG_NOSIGNAL makes a closed peer an EPIPE even where
 * SIGPIPE is not ignored (an embedder's program). */
static inline ssize_t eddy__io_write(eddy_conn *c, const struct iovec *iov, int cnt)
{
    if (c->h.flags & EDDY__CONN_TLS)
        return eddy__tls_write(c, iov, cnt);
    ssize_t n;
    if (cnt == 1) {
        do
            n = send(c->h.fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
    } else { /* the msghdr only here: zeroing it costs the one-buffer path 11 instructions */
        struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
        do
            n = sendmsg(c->h.fd, &m, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
    }
    return n < 0 ? -errno : n;
}

/* End our side of the stream (close_notify on TLS, then a FIN), leaving
 * input readable. */
static inline void eddy__io_shutdown(eddy_conn *c)
{
    if (c->h.flags & EDDY__CONN_TLS)
        eddy__tls_shutdown(c);
    shutdown(c->h.fd, SHUT_WR);
}

#endif
