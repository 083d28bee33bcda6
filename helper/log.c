/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <stdarg.h>
#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "internal.h"

/*
 * journald's and systemd's notification sockets are addressed by path (sd_journal_sendv(),
 * sd_notify()), and the path is looked up at every send: after chroot() it does not exist.
 * So before a chroot, service_log_connect() connects one datagram socket to each, and
 * records and notifications go through those (journald's native protocol, the notify text)
 * from then on, in the chroot and in every forked worker. Without them: the sd_* calls.
 */
static int journal_fd = -EBADF;
static int notify_fd = -EBADF;

static int connect_dgram(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(path);
        socklen_t salen;
        int fd;

        if (len == 0 || len >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@'))
                return -EINVAL;
        memcpy(sa.sun_path, path, len);
        if (path[0] == '@')
                sa.sun_path[0] = '\0';         /* abstract namespace */
        salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, salen) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

void service_log_connect(void) {
        const char *e;

        if (journal_fd < 0) {
                int fd = connect_dgram("/run/systemd/journal/socket");

                if (fd >= 0)
                        journal_fd = fd;
        }
        e = getenv("NOTIFY_SOCKET");
        if (notify_fd < 0 && e) {
                int fd = connect_dgram(e);

                if (fd >= 0)
                        notify_fd = fd;
        }
}

/* journald's native protocol: "KEY=VALUE\n" per field; a value with a newline is sent as
 * "KEY\n", its length as little-endian 64 bit, the value, "\n". Fields are "KEY=VALUE". */
static int journal_send_native(const struct iovec *fields, size_t n) {
        struct iovec iov[6 * 4];
        uint64_t sizes[6];
        size_t k = 0;

        if (n > 6)
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                const char *f = fields[i].iov_base, *eq = memchr(f, '=', fields[i].iov_len);
                size_t klen = eq ? (size_t) (eq - f) : 0;
                size_t vlen = eq ? fields[i].iov_len - klen - 1 : 0;

                if (!eq)
                        continue;
                if (!memchr(eq + 1, '\n', vlen)) {
                        iov[k++] = fields[i];
                } else {
                        uint64_t le = htole64((uint64_t) vlen);

                        memcpy(&sizes[i], &le, sizeof(le));
                        iov[k++] = (struct iovec) { .iov_base = (char *) f, .iov_len = klen };
                        iov[k++] = (struct iovec) { .iov_base = (char *) "\n", .iov_len = 1 };
                        iov[k++] = (struct iovec) { .iov_base = &sizes[i], .iov_len = 8 };
                        iov[k++] = (struct iovec) { .iov_base = (char *) eq + 1, .iov_len = vlen };
                }
                iov[k++] = (struct iovec) { .iov_base = (char *) "\n", .iov_len = 1 };
        }
        if (sendmsg(journal_fd, &(struct msghdr) { .msg_iov = iov, .msg_iovlen = k },
                    MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                return -errno;
        return 0;
}

/* The most verbose priority journald gets: DOVESD_LOG_LEVEL (a syslog level name or number),
 * info by default. Per-worker and per-connection records are at debug level, so a busy
 * service logs nothing routine unless asked. A log callback gets every record. */
static int max_priority(void) {
        static int level = -1;
        static const char *const names[] = { "emerg", "alert", "crit", "err", "warning",
                                             "notice", "info", "debug" };
        const char *e;

        if (level >= 0)
                return level;
        level = LOG_INFO;
        e = getenv(DOVESD_ENV_LOG_LEVEL);
        if (e) {
                for (int i = 0; i < (int) ELEMENTSOF(names); i++)
                        if (strcmp(e, names[i]) == 0 || (e[0] == '0' + i && e[1] == '\0'))
                                level = i;
        }
        return level;
}

bool log_enabled(const log_target *t, int priority) {
        return (t && t->fn) || priority <= max_priority();
}

/* The last resort, when no callback is set and journald cannot be reached (its socket is not
 * there: no journald, a test run outside systemd): the record goes to stderr as
 * "SERVICE: MESSAGE", in one write(), rather than nowhere. Without it a program whose
 * privilege drop fails would exit 1 without a word. */
static void stderr_fallback(const char *service, const char *message) {
        char line[1400];
        int k = snprintf(line, sizeof(line), "%s: %s\n", service ?: "libdovesd", message);

        if (k < 0)
                return;
        if ((size_t) k >= sizeof(line)) {
                k = sizeof(line) - 1;
                line[k - 1] = '\n';
        }
        (void) !write(STDERR_FILENO, line, (size_t) k);
}

/* Records go to the program's callback, or to journald; to stderr only when neither can take
 * them (see stderr_fallback()). Never to stdout. */
void log_emit(const log_target *t, int priority, const char *message_id, const char *listener,
              const char *client, const char *format, ...) {
        char buf[1024];
        va_list ap;
        int saved_errno = errno;

        if (!log_enabled(t, priority))
                return;
        va_start(ap, format);
        (void) vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);

        dovesd_log_record rec = {
                .priority = priority,
                .message = buf,
                .message_id = message_id,
                .service = t ? t->service : NULL,
                .listener = listener,
                .client = client,
        };

        if (t && t->fn)
                t->fn(&rec, t->userdata);
        else {
                char f_msg[1100], f_prio[16], f_svc[300], f_mid[64], f_lst[300], f_cli[300];
                struct iovec iov[6];
                size_t n = 0;

#define ADD_FIELD(field, ...)                                                           \
                do {                                                                    \
                        int _k_ = snprintf(field, sizeof(field), __VA_ARGS__);          \
                        iov[n++] = (struct iovec) {                                     \
                                .iov_base = field,                                      \
                                .iov_len = _k_ < (int) sizeof(field) ? (size_t) _k_ :   \
                                                                       sizeof(field) - 1, \
                        };                                                              \
                } while (false)

                ADD_FIELD(f_msg, "MESSAGE=%s", buf);
                ADD_FIELD(f_prio, "PRIORITY=%i", priority);
                ADD_FIELD(f_svc, "DOVESD_SERVICE=%s", t && t->service ? t->service : "");
                if (message_id)
                        ADD_FIELD(f_mid, "MESSAGE_ID=%s", message_id);
                if (listener)
                        ADD_FIELD(f_lst, "DOVESD_LISTENER=%s", listener);
                if (client)
                        ADD_FIELD(f_cli, "DOVESD_CLIENT=%s", client);
#undef ADD_FIELD
                /* sd_journal_sendv() returns 0 when journald's socket is missing: look. */
                if (journal_fd >= 0 && journal_send_native(iov, n) >= 0)
                        ;
                else if (access("/run/systemd/journal/socket", F_OK) < 0 ||
                         sd_journal_sendv(iov, n) < 0)
                        stderr_fallback(t ? t->service : NULL, buf);
        }

        errno = saved_errno;
}

int service_notify(const char *state) {
        if (notify_fd >= 0) {
                if (send(notify_fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                        return -errno;
                return 1;
        }
        return sd_notify(false, state);
}

_public_ int dovesd_service_set_log_callback(dovesd_service *s, dovesd_log_func fn,
                                             void *userdata) {
        if (!s)
                return -EINVAL;
        s->log.fn = fn;
        s->log.userdata = userdata;
        return 0;
}
