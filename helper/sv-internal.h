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
#include "slot.h"


#define EXIT_EXEC_FAILED 127

typedef struct supervisor supervisor;
typedef struct worker worker;
typedef struct worker_state worker_state;
typedef struct spawn_plan spawn_plan;

/* What differs between the kinds of worker (DOVESD_WORKER_KIND), one row each: how a worker
 * is exec'd and how its state is read. The policy (when to start, idle, reload, stop) calls
 * the row, never tests the kind. */
typedef struct worker_kind {
        const char *name;
        /* Once, after the signals, the wake fd and the watches are set up. */
        int (*setup)(supervisor *sv);
        /* The environment or the settings changed (a reload, or its undoing). */
        int (*reconfigure)(supervisor *sv);
        /* Before the fork: what the child needs (logs and throttles on failure). */
        int (*prepare)(supervisor *sv, worker *w, spawn_plan *p);
        /* In the child, between fork and exec; never returns. */
        void (*exec)(supervisor *sv, spawn_plan *p);
        /* In the supervisor after the fork, before the worker counts. */
        int (*started)(supervisor *sv, worker *w);
        worker_state (*read)(const worker *w);
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
        dovesd_worker_slot *slot;       /* libdovesd: mapped memfd; the worker writes it */
        bool status_seen;               /* dovecot: a status record arrived */
        unsigned available;             /* dovecot: free slots, from the last record */
        bool sigint_sent;               /* idle SIGINT sent, no client seen since */
        bool retiring;                  /* SIGQUIT (reload) or SIGTERM sent */
        sd_event_source *child, *idle_timer, *first_status_timer;
};

/* The Dovecot kind: what Dovecot's master holds for a service. */
typedef struct dovecot_master {
        char *version;                  /* DOVECOT_VERSION the programs expect */
        const char *base_dir, *config_file;
        int status_read, status_write;  /* the status pipe: workers write 12-byte records */
        int dead_read, dead_write;      /* master-dead: its read end stays open while we run */
        int anvil_fd;                   /* write end of anvil's shared FIFO, or -1 */
        int login_notify_fd;            /* type=login: the "all processes full" file */
        int anvil_shared_fd;            /* type=anvil: the FIFO systemd passed (fd 8) */
        int anvil_master_read, anvil_master_write;      /* type=anvil: its fd 7 */
        int anvil_log_pair[2];          /* type=anvil: fd 4 (a log fd pass; never used) */
        unsigned anvil_starts;
        dovecot_status_reader reader;
        sd_event_source *status_source;
        dovecot_listener *listeners;
        size_t n_listeners;
} dovecot_master;

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
        dovecot_master dc;
        service_settings *settings;     /* of the current generation: replaced at a reload */
        listen_fds fds;                 /* what systemd passed, for every generation */
        char *name;                     /* DOVESD_SERVICE at start */
        log_target log;
        sd_event *event;
        char **argv;                    /* the program */
        char *listen_fds_env, *listen_fdnames_env;
        char **envp;                    /* the workers' environment, but LISTEN_PID */
        pid_t pid;

        worker **workers;
        size_t n_workers;
        int wake_fd;                    /* eventfd: workers -> supervisor */

        sd_event_source *wake_source, **watch;
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
