/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Unit names: systemd's escaping of one name component, and the registry of every name the
 * writer hands out. Keeping '-' literal makes names ambiguous (service "a-b" + listener "c"
 * and service "a" + listener "b-c" both give PREFIX-a-b-c.socket): every name is registered
 * with its origin, and a second use is an error that names both.
 */

#include <stddef.h>

#define UNIT_NAME_MAX 255

/* Flags for unit_name_escape(). */
#define UNIT_ESCAPE_KEEP_DASH   (1U << 0)       /* leave '-' literal (socket/service names) */
#define UNIT_ESCAPE_PATH        (1U << 1)       /* drop leading, trailing, duplicate '/' first */

/* Escapes S for use as one component of a unit name, as systemd-escape does ('/' → '-',
 * everything but ASCII alphanumerics, ':', '_' and '.' → "\xNN", a leading '.' → "\x2e"),
 * except that '-' stays literal with UNIT_ESCAPE_KEEP_DASH. Returns 0, or -EINVAL for a
 * string that escapes to nothing, -ENOMEM. */
int unit_name_escape(const char *s, unsigned flags, char **ret);

typedef struct name_use {
        char *name;
        char *owner;            /* "service(a) listener b", for the collision error */
        const char *file;       /* borrowed: outlives the registry */
        unsigned line;
} name_use;

typedef struct name_registry {
        name_use *names;
        size_t n_names;
        size_t *index;          /* open addressing: 1 + index into names, 0 = free */
        size_t index_size;      /* a power of two, > 2 × n_names */
} name_registry;

/* Registers NAME for OWNER. Returns 0; -E2BIG when NAME is longer than UNIT_NAME_MAX;
 * -EEXIST when NAME is taken, with the earlier use in *RET_TAKEN; -ENOMEM. */
int name_registry_claim(name_registry *r, const char *name, const char *owner,
                        const char *file, unsigned line, const name_use **ret_taken);

void name_registry_done(name_registry *r);
