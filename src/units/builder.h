/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the mappers fill: the unit files and .wants/ links, the diagnostics and notes.
 * Rendering happens once at the end (builder_finish()), so a config with any error renders
 * nothing.
 */

#include <stdbool.h>

#include "macro.h"
#include "model.h"
#include "unit-file.h"
#include "unit-set.h"

#define GENERATOR_NAME "dovesd-generator"

typedef struct unit_out {
        char *path;             /* "dovesd-imap.service", "dovesd.target.wants/…" */
        unit_file *file;        /* NULL for a symlink */
        char *link;             /* the symlink's target */
} unit_out;

typedef struct builder {
        const char *config_path;        /* for errors about the whole set */
        conf_diags *diags;
        unsigned n_errors;
        unit_out *out;
        size_t n_out;
        unit_note *notes;
        size_t n_notes;
} builder;

int builder_diag(builder *b, bool warning, const char *file, unsigned line, const char *fmt,
                 ...) _printf_(5, 6);
int builder_note(builder *b, unit_note_level level, const char *file, unsigned line,
                 const char *fmt, ...) _printf_(5, 6);

/* A new unit: the header comment naming the generator, [Unit] Description= (written with
 * '%' escaped), Documentation=, SourcePath=. NULL on ENOMEM. */
unit_file *builder_unit_new(const char *source, const char *description);
/* Adds U as PATH (takes U, also on failure). */
int builder_add(builder *b, const char *path, unit_file *u);
/* FROM.wants/UNIT -> ../UNIT */
int builder_add_wants(builder *b, const char *from, const char *unit);

/* Renders every unit in the order added; a line systemd would ignore or misread is an error
 * (CONFIG:0: PATH:LINE: …). Returns 0 and fills *RET sorted by path, -EINVAL after errors,
 * -ENOMEM. */
int builder_finish(builder *b, unit_set *ret);
void builder_done(builder *b);
