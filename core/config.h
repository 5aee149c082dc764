/* core/config.h - a parsed configuration file: the globals and one entry
 * per listen block, each value with the line it came from.
 *
 * The directives are data, as nginx's command tables: one table per
 * scope, each row X(NAME, TYPE, MIN, MAX, DEFAULT, WORDS, UNSET, HELP):
 *   NAME     the directive, and the field of eddy_config (globals) or of
 *            eddy__cfg_listener (listen blocks) that holds its value:
 *            char * for STRING and FDNAME, long for every other type;
 *   TYPE     NUMBER, SIZE (512, 64k, 1m), DURATION (ms, with a unit),
 *            BOOL (on/off), ENUM (one of WORDS, stored as its index),
 *            OCTAL (permission bits), STRING, FDNAME (a systemd socket name),
 *            WORDS (one or more words, kept as one string joined by spaces;
 *            with WORDS listed, each must be one of them);
 *   MIN, MAX the accepted range of a number, size, duration or octal;
 *   DEFAULT  the value when the file does not say it (the only place a
 *            default is written: the server takes it from here too);
 *   WORDS    an ENUM's words in parentheses, ("inline", "pool"), else (NULL);
 *   UNSET    NULL when the directive always has a value, else what its
 *            absence means: a STRING left NULL, or a number left at
 *            DEFAULT, which is then no value but a mark (dispatch -1:
 *            the handler's choice; low_water 0: derived from high_water);
 *   HELP     one line for the directive reference in README.md.
 * The rows expand into the parser's table, the named indices of `seen`
 * (EDDY__G_name, EDDY__L_name), the defaults (EDDY__DEFAULT(name)), the
 * output of eddy_config_dump() and the README's reference. */
#ifndef EDDY_CORE_CONFIG_H
#define EDDY_CORE_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "eddy/eddy.h"
#include "tls.h"

#define EDDY__CONFIG_MAX_FILE (1u << 20) /* a config larger than this is refused */

#define EDDY__GLOBAL_DIRECTIVES(X)                                                                 \
    X(workers, NUMBER, 0, 1024, 0, (NULL), NULL,                                                   \
      "worker threads, each with its own loop and listening socket; 0 = one per online CPU")     \
    X(max_connections, NUMBER, 1, 1L << 24, 10000, (NULL), NULL,                                   \
      "connections open at once over all listeners; past it a new one is closed and counted")    \
    X(pool_threads, NUMBER, 1, 256, 4, (NULL), NULL,                                               \
      "threads that run the handlers of listeners with `dispatch pool`")                         \
    X(log_level, ENUM, 0, 3, 2, ("error", "warn", "info", "debug"), NULL,                           \
      "the least severe messages logged")                                                        \
    X(plugin_dir, STRING, 0, 0, 0, (NULL), "plugins/ beside eddyd, then its install's lib/eddy",   \
      "where `handler NAME` finds NAME.so; relative to the file's directory")                    \
    X(shutdown_timeout, DURATION, 0, 86400000L, 10000, (NULL), NULL,                               \
      "how long a graceful stop lets connections finish")                                        \
    X(log_file, STRING, 0, 0, 0, (NULL), "stderr",                                                 \
      "the log, appended to and reopened on SIGUSR1")                                            \
    X(pidfile, STRING, 0, 0, 0, (NULL), "none",                                                    \
      "a file holding eddyd's pid, locked while it runs")                                        \
    X(user, STRING, 0, 0, 0, (NULL), "the starting user",                                          \
      "the user eddyd becomes after binding, when started as root")                              \
    X(group, STRING, 0, 0, 0, (NULL), "the user's group",                                          \
      "the group eddyd becomes after binding, when started as root")                             \
    X(max_connections_per_ip, NUMBER, 0, 1L << 24, 0, (NULL), NULL,                                \
      "connections open at once from one client address; 0 = no limit")

#define EDDY__LISTENER_DIRECTIVES(X)                                                               \
    X(handler, STRING, 0, 0, 0, (NULL), "required",                                                \
      "a built-in handler, NAME.so in plugin_dir, or a path to a .so")                           \
    X(dispatch, ENUM, 0, 1, -1, ("inline", "pool"), "pool for a blocking handler, else inline",    \
      "where the handler runs: on the connection's worker or on the pool threads")               \
    X(high_water, SIZE, 1, 1L << 30, 1L << 20, (NULL), NULL,                                       \
      "above this much unsent output a connection is not read...")                               \
    X(low_water, SIZE, 1, 1L << 30, 0, (NULL), "a quarter of high_water, at most 256k",            \
      "...until its output drains below this")                                                   \
    X(max_message, SIZE, 1, 1L << 30, 1L << 20, (NULL), NULL,                                      \
      "the most input a handler may leave unconsumed; past it the connection is closed")         \
    X(max_output, SIZE, 1, 1L << 30, 4L << 20, (NULL), NULL,                                       \
      "the most output queued for a peer that does not read: a send that finds more than this "   \
      "queued closes the connection (the send that crosses it is taken whole, so one larger "     \
      "reply still reaches a peer that reads) (not set: 4m, or high_water + 3m if that is more)") \
    X(ipv6only, BOOL, 0, 1, 1, (NULL), NULL, "IPv6 addresses: take IPv6 only, or IPv4 too")      \
    X(mode, OCTAL, 0, 0777, 0660, (NULL), NULL, "unix sockets: the socket file's permissions")    \
    X(max_amplification, NUMBER, 0, 1000, 3, (NULL), NULL,                                         \
      "udp: a reply is at most this many times the request on the wire; 0 = no limit")           \
    X(idle_timeout, DURATION, 0, 86400000L, 0, (NULL), NULL,                                       \
      "close a connection after this long without input; 0 = never")                            \
    X(first_byte_timeout, DURATION, 0, 86400000L, 0, (NULL), NULL,                                 \
      "close a connection that sends nothing this long after connecting; 0 = never")             \
    X(proxy_protocol, BOOL, 0, 1, 0, (NULL), NULL,                                                 \
      "take a PROXY protocol v1 or v2 header first on each connection")                          \
    X(systemd_socket, FDNAME, 0, 0, 0, (NULL), "the socket of the listen address",                 \
      "under socket activation, serve the socket passed with this FileDescriptorName")          \
    X(tls_protocols, WORDS, 0, 0, 0, ("TLSv1.2", "TLSv1.3"), "TLSv1.2 TLSv1.3",                   \
      "TLS: the versions offered; nothing older is")                                             \
    X(tls_ciphers, STRING, 0, 0, 0, (NULL), "OpenSSL's default",                                   \
      "TLS: the TLS 1.2 cipher list, in OpenSSL's syntax (TLS 1.3 suites are OpenSSL's)")        \
    X(tls_alpn, WORDS, 0, 0, 0, (NULL), "no ALPN",                                                 \
      "TLS: the ALPN protocols, the server's preference first (e.g. http/1.1)")                  \
    X(tls_client_certificate, STRING, 0, 0, 0, (NULL), "none",                                     \
      "TLS: the CA certificates (PEM) that clients' certificates must chain to")                 \
    X(tls_verify_client, ENUM, 0, 2, 0, ("off", "on", "optional"), "off",                          \
      "TLS: ask for a client certificate: on requires one, optional checks one if sent")         \
    X(tls_session_tickets, BOOL, 0, 1, 1, (NULL), "on",                                            \
      "TLS: resume sessions by tickets, whose keys are new at each reload")                      \
    X(tls_handshake_timeout, DURATION, 0, 86400000L, 10000, (NULL), "10s",                         \
      "TLS: close a connection whose handshake takes longer; 0 = never")

/* The named index of each directive in its table and in `seen`. */
#define EDDY__G_INDEX(name, ...) EDDY__G_##name,
#define EDDY__L_INDEX(name, ...) EDDY__L_##name,
enum { EDDY__GLOBAL_DIRECTIVES(EDDY__G_INDEX) EDDY__NGLOBALS };
enum { EDDY__LISTENER_DIRECTIVES(EDDY__L_INDEX) EDDY__NLISTENER };

/* Each directive's default as a constant: EDDY__DEFAULT(high_water). */
#define EDDY__DEFAULT_VALUE(name, type, min, max, def, ...) EDDY__DEFAULT_##name = (def),
enum { EDDY__GLOBAL_DIRECTIVES(EDDY__DEFAULT_VALUE) EDDY__LISTENER_DIRECTIVES(EDDY__DEFAULT_VALUE) };
#define EDDY__DEFAULT(name) ((long)EDDY__DEFAULT_##name)

typedef struct eddy__cfg_listener {
    char *transport;     /* "tcp", "udp" or "unix" */
    char *address;       /* as written: IPv4:PORT, [IPv6]:PORT or a path */
    int line;            /* of the listen directive */
    char *handler, *systemd_socket;
    long dispatch;       /* -1: the handler's choice */
    long high_water, low_water, max_message, max_output; /* low_water 0: derived from high_water */
    long ipv6only, mode, max_amplification, proxy_protocol;
    long idle_timeout, first_byte_timeout; /* ms; 0: never */
    char *tls_protocols, *tls_ciphers, *tls_alpn, *tls_client_certificate;
    long tls_verify_client, tls_session_tickets, tls_handshake_timeout;
    /* tls_certificate / tls_certificate_key, repeated in pairs (one per
     * certificate: SNI, ECDSA beside RSA), so outside the table */
    eddy__tls_pair *tls_pairs;
    size_t ntls_pairs;
    eddy_params *params; /* everything else in the block: the handler's */
    int seen[EDDY__NLISTENER]; /* line of each directive (EDDY__L_name), 0 if not given */
} eddy__cfg_listener;

struct eddy_config {
    char *name; /* file name used in messages */
    long workers, max_connections, max_connections_per_ip, pool_threads, log_level;
    long shutdown_timeout; /* ms */
    char *plugin_dir;
    char *log_file, *pidfile, *user, *group; /* the daemon's; NULL when absent */
    int seen[EDDY__NGLOBALS]; /* line of each directive (EDDY__G_name), 0 if not given */
    eddy__cfg_listener *listeners;
    size_t nlisteners;
};

/* The low water mark of a listener whose high water mark is high and
 * whose file did not say low_water: a quarter of it, at most the default. */
size_t eddy__low_water(size_t high);

/* The max_output of a listener that did not set it: the default (4 MiB,
 * 3 MiB above the default high water mark), or as far above a larger
 * high_water, at most the directive's 1 GiB.  A queue passes high_water
 * by a reply before reading stops, and a relay's (a proxy's) by a read of
 * the other side: a default equal to high_water closed those at once. */
long eddy__default_max_output(long high);

/* The address eddy_server_listen() takes for a listen block: "udp:ADDR",
 * "unix:PATH" or the TCP address itself.  0, or -EINVAL when it does not
 * parse. */
int eddy__cfg_address(const char *transport, const char *address, char *out, size_t len);

/* The listener directives that are not handler parameters, NULL-ended:
 * the candidates for "did you mean" next to a handler's own names. */
extern const char *const eddy__listener_directives[];

/* What listen block l says about TLS, for eddy__tls_new(); 0 when it has
 * no certificate (a plain listener).  file: the configuration's name. */
int eddy__cfg_tls(const eddy__cfg_listener *l, eddy__tls_settings *out);

/* The directive reference, from the tables: a Markdown table per scope,
 * as README.md's "Directives" section holds it (a unit test compares). */
void eddy__config_reference(FILE *f);

#endif
