/* SPDX-License-Identifier: MIT */

/*
 * Where a generator's messages can go (systemd.generator(7): no IPC, log to /dev/kmsg):
 *
 * - By hand: stderr.
 * - Run by systemd on a host: /dev/kmsg; journald imports the kernel log, so the messages
 *   show up in `journalctl -b -t dovesd-generator`, from boot on.
 * - Run by systemd inside a container (systemd-nspawn, checked with systemd 252): there is no
 *   /dev/kmsg at all (nspawn hides it on purpose: its FIFO replacement would block writers),
 *   and PID 1 connects a generator's stdout and stderr to /dev/null. The only way into the
 *   container's journal is journald's native socket /run/systemd/journal/socket: it exists
 *   on every `systemctl daemon-reload`, but not at boot, when generators run before journald.
 *   So without kmsg we send each message as one non-blocking datagram to that socket (no
 *   reply is read, nothing can block: a datagram is not a conversation) and, when the
 *   socket is not there (boot), write to /dev/console, which nspawn shows on its terminal and
 *   which lands in the host's journal when the container runs as systemd-nspawn@.service.
 *   An admin who finds PID 1's "dovesd-generator failed" note in the container therefore
 *   runs `systemctl daemon-reload` and then `journalctl -t dovesd-generator`, or
 *   `dovesd-generator --check`.
 *
 * /dev/kmsg is never created: opening it without O_CREAT matters, a shell redirection in a
 * container would make a plain file there.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "contract.h"
#include "macro.h"

#define IDENT "dovesd-generator"
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static int max_level = LOG_INFO;
static int kmsg_fd = -EBADF;
static int journal_fd = -EBADF;
static int console_fd = -EBADF;
static bool by_systemd_flag;
static FILE *capture_file;

static int parse_level(const char *s) {
        static const char *const names[] = {
                [LOG_ERR] = "err",
                [LOG_WARNING] = "warning",
                [LOG_NOTICE] = "notice",
                [LOG_INFO] = "info",
                [LOG_DEBUG] = "debug",
        };

        for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
                if (strcaseeq(s, names[i]) || (s[0] == '0' + i && s[1] == '\0'))
                        return i;
        if (strcaseeq(s, "error"))
                return LOG_ERR;
        return -EINVAL;
}

static int open_kmsg(void) {
        struct stat st;
        int fd;

        fd = open("/dev/kmsg", O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode)) {
                safe_close(fd);
                return -ENODEV;
        }
        return fd;
}

static int open_journal(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
        int fd;

        if (access(JOURNAL_SOCKET, W_OK) < 0)
                return -errno;
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;

                safe_close(fd);
                return r;
        }
        return fd;
}

int log_setup(bool by_systemd) {
        const char *e = getenv(DOVESD_ENV_LOG_LEVEL);
        int r = 0;

        by_systemd_flag = by_systemd;
        if (by_systemd) {
                kmsg_fd = open_kmsg();
                if (kmsg_fd < 0) {
                        journal_fd = open_journal();
                        if (journal_fd < 0)
                                console_fd = open("/dev/console",
                                                  O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
                }
        }

        if (!isempty(e)) {
                int l = parse_level(e);

                if (l < 0) {
                        log_warning("DOVESD_LOG_LEVEL=%s is not one of err, warning, notice, "
                                    "info, debug, ignoring", e);
                        r = -EINVAL;
                } else
                        max_level = l;
        }
        return r;
}

void log_capture(FILE *f) {
        capture_file = f;
}

void log_close(void) {
        kmsg_fd = safe_close(kmsg_fd);
        journal_fd = safe_close(journal_fd);
        console_fd = safe_close(console_fd);
}

static void write_all(int fd, const char *buf, size_t n) {
        /* Best effort: a log line that can't be written is dropped. */
        while (n > 0) {
                ssize_t k = write(fd, buf, n);

                if (k <= 0)
                        return;
                buf += k;
                n -= (size_t) k;
        }
}

static void send_journal(int level, const char *file, unsigned line, const char *message) {
        char prio[32], pid[48], lineno[32];
        _cleanup_free_ char *msg = NULL, *cfile = NULL;
        struct iovec iov[8];
        size_t n = 0;

        snprintf(prio, sizeof(prio), "PRIORITY=%d\n", level);
        snprintf(pid, sizeof(pid), "SYSLOG_PID=%d\n", (int) getpid());
        if (asprintf(&msg, "MESSAGE=%s\n", message) < 0)
                return;
        /* The native protocol's simple form: no newline inside a value. */
        for (char *p = msg + strlen("MESSAGE="); p[1]; p++)
                if (*p == '\n')
                        *p = ' ';

        iov[n++] = (struct iovec) { msg, strlen(msg) };
        iov[n++] = (struct iovec) { prio, strlen(prio) };
        iov[n++] = (struct iovec) { (char *) "SYSLOG_IDENTIFIER=" IDENT "\n",
                                    strlen("SYSLOG_IDENTIFIER=" IDENT "\n") };
        iov[n++] = (struct iovec) { (char *) "SYSLOG_FACILITY=3\n", strlen("SYSLOG_FACILITY=3\n") };
        iov[n++] = (struct iovec) { pid, strlen(pid) };
        if (file && asprintf(&cfile, "CONFIG_FILE=%s\n", file) >= 0 && !strchr(file, '\n')) {
                snprintf(lineno, sizeof(lineno), "CONFIG_LINE=%u\n", line);
                iov[n++] = (struct iovec) { cfile, strlen(cfile) };
                iov[n++] = (struct iovec) { lineno, strlen(lineno) };
        }
        (void) sendmsg(journal_fd, &(struct msghdr) { .msg_iov = iov, .msg_iovlen = n },
                       MSG_DONTWAIT | MSG_NOSIGNAL);
}

int log_full(int level, int err, const char *file, unsigned line, const char *fmt, ...) {
        _cleanup_free_ char *text = NULL, *message = NULL, *out = NULL;
        int saved = errno;
        va_list ap;

        if (level > max_level)
                goto finish;

        errno = err;    /* for %m */
        va_start(ap, fmt);
        if (vasprintf(&text, fmt, ap) < 0)
                text = NULL;
        va_end(ap);
        if (!text)
                goto finish;
        if (file && line == 0) {
                /* about the whole file (it cannot be opened): no ":0:" */
                if (asprintf(&message, "%s: %s", file, text) < 0)
                        goto finish;
        } else if (file) {
                if (asprintf(&message, "%s:%u: %s", file, line, text) < 0)
                        goto finish;
        } else
                message = TAKE_PTR(text);

        if (capture_file && level <= LOG_WARNING)
                fprintf(capture_file, "%s\n", message);

        if (kmsg_fd >= 0) {
                if (asprintf(&out, "<%d>%s[%d]: %s\n", LOG_DAEMON | level, IDENT, (int) getpid(),
                             message) >= 0)
                        write_all(kmsg_fd, out, strlen(out));
        } else if (journal_fd >= 0)
                send_journal(level, file, line, message);
        else if (console_fd >= 0) {
                if (asprintf(&out, "%s[%d]: %s\n", IDENT, (int) getpid(), message) >= 0)
                        write_all(console_fd, out, strlen(out));
        } else {
                fprintf(stderr, "%s\n", message);
                fflush(stderr);
        }

finish:
        errno = saved;
        return err > 0 ? -err : 0;
}
