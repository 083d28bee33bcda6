/* SPDX-License-Identifier: MIT */
#pragma once

/* Small shared helpers: cleanup attributes and ownership transfer, in systemd's spirit. */

#include <errno.h>
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
#define isempty(s) (!(s) || (s)[0] == '\0')

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
