/* SPDX-License-Identifier: MIT */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf(); meson passes -D_GNU_SOURCE, standalone fuzz builds may not */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

/* v2 wire format (haproxy's proxy-protocol.txt): 12-byte signature, version/command byte,
 * family/transport byte, 16-bit big-endian payload length; then addresses, then TLVs. */
static const uint8_t v2_signature[12] = {
        0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};
#define V2_FIXED_SIZE 16U

enum {
        PP2_CMD_LOCAL = 0x0,
        PP2_CMD_PROXY = 0x1,
};

enum {
        PP2_AF_UNSPEC = 0x0,
        PP2_AF_INET = 0x1,
        PP2_AF_INET6 = 0x2,
        PP2_AF_UNIX = 0x3,
};

enum {
        PP2_TRANSPORT_STREAM = 0x1,
};

/* Address block sizes per family. */
#define PP2_ADDR_INET_SIZE 12U
#define PP2_ADDR_INET6_SIZE 36U
#define PP2_ADDR_UNIX_SIZE 216U

enum {
        PP2_TYPE_ALPN = 0x01,
        PP2_TYPE_AUTHORITY = 0x02,
        PP2_TYPE_SSL = 0x20,
        PP2_SUBTYPE_SSL_CN = 0x22,
};

#define PP2_TLV_HEADER_SIZE 3U          /* type, length high, length low */
#define PP2_SSL_HEADER_SIZE 5U          /* client, 32-bit verify */

static const char v1_magic[5] = { 'P', 'R', 'O', 'X', 'Y' };

static int fail(const char **ret_reason, int r, const char *reason) {
        if (ret_reason)
                *ret_reason = reason;
        return r;
}

static size_t min_size(size_t a, size_t b) {
        return a < b ? a : b;
}

void proxy_header_done(proxy_header *h) {
        if (!h)
                return;
        free(h->alpn);
        free(h->authority);
        free(h->ssl_cn);
        *h = (proxy_header) {};
}

/* Replaces *p with a NUL-terminated copy of data[0..len). A repeated TLV overrides the earlier
 * one, as in Dovecot. */
static int set_bytes(uint8_t **p, const uint8_t *data, size_t len) {
        uint8_t *copy;

        copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        if (len > 0)
                memcpy(copy, data, len);
        copy[len] = 0;

        free(*p);
        *p = copy;
        return 0;
}

/* Strictly decimal 0..65535 (leading zeros accepted, like Dovecot's str_to_uintmax()). */
static int parse_port(const char *s, uint16_t *ret) {
        unsigned long v = 0;
        size_t n = 0;

        for (; s[n] != '\0'; n++) {
                if (s[n] < '0' || s[n] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned long) (s[n] - '0');
                if (v > 65535)
                        return -EINVAL;
        }
        if (n == 0)
                return -EINVAL;

        *ret = (uint16_t) v;
        return 0;
}

static void make_sockaddr(int family, const void *addr, uint16_t port_host,
                          struct sockaddr_storage *ret, socklen_t *ret_len) {
        *ret = (struct sockaddr_storage) {};

        if (family == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *) ret;

                sin->sin_family = AF_INET;
                sin->sin_port = htons(port_host);
                memcpy(&sin->sin_addr, addr, sizeof(sin->sin_addr));
                *ret_len = sizeof(*sin);
        } else {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ret;

                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons(port_host);
                memcpy(&sin6->sin6_addr, addr, sizeof(sin6->sin6_addr));
                *ret_len = sizeof(*sin6);
        }
}

/* "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n"; buf starts with "PROXY". */
static int parse_v1(const uint8_t *buf, size_t len, proxy_header *ret, const char **ret_reason) {
        size_t n = min_size(len, PROXY_V1_MAX_HEADER), end = 0;
        bool found = false;

        for (size_t i = sizeof(v1_magic); i < n; i++) {
                uint8_t c = buf[i];

                if (c == '\r') {
                        if (i + 2 > PROXY_V1_MAX_HEADER)
                                return fail(ret_reason, -E2BIG, "Header line is too long");
                        if (i + 1 >= len)
                                return 0;
                        if (buf[i + 1] != '\n')
                                return fail(ret_reason, -EBADMSG,
                                            "Header line is not terminated by CRLF");
                        end = i;
                        found = true;
                        break;
                }
                /* Nothing but printable ASCII can precede the CRLF of a valid line: stop
                 * reading binary junk early. */
                if (c < 0x20 || c > 0x7e)
                        return fail(ret_reason, -EBADMSG, "Header line has invalid characters");
        }
        if (!found) {
                if (len >= PROXY_V1_MAX_HEADER)
                        return fail(ret_reason, -E2BIG, "Header line is too long");
                return 0;
        }

        /* Split on single spaces, like Dovecot's t_strsplit(line, " "): double spaces give
         * empty fields, which then fail to parse. */
        char line[PROXY_V1_MAX_HEADER];
        char *fields[7];
        size_t nf = 0;

        memcpy(line, buf, end);
        line[end] = '\0';
        for (char *p = line;;) {
                char *sp = strchr(p, ' ');

                if (nf < sizeof(fields) / sizeof(fields[0]))
                        fields[nf] = p;
                nf++;
                if (!sp)
                        break;
                *sp = '\0';
                p = sp + 1;
        }
        /* fields[0] is "PROXY": the caller checked the magic and the byte after it. */

        if (nf < 2)
                return fail(ret_reason, -EBADMSG, "Field for proxied protocol is missing");

        int family;
        if (strcmp(fields[1], "TCP4") == 0)
                family = AF_INET;
        else if (strcmp(fields[1], "TCP6") == 0)
                family = AF_INET6;
        else if (strcmp(fields[1], "UNKNOWN") == 0) {
                /* The spec says to ignore the rest of an UNKNOWN line. */
                *ret = (proxy_header) {
                        .version = 1,
                        .local = true,
                };
                return (int) (end + 2);
        } else
                return fail(ret_reason, -EPROTONOSUPPORT, "Unknown proxied protocol");

        struct in6_addr src_addr, dst_addr; /* large enough for either family */
        uint16_t src_port, dst_port;

        if (nf < 3)
                return fail(ret_reason, -EBADMSG, "Field for proxied remote address is missing");
        if (inet_pton(family, fields[2], &src_addr) != 1)
                return fail(ret_reason, -EBADMSG, "Proxied remote address is invalid");
        if (nf < 4)
                return fail(ret_reason, -EBADMSG, "Field for proxied local address is missing");
        if (inet_pton(family, fields[3], &dst_addr) != 1)
                return fail(ret_reason, -EBADMSG, "Proxied local address is invalid");
        if (nf < 5)
                return fail(ret_reason, -EBADMSG, "Field for proxied remote port is missing");
        if (parse_port(fields[4], &src_port) < 0)
                return fail(ret_reason, -EBADMSG, "Proxied remote port is invalid");
        if (nf < 6)
                return fail(ret_reason, -EBADMSG, "Field for proxied local port is missing");
        if (parse_port(fields[5], &dst_port) < 0)
                return fail(ret_reason, -EBADMSG, "Proxied local port is invalid");
        if (nf > 6)
                /* Dovecot's wording, spelling included, so that log filters keep working. */
                return fail(ret_reason, -EBADMSG, "Header line has spurius extra field");

        proxy_header h = { .version = 1 };
        make_sockaddr(family, &src_addr, src_port, &h.src, &h.src_len);
        make_sockaddr(family, &dst_addr, dst_port, &h.dst, &h.dst_len);
        *ret = h;
        return (int) (end + 2);
}

static int parse_ssl(const uint8_t *p, size_t n, proxy_header *h, const char **ret_reason) {
        int r;

        if (n < PP2_SSL_HEADER_SIZE)
                return fail(ret_reason, -EBADMSG, "Invalid TLV: Truncated SSL data");
        h->ssl = (p[0] & PROXY_PP2_CLIENT_SSL) != 0;
        /* p[1..5) is the verify result, which we do not use. */

        for (size_t i = PP2_SSL_HEADER_SIZE; i < n;) {
                size_t l;

                if (n - i < PP2_TLV_HEADER_SIZE)
                        return fail(ret_reason, -EBADMSG, "Invalid TLV: Truncated data");
                l = ((size_t) p[i + 1] << 8) | p[i + 2];
                if (l > n - i - PP2_TLV_HEADER_SIZE)
                        return fail(ret_reason, -EBADMSG, "Invalid TLV: Truncated data");

                const uint8_t *v = p + i + PP2_TLV_HEADER_SIZE;
                if (p[i] == PP2_SUBTYPE_SSL_CN) {
                        /* A NUL would let "a\0b" pass as "a" to a program using it as a
                         * string. Dovecot truncates at the NUL; we refuse. */
                        if (memchr(v, 0, l))
                                return fail(ret_reason, -EBADMSG, "Invalid TLV: NUL in SSL_CN");
                        r = set_bytes((uint8_t **) &h->ssl_cn, v, l);
                        if (r < 0)
                                return fail(ret_reason, r, "Out of memory");
                }
                /* SSL_VERSION, CIPHER, SIG_ALG, KEY_ALG and others: ignored. */
                i += PP2_TLV_HEADER_SIZE + l;
        }
        return 0;
}

static int parse_tlvs(const uint8_t *p, size_t n, proxy_header *h, const char **ret_reason) {
        int r;

        for (size_t i = 0; i < n;) {
                size_t l;

                if (n - i < PP2_TLV_HEADER_SIZE)
                        return fail(ret_reason, -EBADMSG, "Invalid TLV: Truncated data");
                l = ((size_t) p[i + 1] << 8) | p[i + 2];
                if (l > n - i - PP2_TLV_HEADER_SIZE)
                        return fail(ret_reason, -EBADMSG, "Invalid TLV: Truncated data");

                const uint8_t *v = p + i + PP2_TLV_HEADER_SIZE;
                switch (p[i]) {
                case PP2_TYPE_ALPN:
                        r = set_bytes(&h->alpn, v, l);
                        if (r < 0)
                                return fail(ret_reason, r, "Out of memory");
                        h->alpn_len = l;
                        break;
                case PP2_TYPE_AUTHORITY:
                        if (memchr(v, 0, l))
                                return fail(ret_reason, -EBADMSG,
                                            "Invalid TLV: NUL in AUTHORITY");
                        r = set_bytes((uint8_t **) &h->authority, v, l);
                        if (r < 0)
                                return fail(ret_reason, r, "Out of memory");
                        break;
                case PP2_TYPE_SSL:
                        r = parse_ssl(v, l, h, ret_reason);
                        if (r < 0)
                                return r;
                        break;
                default:
                        /* CRC32C (not verified, as in Dovecot), NOOP, NETNS, custom: ignored. */
                        break;
                }
                i += PP2_TLV_HEADER_SIZE + l;
        }
        return 0;
}

/* buf starts with (a prefix of) the v2 signature; len >= 12 has the whole signature. */
static int parse_v2(const uint8_t *buf, size_t len, proxy_header *ret, const char **ret_reason) {
        size_t total, addr_size = 0;
        int r;

        if (len < V2_FIXED_SIZE)
                return 0;

        /* Everything in the fixed part is checked before waiting for the payload. */
        if ((buf[12] >> 4) != 2)
                return fail(ret_reason, -EPROTONOSUPPORT, "Unsupported protocol version");

        total = V2_FIXED_SIZE + (((size_t) buf[14] << 8) | buf[15]);
        if (total > PROXY_V2_MAX_HEADER)
                return fail(ret_reason, -E2BIG, "Too long header");

        unsigned cmd = buf[12] & 0x0f, family = buf[13] >> 4, transport = buf[13] & 0x0f;
        size_t payload = total - V2_FIXED_SIZE;
        bool local;

        switch (cmd) {
        case PP2_CMD_LOCAL:
                /* Health checks and the like: the spec says to use the real endpoints and
                 * discard the whole block, so no TLV is looked at. */
                local = true;
                break;
        case PP2_CMD_PROXY:
                if (transport != PP2_TRANSPORT_STREAM)
                        return fail(ret_reason, -EPROTONOSUPPORT, "Not using TCP");
                switch (family) {
                case PP2_AF_INET:
                        if (payload < PP2_ADDR_INET_SIZE)
                                return fail(ret_reason, -EBADMSG, "IPv4 data is incomplete");
                        addr_size = PP2_ADDR_INET_SIZE;
                        local = false;
                        break;
                case PP2_AF_INET6:
                        if (payload < PP2_ADDR_INET6_SIZE)
                                return fail(ret_reason, -EBADMSG, "IPv6 data is incomplete");
                        addr_size = PP2_ADDR_INET6_SIZE;
                        local = false;
                        break;
                case PP2_AF_UNIX:
                        /* Accepted with the real addresses, like Dovecot. */
                        if (payload < PP2_ADDR_UNIX_SIZE)
                                return fail(ret_reason, -EBADMSG, "UNIX data is incomplete");
                        addr_size = PP2_ADDR_UNIX_SIZE;
                        local = true;
                        break;
                case PP2_AF_UNSPEC:
                        addr_size = 0;
                        local = true;
                        break;
                default:
                        return fail(ret_reason, -EPROTONOSUPPORT, "Unknown address family");
                }
                break;
        default:
                return fail(ret_reason, -EBADMSG, "Invalid command");
        }

        if (len < total)
                return 0;

        proxy_header h = {
                .version = 2,
                .local = local,
        };
        const uint8_t *a = buf + V2_FIXED_SIZE;

        if (!local && family == PP2_AF_INET) {
                make_sockaddr(AF_INET, a, (uint16_t) ((a[8] << 8) | a[9]), &h.src, &h.src_len);
                make_sockaddr(AF_INET, a + 4, (uint16_t) ((a[10] << 8) | a[11]),
                              &h.dst, &h.dst_len);
        } else if (!local && family == PP2_AF_INET6) {
                make_sockaddr(AF_INET6, a, (uint16_t) ((a[32] << 8) | a[33]),
                              &h.src, &h.src_len);
                make_sockaddr(AF_INET6, a + 16, (uint16_t) ((a[34] << 8) | a[35]),
                              &h.dst, &h.dst_len);
        }

        if (cmd == PP2_CMD_PROXY) {
                r = parse_tlvs(a + addr_size, payload - addr_size, &h, ret_reason);
                if (r < 0) {
                        proxy_header_done(&h);
                        return r;
                }
        }

        *ret = h;
        return (int) total;
}

int proxy_header_parse(const uint8_t *buf, size_t len, proxy_header *ret, const char **ret_reason) {
        if (len == 0)
                return 0;

        if (buf[0] == v1_magic[0]) {
                if (memcmp(buf, v1_magic, min_size(len, sizeof(v1_magic))) != 0 ||
                    (len > sizeof(v1_magic) && buf[5] != ' ' && buf[5] != '\r'))
                        return fail(ret_reason, -EBADMSG, "Failed to read valid HAproxy data");
                return parse_v1(buf, len, ret, ret_reason);
        }

        if (memcmp(buf, v2_signature, min_size(len, sizeof(v2_signature))) != 0)
                return fail(ret_reason, -EBADMSG, "Failed to read valid HAproxy data");
        return parse_v2(buf, len, ret, ret_reason);
}

/* Trusted networks */

typedef struct proxy_network {
        int family;                     /* AF_INET or AF_INET6 */
        uint8_t addr[16];               /* 4 or 16 bytes used, network byte order */
        unsigned bits;
} proxy_network;

struct proxy_networks {
        size_t n;
        proxy_network nets[];
};

proxy_networks *proxy_networks_free(proxy_networks *n) {
        free(n);
        return NULL;
}

size_t proxy_networks_size(const proxy_networks *n) {
        return n ? n->n : 0;
}

static bool is_delimiter(char c) {
        return c == ' ' || c == ',';
}

/* "IP" or "IP/bits", as Dovecot's net_parse_range(). */
static int parse_network(const char *s, size_t len, proxy_network *ret) {
        char buf[INET6_ADDRSTRLEN + 1 + 3 + 1];
        proxy_network net = {};
        unsigned max_bits;
        char *slash;

        if (len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, len);
        buf[len] = '\0';

        slash = strchr(buf, '/');
        if (slash)
                *slash = '\0';

        if (inet_pton(AF_INET, buf, net.addr) == 1) {
                net.family = AF_INET;
                max_bits = 32;
        } else if (inet_pton(AF_INET6, buf, net.addr) == 1) {
                net.family = AF_INET6;
                max_bits = 128;
        } else
                return -EINVAL;

        if (slash) {
                const char *b = slash + 1;
                unsigned v = 0;
                size_t i;

                /* Decimal, leading zeros accepted (Dovecot's str_to_uint()). */
                for (i = 0; b[i] != '\0'; i++) {
                        if (b[i] < '0' || b[i] > '9')
                                return -EINVAL;
                        v = v * 10 + (unsigned) (b[i] - '0');
                        if (v > max_bits)
                                return -EINVAL;
                }
                if (i == 0)
                        return -EINVAL;
                net.bits = v;
        } else
                net.bits = max_bits;

        *ret = net;
        return 0;
}

int proxy_networks_parse(const char *s, proxy_networks **ret, char **ret_error) {
        proxy_networks *list;
        size_t count = 0;

        if (!s)
                s = "";

        /* Upper bound of the entry count: tokens separated by delimiters. */
        for (const char *p = s; *p;) {
                while (*p && is_delimiter(*p))
                        p++;
                if (!*p)
                        break;
                count++;
                while (*p && !is_delimiter(*p))
                        p++;
        }

        list = calloc(1, sizeof(*list) + count * sizeof(list->nets[0]));
        if (!list)
                return -ENOMEM;

        for (const char *p = s; *p;) {
                const char *start;
                int r;

                while (*p && is_delimiter(*p))
                        p++;
                if (!*p)
                        break;
                start = p;
                while (*p && !is_delimiter(*p))
                        p++;

                r = parse_network(start, (size_t) (p - start), &list->nets[list->n]);
                if (r < 0) {
                        int len = (int) (p - start);

                        free(list);
                        if (ret_error &&
                            asprintf(ret_error, "haproxy_trusted_networks: Invalid network '%.*s'",
                                     len, start) < 0)
                                return -ENOMEM;
                        return -EINVAL;
                }
                list->n++;
        }

        *ret = list;
        return 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits) {
        unsigned full = bits / 8, rest = bits % 8;

        if (memcmp(a, b, full) != 0)
                return false;
        if (rest == 0)
                return true;

        uint8_t mask = (uint8_t) (0xff << (8 - rest));
        return (a[full] & mask) == (b[full] & mask);
}

bool proxy_networks_contain(const proxy_networks *n, const struct sockaddr *sa) {
        static const uint8_t mapped_prefix[12] = {
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
        };
        const uint8_t *v4 = NULL, *v6 = NULL;

        if (!n || !sa)
                return false;

        if (sa->sa_family == AF_INET)
                v4 = (const uint8_t *) &((const struct sockaddr_in *) sa)->sin_addr;
        else if (sa->sa_family == AF_INET6) {
                v6 = ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
                if (memcmp(v6, mapped_prefix, sizeof(mapped_prefix)) == 0)
                        v4 = v6 + sizeof(mapped_prefix);
        } else
                return false;

        for (size_t i = 0; i < n->n; i++) {
                const proxy_network *net = &n->nets[i];

                if (net->family == AF_INET && v4 && prefix_equal(v4, net->addr, net->bits))
                        return true;
                if (net->family == AF_INET6 && v6 && prefix_equal(v6, net->addr, net->bits))
                        return true;
        }
        return false;
}
