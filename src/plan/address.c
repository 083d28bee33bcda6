/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <string.h>

#include "address.h"
#include "macro.h"

int inet_address_parse(const char *s, inet_address *ret) {
        unsigned char buf[sizeof(struct in6_addr)];
        char tmp[INET6_ADDRSTRLEN];
        size_t len = strlen(s);

        if (streq(s, "*")) {
                *ret = (inet_address) { .kind = INET_ADDRESS_ANY4 };
                return 0;
        }
        if (streq(s, "::") || streq(s, "[::]")) {
                *ret = (inet_address) { .kind = INET_ADDRESS_ANY6 };
                return 0;
        }
        if (streq(s, "localhost")) {
                *ret = (inet_address) { .kind = INET_ADDRESS_LOCALHOST };
                return 0;
        }
        if (len < sizeof(tmp) && inet_pton(AF_INET, s, buf) == 1) {
                *ret = (inet_address) { .kind = INET_ADDRESS_IPV4 };
                memcpy(ret->host, s, len + 1);
                return 0;
        }
        if (len < sizeof(tmp) && inet_pton(AF_INET6, s, buf) == 1) {
                *ret = (inet_address) { .kind = INET_ADDRESS_IPV6 };
                memcpy(ret->host, s, len + 1);
                return 0;
        }
        if (len > 2 && len - 2 < sizeof(tmp) && s[0] == '[' && s[len - 1] == ']') {
                memcpy(tmp, s + 1, len - 2);
                tmp[len - 2] = '\0';
                if (inet_pton(AF_INET6, tmp, buf) == 1) {
                        *ret = (inet_address) { .kind = INET_ADDRESS_IPV6 };
                        memcpy(ret->host, tmp, len - 1);
                        return 0;
                }
        }
        return -EINVAL;
}
