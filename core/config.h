/* core/config.h - a parsed configuration file: the globals and one entry
 * per listen block, each value with the line it came from. */
#ifndef EDDY_CORE_CONFIG_H
#define EDDY_CORE_CONFIG_H

#include <stddef.h>

#include "eddy/eddy.h"

#define EDDY__CONFIG_MAX_FILE (1u << 20) /* a config larger than this is refused */

typedef struct eddy__cfg_listener {
    char *transport;     /* "tcp", "udp" or "unix" */
    char *address;       /* as written: IPv4:PORT, [IPv6]:PORT or a path */
    int line;            /* of the listen directive */
    char *handler;
    int dispatch;        /* -1: the handler's own choice */
    size_t high_water, low_water, max_message; /* 0: the default */
    int ipv6only, mode, max_amplification;      /* -1: the default */
    long idle_timeout, first_byte_timeout;      /* ms; 0: never */
    int proxy_protocol;                         /* -1: the default (off) */
    char *systemd_socket; /* the LISTEN_FDNAMES name of the socket to serve, or NULL */
    eddy_params *params; /* everything else in the block: the handler's */
    int seen[16];        /* line of each listener directive, for duplicates */
} eddy__cfg_listener;

struct eddy_config {
    char *name; /* file name used in messages */
    int workers;
    unsigned max_connections, max_connections_per_ip;
    int pool_threads;
    int log_level;
    long shutdown_timeout; /* ms */
    char *plugin_dir;
    char *log_file, *pidfile, *user, *group; /* the daemon's; NULL when absent */
    int seen[16]; /* line of each global directive, for duplicates */
    eddy__cfg_listener *listeners;
    size_t nlisteners;
};

/* The address eddy_server_listen() takes for a listen block: "udp:ADDR",
 * "unix:PATH" or the TCP address itself.  0, or -EINVAL when it does not
 * parse. */
int eddy__cfg_address(const char *transport, const char *address, char *out, size_t len);

/* The listener directives that are not handler parameters, NULL-ended:
 * the candidates for "did you mean" next to a handler's own names. */
extern const char *const eddy__listener_directives[];

#endif
