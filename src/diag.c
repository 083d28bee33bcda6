/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

_printf_(6, 0)
static int diag_put(conf_diags *d, size_t pos, bool warning, const char *file, unsigned line,
                    const char *fmt, va_list ap) {
        _cleanup_free_ char *text = NULL, *f = NULL;

        if (vasprintf(&text, fmt, ap) < 0)
                return -ENOMEM;
        f = strdup(file ?: "");
        if (!f || !GREEDY_REALLOC(d->items, d->n_items + 1))
                return -ENOMEM;
        pos = MIN(pos, d->n_items);
        memmove(d->items + pos + 1, d->items + pos, (d->n_items - pos) * sizeof(conf_diag));
        d->items[pos] = (conf_diag) {
                .file = TAKE_PTR(f), .line = line, .text = TAKE_PTR(text), .warning = warning,
        };
        d->n_items++;
        if (!warning)
                d->n_errors++;
        return 0;
}

int diag_addv(conf_diags *d, bool warning, const char *file, unsigned line, const char *fmt,
              va_list ap) {
        return diag_put(d, d->n_items, warning, file, line, fmt, ap);
}

int diag_add(conf_diags *d, bool warning, const char *file, unsigned line, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = diag_addv(d, warning, file, line, fmt, ap);
        va_end(ap);
        return r;
}

int diag_insert_error(conf_diags *d, size_t pos, const char *file, unsigned line,
                      const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = diag_put(d, pos, false, file, line, fmt, ap);
        va_end(ap);
        return r;
}

void conf_diags_done(conf_diags *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n_items; i++) {
                free(d->items[i].file);
                free(d->items[i].text);
        }
        free(d->items);
        *d = (conf_diags) {};
}
