/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A worker's slot, the shared half of the supervisor contract (worker.c writes it in the
 * worker, supervisor.c reads it): one memfd per worker, mapped MAP_SHARED by the supervisor
 * and by that worker only (a worker cannot see or change another's). The supervisor fills it
 * before the fork (a starting worker counts as one with free slots); then the worker writes
 * every field but overflow. overflow is the type=login "all processes full" state, set and
 * cleared by the supervisor (then SIGUSR1): while it is set, a full worker with a client not
 * logged in keeps listening and lets a new client push out its oldest such client. The
 * supervisor treats every value as untrusted input (a compromised worker can write anything
 * here).
 *
 * The worker finds it through DOVESD_WORKER="SLOT_FD WAKE_FD" (both fds above the listeners).
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct dovesd_worker_slot {
        _Atomic(pid_t) pid;                     /* 0: slot unused */
        _Atomic(unsigned) clients;              /* connections held, both states */
        _Atomic(unsigned) free_slots;           /* service_free_slots() */
        _Atomic(uint64_t) served;               /* clients handed to the program */
        _Atomic(unsigned) not_logged_in;        /* active clients eligible for overflow */
        _Atomic(bool) accepting;                /* false: service_count reached or stopping */
        _Atomic(bool) overflow;                 /* login: every process full (supervisor) */
        _Atomic(bool) ready;                    /* the worker's loop is set up */
        _Atomic(unsigned) max_clients;          /* most clients held at once */
} dovesd_worker_slot;
