/* SPDX-License-Identifier: MIT */
#pragma once

/* The units of one config, rendered: what dovesd-generator writes, prints or keeps. */

#include <stdbool.h>
#include <stddef.h>

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

void unit_set_done(unit_set *s);
