/* SPDX-License-Identifier: MIT */

/*
 * The service program of tests/lib/test-supervisor.c: a libdovesd program that dovesd-supervisor
 * fork + execs for every worker. It greets each client with "hello PID" and answers, one line
 * at a time:
 *
 *   pid       its pid
 *   login     marks the client logged in (type=login overflow), "ok"
 *   limits    "client_limit=N service_count=N process_limit=N" as this worker read them
 *   ids       "ids=VALUE": the DOVESD_WORKER_IDS it was started with, "-" if none
 *   quit      "bye", then closes
 *   anything  echoed
 *
 * It reports to the test on stderr (the supervisor's stderr, a pipe the test reads), one
 * write per line so that lines of several processes never mix:
 *
 *   worker PID <PRIO>[MESSAGE_ID ]MESSAGE     every log record of libdovesd
 *   worker PID reload                         the reload callback ran
 *
 * TEST_CRASH set: exit with status 3 on the first client. TEST_RELOAD_FAIL set: the reload
 * callback fails. TEST_START_DELAY_MS: the program's set-up takes that long.
 */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dovesd.h"

typedef struct client {
        dovesd_conn *conn;
        sd_event_source *io;
        char buf[256];
        size_t n;
} client;

static void say(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *format, ...) {
        char buf[1200];
        va_list ap;
        int k, l;

        k = snprintf(buf, sizeof(buf), "worker %d ", (int) getpid());
        va_start(ap, format);
        l = vsnprintf(buf + k, sizeof(buf) - (size_t) k - 1, format, ap);
        va_end(ap);
        if (l < 0)
                return;
        k += l;
        if ((size_t) k > sizeof(buf) - 2)
                k = sizeof(buf) - 2;
        buf[k++] = '\n';
        (void) !write(STDERR_FILENO, buf, (size_t) k);
}

static void log_to_stderr(const dovesd_log_record *rec, void *userdata) {
        say("<%d>%s%s%s", rec->priority, rec->message_id ?: "", rec->message_id ? " " : "",
            rec->message);
}

static void client_free(client *cl) {
        if (!cl)
                return;
        sd_event_source_disable_unref(cl->io);
        free(cl);
}

static void reply(client *cl, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void reply(client *cl, const char *format, ...) {
        char buf[256];
        va_list ap;
        int k;

        va_start(ap, format);
        k = vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);
        if (k > 0)
                (void) !send(dovesd_conn_get_fd(cl->conn), buf, (size_t) k, MSG_NOSIGNAL);
}

static int on_client(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        client *cl = userdata;
        dovesd_service *s = dovesd_conn_get_service(cl->conn);
        ssize_t k;
        char *nl;

        k = read(fd, cl->buf + cl->n, sizeof(cl->buf) - 1 - cl->n);
        if (k <= 0) {
                if (k < 0 && errno == EAGAIN)
                        return 0;
                dovesd_conn_close(cl->conn);   /* no disconnect callback: ours to free */
                client_free(cl);
                return 0;
        }
        cl->n += (size_t) k;
        cl->buf[cl->n] = '\0';
        while ((nl = strchr(cl->buf, '\n'))) {
                *nl = '\0';
                if (strcmp(cl->buf, "pid") == 0)
                        reply(cl, "%d\n", (int) getpid());
                else if (strcmp(cl->buf, "login") == 0) {
                        dovesd_conn_set_logged_in(cl->conn);
                        reply(cl, "ok\n");
                } else if (strcmp(cl->buf, "limits") == 0)
                        reply(cl, "client_limit=%u service_count=%u process_limit=%u\n",
                              dovesd_service_get_client_limit(s),
                              dovesd_service_get_service_count(s),
                              dovesd_service_get_process_limit(s));
                else if (strcmp(cl->buf, "ids") == 0)
                        reply(cl, "ids=%s\n", getenv("DOVESD_WORKER_IDS") ?: "-");
                else if (strcmp(cl->buf, "quit") == 0) {
                        reply(cl, "bye\n");
                        dovesd_conn_close(cl->conn);
                        client_free(cl);
                        return 0;
                } else
                        reply(cl, "%s\n", cl->buf);
                memmove(cl->buf, nl + 1, cl->n - (size_t) (nl + 1 - cl->buf) + 1);
                cl->n = strlen(cl->buf);
        }
        return 0;
}

static int on_connection(dovesd_conn *conn, void *userdata) {
        dovesd_service *s = dovesd_conn_get_service(conn);
        client *cl;
        int r;

        if (getenv("TEST_CRASH"))
                _exit(3);

        cl = calloc(1, sizeof(*cl));
        if (!cl)
                return -ENOMEM;
        cl->conn = conn;
        r = sd_event_add_io(dovesd_service_get_event(s), &cl->io, dovesd_conn_get_fd(conn),
                            EPOLLIN, on_client, cl);
        if (r < 0) {
                free(cl);
                return r;
        }
        dovesd_conn_set_userdata(conn, cl);
        reply(cl, "hello %d\n", (int) getpid());
        return 0;
}

/* The library closed the client (stop timeout, login overflow). */
static void on_disconnect(dovesd_conn *conn, void *userdata) {
        client_free(dovesd_conn_get_userdata(conn));
}

static void on_overflow(dovesd_conn *conn, void *userdata) {
        client *cl = dovesd_conn_get_userdata(conn);

        if (cl)
                reply(cl, "bye overflow\n");
}

static int on_reload(dovesd_service *s, void *userdata) {
        say("reload");
        return getenv("TEST_RELOAD_FAIL") ? -EIO : 0;
}

int main(int argc, char *argv[]) {
        static const dovesd_callbacks cb = {
                .connection = on_connection,
                .disconnect = on_disconnect,
                .overflow = on_overflow,
                .reload = on_reload,
        };
        dovesd_service *s = NULL;
        char *error = NULL;
        int r;

        r = dovesd_service_new(&s, &error);
        if (r < 0) {
                say("<3>dovesd_service_new() failed: %s", error ?: strerror(-r));
                free(error);
                return 2;
        }
        (void) dovesd_service_set_log_callback(s, log_to_stderr, NULL);
        (void) dovesd_service_set_stop_timeout(s, 2 * UINT64_C(1000000));
        if (getenv("TEST_START_DELAY_MS"))
                (void) usleep((useconds_t) atoi(getenv("TEST_START_DELAY_MS")) * 1000);

        r = dovesd_service_run(s, &cb, NULL);
        if (r < 0)
                say("<3>dovesd_service_run() failed: %s", strerror(-r));
        dovesd_service_unref(s);
        return r < 0 ? 1 : 0;
}
