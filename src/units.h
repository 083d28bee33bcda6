/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The unit writer: turns a loaded config (src/model.h) into the set of systemd units that
 * dovesd-generator writes. Everything is built in memory first, so a config with any error
 * writes nothing at all. The naming and mapping scheme is described at the top of units.c.
 */

#include <stdbool.h>
#include <stdio.h>

#include "model.h"

typedef struct unit_entry {
        char *path;             /* relative to the output directory, e.g. "dovesd-imap.service",
                                 * "dovesd.target.wants/dovesd.socket" */
        char *content;          /* file: its text; symlink: the link target */
        bool symlink;
} unit_entry;

typedef enum unit_note_level {
        UNIT_NOTE_INFO,
        UNIT_NOTE_DEBUG,
} unit_note_level;

/* Something the generator should say that is neither an error nor a warning. */
typedef struct unit_note {
        unit_note_level level;
        char *file;
        unsigned line;
        char *text;
} unit_note;

typedef struct unit_set {
        unit_entry *entries;    /* sorted by path */
        size_t n_entries;
        unit_note *notes;
        size_t n_notes;
} unit_set;

/* Flags for unit_name_escape(). */
#define UNIT_ESCAPE_KEEP_DASH   (1U << 0)       /* leave '-' literal (socket/service names) */
#define UNIT_ESCAPE_PATH        (1U << 1)       /* drop leading, trailing, duplicate '/' first */

/* Escapes S for use as one component of a unit name, as systemd-escape does ('/' → '-',
 * everything but ASCII alphanumerics, ':', '_' and '.' → "\xNN", a leading '.' → "\x2e"),
 * except that '-' stays literal with UNIT_ESCAPE_KEEP_DASH. Returns 0, or -EINVAL for a
 * string that escapes to nothing, -ENOMEM. */
int unit_name_escape(const char *s, unsigned flags, char **ret);

/* Formats NAME=VALUE as one word of an Environment= line: quoted when needed, '\' and '"'
 * escaped inside the quotes, '%' doubled, control characters as "\xNN". Returns 0 or
 * -ENOMEM. */
int unit_env_assignment(const char *name, const char *value, char **ret);

/* Formats one argv word of an Exec*= line: quoted when needed, '%' → "%%", '$' → "$$",
 * a lone ";" escaped, control characters as "\xNN". Returns 0, -EINVAL for an empty word,
 * -ENOMEM. */
int unit_exec_word(const char *word, char **ret);

/* Dovecot's listen(2) backlog: process_limit × client_limit, clamped to [4, 511]. */
unsigned unit_backlog(unsigned process_limit, unsigned client_limit);

/* The name a program sees for a listener (FileDescriptorName=, DOVESD_LISTENERS): the
 * basename of a unix/fifo path, the section name of an inet listener. Returns 0, -ENOMEM. */
int unit_listener_fdname(const listener *l, char **ret);

/* True when the service runs one process per connection (socket Accept=yes). */
/* process_limit > 1: the main process is dovesd-supervisor. */
bool unit_service_supervised(const service *s);

/* Builds every unit for C. Returns 0 and fills *ret (sorted entries, notes); on any error
 * -EINVAL with every error appended to DIAGS (FILE:LINE and text) and *ret untouched;
 * -ENOMEM. Warnings are appended to DIAGS either way. */
int units_build(const config *c, unit_set *ret, conf_diags *diags);

/* Writes S under DIR: directories for ".wants/" as needed, every file and symlink created
 * exclusively (an existing one is an error), every file flushed and checked. On failure
 * returns -errno and, when RET_FAILED is not NULL, the path it failed on. */
int units_write(const unit_set *s, const char *dir, char **ret_failed);

/* Prints S for --dry-run: "# PATH" before each file, "# PATH -> TARGET" for each symlink. */
int units_print(const unit_set *s, FILE *f);

void unit_set_done(unit_set *s);
