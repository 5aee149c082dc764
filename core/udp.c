/* core/udp.c - UDP: recvmmsg in, the handler's datagram() per datagram,
 * sendmmsg out.
 *
 * No amplification: UDP source addresses can be spoofed and eddy runs no
 * handshake over UDP, so no peer ever counts as proven.  Every reply is
 * held to the listener's max_amplification (default 3, as QUIC's limit for
 * unvalidated addresses) times the request, both measured on the wire
 * (payload plus the 28-byte IPv4 or 48-byte IPv6 and UDP headers), and to
 * the largest UDP payload (65,507 bytes).  A reply over either is dropped
 * and counted, never truncated.
 */
#include "udp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "listener.h"

enum {
    UDP_BATCH = 16,        /* datagrams per recvmmsg */
    UDP_BATCHES = 4,       /* batches per socket per turn */
    UDP_BUF = 64 * 1024,   /* room for any datagram */
};

struct eddy__udp {
    struct mmsghdr in[UDP_BATCH], out[UDP_BATCH];
    struct iovec in_iov[UDP_BATCH], out_iov[UDP_BATCH];
    struct sockaddr_storage peers[UDP_BATCH];
    char *in_buf, *out_buf; /* UDP_BATCH slots of UDP_BUF bytes each */
};

struct eddy_dgram {
    const eddy_listener *listener;
    const struct sockaddr_storage *peer;
    size_t request_len;
    char *out;     /* a slot of UDP_BUF bytes */
    size_t out_len;
    int replied;
    int dropped;
};

/* A socket's batch buffers, each slot starting on a page as eddy's stream
 * buffers do (buf.h): malloc would put 1 MiB 16 bytes into a mapping, and
 * the kernel copies into and out of every slot. */
static struct eddy__udp *udp_new(void)
{
    struct eddy__udp *u = calloc(1, sizeof(*u));
    if (u) {
        u->in_buf = aligned_alloc(4096, (size_t)UDP_BATCH * UDP_BUF);
        u->out_buf = aligned_alloc(4096, (size_t)UDP_BATCH * UDP_BUF);
    }
    if (u && (!u->in_buf || !u->out_buf)) {
        free(u->in_buf);
        free(u->out_buf);
        free(u);
        u = NULL;
    }
    return u;
}

void eddy__udp_free(eddy__loop *l)
{
    if (!l->udp)
        return;
    free(l->udp->in_buf);
    free(l->udp->out_buf);
    free(l->udp);
    l->udp = NULL;
}

int eddy_dgram_replyv(eddy_dgram *d, const struct iovec *iov, int iovcnt)
{
    if (d->replied || d->dropped)
        return -EBUSY;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    size_t header = d->peer->ss_family == AF_INET6 ? 48 : 28;
    unsigned factor = d->listener->max_amplification;
    if (total > EDDY__UDP_MAX_PAYLOAD ||
        (factor && total + header > (size_t)factor * (d->request_len + header))) {
        d->dropped = 1;
        return -EMSGSIZE;
    }
    for (int i = 0; i < iovcnt; i++) {
        memcpy(d->out + d->out_len, iov[i].iov_base, iov[i].iov_len);
        d->out_len += iov[i].iov_len;
    }
    d->replied = 1;
    return 0;
}

int eddy_dgram_reply(eddy_dgram *d, const void *buf, size_t len)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    return eddy_dgram_replyv(d, &iov, 1);
}

void *eddy_dgram_state(const eddy_dgram *d)
{
    return d->listener->state;
}

void eddy_dgram_peer(const eddy_dgram *d, char *buf, size_t len)
{
    eddy__sockaddr_format(d->peer, buf, len);
}

/* Send the batch's replies; what the socket refuses is dropped, counted. */
static void send_replies(eddy__lsock *s, struct mmsghdr *out, int n)
{
    int off = 0;
    while (off < n) {
        int r = sendmmsg(s->h.fd, out + off, (unsigned)(n - off), MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            eddy__count(&s->n.datagrams_dropped, (unsigned long long)(n - off));
            return;
        }
        eddy__count(&s->n.datagrams_out, (unsigned long long)r);
        for (int i = off; i < off + r; i++)
            eddy__count(&s->n.bytes_out, out[i].msg_hdr.msg_iov->iov_len);
        off += r;
    }
}

void eddy__udp_read(eddy__loop *l, eddy__lsock *s)
{
    /* Out of memory: the datagrams wait in the socket.  Not requeued (that
     * would spin while memory stays short); every datagram that arrives
     * raises a new edge and so retries. */
    if (!l->udp && !(l->udp = udp_new())) {
        eddy__count(&s->n.errors_nomem, 1);
        eddy__log_limited(&l->rl_error, EDDY__LOG_ERROR, "udp %s: out of memory",
                          s->listener->bound);
        return;
    }
    struct eddy__udp *u = l->udp;
    const eddy_listener *ls = s->listener;
    for (int batch = 0; batch < UDP_BATCHES; batch++) {
        for (int i = 0; i < UDP_BATCH; i++) {
            u->in_iov[i].iov_base = u->in_buf + (size_t)i * UDP_BUF;
            u->in_iov[i].iov_len = UDP_BUF;
            u->in[i].msg_hdr = (struct msghdr){.msg_name = &u->peers[i],
                                               .msg_namelen = sizeof(u->peers[i]),
                                               .msg_iov = &u->in_iov[i],
                                               .msg_iovlen = 1};
        }
        int n = recvmmsg(s->h.fd, u->in, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                eddy__log_limited(&l->rl_error, EDDY__LOG_ERROR, "udp %s: %s", ls->bound,
                                  eddy_strerror(-errno));
            return;
        }
        eddy__count(&s->n.datagrams_in, (unsigned long long)n);
        int nout = 0;
        for (int i = 0; i < n; i++) {
            eddy__count(&s->n.bytes_in, u->in[i].msg_len);
            eddy_dgram d = {.listener = ls,
                            .peer = &u->peers[i],
                            .request_len = u->in[i].msg_len,
                            .out = u->out_buf + (size_t)nout * UDP_BUF};
            ls->handler->datagram(&d, u->in_iov[i].iov_base, u->in[i].msg_len);
            if (d.dropped)
                eddy__count(&s->n.datagrams_dropped, 1);
            if (!d.replied)
                continue;
            u->out_iov[nout] = (struct iovec){.iov_base = d.out, .iov_len = d.out_len};
            u->out[nout].msg_hdr = (struct msghdr){.msg_name = &u->peers[i],
                                                   .msg_namelen = u->in[i].msg_hdr.msg_namelen,
                                                   .msg_iov = &u->out_iov[nout],
                                                   .msg_iovlen = 1};
            nout++;
        }
        if (nout)
            send_replies(s, u->out, nout);
        if (n < UDP_BATCH)
            return; /* drained */
    }
    eddy__loop_queue(l, &s->h); /* budget spent: the others first */
}
