/* core/addr.c - see addr.h. */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

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

int eddy__addr_parse(const char *text, eddy__transport *t, struct sockaddr_storage *addr,
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

in_port_t *eddy__addr_port(struct sockaddr_storage *a)
{
    return a->ss_family == AF_INET6 ? &((struct sockaddr_in6 *)a)->sin6_port
                                    : &((struct sockaddr_in *)a)->sin_port;
}

int eddy__addr_any_port(const struct sockaddr_storage *a)
{
    struct sockaddr_storage copy = *a;
    return (a->ss_family == AF_INET || a->ss_family == AF_INET6) && *eddy__addr_port(&copy) == 0;
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

