/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What differs between the two kinds of process that serve, as one row per role (as OpenBSD
 * relayd's struct privsep_proc table): the accept loop (loop.c) and the privilege drop
 * (restrict.c) call the row of their service, never test which role it is.
 *
 *   role_single (single.c)  started by systemd on its own (process_limit = 1): it tells
 *                           systemd READY=1, STATUS= and STOPPING=1, exits on idle_kill by
 *                           itself, warns when client_limit is reached, pings the watchdog.
 *   role_worker (worker.c)  exec'd by dovesd-supervisor (DOVESD_WORKER): it tells the
 *                           supervisor through its slot and wake fd only; the supervisor
 *                           decides on idle_kill and logs process_limit.
 *
 * The supervisor itself is not a row: it is its own program (supervisor.c).
 */

#include <stdbool.h>

#include "dovesd.h"
#include "loop.h"

typedef struct service_role {
        int routine_priority;           /* records of routine events (privileges dropped,
                                         * reloaded, service_count reached) */
        bool exits_on_idle;             /* idle_kill ends this process by itself */
        bool warns_at_client_limit;     /* client_limit reached is worth a warning */
        bool supervisor_ids;            /* takes the user and groups the supervisor
                                         * resolved (DOVESD_WORKER_IDS, ids.h) */

        int (*setup)(dovesd_service *s);                /* from service_loop_setup() */
        /* type=login: every process of the service is full now, so a waiting client may
         * push out the oldest one not logged in. */
        bool (*all_full)(const dovesd_service *s);
        /* The loop's counts changed. */
        void (*publish)(dovesd_service *s, const loop_counts *c);
        /* The loop runs (again, after a reload): READY=1 and the counts at once. */
        void (*ready)(dovesd_service *s);
        /* A state change for systemd: RELOADING=1, STOPPING=1. */
        void (*notify)(dovesd_service *s, const char *state);
        /* Frees what the role holds. */
        void (*done)(dovesd_service *s);
} service_role;
