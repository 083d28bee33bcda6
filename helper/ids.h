/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The identity dovesd_service_restrict() switches to: DOVESD_USER, DOVESD_GROUP,
 * DOVESD_EXTRA_GROUPS and DOVESD_PRIVILEGED_GROUP resolved to numbers (NSS). A worker of
 * dovesd-supervisor gets them resolved in DOVESD_WORKER_IDS, as Dovecot's master hands its
 * children RESTRICT_SETUID/RESTRICT_SETGID: the supervisor looks the names up once per
 * generation (at start and at each reload), not every worker at its start (an NSS lookup is
 * ~55 µs of a ~1.3 ms worker start: nsswitch.conf, /etc/passwd, the nscd socket).
 *
 *     DOVESD_WORKER_IDS=UID GID PRIV GID0 GROUPS
 *
 * UID, GID, PRIV: numbers, or "-" when not set (no DOVESD_USER, no group at all, no
 * privileged group); GID0: 1 when gid 0 may stay (a group named is gid 0), else 0; GROUPS:
 * the supplementary groups, comma-separated, or "-".
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "contract.h"
#include "internal.h"

#define DOVESD_IDS_GROUPS_MAX 256

typedef struct dovesd_service dovesd_service;

typedef struct dovesd_ids {
        bool set_uid, set_gid, has_priv_gid, gid0_allowed;
        uid_t uid;                      /* when set_uid */
        gid_t gid;                      /* when set_gid */
        gid_t priv_gid;                 /* when has_priv_gid */
        size_t n_groups;
        gid_t groups[DOVESD_IDS_GROUPS_MAX];
} dovesd_ids;

/* What resolving the names takes: the settings, and where to log (a service object's, or
 * dovesd-supervisor's own). */
typedef struct ids_source {
        const service_settings *settings;
        log_target log;
} ids_source;

/* Resolves the service's names through NSS; logs what it cannot resolve. 0 or -errno. */
int service_resolve_ids(const ids_source *s, dovesd_ids *ret);

/* "DOVESD_WORKER_IDS=…" for a worker's environment, in *ret (free() it). 0 or -ENOMEM. */
int ids_to_env(const dovesd_ids *ids, char **ret);

/* Parses the value of DOVESD_WORKER_IDS. 0, or -EINVAL on anything malformed. */
int ids_from_string(const char *text, dovesd_ids *ret);
