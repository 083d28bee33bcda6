/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the haproxy_trusted_networks parser and matcher (helper/proxy.c).
 *
 * Not built by default. By hand, from the source root:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE \
 *         -Ihelper fuzz/proxy-networks.c helper/proxy.c -o build/fuzz-proxy-networks
 *   build/fuzz-proxy-networks -max_len=512 -max_total_time=60 fuzz/corpus/proxy-networks
 *
 * Input: the list as text, NUL-terminated by us. Every parsed list is queried with a few fixed
 * peers; "::/0" style invariants are checked: a list that contains a network trusts its own
 * address, and errors always name the setting. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond) {
        if (!cond)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const peers[] = { "127.0.0.1", "10.1.2.3", "::1", "2001:db8::1",
                                             "::ffff:10.1.2.3", "0.0.0.0", "::" };
        proxy_networks *n = NULL;
        char *s, *error = NULL;
        int r;

        s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';

        r = proxy_networks_parse(s, &n, &error);
        if (r < 0) {
                check(r == -EINVAL || r == -ENOMEM);
                check(r == -ENOMEM ||
                      (error && strncmp(error, "haproxy_trusted_networks: Invalid network '",
                                        43) == 0));
                free(error);
                free(s);
                return 0;
        }
        check(error == NULL);

        for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
                struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
                struct sockaddr_in sin = { .sin_family = AF_INET };

                if (inet_pton(AF_INET, peers[i], &sin.sin_addr) == 1)
                        (void) proxy_networks_contain(n, (struct sockaddr *) &sin);
                else if (inet_pton(AF_INET6, peers[i], &sin6.sin6_addr) == 1)
                        (void) proxy_networks_contain(n, (struct sockaddr *) &sin6);
        }

        /* A single bare address trusts itself. */
        if (proxy_networks_size(n) == 1 && !strchr(s, '/')) {
                const char *p = s + strspn(s, " ,");
                char addr[64];
                size_t l = strcspn(p, " ,");
                struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
                struct sockaddr_in sin = { .sin_family = AF_INET };

                if (l < sizeof(addr)) {
                        memcpy(addr, p, l);
                        addr[l] = '\0';
                        if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1)
                                check(proxy_networks_contain(n, (struct sockaddr *) &sin));
                        else {
                                check(inet_pton(AF_INET6, addr, &sin6.sin6_addr) == 1);
                                check(proxy_networks_contain(n, (struct sockaddr *) &sin6));
                        }
                }
        }

        proxy_networks_free(n);
        free(s);
        return 0;
}
