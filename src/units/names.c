/* SPDX-License-Identifier: MIT */

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "macro.h"
#include "names.h"

int unit_name_escape(const char *s, unsigned flags, char **ret) {
        _cleanup_free_ char *simplified = NULL, *r = NULL;
        const char *in = s;
        char *p;

        if (flags & UNIT_ESCAPE_PATH) {
                /* Drop leading, trailing and duplicate slashes, as systemd-escape --path. */
                char *q;

                simplified = malloc(strlen(s) + 1);
                if (!simplified)
                        return -ENOMEM;
                q = simplified;
                for (const char *c = s; *c; c++) {
                        if (*c == '/' && (q == simplified || q[-1] == '/'))
                                continue;
                        *q++ = *c;
                }
                if (q > simplified && q[-1] == '/')
                        q--;
                *q = '\0';
                in = simplified;
        }

        if (isempty(in))
                return -EINVAL;

        r = malloc(strlen(in) * 4 + 1);
        if (!r)
                return -ENOMEM;
        p = r;
        for (const char *c = in; *c; c++) {
                unsigned char u = (unsigned char) *c;

                if (u == '/')
                        *p++ = '-';
                else if (u == '.' && c == in)
                        p += sprintf(p, "\\x%02x", u);
                else if (isascii(u) && (isalnum(u) || u == ':' || u == '_' || u == '.' ||
                                        (u == '-' && (flags & UNIT_ESCAPE_KEEP_DASH))))
                        *p++ = (char) u;
                else
                        p += sprintf(p, "\\x%02x", u);
        }
        *p = '\0';

        *ret = TAKE_PTR(r);
        return 0;
}

/* The index slot that holds NAME, or the free one where it would go. */
static size_t *name_slot(name_registry *r, const char *name) {
        size_t mask = r->index_size - 1;

        for (size_t i = string_hash(name) & mask;; i = (i + 1) & mask)
                if (r->index[i] == 0 || streq(r->names[r->index[i] - 1].name, name))
                        return &r->index[i];
}

static int index_grow(name_registry *r) {
        size_t size = r->index_size ? 2 * r->index_size : 64, *index;

        index = calloc(size, sizeof(size_t));
        if (!index)
                return -ENOMEM;
        free(r->index);
        r->index = index;
        r->index_size = size;
        for (size_t i = 0; i < r->n_names; i++)
                *name_slot(r, r->names[i].name) = i + 1;
        return 0;
}

int name_registry_claim(name_registry *r, const char *name, const char *owner,
                        const char *file, unsigned line, const name_use **ret_taken) {
        _cleanup_free_ char *nm = NULL, *ow = NULL;
        size_t *slot;
        int k;

        if (strlen(name) > UNIT_NAME_MAX)
                return -E2BIG;
        if (2 * (r->n_names + 1) >= r->index_size) {
                k = index_grow(r);
                if (k < 0)
                        return k;
        }
        slot = name_slot(r, name);
        if (*slot > 0) {
                if (ret_taken)
                        *ret_taken = &r->names[*slot - 1];
                return -EEXIST;
        }

        nm = strdup(name);
        ow = strdup(owner);
        if (!nm || !ow || !GREEDY_REALLOC(r->names, r->n_names + 1))
                return -ENOMEM;
        r->names[r->n_names++] = (name_use) {
                .name = TAKE_PTR(nm),
                .owner = TAKE_PTR(ow),
                .file = file,
                .line = line,
        };
        *slot = r->n_names;
        return 0;
}

void name_registry_done(name_registry *r) {
        for (size_t i = 0; i < r->n_names; i++) {
                free(r->names[i].name);
                free(r->names[i].owner);
        }
        free(r->names);
        free(r->index);
        *r = (name_registry) {};
}
