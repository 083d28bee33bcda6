/* SPDX-License-Identifier: MIT */

/*
 * doveconf's order, the order --dump prints and the units follow: services by name and each
 * service's listeners by kind, then name, the names escaped as doveconf escapes its key
 * paths and compared as plain signed chars.
 */

#include <stdlib.h>

#include "internal.h"

/* doveconf sorts the escaped key paths; settings_section_escape() escapes these. */
static void escape_name(const char *name, char *buf, size_t size) {
        size_t o = 0;

        for (const char *p = name; *p && o + 3 < size; p++) {
                const char *e = NULL;
                switch (*p) {
                case '=': e = "\\e"; break;
                case '/': e = "\\s"; break;
                case '\\': e = "\\\\"; break;
                case ' ': e = "\\_"; break;
                case ',': e = "\\+"; break;
                }
                if (e) {
                        buf[o++] = e[0];
                        buf[o++] = e[1];
                } else
                        buf[o++] = *p;
        }
        if (o + 1 < size)
                buf[o++] = '/';
        buf[o] = '\0';
}

/* doveconf's comparison: plain signed chars. */
static int signed_strcmp(const char *a, const char *b) {
        while (*a && *a == *b)
                a++, b++;
        return (signed char) *a - (signed char) *b;
}

static int config_name_cmp(const char *a, const char *b) {
        char ea[1024], eb[1024];

        escape_name(a, ea, sizeof(ea));
        escape_name(b, eb, sizeof(eb));
        return signed_strcmp(ea, eb);
}

static int service_cmp(const void *a, const void *b) {
        return config_name_cmp(((const service *) a)->name, ((const service *) b)->name);
}

static int listener_cmp(const void *a, const void *b) {
        const listener *x = a, *y = b;
        /* fifo_listener < inet_listener < unix_listener */
        static const int rank[] = { [LISTENER_UNIX] = 2, [LISTENER_FIFO] = 0,
                                    [LISTENER_INET] = 1 };
        if (x->kind != y->kind)
                return rank[x->kind] - rank[y->kind];
        return config_name_cmp(x->name, y->name);
}

/* Services and each service's listeners in doveconf -a's order. */
void config_sort(config *c) {
        if (c->n_services > 0)
                qsort_safe(c->services, c->n_services, sizeof(service), service_cmp);
        for (size_t i = 0; i < c->n_services; i++)
                if (c->services[i].n_listeners > 1)
                        qsort_safe(c->services[i].listeners, c->services[i].n_listeners,
                              sizeof(listener), listener_cmp);
}
