/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdio.h>

#include "model.h"

/* Write every service of c as `doveconf -a` prints its section. Returns 0 or -errno. */
int config_dump(const config *c, FILE *f);

/* Load PATH and write what differs from the defaults, as `doveconf -n` prints it (without
 * its header comments): each global set at the top level whose value, printed as doveconf
 * prints it, differs from its default, in key order; each declared service among them with
 * its declared listeners and the settings that differ from a service's defaults; the
 * sections dovesd does not use (passdb, userdb, namespace, plugin ...) among them too; then
 * the protocol/local/remote/local_name filters in doveconf's order (dovesd-generator(8)).
 * Returns 0, or -errno with every error in diags. */
int config_dump_changed(const char *path, FILE *f, conf_diags *diags);
