/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * libdovesd internals shared by its files, and by dovesd-supervisor (supervisor.c, its own
 * program), which links the same objects for the settings, the fds and logging but never
 * uses the service object. Nothing here is exported from the shared library; only functions
 * marked _public_ (the ones in include/dovesd.h) are.
 *
 * The service object owns one part per file. A file writes its own part and reads others:
 *   env.h      service_settings   DOVESD_*, read once, never changed
 *   listen.h   listen_fds         the fds systemd passed, matched to the listeners
 *   loop.h     service_loop       accepting, signals, timers
 *   conn.h     conn_set           the clients and their counts
 *   role.h     service_role       the row of the process's role:
 *   single.h   single_status        role_single: on its own, STATUS= to systemd
 *   worker.h   worker_link          role_worker: exec'd by the supervisor, its slot (slot.h)
 *   restrict.c                    the privileges (restricted, uid, gid, privileged gid)
 *   service.c                     the program's callbacks, the role, the reference count
 */

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <syslog.h>
#include <unistd.h>

#include "dovesd.h"
#include "proxy.h"

#include "contract.h"
#include "macro.h"

#include "conn.h"
#include "env.h"
#include "listen.h"
#include "loop.h"
#include "role.h"
#include "single.h"
#include "worker.h"

#define _public_ __attribute__((visibility("default")))

/* Frees *ret_error, puts the message there and returns -EINVAL: bad input. */
_printf_(2, 3)
static inline int set_error(char **ret_error, const char *format, ...) {
        va_list ap;

        if (!ret_error)
                return -EINVAL;
        free(*ret_error);
        *ret_error = NULL;
        va_start(ap, format);
        if (vasprintf(ret_error, format, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return -EINVAL;
}

/* accept4() errors that concern one client only: carry on with the next. */
#define IN_SET_ERRNO_TRANSIENT(e)                                                       \
        ((e) == ECONNABORTED || (e) == EPROTO || (e) == ENETDOWN || (e) == ENOPROTOOPT || \
         (e) == EHOSTDOWN || (e) == ENONET || (e) == EHOSTUNREACH || (e) == EOPNOTSUPP || \
         (e) == ENETUNREACH || (e) == EPERM)

/* Errors that mean the client went away. */
#define IN_SET_ERRNO_DISCONNECT(e)                                                      \
        ((e) == ECONNRESET || (e) == EPIPE || (e) == ECONNABORTED || (e) == ETIMEDOUT)


/* MESSAGE_IDs, one per event kind; helper/dovesd.catalog explains each. */
#define DOVESD_MESSAGE_LIMIT_REACHED            "b2b9ef6570754110b77ce7ff5dbb404e"
#define DOVESD_MESSAGE_PROXY_REJECTED           "7795facd39b1412d93724e15f49f0df5"
#define DOVESD_MESSAGE_PRIVILEGES_DROPPED       "62edf844ca154be5b160184338292b11"
#define DOVESD_MESSAGE_IDLE_EXIT                "bb396e3a2ec54ca3b2071cf19646ec8c"
#define DOVESD_MESSAGE_SERVICE_COUNT_EXIT       "a167ae4c9c07469b916a783746831426"
#define DOVESD_MESSAGE_WORKER_CRASHED           "cc39a3364c1b4a8385b4458936b056b4"
#define DOVESD_MESSAGE_PROCESS_LIMIT_REACHED    "9f3375dd514e42e2b2102b1acdeb9f31"
#define DOVESD_MESSAGE_STOP_TIMEOUT             "afc1e61d1a1645d0b9a9381d0bc2217e"
#define DOVESD_MESSAGE_LOGIN_OVERFLOW           "be6e7742e19540c7aacedeac6e2892ba"
#define DOVESD_MESSAGE_RELOADED                 "845234e0c25f43b3ac4115fc2a059d01"
#define DOVESD_MESSAGE_WORKER_START_FAILED      "3c8a090b5deb4f198bb7dd5b67dee766"


#define DOVESD_STOP_TIMEOUT_USEC_DEFAULT (10 * USEC_PER_SEC)
#define DOVESD_ACCEPT_BURST 32                  /* accepts per wakeup and listener */

/* Where one process's records go: the program's callback, or journald with DOVESD_SERVICE. */
typedef struct log_target {
        const char *service;            /* DOVESD_SERVICE= of every record, or NULL */
        dovesd_log_func fn;             /* dovesd_service_set_log_callback() */
        void *userdata;
} log_target;

struct dovesd_service {
        unsigned n_ref;

        const service_settings *settings;       /* env.c: DOVESD_*, read once, never changed */
        listen_fds fds;                         /* listen.c: the fds systemd passed */
        log_target log;                         /* log.c: where records go */
        sd_event *event;

        /* the program's: service.c */
        dovesd_callbacks cb;
        void *userdata;
        uint64_t stop_timeout_usec;

        const service_role *role;               /* service.c picks the row: role.h */
        single_status status;                   /* single.c: STATUS= (role_single) */
        worker_link worker;                     /* worker.c: slot and wake fd (role_worker) */

        service_loop loop;                      /* loop.c: accepting, signals, timers */
        conn_set conns;                         /* conn.c: the clients and their counts */

        /* privileges: restrict.c */
        bool restricted;
        bool caps_dropped;
        uid_t uid;
        gid_t gid;
        gid_t priv_gid;
        bool has_priv_gid;
};

/* log.c */
void log_emit(const log_target *t, int priority, const char *message_id, const char *listener,
              const char *client, const char *format, ...) _printf_(6, 7);
bool log_enabled(const log_target *t, int priority);
int service_notify(const char *state);  /* sd_notify() */
void service_log_connect(void);         /* connect journald/notify sockets (before chroot) */
/* Records of the service object (or of anything with its log target in a member "log"). */
#define service_log_full(s, ...) log_emit(&(s)->log, __VA_ARGS__)
#define service_log(s, prio, ...) service_log_full(s, prio, NULL, NULL, NULL, __VA_ARGS__)
#define service_log_enabled(s, prio) log_enabled(&(s)->log, prio)

/* restrict.c */
int service_restrict(dovesd_service *s);
