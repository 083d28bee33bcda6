/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The sandbox every service unit and the dirs unit carry (man dovesd.units(7), SANDBOX): a
 * table with one row per directive and the reason for it, the same rows and words as the
 * man page's table. Every line can be relaxed by the admin with a drop-in
 * (systemctl edit UNIT).
 */

#include <stdbool.h>
#include <stddef.h>

#include "unit-file.h"

typedef enum sandbox_when {
        SANDBOX_ALWAYS,
        SANDBOX_UNCHROOTED,
        SANDBOX_CHROOTED,
        SANDBOX_CHROOTED_HOME_HIDDEN,   /* chrooted, and the chroot is not under a home */
        SANDBOX_REMOVE_IPC,             /* User= other than root */
} sandbox_when;

typedef enum sandbox_value {
        SANDBOX_FIXED,                  /* VALUE as it is */
        SANDBOX_CAPABILITIES,           /* the unit's bounding set */
        SANDBOX_CHROOT_RW,              /* "-CHROOT", one word */
} sandbox_value;

typedef struct sandbox_directive {
        const char *key;
        sandbox_value kind;
        const char *value;
        sandbox_when when;
        const char *reason;             /* the man page's words, without its markup */
} sandbox_directive;

extern const sandbox_directive sandbox_table[];
extern const size_t sandbox_table_size;

typedef struct sandbox_params {
        const char *capabilities;       /* CapabilityBoundingSet= */
        const char *chroot;             /* "" or NULL: none */
        bool remove_ipc;
} sandbox_params;

/* Adds the sandbox to SECTION of U. Returns 0, -ENOMEM. */
int sandbox_add(unit_file *u, const char *section, const sandbox_params *p);
