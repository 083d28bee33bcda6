/* SPDX-License-Identifier: MIT */
#pragma once

/* The SINGLE role (role.h): a process on its own, reporting to systemd. single.c writes
 * struct single_status and nothing else of the service. */

#include <stdbool.h>

#include "role.h"

typedef struct single_status {
        sd_event_source *timer;         /* the next STATUS=, at most once a second */
        bool dirty;                     /* counts changed since the last STATUS= */
        bool sent;
        unsigned free_slots;            /* free slots in the last STATUS= */
} single_status;

extern const service_role role_single;
