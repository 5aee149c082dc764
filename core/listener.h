/* core/listener.h - a listen address with its handler, and the sockets
 * that serve it (one per worker, SO_REUSEPORT). */
#ifndef EDDY_CORE_LISTENER_H
#define EDDY_CORE_LISTENER_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#include "eddy/eddy.h"

struct eddy_listener {
    struct eddy_listener *next;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char name[64]; /* the address as the user wrote it */
    const eddy_handler *handler;
    void *state; /* from handler->init */
    size_t high_water, low_water, max_message;
    int port; /* bound port, once open */
    eddy_dispatch dispatch;
    void *dl; /* the plugin that holds handler, or NULL */
};

/* Parse "A.B.C.D:PORT" (port 0-65535) into addr.  0 or -EINVAL. */
int eddy__parse_address(const char *text, struct sockaddr_storage *addr, socklen_t *len);

/* Refuse an address that something already listens on, even with
 * SO_REUSEPORT (which would otherwise share the port silently).  0 or a
 * negative errno (-EADDRINUSE). */
int eddy__listener_probe(const eddy_listener *l);

/* A non-blocking listening socket on l's address with SO_REUSEPORT; when l
 * asked for port 0 the first call picks the port and later calls reuse it.
 * Returns the fd or a negative errno. */
int eddy__listener_open_socket(eddy_listener *l);

#endif
