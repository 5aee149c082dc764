/* core/proxy.h - a pure parser of HAProxy's PROXY protocol header, v1 and v2
 * (doc/proxy-protocol.txt in HAProxy's sources), for listeners that sit
 * behind a load balancer with `proxy_protocol on`.
 *
 * What the parser promises:
 *   - it reads only buf[0..len), never allocates, keeps no state and takes
 *     no lock: call it again on the whole buffer each time more bytes arrive;
 *   - it answers one of three things about the start of buf, as every eddy
 *     parser does (eddy/parse.h):
 *       > 0                     a complete, valid header of that many bytes
 *                               (what follows it is payload, not looked at);
 *       EDDY_PARSE_NEED_MORE    buf is a proper prefix of what could still be
 *                               a valid header: wait for more bytes;
 *       EDDY_PARSE_ERROR        no continuation can make it valid: close.
 *     A header can need at most EDDY__PROXY_V1_MAX (v1) or max_v2 (v2)
 *     bytes, so NEED_MORE never goes on forever, and input that cannot be a
 *     header ("GET /", TLS, ...) is an error from its first byte;
 *   - *out is written only when the header is valid.
 *
 * Version 1 ("PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n") is parsed as
 * strictly as the spec reads: upper-case keywords; exactly one space between
 * fields; IPv4 as four decimal numbers 0-255 without leading zeros; IPv6 as
 * inet_pton() reads it (hex groups, one "::", and the dotted tail inet_ntop
 * prints for v4-mapped addresses), at most 45 characters; the family must
 * match the addresses (TCP4 with an IPv6 address is invalid); ports decimal
 * 0-65535 without sign and without leading zeros ("0" alone is fine, "080"
 * is not: the spec forbids heading zeroes); CRLF within the first 107 bytes,
 * a CR or LF alone anywhere is invalid.  "PROXY UNKNOWN" is followed by CRLF
 * or by a space and anything but CR or LF up to the CRLF, which is ignored.
 *
 * Version 2 (12-byte signature, then version/command, family/transport and a
 * big-endian length): version must be 2; command LOCAL (0) or PROXY (1).
 * LOCAL: the family byte and the whole block are ignored, as the spec says.
 * PROXY: the family/transport byte must be one of the spec's seven values
 * (0x00 UNSPEC, 0x11/0x12 TCP/UDP over IPv4, 0x21/0x22 over IPv6, 0x31/0x32
 * UNIX); the length must hold the address block (0, 12, 36 or 216 bytes);
 * the bytes after the block must be a sequence of TLVs (type, 16-bit length,
 * value) that ends exactly at the end of the header.  TLVs are bounds-checked
 * and skipped, not interpreted (in particular a PP2_TYPE_CRC32C is not
 * verified); their span is reported so a caller may read them later.  The
 * whole header, 16 + length, may not exceed max_v2 bytes: by default
 * EDDY__PROXY_V2_MAX = 536, the minimum TCP MSS, which the spec says a
 * header always fits in.  Too long is an error as soon as the length field
 * has arrived, before waiting for the rest.
 */
#ifndef EDDY_CORE_PROXY_H
#define EDDY_CORE_PROXY_H

#include <stddef.h>
#include <sys/socket.h>

#include "eddy/parse.h"

/* The longest v1 header, CRLF included ("PROXY UNKNOWN" with two full IPv6
 * addresses and ports). */
#define EDDY__PROXY_V1_MAX 107
/* The default bound on a whole v2 header, TLVs included. */
#define EDDY__PROXY_V2_MAX 536
/* A v2 header's fixed part: signature, version/command, family, length. */
#define EDDY__PROXY_V2_FIXED 16

typedef struct eddy__proxy_info {
    int version; /* 1 or 2 */
    /* 1 when the header carries no address to use, so the connection's real
     * addresses stand: v1 UNKNOWN, v2 LOCAL, v2 PROXY with AF_UNSPEC or
     * AF_UNIX.  0 when src and dst hold the client's and the proxy's
     * addresses. */
    int local;
    /* AF_INET or AF_INET6 when local == 0; when local == 1, AF_UNIX for a v2
     * PROXY header over a Unix socket, AF_UNSPEC otherwise. */
    int family;
    /* SOCK_STREAM (v1 TCP, v2 STREAM) or SOCK_DGRAM (v2 DGRAM); 0 when the
     * header does not say (v1 UNKNOWN, v2 LOCAL or UNSPEC). */
    int socktype;
    /* The source (client) and destination addresses with their ports, as a
     * sockaddr_in or sockaddr_in6; zeroed, ss_family AF_UNSPEC, when
     * local == 1. */
    struct sockaddr_storage src, dst;
    /* v2 PROXY: the TLVs, buf[tlv_off .. tlv_off + tlv_len), already checked
     * to be well formed; 0 and 0 otherwise. */
    size_t tlv_off, tlv_len;
} eddy__proxy_info;

/* Parse the PROXY header at the start of buf (see above) with the default
 * v2 bound EDDY__PROXY_V2_MAX. */
int eddy__proxy_parse(const char *buf, size_t len, eddy__proxy_info *out);
/* The same with a v2 bound of max_v2 bytes for the whole header (16 bytes
 * plus its length field); at most 16 + 65535 is meaningful. */
int eddy__proxy_parse_max(const char *buf, size_t len, size_t max_v2, eddy__proxy_info *out);

/* The source address for logs: "192.0.2.1:56324", "[2001:db8::1]:443";
 * when local == 1, "unix" (v2 AF_UNIX) or "unknown" (the caller has the
 * real address for those).
 * Always NUL-terminated when len > 0, truncated to fit. */
void eddy__proxy_format_source(const eddy__proxy_info *pi, char *buf, size_t len);

#endif
