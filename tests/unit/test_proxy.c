/* tests/unit/test_proxy.c - the PROXY protocol header parser (core/proxy.c):
 * good v1 and v2 headers with their addresses, every split point of each
 * (NEED_MORE until the last byte, then the same answer), payload after the
 * header, every malformed form the spec rules out, early rejection of bytes
 * that cannot start a header, the v2 length bound, and the log formatting.
 *
 * Every call gets a heap copy of exactly the bytes it may read, so a build
 * with EDDY_SANITIZE=address catches any read past len. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "proxy.h"
#include "suites.h"

#define NEED EDDY_PARSE_NEED_MORE
#define BAD EDDY_PARSE_ERROR
#define S(lit) lit, sizeof(lit) - 1

/* The spec's longest v1 line: 107 bytes. */
#define V1_WORST                                                                                   \
    "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "                                       \
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"

/* Parse a heap copy of exactly len bytes of buf. */
static int parse_max(const void *buf, size_t len, size_t max, eddy__proxy_info *out)
{
    char *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    if (len)
        memcpy(copy, buf, len);
    int rc = eddy__proxy_parse_max(copy, len, max, out);
    free(copy);
    return rc;
}

static int parse(const void *buf, size_t len, eddy__proxy_info *out)
{
    char *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    if (len)
        memcpy(copy, buf, len);
    int rc = eddy__proxy_parse(copy, len, out);
    free(copy);
    return rc;
}

static void same_info(const eddy__proxy_info *a, const eddy__proxy_info *b)
{
    ck_assert_int_eq(a->version, b->version);
    ck_assert_int_eq(a->local, b->local);
    ck_assert_int_eq(a->family, b->family);
    ck_assert_int_eq(a->socktype, b->socktype);
    ck_assert_mem_eq(&a->src, &b->src, sizeof(a->src));
    ck_assert_mem_eq(&a->dst, &b->dst, sizeof(a->dst));
    ck_assert_uint_eq(a->tlv_off, b->tlv_off);
    ck_assert_uint_eq(a->tlv_len, b->tlv_len);
}

static const char *source(const eddy__proxy_info *pi)
{
    static char text[64];
    eddy__proxy_format_source(pi, text, sizeof(text));
    return text;
}

static void check_v4(const struct sockaddr_storage *ss, const char *ip, unsigned port)
{
    struct sockaddr_in sin;
    struct in_addr want;
    ck_assert_int_eq(ss->ss_family, AF_INET);
    memcpy(&sin, ss, sizeof(sin));
    ck_assert_int_eq(inet_pton(AF_INET, ip, &want), 1);
    ck_assert_mem_eq(&sin.sin_addr, &want, sizeof(want));
    ck_assert_uint_eq(ntohs(sin.sin_port), port);
}

static void check_v6(const struct sockaddr_storage *ss, const char *ip, unsigned port)
{
    struct sockaddr_in6 sin6;
    struct in6_addr want;
    ck_assert_int_eq(ss->ss_family, AF_INET6);
    memcpy(&sin6, ss, sizeof(sin6));
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &want), 1);
    ck_assert_mem_eq(&sin6.sin6_addr, &want, sizeof(want));
    ck_assert_uint_eq(ntohs(sin6.sin6_port), port);
}

/* A v2 header: signature, ver_cmd, fam, the declared length, then blen
 * bytes of body (which may differ from the declared length). */
static size_t v2(unsigned char *b, unsigned vc, unsigned fam, size_t declared, const void *body,
                 size_t blen)
{
    static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                          0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    memcpy(b, sig, 12);
    b[12] = (unsigned char)vc;
    b[13] = (unsigned char)fam;
    b[14] = (unsigned char)(declared >> 8);
    b[15] = (unsigned char)declared;
    if (blen && blen <= 65535) /* bounded: gcc -O3 cannot prove it otherwise */
        memcpy(b + 16, body, blen);
    return 16 + blen;
}

/* IPv4 192.0.2.1:56324 -> 198.51.100.7:443 */
static const unsigned char body4[12] = {192, 0, 2, 1, 198, 51, 100, 7, 0xDC, 0x04, 0x01, 0xBB};
/* IPv6 2001:db8::1:8080 -> ::1:80 */
static const unsigned char body6[36] = {
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* src */
    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* dst */
    0x1F, 0x90, 0x00, 0x50};

/* ---- v1 ----------------------------------------------------------------- */

START_TEST(v1_tcp4)
{
    static const char h[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    eddy__proxy_info pi;
    ck_assert_int_eq(parse(S(h), &pi), (int)sizeof(h) - 1);
    ck_assert_int_eq(pi.version, 1);
    ck_assert_int_eq(pi.local, 0);
    ck_assert_int_eq(pi.family, AF_INET);
    ck_assert_int_eq(pi.socktype, SOCK_STREAM);
    check_v4(&pi.src, "192.168.0.1", 56324);
    check_v4(&pi.dst, "192.168.0.11", 443);
    ck_assert_str_eq(source(&pi), "192.168.0.1:56324");

    static const char hi[] = "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
    ck_assert_int_eq(parse(S(hi), &pi), 56); /* the spec's longest TCP4 line */
    check_v4(&pi.src, "255.255.255.255", 65535);
    static const char lo[] = "PROXY TCP4 0.0.0.0 10.0.0.0 0 0\r\n";
    ck_assert_int_eq(parse(S(lo), &pi), (int)sizeof(lo) - 1);
    check_v4(&pi.src, "0.0.0.0", 0);
    check_v4(&pi.dst, "10.0.0.0", 0);
}
END_TEST

START_TEST(v1_tcp6)
{
    static const char h[] = "PROXY TCP6 2001:db8::1 ::1 56324 80\r\n";
    eddy__proxy_info pi;
    ck_assert_int_eq(parse(S(h), &pi), (int)sizeof(h) - 1);
    ck_assert_int_eq(pi.version, 1);
    ck_assert_int_eq(pi.local, 0);
    ck_assert_int_eq(pi.family, AF_INET6);
    check_v6(&pi.src, "2001:db8::1", 56324);
    check_v6(&pi.dst, "::1", 80);
    ck_assert_str_eq(source(&pi), "[2001:db8::1]:56324");

    static const char full[] = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                               "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF 65535 65535\r\n";
    ck_assert_int_eq(parse(S(full), &pi), 104); /* the spec's longest TCP6 line */
    check_v6(&pi.dst, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    /* inet_ntop writes v4-mapped addresses with a dotted tail: accepted. */
    static const char mapped[] = "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:192.0.2.2 1 2\r\n";
    ck_assert_int_eq(parse(S(mapped), &pi), (int)sizeof(mapped) - 1);
    check_v6(&pi.src, "::ffff:192.0.2.1", 1);
    ck_assert_str_eq(source(&pi), "[::ffff:192.0.2.1]:1");
}
END_TEST

START_TEST(v1_unknown)
{
    eddy__proxy_info pi;
    ck_assert_int_eq(parse(S("PROXY UNKNOWN\r\n"), &pi), 15);
    ck_assert_int_eq(pi.version, 1);
    ck_assert_int_eq(pi.local, 1);
    ck_assert_int_eq(pi.family, AF_UNSPEC);
    ck_assert_int_eq(pi.socktype, 0);
    ck_assert_int_eq(pi.src.ss_family, AF_UNSPEC);
    ck_assert_str_eq(source(&pi), "unknown");
    /* The rest of the line is ignored, whatever it is. */
    ck_assert_int_eq(parse(S("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n"), &pi), 35);
    ck_assert_int_eq(parse(S("PROXY UNKNOWN  not  even \t an address\r\n"), &pi), 39);
    ck_assert_int_eq(pi.local, 1);
    /* The spec's worst case: 107 bytes. */
    static const char worst[] = V1_WORST;
    ck_assert_uint_eq(sizeof(worst) - 1, EDDY__PROXY_V1_MAX);
    ck_assert_int_eq(parse(S(worst), &pi), EDDY__PROXY_V1_MAX);
}
END_TEST

START_TEST(v1_line_limit)
{
    char line[200];
    eddy__proxy_info pi;
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    /* CRLF ending exactly at byte 107 is fine, at 108 it is not. */
    memcpy(line + 105, "\r\n", 2);
    ck_assert_int_eq(parse(line, 107, &pi), 107);
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    memcpy(line + 106, "\r\n", 2);
    ck_assert_int_eq(parse(line, 108, &pi), BAD);
    ck_assert_int_eq(parse(line, 107, &pi), BAD); /* the CR at 107 is already too late */
    ck_assert_int_eq(parse(line, 106, &pi), BAD); /* no CR within the first 106 bytes */
    ck_assert_int_eq(parse(line, 105, &pi), NEED);
    /* Without any CRLF. */
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    ck_assert_int_eq(parse(line, 105, &pi), NEED);
    ck_assert_int_eq(parse(line, 106, &pi), BAD);
    ck_assert_int_eq(parse(line, sizeof(line), &pi), BAD);
}
END_TEST

START_TEST(v1_malformed)
{
    static const struct {
        const char *text;
        size_t len;
    } bad[] = {
        /* case and keywords */
        {S("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n")},
        {S("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n")},
        {S("PROXY unknown\r\n")},
        {S("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n")},
        {S("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n")},
        {S("PROXY UNKNOWNX\r\n")},
        {S("PROXY UNKNOW\r\n")},
        {S("PROXY\r\n")},
        {S("PROXY \r\n")},
        {S("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n")},
        /* spaces */
        {S("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n")},
        {S(" PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")},
        {S("PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n")},
        /* fields missing or extra */
        {S("PROXY TCP4\r\n")},
        {S("PROXY TCP4 \r\n")},
        {S("PROXY TCP4 1.2.3.4\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n")},
        {S("PROXY TCP6 ::1 ::2 1 2 extra\r\n")},
        /* IPv4 */
        {S("PROXY TCP4 256.1.1.1 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 1.2.3.00 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 1..2.3 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 .1.2.3 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 1.2.3. 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 1.2.3.4a 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.1000 1 2\r\n")},
        {S("PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 16909060 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 -1.2.3.4 5.6.7.8 1 2\r\n")},
        /* IPv6 */
        {S("PROXY TCP6 2001:db8:::1 ::1 1 2\r\n")},
        {S("PROXY TCP6 1::2::3 ::1 1 2\r\n")},
        {S("PROXY TCP6 12345::1 ::1 1 2\r\n")},
        {S("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n")},
        {S("PROXY TCP6 [::1] ::1 1 2\r\n")},
        {S("PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n")},
        {S("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n")},
        {S("PROXY TCP6 g::1 ::1 1 2\r\n")},
        {S("PROXY TCP6 : ::1 1 2\r\n")},
        /* family mismatch */
        {S("PROXY TCP4 ::1 ::1 1 2\r\n")},
        {S("PROXY TCP4 1.2.3.4 ::1 1 2\r\n")},
        {S("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP6 ::1 5.6.7.8 1 2\r\n")},
        /* ports */
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1 0x50\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2a\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 000000000000001 2\r\n")},
        /* line endings */
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n")},
        {S("PROXY TCP4 1.2.3.4\r\n 5.6.7.8 1 2\r\n")},
        {S("PROXY UNKNOWN\n")},
        {S("PROXY UNKNOWN foo\nbar\r\n")},
        {S("PROXY UNKNOWN foo\rbar\r\n")},
        {S("PROXY\n")},
        /* bytes that are not text */
        {S("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n")},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        eddy__proxy_info pi;
        memset(&pi, 0xAB, sizeof(pi));
        ck_assert_msg(parse(bad[i].text, bad[i].len, &pi) == BAD, "accepted #%zu: '%s'", i,
                      bad[i].text);
        for (size_t k = 0; k < sizeof(pi); k++)
            ck_assert_msg(((unsigned char *)&pi)[k] == 0xAB, "#%zu wrote *out", i);
    }
}
END_TEST

/* ---- v2 ----------------------------------------------------------------- */

START_TEST(v2_local)
{
    unsigned char b[600];
    eddy__proxy_info pi;
    size_t n = v2(b, 0x20, 0x00, 0, NULL, 0);
    ck_assert_int_eq(parse(b, n, &pi), 16);
    ck_assert_int_eq(pi.version, 2);
    ck_assert_int_eq(pi.local, 1);
    ck_assert_int_eq(pi.family, AF_UNSPEC);
    ck_assert_int_eq(pi.src.ss_family, AF_UNSPEC);
    ck_assert_uint_eq(pi.tlv_len, 0);
    ck_assert_str_eq(source(&pi), "unknown");
    /* LOCAL with an address block: the block is skipped, not used. */
    n = v2(b, 0x20, 0x11, sizeof(body4), body4, sizeof(body4));
    ck_assert_int_eq(parse(b, n, &pi), 28);
    ck_assert_int_eq(pi.local, 1);
    ck_assert_int_eq(pi.src.ss_family, AF_UNSPEC);
    /* The spec: LOCAL ignores the family, and the block need not be TLVs. */
    n = v2(b, 0x20, 0xFF, 2, "\x01\x02", 2);
    ck_assert_int_eq(parse(b, n, &pi), 18);
    ck_assert_int_eq(pi.local, 1);
}
END_TEST

START_TEST(v2_proxy_ipv4)
{
    unsigned char b[600];
    eddy__proxy_info pi;
    size_t n = v2(b, 0x21, 0x11, sizeof(body4), body4, sizeof(body4));
    ck_assert_int_eq(parse(b, n, &pi), 28);
    ck_assert_int_eq(pi.version, 2);
    ck_assert_int_eq(pi.local, 0);
    ck_assert_int_eq(pi.family, AF_INET);
    ck_assert_int_eq(pi.socktype, SOCK_STREAM);
    check_v4(&pi.src, "192.0.2.1", 56324);
    check_v4(&pi.dst, "198.51.100.7", 443);
    ck_assert_uint_eq(pi.tlv_off, 28);
    ck_assert_uint_eq(pi.tlv_len, 0);
    ck_assert_str_eq(source(&pi), "192.0.2.1:56324");
    /* UDP over IPv4 */
    n = v2(b, 0x21, 0x12, sizeof(body4), body4, sizeof(body4));
    ck_assert_int_eq(parse(b, n, &pi), 28);
    ck_assert_int_eq(pi.family, AF_INET);
    ck_assert_int_eq(pi.socktype, SOCK_DGRAM);
}
END_TEST

START_TEST(v2_proxy_ipv6)
{
    unsigned char b[600];
    eddy__proxy_info pi;
    size_t n = v2(b, 0x21, 0x21, sizeof(body6), body6, sizeof(body6));
    ck_assert_int_eq(parse(b, n, &pi), 52);
    ck_assert_int_eq(pi.local, 0);
    ck_assert_int_eq(pi.family, AF_INET6);
    ck_assert_int_eq(pi.socktype, SOCK_STREAM);
    check_v6(&pi.src, "2001:db8::1", 8080);
    check_v6(&pi.dst, "::1", 80);
    ck_assert_str_eq(source(&pi), "[2001:db8::1]:8080");
    n = v2(b, 0x21, 0x22, sizeof(body6), body6, sizeof(body6));
    ck_assert_int_eq(parse(b, n, &pi), 52);
    ck_assert_int_eq(pi.socktype, SOCK_DGRAM);
}
END_TEST

START_TEST(v2_proxy_unix_unspec)
{
    unsigned char b[600], paths[216];
    eddy__proxy_info pi;
    memset(paths, 0, sizeof(paths));
    memcpy(paths, "/run/client.sock", 16);
    memcpy(paths + 108, "/run/eddy.sock", 14);
    size_t n = v2(b, 0x21, 0x31, sizeof(paths), paths, sizeof(paths));
    ck_assert_int_eq(parse(b, n, &pi), 232);
    ck_assert_int_eq(pi.local, 1);
    ck_assert_int_eq(pi.family, AF_UNIX);
    ck_assert_int_eq(pi.socktype, SOCK_STREAM);
    ck_assert_int_eq(pi.src.ss_family, AF_UNSPEC);
    ck_assert_str_eq(source(&pi), "unix");
    n = v2(b, 0x21, 0x32, sizeof(paths), paths, sizeof(paths));
    ck_assert_int_eq(parse(b, n, &pi), 232);
    ck_assert_int_eq(pi.family, AF_UNIX);
    ck_assert_int_eq(pi.socktype, SOCK_DGRAM);
    /* PROXY with AF_UNSPEC: accepted, real addresses stand. */
    n = v2(b, 0x21, 0x00, 0, NULL, 0);
    ck_assert_int_eq(parse(b, n, &pi), 16);
    ck_assert_int_eq(pi.local, 1);
    ck_assert_int_eq(pi.family, AF_UNSPEC);
    ck_assert_int_eq(pi.socktype, 0);
    /* ... and its TLVs, if any, are still checked. */
    n = v2(b, 0x21, 0x00, 3, "\x04\x00\x00", 3);
    ck_assert_int_eq(parse(b, n, &pi), 19);
    ck_assert_uint_eq(pi.tlv_off, 16);
    ck_assert_uint_eq(pi.tlv_len, 3);
    n = v2(b, 0x21, 0x00, 3, "\x04\x00\x01", 3);
    ck_assert_int_eq(parse(b, n, &pi), BAD);
}
END_TEST

START_TEST(v2_tlvs)
{
    unsigned char body[64], b[600];
    size_t m = 0;
    memcpy(body, body4, 12);
    m = 12;
    memcpy(body + m, "\x01\x00\x02h2", 5); /* ALPN "h2" */
    m += 5;
    memcpy(body + m, "\x04\x00\x00", 3); /* an empty NOOP */
    m += 3;
    memcpy(body + m, "\x02\x00\x0b" "example.com", 14); /* AUTHORITY */
    m += 14;
    size_t n = v2(b, 0x21, 0x11, m, body, m);
    eddy__proxy_info pi;
    ck_assert_int_eq(parse(b, n, &pi), (int)n);
    ck_assert_int_eq(pi.family, AF_INET);
    check_v4(&pi.src, "192.0.2.1", 56324);
    ck_assert_uint_eq(pi.tlv_off, 28);
    ck_assert_uint_eq(pi.tlv_len, 22);
    ck_assert_mem_eq(b + pi.tlv_off, "\x01\x00\x02h2", 5);
}
END_TEST

START_TEST(v2_length_bound)
{
    unsigned char b[70000], body[65535];
    eddy__proxy_info pi;
    /* IPv4 block then one NOOP TLV padding the header to exactly max. */
    memset(body, 0, sizeof(body));
    memcpy(body, body4, 12);
    size_t pad = EDDY__PROXY_V2_MAX - 16 - 12 - 3;
    body[12] = 0x04;
    body[13] = (unsigned char)(pad >> 8);
    body[14] = (unsigned char)pad;
    size_t blen = 12 + 3 + pad;
    size_t n = v2(b, 0x21, 0x11, blen, body, blen);
    ck_assert_uint_eq(n, EDDY__PROXY_V2_MAX);
    ck_assert_int_eq(parse(b, n, &pi), EDDY__PROXY_V2_MAX);
    /* One byte more is over the bound, and known as soon as the length is. */
    pad++;
    body[13] = (unsigned char)(pad >> 8);
    body[14] = (unsigned char)pad;
    blen++;
    n = v2(b, 0x21, 0x11, blen, body, blen);
    ck_assert_int_eq(parse(b, n, &pi), BAD);
    ck_assert_int_eq(parse(b, 16, &pi), BAD);
    ck_assert_int_eq(parse(b, 15, &pi), NEED);
    /* A larger bound lets it through; the largest length the field holds. */
    ck_assert_int_eq(parse_max(b, n, 4096, &pi), (int)n);
    pad = 65535 - 12 - 3;
    body[13] = (unsigned char)(pad >> 8);
    body[14] = (unsigned char)pad;
    n = v2(b, 0x21, 0x11, 65535, body, 65535);
    ck_assert_int_eq(parse_max(b, n, 16 + 65535, &pi), 16 + 65535);
    ck_assert_int_eq(parse_max(b, n - 1, 16 + 65535, &pi), NEED);
    ck_assert_int_eq(parse_max(b, n, 16 + 65534, &pi), BAD);
    ck_assert_int_eq(parse(b, n, &pi), BAD);
    /* A bound below the fixed part refuses every v2 header. */
    n = v2(b, 0x20, 0x00, 0, NULL, 0);
    ck_assert_int_eq(parse_max(b, n, 15, &pi), BAD);
}
END_TEST

START_TEST(v2_malformed)
{
    unsigned char b[600], body[64];
    eddy__proxy_info pi;
    size_t n;

    /* A wrong byte anywhere in the signature is refused when it arrives. */
    for (size_t k = 0; k < 12; k++) {
        n = v2(b, 0x21, 0x11, sizeof(body4), body4, sizeof(body4));
        b[k] ^= 0x40;
        if (k > 0)
            ck_assert_int_eq(parse(b, k, &pi), NEED);
        ck_assert_msg(parse(b, k + 1, &pi) == BAD, "signature byte %zu", k);
        ck_assert_int_eq(parse(b, n, &pi), BAD);
    }
    /* Version: only 2. */
    static const unsigned vcs[] = {0x01, 0x11, 0x10, 0x31, 0xF1, 0x00};
    for (size_t i = 0; i < sizeof(vcs) / sizeof(vcs[0]); i++) {
        n = v2(b, vcs[i], 0x11, sizeof(body4), body4, sizeof(body4));
        ck_assert_msg(parse(b, 13, &pi) == BAD, "ver_cmd %#x", vcs[i]);
        ck_assert_int_eq(parse(b, n, &pi), BAD);
    }
    /* Command: LOCAL or PROXY only. */
    for (unsigned cmd = 2; cmd < 16; cmd++) {
        n = v2(b, 0x20 | cmd, 0x11, sizeof(body4), body4, sizeof(body4));
        ck_assert_int_eq(parse(b, 13, &pi), BAD);
        ck_assert_int_eq(parse(b, n, &pi), BAD);
    }
    /* Family/transport under PROXY: only the spec's seven bytes. */
    for (unsigned fam = 0; fam < 256; fam++) {
        n = v2(b, 0x21, fam, 0, NULL, 0);
        int ok = fam == 0x00 || fam == 0x11 || fam == 0x12 || fam == 0x21 || fam == 0x22 ||
                 fam == 0x31 || fam == 0x32;
        if (!ok) {
            ck_assert_msg(parse(b, 14, &pi) == BAD, "family %#x", fam);
            ck_assert_int_eq(parse(b, n, &pi), BAD);
        } else {
            ck_assert_int_eq(parse(b, 14, &pi), NEED);
        }
    }
    /* A length shorter than the address block. */
    static const struct {
        unsigned fam;
        size_t block;
    } blocks[] = {{0x11, 12}, {0x12, 12}, {0x21, 36}, {0x22, 36}, {0x31, 216}, {0x32, 216}};
    for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
        unsigned char zeros[216] = {0};
        for (size_t short_len = 0; short_len < blocks[i].block; short_len += 5) {
            n = v2(b, 0x21, blocks[i].fam, short_len, zeros, short_len);
            ck_assert_int_eq(parse(b, 16, &pi), BAD); /* known from the length field */
            ck_assert_int_eq(parse(b, n, &pi), BAD);
        }
        n = v2(b, 0x21, blocks[i].fam, blocks[i].block - 1, zeros, blocks[i].block - 1);
        ck_assert_int_eq(parse(b, n, &pi), BAD);
        n = v2(b, 0x21, blocks[i].fam, blocks[i].block, zeros, blocks[i].block);
        ck_assert_int_eq(parse(b, n, &pi), (int)n);
    }
    /* Truncated TLVs: 1 or 2 bytes left after the addresses, a value longer
     * than what is left, a good TLV followed by a cut one. */
    memcpy(body, body4, 12);
    memcpy(body + 12, "\x04\x00\x00" "\x04\x00\x05" "xyzvw", 11);
    static const size_t cuts[] = {13, 14, 16, 18, 19, 20, 21, 22};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        n = v2(b, 0x21, 0x11, cuts[i], body, cuts[i]);
        ck_assert_msg(parse(b, n, &pi) == BAD, "TLVs cut at %zu", cuts[i]);
    }
    n = v2(b, 0x21, 0x11, 23, body, 23);
    ck_assert_int_eq(parse(b, n, &pi), 16 + 23);
    memcpy(body + 12, "\x01\xFF\xFF", 3); /* value length 65535 */
    n = v2(b, 0x21, 0x11, 20, body, 20);
    ck_assert_int_eq(parse(b, n, &pi), BAD);
}
END_TEST

/* ---- both --------------------------------------------------------------- */

typedef struct {
    unsigned char bytes[600];
    size_t len;
} sample;

static size_t good_samples(sample *s)
{
    static const char *const v1[] = {
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
        "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
        "PROXY TCP6 2001:db8::1 ::1 56324 80\r\n",
        "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:192.0.2.2 1 2\r\n",
        "PROXY UNKNOWN\r\n",
        V1_WORST,
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof(v1) / sizeof(v1[0]); i++, n++) {
        s[n].len = strlen(v1[i]);
        memcpy(s[n].bytes, v1[i], s[n].len);
    }
    unsigned char body[300];
    memset(body, 0, sizeof(body));
    s[n].len = v2(s[n].bytes, 0x20, 0x00, 0, NULL, 0);
    n++;
    s[n].len = v2(s[n].bytes, 0x21, 0x11, 12, body4, 12);
    n++;
    s[n].len = v2(s[n].bytes, 0x21, 0x22, 36, body6, 36);
    n++;
    s[n].len = v2(s[n].bytes, 0x21, 0x31, 216, body, 216);
    n++;
    s[n].len = v2(s[n].bytes, 0x21, 0x00, 0, NULL, 0);
    n++;
    memcpy(body, body4, 12);
    memcpy(body + 12, "\x01\x00\x02h2\x04\x00\x00", 8);
    s[n].len = v2(s[n].bytes, 0x21, 0x11, 20, body, 20);
    n++;
    return n;
}

START_TEST(every_split_point)
{
    sample s[16];
    size_t count = good_samples(s);
    for (size_t i = 0; i < count; i++) {
        eddy__proxy_info whole, part;
        ck_assert_int_eq(parse(s[i].bytes, s[i].len, &whole), (int)s[i].len);
        for (size_t k = 0; k < s[i].len; k++) {
            memset(&part, 0xAB, sizeof(part));
            ck_assert_msg(parse(s[i].bytes, k, &part) == NEED, "sample %zu: %zu of %zu bytes", i,
                          k, s[i].len);
            for (size_t j = 0; j < sizeof(part); j++)
                ck_assert(((unsigned char *)&part)[j] == 0xAB);
        }
        ck_assert_int_eq(parse(s[i].bytes, s[i].len, &part), (int)s[i].len);
        same_info(&whole, &part);
    }
}
END_TEST

START_TEST(payload_follows)
{
    sample s[16];
    size_t count = good_samples(s);
    static const struct {
        const char *text;
        size_t len;
    } payloads[] = {
        {S("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
        {S("\r\n")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")}, /* a second header is payload */
        {S("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x00")},
        {S("x")},
    };
    for (size_t i = 0; i < count; i++) {
        eddy__proxy_info alone, with;
        ck_assert_int_eq(parse(s[i].bytes, s[i].len, &alone), (int)s[i].len);
        for (size_t p = 0; p < sizeof(payloads) / sizeof(payloads[0]); p++) {
            unsigned char buf[1024];
            size_t plen = payloads[p].len;
            memcpy(buf, s[i].bytes, s[i].len);
            memcpy(buf + s[i].len, payloads[p].text, plen);
            ck_assert_int_eq(parse(buf, s[i].len + plen, &with), (int)s[i].len);
            same_info(&alone, &with);
        }
        /* A large payload, too: only the header counts. */
        unsigned char big[8192];
        memset(big, 'A', sizeof(big));
        memcpy(big, s[i].bytes, s[i].len);
        ck_assert_int_eq(parse(big, sizeof(big), &with), (int)s[i].len);
    }
}
END_TEST

START_TEST(neither_version)
{
    eddy__proxy_info pi;
    ck_assert_int_eq(parse("", 0, &pi), NEED);
    /* Other protocols, and bytes that stop matching either version: refused
     * as soon as they are there, not left waiting for more. */
    static const struct {
        const char *text;
        size_t len;
    } not_proxy[] = {
        {S("GET / HTTP/1.1\r\n")}, {S("G")}, {S("\x16\x03\x01\x02\x00")},
        {S("SSH-2.0-OpenSSH\r\n")}, {S("*1\r\n$4\r\nPING\r\n")}, {S("PING\r\n")},
        {S("\n")}, {S(" PROXY")}, {S("\0")}, {S("\r\r")}, {S("\r\n\r\n\0\r\nQUIT!")},
        {S("PROX ")}, {S("PROXYY")}, {S("PROXY_")}, {S("PROXY X")}, {S("PROXY T ")},
        {S("PROXY TCP ")}, {S("PROXY U ")}, {S("PROXY TCP4 a")}, {S("PROXY TCP4 1:")},
        {S("PROXY TCP6 x")}, {S("PROXY TCP4 256")}, {S("PROXY TCP4 01")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 01")}, {S("PROXY TCP4 1.2.3.4 5.6.7.8 65536")},
        {S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ")}, {S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r ")},
    };
    for (size_t i = 0; i < sizeof(not_proxy) / sizeof(not_proxy[0]); i++)
        ck_assert_msg(parse(not_proxy[i].text, not_proxy[i].len, &pi) == BAD,
                      "#%zu '%s' not refused at once", i, not_proxy[i].text);
    /* Valid beginnings wait. */
    ck_assert_int_eq(parse(S("PROXY TCP4 1.2.3.4 5.6.7.8 0"), &pi), NEED);
    ck_assert_int_eq(parse(S("PROXY TCP4 1.2.3.4 5.6.7.8 0 6553"), &pi), NEED);
    ck_assert_int_eq(parse(S("PROXY TCP6 ::ffff:1.2"), &pi), NEED);
    ck_assert_int_eq(parse(S("PROXY UNKNOWN"), &pi), NEED);
    ck_assert_int_eq(parse(S("PROXY UNKNOWN junk"), &pi), NEED);
    ck_assert_int_eq(parse(S("\r\n\r\n\0\r\nQUIT\n"), &pi), NEED);
    /* The first byte alone decides for most protocols. */
    for (int c = 0; c < 256; c++) {
        char one = (char)c;
        int want = c == 'P' || c == '\r' ? NEED : BAD;
        ck_assert_int_eq(parse(&one, 1, &pi), want);
    }
}
END_TEST

/* Whatever the bytes, a longer prefix never turns an error back into
 * something else, nor changes a complete answer. */
START_TEST(answers_are_monotonic)
{
    sample s[16];
    size_t count = good_samples(s);
    /* Add corrupted versions of every sample: each byte flipped. */
    for (size_t i = 0; i < count; i++) {
        for (size_t at = 0; at < s[i].len; at++) {
            unsigned char buf[700];
            memcpy(buf, s[i].bytes, s[i].len);
            memcpy(buf + s[i].len, "tail\r\n", 6);
            buf[at] ^= (unsigned char)(1u << (at % 8));
            size_t len = s[i].len + 6;
            int prev = NEED;
            for (size_t k = 0; k <= len; k++) {
                eddy__proxy_info pi;
                int rc = parse(buf, k, &pi);
                if (prev == BAD)
                    ck_assert_msg(rc == BAD, "sample %zu flip %zu: %zu bytes", i, at, k);
                else if (prev > 0)
                    ck_assert_int_eq(rc, prev);
                if (rc > 0)
                    ck_assert_uint_le((size_t)rc, k);
                prev = rc;
            }
        }
    }
}
END_TEST

START_TEST(format_source)
{
    eddy__proxy_info pi;
    char small[8];
    ck_assert_int_eq(parse(S("PROXY TCP4 192.168.100.200 1.2.3.4 65535 2\r\n"), &pi), 44);
    ck_assert_str_eq(source(&pi), "192.168.100.200:65535");
    memset(small, 'z', sizeof(small));
    eddy__proxy_format_source(&pi, small, 5);
    ck_assert_str_eq(small, "192.");
    ck_assert_int_eq(small[5], 'z');
    memset(small, 'z', sizeof(small));
    eddy__proxy_format_source(&pi, small, 0);
    ck_assert_int_eq(small[0], 'z');
    eddy__proxy_format_source(&pi, small, 1);
    ck_assert_str_eq(small, "");
    ck_assert_int_eq(parse(S("PROXY TCP6 ::1 ::1 80 2\r\n"), &pi), 25);
    ck_assert_str_eq(source(&pi), "[::1]:80");
    eddy__proxy_format_source(NULL, small, sizeof(small));
    ck_assert_str_eq(small, "unknown");
}
END_TEST

Suite *proxy_suite(void)
{
    Suite *s = suite_create("proxy");
    TCase *tc = tcase_create("proxy");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, v1_tcp4);
    tcase_add_test(tc, v1_tcp6);
    tcase_add_test(tc, v1_unknown);
    tcase_add_test(tc, v1_line_limit);
    tcase_add_test(tc, v1_malformed);
    tcase_add_test(tc, v2_local);
    tcase_add_test(tc, v2_proxy_ipv4);
    tcase_add_test(tc, v2_proxy_ipv6);
    tcase_add_test(tc, v2_proxy_unix_unspec);
    tcase_add_test(tc, v2_tlvs);
    tcase_add_test(tc, v2_length_bound);
    tcase_add_test(tc, v2_malformed);
    tcase_add_test(tc, every_split_point);
    tcase_add_test(tc, payload_follows);
    tcase_add_test(tc, neither_version);
    tcase_add_test(tc, answers_are_monotonic);
    tcase_add_test(tc, format_source);
    suite_add_tcase(s, tc);
    return s;
}
