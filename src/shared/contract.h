/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The contract between dovesd-generator (the writer: Environment= lines of every service unit
 * and FileDescriptorName= of every socket unit, src/units/) and libdovesd and
 * dovesd-supervisor (the readers: helper/env.c, helper/supervisor.c). One header, as
 * Dovecot's master-interface.h is shared by its master and its children. A name changes here
 * or nowhere.
 *
 * Besides these, the processes get systemd's own LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES
 * (sd_listen_fds_with_names(3)): the listening fds start at 3, named after the listener.
 */

/* ---- Written into every service unit by the generator, read by libdovesd ---- */

/* The service's name as in `service NAME { }`; required, non-empty. */
#define DOVESD_ENV_SERVICE              "DOVESD_SERVICE"
/* `type`: "", log, config, anvil, login, startup or worker. */
#define DOVESD_ENV_TYPE                 "DOVESD_TYPE"
/* Effective values as decimal numbers (after 0 → default; client_limit capped at
 * service_count when that is > 0). The reader applies the cap again and refuses
 * PROCESS_MIN_AVAIL > PROCESS_LIMIT: a drop-in may change one variable without the other. */
#define DOVESD_ENV_CLIENT_LIMIT         "DOVESD_CLIENT_LIMIT"
#define DOVESD_ENV_SERVICE_COUNT        "DOVESD_SERVICE_COUNT"
#define DOVESD_ENV_PROCESS_LIMIT        "DOVESD_PROCESS_LIMIT"
#define DOVESD_ENV_PROCESS_MIN_AVAIL    "DOVESD_PROCESS_MIN_AVAIL"
/* Seconds; 0 = never. */
#define DOVESD_ENV_IDLE_KILL            "DOVESD_IDLE_KILL"
/* NAME[:ssl][:haproxy], ';'-separated, in config order; NAME is the socket's
 * FileDescriptorName=. */
#define DOVESD_ENV_LISTENERS            "DOVESD_LISTENERS"
#define DOVESD_LISTENERS_SEPARATOR      ';'
#define DOVESD_LISTENER_FLAG_SEPARATOR  ':'
#define DOVESD_LISTENER_FLAG_SSL        "ssl"
#define DOVESD_LISTENER_FLAG_HAPROXY    "haproxy"
/* Names, never ids: resolved by the service at run time (NSS may not be up when the
 * generator runs). Empty when drop_priv_before_exec = yes (systemd's User= applies them). */
#define DOVESD_ENV_USER                 "DOVESD_USER"
#define DOVESD_ENV_GROUP                "DOVESD_GROUP"
#define DOVESD_ENV_EXTRA_GROUPS         "DOVESD_EXTRA_GROUPS"      /* ','- or ' '-separated */
#define DOVESD_ENV_PRIVILEGED_GROUP     "DOVESD_PRIVILEGED_GROUP"
/* Absolute, normalized; empty = none. */
#define DOVESD_ENV_CHROOT               "DOVESD_CHROOT"
/* haproxy_trusted_networks as in the config (space-separated networks), and seconds. */
#define DOVESD_ENV_HAPROXY_TRUSTED_NETWORKS "DOVESD_HAPROXY_TRUSTED_NETWORKS"
#define DOVESD_ENV_HAPROXY_TIMEOUT      "DOVESD_HAPROXY_TIMEOUT"
#define DOVESD_HAPROXY_TIMEOUT_DEFAULT  3

/* ---- Written for Dovecot's own programs, read by dovesd-supervisor ---- */

/* "dovecot" when the executable is one of Dovecot 2.3's programs; unset for libdovesd ones. */
#define DOVESD_ENV_WORKER_KIND          "DOVESD_WORKER_KIND"
#define DOVESD_WORKER_KIND_DOVECOT      "dovecot"
/* Dovecot's base_dir (the workers' cwd), the config file (type=config), and the path of
 * anvil's shared FIFO (empty without an anvil service). */
#define DOVESD_ENV_BASE_DIR             "DOVESD_BASE_DIR"
#define DOVESD_ENV_CONFIG_FILE          "DOVESD_CONFIG_FILE"
#define DOVESD_ENV_ANVIL_FIFO           "DOVESD_ANVIL_FIFO"
/* FileDescriptorName= of the FIFO socket unit of anvil's shared pipe. */
#define DOVESD_ANVIL_SHARED_FDNAME      "dovesd-anvil-shared"

/* ---- Set by the admin (drop-in or shell), read by libdovesd and the supervisor ---- */

/* Lowest priority that is logged: a syslog level name or number (default info). */
#define DOVESD_ENV_LOG_LEVEL            "DOVESD_LOG_LEVEL"
/* 1: log to stderr instead of journald. */
#define DOVESD_ENV_LOG_STDERR           "DOVESD_LOG_STDERR"

/* ---- Set by dovesd-supervisor for each libdovesd worker it execs ---- */

/* "SLOT_FD WAKE_FD": the worker's shared state slot (a memfd) and the eventfd that wakes the
 * supervisor (helper/worker.c). Its presence makes the process a worker. */
#define DOVESD_ENV_WORKER               "DOVESD_WORKER"
/* "UID GID PRIV GID0 GROUPS": DOVESD_USER and the groups resolved once per generation by the
 * supervisor, as Dovecot's master hands its children their ids (format: helper/ids.h). A
 * worker without it (or with it malformed) resolves the names itself. */
#define DOVESD_ENV_WORKER_IDS           "DOVESD_WORKER_IDS"

/* Every variable of the contract starts with this; a reload passes on exactly these. */
#define DOVESD_ENV_PREFIX               "DOVESD_"
