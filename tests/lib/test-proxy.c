/* SPDX-License-Identifier: MIT */
/* Unit tests for helper/proxy.[ch]: PROXY v1/v2 header parser and trusted networks. */

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Criterion runs each parameter in a fresh process where pointers into our tables are not
 * valid (BoxFort copies the parameter bytes only), so the parameters are table indices. */
static size_t indices[256];

static struct criterion_test_params index_params(size_t n) {
        cr_assert_leq(n, ELEMENTSOF(indices));
        for (size_t i = 0; i < n; i++)
                indices[i] = i;
        return cr_make_param_array(size_t, indices, n);
}

#define SIG "\r\n\r\n\0\r\nQUIT\n"
#define TRAILER "A1 CAPABILITY\r\n"

/* Formats a parsed address as "IP:port" / "[IP6]:port". */
static void fmt_addr(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t size) {
        char ip[INET6_ADDRSTRLEN];

        if (len == 0) {
                snprintf(out, size, "-");
                return;
        }
        if (ss->ss_family == AF_INET) {
                const struct sockaddr_in *sin = (const struct sockaddr_in *) ss;

                cr_assert_eq(len, sizeof(*sin));
                inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
                snprintf(out, size, "%s:%u", ip, ntohs(sin->sin_port));
        } else {
                const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) ss;

                cr_assert_eq(ss->ss_family, AF_INET6);
                cr_assert_eq(len, sizeof(*sin6));
                inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
                snprintf(out, size, "[%s]:%u", ip, ntohs(sin6->sin6_port));
        }
}

/* One header: raw bytes, and either the expected result (fields) or errno + reason. */
typedef struct hcase {
        const char *name;
        const char *data;
        size_t len;
        int expect;             /* > 0: header length; 0: need more; < 0: errno */
        const char *reason;     /* for errors */
        unsigned version;
        bool local;
        const char *src, *dst;  /* "-" when local */
        const char *alpn, *authority;
        bool ssl;
        const char *ssl_cn;
} hcase;

#define D(s) .data = (s), .len = sizeof(s) - 1
#define OK1(n, s, source, dest) \
        { .name = n, D(s), .expect = sizeof(s) - 1, .version = 1, .src = source, .dst = dest }
#define ERR(n, s, e, r) { .name = n, D(s), .expect = -(e), .reason = r }
#define MORE(n, s) { .name = n, D(s), .expect = 0 }
/* Valid header that is exactly the data given. */
#define V(n, s, ...) { .name = n, D(s), .expect = sizeof(s) - 1, __VA_ARGS__ }

/* v2 pieces */
#define V2_TCP4_ADDRS "\x01\x02\x03\x04" "\x05\x06\x07\x08" "\x03\xe8" "\x07\xd0"
#define V2_TCP6_ADDRS \
        "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01" \
        "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02" \
        "\xff\xff" "\x00\x8f"

static const hcase header_cases[] = {
        /* v1, valid */
        OK1("v1 TCP4", "PROXY TCP4 192.0.2.1 198.51.100.2 56324 143\r\n",
            "192.0.2.1:56324", "198.51.100.2:143"),
        OK1("v1 TCP6", "PROXY TCP6 2001:db8::1 ::1 65535 993\r\n",
            "[2001:db8::1]:65535", "[::1]:993"),
        OK1("v1 TCP6 v4-mapped", "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:192.0.2.2 1 2\r\n",
            "[::ffff:192.0.2.1]:1", "[::ffff:192.0.2.2]:2"),
        OK1("v1 port 0 and leading zeros", "PROXY TCP4 10.0.0.1 10.0.0.2 0 00143\r\n",
            "10.0.0.1:0", "10.0.0.2:143"),
        OK1("v1 longest TCP6 line (104 bytes)",
            "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
        V("v1 UNKNOWN", "PROXY UNKNOWN\r\n",
          .version = 1,
          .local = true, .src = "-", .dst = "-"),
        V("v1 UNKNOWN ignores the rest", "PROXY UNKNOWN ffff::1 ffff::2 1 2 whatever\r\n",
          .version = 1,
          .local = true, .src = "-", .dst = "-"),

        /* v1, malformed */
        ERR("v1 missing protocol", "PROXY\r\n", EBADMSG, "Field for proxied protocol is missing"),
        ERR("v1 empty protocol", "PROXY \r\n", EPROTONOSUPPORT, "Unknown proxied protocol"),
        ERR("v1 UDP4", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", EPROTONOSUPPORT,
            "Unknown proxied protocol"),
        ERR("v1 lowercase tcp4", "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", EPROTONOSUPPORT,
            "Unknown proxied protocol"),
        ERR("v1 no source", "PROXY TCP4\r\n", EBADMSG,
            "Field for proxied remote address is missing"),
        ERR("v1 no destination", "PROXY TCP4 1.2.3.4\r\n", EBADMSG,
            "Field for proxied local address is missing"),
        ERR("v1 no source port", "PROXY TCP4 1.2.3.4 5.6.7.8\r\n", EBADMSG,
            "Field for proxied remote port is missing"),
        ERR("v1 no destination port", "PROXY TCP4 1.2.3.4 5.6.7.8 1000\r\n", EBADMSG,
            "Field for proxied local port is missing"),
        ERR("v1 extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1000 2000 x\r\n", EBADMSG,
            "Header line has spurius extra field"),
        ERR("v1 trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1000 2000 \r\n", EBADMSG,
            "Header line has spurius extra field"),
        ERR("v1 double space", "PROXY TCP4 1.2.3.4 5.6.7.8  2000\r\n", EBADMSG,
            "Proxied remote port is invalid"),
        ERR("v1 bad IPv4 octet", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", EBADMSG,
            "Proxied remote address is invalid"),
        ERR("v1 short IPv4", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", EBADMSG,
            "Proxied remote address is invalid"),
        ERR("v1 host name", "PROXY TCP4 localhost 5.6.7.8 1 2\r\n", EBADMSG,
            "Proxied remote address is invalid"),
        ERR("v1 TCP4 with IPv6 source", "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", EBADMSG,
            "Proxied remote address is invalid"),
        ERR("v1 TCP6 with IPv4 destination", "PROXY TCP6 ::1 5.6.7.8 1 2\r\n", EBADMSG,
            "Proxied local address is invalid"),
        ERR("v1 bracketed IPv6", "PROXY TCP6 [::1] ::1 1 2\r\n", EBADMSG,
            "Proxied remote address is invalid"),
        ERR("v1 port 65536", "PROXY TCP4 1.2.3.4 5.6.7.8 1000 65536\r\n", EBADMSG,
            "Proxied local port is invalid"),
        ERR("v1 port with letter", "PROXY TCP4 1.2.3.4 5.6.7.8 10a0 2000\r\n", EBADMSG,
            "Proxied remote port is invalid"),
        ERR("v1 negative port", "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2000\r\n", EBADMSG,
            "Proxied remote port is invalid"),
        ERR("v1 plus sign port", "PROXY TCP4 1.2.3.4 5.6.7.8 1 +2000\r\n", EBADMSG,
            "Proxied local port is invalid"),
        ERR("v1 hex port", "PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2000\r\n", EBADMSG,
            "Proxied remote port is invalid"),
        ERR("v1 LF only", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", EBADMSG,
            "Header line has invalid characters"),
        ERR("v1 CR without LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", EBADMSG,
            "Header line is not terminated by CRLF"),
        ERR("v1 NUL in line", "PROXY TCP4 1.2.3.4\0", EBADMSG,
            "Header line has invalid characters"),
        ERR("v1 binary after magic", "PROXY \xff", EBADMSG, "Header line has invalid characters"),

        /* wrong signature */
        ERR("HTTP request", "GET / HTTP/1.0\r\n\r\n", EBADMSG,
            "Failed to read valid HAproxy data"),
        ERR("IMAP command", "A1 LOGIN", EBADMSG, "Failed to read valid HAproxy data"),
        ERR("v1 magic misspelt", "PROXZ TCP4", EBADMSG, "Failed to read valid HAproxy data"),
        ERR("v1 magic without space", "PROXYTCP4 1.2.3.4", EBADMSG,
            "Failed to read valid HAproxy data"),
        ERR("v1 magic lowercase", "proxy TCP4", EBADMSG, "Failed to read valid HAproxy data"),
        ERR("v2 signature off by one byte", "\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x0c", EBADMSG,
            "Failed to read valid HAproxy data"),
        ERR("v2 signature broken early", "\r\n\r\r", EBADMSG,
            "Failed to read valid HAproxy data"),
        ERR("TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", EBADMSG,
            "Failed to read valid HAproxy data"),

        /* need more: valid prefixes */
        MORE("empty", ""),
        MORE("v1 magic only", "PROXY"),
        MORE("v1 without CRLF", "PROXY TCP4 1.2.3.4 5.6.7.8 1000 2000"),
        MORE("v1 CR at end", "PROXY TCP4 1.2.3.4 5.6.7.8 1000 2000\r"),
        MORE("v2 signature only", SIG),
        MORE("v2 fixed part, payload missing", SIG "\x21\x11\x00\x0c" "\x01\x02\x03"),

        /* v2, valid */
        V("v2 TCP4", SIG "\x21\x11\x00\x0c" V2_TCP4_ADDRS,
          .version = 2, .src = "1.2.3.4:1000", .dst = "5.6.7.8:2000"),
        V("v2 TCP6", SIG "\x21\x21\x00\x24" V2_TCP6_ADDRS,
          .version = 2, .src = "[2001:db8::1]:65535", .dst = "[2001:db8::2]:143"),
        V("v2 LOCAL", SIG "\x20\x00\x00\x00",
          .version = 2, .local = true, .src = "-", .dst = "-"),
        V("v2 LOCAL with addresses and TLVs (ignored)",
          SIG "\x20\x11\x00\x11" V2_TCP4_ADDRS "\x02\x00\x02" "ab",
          .version = 2, .local = true, .src = "-", .dst = "-"),
        V("v2 LOCAL with garbage payload (ignored)", SIG "\x20\x00\x00\x03" "\x02\xff\xff",
          .version = 2, .local = true, .src = "-", .dst = "-"),
        V("v2 PROXY AF_UNSPEC keeps real addresses", SIG "\x21\x01\x00\x00",
          .version = 2, .local = true, .src = "-", .dst = "-"),
        V("v2 PROXY AF_UNSPEC with TLV", SIG "\x21\x01\x00\x05" "\x02\x00\x02" "hi",
          .version = 2, .local = true, .src = "-", .dst = "-", .authority = "hi"),
        V("v2 TCP4 with ALPN and AUTHORITY",
          SIG "\x21\x11\x00\x24" V2_TCP4_ADDRS
          "\x01\x00\x02" "h2" "\x02\x00\x10" "imap.example.org",
          .version = 2, .src = "1.2.3.4:1000", .dst = "5.6.7.8:2000",
          .alpn = "h2", .authority = "imap.example.org"),
        V("v2 TCP6 with SSL, SSL_VERSION and SSL_CN",
          SIG "\x21\x21\x00\x4b" V2_TCP6_ADDRS
          "\x20\x00\x24" "\x01" "\x00\x00\x00\x00"
          "\x21\x00\x07" "TLSv1.3" "\x22\x00\x12" "client.example.org",
          .version = 2, .src = "[2001:db8::1]:65535", .dst = "[2001:db8::2]:143",
          .ssl = true, .ssl_cn = "client.example.org"),
        V("v2 SSL TLV without client SSL bit",
          SIG "\x21\x11\x00\x14" V2_TCP4_ADDRS "\x20\x00\x05" "\x06" "\x00\x00\x00\x00",
          .version = 2, .src = "1.2.3.4:1000", .dst = "5.6.7.8:2000"),
        V("v2 CRC32C, NOOP, NETNS and custom TLVs ignored",
          SIG "\x21\x11\x00\x1f" V2_TCP4_ADDRS "\x03\x00\x04" "\xde\xad\xbe\xef"
          "\x04\x00\x00" "\x30\x00\x02" "ns" "\xe0\x00\x01" "x",
          .version = 2, .src = "1.2.3.4:1000", .dst = "5.6.7.8:2000"),
        V("v2 repeated AUTHORITY: last wins",
          SIG "\x21\x11\x00\x14" V2_TCP4_ADDRS "\x02\x00\x01" "a" "\x02\x00\x01" "b",
          .version = 2, .src = "1.2.3.4:1000", .dst = "5.6.7.8:2000", .authority = "b"),
        V("v2 empty AUTHORITY", SIG "\x21\x11\x00\x0f" V2_TCP4_ADDRS "\x02\x00\x00",
          .version = 2, .src = "1.2.3.4:1000", .dst = "5.6.7.8:2000", .authority = ""),

        /* v2, errors */
        ERR("v2 version 1", SIG "\x11\x11\x00\x0c" V2_TCP4_ADDRS, EPROTONOSUPPORT,
            "Unsupported protocol version"),
        ERR("v2 version 3", SIG "\x31\x11\x00\x0c" V2_TCP4_ADDRS, EPROTONOSUPPORT,
            "Unsupported protocol version"),
        ERR("v2 command 2", SIG "\x22\x11\x00\x0c" V2_TCP4_ADDRS, EBADMSG, "Invalid command"),
        ERR("v2 command 15", SIG "\x2f\x11\x00\x0c" V2_TCP4_ADDRS, EBADMSG, "Invalid command"),
        ERR("v2 DGRAM", SIG "\x21\x12\x00\x0c" V2_TCP4_ADDRS, EPROTONOSUPPORT, "Not using TCP"),
        ERR("v2 transport UNSPEC", SIG "\x21\x10\x00\x0c" V2_TCP4_ADDRS, EPROTONOSUPPORT,
            "Not using TCP"),
        ERR("v2 family 4", SIG "\x21\x41\x00\x0c" V2_TCP4_ADDRS, EPROTONOSUPPORT,
            "Unknown address family"),
        ERR("v2 family 15", SIG "\x21\xf1\x00\x00", EPROTONOSUPPORT, "Unknown address family"),
        ERR("v2 IPv4 block short", SIG "\x21\x11\x00\x0b" "\x01\x02\x03\x04\x05\x06\x07\x08\x03\xe8\x07",
            EBADMSG, "IPv4 data is incomplete"),
        ERR("v2 IPv6 block short", SIG "\x21\x21\x00\x0c" V2_TCP4_ADDRS, EBADMSG,
            "IPv6 data is incomplete"),
        ERR("v2 UNIX block short", SIG "\x21\x31\x00\x0c" V2_TCP4_ADDRS, EBADMSG,
            "UNIX data is incomplete"),
        ERR("v2 length 1485 (1501 total)", SIG "\x21\x11\x05\xcd", E2BIG, "Too long header"),
        ERR("v2 length 65535", SIG "\x21\x11\xff\xff", E2BIG, "Too long header"),
        ERR("v2 TLV header truncated", SIG "\x21\x11\x00\x0e" V2_TCP4_ADDRS "\x02\x00",
            EBADMSG, "Invalid TLV: Truncated data"),
        ERR("v2 TLV value truncated", SIG "\x21\x11\x00\x11" V2_TCP4_ADDRS "\x02\x00\x05" "ab",
            EBADMSG, "Invalid TLV: Truncated data"),
        ERR("v2 TLV after a valid one truncated",
            SIG "\x21\x11\x00\x13" V2_TCP4_ADDRS "\x04\x00\x00" "\x01\x01\x00" "h",
            EBADMSG, "Invalid TLV: Truncated data"),
        ERR("v2 SSL TLV shorter than 5", SIG "\x21\x11\x00\x13" V2_TCP4_ADDRS
            "\x20\x00\x04" "\x01\x00\x00\x00", EBADMSG, "Invalid TLV: Truncated SSL data"),
        ERR("v2 SSL sub-TLV truncated", SIG "\x21\x11\x00\x18" V2_TCP4_ADDRS
            "\x20\x00\x09" "\x01" "\x00\x00\x00\x00" "\x22\x00\x09" "x",
            EBADMSG, "Invalid TLV: Truncated data"),
        ERR("v2 NUL in AUTHORITY", SIG "\x21\x11\x00\x12" V2_TCP4_ADDRS "\x02\x00\x03" "a\0b",
            EBADMSG, "Invalid TLV: NUL in AUTHORITY"),
        ERR("v2 NUL in SSL_CN", SIG "\x21\x11\x00\x18" V2_TCP4_ADDRS
            "\x20\x00\x09" "\x01" "\x00\x00\x00\x00" "\x22\x00\x01" "\0",
            EBADMSG, "Invalid TLV: NUL in SSL_CN"),
};

static const char *strnull(const char *s) {
        return s ? s : "(null)";
}

static void check_header(const hcase *c, const proxy_header *h) {
        char src[128], dst[128];

        cr_assert_eq(h->version, c->version, "%s: version %u", c->name, h->version);
        cr_assert_eq(h->local, c->local, "%s: local", c->name);
        fmt_addr(&h->src, h->src_len, src, sizeof(src));
        fmt_addr(&h->dst, h->dst_len, dst, sizeof(dst));
        cr_assert_str_eq(src, c->src, "%s: src %s", c->name, src);
        cr_assert_str_eq(dst, c->dst, "%s: dst %s", c->name, dst);
        if (c->alpn) {
                cr_assert_not_null(h->alpn, "%s: alpn missing", c->name);
                cr_assert_eq(h->alpn_len, strlen(c->alpn), "%s", c->name);
                cr_assert_eq(memcmp(h->alpn, c->alpn, h->alpn_len), 0, "%s", c->name);
        } else
                cr_assert_null(h->alpn, "%s: unexpected alpn", c->name);
        cr_assert_str_eq(strnull(h->authority), strnull(c->authority), "%s: authority",
                         c->name);
        cr_assert_eq(h->ssl, c->ssl, "%s: ssl", c->name);
        cr_assert_str_eq(strnull(h->ssl_cn), strnull(c->ssl_cn), "%s: ssl_cn", c->name);
}

/* Copies data into an exactly sized heap buffer so ASan/valgrind catch any read past len. */
static int parse_exact(const char *data, size_t len, proxy_header *h, const char **reason) {
        uint8_t *copy = malloc(len ? len : 1);
        int r;

        cr_assert_not_null(copy);
        memcpy(copy, data, len);
        r = proxy_header_parse(copy, len, h, reason);
        free(copy);
        return r;
}

ParameterizedTestParameters(proxy, header) {
        return index_params(ELEMENTSOF(header_cases));
}

ParameterizedTest(size_t *idx, proxy, header) {
        const hcase *c = &header_cases[*idx];
        proxy_header h, sentinel;
        const char *reason = "untouched";
        int r;

        cr_log_info("case: %s", c->name);
        memset(&h, 0xa5, sizeof(h));
        memset(&sentinel, 0xa5, sizeof(sentinel));

        r = parse_exact(c->data, c->len, &h, &reason);
        cr_assert_eq(r, c->expect, "%s: got %d (%s), want %d", c->name, r, reason, c->expect);

        if (c->expect < 0) {
                cr_assert_str_eq(reason, c->reason, "%s", c->name);
                cr_assert_eq(memcmp(&h, &sentinel, sizeof(h)), 0, "%s: ret written on error",
                             c->name);
                return;
        }
        cr_assert_str_eq(reason, "untouched", "%s: reason written without error", c->name);
        if (c->expect == 0) {
                cr_assert_eq(memcmp(&h, &sentinel, sizeof(h)), 0, "%s: ret written", c->name);
                return;
        }
        check_header(c, &h);
        proxy_header_done(&h);
        cr_assert_null(h.authority);

        /* Every proper prefix of a valid header asks for more and writes nothing. */
        for (size_t i = 0; i < (size_t) c->expect; i++) {
                memset(&h, 0xa5, sizeof(h));
                reason = "untouched";
                r = parse_exact(c->data, i, &h, &reason);
                cr_assert_eq(r, 0, "%s: prefix of %zu bytes gave %d (%s)", c->name, i, r,
                             reason);
                cr_assert_eq(memcmp(&h, &sentinel, sizeof(h)), 0, "%s: prefix %zu wrote ret",
                             c->name, i);
        }

        /* The program's data after the header is not part of it. */
        char buf[2048];
        cr_assert_lt(c->len + strlen(TRAILER), sizeof(buf));
        memcpy(buf, c->data, c->len);
        memcpy(buf + c->len, TRAILER, strlen(TRAILER));
        r = parse_exact(buf, c->len + strlen(TRAILER), &h, &reason);
        cr_assert_eq(r, c->expect, "%s: with trailing data got %d", c->name, r);
        check_header(c, &h);
        proxy_header_done(&h);
}

/* Error cases: every prefix either asks for more or gives the same error, never another one,
 * and the full input gives the error. (An early error is allowed; a different one is not.) */
Test(proxy, error_prefixes_consistent) {
        for (size_t k = 0; k < sizeof(header_cases) / sizeof(header_cases[0]); k++) {
                const hcase *c = &header_cases[k];

                if (c->expect >= 0)
                        continue;
                for (size_t i = 0; i <= c->len; i++) {
                        proxy_header h;
                        const char *reason = NULL;
                        int r = parse_exact(c->data, i, &h, &reason);

                        if (r > 0)
                                cr_assert_fail("%s: prefix %zu parsed as valid", c->name, i);
                        if (r < 0) {
                                cr_assert_eq(r, c->expect, "%s: prefix %zu: %d", c->name, i, r);
                                cr_assert_str_eq(reason, c->reason, "%s: prefix %zu", c->name,
                                                 i);
                        }
                }
        }
}

/* v1 length limit: the line including CRLF is at most 107 bytes. */
Test(proxy, v1_length_limit) {
        char line[200];
        proxy_header h;
        const char *reason = NULL;
        int r;

        /* 107 bytes exactly, CRLF at the end: valid. */
        memset(line, 'x', sizeof(line));
        memcpy(line, "PROXY UNKNOWN ", 14);
        memcpy(line + 105, "\r\n", 2);
        r = parse_exact(line, 107, &h, &reason);
        cr_assert_eq(r, 107);
        cr_assert(h.local);
        proxy_header_done(&h);

        /* CRLF at 106..107: 108 bytes, too long; detected as soon as the CR is at 106. */
        memset(line, 'x', sizeof(line));
        memcpy(line, "PROXY UNKNOWN ", 14);
        memcpy(line + 106, "\r\n", 2);
        for (size_t len = 106; len <= 108; len++) {
                r = parse_exact(line, len, &h, &reason);
                if (len == 106)
                        cr_assert_eq(r, 0);
                else {
                        cr_assert_eq(r, -E2BIG, "len %zu: %d", len, r);
                        cr_assert_str_eq(reason, "Header line is too long");
                }
        }

        /* No CRLF at all: need more below 107 bytes, too long from 107 on. */
        memset(line, 'x', sizeof(line));
        memcpy(line, "PROXY TCP4 ", 11);
        r = parse_exact(line, 106, &h, &reason);
        cr_assert_eq(r, 0);
        r = parse_exact(line, 107, &h, &reason);
        cr_assert_eq(r, -E2BIG);
        cr_assert_str_eq(reason, "Header line is too long");
        r = parse_exact(line, sizeof(line), &h, &reason);
        cr_assert_eq(r, -E2BIG);
}

/* v2 length limit: 1500 bytes total is accepted, 1501 refused before the payload arrives. */
Test(proxy, v2_length_limit) {
        static uint8_t buf[1600];
        proxy_header h;
        const char *reason = NULL;
        size_t payload = 1500 - 16;
        int r;

        memcpy(buf, SIG "\x21\x11", 14);
        buf[14] = (uint8_t) (payload >> 8);
        buf[15] = (uint8_t) payload;
        memcpy(buf + 16, V2_TCP4_ADDRS, 12);
        /* One NOOP TLV filling the rest. */
        buf[28] = 0x04;
        buf[29] = (uint8_t) ((payload - 12 - 3) >> 8);
        buf[30] = (uint8_t) (payload - 12 - 3);
        memset(buf + 31, 0, payload - 12 - 3);

        r = proxy_header_parse(buf, 1500, &h, &reason);
        cr_assert_eq(r, 1500, "got %d (%s)", r, reason);
        proxy_header_done(&h);
        r = proxy_header_parse(buf, 1499, &h, &reason);
        cr_assert_eq(r, 0);

        payload++;
        buf[14] = (uint8_t) (payload >> 8);
        buf[15] = (uint8_t) payload;
        r = proxy_header_parse(buf, 16, &h, &reason);
        cr_assert_eq(r, -E2BIG);
        cr_assert_str_eq(reason, "Too long header");
}

/* ALPN is opaque: bytes including NUL are kept with their length. */
Test(proxy, alpn_binary) {
        static const char data[] = SIG "\x21\x11\x00\x12" V2_TCP4_ADDRS "\x01\x00\x03" "a\0b";
        proxy_header h;
        int r;

        r = proxy_header_parse((const uint8_t *) data, sizeof(data) - 1, &h, NULL);
        cr_assert_eq(r, 34);
        cr_assert_eq(h.alpn_len, 3);
        cr_assert_eq(memcmp(h.alpn, "a\0b", 4), 0);     /* and NUL-terminated */
        proxy_header_done(&h);
        proxy_header_done(NULL);
}

/* ret_reason may be NULL. */
Test(proxy, null_reason) {
        cr_assert_eq(proxy_header_parse((const uint8_t *) "XYZ", 3, &(proxy_header) {}, NULL),
                     -EBADMSG);
}

/* Trusted networks */

typedef struct ncase {
        const char *list;       /* NULL allowed */
        const char *peer;
        bool expect;
} ncase;

static const ncase network_cases[] = {
        { NULL, "127.0.0.1", false },
        { "", "127.0.0.1", false },
        { "", "::1", false },
        { " , ,", "10.0.0.1", false },
        { "127.0.0.1", "127.0.0.1", true },
        { "127.0.0.1", "127.0.0.2", false },
        { "127.0.0.1", "::ffff:127.0.0.1", true },
        { "127.0.0.1", "::1", false },
        { "10.0.0.0/8", "10.255.1.2", true },
        { "10.0.0.0/8", "11.0.0.1", false },
        { "10.0.0.0/8", "9.255.255.255", false },
        { "0.0.0.0/0", "203.0.113.9", true },
        { "0.0.0.0/0", "::ffff:203.0.113.9", true },
        { "0.0.0.0/0", "::1", false },
        { "::/0", "2001:db8::1", true },
        { "::/0", "::ffff:192.0.2.1", true },
        { "::/0", "192.0.2.1", false },
        { "10.1.2.3/32", "10.1.2.3", true },
        { "10.1.2.3/32", "10.1.2.4", false },
        { "2001:db8::1/128", "2001:db8::1", true },
        { "2001:db8::1/128", "2001:db8::2", false },
        { "2001:db8::1", "2001:db8::1", true },
        { "10.20.30.40/27", "10.20.30.33", true },
        { "10.20.30.40/27", "10.20.30.63", true },
        { "10.20.30.40/27", "10.20.30.64", false },
        { "10.20.30.40/27", "10.20.30.31", false },
        { "172.16.0.0/12", "172.31.255.255", true },
        { "172.16.0.0/12", "172.32.0.0", false },
        { "1.2.3.4/31", "1.2.3.5", true },
        { "1.2.3.4/31", "1.2.3.6", false },
        { "1.2.3.4/008", "1.9.9.9", true },
        { "192.168.1.0/24, 2001:db8::/32", "192.168.1.77", true },
        { "192.168.1.0/24, 2001:db8::/32", "192.168.2.1", false },
        { "192.168.1.0/24, 2001:db8::/32", "2001:db8:1::5", true },
        { "192.168.1.0/24, 2001:db8::/32", "2001:db9::", false },
        { "2001:db8::/33", "2001:db8:7fff::1", true },
        { "2001:db8::/33", "2001:db8:8000::1", false },
        { " 1.2.3.4,,5.6.7.8 ,9.9.9.9", "5.6.7.8", true },
        { " 1.2.3.4,,5.6.7.8 ,9.9.9.9", "9.9.9.9", true },
        { "::ffff:10.0.0.0/104", "::ffff:10.1.1.1", true },
        { "::ffff:10.0.0.0/104", "10.1.1.1", false },
};

static void make_peer(const char *s, struct sockaddr_storage *ss) {
        *ss = (struct sockaddr_storage) {};
        if (strchr(s, ':')) {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;

                sin6->sin6_family = AF_INET6;
                cr_assert_eq(inet_pton(AF_INET6, s, &sin6->sin6_addr), 1, "%s", s);
        } else {
                struct sockaddr_in *sin = (struct sockaddr_in *) ss;

                sin->sin_family = AF_INET;
                cr_assert_eq(inet_pton(AF_INET, s, &sin->sin_addr), 1, "%s", s);
        }
}

ParameterizedTestParameters(proxy, networks) {
        return index_params(ELEMENTSOF(network_cases));
}

ParameterizedTest(size_t *idx, proxy, networks) {
        const ncase *c = &network_cases[*idx];
        proxy_networks *n = NULL;
        struct sockaddr_storage ss;
        char *error = NULL;
        int r;

        r = proxy_networks_parse(c->list, &n, &error);
        cr_assert_eq(r, 0, "'%s': %d %s", strnull(c->list), r, strnull(error));
        cr_assert_null(error);
        make_peer(c->peer, &ss);
        cr_assert_eq(proxy_networks_contain(n, (struct sockaddr *) &ss), c->expect,
                     "'%s' contains %s: want %d", strnull(c->list), c->peer, c->expect);
        proxy_networks_free(n);
}

Test(proxy, networks_size_and_odd_peers) {
        proxy_networks *n = NULL;
        struct sockaddr_un_like {
                sa_family_t family;
                char path[20];
        } un = { .family = AF_UNIX };

        cr_assert_eq(proxy_networks_parse(" , 1.2.3.4,,::1/64 ,9.9.9.9", &n, NULL), 0);
        cr_assert_eq(proxy_networks_size(n), 3);
        cr_assert_not(proxy_networks_contain(n, (struct sockaddr *) &un));
        cr_assert_not(proxy_networks_contain(n, NULL));
        cr_assert_null(proxy_networks_free(n));

        cr_assert_eq(proxy_networks_size(NULL), 0);
        cr_assert_not(proxy_networks_contain(NULL, (struct sockaddr *) &un));
        cr_assert_eq(proxy_networks_parse(NULL, &n, NULL), 0);
        cr_assert_eq(proxy_networks_size(n), 0);
        proxy_networks_free(n);
}

typedef struct badcase {
        const char *list;
        const char *error;
} badcase;

static const badcase bad_networks[] = {
        { "1.2.3.4/33", "haproxy_trusted_networks: Invalid network '1.2.3.4/33'" },
        { "::/129", "haproxy_trusted_networks: Invalid network '::/129'" },
        { "1.2.3", "haproxy_trusted_networks: Invalid network '1.2.3'" },
        { "host.example", "haproxy_trusted_networks: Invalid network 'host.example'" },
        { "localhost", "haproxy_trusted_networks: Invalid network 'localhost'" },
        { "1.2.3.4/", "haproxy_trusted_networks: Invalid network '1.2.3.4/'" },
        { "/8", "haproxy_trusted_networks: Invalid network '/8'" },
        { "1.2.3.4/8/8", "haproxy_trusted_networks: Invalid network '1.2.3.4/8/8'" },
        { "10.0.0.0/-1", "haproxy_trusted_networks: Invalid network '10.0.0.0/-1'" },
        { "10.0.0.0/0x8", "haproxy_trusted_networks: Invalid network '10.0.0.0/0x8'" },
        { "[::1]", "haproxy_trusted_networks: Invalid network '[::1]'" },
        { "1.2.3.4/ 8", "haproxy_trusted_networks: Invalid network '1.2.3.4/'" },
        { "127.0.0.1, bad, ::1", "haproxy_trusted_networks: Invalid network 'bad'" },
        { "127.0.0.1 ::1 10.0.0.0/8;", "haproxy_trusted_networks: Invalid network '10.0.0.0/8;'" },
        { "*", "haproxy_trusted_networks: Invalid network '*'" },
        { "1.2.3.4/000000000000000000000000000000000000000000000000000000000008",
          "haproxy_trusted_networks: Invalid network "
          "'1.2.3.4/000000000000000000000000000000000000000000000000000000000008'" },
};

ParameterizedTestParameters(proxy, networks_invalid) {
        return index_params(ELEMENTSOF(bad_networks));
}

ParameterizedTest(size_t *idx, proxy, networks_invalid) {
        const badcase *c = &bad_networks[*idx];
        proxy_networks *n = (proxy_networks *) 0x1;
        char *error = NULL;
        int r;

        r = proxy_networks_parse(c->list, &n, &error);
        cr_assert_eq(r, -EINVAL, "'%s': %d", c->list, r);
        cr_assert_eq(n, (proxy_networks *) 0x1, "ret written on error");
        cr_assert_str_eq(strnull(error), c->error);
        free(error);

        /* ret_error may be NULL. */
        cr_assert_eq(proxy_networks_parse(c->list, &n, NULL), -EINVAL);
}

/* v2 PROXY over AF_UNIX: accepted with the real addresses; TLVs after the 216-byte block. */
Test(proxy, v2_unix) {
        static uint8_t buf[16 + 216 + 3 + 4];
        proxy_header h;
        const char *reason = NULL;
        int r;

        memcpy(buf, SIG "\x21\x31", 14);
        buf[14] = 0;
        buf[15] = 216 + 3 + 4;
        memset(buf + 16, 'p', 216);
        memcpy(buf + 16 + 216, "\x02\x00\x04" "unix", 7);

        r = proxy_header_parse(buf, sizeof(buf), &h, &reason);
        cr_assert_eq(r, (int) sizeof(buf), "%d %s", r, strnull(reason));
        cr_assert(h.local);
        cr_assert_eq(h.src_len, 0);
        cr_assert_eq(h.dst_len, 0);
        cr_assert_str_eq(strnull(h.authority), "unix");
        proxy_header_done(&h);

        for (size_t i = 0; i < sizeof(buf); i++)
                cr_assert_eq(proxy_header_parse(buf, i, &h, &reason), 0, "prefix %zu", i);
}
