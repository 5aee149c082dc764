/* core/addr.h - socket addresses as text: parsed (numeric only, never a
 * name lookup) and formatted.  The listen addresses of a configuration,
 * eddy_addr_parse() for outgoing connections and every log line that
 * names a client go through here. */
#ifndef EDDY_CORE_ADDR_H
#define EDDY_CORE_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

typedef enum eddy__transport { EDDY__TCP, EDDY__UDP, EDDY__UNIX } eddy__transport;

/* Parse "A.B.C.D:PORT" or "[IPv6]:PORT", each optionally after "tcp:" or
 * "udp:", or "unix:PATH".  0 or -EINVAL. */
int eddy__addr_parse(const char *text, eddy__transport *t, struct sockaddr_storage *addr,
                     socklen_t *len);
/* The port field of an IPv4 or IPv6 address (network order). */
in_port_t *eddy__addr_port(struct sockaddr_storage *a);
/* Does the address ask for any free port (port 0)?  Two such listeners are
 * two sockets, never the same one. */
int eddy__addr_any_port(const struct sockaddr_storage *a);
/* "127.0.0.1:5555", "[::1]:80", "unix" or "unknown". */
void eddy__sockaddr_format(const struct sockaddr_storage *a, char *buf, size_t len);

#endif
