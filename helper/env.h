/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A service's settings: the DOVESD_* environment (src/shared/contract.h), read once by
 * service_settings_from_env() and never changed afterwards. libdovesd's service object and
 * dovesd-supervisor both hold one; the supervisor replaces its whole struct at a reload, it
 * never edits one in place.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy.h"

/* One entry of DOVESD_LISTENERS. */
typedef struct service_listener {
        char *name;
        bool ssl;
        bool haproxy;
} service_listener;

typedef struct service_settings {
        char *name;                     /* DOVESD_SERVICE */
        char *type;                     /* DOVESD_TYPE, "" when unset */
        bool login;                     /* type = login */
        unsigned client_limit;          /* >= 1, capped at service_count */
        unsigned service_count;         /* 0 = unlimited */
        unsigned process_limit;         /* >= 1 */
        unsigned process_min_avail;     /* <= process_limit */
        unsigned idle_kill;             /* seconds, 0 = never */
        char *user, *group, *extra_groups, *privileged_group, *chroot;   /* NULL = unset */
        proxy_networks *networks;       /* DOVESD_HAPROXY_TRUSTED_NETWORKS, never NULL */
        uint64_t haproxy_timeout_usec;

        service_listener *listeners;    /* in DOVESD_LISTENERS order */
        size_t n_listeners;
} service_settings;

/* Parses DOVESD_*. On failure returns -errno and, for bad input, a message in *ret_error
 * (freed by the caller; may be NULL for -ENOMEM). */
int service_settings_from_env(service_settings **ret, char **ret_error);
service_settings *service_settings_free(service_settings *s);

/* The index of the listener called NAME, or -ENOENT. */
int service_settings_find_listener(const service_settings *s, const char *name);

/* The most clients one process holds at once: client_limit, and at most service_count. */
unsigned service_settings_capacity(const service_settings *s);

/* Same listeners (names, ssl, haproxy, order): fds passed for A fit B. */
bool service_settings_same_listeners(const service_settings *a, const service_settings *b);
