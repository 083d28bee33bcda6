/* SPDX-License-Identifier: MIT */
#pragma once

/* Diagnostics of the config dialect: every error and warning with the FILE:LINE it is about,
 * in the order they were found. The parser (conf.c) and the model (model/) both add to it. */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* One diagnostic, always with the file and line it is about (line 0: the whole file). */
typedef struct conf_diag {
        char *file;
        unsigned line;
        char *text;
        bool warning;
} conf_diag;

typedef struct conf_diags {
        conf_diag *items;
        size_t n_items;
        size_t n_errors;
} conf_diags;

_printf_(5, 0)
int diag_addv(conf_diags *d, bool warning, const char *file, unsigned line, const char *fmt,
              va_list ap);
_printf_(5, 6)
int diag_add(conf_diags *d, bool warning, const char *file, unsigned line, const char *fmt, ...);
/* An error placed before item POS (what was reported up to some point of the file), so that
 * a check made after reading still reports in file order. */
_printf_(5, 6)
int diag_insert_error(conf_diags *d, size_t pos, const char *file, unsigned line,
                      const char *fmt, ...);

void conf_diags_done(conf_diags *d);
