/* SPDX-License-Identifier: MIT */
#pragma once

/* The WORKER role (role.h): the worker side of the supervisor contract (slot.h). worker.c
 * writes struct worker_link and nothing else of the service. */

#include <errno.h>

#include "role.h"
#include "slot.h"

typedef struct worker_link {
        dovesd_worker_slot *slot;       /* mapped from SLOT_FD */
        int wake_fd;                    /* the supervisor's eventfd */
        unsigned last_bits;             /* the state bits last signalled through wake_fd */
} worker_link;

#define WORKER_LINK_NULL ((worker_link) { .wake_fd = -EBADF })

/* Reads DOVESD_WORKER: 1 if this process is a worker (link attached), 0 if not; bad input:
 * -errno and a message in *ret_error. */
int worker_link_attach(worker_link *w, char **ret_error);

extern const service_role role_worker;
