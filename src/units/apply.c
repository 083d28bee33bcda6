/* SPDX-License-Identifier: MIT */

/* PREFIX-apply.service: what a reload of the target does beyond the services' own reloads.
 * Its ExecReload= (dovesd-generator --apply) starts the sockets of services added to the
 * config, drains the services removed from it, and restarts the sockets whose listeners
 * changed while their service is not running (dovesd.units(7), RELOAD). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mappers.h"
#include "sandbox.h"

int map_apply(const mapper *m) {
        _cleanup_unit_file_ unit_file *u = NULL;
        _cleanup_free_ char *desc = NULL;
        int r;

        if (asprintf(&desc, "%s: apply added and removed services at a reload",
                     m->names->prefix) < 0)
                return -ENOMEM;
        u = builder_unit_new(m->p->source, desc);
        if (!u)
                return -ENOMEM;
        r = unit_file_add_escaped(u, "Unit", "PartOf", m->names->target);
        if (r >= 0)
                r = unit_file_add_escaped(u, "Unit", "ReloadPropagatedFrom", m->names->target);
        if (r >= 0 && m->names->own_target)
                r = unit_file_add(u, "Unit", "ReloadPropagatedFrom", "dovesd.target");
        if (r >= 0)
                r = unit_file_add(u, "Service", "Type", "oneshot");
        if (r >= 0)
                r = unit_file_add(u, "Service", "RemainAfterExit", "yes");
        if (r >= 0)
                r = unit_file_add(u, "Service", "ExecStart", "/bin/true");
        if (r >= 0)
                r = unit_file_add_exec(u, "Service", "ExecReload", (char *const[]) {
                        (char *) DOVESD_GENERATOR_PATH, (char *) "--apply", (char *) "-c",
                        m->p->c->path, NULL });
        /* It reads the config and asks PID 1 over its socket, as root: no capability. */
        if (r >= 0)
                r = sandbox_add(u, "Service", &(sandbox_params) { .capabilities = "" });
        if (r < 0)
                return r;

        r = builder_add(m->b, m->names->apply_unit, TAKE_PTR(u));
        if (r < 0)
                return r;
        return builder_add_wants(m->b, m->names->target, m->names->apply_unit);
}
