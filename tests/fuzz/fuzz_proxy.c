/* tests/fuzz/fuzz_proxy.c - libFuzzer target for the PROXY protocol parser.
 *
 * Any bytes go to eddy__proxy_parse(); whatever they are, it must not
 * crash, read past len (the input and every prefix below are heap copies of
 * exactly their length, so ASan sees any overread) or hit undefined
 * behaviour, and its answers must be consistent:
 *   - the result is NEED_MORE, ERROR (eddy/parse.h) or 0 < n <= len, n within the
 *     version's bound (107 bytes for v1, EDDY__PROXY_V2_MAX for v2);
 *   - *out is untouched unless a header was found;
 *   - a found header is well formed: version 1 or 2; an address family
 *     that matches src and dst when local == 0, no address when local == 1;
 *     its TLV span inside the header; the source formats to a short,
 *     NUL-terminated string, truncated safely into a small buffer;
 *   - answers are monotonic in the bytes available: every shorter prefix
 *     of a found header is NEED_MORE, a prefix that already holds it gives
 *     the same answer, and NEED_MORE for the whole input means NEED_MORE
 *     for its prefixes;
 *   - a v1 TCP header written back with inet_ntop() parses to the same
 *     addresses and ports.
 * Any break of these aborts, so libFuzzer saves the input.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int parse_copy(const uint8_t *data, size_t len, eddy__proxy_info *out)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    if (len)
        memcpy(copy, data, len);
    int rc = eddy__proxy_parse(copy, len, out);
    free(copy);
    return rc;
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

static void check_found(const uint8_t *data, int rc, const eddy__proxy_info *pi)
{
    if (pi->version == 1) {
        if (rc > EDDY__PROXY_V1_MAX || data[0] != 'P' || data[rc - 2] != '\r' ||
            data[rc - 1] != '\n')
            abort();
    } else if (pi->version == 2) {
        if (rc < EDDY__PROXY_V2_FIXED || rc > EDDY__PROXY_V2_MAX || data[0] != '\r')
            abort();
        if (pi->tlv_off + pi->tlv_len > (size_t)rc || (pi->tlv_len && pi->tlv_off < 16))
            abort();
    } else {
        abort();
    }
    if (pi->local) {
        if (pi->src.ss_family != AF_UNSPEC || pi->dst.ss_family != AF_UNSPEC)
            abort();
        if (pi->family != AF_UNSPEC && pi->family != AF_UNIX)
            abort();
    } else {
        if (pi->family != AF_INET && pi->family != AF_INET6)
            abort();
        if (pi->src.ss_family != pi->family || pi->dst.ss_family != pi->family)
            abort();
        if (pi->socktype != SOCK_STREAM && pi->socktype != SOCK_DGRAM)
            abort();
    }

    char text[64], tiny[6];
    memset(text, 'z', sizeof(text));
    eddy__proxy_format_source(pi, text, sizeof(text));
    size_t tl = strnlen(text, sizeof(text));
    if (tl == 0 || tl > 53) /* "[" + at most 45 + "]:" + 5 digits */
        abort();
    memset(tiny, 'z', sizeof(tiny));
    eddy__proxy_format_source(pi, tiny, sizeof(tiny));
    if (strnlen(tiny, sizeof(tiny)) >= sizeof(tiny) || strncmp(tiny, text, strlen(tiny)) != 0)
        abort();
}

/* Write a v1 TCP header back from what was parsed and parse it again. */
static void check_v1_round_trip(const eddy__proxy_info *pi)
{
    char a[2][INET6_ADDRSTRLEN], line[EDDY__PROXY_V1_MAX + 1];
    unsigned port[2];
    const struct sockaddr_storage *ss[2] = {&pi->src, &pi->dst};
    for (int k = 0; k < 2; k++) {
        if (pi->family == AF_INET) {
            struct sockaddr_in sin;
            memcpy(&sin, ss[k], sizeof(sin));
            if (!inet_ntop(AF_INET, &sin.sin_addr, a[k], sizeof(a[k])))
                abort();
            port[k] = ntohs(sin.sin_port);
        } else {
            struct sockaddr_in6 sin6;
            memcpy(&sin6, ss[k], sizeof(sin6));
            if (!inet_ntop(AF_INET6, &sin6.sin6_addr, a[k], sizeof(a[k])))
                abort();
            port[k] = ntohs(sin6.sin6_port);
        }
    }
    int n = snprintf(line, sizeof(line), "PROXY TCP%c %s %s %u %u\r\n",
                     pi->family == AF_INET ? '4' : '6', a[0], a[1], port[0], port[1]);
    if (n <= 0 || (size_t)n >= sizeof(line))
        abort();
    eddy__proxy_info again;
    if (parse_copy((const uint8_t *)line, (size_t)n, &again) != n)
        abort();
    if (again.family != pi->family || !same_addr(&again.src, &pi->src) ||
        !same_addr(&again.dst, &pi->dst))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eddy__proxy_info pi;
    memset(&pi, 0xA5, sizeof(pi));
    int rc = eddy__proxy_parse((const char *)data, size, &pi);

    if (rc == EDDY_PARSE_NEED_MORE || rc == EDDY_PARSE_ERROR) {
        for (size_t i = 0; i < sizeof(pi); i++)
            if (((const unsigned char *)&pi)[i] != 0xA5)
                abort();
    } else if (rc <= 0 || (size_t)rc > size) {
        abort();
    } else {
        check_found(data, rc, &pi);
        if (pi.version == 1 && !pi.local)
            check_v1_round_trip(&pi);
        eddy__proxy_info again;
        if (parse_copy(data, (size_t)rc, &again) != rc || again.version != pi.version ||
            again.local != pi.local || again.family != pi.family ||
            !same_addr(&again.src, &pi.src) || !same_addr(&again.dst, &pi.dst))
            abort();
        if (parse_copy(data, (size_t)rc - 1, &again) != EDDY_PARSE_NEED_MORE)
            abort();
    }

    /* Monotonic: what a shorter prefix says must agree. */
    size_t cuts[3] = {size / 2, size > 16 ? 16 : size / 3, size ? size - 1 : 0};
    for (int c = 0; c < 3; c++) {
        eddy__proxy_info part;
        int prc = parse_copy(data, cuts[c], &part);
        if (rc > 0 && (size_t)rc <= cuts[c]) {
            if (prc != rc)
                abort();
        } else if (rc > 0 || rc == EDDY_PARSE_NEED_MORE) {
            if (prc != EDDY_PARSE_NEED_MORE)
                abort();
        } else if (prc > 0) { /* ERROR whole: a prefix may wait or refuse */
            abort();
        }
    }
    return 0;
}
