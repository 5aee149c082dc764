/* tests/fuzz/fuzz_tls.c - a TLS listener's connection fed arbitrary bytes
 * as its client's records, through the real connection code: the I/O
 * seam, the non-blocking handshake, its failures, reads after it.
 *
 * Made once: an ECDSA P-256 key and a self-signed certificate (files in a
 * temporary directory, read by eddy__tls_new as a config's would be).
 * Each input: a fresh server, loop and listener with that certificate and
 * an echo handler, one connection whose peer is a socketpair; the first
 * byte picks the size of the pieces the rest is written in (each followed
 * by a readable edge, with what eddy wrote back read and dropped), then a
 * FIN.  The connection must end or wait without a crash, a leak or a
 * sanitizer report; the seed corpus holds a real ClientHello.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "conn.h"
#include "server.h"
#include "tls.h"

static char cert_path[64], key_path[64];

static size_t echo_data(eddy_conn *c, const char *p, size_t n)
{
    eddy_send(c, p, n);
    return n;
}

static const eddy_handler echo = {
    .abi_version = EDDY_ABI_VERSION,
    .name = "fuzz-tls-echo",
    .data = echo_data,
};

/* The certificate and key, once per process. */
static void make_certificate(void)
{
    char dir[] = "/tmp/eddy-fuzz-tls.XXXXXX";
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!mkdtemp(dir) || !key || !x)
        abort();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    if (!X509_sign(x, key, EVP_sha256()))
        abort();
    snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
    FILE *c = fopen(cert_path, "w"), *k = fopen(key_path, "w");
    if (!c || !k || !PEM_write_X509(c, x) || !PEM_write_PrivateKey(k, key, NULL, NULL, 0, NULL, NULL))
        abort();
    fclose(c);
    fclose(k);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* Read and drop what eddy wrote (a ServerHello, an alert, an echo). */
static void drain(int fd)
{
    char buf[65536];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

static void turn(eddy__loop *l, eddy_conn *c, unsigned events)
{
    eddy__conn_event(c, events);
    while (c->h.fd >= 0 && c->h.queued)
        eddy__loop_run_ready(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cert_path[0])
        make_certificate();
    if (size == 0)
        return 0;
    size_t piece = 1 + (size_t)data[0] * 8;
    data++, size--;
    eddy_server *s;
    eddy_listener *l;
    eddy__tls_pair pair = {cert_path, key_path, 1, 2};
    eddy__tls_settings ts = {.pairs = &pair, .npairs = 1, .protocols = "TLSv1.2 TLSv1.3",
                             .session_tickets = 1, .handshake_timeout_ms = 10000};
    char err[512];
    if (eddy_server_new(&s) < 0 || eddy_server_listen(s, "127.0.0.1:0", &echo, NULL, &l) < 0 ||
        eddy__tls_new(&ts, "fuzz", &l->tls, err, sizeof(err)) < 0)
        abort();
    eddy__loop loop;
    int sv[2];
    if (eddy__loop_init(&loop, s, &s->shared, s->listeners, 0) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    eddy__loop_self = &loop;
    eddy_conn *c = eddy__loop_open_local(&loop, l, sv[0]);
    if (!c)
        abort();
    for (size_t at = 0; c->h.fd >= 0 && at < size;) {
        size_t n = size - at < piece ? size - at : piece;
        ssize_t w = write(sv[1], data + at, n);
        if (w > 0)
            at += (size_t)w;
        turn(&loop, c, EDDY__READABLE | EDDY__WRITABLE);
        drain(sv[1]);
        if (w <= 0)
            break;
    }
    shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < 4 && c->h.fd >= 0; i++) {
        turn(&loop, c, EDDY__READABLE | (EDDY__HANGUP & ~EDDY__GONE)); /* a FIN */
        drain(sv[1]);
    }
    close(sv[1]);
    eddy__loop_close_conns(&loop);
    eddy__loop_destroy(&loop);
    eddy__loop_self = NULL;
    eddy_server_free(s);
    return 0;
}
