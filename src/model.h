/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The service model: what the config dialect parser produces and what the unit writer and
 * --dump consume. Values are kept twice: as configured (what doveconf -a prints) and as
 * effective (what Dovecot's master would use: defaults applied, limits capped, paths made
 * absolute). Names of users and groups stay names; nothing here resolves them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

typedef struct conf_tree conf_tree;

#define DOVESD_SIZE_DEFAULT UINT64_MAX        /* per-service vsz_limit: use default_vsz_limit */
#define DOVESD_TIME_NEVER   4294967295U       /* idle_kill: never */

typedef enum listener_kind {
        LISTENER_UNIX,
        LISTENER_FIFO,
        LISTENER_INET,
} listener_kind;

/* "unix_listener", "fifo_listener", "inet_listener": the section's name in the dialect. */
const char *listener_kind_to_string(listener_kind k);

typedef struct listener {
        listener_kind kind;
        char *name;             /* unix/fifo: the path as written; inet: the section name */

        /* unix_listener / fifo_listener */
        unsigned mode;          /* 0 = disabled */
        char *user;             /* as configured, e.g. "$default_internal_user" */
        char *group;
        char *path;             /* effective: absolute, under base_dir when relative */
        char *eff_user;         /* effective: $default_* expanded, "" = root */
        char *eff_group;

        /* inet_listener */
        char *address;          /* as configured; "" = global listen */
        unsigned port;          /* 0 = disabled */
        bool ssl;
        bool reuse_port;
        bool haproxy;
        char **addresses;       /* effective: split address (or listen), NULL-terminated */
        char *var_user;         /* after $variable expansion, NULL when no variable was used */
        char *var_group;
        char *var_address;

        bool enabled;           /* mode != 0, port != 0, not ssl=yes under ssl=no */
        char *file;             /* where the section was first opened */
        unsigned line;
} listener;

typedef struct service {
        char *name;
        char *protocol;
        char *type;             /* "", log, config, anvil, login, startup, worker */
        char *executable;       /* as configured */
        char *user;
        char *group;
        char *privileged_group;
        char *extra_groups;
        char *chroot;
        bool drop_priv_before_exec;
        unsigned process_min_avail;
        unsigned process_limit;
        unsigned client_limit;
        unsigned service_count;
        unsigned idle_kill;             /* seconds, as configured */
        uint64_t vsz_limit;             /* bytes, as configured; DOVESD_SIZE_DEFAULT = default */

        /* effective values, as Dovecot's master computes them */
        bool enabled;                   /* protocol enabled and executable non-empty */
        unsigned eff_client_limit;      /* default applied, capped at service_count */
        unsigned eff_process_limit;
        unsigned eff_idle_kill;         /* seconds; 0 = never */
        uint64_t eff_vsz_limit;         /* bytes; 0 = no limit */
        char **eff_argv;                /* executable split on spaces, argv[0] absolute */
        char *eff_user;                 /* $default_* expanded */
        char *eff_extra_groups;
        char *eff_group;                /* after $variables and <file; "" = the user's group */
        char *eff_privileged_group;
        char *eff_chroot;               /* absolute, no trailing '/', "" = none */

        /* after $variable expansion, NULL when the setting used no variable */
        char *var_executable;
        char *var_user;
        char *var_group;
        char *var_privileged_group;
        char *var_extra_groups;
        char *var_chroot;

        listener *listeners;            /* in doveconf -a order */
        size_t n_listeners;

        char *file;                     /* where the section was first opened */
        unsigned line;
} service;

/* A setting at the top level of the file (not inside a filter or a section), the last
 * valid one of its key: any setting Dovecot knows, not only those the model keeps below. */
typedef struct config_global {
        char *key;
        char *value;                    /* what programs get: $variables expanded, <path read */
        char *written;                  /* as doveconf -a prints it: "<path" kept */
        char *file;
        unsigned line;
} config_global;

typedef struct config {
        char *path;                     /* the main config file */

        char *base_dir;                 /* after config_load: absolute, normalized */
        char *libexec_dir;
        char *instance_name;
        char *protocols;
        char *listen;
        char *ssl;                      /* yes, no, required */
        char *default_internal_user;
        char *default_internal_group;
        char *default_login_user;
        unsigned default_client_limit;
        unsigned default_process_limit;
        unsigned default_idle_kill;
        uint64_t default_vsz_limit;
        char *haproxy_trusted_networks;
        unsigned haproxy_timeout;

        service *services;              /* in doveconf -a order (sorted by name) */
        size_t n_services;

        config_global *globals;         /* every top-level setting, in the order first set */
        size_t n_globals;

        conf_tree *tree;                /* the file as parsed (conf.h): see config_tree() */
} config;

/* Dovecot's own programs (man dovesd.units(7), RUNNING DOVECOT): executables under
 * /usr/lib/dovecot/. A config that runs one and sets no base_dir gets Dovecot's default. */
#define DOVECOT_BASE_DIR_DEFAULT "/run/dovecot"
bool executable_is_dovecot(const char *path);
bool service_is_dovecot(const service *s);

/* Parse and validate PATH. Returns 0 and a config in *ret on success; on failure -EINVAL
 * (or another -errno) with every error recorded in diags. Warnings are recorded either way. */
int config_load(const char *path, config **ret, conf_diags *diags);
config *config_free(config *c);

/* The syntax tree the config was built from: every section (passdb, namespace, plugin,
 * protocol/local/remote filters ... as well as services) and every setting in file order,
 * as conf_parse() kept them. doveconf -n prints the sections the model does not keep. */
const conf_tree *config_tree(const config *c);

/* The last top-level setting of KEY, NULL when the config never sets it. */
const config_global *config_global_find(const config *c, const char *key);
/* The value of global KEY as doveconf prints it: the typed values above in doveconf's format
 * (defaults applied), any other setting as set, "" for a setting Dovecot knows that was not
 * set; NULL for an unknown key (errno 0) or on ENOMEM. The caller frees. */
char *config_global_value(const config *c, const char *key);
/* VALUE of global KEY in the form doveconf prints it ("1 hours" for 3600s, "yes" for YES);
 * a value that does not parse is returned as written. NULL on ENOMEM. The caller frees. */
char *config_global_canonical(const char *key, const char *value);
/* VALUE of KEY in a block of SECTION ("global" for the top level and filters, "passdb",
 * "namespace", "mailbox", ...) in the form doveconf prints it, as config_global_canonical().
 * NULL on ENOMEM. The caller frees. */
char *config_setting_canonical(const char *section, const char *key, const char *value);
/* dovesd's default of a global the model keeps (base_dir, instance_name, default_*, ...) as
 * config_global_value() prints it; NULL for any other key. The caller frees. */
char *config_global_default(const char *key);
