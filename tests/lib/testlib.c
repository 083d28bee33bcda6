/* SPDX-License-Identifier: MIT */

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "testlib.h"

void report_line(const char *format, ...) {
        char buf[4096];
        va_list ap;
        int k;

        va_start(ap, format);
        k = vsnprintf(buf, sizeof(buf) - 1, format, ap);
        va_end(ap);
        if (k < 0)
                return;
        if ((size_t) k > sizeof(buf) - 2)
                k = sizeof(buf) - 2;
        buf[k++] = '\n';
        (void) !write(REPORT_FD, buf, (size_t) k);
}

/* In a test's child: the service's fds at 3… and LISTEN_* as systemd passes them. Every other fd
 * from 3 on is closed, except KEEP_FD (-1: none) when it lies above them. */
static void child_pass_fds(const svc_fd *fds, size_t n, int keep_fd) {
        char names[1024] = "", buf[32];
        int tmp[16];

        for (size_t i = 0; i < n; i++)
                tmp[i] = fcntl(fds[i].fd, F_DUPFD, 300);
        for (size_t i = 0; i < n; i++) {
                dup2(tmp[i], 3 + (int) i);
                close(tmp[i]);
        }
        if (keep_fd > 3 + (int) n) {
                close_range(3 + n, keep_fd - 1, 0);
                close_range(keep_fd + 1, ~0U, 0);
        } else
                close_range(3 + n, ~0U, 0);

        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        strcat(names, ":");
                strcat(names, fds[i].name);
        }
        if (n > 0) {
                snprintf(buf, sizeof(buf), "%d", (int) getpid());
                setenv("LISTEN_PID", buf, 1);
                snprintf(buf, sizeof(buf), "%zu", n);
                setenv("LISTEN_FDS", buf, 1);
                setenv("LISTEN_FDNAMES", names, 1);
        }
}

pid_t spawn_service(const svc_fd *fds, size_t n, child_body body, void *arg, report *ret_report) {
        int p[2];
        pid_t pid, parent = getpid();

        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        (void) fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
        pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(1);
                dup2(p[1], REPORT_FD);
                child_pass_fds(fds, n, REPORT_FD);
                _exit(body(arg));
        }
        close(p[1]);
        *ret_report = (report) { .fd = p[0] };
        return pid;
}

pid_t spawn_program(const svc_fd *fds, size_t n, char *const argv[], uid_t uid,
                    report *ret_report) {
        int p[2];
        pid_t pid, parent = getpid();

        cr_assert_lt(n, 16);
        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        (void) fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
        pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                int null_fd;

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(1);
                null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
                    dup2(p[1], STDOUT_FILENO) < 0 || dup2(p[1], STDERR_FILENO) < 0)
                        _exit(127);
                child_pass_fds(fds, n, -1);
                if (uid != (uid_t) -1 &&
                    (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
                     setresuid(uid, uid, uid) < 0)) {
                        dprintf(STDERR_FILENO, "spawn_program: cannot switch to uid %u: %m\n",
                                (unsigned) uid);
                        _exit(127);
                }
                /* A change of credentials clears the parent-death signal: set it again. */
                if (uid != (uid_t) -1 &&
                    (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
                        _exit(127);
                execv(argv[0], argv);
                dprintf(STDERR_FILENO, "spawn_program: cannot execute %s: %m\n", argv[0]);
                _exit(127);
        }
        close(p[1]);
        *ret_report = (report) { .fd = p[0] };
        return pid;
}

/* Read what is there, waiting at most timeout_sec. Returns bytes read, 0 on EOF, -1 if none. */
static ssize_t report_fill(report *r, double timeout_sec) {
        struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
        ssize_t k;

        if (r->fd < 0)
                return 0;
        if (poll(&pfd, 1, (int) (timeout_sec * 1000)) <= 0)
                return -1;
        cr_assert_not_null(GREEDY_REALLOC(r->buf, r->len + 65536 + 1));
        r->buf[r->len] = '\0';
        k = read(r->fd, r->buf + r->len, 65536);
        if (k <= 0) {
                close(r->fd);
                r->fd = -1;
                return 0;
        }
        r->len += (size_t) k;
        r->buf[r->len] = '\0';
        if (!r->timed)
                return k;
        cr_assert(GREEDY_REALLOC(r->chunk_end, r->n_chunks + 1) &&
                  GREEDY_REALLOC(r->chunk_time, r->n_chunks + 1));
        r->chunk_end[r->n_chunks] = r->len;
        r->chunk_time[r->n_chunks++] = now_sec();
        return k;
}

/* When the byte at offset off arrived. */
static double report_time_of(const report *r, size_t off) {
        size_t lo = 0, hi = r->n_chunks;

        /* the first chunk that ends after off */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (r->chunk_end[mid] > off)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return lo < r->n_chunks ? r->chunk_time[lo] : now_sec();
}

char *report_wait(report *r, const char *prefix, double timeout_sec, size_t *pos) {
        return report_wait_at(r, prefix, timeout_sec, pos, NULL);
}

char *report_wait_at(report *r, const char *prefix, double timeout_sec, size_t *pos,
                     double *ret_time) {
        double end = now_sec() + timeout_sec;
        size_t off = pos ? *pos : 0, l = strlen(prefix);

        for (;;) {
                /* scan complete lines from off */
                while (r->buf && off < r->len) {
                        char *nl = memchr(r->buf + off, '\n', r->len - off);

                        if (!nl)
                                break;
                        if ((size_t) (nl - (r->buf + off)) >= l &&
                            strncmp(r->buf + off, prefix, l) == 0) {
                                char *line = strndup(r->buf + off, (size_t) (nl - (r->buf + off)));

                                if (pos)
                                        *pos = (size_t) (nl - r->buf) + 1;
                                if (ret_time)
                                        *ret_time = report_time_of(r, (size_t) (nl - r->buf));
                                return line;
                        }
                        off = (size_t) (nl - r->buf) + 1;
                }
                double left = end - now_sec();
                if (left <= 0)
                        return NULL;
                if (report_fill(r, left) == 0 && r->fd < 0) {
                        if (off >= r->len)
                                return NULL;
                }
        }
}

const char *report_finish(report *r, pid_t pid, int *ret_status) {
        int status;

        while (r->fd >= 0)
                (void) report_fill(r, 30);
        if (!r->buf)
                r->buf = strdup("");
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        if (ret_status)
                *ret_status = status;
        return r->buf;
}

void report_free(report *r) {
        if (r->fd >= 0)
                close(r->fd);
        free(r->buf);
        free(r->chunk_end);
        free(r->chunk_time);
        *r = (report) { .fd = -1 };
}

char *report_get(const char *text, const char *key) {
        size_t l = strlen(key);

        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, key, l) == 0 && p[l] == '=')
                        return strndup(p + l + 1, strcspn(p + l + 1, "\n"));
        return NULL;
}

long report_num(const char *text, const char *key) {
        char *v = report_get(text, key);
        long n;

        cr_assert_not_null(v, "no %s= in the report:\n%s", key, text);
        n = strtol(v, NULL, 10);
        free(v);
        return n;
}

long field_num(const char *line, const char *key) {
        size_t l = strlen(key);

        for (const char *p = line; p && *p; p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL)
                if (strncmp(p, key, l) == 0 && p[l] == '=')
                        return strtol(p + l + 1, NULL, 10);
        return -1;
}

int listen_tcp(int backlog, unsigned *ret_port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        cr_assert_geq(fd, 0);
        cr_assert_eq(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
        cr_assert_eq(listen(fd, backlog), 0);
        cr_assert_eq(getsockname(fd, (struct sockaddr *) &a, &l), 0);
        *ret_port = ntohs(a.sin_port);
        return fd;
}

int connect_tcp(unsigned port) {
        struct sockaddr_in a = {
                .sin_family = AF_INET,
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                .sin_port = htons(port),
        };
        struct timeval tv = { .tv_sec = 10 };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        cr_assert_geq(fd, 0);
        cr_assert_eq(connect(fd, (struct sockaddr *) &a, sizeof(a)), 0, "connect: %m");
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        return fd;
}

ssize_t read_line(int fd, char *buf, size_t size) {
        size_t n = 0;

        while (n + 1 < size) {
                ssize_t k = read(fd, buf + n, 1);
                if (k <= 0) {
                        if (n == 0)
                                return k;
                        break;
                }
                if (buf[n++] == '\n')
                        break;
        }
        buf[n] = '\0';
        return (ssize_t) n;
}

bool readable_within(int fd, double timeout_sec) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };

        return poll(&pfd, 1, (int) (timeout_sec * 1000)) > 0;
}

int send_str(int fd, const char *s) {
        size_t l = strlen(s);

        return send(fd, s, l, MSG_NOSIGNAL) == (ssize_t) l ? 0 : -errno;
}

double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

void sleep_sec(double sec) {
        struct timespec ts = { .tv_sec = (time_t) sec, .tv_nsec = (long) ((sec - (time_t) sec) * 1e9) };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}
