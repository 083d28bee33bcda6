/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "layout.h"

/* Registers NAME; a second use is an error naming both. Returns 0 (also after reporting),
 * -ENOMEM. */
static int claim(builder *b, layout *l, const char *name, const char *owner, const char *file,
                 unsigned line) {
        const name_use *taken = NULL;
        int r;

        r = name_registry_claim(&l->registry, name, owner, file, line, &taken);
        if (r == -E2BIG)
                return builder_diag(b, false, file, line,
                                    "%s: unit name %s is too long (%zu > %d characters)",
                                    owner, name, strlen(name), UNIT_NAME_MAX);
        if (r == -EEXIST)
                return builder_diag(b, false, file, line,
                                    "%s: unit name %s is also the name for %s (%s:%u); rename "
                                    "one of them", owner, name, taken->owner, taken->file,
                                    taken->line);
        return r;
}

int layout_unit_of(const layout *l, const char *service_name, char **ret) {
        _cleanup_free_ char *svc = NULL;
        int r;

        r = unit_name_escape(service_name, UNIT_ESCAPE_KEEP_DASH, &svc);
        if (r < 0)
                return r;
        return asprintf(ret, "%s-%s", l->prefix, svc) < 0 ? -ENOMEM : 0;
}

/* The socket of PL: named as the program sees it, or by its path when that name is shared;
 * a path with no directory beside an inet listener of that name would be that name again,
 * so it gets its kind in front ("lmtp" beside inet_listener lmtp →
 * PREFIX-lmtp-unix-lmtp.socket). Returns 1, 0 after reporting an error, -ENOMEM. */
static int socket_name(builder *b, const plan_service *ps, const plan_listener *pl,
                       const char *unit, char **ret) {
        const listener *l = pl->l;
        _cleanup_free_ char *lst = NULL;
        int r;

        if (pl->fdname_shared && l->kind != LISTENER_INET && !strchr(l->name, '/') &&
            pl->fdname_shared_with_inet) {
                _cleanup_free_ char *p = NULL;

                r = unit_name_escape(l->name, UNIT_ESCAPE_KEEP_DASH | UNIT_ESCAPE_PATH, &p);
                if (r >= 0 && asprintf(&lst, "%s-%s",
                                       l->kind == LISTENER_UNIX ? "unix" : "fifo", p) < 0)
                        return -ENOMEM;
        } else if (pl->fdname_shared)
                r = unit_name_escape(l->name, UNIT_ESCAPE_KEEP_DASH | UNIT_ESCAPE_PATH, &lst);
        else
                r = unit_name_escape(pl->fdname, UNIT_ESCAPE_KEEP_DASH, &lst);
        if (r == -EINVAL) {
                r = builder_diag(b, false, pl->file, pl->line,
                                 "service(%s): %s %s: the name gives no unit name",
                                 ps->s->name, listener_kind_to_string(l->kind), l->name);
                return r < 0 ? r : 0;
        }
        if (r < 0)
                return r;
        return asprintf(ret, "%s-%s.socket", unit, lst) < 0 ? -ENOMEM : 1;
}

static int service_layout(builder *b, layout *l, const plan_service *ps, service_names *n) {
        const service *s = ps->s;
        _cleanup_free_ char *svc_slice = NULL, *owner = NULL;
        int r;

        r = layout_unit_of(l, s->name, &n->unit);
        if (r == -EINVAL)
                return builder_diag(b, false, s->file, s->line, "Service is missing name");
        if (r < 0)
                return r;
        r = unit_name_escape(s->name, 0, &svc_slice);
        if (r < 0)
                return r;
        if (asprintf(&n->service, "%s.service", n->unit) < 0 ||
            asprintf(&n->slice, "%s%s.slice", l->slice_prefix, svc_slice) < 0 ||
            asprintf(&owner, "service(%s)", s->name) < 0)
                return -ENOMEM;
        n->sockets = calloc(ps->n_listeners + 1, sizeof(char *));
        if (!n->sockets)
                return -ENOMEM;

        /* Every name is claimed, so that all collisions are reported. */
        r = claim(b, l, n->service, owner, s->file, s->line);
        if (r < 0)
                return r;
        r = claim(b, l, n->slice, owner, s->file, s->line);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ps->n_listeners; i++) {
                const plan_listener *pl = &ps->listeners[i];
                _cleanup_free_ char *lowner = NULL;

                r = socket_name(b, ps, pl, n->unit, &n->sockets[i]);
                if (r <= 0)
                        return r;
                if (asprintf(&lowner, "service(%s) %s %s", s->name,
                             listener_kind_to_string(pl->l->kind), pl->l->name) < 0)
                        return -ENOMEM;
                r = claim(b, l, n->sockets[i], lowner, pl->file, pl->line);
                if (r < 0)
                        return r;
        }
        if (ps->kind == WORKER_DOVECOT && streq(s->type ?: "", "anvil")) {
                _cleanup_free_ char *fowner = NULL;

                if (asprintf(&n->anvil_fifo, "%s-anvil-shared.socket", n->unit) < 0 ||
                    asprintf(&fowner, "service(%s) anvil's shared pipe", s->name) < 0)
                        return -ENOMEM;
                r = claim(b, l, n->anvil_fifo, fowner, s->file, s->line);
                if (r < 0)
                        return r;
        }
        return 0;
}

int layout_build(builder *b, const plan *p, layout *ret) {
        const char *cfg = p->c->path ?: "";
        layout l = {};
        int r;

        r = unit_name_escape(p->instance, UNIT_ESCAPE_KEEP_DASH, &l.prefix);
        if (r == -EINVAL) {
                r = builder_diag(b, false, cfg, 0, "instance_name must not be empty");
                goto finish;
        }
        if (r < 0)
                goto finish;
        l.own_target = !streq(p->instance, "dovesd");
        r = -ENOMEM;
        if (asprintf(&l.target, "%s.target", l.prefix) < 0 ||
            asprintf(&l.dirs_unit, "%s-dirs.service", l.prefix) < 0 ||
            asprintf(&l.apply_unit, "%s-apply.service", l.prefix) < 0)
                goto finish;
        if (!l.own_target) {
                l.slice_prefix = strdup("dovesd-");
                if (!l.slice_prefix)
                        goto finish;
        } else {
                _cleanup_free_ char *e = NULL;

                r = unit_name_escape(p->instance, 0, &e);
                if (r < 0)
                        goto finish;
                r = -ENOMEM;
                if (asprintf(&l.slice_parent, "dovesd-%s.slice", e) < 0 ||
                    asprintf(&l.slice_prefix, "dovesd-%s-", e) < 0)
                        goto finish;
        }

        r = claim(b, &l, l.target, "the instance's target", cfg, 0);
        if (r >= 0)
                r = claim(b, &l, l.dirs_unit, "the runtime directories unit", cfg, 0);
        if (r >= 0)
                r = claim(b, &l, l.apply_unit, "the unit that applies added and removed services "
                          "at a reload", cfg, 0);
        if (r >= 0 && l.slice_parent)
                r = claim(b, &l, l.slice_parent, "the instance's slice", cfg, 0);
        if (r < 0)
                goto finish;

        l.services = calloc(p->n_services + 1, sizeof(service_names));
        if (!l.services) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < p->n_services; i++) {
                r = service_layout(b, &l, &p->services[i], &l.services[i]);
                if (r < 0)
                        goto finish;
        }
        r = 0;

finish:
        *ret = l;
        return r;
}

void layout_done(layout *l, size_t n_services) {
        for (size_t i = 0; l->services && i < n_services; i++) {
                service_names *n = &l->services[i];

                free(n->unit);
                free(n->service);
                free(n->slice);
                strv_free(n->sockets);
                free(n->anvil_fifo);
        }
        free(l->services);
        free(l->prefix);
        free(l->target);
        free(l->apply_unit);
        free(l->dirs_unit);
        free(l->slice_parent);
        free(l->slice_prefix);
        name_registry_done(&l->registry);
        *l = (layout) {};
}
