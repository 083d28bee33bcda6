/* SPDX-License-Identifier: MIT */
#pragma once

/* PROXY protocol v1/v2 header parser and haproxy_trusted_networks matcher.
 *
 * Pure functions over byte buffers and strings: no I/O, no logging, no global state. Internal to
 * libdovesd (not exported); the accept path calls them, the fuzz target fuzz/proxy.c calls
 * proxy_header_parse() directly.
 *
 * How the accept path should read a header (the program must see every byte the peer sent after
 * the header, so nothing past it may be consumed):
 *
 *   1. Check the TCP peer with proxy_networks_contain() first; untrusted → close and log.
 *   2. On each readable event, recv(fd, buf, PROXY_HEADER_MAX, MSG_PEEK) and call
 *      proxy_header_parse(buf, n, ...):
 *        > 0  header complete: recv(fd, buf, r, 0) exactly r bytes (they are already queued, so
 *             this returns r; treat anything else as an error), then hand the client on;
 *        = 0  incomplete: wait for more data. A peek does not drain the socket, so a
 *             level-triggered watch would fire again at once: either watch with EPOLLET
 *             (sd_event_source_set_io_events(s, EPOLLIN|EPOLLET)) or compare n with the previous
 *             peek and go back to sleep when it did not grow. recv() returning 0 (EOF) before
 *             the header is complete is a disconnect;
 *        < 0  malformed/unsupported: close and log the reason text.
 *   3. The whole exchange is bounded by haproxy_timeout; the client holds no client slot until
 *      the header is complete.
 *
 * Unlike Dovecot we do not require the header to arrive in one TCP segment: returning 0 for a
 * valid prefix lets the caller accumulate it until the timeout.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* v1: the whole line including CRLF is at most this long (the spec's limit). */
#define PROXY_V1_MAX_HEADER 107U
/* v2: 16-byte fixed part plus payload; longer headers are refused (Dovecot's limit too). */
#define PROXY_V2_MAX_HEADER 1500U
/* A peek buffer of this size always holds a complete valid header. */
#define PROXY_HEADER_MAX PROXY_V2_MAX_HEADER

/* v2 client bits of the SSL TLV. */
#define PROXY_PP2_CLIENT_SSL 0x01U

typedef struct proxy_header {
        unsigned version;               /* 1 or 2 */
        /* true for v2 LOCAL, v1 UNKNOWN and v2 PROXY over AF_UNSPEC/AF_UNIX: the header
         * carries no usable address, keep the real socket addresses. src/dst are then unset
         * and src_len = dst_len = 0. */
        bool local;
        struct sockaddr_storage src;    /* the real client (sockaddr_in or sockaddr_in6) */
        socklen_t src_len;
        struct sockaddr_storage dst;    /* the address the client connected to */
        socklen_t dst_len;

        /* v2 TLVs; NULL when absent. Owned, NUL-terminated copies. */
        uint8_t *alpn;                  /* PP2_TYPE_ALPN 0x01: opaque bytes, length alpn_len */
        size_t alpn_len;
        char *authority;                /* PP2_TYPE_AUTHORITY 0x02: host name (no NUL inside) */
        bool ssl;                       /* PP2_TYPE_SSL 0x20: client & PP2_CLIENT_SSL */
        char *ssl_cn;                   /* PP2_SUBTYPE_SSL_CN 0x22 inside SSL (no NUL inside) */
} proxy_header;

/* Parses a PROXY v1 or v2 header at the start of buf[0..len).
 *
 * Returns the header length (> 0) when a complete valid header is present (bytes after it are
 * not looked at), 0 when more bytes are needed and the prefix seen so far could still become a
 * valid header, or a negative errno:
 *   -EBADMSG          malformed (bad signature, bad field, bad address, truncated TLV, ...)
 *   -EPROTONOSUPPORT  v2 version other than 2, transport other than STREAM, unknown family
 *   -E2BIG            v1 line without CRLF within 107 bytes, v2 header over 1500 bytes
 *   -ENOMEM           out of memory copying a TLV
 * On error *ret_reason (if not NULL) gets a static text for the log (Dovecot's wording where
 * Dovecot has one). Only on success is *ret written (release it with proxy_header_done());
 * only on error is *ret_reason written. Never reads buf[len] or beyond; nothing stays
 * allocated unless it returns > 0. */
int proxy_header_parse(const uint8_t *buf, size_t len, proxy_header *ret, const char **ret_reason);

/* Frees the TLV copies of a header filled by proxy_header_parse() and resets it. NULL is ok. */
void proxy_header_done(proxy_header *h);

/* The haproxy_trusted_networks list: IPv4/IPv6 networks. */
typedef struct proxy_networks proxy_networks;

/* Parses a Dovecot haproxy_trusted_networks value: entries separated by spaces and/or commas,
 * each an IPv4 or IPv6 address with an optional "/bits" (bare address = host). NULL or an
 * empty list is valid and trusts nobody.
 * Returns 0 and *ret (free with proxy_networks_free()), or -EINVAL with *ret_error (if not
 * NULL) set to an allocated text "haproxy_trusted_networks: Invalid network 'X'", or -ENOMEM.
 * Outputs are written only on the corresponding outcome. */
int proxy_networks_parse(const char *s, proxy_networks **ret, char **ret_error);

/* Frees the list; NULL is ok. Returns NULL. */
proxy_networks *proxy_networks_free(proxy_networks *n);

/* Number of networks in the list (0 for NULL). */
size_t proxy_networks_size(const proxy_networks *n);

/* Whether the peer address sa (AF_INET or AF_INET6; anything else is never trusted) lies in
 * one of the networks. An empty list (or NULL) trusts nobody. IPv4-mapped IPv6 peers
 * (::ffff:a.b.c.d) match IPv4 networks as well as IPv6 ones; a plain IPv4 peer matches only
 * IPv4 networks (as in Dovecot: "::/0" does not trust IPv4 peers). */
bool proxy_networks_contain(const proxy_networks *n, const struct sockaddr *sa);
