/* core/tls.c - TLS under the I/O seam: a listener's contexts (certificates
 * by server name), a connection's session, and io.h's read, write and
 * shutdown over it.
 *
 * Every session: TLS 1.2 and 1.3 only (tls_protocols narrows), no
 * renegotiation, no compression, record buffers released while idle
 * (SSL_MODE_RELEASE_BUFFERS: an idle connection holds no 16 KiB buffer),
 * partial writes (a write returns after each record, so that the
 * connection's own buffer keeps what the socket did not take), and a
 * peer's missing close_notify read as the end of input, as nginx does.
 * Resumption is by stateless tickets (tls_session_tickets), whose keys
 * OpenSSL makes with each context: a reload builds new contexts, so it
 * rotates them; open connections keep theirs through their listener. */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "conn.h"
#include "log.h"
#include "timer.h"

/* Certificates for one set of server names (one per key type). */
typedef struct site {
    SSL_CTX *ctx;
    char **names; /* DNS names (or the subject's CN), lower case; "*.x" wildcards */
    size_t nnames;
    unsigned key_types; /* bit per EVP_PKEY id it holds, to pair ECDSA with RSA */
} site;

struct eddy__tls {
    site *sites; /* [0]: the default, for clients without SNI or a name not served */
    size_t nsites;
    unsigned char *alpn; /* the server's protocols, wire form, in preference order */
    size_t alpn_len;
    long handshake_timeout_ms;
};

enum { WANT_WRITABLE = 1, WANT_READABLE = 2 }; /* eddy__tls_conn.want */

typedef struct eddy__tls_conn {
    eddy__timer timer; /* first: the handshake's deadline */
    SSL *ssl;
    eddy_conn *conn;
    unsigned char want;   /* a read waits for a writable edge, or a write for a readable one */
    unsigned char broken; /* a fatal error or a failed handshake: no close_notify */
    unsigned char drained; /* the last read of the socket was short: it is empty */
} eddy__tls_conn;

static eddy__tls_conn *tls_of(const eddy_conn *c)
{
    return c->ext->tls;
}

/* ---- contexts ------------------------------------------------------- */

/* "FILE:LINE: " and what, with OpenSSL's first queued reason. */
static int fail(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    unsigned long e = ERR_peek_error();
    char reason[160] = "";
    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    const char *r = e && ERR_reason_error_string(e) ? ERR_reason_error_string(e) : reason;
    snprintf(err, errlen, "%s:%d: %s%s%s", file, line, what, e ? ": " : "", e ? r : "");
    ERR_clear_error();
    return -EINVAL;
}

/* The first certificate of a PEM file, or NULL. */
static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "re");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    return x;
}

static int add_name(site *s, const char *name, size_t len)
{
    char **n = realloc(s->names, (s->nnames + 1) * sizeof(*n));
    if (!n)
        return -ENOMEM;
    s->names = n;
    if (!(n[s->nnames] = strndup(name, len)))
        return -ENOMEM;
    for (char *p = n[s->nnames]; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    s->nnames++;
    return 0;
}

/* The names a certificate serves: its DNS subjectAltNames, else its CN. */
static int cert_names(X509 *x, site *s)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int rc = 0;
    for (int i = 0; rc == 0 && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS)
            rc = add_name(s, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                          (size_t)ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
    if (rc == 0 && s->nnames == 0) {
        char cn[256];
        int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
        if (n > 0)
            rc = add_name(s, cn, (size_t)n);
    }
    return rc;
}

static int same_names(const site *a, const site *b)
{
    if (a->nnames != b->nnames)
        return 0;
    for (size_t i = 0; i < a->nnames; i++)
        if (strcmp(a->names[i], b->names[i]) != 0)
            return 0;
    return 1;
}

/* Does the server name (any case) match name, "*.example.com" matching
 * exactly one label? */
static int name_matches(const char *pattern, const char *name)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(name, '.');
        return dot && dot != name && strcasecmp(dot, pattern + 1) == 0;
    }
    return strcasecmp(pattern, name) == 0;
}

/* SNI: the site whose certificate names the server name, else the default. */
static int choose_site(SSL *ssl, int *alert, void *arg)
{
    const eddy__tls *t = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    (void)alert;
    for (size_t i = 1; name && i < t->nsites; i++)
        for (size_t k = 0; k < t->sites[i].nnames; k++)
            if (name_matches(t->sites[i].names[k], name)) {
                SSL_set_SSL_CTX(ssl, t->sites[i].ctx);
                return SSL_TLSEXT_ERR_OK;
            }
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN: the first of the server's protocols that the client offers; none
 * in common goes on without ALPN. */
static int choose_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    const eddy__tls *t = arg;
    unsigned char *sel;
    (void)ssl;
    if (SSL_select_next_proto(&sel, outlen, t->alpn, (unsigned)t->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* A context with the listener's settings and no certificate yet. */
static SSL_CTX *new_ctx(const eddy__tls_settings *s, eddy__tls *t, const char *file, char *err,
                        size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        fail(err, errlen, file, s->pairs[0].cert_line, "TLS: out of memory");
        return NULL;
    }
    int v12 = strstr(s->protocols, "TLSv1.2") != NULL, v13 = strstr(s->protocols, "TLSv1.3") != NULL;
    SSL_CTX_set_min_proto_version(ctx, v12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, v13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 (s->session_tickets ? 0 : SSL_OP_NO_TICKET));
    SSL_CTX_set_read_ahead(ctx, 1); /* a record's header and body in one read(), and the next */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (!s->session_tickets)
        SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"eddy", 4);
    SSL_CTX_set_tlsext_servername_callback(ctx, choose_site);
    SSL_CTX_set_tlsext_servername_arg(ctx, t);
    if (t->alpn)
        SSL_CTX_set_alpn_select_cb(ctx, choose_alpn, t);
    if (s->ciphers && !SSL_CTX_set_cipher_list(ctx, s->ciphers)) {
        fail(err, errlen, file, s->ciphers_line, "tls_ciphers: no cipher of '%s' is known",
             s->ciphers);
        goto bad;
    }
    if (s->client_ca) {
        STACK_OF(X509_NAME) *cas = SSL_load_client_CA_file(s->client_ca);
        if (!cas || !SSL_CTX_load_verify_locations(ctx, s->client_ca, NULL)) {
            sk_X509_NAME_pop_free(cas, X509_NAME_free);
            fail(err, errlen, file, s->client_ca_line,
                 "tls_client_certificate %s: cannot read CA certificates", s->client_ca);
            goto bad;
        }
        SSL_CTX_set_client_CA_list(ctx, cas);
    }
    int verify = s->verify_client == EDDY__TLS_VERIFY_ON
                     ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                 : s->verify_client == EDDY__TLS_VERIFY_OPTIONAL ? SSL_VERIFY_PEER
                                                                 : SSL_VERIFY_NONE;
    SSL_CTX_set_verify(ctx, verify, NULL);
    return ctx;
bad:
    SSL_CTX_free(ctx);
    return NULL;
}

/* Can path be read?  Else "FILE:LINE: what PATH: why". */
static int readable(const char *path, const char *what, const char *file, int line, char *err,
                    size_t errlen)
{
    if (access(path, R_OK) == 0)
        return 0;
    int e = errno;
    snprintf(err, errlen, "%s:%d: %s %s: %s", file, line, what, path, strerror(e));
    return -EINVAL;
}

/* Load pair p into the site for its names (a new one, or the one whose
 * certificate names the same hosts with another key type). */
static int add_pair(eddy__tls *t, const eddy__tls_settings *s, const eddy__tls_pair *p,
                    const char *file, char *err, size_t errlen)
{
    if (readable(p->cert, "tls_certificate", file, p->cert_line, err, errlen) < 0 ||
        readable(p->key, "tls_certificate_key", file, p->key_line, err, errlen) < 0)
        return -EINVAL;
    X509 *x = read_cert(p->cert);
    if (!x)
        return fail(err, errlen, file, p->cert_line, "tls_certificate %s: no PEM certificate",
                    p->cert);
    site probe = {0};
    int type = EVP_PKEY_get_base_id(X509_get0_pubkey(x));
    unsigned bit = 1u << (type & 31);
    int rc = cert_names(x, &probe);
    X509_free(x);
    site *into = NULL;
    for (size_t i = 0; rc == 0 && i < t->nsites && !into; i++)
        if (same_names(&t->sites[i], &probe) && !(t->sites[i].key_types & bit))
            into = &t->sites[i];
    if (rc == 0 && !into) {
        site *grown = realloc(t->sites, (t->nsites + 1) * sizeof(*grown));
        if (!grown)
            rc = -ENOMEM;
        else if (!((t->sites = grown)[t->nsites].ctx = new_ctx(s, t, file, err, errlen)))
            rc = -EINVAL;
        else {
            into = &t->sites[t->nsites++];
            into->names = probe.names;
            into->nnames = probe.nnames;
            into->key_types = 0;
            probe.names = NULL;
            probe.nnames = 0;
        }
    }
    for (size_t i = 0; i < probe.nnames; i++)
        free(probe.names[i]);
    free(probe.names);
    if (rc == -ENOMEM)
        return fail(err, errlen, file, p->cert_line, "out of memory");
    if (rc < 0)
        return rc;
    into->key_types |= bit;
    if (SSL_CTX_use_certificate_chain_file(into->ctx, p->cert) != 1)
        return fail(err, errlen, file, p->cert_line, "tls_certificate %s", p->cert);
    if (SSL_CTX_use_PrivateKey_file(into->ctx, p->key, SSL_FILETYPE_PEM) != 1 &&
        ERR_GET_REASON(ERR_peek_error()) != X509_R_KEY_VALUES_MISMATCH)
        return fail(err, errlen, file, p->key_line, "tls_certificate_key %s", p->key);
    if (ERR_peek_error() || SSL_CTX_check_private_key(into->ctx) != 1)
        return fail(err, errlen, file, p->key_line,
                    "tls_certificate_key %s does not match the certificate %s", p->key, p->cert);
    return 0;
}

/* ALPN's wire form of space-separated names: each after its length byte. */
static int alpn_wire(eddy__tls *t, const char *words)
{
    if (!(t->alpn = malloc(strlen(words) + 1)))
        return -ENOMEM;
    for (const char *p = words; *p;) {
        size_t n = strcspn(p, " ");
        if (n == 0 || n > 255)
            return -EINVAL;
        t->alpn[t->alpn_len++] = (unsigned char)n;
        memcpy(t->alpn + t->alpn_len, p, n);
        t->alpn_len += n;
        p += n + (p[n] == ' ');
    }
    return 0;
}

int eddy__tls_new(const eddy__tls_settings *s, const char *file, eddy__tls **out, char *err,
                  size_t errlen)
{
    eddy__tls *t = calloc(1, sizeof(*t));
    if (!t)
        return fail(err, errlen, file, s->pairs[0].cert_line, "out of memory");
    t->handshake_timeout_ms = s->handshake_timeout_ms;
    int rc = s->alpn ? alpn_wire(t, s->alpn) : 0;
    if (rc < 0) {
        eddy__tls_free(t);
        return fail(err, errlen, file, s->alpn_line, "%s",
                    rc == -ENOMEM ? "out of memory"
                                  : "tls_alpn: each protocol name is 1 to 255 bytes");
    }
    ERR_clear_error();
    for (size_t i = 0; i < s->npairs; i++)
        if (add_pair(t, s, &s->pairs[i], file, err, errlen) < 0) {
            eddy__tls_free(t);
            return -EINVAL;
        }
    *out = t;
    return 0;
}

void eddy__tls_free(eddy__tls *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nsites; i++) {
        SSL_CTX_free(t->sites[i].ctx);
        for (size_t k = 0; k < t->sites[i].nnames; k++)
            free(t->sites[i].names[k]);
        free(t->sites[i].names);
    }
    free(t->sites);
    free(t->alpn);
    free(t);
}

int eddy__tls_check_expiry(const eddy__tls_settings *s, const char *file, char *msg,
                           size_t msglen)
{
    for (size_t i = 0; i < s->npairs; i++) {
        X509 *x = read_cert(s->pairs[i].cert);
        const ASN1_TIME *end = x ? X509_get0_notAfter(x) : NULL;
        int days = 0, secs = 0;
        struct tm tm;
        char date[32] = "?";
        if (end && ASN1_TIME_to_tm(end, &tm) == 1)
            strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
        int known = end && ASN1_TIME_diff(&days, &secs, NULL, end) == 1;
        X509_free(x);
        if (!known || (days >= 30 && secs >= 0) || days > 30)
            continue;
        if (days < 0 || secs < 0)
            snprintf(msg, msglen, "%s:%d: tls_certificate %s expired on %s", file,
                     s->pairs[i].cert_line, s->pairs[i].cert, date);
        else
            snprintf(msg, msglen, "%s:%d: tls_certificate %s expires in %d days, on %s", file,
                     s->pairs[i].cert_line, s->pairs[i].cert, days, date);
        return 1;
    }
    return 0;
}

/* ---- sessions ------------------------------------------------------- */

/* The handshake took longer than tls_handshake_timeout. */
static void handshake_expired(eddy__timer *timer)
{
    eddy__tls_conn *t = (eddy__tls_conn *)timer;
    eddy_conn *c = t->conn;
    eddy__count(&c->lsock->n.tls_failed_timeout, 1);
    t->broken = 1;
    eddy__conn_destroy(c, "closed (TLS handshake timeout)");
}

/* The socket BIO's reads: one shorter than asked emptied the socket, as
 * on the plain path (the loop's "less than the room means drained"). */
static long note_read(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
                      size_t *processed)
{
    (void)argp, (void)argi, (void)argl;
    if (oper == (BIO_CB_READ | BIO_CB_RETURN)) {
        eddy__tls_conn *t = (eddy__tls_conn *)BIO_get_callback_arg(b);
        t->drained = ret <= 0 || !processed || *processed < len;
    }
    return ret;
}

int eddy__tls_conn_start(eddy_conn *c, eddy__tls *tls)
{
    eddy__tls_conn *t = calloc(1, sizeof(*t));
    if (!t || !(t->ssl = SSL_new(tls->sites[0].ctx)) || !SSL_set_fd(t->ssl, c->h.fd)) {
        if (t)
            SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return -ENOMEM;
    }
    SSL_set_accept_state(t->ssl);
    BIO_set_callback_ex(SSL_get_rbio(t->ssl), note_read);
    BIO_set_callback_arg(SSL_get_rbio(t->ssl), (char *)t);
    t->conn = c;
    eddy__timer_init(&t->timer, handshake_expired);
    eddy__loop *l = c->lsock->loop;
    if (tls->handshake_timeout_ms &&
        eddy__timers_arm(&l->timers, &t->timer, l->now + (uint32_t)tls->handshake_timeout_ms) < 0) {
        SSL_free(t->ssl);
        free(t);
        return -ENOMEM;
    }
    c->ext->tls = t;
    c->h.flags |= EDDY__CONN_TLS;
    return 0;
}

void eddy__tls_conn_end(eddy_conn *c)
{
    eddy__tls_conn *t = tls_of(c);
    eddy__timers_disarm(&c->lsock->loop->timers, &t->timer);
    if (!(c->h.flags & EDDY__CONN_FAILED)) /* a write failed, or a reset: nothing more is sent */
        eddy__tls_shutdown(c);
    SSL_free(t->ssl);
    free(t);
    c->ext->tls = NULL;
    c->h.flags &= (uint16_t)~EDDY__CONN_TLS;
}

/* Why a handshake failed, counted by reason. */
static void count_failure(eddy_conn *c, int ssl_error)
{
    eddy__counters *n = &c->lsock->n;
    unsigned long e = ERR_peek_error();
    int reason = ERR_GET_REASON(e);
    if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN ||
        reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        eddy__count(&n->tls_failed_closed, 1);
    else if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
             reason == SSL_R_VERSION_TOO_LOW || reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
        eddy__count(&n->tls_failed_version, 1);
    else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ||
             reason == SSL_R_CERTIFICATE_VERIFY_FAILED)
        eddy__count(&n->tls_failed_certificate, 1);
    else
        eddy__count(&n->tls_failed_protocol, 1);
    if (eddy__log_on(EDDY__LOG_DEBUG)) {
        char why[200] = "connection closed";
        if (e)
            ERR_error_string_n(e, why, sizeof(why));
        eddy__conn_log_line(c, NULL, EDDY__LOG_DEBUG, "TLS handshake failed: %s", why);
    }
}

/* Drive the handshake.  0 once it has completed (the handler has met the
 * connection), -EAGAIN while it waits for an edge, another -errno when it
 * failed. */
static int handshake(eddy_conn *c, eddy__tls_conn *t)
{
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        eddy__counters *n = &c->lsock->n;
        eddy__timers_disarm(&c->lsock->loop->timers, &t->timer);
        eddy__count(SSL_version(t->ssl) == TLS1_3_VERSION ? &n->tls_v13 : &n->tls_v12, 1);
        if (SSL_session_reused(t->ssl))
            eddy__count(&n->tls_resumed, 1);
        eddy__conn_opened(c);
        return 0;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        return -EAGAIN;
    if (e == SSL_ERROR_WANT_WRITE) {
        t->want |= WANT_WRITABLE;
        return -EAGAIN;
    }
    count_failure(c, e);
    t->broken = 1;
    ERR_clear_error();
    return e == SSL_ERROR_SYSCALL && errno ? -errno : -EPROTO;
}

/* A read or write that failed for good: its -errno. */
static ssize_t broken(eddy__tls_conn *t, int e)
{
    int err = errno;
    ERR_clear_error();
    if (e == SSL_ERROR_SYSCALL && err)
        return -err; /* ECONNRESET, EPIPE */
    t->broken = 1;
    return e == SSL_ERROR_SYSCALL ? -EPIPE : -EPROTO;
}

/* Fill iov while records come: a short count means the socket is empty
 * (OpenSSL met EAGAIN, or its last read of the socket was short with
 * nothing left buffered in the session: no extra read to EAGAIN), so that
 * the loop's "less than the room means drained" holds and no plaintext is
 * left inside the session waiting for an edge that will not come.  The
 * end of input (close_notify, or a FIN without it) or an error after some
 * bytes is kept for the next call (RDHUP makes the loop come back). */
ssize_t eddy__tls_read(eddy_conn *c, const struct iovec *iov, int cnt)
{
    eddy__tls_conn *t = tls_of(c);
    t->want &= (unsigned char)~WANT_WRITABLE;
    if (!SSL_is_init_finished(t->ssl)) {
        int rc = handshake(c, t);
        if (rc < 0)
            return rc;
        if (c->h.flags & (EDDY__CONN_CLOSING | EDDY__CONN_FAILED))
            return -EAGAIN; /* open() refused it: settle() closes it */
    }
    size_t total = 0;
    for (int i = 0; i < cnt; i++) {
        size_t off = 0;
        while (off < iov[i].iov_len) {
            size_t got = 0;
            ERR_clear_error();
            if (SSL_read_ex(t->ssl, (char *)iov[i].iov_base + off, iov[i].iov_len - off, &got)) {
                off += got;
                total += got;
                if (t->drained && !SSL_has_pending(t->ssl) && off < iov[i].iov_len)
                    return (ssize_t)total;
                continue;
            }
            int e = SSL_get_error(t->ssl, 0);
            if (e == SSL_ERROR_WANT_WRITE)
                t->want |= WANT_WRITABLE;
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return total ? (ssize_t)total : -EAGAIN;
            if (total) {
                c->h.flags |= EDDY__CONN_RDHUP;
                return (ssize_t)total;
            }
            return e == SSL_ERROR_ZERO_RETURN ? 0 : broken(t, e);
        }
    }
    return (ssize_t)total;
}

/* Write iov as records until the socket is full.  Small pieces are joined
 * into one record (a header and its body: one record, one syscall).  A
 * write that must wait is retried from the connection's output buffer,
 * which starts with the same bytes and is at least as long, as OpenSSL
 * requires (with a moving buffer). */
ssize_t eddy__tls_write(eddy_conn *c, const struct iovec *iov, int cnt)
{
    eddy__tls_conn *t = tls_of(c);
    char chunk[16384];
    size_t total = 0, off = 0;
    int i = 0;
    t->want &= (unsigned char)~WANT_READABLE;
    if (!SSL_is_init_finished(t->ssl))
        return -EAGAIN;
    while (i < cnt) {
        if (off == iov[i].iov_len) {
            i++, off = 0;
            continue;
        }
        const char *p = (const char *)iov[i].iov_base + off;
        size_t len = iov[i].iov_len - off;
        if (len < sizeof(chunk) && i + 1 < cnt) { /* join what follows */
            memcpy(chunk, p, len);
            for (int k = i + 1; k < cnt && len < sizeof(chunk); k++) {
                size_t take = iov[k].iov_len < sizeof(chunk) - len ? iov[k].iov_len
                                                                    : sizeof(chunk) - len;
                memcpy(chunk + len, iov[k].iov_base, take);
                len += take;
            }
            p = chunk;
        }
        size_t done = 0;
        ERR_clear_error();
        if (!SSL_write_ex(t->ssl, p, len, &done)) {
            int e = SSL_get_error(t->ssl, 0);
            if (e == SSL_ERROR_WANT_READ)
                t->want |= WANT_READABLE;
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return total ? (ssize_t)total : -EAGAIN;
            ssize_t err = broken(t, e);
            return total ? (ssize_t)total : err;
        }
        total += done;
        while (done) { /* step over what went */
            size_t step = iov[i].iov_len - off < done ? iov[i].iov_len - off : done;
            off += step;
            done -= step;
            if (off == iov[i].iov_len && i + 1 < cnt)
                i++, off = 0;
        }
    }
    return (ssize_t)total;
}

void eddy__tls_shutdown(eddy_conn *c)
{
    eddy__tls_conn *t = tls_of(c);
    if (t->broken || !SSL_is_init_finished(t->ssl) || (SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN))
        return;
    ERR_clear_error();
    SSL_shutdown(t->ssl); /* sends close_notify; the peer's is not waited for */
    ERR_clear_error();
}

unsigned eddy__tls_ready(eddy_conn *c, unsigned ready)
{
    const eddy__tls_conn *t = tls_of(c);
    if ((t->want & WANT_WRITABLE) && (ready & EDDY__WRITABLE))
        ready |= EDDY__READABLE;
    if ((t->want & WANT_READABLE) && (ready & EDDY__READABLE))
        ready |= EDDY__WRITABLE;
    return ready;
}
