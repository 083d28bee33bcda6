/* SPDX-License-Identifier: MIT */

/* PREFIX-dirs.service: a oneshot that creates the runtime directories of the plan
 * (base_dir, the chroots below it, every directory between base_dir and a listener). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mappers.h"
#include "sandbox.h"

static const char script_empty[] =
        "install -d -m 0755 -o root -g root \"$1\"; "
        "if [ -n \"$(ls -A \"$1\")\" ]; then "
        "echo \"$1 is a chroot and must be empty\" >&2; exit 1; fi";
static const char script_login[] =
        "g=$(id -g \"$2\"); install -d -m 0750 -o root -g \"$g\" \"$1\"";

static int add_dir(unit_file *u, const plan_dir *d) {
        switch (d->kind) {
        case PLAN_DIR_PLAIN:
                return unit_file_add_exec(u, "Service", "ExecStart", (char *const[]) {
                        (char *) "/usr/bin/install", (char *) "-d", (char *) "-m",
                        (char *) "0755", (char *) "-o", (char *) "root", (char *) "-g",
                        (char *) "root", d->path, NULL });
        case PLAN_DIR_EMPTY_CHROOT:
                return unit_file_add_exec(u, "Service", "ExecStart", (char *const[]) {
                        (char *) "/bin/sh", (char *) "-ec", (char *) script_empty,
                        (char *) "sh", d->path, NULL });
        case PLAN_DIR_LOGIN_CHROOT:
                return unit_file_add_exec(u, "Service", "ExecStart", (char *const[]) {
                        (char *) "/bin/sh", (char *) "-ec", (char *) script_login,
                        (char *) "sh", d->path, (char *) d->user, NULL });
        }
        return -EINVAL;
}

int map_dirs(const mapper *m) {
        _cleanup_unit_file_ unit_file *u = NULL;
        _cleanup_free_ char *desc = NULL;
        int r;

        if (asprintf(&desc, "%s runtime directories", m->names->prefix) < 0)
                return -ENOMEM;
        u = builder_unit_new(m->p->source, desc);
        if (!u)
                return -ENOMEM;
        r = unit_file_add(u, "Unit", "DefaultDependencies", "no");
        if (r >= 0)
                r = unit_file_add(u, "Unit", "After", "local-fs.target");
        if (r >= 0)
                r = unit_file_add(u, "Unit", "Conflicts", "shutdown.target");
        if (r >= 0)
                r = unit_file_add(u, "Unit", "Before", "shutdown.target");
        if (r >= 0)
                r = unit_file_add_escaped(u, "Unit", "PartOf", m->names->target);
        if (r >= 0)
                r = unit_file_add(u, "Service", "Type", "oneshot");
        if (r >= 0)
                r = unit_file_add(u, "Service", "RemainAfterExit", "yes");
        for (size_t i = 0; i < m->p->n_dirs && r >= 0; i++)
                r = add_dir(u, &m->p->dirs[i]);
        /* The same sandbox: root, creating directories and handing them to root:GROUP
         * (CHOWN), fixing the mode of one that exists with another owner (FOWNER), under
         * parents of any mode (DAC_OVERRIDE). `id -g` may ask NSS over the network. */
        if (r >= 0)
                r = sandbox_add(u, "Service", &(sandbox_params) {
                        .capabilities = "CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER",
                });
        if (r < 0)
                return r;

        r = builder_add(m->b, m->names->dirs_unit, TAKE_PTR(u));
        if (r < 0)
                return r;
        return builder_add_wants(m->b, m->names->target, m->names->dirs_unit);
}
