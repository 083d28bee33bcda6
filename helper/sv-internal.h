/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * dovesd-supervisor's parts, shared by its files:
 *   supervisor.c    the policy: the workers, start, idle, limit, reload, stop, STATUS=,
 *                   signals, set-up, main
 *   sv-libdovesd.c  the libdovesd worker kind: slot memfd, wake eventfd, environment
 *   sv-dovecot.c    the Dovecot worker kind: what Dovecot's master holds for a service
 * The policy calls a kind only through its row (worker_kind).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "dovecot.h"
#include "env.h"
#include "internal.h"
#include "listen.h"
#include "sched-attr.h"
#include "slot.h"

#define EXIT_EXEC_FAILED 127

typedef struct supervisor supervisor;
typedef struct worker worker;
typedef struct worker_state worker_state;
typedef struct spawn_plan spawn_plan;

/* What a kind may ask of the policy. The kind's files reach supervisor.c only through these
 * (sv->services), never by name. */
typedef struct sv_services {
        /* A worker cannot be started: back off (error 0: what says it all). */
        void (*start_failed)(supervisor *sv, const char *what, int error);
        /* A worker changed state: look again now. */
        void (*worker_changed)(supervisor *sv);
        /* In the child: exec the program with the listeners at 3…, SLOT_FD and the wake fd
         * after them and LISTEN_PID filled in. Returns only if it cannot exec: -errno. */
        int (*exec_program)(supervisor *sv, int slot_fd, char **envp, char *listen_pid);
} sv_services;

/* What differs between the kinds of worker (DOVESD_WORKER_KIND), one row each: how a worker
 * is exec'd and how its state is read. The policy (when to start, idle, reload, stop) calls
 * the row, never tests the kind. */
typedef struct worker_kind {
        const char *name;
        /* Once, after the signals and the watches are set up: the kind's own state
         * (sv->kind_state). */
        int (*setup)(supervisor *sv);
        /* At exit, also after a failed or no setup(): frees what setup() made. */
        void (*done)(supervisor *sv);
        /* The environment or the settings changed (a reload, or its undoing). */
        int (*reconfigure)(supervisor *sv);
        /* Before the fork: what the child needs (logs and throttles on failure). */
        int (*prepare)(supervisor *sv, worker *w, spawn_plan *p);
        /* In the child, between clone and exec: it shares the supervisor's memory (see
         * worker_spawn()). Returns only if it cannot exec: -errno. */
        int (*exec)(supervisor *sv, spawn_plan *p);
        /* In the supervisor after the fork, before the worker counts. */
        int (*started)(supervisor *sv, worker *w);
        worker_state (*read)(const worker *w);
        /* The kind's part of a worker that is freed. */
        void (*worker_done)(worker *w);
        /* type=login at process_limit: every process is full (or no longer). */
        void (*set_login_full)(supervisor *sv, bool full);
        /* The running workers are told to stop listening: a reload or a drain. */
        int (*retire_generation)(supervisor *sv);
        /* At a reload, old workers get SIGHUP (the program's reload callback) first. */
        bool sighup_at_reload;
} worker_kind;

struct worker {
        supervisor *sv;
        pid_t pid;
        unsigned generation;
        bool sigint_sent;               /* idle SIGINT sent, no client seen since */
        bool retiring;                  /* SIGQUIT (reload) or SIGTERM sent */
        sd_event_source *child, *idle_timer;

        /* The kind's part: only its own file touches these. */
        dovesd_worker_slot *slot;       /* libdovesd: mapped memfd; the worker writes it */
        bool status_seen;               /* dovecot: a status record arrived */
        unsigned available;             /* dovecot: free slots, from the last record */
        sd_event_source *first_status_timer;    /* dovecot: no record yet: killed at expiry */
};

/* What the supervisor reads of a worker, whatever its kind. */
struct worker_state {
        bool ready;                     /* set up and serving */
        bool accepting;                 /* not at service_count, not stopping */
        unsigned free_slots;
        unsigned clients;
        uint64_t served;
        unsigned max_clients;
};

/* One worker about to start: what the kind's prepare() made for its exec(). */
struct spawn_plan {
        int slot_fd;                    /* libdovesd: the slot's memfd */
        char **envp;                    /* libdovesd: the environment, LISTEN_PID last */
        char listen_pid[32];            /* libdovesd: "LISTEN_PID=", filled in the child */
        dovecot_exec *dexec;            /* dovecot: the prepared fd table and environment */
};

struct supervisor {
        const worker_kind *kind;
        void *kind_state;               /* the kind's own: only its file touches it */
        const sv_services *services;    /* what the kind may ask of the policy */
        service_settings *settings;     /* of the current generation: replaced at a reload */
        listen_fds fds;                 /* what systemd passed, for every generation */
        char *name;                     /* DOVESD_SERVICE at start */
        log_target log;
        sd_event *event;
        char **argv;                    /* the program */
        pid_t pid;

        worker **workers;
        size_t n_workers;
        int wake_fd;                    /* eventfd: workers -> supervisor; the libdovesd
                                         * kind makes and reads it, worker_exec() passes it
                                         * on; -EBADF for other kinds */

        /* The supervisor's scheduling as the unit set it, with the default slice: what each
         * worker gets back before it execs (sched_slice_shorten()). */
        sched_attr_v1 sched_workers;
        bool sched_shortened;

        sd_event_source **watch;
        sd_event_source *sigterm, *sigint, *sighup, *sigusr1, *sigusr2, *sigquit;
        sd_event_source *full_timer, *throttle_timer, *stop_timer, *status_timer;

        unsigned generation;
        bool watching;
        bool full_wait;                 /* at process_limit, every worker full: wait */
        bool start_wait;                /* the workers starting take the waiting clients: wait
                                         * for one of them to change state */
        bool login_full;                /* overflow state set in the slots */
        bool stopping;
        bool draining;                  /* SIGQUIT: no new workers, exit when the last is gone */
        bool ready_sent;
        uint64_t last_limit_log_usec;

        /* start-up throttling */
        bool throttled;
        unsigned n_failures;
        uint64_t failure_window_usec;
        unsigned throttle_sec;          /* the next throttle period */

        /* counters */
        unsigned workers_max;
        uint64_t spawned, crashed, start_failed, throttles, served_gone;
        unsigned max_clients_gone;

        /* STATUS= */
        char last_status[200];
        unsigned last_workers;
        uint64_t last_status_usec;
};

#define sv_log_full(sv, ...) log_emit(&(sv)->log, __VA_ARGS__)
#define sv_log(sv, prio, ...) sv_log_full(sv, prio, NULL, NULL, NULL, __VA_ARGS__)

static inline unsigned worker_capacity(const service_settings *s) {
        return service_settings_capacity(s);
}

/* The kinds (sv-libdovesd.c, sv-dovecot.c). */
extern const worker_kind kind_libdovesd;
extern const worker_kind kind_dovecot;
