/* SPDX-License-Identifier: MIT */

/*
 * The unit writer: config (src/model.h) → systemd units, in four steps:
 *
 *   1. plan_resolve() (plan/resolve.c) decides what the units express: effective values,
 *      the process model, users and groups, parsed addresses, runtime directories;
 *   2. layout_build() (units/layout.c) names every unit and reports collisions;
 *   3. the mappers (units/socket.c, service.c, slice.c, dirs.c, apply.c, target.c) fill
 *      one unit file each from the plan;
 *   4. builder_finish() (units/builder.c) renders them once (units/unit-file.c escapes and
 *      validates) and sorts them by path, so the same config always gives byte-identical
 *      files.
 *
 * Nothing is rendered when any step reported an error.
 */

#include <errno.h>
#include <stdlib.h>

#include "plan/resolve.h"
#include "units.h"
#include "units/builder.h"
#include "units/layout.h"
#include "units/mappers.h"

int unit_env_assignment(const char *name, const char *value, char **ret) {
        _cleanup_free_ char *a = NULL;

        if (asprintf(&a, "%s=%s", name, value ?: "") < 0)
                return -ENOMEM;
        return unit_word_quote(a, false, ret);
}

int unit_exec_word(const char *word, char **ret) {
        if (isempty(word))
                return -EINVAL;
        return unit_word_quote(word, true, ret);
}

unsigned unit_backlog(unsigned process_limit, unsigned client_limit) {
        return plan_backlog(process_limit, client_limit);
}

int unit_listener_fdname(const listener *l, char **ret) {
        return plan_listener_fdname(l, ret);
}

bool unit_service_supervised(const service *s) {
        return plan_process_model(s) == PROCESS_SUPERVISED;
}

static int report_diag(void *userdata, bool warning, const char *file, unsigned line,
                       const char *text) {
        return builder_diag(userdata, warning, file, line, "%s", text);
}

static int report_note(void *userdata, bool info, const char *file, unsigned line,
                       const char *text) {
        return builder_note(userdata, info ? UNIT_NOTE_INFO : UNIT_NOTE_DEBUG, file, line, "%s",
                            text);
}

static int map_all(const mapper *m) {
        const plan *p = m->p;
        int r;

        for (size_t i = 0; i < p->n_services; i++) {
                for (size_t l = 0; l < p->services[i].n_listeners; l++) {
                        r = map_socket(m, i, l);
                        if (r < 0)
                                return r;
                }
                if (m->names->services[i].anvil_fifo) {
                        r = map_anvil_fifo(m, i);
                        if (r < 0)
                                return r;
                }
                r = map_service(m, i);
                if (r < 0)
                        return r;
                r = map_slice(m, i);
                if (r < 0)
                        return r;
        }
        r = map_dirs(m);
        if (r < 0)
                return r;
        r = map_apply(m);
        if (r < 0)
                return r;
        if (m->names->own_target) {
                r = map_target(m);
                if (r < 0)
                        return r;
        }
        if (m->names->slice_parent)
                return map_parent_slice(m);
        return 0;
}

int units_build(const config *c, unit_set *ret, conf_diags *diags) {
        builder b = { .config_path = c->path, .diags = diags };
        plan_report report = { .diag = report_diag, .note = report_note, .userdata = &b };
        plan p = {};
        layout names = {};
        unsigned errors = 0;
        int r;

        r = plan_resolve(c, &report, &p, &errors);
        if (r < 0)
                goto finish;
        r = layout_build(&b, &p, &names);
        if (r < 0 || b.n_errors > 0 || p.n_services == 0)
                goto finish;
        r = map_all(&(mapper) { .b = &b, .p = &p, .names = &names });

finish:
        if (r >= 0)
                r = builder_finish(&b, ret);
        layout_done(&names, p.n_services);
        plan_done(&p);
        builder_done(&b);
        return r;
}
