/* core/listener.h - a listen address with its handler, and the sockets
 * that serve it: per worker for TCP and UDP (SO_REUSEPORT), one shared by
 * all workers for a Unix socket (SO_REUSEPORT does not apply there). */
#ifndef EDDY_CORE_LISTENER_H
#define EDDY_CORE_LISTENER_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <stdatomic.h>

#include "addr.h"
#include "eddy/eddy.h"


struct eddy_listener {
    struct eddy_listener *next;
    atomic_int refs;   /* the server's list, each open connection, a stats reader */
    struct eddy_listener *successor; /* during a reload: the listener that takes its socket */
    int *reload_fds;   /* during a reload: a new listener's socket for each worker */
    eddy__transport transport;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char name[160];  /* the address as the user wrote it */
    char bound[160]; /* the address bound (port 0 resolved), for logs */
    const eddy_handler *handler;
    eddy_server *server; /* whose eddy_server_error() its setters' messages go to */
    void *state; /* from handler->init */
    size_t high_water, low_water, max_message;
    size_t max_output; /* output queued per connection past which it is closed */
    int max_output_set; /* given by eddy_listener_set_max_output, else it follows high_water */
    int port;          /* bound port, once open (TCP, UDP) */
    int ipv6only;      /* IPV6_V6ONLY for an IPv6 address (default on) */
    unsigned mode;     /* a Unix socket file's permissions (default 0660) */
    unsigned max_amplification; /* UDP: reply bytes per request byte on the wire; 0 = no limit */
    long idle_timeout_ms;       /* close after this long without input; 0 = never */
    long first_byte_timeout_ms; /* close if nothing arrives this long after accept; 0 = never */
    int proxy_protocol; /* a PROXY v1/v2 header comes first on each connection */
    char fdname[256];  /* take systemd's socket of this LISTEN_FDNAMES name ("" = by address) */
    int shared_fd;     /* one socket every worker dups (Unix, or from systemd), or -1 */
    int owns_file;     /* we bound the Unix socket file: remove it at the end */
    eddy_dispatch dispatch;
    struct eddy__tls *tls; /* its certificates and TLS settings, or NULL: plain */
    void *dl; /* the plugin that holds handler, or NULL */
};

/* A reference for a connection; the last release ends the listener: its
 * handler's fini(), its plugin unloaded, its memory freed. */
void eddy__listener_hold(eddy_listener *l);
void eddy__listener_release(eddy_listener *l);

/* Before any socket is opened: refuse an address that something already
 * listens on, even with SO_REUSEPORT (which would share the port silently);
 * for a Unix socket, remove a stale file left by a dead process but refuse
 * one that a live process answers on.  0 or a negative errno. */
int eddy__listener_probe(const eddy_listener *l);

/* A non-blocking socket for one worker: its own (TCP, UDP; when l asked for
 * port 0 the first call picks the port and later calls reuse it) or a dup
 * of the one Unix socket.  Returns the fd or a negative errno. */
int eddy__listener_open_socket(eddy_listener *l);

/* Does fd (bound, of socket type type) serve l's address? */
int eddy__listener_matches(const eddy_listener *l, const struct sockaddr_storage *a, int type);

/* After the workers stopped: close the shared socket, remove a Unix socket
 * file we made. */
void eddy__listener_close(eddy_listener *l);

/* The address actually bound, as text ("127.0.0.1:45123", "[::1]:7777",
 * "udp:127.0.0.1:9000", "unix:/run/eddy.sock"). */
void eddy__listener_format(const eddy_listener *l, char *buf, size_t len);

#endif
