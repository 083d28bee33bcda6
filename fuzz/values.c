/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the typed value parsers (src/values.c): size, time, octal, bool, uint,
 * port, ssl. The first byte picks the parser, the rest is the value (NUL-terminated by us).
 *
 * Besides memory safety it checks: an error always has a message and no value; a parsed
 * size, time or octal value printed the way doveconf prints it parses back to itself.
 *
 * Built by meson with -Dfuzz=true (fuzz/meson.build, scripts/fuzz). By hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE \
 *         -Isrc fuzz/values.c src/values.c -o build/fuzz-values
 *   build/fuzz-values -max_len=64 fuzz/corpus/values */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "values.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond) {
        if (!cond)
                abort();
}

/* r and error after one parser call: exactly one of value and message. */
static void check_result(int r, char *error) {
        if (r == 0)
                check(error == NULL);
        else {
                check(r == -EINVAL || r == -ENOMEM);
                check(r == -ENOMEM || (error && error[0]));
        }
        free(error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL;
        char *error = NULL, buf[32];
        uint64_t sz, sz2;
        unsigned u, u2;
        bool b;
        int r;

        if (size < 1)
                return 0;
        s = strndup((const char *) data + 1, size - 1);
        check(s != NULL);

        switch (data[0] % 7) {
        case 0:
                r = value_parse_size(s, &sz, &error);
                check_result(r, TAKE_PTR(error));
                if (r == 0) {
                        check(value_parse_size(value_format_size(sz, buf), &sz2, &error) == 0);
                        check(sz2 == sz);
                }
                break;
        case 1:
                r = value_parse_time(s, &u, &error);
                check_result(r, TAKE_PTR(error));
                if (r == 0) {
                        check(value_parse_time(value_format_time(u, buf), &u2, &error) == 0);
                        check(u2 == u);
                }
                break;
        case 2:
                r = value_parse_octal(s, &u, &error);
                check_result(r, TAKE_PTR(error));
                if (r == 0) {
                        check(value_parse_octal(value_format_octal(u, buf), &u2, &error) == 0);
                        check(u2 == u);
                }
                break;
        case 3:
                r = value_parse_bool(s, &b, &error);
                check_result(r, TAKE_PTR(error));
                if (r == 0)
                        check(value_parse_bool(value_format_bool(b), &b, &error) == 0);
                break;
        case 4:
                r = value_parse_uint(s, &u, &error);
                check_result(r, TAKE_PTR(error));
                break;
        case 5:
                r = value_parse_port(s, &u, &error);
                check_result(r, TAKE_PTR(error));
                if (r == 0)
                        check(u <= 65535);
                break;
        case 6: {
                char *v = NULL;

                r = value_parse_ssl(s, &v, &error);
                check_result(r, TAKE_PTR(error));
                if (r == 0)
                        check(streq(v, "yes") || streq(v, "no") || streq(v, "required"));
                free(v);
                break;
        }
        }
        return 0;
}
