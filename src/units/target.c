/* SPDX-License-Identifier: MIT */

/* PREFIX.target for an instance_name other than dovesd: part of, and wanted by, the static
 * dovesd.target. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mappers.h"

int map_target(const mapper *m) {
        _cleanup_unit_file_ unit_file *u = NULL;
        _cleanup_free_ char *desc = NULL;
        int r;

        if (asprintf(&desc, "%s services", m->names->prefix) < 0)
                return -ENOMEM;
        u = builder_unit_new(m->p->source, desc);
        if (!u)
                return -ENOMEM;
        r = unit_file_add(u, "Unit", "PartOf", "dovesd.target");
        if (r < 0)
                return r;
        r = builder_add(m->b, m->names->target, TAKE_PTR(u));
        if (r < 0)
                return r;
        return builder_add_wants(m->b, "dovesd.target", m->names->target);
}
