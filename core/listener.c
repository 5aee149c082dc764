/* core/listener.c - listeners: their handler and settings, their sockets. */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin.h"
#include "tls.h"

void eddy__listener_hold(eddy_listener *l)
{
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
}

void eddy__listener_release(eddy_listener *l)
{
    if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (l->handler->fini)
        l->handler->fini(l->state);
    eddy__plugin_unload(l->dl);
    eddy__tls_free(l->tls);
    eddy__listener_close(l);
    free(l->reload_fds);
    free(l);
}

static int socket_type(const eddy_listener *l)
{
    return l->transport == EDDY__UDP ? SOCK_DGRAM : SOCK_STREAM;
}

/* A Unix socket path that exists: stale (nobody accepts: remove it) or
 * live (another server: refuse). */
static int unix_probe(const eddy_listener *l)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&l->addr;
    struct stat st;
    if (lstat(sun->sun_path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST; /* never remove what is not a socket */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = connect(fd, (const struct sockaddr *)&l->addr, l->addrlen);
    int err = errno;
    close(fd);
    if (rc == 0)
        return -EADDRINUSE; /* a live server answers there */
    if (err != ECONNREFUSED)
        return -err;
    return unlink(sun->sun_path) < 0 ? -errno : 0;
}

int eddy__listener_probe(const eddy_listener *l)
{
    if (l->shared_fd >= 0) /* handed to us already bound */
        return 0;
    if (l->transport == EDDY__UNIX)
        return unix_probe(l);
    struct sockaddr_storage a = l->addr;
    if (*eddy__addr_port(&a) == 0)
        return 0;
    int fd = socket(a.ss_family, socket_type(l) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, rc = 0;
    /* TCP: SO_REUSEADDR only, so binding still fails where anyone listens,
     * with or without SO_REUSEPORT, but not on our own TIME_WAIT leftovers.
     * UDP: no option at all, so any bound socket makes it fail. */
    if (l->transport == EDDY__TCP)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &l->ipv6only, sizeof(l->ipv6only));
    if (bind(fd, (const struct sockaddr *)&a, l->addrlen) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

static int open_unix(eddy_listener *l)
{
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&l->addr;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* Bind with no permission for anyone, then open up to the configured
     * mode: the file is never world-writable, not even for an instant. */
    mode_t old = umask(0777);
    int rc = bind(fd, (const struct sockaddr *)&l->addr, l->addrlen);
    umask(old);
    if (rc < 0 || chmod(sun->sun_path, l->mode) < 0 || listen(fd, 4096) < 0) {
        int err = -errno;
        if (rc == 0)
            unlink(sun->sun_path);
        close(fd);
        return err;
    }
    l->shared_fd = fd;
    l->owns_file = 1;
    return 0;
}

int eddy__listener_open_socket(eddy_listener *l)
{
    if (l->shared_fd < 0 && l->transport == EDDY__UNIX) {
        int rc = open_unix(l);
        if (rc < 0)
            return rc;
    }
    if (l->shared_fd >= 0) {
        int fd = fcntl(l->shared_fd, F_DUPFD_CLOEXEC, 0);
        return fd < 0 ? -errno : fd;
    }
    struct sockaddr_storage a = l->addr;
    int fd = socket(a.ss_family, socket_type(l) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    if (l->port > 0)
        *eddy__addr_port(&a) = htons((uint16_t)l->port);
    if ((l->transport == EDDY__TCP &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        (a.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &l->ipv6only, sizeof(l->ipv6only)) < 0) ||
        bind(fd, (struct sockaddr *)&a, l->addrlen) < 0 ||
        (l->transport == EDDY__TCP && listen(fd, 4096) < 0)) {
        int err = -errno;
        close(fd);
        return err;
    }
    socklen_t len = sizeof(a);
    if (getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        l->port = ntohs(*eddy__addr_port(&a));
    return fd;
}

int eddy__listener_matches(const eddy_listener *l, const struct sockaddr_storage *a, int type)
{
    if (a->ss_family != l->addr.ss_family ||
        type != (l->transport == EDDY__UDP ? SOCK_DGRAM : SOCK_STREAM))
        return 0;
    if (a->ss_family == AF_UNIX)
        return strcmp(((const struct sockaddr_un *)a)->sun_path,
                      ((const struct sockaddr_un *)&l->addr)->sun_path) == 0;
    struct sockaddr_storage want = l->addr, got = *a;
    if (*eddy__addr_port(&want) && *eddy__addr_port(&want) != *eddy__addr_port(&got))
        return 0;
    if (a->ss_family == AF_INET6)
        return memcmp(&((struct sockaddr_in6 *)&want)->sin6_addr,
                      &((struct sockaddr_in6 *)&got)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return ((struct sockaddr_in *)&want)->sin_addr.s_addr ==
           ((struct sockaddr_in *)&got)->sin_addr.s_addr;
}

void eddy__listener_close(eddy_listener *l)
{
    if (l->shared_fd < 0)
        return;
    close(l->shared_fd);
    l->shared_fd = -1;
    if (l->owns_file)
        unlink(((const struct sockaddr_un *)&l->addr)->sun_path);
    l->owns_file = 0;
}

void eddy__listener_format(const eddy_listener *l, char *buf, size_t len)
{
    if (l->transport == EDDY__UNIX) {
        snprintf(buf, len, "unix:%s", ((const struct sockaddr_un *)&l->addr)->sun_path);
        return;
    }
    struct sockaddr_storage a = l->addr;
    *eddy__addr_port(&a) = htons((uint16_t)l->port);
    char text[INET6_ADDRSTRLEN + 16];
    eddy__sockaddr_format(&a, text, sizeof(text));
    snprintf(buf, len, "%s%s", l->transport == EDDY__UDP ? "udp:" : "", text);
}
