/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "internal.h"

/* Records go to the program's callback, or to journald. Never to stdout/stderr. */
void service_log_full(dovesd_service *s, int priority, const char *message_id,
                      const char *listener, const char *client, const char *format, ...) {
        char buf[1024];
        va_list ap;
        int saved_errno = errno;

        va_start(ap, format);
        (void) vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);

        dovesd_log_record rec = {
                .priority = priority,
                .message = buf,
                .message_id = message_id,
                .service = s ? s->name : NULL,
                .listener = listener,
                .client = client,
        };

        if (s && s->log_fn)
                s->log_fn(&rec, s->log_userdata);
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
                ADD_FIELD(f_svc, "DOVESD_SERVICE=%s", s && s->name ? s->name : "");
                if (message_id)
                        ADD_FIELD(f_mid, "MESSAGE_ID=%s", message_id);
                if (listener)
                        ADD_FIELD(f_lst, "DOVESD_LISTENER=%s", listener);
                if (client)
                        ADD_FIELD(f_cli, "DOVESD_CLIENT=%s", client);
#undef ADD_FIELD
                (void) sd_journal_sendv(iov, n);
        }

        errno = saved_errno;
}

int service_notify(dovesd_service *s, const char *state) {
        if (s->role == ROLE_WORKER)
                return 0;
        return sd_notify(false, state);
}

_public_ int dovesd_service_set_log_callback(dovesd_service *s, dovesd_log_func fn,
                                             void *userdata) {
        if (!s)
                return -EINVAL;
        s->log_fn = fn;
        s->log_userdata = userdata;
        return 0;
}
