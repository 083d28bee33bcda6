/* SPDX-License-Identifier: MIT */
#pragma once

/* FNV-1a over a string, for the tree's hash indexes (service names, unit names). */

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>

static inline size_t string_hash_fold(const char *s, int (*fold)(int)) {
        uint64_t h = UINT64_C(14695981039346656037);

        for (; *s; s++)
                h = (h ^ (unsigned char) (fold ? fold((unsigned char) *s) : *s)) *
                    UINT64_C(1099511628211);
        return (size_t) h;
}

/* Byte for byte. */
static inline size_t string_hash(const char *s) {
        return string_hash_fold(s, NULL);
}

/* ASCII case folded, for names compared with strcasecmp() (Dovecot's service names). */
static inline size_t string_hash_ascii_case(const char *s) {
        return string_hash_fold(s, tolower);
}
