/* core/proxy.c - PROXY protocol v1/v2 header parser (see proxy.h for what
 * it promises and the rules it applies).
 *
 * The parser is re-run on the whole buffer each time bytes arrive, so it is
 * written to answer for any prefix: v1 looks for the CRLF first, then checks
 * the line as complete, or the bytes so far as the beginning of a valid line
 * (every finished field in full, the field being received by its characters
 * and, for IPv4 and ports, its value so far); v2 checks each fixed byte as
 * soon as it is there, the length field against the bound and the address
 * block, and the TLVs once the whole header has arrived.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- version 1 ---------------------------------------------------------- */

/* Does s[0..n) equal the NUL-terminated word w? */
static int is_word(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && memcmp(s, w, n) == 0;
}

/* Is s[0..n) a prefix of w? */
static int is_prefix(const char *s, size_t n, const char *w)
{
    return strlen(w) >= n && memcmp(s, w, n) == 0;
}

/* An IPv4 address: four decimal numbers 0-255 joined by single dots, no
 * leading zeros.  complete == 0 asks only whether s could begin one. */
static int v1_ipv4(const char *s, size_t n, int complete, struct in_addr *a)
{
    unsigned char b[4];
    unsigned parts = 0, val = 0, digits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (digits == 1 && val == 0)
                return 0; /* a leading zero */
            val = val * 10 + (unsigned)(c - '0');
            digits++;
            if (val > 255)
                return 0;
        } else if (c == '.') {
            if (digits == 0 || parts == 3)
                return 0;
            b[parts++] = (unsigned char)val;
            val = 0;
            digits = 0;
        } else {
            return 0;
        }
    }
    if (!complete)
        return 1;
    if (parts != 3 || digits == 0)
        return 0;
    b[3] = (unsigned char)val;
    memcpy(&a->s_addr, b, 4);
    return 1;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* An IPv6 address as inet_pton() reads it, at most 45 characters.  A prefix
 * is checked by its characters only. */
static int v1_ipv6(const char *s, size_t n, int complete, struct in6_addr *a)
{
    char text[INET6_ADDRSTRLEN];
    if (n >= sizeof(text))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_hex(s[i]) && s[i] != ':' && s[i] != '.')
            return 0;
    if (!complete)
        return 1;
    memcpy(text, s, n);
    text[n] = '\0';
    return inet_pton(AF_INET6, text, a) == 1;
}

/* A port: decimal 0-65535, no sign, no leading zero. */
static int v1_port(const char *s, size_t n, uint16_t *port)
{
    unsigned long v = 0;
    if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535)
        return 0;
    *port = (uint16_t)v;
    return 1;
}

/* Check the v1 line p[0..n), which holds no CR or LF.  complete: n is the
 * whole line before its CRLF; otherwise the bytes received so far, and the
 * answer is whether they could begin a valid line.  Fills *o when complete
 * and valid.  Returns 1 (valid, or a valid beginning) or 0. */
static int v1_line(const char *p, size_t n, int complete, eddy__proxy_info *o)
{
    static const char lead[] = "PROXY ";
    size_t i;
    for (i = 0; i < sizeof(lead) - 1; i++) {
        if (i == n)
            return !complete;
        if (p[i] != lead[i])
            return 0;
    }

    /* The protocol: up to the next space, or the end of what we have. */
    size_t t = i;
    while (t < n && p[t] != ' ')
        t++;
    const char *proto = p + i;
    size_t plen = t - i;
    int family;
    if (is_word(proto, plen, "UNKNOWN")) {
        /* Whatever follows a space, up to the CRLF, is ignored. */
        if (complete) {
            memset(o, 0, sizeof(*o));
            o->version = 1;
            o->local = 1;
            o->family = AF_UNSPEC;
        }
        return 1;
    } else if (is_word(proto, plen, "TCP4")) {
        family = AF_INET;
    } else if (is_word(proto, plen, "TCP6")) {
        family = AF_INET6;
    } else {
        return t == n && !complete &&
               (is_prefix(proto, plen, "TCP4") || is_prefix(proto, plen, "TCP6") ||
                is_prefix(proto, plen, "UNKNOWN"));
    }
    if (t == n)
        return !complete;

    /* Four fields, one space before each: source and destination address,
     * source and destination port; the last one ends the line. */
    union {
        struct in_addr v4;
        struct in6_addr v6;
    } addr[2];
    uint16_t port[2];
    i = t + 1;
    for (int f = 0; f < 4; f++) {
        size_t e = i;
        while (e < n && p[e] != ' ')
            e++;
        int last = e == n; /* the field runs to the end of what we have */
        if (e == i) /* nothing yet, or an empty field: two spaces or a trailing space */
            return last && !complete;
        if (last && complete && f < 3)
            return 0; /* too few fields */
        if (!last && f == 3)
            return 0; /* more after the destination port */
        int whole = !last || complete;
        int ok;
        if (f < 2)
            ok = family == AF_INET ? v1_ipv4(p + i, e - i, whole, &addr[f].v4)
                                   : v1_ipv6(p + i, e - i, whole, &addr[f].v6);
        else if (whole)
            ok = v1_port(p + i, e - i, &port[f - 2]);
        else
            ok = v1_port(p + i, e - i, &(uint16_t){0}); /* value so far */
        if (!ok)
            return 0;
        if (last)
            break;
        i = e + 1;
    }
    if (!complete)
        return 1;

    memset(o, 0, sizeof(*o));
    o->version = 1;
    o->family = family;
    o->socktype = SOCK_STREAM;
    for (int k = 0; k < 2; k++) {
        struct sockaddr_storage *ss = k == 0 ? &o->src : &o->dst;
        if (family == AF_INET) {
            struct sockaddr_in sin;
            memset(&sin, 0, sizeof(sin));
            sin.sin_family = AF_INET;
            sin.sin_addr = addr[k].v4;
            sin.sin_port = htons(port[k]);
            memcpy(ss, &sin, sizeof(sin));
        } else {
            struct sockaddr_in6 sin6;
            memset(&sin6, 0, sizeof(sin6));
            sin6.sin6_family = AF_INET6;
            sin6.sin6_addr = addr[k].v6;
            sin6.sin6_port = htons(port[k]);
            memcpy(ss, &sin6, sizeof(sin6));
        }
    }
    return 1;
}

static int parse_v1(const char *buf, size_t len, eddy__proxy_info *out)
{
    /* The CR must come by index V1_MAX - 2 so that CRLF ends by V1_MAX. */
    const size_t cr_limit = EDDY__PROXY_V1_MAX - 1;
    size_t scan = len < cr_limit ? len : cr_limit;
    size_t i;
    for (i = 0; i < scan; i++) {
        if (buf[i] == '\n')
            return EDDY_PARSE_ERROR; /* an LF without its CR */
        if (buf[i] == '\r')
            break;
    }
    eddy__proxy_info info;
    if (i == scan) {
        if (len >= cr_limit)
            return EDDY_PARSE_ERROR; /* no CRLF within 107 bytes */
        return v1_line(buf, len, 0, &info) ? EDDY_PARSE_NEED_MORE : EDDY_PARSE_ERROR;
    }
    if (i + 1 == len)
        return v1_line(buf, i, 0, &info) ? EDDY_PARSE_NEED_MORE : EDDY_PARSE_ERROR;
    if (buf[i + 1] != '\n')
        return EDDY_PARSE_ERROR; /* a CR alone */
    if (!v1_line(buf, i, 1, &info))
        return EDDY_PARSE_ERROR;
    *out = info;
    return (int)(i + 2);
}

/* ---- version 2 ---------------------------------------------------------- */

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

enum { V2_LOCAL = 0x0, V2_PROXY = 0x1 };

/* The address block's size for a PROXY command's family/transport byte, or
 * -1 when the byte is none of the spec's seven combinations. */
static int v2_block(unsigned fam)
{
    switch (fam) {
    case 0x00: /* UNSPEC */
        return 0;
    case 0x11: /* TCP over IPv4 */
    case 0x12: /* UDP over IPv4 */
        return 2 * 4 + 2 * 2;
    case 0x21: /* TCP over IPv6 */
    case 0x22: /* UDP over IPv6 */
        return 2 * 16 + 2 * 2;
    case 0x31: /* UNIX stream */
    case 0x32: /* UNIX datagram */
        return 2 * 108;
    default:
        return -1;
    }
}

static unsigned be16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static int parse_v2(const unsigned char *b, size_t len, size_t max, eddy__proxy_info *out)
{
    size_t n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
    if (memcmp(b, v2_sig, n) != 0)
        return EDDY_PARSE_ERROR;
    if (len < 13)
        return EDDY_PARSE_NEED_MORE;
    if (b[12] >> 4 != 2)
        return EDDY_PARSE_ERROR; /* version */
    unsigned cmd = b[12] & 0x0F;
    if (cmd != V2_LOCAL && cmd != V2_PROXY)
        return EDDY_PARSE_ERROR;
    if (len < 14)
        return EDDY_PARSE_NEED_MORE;
    unsigned fam = b[13];
    int block = 0;
    if (cmd == V2_PROXY && (block = v2_block(fam)) < 0)
        return EDDY_PARSE_ERROR;
    if (len < EDDY__PROXY_V2_FIXED)
        return EDDY_PARSE_NEED_MORE;
    size_t body = be16(b + 14);
    size_t total = EDDY__PROXY_V2_FIXED + body;
    if (total > max)
        return EDDY_PARSE_ERROR;
    if (body < (size_t)block)
        return EDDY_PARSE_ERROR; /* the addresses do not fit */
    if (len < total)
        return EDDY_PARSE_NEED_MORE;

    eddy__proxy_info info;
    memset(&info, 0, sizeof(info));
    info.version = 2;
    info.local = 1;
    info.family = AF_UNSPEC;
    if (cmd == V2_LOCAL) {
        /* The connection is the proxy's own (a health check): its block,
         * family included, is ignored. */
        *out = info;
        return (int)total;
    }

    /* The TLVs after the addresses must tile the rest exactly. */
    size_t off = EDDY__PROXY_V2_FIXED + (size_t)block;
    info.tlv_off = off;
    info.tlv_len = total - off;
    while (off < total) {
        if (total - off < 3)
            return EDDY_PARSE_ERROR; /* a TLV's type and length cut short */
        size_t vlen = be16(b + off + 1);
        if (vlen > total - off - 3)
            return EDDY_PARSE_ERROR; /* its value runs past the header */
        off += 3 + vlen;
    }

    const unsigned char *a = b + EDDY__PROXY_V2_FIXED;
    info.socktype = (fam & 0x0F) == 0x1 ? SOCK_STREAM : (fam & 0x0F) == 0x2 ? SOCK_DGRAM : 0;
    switch (fam >> 4) {
    case 0x1: {
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        memcpy(&sin.sin_addr, a, 4);
        memcpy(&sin.sin_port, a + 8, 2);
        memcpy(&info.src, &sin, sizeof(sin));
        memcpy(&sin.sin_addr, a + 4, 4);
        memcpy(&sin.sin_port, a + 10, 2);
        memcpy(&info.dst, &sin, sizeof(sin));
        info.local = 0;
        info.family = AF_INET;
        break;
    }
    case 0x2: {
        struct sockaddr_in6 sin6;
        memset(&sin6, 0, sizeof(sin6));
        sin6.sin6_family = AF_INET6;
        memcpy(&sin6.sin6_addr, a, 16);
        memcpy(&sin6.sin6_port, a + 32, 2);
        memcpy(&info.src, &sin6, sizeof(sin6));
        memcpy(&sin6.sin6_addr, a + 16, 16);
        memcpy(&sin6.sin6_port, a + 34, 2);
        memcpy(&info.dst, &sin6, sizeof(sin6));
        info.local = 0;
        info.family = AF_INET6;
        break;
    }
    case 0x3:
        /* Unix socket paths are no client address: keep the real one. */
        info.family = AF_UNIX;
        break;
    default: /* UNSPEC: the spec lets the receiver use the real addresses */
        break;
    }
    *out = info;
    return (int)total;
}

/* ---- entry points ------------------------------------------------------- */

int eddy__proxy_parse_max(const char *buf, size_t len, size_t max_v2, eddy__proxy_info *out)
{
    if (len == 0)
        return EDDY_PARSE_NEED_MORE;
    if (buf[0] == 'P')
        return parse_v1(buf, len, out);
    if (buf[0] == '\r')
        return parse_v2((const unsigned char *)buf, len, max_v2, out);
    return EDDY_PARSE_ERROR;
}

int eddy__proxy_parse(const char *buf, size_t len, eddy__proxy_info *out)
{
    return eddy__proxy_parse_max(buf, len, EDDY__PROXY_V2_MAX, out);
}

void eddy__proxy_format_source(const eddy__proxy_info *pi, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    char text[INET6_ADDRSTRLEN];
    if (pi && !pi->local && pi->src.ss_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, &pi->src, sizeof(sin));
        if (inet_ntop(AF_INET, &sin.sin_addr, text, sizeof(text))) {
            snprintf(buf, len, "%s:%u", text, (unsigned)ntohs(sin.sin_port));
            return;
        }
    } else if (pi && !pi->local && pi->src.ss_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, &pi->src, sizeof(sin6));
        if (inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof(text))) {
            snprintf(buf, len, "[%s]:%u", text, (unsigned)ntohs(sin6.sin6_port));
            return;
        }
    }
    snprintf(buf, len, "%s", pi && pi->family == AF_UNIX ? "unix" : "unknown");
}
