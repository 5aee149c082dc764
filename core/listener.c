/* core/listener.c - parse listen addresses, open listening sockets. */
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
    eddy__listener_close(l);
    free(l->reload_fds);
    free(l);
}

static int parse_port(const char *p, in_port_t *out)
{
    if (*p < '0' || *p > '9' || strlen(p) > 5)
        return -EINVAL;
    char *end;
    long port = strtol(p, &end, 10);
    if (*end || port > 65535)
        return -EINVAL;
    *out = htons((uint16_t)port);
    return 0;
}

static int parse_inet(const char *text, struct sockaddr_storage *addr, socklen_t *len)
{
    memset(addr, 0, sizeof(*addr));
    char host[INET6_ADDRSTRLEN];
    if (text[0] == '[') {
        const char *close = strstr(text, "]:");
        size_t n = close ? (size_t)(close - text - 1) : 0;
        if (!close || n == 0 || n >= sizeof(host))
            return -EINVAL;
        memcpy(host, text + 1, n);
        host[n] = '\0';
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)addr;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1 ||
            parse_port(close + 2, &sin6->sin6_port) < 0)
            return -EINVAL;
        sin6->sin6_family = AF_INET6;
        *len = sizeof(*sin6);
        return 0;
    }
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || (size_t)(colon - text) >= INET_ADDRSTRLEN)
        return -EINVAL;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    struct sockaddr_in *sin = (struct sockaddr_in *)addr;
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1 || parse_port(colon + 1, &sin->sin_port) < 0)
        return -EINVAL;
    sin->sin_family = AF_INET;
    *len = sizeof(*sin);
    return 0;
}

int eddy__parse_listen(const char *text, eddy__transport *t, struct sockaddr_storage *addr,
                       socklen_t *len)
{
    if (!text)
        return -EINVAL;
    if (strncmp(text, "unix:", 5) == 0) {
        const char *path = text + 5;
        struct sockaddr_un *sun = (struct sockaddr_un *)addr;
        if (!*path || strlen(path) >= sizeof(sun->sun_path))
            return -EINVAL;
        memset(addr, 0, sizeof(*addr));
        sun->sun_family = AF_UNIX;
        strcpy(sun->sun_path, path);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
        *t = EDDY__UNIX;
        return 0;
    }
    *t = EDDY__TCP;
    if (strncmp(text, "tcp:", 4) == 0) {
        text += 4;
    } else if (strncmp(text, "udp:", 4) == 0) {
        text += 4;
        *t = EDDY__UDP;
    }
    return parse_inet(text, addr, len);
}

static in_port_t *port_of(struct sockaddr_storage *a)
{
    return a->ss_family == AF_INET6 ? &((struct sockaddr_in6 *)a)->sin6_port
                                    : &((struct sockaddr_in *)a)->sin_port;
}

int eddy__listener_any_port(const struct sockaddr_storage *a)
{
    struct sockaddr_storage copy = *a;
    return (a->ss_family == AF_INET || a->ss_family == AF_INET6) && *port_of(&copy) == 0;
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
    if (*port_of(&a) == 0)
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
        *port_of(&a) = htons((uint16_t)l->port);
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
        l->port = ntohs(*port_of(&a));
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
    if (*port_of(&want) && *port_of(&want) != *port_of(&got))
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

void eddy__sockaddr_format(const struct sockaddr_storage *a, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)a;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        snprintf(buf, len, "[%s]:%d", host, ntohs(s6->sin6_port));
    } else if (a->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)a;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        snprintf(buf, len, "%s:%d", host, ntohs(s4->sin_port));
    } else {
        snprintf(buf, len, "%s", a->ss_family == AF_UNIX ? "unix" : "unknown");
    }
}

void eddy__listener_format(const eddy_listener *l, char *buf, size_t len)
{
    if (l->transport == EDDY__UNIX) {
        snprintf(buf, len, "unix:%s", ((const struct sockaddr_un *)&l->addr)->sun_path);
        return;
    }
    struct sockaddr_storage a = l->addr;
    *port_of(&a) = htons((uint16_t)l->port);
    char text[INET6_ADDRSTRLEN + 16];
    eddy__sockaddr_format(&a, text, sizeof(text));
    snprintf(buf, len, "%s%s", l->transport == EDDY__UDP ? "udp:" : "", text);
}
