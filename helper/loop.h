/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The accept loop of a process that serves (on its own or as a worker). loop.c writes
 * struct service_loop and nothing else of the service:
 *   - every listening socket has an io source on the service's sd_event, enabled while the
 *     process accepts and has a free slot (service_free_slots() > 0);
 *   - a readable listener is drained with accept4(SOCK_NONBLOCK|SOCK_CLOEXEC) while slots
 *     are free; each client becomes a connection in the service's conn_set (conn.h);
 *   - the listeners leave the loop at the limit and come back when a connection closes
 *     (the conn_set's hooks call service_update_accepting());
 *   - FIFO listeners only deliver fifo_readable events and never count as clients.
 * What differs between a process on its own and a worker is the service's role (role.h).
 */

#include <stdbool.h>
#include <stdint.h>

#include "dovesd.h"
#include "listen.h"

/* A listening fd in the loop. */
typedef struct loop_socket {
        dovesd_service *service;
        const service_listener *listener;
        int fd;
        socket_kind kind;
        sd_event_source *source;
} loop_socket;

typedef struct service_loop {
        loop_socket *sockets;
        size_t n_sockets;
        sd_event_source *signals;       /* one signalfd: SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGQUIT */
        sd_event_source *idle_timer, *stop_timer;
        bool running;
        bool stopping;                  /* SIGTERM seen: no more accepting */
        bool exhausted;                 /* service_count reached: no more accepting */
        bool listening;                 /* listener sources currently enabled */
        bool accept_paused;             /* out of fds or memory: not accepting for a moment */
        uint64_t n_accepted;            /* accept4() successes */
        uint64_t last_limit_log_usec;
        uint64_t last_accept_error_log_usec;
} service_loop;

/* What the loop's counts are now, for whoever reports them (the role's publish). */
typedef struct loop_counts {
        unsigned clients;               /* connections held, both states */
        unsigned free_slots;            /* service_free_slots() */
        unsigned not_logged_in;         /* active clients eligible for login overflow */
        uint64_t served;                /* clients handed to the program */
        bool accepting;                 /* false: service_count reached or stopping */
        bool running;                   /* the loop is set up and runs */
} loop_counts;

unsigned service_free_slots(const dovesd_service *s);
loop_counts service_loop_counts(const dovesd_service *s);
int service_loop_setup(dovesd_service *s);      /* listener sources, signals, timers */
int service_loop_run(dovesd_service *s);        /* sd_event_loop(); 0 on clean exit */
void service_loop_done(dovesd_service *s);      /* frees the sources */
void service_update_accepting(dovesd_service *s);       /* after any change of counts/state */
int service_begin_stop(dovesd_service *s);
