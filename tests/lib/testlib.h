/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Helpers for tests that run libdovesd in a child with real sockets handed over the way
 * systemd does it: fds at 3…, LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES, DOVESD_* from the
 * environment. The child writes "key=value" lines to a report pipe (REPORT_FD in the child);
 * the test process plays the clients and reads the report, while the child runs or at the end.
 * Failures go through Criterion's cr_assert*.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define REPORT_FD 200

typedef struct svc_fd {
        int fd;
        const char *name;
} svc_fd;

typedef int (*child_body)(void *arg);

typedef struct report {
        int fd;
        char *buf;
        size_t len;
        /* timed: record when each read ended (chunk i is buf[..chunk_end[i]), read at
         * chunk_time[i]) for report_wait_at(); report_free() frees them */
        bool timed;
        size_t *chunk_end;
        double *chunk_time;
        size_t n_chunks;
} report;

/* In the child: one line to the report pipe (atomic below PIPE_BUF). */
void report_line(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Fork a child with fds at 3… named as given (LISTEN_*), run body(arg) and _exit with its
 * result. The child dies with the test process (PR_SET_PDEATHSIG). */
pid_t spawn_service(const svc_fd *fds, size_t n, child_body body, void *arg, report *ret_report);

/* Fork and exec argv[0] (an absolute path) with fds at 3… named as given (LISTEN_PID is the
 * child's pid), its stdout and stderr on the report pipe, stdin on /dev/null, and no other fd.
 * uid != (uid_t) -1: switch to that uid and gid (no supplementary groups) before the exec.
 * The child dies with the test process (PR_SET_PDEATHSIG, kept across the exec). */
pid_t spawn_program(const svc_fd *fds, size_t n, char *const argv[], uid_t uid,
                    report *ret_report);

/* Read the report until a line starting with prefix appears after offset *pos (NULL: from
 * the beginning) or timeout_sec passes; returns a newly allocated copy of the line (without
 * the newline) or NULL, and moves *pos past it. */
char *report_wait(report *r, const char *prefix, double timeout_sec, size_t *pos);
/* The same; *ret_time (if not NULL) is when the line arrived (now_sec() of the read; with
 * r->timed set before the first read, else now). */
char *report_wait_at(report *r, const char *prefix, double timeout_sec, size_t *pos,
                     double *ret_time);

/* Read the report to EOF (every process holding the pipe gone) and reap the child. Returns
 * the whole report (owned by r). */
const char *report_finish(report *r, pid_t pid, int *ret_status);

/* Close the pipe if open and free what the report holds. */
void report_free(report *r);

/* The value of the first "key=" line in text, or NULL (newly allocated). */
char *report_get(const char *text, const char *key);
long report_num(const char *text, const char *key);
/* "... key=N ..." inside one line: N, or -1. */
long field_num(const char *line, const char *key);

int listen_tcp(int backlog, unsigned *ret_port);
int connect_tcp(unsigned port);                 /* blocking, 10 s receive timeout */
/* One line (blocking, with the socket's timeout): its length, 0 on EOF, < 0 on error. */
ssize_t read_line(int fd, char *buf, size_t size);
/* Wait up to timeout_sec for fd to be readable; true if it is. */
bool readable_within(int fd, double timeout_sec);
int send_str(int fd, const char *s);
double now_sec(void);
void sleep_sec(double sec);
