/* SPDX-License-Identifier: MIT */

/*
 * The prefork pool (helper/pool.c) with real sockets and real fork. Every case starts a small
 * service in a child (fds at 3…, LISTEN_*, DOVESD_*): it greets each client with its pid and
 * answers "pid", "login" and "quit". The test process plays the clients. The supervisor
 * reports the shared pool state ("stats ..." lines) on SIGUSR2 and after dovesd_service_run()
 * returns; log records go to the report too.
 */

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "dovesd.h"
#include "internal.h"
#include "testlib.h"

/* ---- the service ----------------------------------------------------------------------- */

typedef struct client {
        dovesd_conn *conn;
        sd_event_source *io;
        char buf[256];
        size_t n;
} client;

static void log_to_report(const dovesd_log_record *rec, void *userdata) {
        report_line("log=%.3f|%s|%s", now_sec(), rec->message_id ?: "-", rec->message);
}

/* Children of this process that exited and were not reaped. */
static unsigned count_zombies(void) {
        unsigned n = 0;
        DIR *d = opendir("/proc");
        struct dirent *de;

        if (!d)
                return 0;
        while ((de = readdir(d))) {
                char path[300], buf[512], *p, state;
                int ppid;
                FILE *f;

                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue;
                if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
                    sscanf(p + 2, "%c %d", &state, &ppid) == 2 && ppid == getpid() && state == 'Z')
                        n++;
                fclose(f);
        }
        closedir(d);
        return n;
}

static void report_stats(dovesd_service *s, const char *key) {
        pool_stats st;
        pid_t pids[64];
        char list[64 * 12] = "";
        size_t n;

        if (pool_get_stats(s, &st) < 0) {
                report_line("%s=none", key);
                return;
        }
        n = pool_get_pids(s, pids, 64);
        for (size_t i = 0; i < n; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d",
                         i > 0 ? "," : "", (int) pids[i]);
        report_line("%s=1 workers=%u workers_max=%u spawned=%" PRIu64 " crashed=%" PRIu64
                    " throttled=%" PRIu64 " clients=%u free=%u avail=%u max_clients=%u served=%"
                    PRIu64 " zombies=%u pids=%s",
                    key, st.workers, st.workers_max, st.spawned, st.crashed, st.throttled,
                    st.clients, st.free_slots, st.avail, st.max_clients, st.served, count_zombies(), list);
}

static void client_free(client *cl) {
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
        (void) !send(dovesd_conn_get_fd(cl->conn), buf, (size_t) k, MSG_NOSIGNAL);
}

static int on_client(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        client *cl = userdata;
        ssize_t k;
        char *nl;

        k = read(fd, cl->buf + cl->n, sizeof(cl->buf) - 1 - cl->n);
        if (k <= 0) {
                if (k < 0 && errno == EAGAIN)
                        return 0;
                dovesd_conn_close(cl->conn);
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
                } else if (strcmp(cl->buf, "quit") == 0) {
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

static void on_disconnect(dovesd_conn *conn, void *userdata) {
        client_free(dovesd_conn_get_userdata(conn));
}

static void on_overflow(dovesd_conn *conn, void *userdata) {
        client *cl = dovesd_conn_get_userdata(conn);

        reply(cl, "bye overflow\n");
}

static int on_reload(dovesd_service *s, void *userdata) {
        report_line("reload=%d", (int) getpid());
        return getenv("TEST_RELOAD_FAIL") ? -EIO : 0;
}

static int on_sigusr2(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        report_stats(userdata, "stats");
        return 0;
}

static int service_body(void *arg) {
        static const dovesd_callbacks cb = {
                .connection = on_connection,
                .disconnect = on_disconnect,
                .overflow = on_overflow,
                .reload = on_reload,
        };
        dovesd_service *s = NULL;
        char *error = NULL;
        sigset_t mask;
        int r;

        r = dovesd_service_new(&s, &error);
        if (r < 0) {
                report_line("new=%d %s", r, error);
                return 2;
        }
        dovesd_service_set_log_callback(s, log_to_report, NULL);
        dovesd_service_set_stop_timeout(s, 2 * USEC_PER_SEC);

        sigemptyset(&mask);
        sigaddset(&mask, SIGUSR2);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_add_signal(dovesd_service_get_event(s), NULL, SIGUSR2, on_sigusr2, s);
        if (r < 0) {
                report_line("sigusr2=%d", r);
                return 2;
        }

        report_line("supervisor=%d", (int) getpid());
        r = dovesd_service_run(s, &cb, NULL);
        report_line("run=%d", r);
        report_stats(s, "final");
        dovesd_service_unref(s);
        return r < 0 ? 1 : 0;
}

/* ---- the test side --------------------------------------------------------------------- */

typedef struct pool_env {
        const char *type;
        const char *process_limit, *client_limit, *min_avail, *idle_kill, *service_count;
        bool keep_notify;               /* leave NOTIFY_SOCKET as the test set it */
} pool_env;

typedef struct svc {
        pid_t pid;
        unsigned port;
        int listen_fd;
        report rep;
        size_t pos;
} svc;

static void svc_start(svc *v, const pool_env *e) {
        svc_fd fd;

        setenv("DOVESD_SERVICE", "pooltest", 1);
        setenv("DOVESD_TYPE", e->type ?: "", 1);
        setenv("DOVESD_LISTENERS", "imap", 1);
        setenv("DOVESD_PROCESS_LIMIT", e->process_limit, 1);
        setenv("DOVESD_CLIENT_LIMIT", e->client_limit, 1);
        setenv("DOVESD_PROCESS_MIN_AVAIL", e->min_avail ?: "0", 1);
        setenv("DOVESD_IDLE_KILL", e->idle_kill ?: "0", 1);
        setenv("DOVESD_SERVICE_COUNT", e->service_count ?: "0", 1);
        if (!e->keep_notify)
                unsetenv("NOTIFY_SOCKET");

        *v = (svc) {};
        v->listen_fd = listen_tcp(4096, &v->port);
        fd = (svc_fd) { .fd = v->listen_fd, .name = "imap" };
        v->pid = spawn_service(&fd, 1, service_body, NULL, &v->rep);
        free(report_wait(&v->rep, "supervisor=", 10, NULL));
}

/* SIGUSR2 → one "stats=" line from the supervisor. */
static char *svc_stats(svc *v) {
        char *line;

        cr_assert_eq(kill(v->pid, SIGUSR2), 0);
        line = report_wait(&v->rep, "stats=", 10, &v->pos);
        cr_assert_not_null(line, "no stats from the supervisor; report:\n%s", v->rep.buf);
        return line;
}

/* SIGTERM, wait; the run result and the final stats line. */
static const char *svc_stop(svc *v, char **ret_final) {
        const char *rep;
        int status;

        if (v->pid > 0)
                cr_assert_eq(kill(v->pid, SIGTERM), 0);
        rep = report_finish(&v->rep, v->pid, &status);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "service status %d; report:\n%s", status, rep);
        cr_assert_eq(report_num(rep, "run"), 0);
        if (ret_final) {
                char *f = report_get(rep, "final");
                cr_assert_not_null(f);
                *ret_final = f;
        }
        close(v->listen_fd);
        return rep;
}

/* Connect and read the greeting; returns the fd and the worker's pid. */
static int client_open(unsigned port, pid_t *ret_pid) {
        char line[128];
        int fd = connect_tcp(port);

        cr_assert_gt(read_line(fd, line, sizeof(line)), 0, "no greeting: %m");
        cr_assert_eq(strncmp(line, "hello ", 6), 0, "greeting: %s", line);
        if (ret_pid)
                *ret_pid = (pid_t) atoi(line + 6);
        return fd;
}

static pid_t client_pid(int fd) {
        char line[128];

        cr_assert_eq(send_str(fd, "pid\n"), 0);
        cr_assert_gt(read_line(fd, line, sizeof(line)), 0, "no answer to pid: %m");
        return (pid_t) atoi(line);
}

static bool pid_in_list(const char *line, pid_t pid) {
        const char *p = strstr(line, "pids=");
        char buf[16];

        if (!p)
                return false;
        snprintf(buf, sizeof(buf), "%d", (int) pid);
        for (p += 5; *p && *p != ' ';) {
                size_t l = strcspn(p, ", \n");
                if (l == strlen(buf) && strncmp(p, buf, l) == 0)
                        return true;
                p += l;
                if (*p == ',')
                        p++;
                else
                        break;
        }
        return false;
}

static long count_substr(const char *text, const char *needle) {
        long n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static unsigned long proc_cpu_ticks(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long ut = 0, st = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        cr_assert_not_null(f);
        cr_assert_not_null(fgets(buf, sizeof(buf), f));
        fclose(f);
        p = strrchr(buf, ')');
        cr_assert_not_null(p);
        /* after ") ": state(3) ... utime is field 14, stime 15 */
        cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st),
                     2);
        return ut + st;
}

/* ---- cases ----------------------------------------------------------------------------- */

Test(pool, grows_to_process_limit_and_no_further, .timeout = 30) {
        pool_env e = { .process_limit = "3", .client_limit = "2" };
        int fds[10], greeted[10] = {};
        pid_t pids[10] = {}, distinct[10];
        size_t n_distinct = 0;
        unsigned long t0, t1;
        char *final;
        svc v;

        svc_start(&v, &e);
        for (int i = 0; i < 10; i++)
                fds[i] = connect_tcp(v.port);

        /* 3 workers × 2 clients are served; the other 4 wait in the backlog. */
        for (int i = 0; i < 10; i++) {
                char line[64];

                if (!readable_within(fds[i], i < 6 ? 5 : 0.3))
                        continue;
                cr_assert_gt(read_line(fds[i], line, sizeof(line)), 0);
                pids[i] = atoi(line + 6);
                greeted[i] = 1;
        }
        int n_greeted = 0;
        for (int i = 0; i < 10; i++)
                n_greeted += greeted[i];
        cr_assert_eq(n_greeted, 6, "greeted %d of 10", n_greeted);
        for (int i = 0; i < 10; i++) {
                bool seen = false;

                if (!greeted[i])
                        continue;
                for (size_t j = 0; j < n_distinct; j++)
                        seen = seen || distinct[j] == pids[i];
                if (!seen)
                        distinct[n_distinct++] = pids[i];
        }
        cr_assert_eq(n_distinct, 3);

        /* At the limit with every worker full the supervisor does not spin on the readable
         * listener: well under a tenth of a CPU second in a second. */
        t0 = proc_cpu_ticks(v.pid);
        sleep_sec(1);
        t1 = proc_cpu_ticks(v.pid);
        cr_assert_lt(t1 - t0, 10, "supervisor used %lu ticks in 1 s", t1 - t0);

        char *st = svc_stats(&v);
        cr_assert_eq(field_num(st, "workers"), 3, "%s", st);
        cr_assert_eq(field_num(st, "clients"), 6, "%s", st);
        cr_assert_eq(field_num(st, "avail"), 0, "%s", st);
        free(st);

        /* Two served clients leave: two waiting ones get their turn. */
        int closed = 0;
        for (int i = 0; i < 10 && closed < 2; i++)
                if (greeted[i]) {
                        close(fds[i]);
                        fds[i] = -1;
                        closed++;
                }
        int late = 0;
        for (int i = 0; i < 10; i++)
                if (fds[i] >= 0 && !greeted[i] && readable_within(fds[i], 5)) {
                        char line[64];

                        cr_assert_gt(read_line(fds[i], line, sizeof(line)), 0);
                        cr_assert_eq(strncmp(line, "hello ", 6), 0);
                        late++;
                        if (late == 2)
                                break;
                }
        cr_assert_eq(late, 2);

        for (int i = 0; i < 10; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        const char *rep = svc_stop(&v, &final);
        cr_assert_eq(field_num(final, "workers_max"), 3, "%s", final);
        cr_assert_leq(field_num(final, "max_clients"), 2, "%s", final);
        cr_assert_eq(field_num(final, "workers"), 0, "%s", final);
        cr_assert(strstr(rep, "|" DOVESD_MESSAGE_PROCESS_LIMIT_REACHED
                         "|process_limit (3) reached, client connections are waiting in the listen backlog\n"),
                  "%s", rep);
        free(final);
}

Test(pool, min_avail_kept_after_workers_exit, .timeout = 30) {
        pool_env e = { .process_limit = "4", .client_limit = "5", .min_avail = "2",
                       .service_count = "1" };
        pid_t seen[8];
        char *st = NULL, *final;
        svc v;

        svc_start(&v, &e);
        /* service_count = 1: every worker exits after its client. */
        for (int i = 0; i < 6; i++) {
                int fd = client_open(v.port, &seen[i]);

                cr_assert_eq(client_pid(fd), seen[i]);
                cr_assert_eq(send_str(fd, "quit\n"), 0);
                close(fd);
        }
        for (int i = 0; i < 6; i++)
                for (int j = 0; j < i; j++)
                        cr_assert_neq(seen[i], seen[j], "worker %d served two clients", seen[i]);

        /* The replacements come: two workers with a free slot again. */
        double end = now_sec() + 5;
        do {
                free(st);
                sleep_sec(0.1);
                st = svc_stats(&v);
        } while ((field_num(st, "avail") != 2 || field_num(st, "workers") != 2) && now_sec() < end);
        cr_assert_eq(field_num(st, "avail"), 2, "%s", st);
        cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
        cr_assert_geq(field_num(st, "spawned"), 8, "%s", st);
        cr_assert_eq(field_num(st, "zombies"), 0, "exited workers not reaped: %s", st);
        for (int i = 0; i < 6; i++)
                cr_assert(!pid_in_list(st, seen[i]), "%s", st);
        free(st);

        svc_stop(&v, &final);
        cr_assert_eq(field_num(final, "served"), 6, "%s", final);
        cr_assert_eq(field_num(final, "crashed"), 0, "%s", final);
        free(final);
}

Test(pool, service_count_recycling_loses_no_client, .timeout = 60) {
        pool_env e = { .process_limit = "3", .client_limit = "10", .min_avail = "1",
                       .service_count = "5" };
        char *final;
        svc v;

        svc_start(&v, &e);
        for (int round = 0; round < 10; round++) {
                int fds[6];

                for (int i = 0; i < 6; i++)
                        fds[i] = connect_tcp(v.port);
                for (int i = 0; i < 6; i++) {
                        char line[64];

                        cr_assert_gt(read_line(fds[i], line, sizeof(line)), 0,
                                     "round %d client %d: no greeting: %m", round, i);
                        cr_assert_eq(strncmp(line, "hello ", 6), 0);
                        cr_assert_eq(client_pid(fds[i]), atoi(line + 6));
                        cr_assert_eq(send_str(fds[i], "quit\n"), 0);
                        cr_assert_gt(read_line(fds[i], line, sizeof(line)), 0);
                        cr_assert_str_eq(line, "bye\n");
                        close(fds[i]);
                }
        }
        const char *rep = svc_stop(&v, &final);
        cr_assert_eq(field_num(final, "served"), 60, "%s", final);
        cr_assert_geq(field_num(final, "spawned"), 12, "%s", final);
        cr_assert_leq(field_num(final, "workers_max"), 3, "%s", final);
        cr_assert_leq(field_num(final, "max_clients"), 5, "%s", final);
        cr_assert_eq(field_num(final, "crashed"), 0, "%s", final);
        cr_assert(strstr(rep, "service_count (5) reached and every client finished, exiting"));
        free(final);
}

Test(pool, idle_workers_beyond_min_avail_exit, .timeout = 30) {
        pool_env e = { .process_limit = "4", .client_limit = "2", .min_avail = "1",
                       .idle_kill = "1" };
        int fds[8];
        char *st, *st2, *final;
        svc v;

        svc_start(&v, &e);
        for (int i = 0; i < 8; i++)
                fds[i] = client_open(v.port, NULL);
        st = svc_stats(&v);
        cr_assert_eq(field_num(st, "workers"), 4, "%s", st);
        free(st);
        for (int i = 0; i < 8; i++)
                close(fds[i]);

        /* idle_kill 1 s (+ up to 1 s jitter): three go, the min_avail one stays. */
        sleep_sec(3.5);
        st = svc_stats(&v);
        cr_assert_eq(field_num(st, "workers"), 1, "%s", st);
        cr_assert_eq(field_num(st, "avail"), 1, "%s", st);
        sleep_sec(1.5);
        st2 = svc_stats(&v);
        cr_assert_eq(field_num(st2, "workers"), 1, "%s", st2);
        cr_assert_str_eq(strstr(st2, "pids="), strstr(st, "pids="));
        cr_assert_eq(field_num(st2, "spawned"), 4, "%s", st2);
        free(st);
        free(st2);

        const char *rep = svc_stop(&v, &final);
        cr_assert_eq(field_num(final, "crashed"), 0, "%s", final);
        cr_assert_null(strstr(rep, DOVESD_MESSAGE_WORKER_CRASHED), "%s", rep);
        free(final);
}

Test(pool, supervisor_exits_when_idle_without_min_avail, .timeout = 30) {
        pool_env e = { .process_limit = "2", .client_limit = "2", .idle_kill = "1" };
        int fd, status;
        svc v;

        svc_start(&v, &e);
        fd = client_open(v.port, NULL);
        cr_assert_eq(send_str(fd, "quit\n"), 0);
        close(fd);

        /* Nobody signals it: the worker idles out, then the supervisor itself. */
        const char *rep = report_finish(&v.rep, v.pid, &status);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%d\n%s", status, rep);
        cr_assert_eq(report_num(rep, "run"), 0);
        cr_assert(strstr(rep, "|" DOVESD_MESSAGE_IDLE_EXIT
                         "|No workers and no clients for 1 s (idle_kill), exiting\n"), "%s", rep);
        char *final = report_get(rep, "final");
        cr_assert_eq(field_num(final, "spawned"), 1, "%s", final);
        cr_assert_eq(field_num(final, "served"), 1, "%s", final);
        free(final);
        close(v.listen_fd);
}

Test(pool, sigkilled_worker_is_replaced, .timeout = 30) {
        pool_env e = { .process_limit = "4", .client_limit = "10", .min_avail = "2" };
        int fds[20], n = 0;
        pid_t pids[20], a = 0, b = 0;
        char *st = NULL, *final, want[128];
        svc v;

        svc_start(&v, &e);
        /* Clients until two workers hold some (at most client_limit on the first). */
        while (n < 20) {
                fds[n] = client_open(v.port, &pids[n]);
                n++;
                a = pids[0];
                for (int i = 0; i < n; i++)
                        if (pids[i] != a)
                                b = pids[i];
                if (b)
                        break;
        }
        cr_assert_neq(b, 0);

        cr_assert_eq(kill(a, SIGKILL), 0);
        for (int i = 0; i < n; i++) {
                char line[64];

                if (pids[i] == a) {
                        /* gone with its worker */
                        ssize_t k = read_line(fds[i], line, sizeof(line));
                        cr_assert_leq(k, 0);
                } else
                        cr_assert_eq(client_pid(fds[i]), b, "client of %d cut off", b);
        }

        double end = now_sec() + 5;
        do {
                free(st);
                sleep_sec(0.1);
                st = svc_stats(&v);
        } while (field_num(st, "avail") < 2 && now_sec() < end);
        cr_assert_geq(field_num(st, "avail"), 2, "%s", st);
        cr_assert(!pid_in_list(st, a), "%s", st);
        cr_assert(pid_in_list(st, b), "%s", st);
        cr_assert_eq(field_num(st, "crashed"), 1, "%s", st);
        free(st);

        /* The other worker's clients are still served. */
        for (int i = 0; i < n; i++)
                if (pids[i] != a)
                        cr_assert_eq(client_pid(fds[i]), b);
        for (int i = 0; i < n; i++)
                close(fds[i]);

        const char *rep = svc_stop(&v, &final);
        snprintf(want, sizeof(want), "|%s|Worker %d killed by signal 9 (SIGKILL)\n",
                 DOVESD_MESSAGE_WORKER_CRASHED, (int) a);
        cr_assert(strstr(rep, want), "%s", rep);
        free(final);
}

Test(pool, login_overflow_drops_oldest_not_logged_in, .timeout = 30) {
        pool_env e = { .type = "login", .process_limit = "2", .client_limit = "2" };
        pid_t p[8];
        int c[8];
        char line[64], *final;
        svc v;

        svc_start(&v, &e);
        /* c0 c1 on the first worker (not logged in), c2 c3 on the second (logged in). */
        for (int i = 0; i < 4; i++)
                c[i] = client_open(v.port, &p[i]);
        cr_assert_eq(p[0], p[1]);
        cr_assert_eq(p[2], p[3]);
        cr_assert_neq(p[0], p[2]);
        for (int i = 2; i < 4; i++) {
                cr_assert_eq(send_str(c[i], "login\n"), 0);
                cr_assert_gt(read_line(c[i], line, sizeof(line)), 0);
                cr_assert_str_eq(line, "ok\n");
        }

        /* Every process full at process_limit: c4 pushes out c0, the oldest not logged in. */
        c[4] = client_open(v.port, &p[4]);
        cr_assert_eq(p[4], p[0]);
        cr_assert_gt(read_line(c[0], line, sizeof(line)), 0);
        cr_assert_str_eq(line, "bye overflow\n");
        cr_assert_eq(read_line(c[0], line, sizeof(line)), 0);
        cr_assert_eq(client_pid(c[1]), p[1], "c1 dropped before c0");

        /* c5 pushes out c1; logged-in c2, c3 stay. */
        c[5] = client_open(v.port, &p[5]);
        cr_assert_eq(p[5], p[0]);
        cr_assert_gt(read_line(c[1], line, sizeof(line)), 0);
        cr_assert_str_eq(line, "bye overflow\n");
        cr_assert_eq(read_line(c[1], line, sizeof(line)), 0);
        cr_assert_eq(client_pid(c[2]), p[2]);
        cr_assert_eq(client_pid(c[3]), p[3]);
        cr_assert_eq(client_pid(c[4]), p[4]);

        /* Log in everyone: a new client now waits instead of pushing anyone out. */
        for (int i = 4; i < 6; i++) {
                cr_assert_eq(send_str(c[i], "login\n"), 0);
                cr_assert_gt(read_line(c[i], line, sizeof(line)), 0);
        }
        c[6] = connect_tcp(v.port);
        cr_assert(!readable_within(c[6], 1.5), "a logged-in client was pushed out");
        for (int i = 2; i < 6; i++)
                cr_assert_gt(client_pid(c[i]), 0);
        close(c[5]);
        cr_assert_gt(read_line(c[6], line, sizeof(line)), 0);
        cr_assert_eq(strncmp(line, "hello ", 6), 0);

        for (int i = 2; i < 7; i++)
                if (i != 5)
                        close(c[i]);
        const char *rep = svc_stop(&v, &final);
        cr_assert_eq(count_substr(rep, "|" DOVESD_MESSAGE_LOGIN_OVERFLOW "|"), 2, "%s", rep);
        cr_assert_leq(field_num(final, "max_clients"), 2, "%s", final);
        free(final);
}

Test(pool, sighup_replaces_every_worker, .timeout = 60) {
        pool_env e = { .process_limit = "4", .client_limit = "10", .min_avail = "2" };
        pid_t held_pid[4], before[8];
        int held[4], res[2];
        char *st, *final;
        size_t n_before = 0;
        pid_t hammer;
        svc v;

        svc_start(&v, &e);
        for (int i = 0; i < 4; i++)
                held[i] = client_open(v.port, &held_pid[i]);
        st = svc_stats(&v);
        cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
        for (const char *q = strstr(st, "pids=") + 5; *q;) {
                before[n_before++] = atoi(q);
                q += strcspn(q, ",");
                if (*q == ',')
                        q++;
        }
        free(st);
        cr_assert_eq(n_before, 2);

        /* Clients connect without pause while the pool reloads. */
        cr_assert_eq(pipe(res), 0);
        hammer = fork();
        cr_assert_geq(hammer, 0);
        if (hammer == 0) {
                unsigned ok = 0, bad = 0, fresh = 0;
                double end = now_sec() + 2;

                close(res[0]);
                while (now_sec() < end) {
                        struct sockaddr_in a = {
                                .sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                .sin_port = htons(v.port),
                        };
                        struct timeval tv = { .tv_sec = 5 };
                        char line[64];
                        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

                        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                        if (connect(fd, (struct sockaddr *) &a, sizeof(a)) < 0 ||
                            read_line(fd, line, sizeof(line)) <= 0 ||
                            strncmp(line, "hello ", 6) != 0 ||
                            send_str(fd, "quit\n") < 0 ||
                            read_line(fd, line, sizeof(line)) <= 0 ||
                            strcmp(line, "bye\n") != 0)
                                bad++;
                        else {
                                ok++;
                        }
                        close(fd);
                        (void) fresh;
                }
                dprintf(res[1], "%u %u\n", ok, bad);
                _exit(0);
        }
        close(res[1]);
        sleep_sec(0.3);
        cr_assert_eq(kill(v.pid, SIGHUP), 0);

        unsigned ok = 0, bad = 0;
        char buf[64] = "";
        cr_assert_gt(read(res[0], buf, sizeof(buf) - 1), 0);
        cr_assert_eq(sscanf(buf, "%u %u", &ok, &bad), 2);
        waitpid(hammer, NULL, 0);
        close(res[0]);
        cr_assert_eq(bad, 0, "%u of %u connections failed during the reload", bad, ok + bad);
        cr_assert_gt(ok, 10);

        /* Clients of the old workers are not cut off. */
        for (int i = 0; i < 4; i++)
                cr_assert_eq(client_pid(held[i]), held_pid[i]);
        for (int i = 0; i < 4; i++)
                close(held[i]);

        /* Their last clients gone, the old workers exit; only new ones remain. */
        double end = now_sec() + 5;
        bool replaced = false;
        st = NULL;
        while (!replaced && now_sec() < end) {
                free(st);
                sleep_sec(0.1);
                st = svc_stats(&v);
                replaced = !pid_in_list(st, before[0]) && !pid_in_list(st, before[1]) &&
                        field_num(st, "avail") >= 2;
        }
        cr_assert(replaced, "%s", st);
        cr_assert_leq(field_num(st, "workers_max"), 4, "%s", st);
        free(st);

        const char *rep = svc_stop(&v, &final);
        cr_assert_not_null(strstr(rep, "reload="));
        cr_assert(strstr(rep, "Reloaded, replacing the workers"), "%s", rep);
        cr_assert_eq(field_num(final, "crashed"), 0, "%s", final);
        free(final);
}

/* A reload callback that fails leaves the running workers in place. */
Test(pool, failed_reload_keeps_the_workers, .timeout = 30) {
        pool_env e = { .process_limit = "4", .client_limit = "10", .min_avail = "2" };
        char *st, *final;
        pid_t before[2];
        size_t n = 0;
        svc v;

        setenv("TEST_RELOAD_FAIL", "1", 1);
        svc_start(&v, &e);
        unsetenv("TEST_RELOAD_FAIL");
        st = svc_stats(&v);
        cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
        for (const char *q = strstr(st, "pids=") + 5; *q && n < 2;) {
                before[n++] = atoi(q);
                q += strcspn(q, ",");
                if (*q == ',')
                        q++;
        }
        free(st);
        cr_assert_eq(n, 2);

        cr_assert_eq(kill(v.pid, SIGHUP), 0);
        free(report_wait(&v.rep, "Reload failed, keeping the workers", 10, NULL));
        sleep_sec(1);
        st = svc_stats(&v);
        cr_assert(pid_in_list(st, before[0]) && pid_in_list(st, before[1]), "%s", st);
        cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
        free(st);

        const char *rep = svc_stop(&v, &final);
        cr_assert_null(strstr(rep, "replacing the workers"), "%s", rep);
        free(final);
}

Test(pool, crashing_workers_throttle_startups, .timeout = 30) {
        pool_env e = { .process_limit = "2", .client_limit = "5" };
        int fds[60];
        char *t1, *t2, *final;
        size_t pos = 0;
        svc v;

        setenv("TEST_CRASH", "1", 1);
        svc_start(&v, &e);
        unsetenv("TEST_CRASH");
        for (int i = 0; i < 60; i++)
                fds[i] = connect_tcp(v.port);

        t1 = report_wait(&v.rep, "log=", 0, &pos);
        free(t1);
        pos = 0;
        do {
                t1 = report_wait(&v.rep, "log=", 5, &pos);
                cr_assert_not_null(t1, "no throttling:\n%s", v.rep.buf);
        } while (!strstr(t1, "throttling"));
        cr_assert(strstr(t1, "|" DOVESD_MESSAGE_WORKER_CRASHED
                         "|Workers failed 11 times within a second, throttling start-ups for 2 s"),
                  "%s", t1);

        /* No worker starts during the 2 s; then the next round fails and doubles it. */
        do {
                t2 = report_wait(&v.rep, "log=", 6, &pos);
                cr_assert_not_null(t2, "no second throttling:\n%s", v.rep.buf);
                if (strstr(t2, "Started worker"))
                        cr_assert_geq(strtod(t2 + 4, NULL), strtod(t1 + 4, NULL) + 1.9,
                                      "%s after %s", t2, t1);
        } while (!strstr(t2, "throttling"));
        cr_assert(strstr(t2, "throttling start-ups for 4 s"), "%s", t2);

        for (int i = 0; i < 60; i++)
                close(fds[i]);
        const char *rep = svc_stop(&v, &final);
        cr_assert_eq(field_num(final, "throttled"), 2, "%s", final);
        cr_assert_geq(field_num(final, "crashed"), 22, "%s", final);
        cr_assert(strstr(rep, "exited with status 3\n"), "%s", rep);
        free(t1);
        free(t2);
        free(final);
}

/* 10,000 connections through client_limit 100 × process_limit 8, from 10 client processes
 * holding 90 connections each (900 > 800 slots: the pool is driven to its limit). */
Test(pool, ten_thousand_connections, .timeout = 120) {
        pool_env e = { .process_limit = "8", .client_limit = "100" };
        enum { N_PROC = 10, PER_PROC = 1000, WINDOW = 90 };
        pid_t kids[N_PROC];
        int res[2];
        char *final;
        double t0;
        svc v;

        svc_start(&v, &e);
        cr_assert_eq(pipe(res), 0);
        t0 = now_sec();
        for (int k = 0; k < N_PROC; k++) {
                kids[k] = fork();
                cr_assert_geq(kids[k], 0);
                if (kids[k] == 0) {
                        unsigned ok = 0, done = 0;

                        close(res[0]);
                        while (done < PER_PROC) {
                                int fds[WINDOW], m = 0;

                                for (; m < WINDOW && done + m < PER_PROC; m++) {
                                        struct sockaddr_in a = {
                                                .sin_family = AF_INET,
                                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                                .sin_port = htons(v.port),
                                        };
                                        struct timeval tv = { .tv_sec = 20 };

                                        fds[m] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                                        setsockopt(fds[m], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                                        if (connect(fds[m], (struct sockaddr *) &a, sizeof(a)) < 0) {
                                                close(fds[m]);
                                                fds[m] = -1;
                                        }
                                }
                                /* All greeted first, then all closed: 900 held at once. */
                                for (int i = 0; i < m; i++) {
                                        char line[64];

                                        if (fds[i] >= 0 && read_line(fds[i], line, sizeof(line)) > 0 &&
                                            strncmp(line, "hello ", 6) == 0)
                                                ok++;
                                }
                                for (int i = 0; i < m; i++)
                                        if (fds[i] >= 0)
                                                close(fds[i]);
                                done += m;
                        }
                        dprintf(res[1], "%u\n", ok);
                        _exit(0);
                }
        }
        close(res[1]);

        unsigned total = 0;
        FILE *f = fdopen(res[0], "r");
        for (int k = 0; k < N_PROC; k++) {
                unsigned ok;

                cr_assert_eq(fscanf(f, "%u", &ok), 1);
                total += ok;
        }
        fclose(f);
        for (int k = 0; k < N_PROC; k++)
                waitpid(kids[k], NULL, 0);
        double wall = now_sec() - t0;

        svc_stop(&v, &final);
        fprintf(stderr, "# pool: %u connections in %.2f s (%.0f/s); %s\n", total, wall,
                total / wall, final);
        cr_assert_eq(total, N_PROC * PER_PROC);
        cr_assert_eq(field_num(final, "served"), N_PROC * PER_PROC, "%s", final);
        cr_assert_leq(field_num(final, "max_clients"), 100, "%s", final);
        cr_assert_leq(field_num(final, "workers_max"), 8, "%s", final);
        cr_assert_eq(field_num(final, "crashed"), 0, "%s", final);
        free(final);
}

Test(pool, sigterm_stops_workers_gracefully, .timeout = 30) {
        pool_env e = { .process_limit = "2", .client_limit = "5", .min_avail = "1" };
        char line[64], *final;
        pid_t pid;
        int fd;
        svc v;

        svc_start(&v, &e);
        fd = client_open(v.port, &pid);
        cr_assert_eq(kill(v.pid, SIGTERM), 0);

        /* Within the grace period (2 s here) the client is still served ... */
        sleep_sec(0.3);
        cr_assert_eq(client_pid(fd), pid);
        /* ... then closed by its worker, and the supervisor exits 0 once the workers are gone. */
        cr_assert(readable_within(fd, 6));
        cr_assert_leq(read_line(fd, line, sizeof(line)), 0);
        close(fd);

        const char *rep = svc_stop(&v, &final);
        cr_assert(strstr(rep, "|" DOVESD_MESSAGE_STOP_TIMEOUT
                         "|1 clients still connected after the stop timeout, closing them\n"),
                  "%s", rep);
        cr_assert_eq(field_num(final, "workers"), 0, "%s", final);
        cr_assert_eq(field_num(final, "crashed"), 0, "%s", final);
        free(final);
}

/* READY=1 only once process_min_avail workers are up; RELOADING=1 … READY=1 on SIGHUP;
 * STATUS= aggregates the pool; STOPPING=1 on SIGTERM. */
Test(pool, sd_notify_from_the_supervisor, .timeout = 30) {
        pool_env e = { .process_limit = "3", .client_limit = "4", .min_avail = "2",
                       .keep_notify = true };
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        char msgs[64][256];
        size_t n = 0, ready = SIZE_MAX, reloading = SIZE_MAX, ready2 = SIZE_MAX, stopping = SIZE_MAX,
                status2 = SIZE_MAX;
        int nfd, fd;
        svc v;

        snprintf(a.sun_path, sizeof(a.sun_path), "/tmp/dovesd-pool-notify-%d", (int) getpid());
        unlink(a.sun_path);
        nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(nfd, 0);
        cr_assert_eq(bind(nfd, (struct sockaddr *) &a, sizeof(a)), 0);
        setenv("NOTIFY_SOCKET", a.sun_path, 1);
        svc_start(&v, &e);
        unsetenv("NOTIFY_SOCKET");

        /* Read until a condition; at most 64 messages. */
#define READ_UNTIL(cond)                                                                \
        while (!(cond) && n < 64 && readable_within(nfd, 5)) {                          \
                ssize_t k = recv(nfd, msgs[n], sizeof(msgs[n]) - 1, 0);                 \
                cr_assert_gt(k, 0);                                                     \
                msgs[n][k] = '\0';                                                      \
                if (strcmp(msgs[n], "READY=1") == 0 && ready == SIZE_MAX)               \
                        ready = n;                                                      \
                else if (strcmp(msgs[n], "READY=1") == 0 && reloading != SIZE_MAX)      \
                        ready2 = n;                                                     \
                else if (strcmp(msgs[n], "RELOADING=1") == 0)                           \
                        reloading = n;                                                  \
                else if (strcmp(msgs[n], "STOPPING=1") == 0)                            \
                        stopping = n;                                                   \
                else if (strncmp(msgs[n], "STATUS=", 7) == 0 && ready2 != SIZE_MAX)    \
                        status2 = n;                                                    \
                n++;                                                                    \
        }

        READ_UNTIL(ready != SIZE_MAX);
        cr_assert_neq(ready, SIZE_MAX, "no READY=1");
        /* Not before the workers are up: the STATUS= of their start comes first. */
        cr_assert_gt(ready, 0, "%s %s %s", msgs[0], n > 1 ? msgs[1] : "", n > 2 ? msgs[2] : "");
        cr_assert_eq(strncmp(msgs[0], "STATUS=2 workers, ", 18), 0, "%s", msgs[0]);
        char *st = svc_stats(&v);
        cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
        free(st);

        fd = client_open(v.port, NULL);
        cr_assert_eq(kill(v.pid, SIGHUP), 0);
        /* the STATUS= after the reload still counts the client */
        READ_UNTIL(status2 != SIZE_MAX);
        cr_assert_neq(reloading, SIZE_MAX);
        cr_assert_neq(ready2, SIZE_MAX);
        cr_assert_lt(reloading, ready2);
        cr_assert_neq(status2, SIZE_MAX);
        close(fd);

        cr_assert_eq(kill(v.pid, SIGTERM), 0);
        READ_UNTIL(stopping != SIZE_MAX);
        cr_assert_neq(stopping, SIZE_MAX);
        svc_stop(&v, NULL);
#undef READ_UNTIL

        /* The first STATUS= already counts the two workers being started. */
        bool two = false, with_client = false;
        for (size_t i = 0; i < n; i++) {
                if (strncmp(msgs[i], "STATUS=", 7) != 0)
                        continue;
                cr_assert(strstr(msgs[i], " workers, ") && strstr(msgs[i], " clients, ") &&
                          strstr(msgs[i], " free slots, ") && strstr(msgs[i], " served"),
                          "%s", msgs[i]);
                two = two || strncmp(msgs[i], "STATUS=2 workers, 0 clients, 8 free slots", 41) == 0;
                with_client = with_client || strstr(msgs[i], " 1 clients, ");
        }
        cr_assert(two, "no STATUS= with 2 workers and 8 free slots");
        if (!with_client)
                for (size_t i = 0; i < n; i++)
                        fprintf(stderr, "msg %zu: %s\n", i, msgs[i]);
        cr_assert(with_client, "no STATUS= with the client");
        close(nfd);
        unlink(a.sun_path);
}

/* At process_limit a reload cannot start a replacement first: it retires one old worker at a
 * time (the other keeps serving); each exit makes room for a new one. */
Test(pool, sighup_at_process_limit_replaces_one_at_a_time, .timeout = 30) {
        pool_env e = { .process_limit = "2", .client_limit = "10", .min_avail = "2" };
        pid_t a, b = 0, pa[20];
        int fds[20], n = 0, fa = -1, fb = -1;
        char *st = NULL;
        svc v;

        svc_start(&v, &e);
        /* one held client on each of the two workers */
        while (n < 20 && (fa < 0 || fb < 0)) {
                fds[n] = client_open(v.port, &pa[n]);
                if (fa < 0)
                        fa = n, a = pa[n];
                else if (pa[n] != a && fb < 0)
                        fb = n, b = pa[n];
                n++;
        }
        cr_assert(fa >= 0 && fb >= 0);
        for (int i = 0; i < n; i++)
                if (i != fa && i != fb)
                        close(fds[i]);

        cr_assert_eq(kill(v.pid, SIGHUP), 0);
        sleep_sec(0.3);
        /* Only one of them stops accepting; both clients are served; new clients too. */
        st = svc_stats(&v);
        cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
        cr_assert_eq(field_num(st, "avail"), 1, "%s", st);
        free(st);
        st = NULL;
        cr_assert_eq(client_pid(fds[fa]), a);
        cr_assert_eq(client_pid(fds[fb]), b);
        for (int i = 0; i < 5; i++) {
                int fd = client_open(v.port, NULL);
                close(fd);
        }

        /* The clients leave: both old workers end up replaced. */
        close(fds[fa]);
        close(fds[fb]);
        double end = now_sec() + 5;
        bool replaced = false;
        while (!replaced && now_sec() < end) {
                free(st);
                sleep_sec(0.1);
                st = svc_stats(&v);
                replaced = !pid_in_list(st, a) && !pid_in_list(st, b) &&
                        field_num(st, "avail") == 2;
        }
        cr_assert(replaced, "%s", st);
        cr_assert_eq(field_num(st, "workers_max"), 2, "%s", st);
        free(st);
        svc_stop(&v, NULL);
}
