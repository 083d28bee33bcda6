/* SPDX-License-Identifier: MIT */

/* Slices: one per service under the static dovesd.slice (or the instance's parent slice),
 * TasksMax= as the kernel's backstop behind process_limit. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mappers.h"

int map_slice(const mapper *m, size_t i) {
        const plan_service *ps = &m->p->services[i];
        _cleanup_unit_file_ unit_file *u = NULL;
        _cleanup_free_ char *desc = NULL;
        int r;

        if (asprintf(&desc, "%s slice of service %s", m->names->prefix, ps->s->name) < 0)
                return -ENOMEM;
        u = builder_unit_new(ps->source, desc);
        if (!u)
                return -ENOMEM;
        r = unit_file_add_uint(u, "Slice", "TasksMax", ps->tasks_max);
        if (r < 0)
                return r;
        return builder_add(m->b, m->names->services[i].slice, TAKE_PTR(u));
}

int map_parent_slice(const mapper *m) {
        _cleanup_free_ char *desc = NULL;
        unit_file *u;

        if (asprintf(&desc, "dovesd slice of instance %s", m->p->instance) < 0)
                return -ENOMEM;
        u = builder_unit_new(m->p->source, desc);
        if (!u)
                return -ENOMEM;
        return builder_add(m->b, m->names->slice_parent, u);
}
