/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The one set of small helpers for the whole tree (src/, generator/, helper/, tests/):
 * cleanup attributes, ownership transfer, a greedy array grower, string predicates.
 * Header-only; nothing here is exported from libdovesd.
 */

#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _pure_ __attribute__((pure))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) {
        safe_close(*fd);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_close_ _cleanup_(closep)

/* Return the pointer and set the variable to NULL, to hand ownership on. */
#define TAKE_PTR(p)                                     \
        ({                                              \
                __typeof__(p) *_pp = &(p);              \
                __typeof__(p) _p = *_pp;                \
                *_pp = NULL;                            \
                _p;                                     \
        })

#define TAKE_FD(fd)                                     \
        ({                                              \
                int *_pfd = &(fd);                      \
                int _fd = *_pfd;                        \
                *_pfd = -EBADF;                         \
                _fd;                                    \
        })

/* Free *p and set it to NULL; returns NULL. */
#define mfree(p)                                        \
        ({                                              \
                free(p);                                \
                (__typeof__(p)) NULL;                   \
        })

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strcaseeq(a, b) (strcasecmp((a), (b)) == 0)
static inline bool isempty(const char *s) {
        return !s || s[0] == '\0';
}

static inline bool streq_ptr(const char *a, const char *b) {
        return a && b ? strcmp(a, b) == 0 : a == b;
}

static inline const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);

        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

static inline bool strv_contains_(const char *const *l, const char *x) {
        for (; *l; l++)
                if (strcmp(*l, x) == 0)
                        return true;
        return false;
}
#define STR_IN_SET(x, ...) strv_contains_((const char *const[]) { __VA_ARGS__, NULL }, (x))

/* qsort() that accepts an empty array as NULL (qsort's own contract wants a valid pointer). */
static inline void qsort_safe(void *base, size_t n, size_t size,
                              int (*cmp)(const void *, const void *)) {
        if (n > 1)
                qsort(base, n, size, cmp);
}

/*
 * Grow the array *p so that it holds at least need elements of size bytes each. The capacity
 * is what the allocator reports (malloc_usable_size()), so callers keep only their element
 * count; it at least doubles, so appending n elements one by one costs O(n). Returns the
 * array, or NULL on overflow or ENOMEM with *p left as it was.
 */
static inline void *greedy_realloc(void **p, size_t need, size_t size) {
        size_t have = *p ? malloc_usable_size(*p) / size : 0, n;
        void *q;

        if (need <= have)
                return *p;
        if (need > SIZE_MAX / 2 / size)
                return NULL;
        n = MAX(need * 2, (size_t) 8);
        q = realloc(*p, n * size);
        if (!q)
                return NULL;
        return *p = q;
}

/* if (!GREEDY_REALLOC(v, n + 1)) return -ENOMEM;  v[n++] = x; */
#define GREEDY_REALLOC(array, need) \
        ((__typeof__(array)) greedy_realloc((void **) &(array), (need), sizeof((array)[0])))

/* A NULL-terminated string vector. */
static inline char **strv_free(char **l) {
        if (l) {
                for (char **i = l; *i; i++)
                        free(*i);
                free(l);
        }
        return NULL;
}

static inline void strv_freep(char ***l) {
        strv_free(*l);
}

#define _cleanup_strv_free_ _cleanup_(strv_freep)
