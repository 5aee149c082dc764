/* core/listener.c - parse listen addresses and open listening sockets. */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int eddy__parse_address(const char *text, struct sockaddr_storage *addr, socklen_t *len)
{
    const char *colon = text ? strrchr(text, ':') : NULL;
    if (!colon || colon == text || (size_t)(colon - text) >= INET_ADDRSTRLEN)
        return -EINVAL;
    char host[INET_ADDRSTRLEN];
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    const char *p = colon + 1;
    if (*p < '0' || *p > '9' || strlen(p) > 5)
        return -EINVAL;
    char *end;
    long port = strtol(p, &end, 10);
    if (*end || port > 65535)
        return -EINVAL;
    struct sockaddr_in *sin = (struct sockaddr_in *)addr;
    memset(addr, 0, sizeof(*addr));
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return -EINVAL;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    *len = sizeof(*sin);
    return 0;
}

static int bound_port(const struct sockaddr_storage *a)
{
    return ntohs(((const struct sockaddr_in *)a)->sin_port);
}

int eddy__listener_probe(const eddy_listener *l)
{
    if (bound_port(&l->addr) == 0)
        return 0;
    int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, rc = 0;
    /* SO_REUSEADDR only: binding still fails where anyone listens, with or
     * without SO_REUSEPORT, but not on our own TIME_WAIT leftovers. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int eddy__listener_open_socket(eddy_listener *l)
{
    int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    struct sockaddr_storage a = l->addr;
    if (l->port > 0)
        ((struct sockaddr_in *)&a)->sin_port = htons((uint16_t)l->port);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&a, l->addrlen) < 0 || listen(fd, 4096) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    socklen_t len = sizeof(a);
    if (getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        l->port = bound_port(&a);
    return fd;
}
