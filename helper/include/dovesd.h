/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * libdovesd: run a Dovecot-style service under systemd.
 *
 * A program links libdovesd and follows three hand-offs:
 *
 *     dovesd_service_new(&svc, &error)     read DOVESD_* and the socket-activated fds
 *     ... the program's own set-up, still root ...
 *     dovesd_service_restrict(svc)         groups, chroot, uid, capabilities
 *     dovesd_service_run(svc, &cb, data)   accept clients until the service should exit
 *
 * Conventions:
 * - Functions returning int return a negative errno-style code on failure and >= 0 on
 *   success. Output parameters named ret_* are written only on success.
 * - Destructors accept NULL and return NULL.
 * - The library never writes to stdout or stderr and never exits the process. It logs
 *   structured records to journald, or to a callback set with
 *   dovesd_service_set_log_callback().
 * - Strings returned by accessors are owned by the library and stay valid as long as the
 *   object they came from.
 * - Not thread-safe: call everything from the thread that runs dovesd_service_run().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dovesd_service dovesd_service;
typedef struct dovesd_conn dovesd_conn;

/* ---------------------------------------------------------------------------------------
 * Logging
 * --------------------------------------------------------------------------------------- */

/* One log record. Every string except message may be NULL. */
typedef struct dovesd_log_record {
        int priority;                   /* syslog priority, LOG_ERR … LOG_DEBUG */
        const char *message;            /* one line, no trailing newline */
        const char *message_id;         /* 32 lowercase hex digits (journald MESSAGE_ID) */
        const char *service;            /* DOVESD_SERVICE */
        const char *listener;           /* listener name, when the record is about one */
        const char *client;             /* remote "IP:PORT", when about a client */
} dovesd_log_record;

typedef void (*dovesd_log_func)(const dovesd_log_record *record, void *userdata);

/* Route the service's log records to fn instead of journald (fn = NULL: back to journald).
 * Returns 0, or -EINVAL if s is NULL. */
int dovesd_service_set_log_callback(dovesd_service *s, dovesd_log_func fn, void *userdata);

/* ---------------------------------------------------------------------------------------
 * Service life cycle
 * --------------------------------------------------------------------------------------- */

/* Read the DOVESD_* environment and the fds passed by systemd (sd_listen_fds_with_names()),
 * match every fd to a listener of DOVESD_LISTENERS by its name and check its type.
 * Per-connection mode (LISTEN_FDNAMES=connection) takes the one connected socket.
 *
 * Returns 0 and a new service in *ret on success. On failure returns a negative errno
 * (-EINVAL for a bad environment or unexpected fds, -ENOMEM, ...) and, if ret_error is not
 * NULL, stores in *ret_error a newly allocated one-line message naming the variable or fd
 * at fault (the caller frees it). *ret is written only on success, *ret_error only on
 * failure. The LISTEN_* variables are removed from the environment either way. */
int dovesd_service_new(dovesd_service **ret, char **ret_error);

/* Reference counting. dovesd_service_unref() closes every listener and connection when the
 * last reference goes. Both accept NULL; unref returns NULL. */
dovesd_service *dovesd_service_ref(dovesd_service *s);
dovesd_service *dovesd_service_unref(dovesd_service *s);

/* Drop privileges as DOVESD_USER, DOVESD_GROUP, DOVESD_EXTRA_GROUPS,
 * DOVESD_PRIVILEGED_GROUP and DOVESD_CHROOT say: resolve names, setgroups(), setresgid()
 * with the privileged gid in the saved set, chroot() + chdir("/"), setresuid(); verify that
 * setuid(0) fails and no gid 0 is kept unless asked for; drop every capability (and the
 * bounding set) and verify. Logs the resulting state once.
 * Returns 0 on success (also when called again: the second call does nothing), a negative
 * errno on failure, after logging the reason. On failure the process is in an undefined
 * privilege state and should exit. */
int dovesd_service_restrict(dovesd_service *s);

/* Switch the effective gid to DOVESD_PRIVILEGED_GROUP (enable = true) or back to the primary
 * group (false). Returns 0, -ENOENT if no privileged group is configured, -ENOTCONN if
 * dovesd_service_restrict() has not run, or the negative errno of setegid(). */
int dovesd_privileged_group_enable(dovesd_service *s, bool enable);

/* Callbacks of dovesd_service_run(). Only connection is required; unset ones are NULL. */
typedef struct dovesd_callbacks {
        /* A client was accepted (and its PROXY header, if any, read). The program attaches its
         * I/O to dovesd_service_get_event() and calls dovesd_conn_close() when done. Return
         * >= 0 to keep the connection, < 0 to have the library close it (logged). */
        int (*connection)(dovesd_conn *conn, void *userdata);

        /* The library is about to close a connection the program did not close itself (stop
         * grace period expired, login overflow, run() returning). Free per-connection state
         * and event sources here; the fd is closed after this returns. */
        void (*disconnect)(dovesd_conn *conn, void *userdata);

        /* A FIFO listener is readable. Read from fd (non-blocking). If this callback is NULL
         * the data is read and discarded. Return < 0 to make run() fail with that error. */
        int (*fifo_readable)(dovesd_service *s, const char *listener, int fd, void *userdata);

        /* SIGHUP: reload configuration. Surrounded by RELOADING=1 / READY=1. Return < 0 to
         * log a failure (the service keeps running). */
        int (*reload)(dovesd_service *s, void *userdata);

        /* type=login: every process is full and this not-logged-in client is the oldest; say
         * goodbye (non-blocking) before the library closes it (disconnect follows). */
        void (*overflow)(dovesd_conn *conn, void *userdata);

        /* SIGTERM or dovesd_service_stop(): the service stops accepting; the program should
         * ask its clients to finish. Clients still open after the stop timeout are closed. */
        void (*stop)(dovesd_service *s, void *userdata);
} dovesd_callbacks;

/* Serve clients until the service should exit: service_count reached and drained, idle_kill
 * expired with no client, SIGTERM (or dovesd_service_stop()) after the clients finished.
 * Sends READY=1 when it starts, STATUS= as clients come and go, STOPPING=1 on the way out,
 * WATCHDOG=1 when WATCHDOG_USEC is set.
 * Returns 0 on a clean exit (the program should exit 0), a negative errno on failure
 * (logged). -EBUSY if run() is already running, -EINVAL if cb or cb->connection is NULL.
 *
 * The callbacks struct can grow: dovesd_service_run() is a macro that passes the size of
 * the struct the program was built with to dovesd_service_run_sized(); the library reads
 * that many bytes and treats callbacks past them as unset. Programs built against 0.1 call
 * the 0.1 symbol dovesd_service_run, which reads the 0.1 struct (six callbacks). */
int dovesd_service_run(dovesd_service *s, const dovesd_callbacks *cb, void *userdata);
int dovesd_service_run_sized(dovesd_service *s, const dovesd_callbacks *cb, size_t size,
                             void *userdata);
#define dovesd_service_run(s, cb, userdata) \
        dovesd_service_run_sized((s), (cb), sizeof(*(cb)), (userdata))

/* Begin a graceful stop, as SIGTERM does. Returns 0, or -ESTALE if not running. */
int dovesd_service_stop(dovesd_service *s);

/* Clients still connected this long after a stop began are closed. Default 10 s.
 * Returns 0, or -EINVAL. */
int dovesd_service_set_stop_timeout(dovesd_service *s, uint64_t usec);

/* The event loop the service runs on; the program adds its own sources here. Created by
 * dovesd_service_new(). In pool mode every worker process gets a fresh loop after fork, so
 * fetch the loop inside callbacks instead of caching it across dovesd_service_run().
 * Returns a borrowed reference (never NULL for a valid service). */
sd_event *dovesd_service_get_event(dovesd_service *s);

/* ---------------------------------------------------------------------------------------
 * Service state (for status lines, tests and logs)
 * --------------------------------------------------------------------------------------- */

const char *dovesd_service_get_name(const dovesd_service *s);     /* DOVESD_SERVICE */
const char *dovesd_service_get_type(const dovesd_service *s);     /* DOVESD_TYPE, "" if unset */
unsigned dovesd_service_get_client_limit(const dovesd_service *s);
unsigned dovesd_service_get_service_count(const dovesd_service *s);   /* 0 = unlimited */
unsigned dovesd_service_get_process_limit(const dovesd_service *s);
unsigned dovesd_service_get_process_min_avail(const dovesd_service *s);
unsigned dovesd_service_get_idle_kill(const dovesd_service *s);       /* seconds, 0 = never */
bool dovesd_service_is_per_connection(const dovesd_service *s);

/* Clients currently connected in this process (including ones whose PROXY header is still
 * being read), clients accepted since the process started, and free client slots. */
unsigned dovesd_service_get_clients(const dovesd_service *s);
uint64_t dovesd_service_get_served(const dovesd_service *s);
unsigned dovesd_service_get_free_slots(const dovesd_service *s);

/* Listeners, in DOVESD_LISTENERS order. get_listener_name() returns NULL past the end. */
size_t dovesd_service_get_n_listeners(const dovesd_service *s);
const char *dovesd_service_get_listener_name(const dovesd_service *s, size_t i);

/* Whether dovesd_service_restrict() has completed, the chroot in effect (NULL if none), and
 * whether every capability set is empty now. */
bool dovesd_service_is_restricted(const dovesd_service *s);
const char *dovesd_service_get_chroot(const dovesd_service *s);
bool dovesd_service_caps_dropped(const dovesd_service *s);

/* The process's credentials as the kernel reports them now, on one line:
 * "uid=R euid=E gid=R egid=E sgid=S groups=G1,G2 chroot=PATH|none caps=none|TEXT".
 * Returns 0 and a newly allocated string in *ret (the caller frees it), or a negative errno. */
int dovesd_service_describe_privileges(const dovesd_service *s, char **ret);

/* ---------------------------------------------------------------------------------------
 * Connections
 * --------------------------------------------------------------------------------------- */

/* The connected socket (non-blocking, close-on-exec). The connection keeps owning it. */
int dovesd_conn_get_fd(const dovesd_conn *c);

/* Give the fd to the caller: dovesd_conn_close() will then not close it. Returns the fd,
 * or -EBADF if already taken. */
int dovesd_conn_take_fd(dovesd_conn *c);

dovesd_service *dovesd_conn_get_service(const dovesd_conn *c);
const char *dovesd_conn_get_listener(const dovesd_conn *c);
bool dovesd_conn_is_ssl(const dovesd_conn *c);          /* the listener has :ssl */
bool dovesd_conn_is_proxied(const dovesd_conn *c);      /* addresses came from a PROXY header */

/* Local and remote address: the real client's after a PROXY header. Return a borrowed
 * pointer and write the length to *ret_len (if not NULL). */
const struct sockaddr *dovesd_conn_get_local(const dovesd_conn *c, socklen_t *ret_len);
const struct sockaddr *dovesd_conn_get_remote(const dovesd_conn *c, socklen_t *ret_len);

/* The same as text: "192.0.2.1:143", "[2001:db8::1]:143", a unix socket path, or "unix"
 * for an unnamed unix socket. */
const char *dovesd_conn_get_local_str(const dovesd_conn *c);
const char *dovesd_conn_get_remote_str(const dovesd_conn *c);

/* PROXY v2 TLVs. NULL (false) when absent or the connection is not proxied. */
const char *dovesd_conn_get_proxy_alpn(const dovesd_conn *c);
const char *dovesd_conn_get_proxy_authority(const dovesd_conn *c);
bool dovesd_conn_get_proxy_ssl(const dovesd_conn *c);   /* PP2_CLIENT_SSL was set */
const char *dovesd_conn_get_proxy_ssl_cn(const dovesd_conn *c);

void dovesd_conn_set_userdata(dovesd_conn *c, void *userdata);
void *dovesd_conn_get_userdata(const dovesd_conn *c);

/* type=login: the client has logged in and is no longer dropped on overflow. */
void dovesd_conn_set_logged_in(dovesd_conn *c);
bool dovesd_conn_is_logged_in(const dovesd_conn *c);

/* Close the connection and free its client slot. Does not call the disconnect callback.
 * Accepts NULL; returns NULL. */
dovesd_conn *dovesd_conn_close(dovesd_conn *c);

#ifdef __cplusplus
}
#endif
