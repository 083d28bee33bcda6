/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The second worker kind of dovesd-supervisor: Dovecot 2.3's own programs
 * (/usr/lib/dovecot/imap-login, imap, auth, config, anvil, lmtp, …), started with the
 * contract Dovecot's master gives them (reference/dovecot-master-contract.md; the numbers
 * below are Dovecot's src/lib-master/master-interface.h). The supervisor owns the policy
 * (when to start, signal and reap workers); this module only builds the exec, reads the
 * status pipe and learns the Dovecot version.
 *
 * Life of a worker:
 *
 *     dovecot_child c = { .service = "imap-login", … };      describe the worker
 *     dovecot_child_prepare(&c, &e)       before fork: NSS lookups, envp, argv, fd table
 *     pid = fork();
 *     if (pid == 0) {
 *             dovecot_child_exec(e);       in the child: dup2, signals, chdir, execve
 *             _exit(127);
 *     }
 *     dovecot_exec_free(e);
 *
 * dovecot_child_exec() allocates nothing, calls only async-signal-safe functions and writes
 * only into E (its scratch table), so it may run after fork() in a multi-threaded or sd-event
 * process, or in a vfork()-like child that shares the caller's memory (dovesd-supervisor's
 * clone(CLONE_VM | CLONE_VFORK)).
 *
 * Functions that can fail return a negative errno; ≥ 0 on success.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* File descriptors at exec (master-interface.h). */
#define DOVECOT_ANVIL_FD                3       /* write end of anvil's shared pipe */
#define DOVECOT_LOGIN_NOTIFY_FD         4       /* login: the "all full" file; anvil: log fd pass */
#define DOVECOT_STATUS_FD               5       /* write end of the status pipe */
#define DOVECOT_MASTER_DEAD_FD          6       /* write end of the master-dead pipe */
#define DOVECOT_LISTEN_FD_FIRST         7       /* listeners, in config order */

/* Written by the master into both of anvil's pipes each time an anvil process starts. */
#define DOVECOT_ANVIL_HANDSHAKE         "VERSION\tanvil\t1\t0\n"

/* Seconds the master waits for a new process's first status record before killing it. */
#define DOVECOT_FIRST_STATUS_TIMEOUT_SEC 30

/* One listener handed to the worker, in config order. */
typedef struct dovecot_listener {
        int fd;                         /* the listening socket (or FIFO) */
        const char *name;               /* the listener's name, e.g. "imap", "login/imap" */
        bool ssl;                       /* inet_listener ssl = yes */
        bool haproxy;                   /* inet_listener haproxy = yes */
} dovecot_listener;

/*
 * Everything a worker is started with. Strings are borrowed; NULL or "" means unset.
 * Fds are borrowed too (the supervisor keeps them); -1 where noted means "none".
 */
typedef struct dovecot_child {
        const char *service;            /* SERVICE_NAME */
        const char *type;               /* "", config, anvil, login, startup, worker
                                         * (log is refused: journald is the log service) */
        unsigned client_limit;          /* CLIENT_LIMIT, effective (≥ 1) */
        unsigned process_limit;         /* PROCESS_LIMIT */
        unsigned process_min_avail;     /* PROCESS_MIN_AVAIL */
        unsigned idle_kill;             /* IDLE_KILL, seconds, 0 = never */
        unsigned service_count;         /* SERVICE_COUNT, only set when > 0 */
        unsigned generation;            /* GENERATION: status records carry it back */

        /* Resolved with NSS in dovecot_child_prepare() into RESTRICT_*; the program drops
         * privileges itself. */
        const char *user;               /* RESTRICT_SETUID, and RESTRICT_SETGID from its
                                         * primary group unless group is set */
        const char *group;              /* RESTRICT_SETGID */
        const char *extra_groups;       /* RESTRICT_SETEXTRAGROUPS: names, ',' or blank separated */
        const char *privileged_group;   /* RESTRICT_SETGID_PRIV */
        const char *chroot;             /* RESTRICT_CHROOT, absolute */

        const char *base_dir;           /* the working directory; CONFIG_FILE=base_dir/config */
        const char *config_file;        /* type=config only: the dovecot.conf it serves */
        const char *dovecot_version;    /* DOVECOT_VERSION; NULL = unset (no version check) */
        const char *hostname;           /* DOVECOT_HOSTNAME; NULL = the program asks itself */
        const char *hostdomain;         /* DOVECOT_HOSTDOMAIN; NULL = the program asks itself */
        const char *stats_writer;       /* STATS_WRITER_SOCKET_PATH relative to base_dir;
                                         * NULL = "stats-writer", "" = unset (stats off) */
        const char *log_debug;          /* LOG_DEBUG (the log_debug filter); NULL = "" */
        bool anvil_restarted;           /* type=anvil: ANVIL_RESTARTED=1 */

        const dovecot_listener *listeners;
        size_t n_listeners;

        int stdout_fd;                  /* fd 1; -1 = /dev/null */
        int stderr_fd;                  /* fd 2; -1 = keep the supervisor's fd 2 */
        int anvil_fd;                   /* fd 3: write end of anvil's shared pipe; -1 =
                                         * /dev/null (always /dev/null for config, anvil) */
        int login_notify_fd;            /* fd 4: login services' notify file, or for anvil
                                         * its log-fd-pass socket (required: anvil polls
                                         * it; EOF is fine); -1 = closed */
        int status_fd;                  /* fd 5: write end of the status pipe (required) */
        int master_dead_fd;             /* fd 6: write end of the master-dead pipe (required) */
        int anvil_master_fd;            /* type=anvil: fd 7, read end of the master's pipe */
        int anvil_shared_fd;            /* type=anvil: fd 8, read end of the shared pipe */

        char * const *argv;             /* argv[0] is the absolute path that is executed */
} dovecot_child;

/* A worker ready to exec: owns its envp, argv, fd table and an fd of /dev/null. */
typedef struct dovecot_exec dovecot_exec;

/* Builds the exec of C: resolves users and groups (NSS), builds envp and argv, opens
 * /dev/null, checks the fds. Returns 0, or -EINVAL (missing status/master-dead fd,
 * type=log, bad argv), -ESRCH (no such user or group), -ENOMEM, another -errno. */
int dovecot_child_prepare(const dovecot_child *c, dovecot_exec **ret);

/* In the forked child: fds 0–6 and the listeners in place, every other fd closed, signal
 * mask empty and every signal at its default, chdir(base_dir), execve. Returns only on
 * failure, with -errno; the caller then _exit()s. */
int dovecot_child_exec(const dovecot_exec *e);

/* The environment dovecot_child_exec() passes ("NAME=value", NULL-terminated). */
char * const *dovecot_exec_envp(const dovecot_exec *e);

dovecot_exec *dovecot_exec_free(dovecot_exec *e);

/* ---- the status pipe -------------------------------------------------------------------- */

/* struct master_status: what a worker writes into fd 5 when its free slots change. */
typedef struct dovecot_status {
        pid_t pid;
        unsigned generation;            /* master_status.uid: the worker's GENERATION */
        unsigned available_count;       /* free client slots */
} dovecot_status;

#define DOVECOT_STATUS_SIZE 12

/* Keeps a partial record between reads. Zero-initialise it. */
typedef struct dovecot_status_reader {
        unsigned char partial[DOVECOT_STATUS_SIZE];
        size_t n_partial;
} dovecot_status_reader;

/* Called once per complete record; a negative return stops reading and is returned. */
typedef int (*dovecot_status_cb)(const dovecot_status *st, void *userdata);

/* Feeds N bytes of DATA: calls CB for each complete record, keeps the rest. Returns the
 * number of records, or CB's negative return. */
int dovecot_status_feed(dovecot_status_reader *r, const void *data, size_t n,
                        dovecot_status_cb cb, void *userdata);

/* Drains the non-blocking FD (the status pipe's read end) into dovecot_status_feed().
 * Returns the number of records read (0 when nothing was there), -EPIPE when every
 * writer has gone (end of file), CB's negative return, or another -errno. */
int dovecot_status_read(dovecot_status_reader *r, int fd, dovecot_status_cb cb,
                        void *userdata);

/* ---- login services: the "all processes full" notice ---------------------------------- */

/* A new notify file (fd 4 of every worker of one login service; share the one fd):
 * its file offset says the state. Returns the fd (O_CLOEXEC) or -errno. */
int dovecot_login_notify_new(void);

/* Sets the state every worker reads on SIGUSR1 (send SIGUSR1 after this). Returns 0 or
 * -errno. */
int dovecot_login_notify_set(int fd, bool full);

/* ---- the version the programs check ----------------------------------------------------- */

/* Reads the version libdovecot was built as (the string it compares DOVECOT_VERSION with)
 * from the shared library at PATH. Returns 0 and a new string, -ENOENT when the library
 * holds no version string, -ENOMEM, or the error of opening PATH. */
int dovecot_version_from_library(const char *path, char **ret);

/* The version for the program EXECUTABLE: from libdovecot.so.0 beside it (Debian's
 * /usr/lib/dovecot/), else from /usr/lib/dovecot/libdovecot.so.0. Same returns. */
int dovecot_version_detect(const char *executable, char **ret);
