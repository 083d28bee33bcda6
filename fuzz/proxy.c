/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the PROXY v1/v2 header parser (helper/proxy.c).
 *
 * Not built by default. By hand, from the source root:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE \
 *         -Ihelper fuzz/proxy.c helper/proxy.c -o build/fuzz-proxy
 *   build/fuzz-proxy -max_len=2048 -max_total_time=60 fuzz/corpus/proxy
 * Seeds: fuzz/proxy-corpus.py regenerates fuzz/corpus/proxy/ from tests/lib/test-proxy.c.
 *
 * Besides memory safety it checks the parser's contract on every input: results stay within
 * the buffer, errors carry a reason and one of the documented codes, and a complete header is
 * independent of what follows it (its own bytes parse to the same length; one byte less asks
 * for more). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond) {
        if (!cond)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        proxy_header h, h2;
        const char *reason = NULL;
        int r, r2;

        r = proxy_header_parse(data, size, &h, &reason);
        if (r < 0) {
                check(reason != NULL && reason[0] != '\0');
                check(r == -EBADMSG || r == -EPROTONOSUPPORT || r == -E2BIG || r == -ENOMEM);
                return 0;
        }
        check(reason == NULL);
        if (r == 0) {
                check(size < PROXY_HEADER_MAX);
                return 0;
        }

        check((size_t) r <= size && (size_t) r <= PROXY_HEADER_MAX);
        check(h.version == 1 || h.version == 2);
        check(h.local ? (h.src_len == 0 && h.dst_len == 0) : (h.src_len > 0 && h.dst_len > 0));
        check(!h.alpn || h.alpn[h.alpn_len] == 0);
        check(!h.authority || strlen(h.authority) < (size_t) r);
        check(!h.ssl_cn || strlen(h.ssl_cn) < (size_t) r);

        /* The header alone parses the same; one byte less is an incomplete prefix. */
        r2 = proxy_header_parse(data, (size_t) r, &h2, &reason);
        check(r2 == r);
        check(h2.version == h.version && h2.local == h.local && h2.ssl == h.ssl);
        check(h2.src_len == h.src_len && memcmp(&h2.src, &h.src, h.src_len) == 0);
        proxy_header_done(&h2);
        check(proxy_header_parse(data, (size_t) r - 1, &h2, &reason) == 0);

        proxy_header_done(&h);
        return 0;
}
