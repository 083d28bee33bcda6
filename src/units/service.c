/* SPDX-License-Identifier: MIT */

/*
 * PREFIX-SERVICE.service: Type=notify; ExecStart= the program, behind dovesd-supervisor
 * when the plan says supervised; Restart=always for services started at boot (Dovecot's
 * master keeps those running), Restart=on-failure for the others (a pool that exits 0 after
 * idle_kill is started again by its sockets). KillMode= stays control-group: on stop every
 * process gets SIGTERM and shuts down gracefully; TimeoutStopSec=30s, then SIGKILL.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "mappers.h"
#include "sandbox.h"

#define U "Unit"
#define S "Service"
#define STOP_TIMEOUT "30s"

/* Wants= and After= UNIT. */
static int add_dep(unit_file *u, const char *unit) {
        int r = unit_file_add_escaped(u, U, "Wants", unit);

        return r < 0 ? r : unit_file_add_escaped(u, U, "After", unit);
}

/* A Dovecot program reads its settings from the config process and writes to anvil's shared
 * pipe from the first moment. */
static int add_dovecot_deps(const mapper *m, unit_file *u, const plan_service *ps) {
        int r;

        if (ps->dovecot_config) {
                const plan_service *cfg = ps->dovecot_config_planned;
                _cleanup_free_ char *unit = NULL, *svc = NULL;

                for (size_t i = 0; cfg && i < cfg->n_listeners; i++) {
                        r = add_dep(u, m->names->services[cfg - m->p->services].sockets[i]);
                        if (r < 0)
                                return r;
                }
                /* Ordered after the config service too (no Wants=: it starts on demand):
                 * when dovesd.target is reloaded, the config process's new generation comes
                 * first, so that this service's new workers read the new settings. */
                r = layout_unit_of(m->names, ps->dovecot_config->name, &unit);
                if (r < 0)
                        return r;
                if (asprintf(&svc, "%s.service", unit) < 0)
                        return -ENOMEM;
                r = unit_file_add_escaped(u, U, "After", svc);
                if (r < 0)
                        return r;
        }
        if (ps->dovecot_anvil) {
                _cleanup_free_ char *unit = NULL, *fifo = NULL;

                r = layout_unit_of(m->names, ps->dovecot_anvil->name, &unit);
                if (r < 0)
                        return r;
                if (asprintf(&fifo, "%s-anvil-shared.socket", unit) < 0)
                        return -ENOMEM;
                return add_dep(u, fifo);
        }
        return 0;
}

/* ExecReload=: '+' runs it outside the sandbox and as root, so that it may signal a main
 * process that is no longer root (process_limit = 1 after dovesd_service_restrict()), and
 * with the reloaded unit's environment, which the supervisor reads from it. */
static int add_exec(unit_file *u, const plan_service *ps) {
        _cleanup_free_ char **argv = NULL;
        char **a = ps->s->eff_argv;
        size_t n = 0;
        int r;

        if (ps->process == PROCESS_SINGLE) {
                r = unit_file_add_exec(u, S, "ExecStart", a);
                return r < 0 ? r : unit_file_add(u, S, "ExecReload", "+/bin/kill -HUP $MAINPID");
        }
        while (a[n])
                n++;
        argv = calloc(n + 2, sizeof(char *));
        if (!argv)
                return -ENOMEM;
        argv[0] = (char *) DOVESD_SUPERVISOR_PATH;
        memcpy(argv + 1, a, n * sizeof(char *));
        r = unit_file_add_exec(u, S, "ExecStart", argv);
        return r < 0 ? r : unit_file_add(u, S, "ExecReload",
                                         "+" DOVESD_SUPERVISOR_PATH " --reload $MAINPID");
}

/* drop_priv_before_exec = yes: systemd switches before exec. */
static int add_user(unit_file *u, const plan_service *ps) {
        static char *const none[] = { NULL };
        int r = 0;

        if (!isempty(ps->user))
                r = unit_file_add_escaped(u, S, "User", ps->user);
        if (r >= 0 && !isempty(ps->group))
                r = unit_file_add_escaped(u, S, "Group", ps->group);
        if (r >= 0 && (!isempty(ps->extra_groups) || !isempty(ps->privileged_group)))
                r = unit_file_add_words(u, S, "SupplementaryGroups",
                                        ps->supplementary_groups ?: none);
        return r;
}

/* The whole input of libdovesd (contract.h). */
static int add_environment(const mapper *m, unit_file *u, const plan_service *ps) {
        const service *s = ps->s;
        const config *c = m->p->c;
        bool drop = ps->drop_priv_before_exec;
        const struct {
                const char *name;
                const char *value;
                unsigned number;
        } env[] = {
                { DOVESD_ENV_SERVICE, s->name },
                { DOVESD_ENV_TYPE, s->type ?: "" },
                { DOVESD_ENV_CLIENT_LIMIT, NULL, s->eff_client_limit },
                { DOVESD_ENV_SERVICE_COUNT, NULL, s->service_count },
                { DOVESD_ENV_PROCESS_LIMIT, NULL, s->eff_process_limit },
                { DOVESD_ENV_PROCESS_MIN_AVAIL, NULL, s->process_min_avail },
                { DOVESD_ENV_IDLE_KILL, NULL, s->eff_idle_kill },
                { DOVESD_ENV_LISTENERS, ps->listeners_env },
                { DOVESD_ENV_USER, drop ? "" : ps->user },
                { DOVESD_ENV_GROUP, drop ? "" : ps->group },
                { DOVESD_ENV_EXTRA_GROUPS, drop ? "" : ps->extra_groups },
                { DOVESD_ENV_PRIVILEGED_GROUP, drop ? "" : ps->privileged_group },
                { DOVESD_ENV_CHROOT, drop ? "" : ps->chroot },
                { DOVESD_ENV_HAPROXY_TRUSTED_NETWORKS, c->haproxy_trusted_networks ?: "" },
                { DOVESD_ENV_HAPROXY_TIMEOUT, NULL, c->haproxy_timeout },
        };

        for (size_t i = 0; i < ELEMENTSOF(env); i++) {
                char num[16];
                const char *v = env[i].value;
                int r;

                if (!v) {
                        snprintf(num, sizeof(num), "%u", env[i].number);
                        v = num;
                }
                r = unit_file_add_env(u, S, env[i].name, v);
                if (r < 0)
                        return r;
        }
        if (ps->kind != WORKER_DOVECOT)
                return 0;

        /* The supervisor's extra input for the Dovecot kind: base_dir, the file Dovecot's
         * config process serves (its CONFIG_FILE), anvil's shared pipe. */
        int r = unit_file_add_env(u, S, DOVESD_ENV_WORKER_KIND, DOVESD_WORKER_KIND_DOVECOT);
        if (r >= 0)
                r = unit_file_add_env(u, S, DOVESD_ENV_BASE_DIR, c->base_dir);
        if (r >= 0 && streq(s->type ?: "", "config"))
                r = unit_file_add_env(u, S, DOVESD_ENV_CONFIG_FILE, c->path);
        if (r >= 0)
                r = unit_file_add_env(u, S, DOVESD_ENV_ANVIL_FIFO, ps->anvil_fifo ?: "");
        return r;
}

int map_service(const mapper *m, size_t i) {
        const plan_service *ps = &m->p->services[i];
        const service_names *n = &m->names->services[i];
        const service *s = ps->s;
        _cleanup_unit_file_ unit_file *u = NULL;
        _cleanup_free_ char *desc = NULL;
        int r;

        if (asprintf(&desc, "%s service %s", m->names->prefix, s->name) < 0)
                return -ENOMEM;
        u = builder_unit_new(ps->source, desc);
        if (!u)
                return -ENOMEM;
        r = unit_file_add_escaped(u, U, "PartOf", m->names->target);
        if (r >= 0)
                r = add_dep(u, m->names->dirs_unit);
        if (r >= 0 && ps->kind == WORKER_DOVECOT)
                r = add_dovecot_deps(m, u, ps);
        if (r >= 0)
                r = unit_file_add_escaped(u, U, "ReloadPropagatedFrom", m->names->target);
        if (r >= 0 && m->names->own_target)
                r = unit_file_add(u, U, "ReloadPropagatedFrom", "dovesd.target");
        /* At a reload of the target the apply unit goes first: it makes the runtime
         * directories of the new config (a new chroot) before new workers need them. */
        if (r >= 0)
                r = unit_file_add_escaped(u, U, "After", m->names->apply_unit);
        if (r >= 0 && ps->restarts_by_design)
                r = unit_file_add(u, U, "StartLimitIntervalSec", "0");

        if (r >= 0)
                r = unit_file_add(u, S, "Type", "notify");
        if (r >= 0)
                r = unit_file_add(u, S, "NotifyAccess", "all");
        if (r >= 0)
                r = add_exec(u, ps);
        if (r >= 0)
                r = unit_file_add(u, S, "Restart", ps->boot ? "always" : "on-failure");
        if (r >= 0)
                r = unit_file_add(u, S, "TimeoutStopSec", STOP_TIMEOUT);
        if (r >= 0)
                r = unit_file_add_escaped(u, S, "Slice", n->slice);
        if (r >= 0 && ps->n_listeners > 0)
                r = unit_file_add_names(u, S, "Sockets", n->sockets);
        if (r >= 0 && n->anvil_fifo)
                r = unit_file_add_names(u, S, "Sockets", (char *const[]) { n->anvil_fifo, NULL });
        if (r >= 0 && ps->drop_priv_before_exec)
                r = add_user(u, ps);
        if (r >= 0 && s->eff_vsz_limit > 0)
                r = unit_file_add_uint(u, S, "LimitAS", s->eff_vsz_limit);
        if (r >= 0 && s->eff_vsz_limit > 0)
                r = unit_file_add_uint(u, S, "LimitDATA", s->eff_vsz_limit);
        if (r >= 0)
                r = sandbox_add(u, S, &(sandbox_params) {
                        .capabilities = ps->capabilities,
                        .chroot = ps->chroot,
                        .remove_ipc = ps->remove_ipc,
                });
        if (r >= 0)
                r = add_environment(m, u, ps);
        if (r < 0)
                return r;

        r = builder_add(m->b, n->service, TAKE_PTR(u));
        if (r < 0 || !ps->boot)
                return r;
        return builder_add_wants(m->b, m->names->target, n->service);
}
