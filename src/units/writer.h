/* SPDX-License-Identifier: MIT */
#pragma once

/* The I/O of a unit set: the only place that touches the disk. */

#include <stdio.h>

#include "unit-set.h"

/* Writes S under DIR: directories for ".wants/" as needed, every file and symlink created
 * exclusively (an existing one is an error), every file flushed and checked. On failure
 * returns -errno and, when RET_FAILED is not NULL, the path it failed on. */
int units_write(const unit_set *s, const char *dir, char **ret_failed);

/* Prints S for --dry-run: "# PATH" before each file, "# PATH -> TARGET" for each symlink. */
int units_print(const unit_set *s, FILE *f);
