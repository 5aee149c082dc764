/* core/tls.h - TLS under a connection's I/O seam (OpenSSL 3).
 *
 * A listener with certificates holds an eddy__tls: one SSL_CTX per set of
 * server names (an ECDSA and an RSA certificate for the same names share
 * one), chosen by the client's SNI, the first being the default.  A
 * connection accepted on it carries an SSL* in its extension and the
 * EDDY__CONN_TLS flag, and io.h's calls branch to the functions below, so
 * that the loop and the handlers see plaintext only.
 *
 * The handshake runs inside eddy__tls_read(), non-blocking: WANT_READ
 * waits for the next readable edge (OpenSSL read the socket to EAGAIN),
 * WANT_WRITE for the next writable one (eddy__tls_ready() turns that edge
 * into a read).  The handler's open() runs once it has completed.
 *
 * Kernel TLS would slot in at eddy__tls_conn_start()'s end: after the
 * handshake, with SSL_OP_ENABLE_KTLS, BIO_get_ktls_send/recv say whether
 * the kernel took the record layer; the connection would then drop
 * EDDY__CONN_TLS and use the plain calls of io.h again. */
#ifndef EDDY_CORE_TLS_H
#define EDDY_CORE_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "eddy/eddy.h"

enum { EDDY__TLS_VERIFY_OFF, EDDY__TLS_VERIFY_ON, EDDY__TLS_VERIFY_OPTIONAL };

/* A certificate chain (PEM) and its key, with the lines that named them. */
typedef struct eddy__tls_pair {
    char *cert, *key;
    int cert_line, key_line;
} eddy__tls_pair;

/* What a listen block says about TLS (config.c's eddy__cfg_tls), each
 * value with its line for messages; the strings are the config's. */
typedef struct eddy__tls_settings {
    const eddy__tls_pair *pairs; /* in order; the first is the default */
    size_t npairs;
    const char *protocols; /* "TLSv1.2 TLSv1.3" or one of them */
    const char *ciphers;   /* the TLS 1.2 list, or NULL: OpenSSL's default */
    const char *alpn;      /* ALPN protocols, space-separated, or NULL */
    const char *client_ca; /* CAs that client certificates must chain to, or NULL */
    int verify_client;     /* EDDY__TLS_VERIFY_* */
    int session_tickets;   /* resumption by stateless tickets */
    long handshake_timeout_ms;
    int protocols_line, ciphers_line, alpn_line, client_ca_line;
} eddy__tls_settings;

typedef struct eddy__tls eddy__tls;

/* A listener's TLS from its settings: every file read, every key checked
 * against its certificate.  0, or -EINVAL with "FILE:LINE: what" in err
 * (file: the configuration's name). */
int eddy__tls_new(const eddy__tls_settings *s, const char *file, eddy__tls **out, char *err,
                  size_t errlen);
void eddy__tls_free(eddy__tls *t);
/* A certificate of s that has expired or expires within 30 days: 1 with
 * "FILE:LINE: ..." in msg; 0 when none does. */
int eddy__tls_check_expiry(const eddy__tls_settings *s, const char *file, char *msg,
                           size_t msglen);

/* A connection accepted on a TLS listener: its SSL, its handshake timer.
 * 0 or -ENOMEM. */
int eddy__tls_conn_start(eddy_conn *c, eddy__tls *t);
/* Before its socket closes: close_notify when the session is sound and
 * the connection did not fail (a write error, eddy_conn_reset), then free
 * its SSL. */
void eddy__tls_conn_end(eddy_conn *c);

/* io.h's calls on a TLS connection, with their contract. */
ssize_t eddy__tls_read(eddy_conn *c, const struct iovec *iov, int cnt);
ssize_t eddy__tls_write(eddy_conn *c, const struct iovec *iov, int cnt);
void eddy__tls_shutdown(eddy_conn *c);
/* The poller's readiness as the connection should act on it: an edge the
 * TLS layer waits for in the other direction becomes that direction. */
unsigned eddy__tls_ready(eddy_conn *c, unsigned ready);

#endif
