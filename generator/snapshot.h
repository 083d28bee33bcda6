/* SPDX-License-Identifier: MIT */
#pragma once

/* The last good unit set, kept so that a broken config on daemon-reload changes nothing
 * (see snapshot.c for why). */

#include <stdint.h>

#include "units.h"

#define SNAPSHOT_DIR_DEFAULT "/run/dovesd-generator/last-good"

/* Replaces the copy in DIR by S, made from CONFIG. Returns 0 or -errno. */
int snapshot_save(const unit_set *s, const char *dir, const char *config_path);

/* Removes the copy in DIR if it was made from CONFIG_PATH. Returns 0 or -errno. */
int snapshot_remove(const char *dir, const char *config_path);

/* Reads the copy in DIR into *ret when it was made from CONFIG; *ret_saved gets the time it
 * was saved (seconds since the epoch). Returns 0, -ENOENT when there is none, -ESTALE when it
 * was made from another config file, other -errno. */
int snapshot_load(const char *dir, const char *config_path, unit_set *ret, int64_t *ret_saved);
