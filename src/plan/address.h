/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * An inet_listener address, parsed once. A generator cannot resolve host names (no DNS at
 * boot): an address is '*', '::' (also "[::]"), "localhost", or an IP address, IPv6
 * optionally in brackets. The model validates with this parser, the resolve step keeps its
 * result.
 */

#include <arpa/inet.h>

typedef enum inet_address_kind {
        INET_ADDRESS_ANY4,              /* "*": 0.0.0.0 */
        INET_ADDRESS_ANY6,              /* "::", "[::]": [::] */
        INET_ADDRESS_LOCALHOST,         /* 127.0.0.1 and [::1] */
        INET_ADDRESS_IPV4,
        INET_ADDRESS_IPV6,
} inet_address_kind;

typedef struct inet_address {
        inet_address_kind kind;
        char host[INET6_ADDRSTRLEN];    /* IPV4, IPV6: as written, without brackets */
} inet_address;

/* Returns 0 and fills *RET, or -EINVAL for anything else (a host name). */
int inet_address_parse(const char *s, inet_address *ret);
