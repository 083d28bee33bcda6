/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The resolve step between the model (src/model.h) and the unit writer (src/units/): from a
 * loaded config it decides, once, everything the units express. The mappers only read the
 * plan; nothing after this step decides semantics again.
 *
 *   - effective values (from the model: defaults applied, client_limit capped);
 *   - the process model: the program serves as the main process, or dovesd-supervisor
 *     forks + execs every worker; and the worker kind (a libdovesd program or one of
 *     Dovecot 2.3's own);
 *   - users and groups (after the model's $default_* expansion), and who applies them:
 *     libdovesd in the process, or systemd's User= with drop_priv_before_exec = yes;
 *   - each enabled listener: the name the program sees, its addresses parsed once;
 *   - the runtime directories the dirs unit creates;
 *   - every source path made absolute once (SourcePath=).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "address.h"
#include "model.h"

typedef enum process_model {
        PROCESS_SINGLE,         /* the program is the main process and serves */
        PROCESS_SUPERVISED,     /* dovesd-supervisor is the main process */
} process_model;

typedef enum worker_kind {
        WORKER_LIBDOVESD,
        WORKER_DOVECOT,         /* Dovecot 2.3's own programs: dovesd is their master */
} worker_kind;

typedef struct plan_listener {
        const listener *l;              /* kind, name, mode, path, port, ssl, haproxy, … */
        const char *source;             /* absolute file that declared it */
        const char *file;               /* for diagnostics */
        unsigned line;
        char *fdname;                   /* FileDescriptorName=, DOVESD_LISTENERS */
        bool fdname_shared;             /* another enabled listener has the same fdname */
        bool fdname_shared_with_inet;   /* … an inet one */
        inet_address *addresses;        /* inet */
        size_t n_addresses;
        const char *socket_user;        /* unix/fifo: SocketUser=, "" = none */
        const char *socket_group;
} plan_listener;

typedef enum plan_dir_kind {
        PLAN_DIR_PLAIN,                 /* 0755 root:root */
        PLAN_DIR_EMPTY_CHROOT,          /* 0755 root:root, must be empty */
        PLAN_DIR_LOGIN_CHROOT,          /* 0750 root:<primary group of USER>, holds sockets */
} plan_dir_kind;

typedef struct plan_dir {
        char *path;
        plan_dir_kind kind;
        const char *user;
        size_t seq;                     /* order of addition: the first of the highest kind wins */
} plan_dir;

typedef struct plan_service {
        const service *s;
        const char *source;             /* absolute file that declared it */

        process_model process;
        worker_kind kind;
        bool boot;                      /* type=startup or process_min_avail > 0: Restart=always */
        bool restarts_by_design;        /* process_limit <= 1 and service_count > 0: started
                                         * again every few clients, no start/trigger limit */
        unsigned tasks_max;             /* the slice's backstop */
        unsigned backlog;               /* listen(2) backlog of its sockets */

        /* Privileges. With drop_priv_before_exec = yes systemd applies them (User=, Group=,
         * SupplementaryGroups=) and the DOVESD_* ones are empty; otherwise libdovesd does. */
        bool drop_priv_before_exec;
        bool runs_as_root;              /* empty user or "root": names are never resolved */
        const char *user, *group, *extra_groups, *privileged_group, *chroot;
        char **supplementary_groups;    /* drop_priv_before_exec: extra_groups + privileged_group */
        const char *capabilities;       /* CapabilityBoundingSet= */
        bool remove_ipc;                /* RemoveIPC=: User= other than root */

        char *listeners_env;            /* DOVESD_LISTENERS */
        plan_listener *listeners;       /* enabled, usable, in model order */
        size_t n_listeners;

        /* Dovecot kind: the config process it reads its settings from (NULL for none or
         * itself; ..._planned is NULL when that service gets no units), and anvil, whose
         * shared pipe ANVIL_FIFO it writes to (NULL for none, or for the config process). */
        const service *dovecot_config;
        const struct plan_service *dovecot_config_planned;
        const service *dovecot_anvil;
        const char *anvil_fifo;
} plan_service;

typedef struct plan {
        const config *c;
        const char *instance;           /* instance_name */
        char *source;                   /* the main config file, absolute */
        plan_service *services;         /* only those that get units, in model order */
        size_t n_services;
        const plan_service *dovecot_config;     /* enabled Dovecot services of type config, */
        const plan_service *dovecot_anvil;      /* anvil; NULL when none */
        char *anvil_fifo;               /* BASE_DIR/dovesd-anvil-shared */
        char *base_dir;                 /* without trailing '/' */
        plan_dir *dirs;                 /* sorted by path, one entry per path */
        size_t n_dirs;
        char **sources;                 /* the absolute paths handed out above */
        size_t n_sources;
} plan;

/* The sink for what the resolve step reports: errors and warnings go to the config's
 * diagnostics, notes (neither) to the unit set. Each returns 0 or -ENOMEM. */
typedef struct plan_report {
        int (*diag)(void *userdata, bool warning, const char *file, unsigned line,
                    const char *text);
        int (*note)(void *userdata, bool info, const char *file, unsigned line,
                    const char *text);
        void *userdata;
} plan_report;

/* Resolves C. Returns 0 and fills *RET (also after errors: the number of errors is in
 * *RET_ERRORS, the plan is then incomplete and only good for finding more errors);
 * -ENOMEM, or -errno when the current directory is needed and unknown. */
int plan_resolve(const config *c, const plan_report *report, plan *ret, unsigned *ret_errors);
void plan_done(plan *p);

/* The name a program sees for a listener (FileDescriptorName=, DOVESD_LISTENERS): the
 * basename of a unix/fifo path, the section name of an inet listener. Returns 0, -ENOMEM. */
int plan_listener_fdname(const listener *l, char **ret);

/* The process model of S: supervised with process_limit > 1 and for Dovecot's programs,
 * which need a master (status pipe, fds 3-7…) even alone. */
process_model plan_process_model(const service *s);

/* Dovecot's listen(2) backlog: process_limit × client_limit, clamped to [4, 511]. */
unsigned plan_backlog(unsigned process_limit, unsigned client_limit);
