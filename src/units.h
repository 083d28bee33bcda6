/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The unit writer: turns a loaded config (src/model.h) into the set of systemd units that
 * dovesd-generator writes. Everything is built in memory first, so a config with any error
 * writes nothing at all. The steps (units.c): resolve the plan (plan/resolve.h), name the
 * units (units/layout.h), map each kind (units/mappers.h) into unit files
 * (units/unit-file.h), render them once; units/writer.h does the I/O.
 */

#include <stdbool.h>
#include <stdio.h>

#include "model.h"
#include "units/names.h"
#include "units/unit-set.h"
#include "units/writer.h"

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

/* process_limit > 1, or one of Dovecot's programs: the main process is dovesd-supervisor. */
bool unit_service_supervised(const service *s);

/* Builds every unit for C. Returns 0 and fills *ret (sorted entries, notes); on any error
 * -EINVAL with every error appended to DIAGS (FILE:LINE and text) and *ret untouched;
 * -ENOMEM. Warnings are appended to DIAGS either way. */
int units_build(const config *c, unit_set *ret, conf_diags *diags);
