/* SPDX-License-Identifier: MIT */

/*
 * libdovesd with real sockets handed over the way systemd does it: every case forks a child
 * that gets its fds at 3…, LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES and DOVESD_*, runs the
 * library and writes "key=value" lines to a report pipe; the test process plays the clients
 * and asserts on what they saw and on the report.
 */

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dovesd.h"
#include "ids.h"
#include "internal.h"
#include "testlib.h"

/* ---- plumbing (spawning, the report, sockets: tests/lib/testlib.[ch]) ---------------------- */

/* Wait for the child and return everything it reported, for the caller to free. */
static char *finish(pid_t pid, report *r) {
        (void) report_finish(r, pid, NULL);
        return TAKE_PTR(r->buf);
}

static void log_to_report(const dovesd_log_record *rec, void *userdata) {
        report_line("log=%s|%s|%s|%s", rec->message_id ?: "-", rec->listener ?: "-",
                    rec->client ?: "-", rec->message);
}

/* Wait (up to 30 s) until the program has accepted every queued connection of the listening
 * socket LFD (its accept queue, tcpi_unacked, is empty): a fixed sleep is not enough when the
 * child starts slowly, e.g. under valgrind. */
static void wait_accepted(int lfd) {
        for (int i = 0; i < 3000; i++) {
                struct tcp_info ti = {};
                socklen_t l = sizeof(ti);

                cr_assert_eq(getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &l), 0);
                if (ti.tcpi_unacked == 0)
                        return;
                usleep(10 * 1000);
        }
        cr_assert_fail("the program did not accept the connection within 30 s");
}

static void env_base(const char *service, const char *listeners, const char *client_limit) {
        setenv("DOVESD_SERVICE", service, 1);
        setenv("DOVESD_LISTENERS", listeners, 1);
        setenv("DOVESD_CLIENT_LIMIT", client_limit, 1);
        unsetenv("NOTIFY_SOCKET");
}

/* Apply "NAME=VALUE" lines separated by '\n' to the environment; "NAME" alone unsets. */
static void env_apply(const char *vars) {
        char *copy = strdup(vars), *saveptr = NULL;

        cr_assert_not_null(copy);
        for (char *line = strtok_r(copy, "\n", &saveptr); line; line = strtok_r(NULL, "\n", &saveptr)) {
                char *eq = strchr(line, '=');
                if (eq) {
                        *eq = '\0';
                        setenv(line, eq + 1, 1);
                } else
                        unsetenv(line);
        }
        free(copy);
}

/* ---- a small program on top of the library -------------------------------------------- */

typedef struct prog {
        dovesd_service *s;
        uint64_t hold_usec;             /* keep each client this long, then answer and close */
        unsigned max_clients;
        bool close_on_stop;             /* stop callback closes every client */
        bool read_first;                /* echo the first line the client sent */
        dovesd_conn *conns[64];
        unsigned n_conns;
        bool stop_on_fifo;
} prog;

static void prog_forget(prog *p, dovesd_conn *c) {
        for (unsigned i = 0; i < p->n_conns; i++)
                if (p->conns[i] == c) {
                        p->conns[i] = p->conns[--p->n_conns];
                        return;
                }
}

static void answer_and_close(prog *p, dovesd_conn *c) {
        char msg[512], first[128] = "";
        sd_event_source *t = dovesd_conn_get_userdata(c);

        if (p->read_first) {
                ssize_t k = read(dovesd_conn_get_fd(c), first, sizeof(first) - 1);
                first[k > 0 ? k : 0] = '\0';
                first[strcspn(first, "\r\n")] = '\0';
        }
        snprintf(msg, sizeof(msg), "served %s %s local=%s proxied=%d alpn=%s authority=%s ssl=%d cn=%s first=%s\n",
                 dovesd_conn_get_listener(c), dovesd_conn_get_remote_str(c),
                 dovesd_conn_get_local_str(c), dovesd_conn_is_proxied(c),
                 dovesd_conn_get_proxy_alpn(c) ?: "-", dovesd_conn_get_proxy_authority(c) ?: "-",
                 dovesd_conn_get_proxy_ssl(c), dovesd_conn_get_proxy_ssl_cn(c) ?: "-", first);
        (void) write(dovesd_conn_get_fd(c), msg, strlen(msg));
        sd_event_source_disable_unref(t);
        prog_forget(p, c);
        dovesd_conn_close(c);
}

static prog *the_prog;

static int hold_done(sd_event_source *src, uint64_t usec, void *userdata) {
        answer_and_close(the_prog, userdata);
        return 0;
}

static int prog_connection(dovesd_conn *c, void *userdata) {
        prog *p = userdata;
        unsigned n = dovesd_service_get_clients(p->s);
        sd_event_source *t = NULL;

        if (n > p->max_clients)
                p->max_clients = n;
        if (p->n_conns < ELEMENTSOF(p->conns))
                p->conns[p->n_conns++] = c;
        if (p->hold_usec == 0) {
                dovesd_conn_set_userdata(c, NULL);
                answer_and_close(p, c);
                return 0;
        }
        cr_assert_geq(sd_event_add_time_relative(dovesd_service_get_event(p->s), &t,
                                                 CLOCK_MONOTONIC, p->hold_usec, 0, hold_done, c), 0);
        dovesd_conn_set_userdata(c, t);
        return 0;
}

static void prog_disconnect(dovesd_conn *c, void *userdata) {
        prog *p = userdata;

        report_line("disconnect=%s", dovesd_conn_get_remote_str(c));
        sd_event_source_disable_unref(dovesd_conn_get_userdata(c));
        prog_forget(p, c);
}

static void prog_stop(dovesd_service *s, void *userdata) {
        prog *p = userdata;

        report_line("stop=1");
        if (p->close_on_stop)
                while (p->n_conns > 0)
                        answer_and_close(p, p->conns[0]);
}

static void prog_overflow(dovesd_conn *c, void *userdata) {
        report_line("overflow=%s", dovesd_conn_get_remote_str(c));
        (void) write(dovesd_conn_get_fd(c), "bye\n", 4);
}

static int prog_reload(dovesd_service *s, void *userdata) {
        report_line("reload=1");
        return 0;
}

static int prog_fifo(dovesd_service *s, const char *listener, int fd, void *userdata) {
        prog *p = userdata;
        char buf[256];
        ssize_t k = read(fd, buf, sizeof(buf) - 1);

        if (k > 0) {
                buf[k] = '\0';
                buf[strcspn(buf, "\n")] = '\0';
                report_line("fifo=%s:%s", listener, buf);
        }
        if (p->stop_on_fifo)
                (void) dovesd_service_stop(s);
        return 0;
}

static int prog_main(void *arg) {
        prog *p = arg;
        char *error = NULL;
        int r;

        the_prog = p;
        r = dovesd_service_new(&p->s, &error);
        report_line("new=%d", r);
        if (r < 0) {
                report_line("error=%s", error ?: "(null)");
                free(error);
                return 0;
        }
        dovesd_service_set_log_callback(p->s, log_to_report, NULL);
        report_line("per_connection=%d", dovesd_service_is_per_connection(p->s));
        report_line("client_limit=%u", dovesd_service_get_client_limit(p->s));
        report_line("n_listeners=%zu", dovesd_service_get_n_listeners(p->s));
        (void) dovesd_service_set_stop_timeout(p->s, 300 * USEC_PER_MSEC);

        dovesd_callbacks cb = {
                .connection = prog_connection,
                .disconnect = prog_disconnect,
                .stop = prog_stop,
                .fifo_readable = prog_fifo,
                .overflow = prog_overflow,
                .reload = prog_reload,
        };
        r = dovesd_service_run(p->s, &cb, p);
        report_line("run=%d", r);
        report_line("served=%llu", (unsigned long long) dovesd_service_get_served(p->s));
        report_line("max_clients=%u", p->max_clients);
        report_line("clients_after=%u", dovesd_service_get_clients(p->s));
        dovesd_service_unref(p->s);
        return 0;
}

/* ---- environment and fds: malformed input is rejected with a message naming it ------------ */

/* Inline arrays, not pointers: Criterion runs each case in a re-executed process. */
typedef struct env_case {
        char vars[96];          /* "NAME=VALUE" separated by '\n'; "NAME" alone unsets */
        char fds[48];           /* kinds at fd 3…, ',' separated: tcp udp unix fifo file pair conn */
        char names[48];         /* LISTEN_FDNAMES entries, ':' separated */
        char error[128];        /* "": must succeed */
} env_case;

static env_case env_cases[] = {
        { "DOVESD_SERVICE", "", "", "DOVESD_SERVICE is not set" },
        { "DOVESD_CLIENT_LIMIT", "", "", "DOVESD_CLIENT_LIMIT is not set" },
        { "DOVESD_CLIENT_LIMIT=abc", "", "", "DOVESD_CLIENT_LIMIT: invalid number 'abc'" },
        { "DOVESD_CLIENT_LIMIT=-1", "", "", "DOVESD_CLIENT_LIMIT: invalid number '-1'" },
        { "DOVESD_CLIENT_LIMIT=", "", "", "DOVESD_CLIENT_LIMIT: invalid number ''" },
        { "DOVESD_CLIENT_LIMIT=0", "", "", "DOVESD_CLIENT_LIMIT: must be at least 1, got '0'" },
        { "DOVESD_CLIENT_LIMIT=99999999999", "", "", "DOVESD_CLIENT_LIMIT: number too large '99999999999'" },
        { "DOVESD_SERVICE_COUNT=5x", "", "", "DOVESD_SERVICE_COUNT: invalid number '5x'" },
        { "DOVESD_PROCESS_LIMIT=0", "", "", "DOVESD_PROCESS_LIMIT: must be at least 1, got '0'" },
        { "DOVESD_PROCESS_MIN_AVAIL= 1", "", "", "DOVESD_PROCESS_MIN_AVAIL: invalid number ' 1'" },
        { "DOVESD_IDLE_KILL=1m", "", "", "DOVESD_IDLE_KILL: invalid number '1m'" },
        { "DOVESD_HAPROXY_TIMEOUT=0", "", "", "DOVESD_HAPROXY_TIMEOUT: must be at least 1, got '0'" },
        { "DOVESD_TYPE=daemon", "", "", "DOVESD_TYPE: unknown service type 'daemon'" },
        { "DOVESD_LISTENERS=imap:tls", "", "", "DOVESD_LISTENERS: unknown flag 'tls' for listener 'imap'" },
        { "DOVESD_LISTENERS=imap;imap:ssl", "", "", "DOVESD_LISTENERS: duplicate listener 'imap'" },
        { "DOVESD_LISTENERS=;imap", "", "", "DOVESD_LISTENERS: empty listener name in ';imap'" },
        { "DOVESD_CHROOT=var/empty", "", "", "DOVESD_CHROOT: not an absolute path: 'var/empty'" },
        { "DOVESD_HAPROXY_TRUSTED_NETWORKS=10.0.0.0/8 10.0.0.0/33", "", "",
          "DOVESD_HAPROXY_TRUSTED_NETWORKS: Invalid network '10.0.0.0/33'" },
        { "DOVESD_LISTENERS=imap", "", "", "listener 'imap': no file descriptor named 'imap' in LISTEN_FDNAMES" },
        { "DOVESD_LISTENERS=imap;pop3", "tcp", "imap",
          "listener 'pop3': no file descriptor named 'pop3' in LISTEN_FDNAMES" },
        { "DOVESD_LISTENERS=imap", "tcp,tcp", "imap:pop3",
          "fd 4 named 'pop3' matches no listener in DOVESD_LISTENERS" },
        { "DOVESD_LISTENERS=imap", "udp", "imap",
          "listener 'imap' (fd 3): expected a listening stream socket or a FIFO, got a datagram socket" },
        { "DOVESD_LISTENERS=imap", "file", "imap",
          "listener 'imap' (fd 3): expected a listening stream socket or a FIFO, got a regular file" },
        { "DOVESD_LISTENERS=imap", "pair", "imap",
          "listener 'imap' (fd 3): expected a listening stream socket or a FIFO, got a connected stream socket" },
        { "DOVESD_LISTENERS=log:ssl", "fifo", "log", "listener 'log' (fd 3): ssl needs an inet socket, got a FIFO" },
        { "DOVESD_LISTENERS=auth:haproxy", "unix", "auth",
          "listener 'auth' (fd 3): haproxy needs an inet socket, got a unix socket" },
        /* the per-connection name of old Accept=yes units means nothing any more */
        { "DOVESD_LISTENERS=imap", "conn", "connection",
          "fd 3 named 'connection' matches no listener in DOVESD_LISTENERS" },
        { "DOVESD_LISTENERS=", "conn", "connection",
          "fd 3 named 'connection' matches no listener in DOVESD_LISTENERS" },
        /* contradictory settings, as doveconf refuses them (issue 16, item 6) */
        { "DOVESD_PROCESS_MIN_AVAIL=9\nDOVESD_PROCESS_LIMIT=3", "", "",
          "DOVESD_PROCESS_MIN_AVAIL (9) is higher than DOVESD_PROCESS_LIMIT (3)" },
        { "DOVESD_PROCESS_MIN_AVAIL=2\nDOVESD_PROCESS_LIMIT", "", "",
          "DOVESD_PROCESS_MIN_AVAIL (2) is higher than DOVESD_PROCESS_LIMIT (1)" },
        /* accepted */
        { "DOVESD_PROCESS_MIN_AVAIL=3\nDOVESD_PROCESS_LIMIT=3", "", "", "" },
        { "DOVESD_LISTENERS=imap;imaps:ssl:haproxy;log;auth", "tcp,tcp,tcp,fifo,unix",
          "imap:imap:imaps:log:auth", "" },
        { "DOVESD_LISTENERS=", "", "", "" },
};

static int env_child(void *arg) {
        char *error = NULL;
        dovesd_service *s = NULL;
        int r = dovesd_service_new(&s, &error);

        report_line("new=%d", r);
        report_line("error=%s", error ?: "");
        report_line("ptr=%d", s != NULL);
        if (s) {
                report_line("per_connection=%d", dovesd_service_is_per_connection(s));
                report_line("n_listeners=%zu", dovesd_service_get_n_listeners(s));
                report_line("listen_fds_env=%s", getenv("LISTEN_FDS") ?: "unset");
        }
        free(error);
        dovesd_service_unref(s);
        return 0;
}

static int make_fd(const char *kind, const char *dir, int i) {
        unsigned port;
        int fd, sv[2];

        if (strcmp(kind, "tcp") == 0)
                return listen_tcp(16, &port);
        if (strcmp(kind, "udp") == 0)
                return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (strcmp(kind, "file") == 0) {
                char path[256];
                snprintf(path, sizeof(path), "%s/file%d", dir, i);
                return open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        }
        if (strcmp(kind, "pair") == 0) {
                cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
                return sv[0];
        }
        if (strcmp(kind, "fifo") == 0) {
                char path[256];
                snprintf(path, sizeof(path), "%s/fifo%d", dir, i);
                cr_assert_eq(mkfifo(path, 0600), 0);
                return open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        }
        if (strcmp(kind, "unix") == 0) {
                struct sockaddr_un a = { .sun_family = AF_UNIX };
                snprintf(a.sun_path, sizeof(a.sun_path), "%s/sock%d", dir, i);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                cr_assert_eq(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
                cr_assert_eq(listen(fd, 4), 0);
                return fd;
        }
        if (strcmp(kind, "conn") == 0) {
                int l = listen_tcp(4, &port), c = connect_tcp(port);
                fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
                close(l);
                (void) c;       /* kept open: the peer of the connection */
                return fd;
        }
        cr_assert_fail("unknown fd kind %s", kind);
        return -1;
}

ParameterizedTestParameters(libdovesd, environment) {
        return cr_make_param_array(env_case, env_cases, ELEMENTSOF(env_cases));
}

ParameterizedTest(env_case *c, libdovesd, environment) {
        char dir[] = "/tmp/test-libdovesd-XXXXXX", *rep, *v;
        svc_fd fds[8];
        size_t n = 0;
        report rpt;
        pid_t pid;

        cr_assert_not_null(mkdtemp(dir));
        env_base("imap", "", "10");
        env_apply(c->vars);
        if (c->fds[0]) {
                char *kinds = strdup(c->fds), *names = strdup(c->names), *sp1 = NULL, *sp2 = NULL;
                char *k = strtok_r(kinds, ",", &sp1), *nm = strtok_r(names, ":", &sp2);

                for (; k && nm; k = strtok_r(NULL, ",", &sp1), nm = strtok_r(NULL, ":", &sp2)) {
                        fds[n].fd = make_fd(k, dir, (int) n);
                        cr_assert_geq(fds[n].fd, 0);
                        fds[n].name = strdup(nm);
                        n++;
                }
                free(kinds);
                free(names);
        }

        pid = spawn_service(fds, n, env_child, NULL, &rpt);
        rep = finish(pid, &rpt);
        v = report_get(rep, "error");
        if (c->error[0]) {
                cr_expect_eq(report_num(rep, "new"), -EINVAL, "vars %s: %s", c->vars, rep);
                cr_expect_str_eq(v, c->error, "vars %s", c->vars);
                cr_expect_eq(report_num(rep, "ptr"), 0);
        } else {
                cr_expect_eq(report_num(rep, "new"), 0, "vars %s: %s", c->vars, rep);
                cr_expect_str_eq(v, "");
                cr_expect_eq(report_num(rep, "ptr"), 1);
                free(v);
                v = report_get(rep, "listen_fds_env");
                cr_expect_str_eq(v, "unset", "LISTEN_FDS must be removed from the environment");
        }
        free(v);
        free(rep);
        for (size_t i = 0; i < n; i++)
                free((char *) fds[i].name);
}

Test(libdovesd, environment_values) {
        unsigned port;
        svc_fd fds[2];
        report rpt;
        char *rep;

        env_base("imap", "imap;imaps:ssl", "1000");
        setenv("DOVESD_SERVICE_COUNT", "7", 1);         /* caps client_limit, as Dovecot */
        fds[0] = (svc_fd) { listen_tcp(4, &port), "imaps" };
        fds[1] = (svc_fd) { listen_tcp(4, &port), "imap" };
        pid_t pid_ = spawn_service(fds, 2, env_child, NULL, &rpt);
        rep = finish(pid_, &rpt);
        cr_assert_eq(report_num(rep, "new"), 0, "%s", rep);
        cr_assert_eq(report_num(rep, "n_listeners"), 2);
        cr_assert_eq(report_num(rep, "per_connection"), 0);
        free(rep);

        prog p = { .hold_usec = 0 };
        setenv("DOVESD_IDLE_KILL", "1", 1);
        pid_ = spawn_service(fds, 2, prog_main, &p, &rpt);
        rep = finish(pid_, &rpt);
        cr_assert_eq(report_num(rep, "client_limit"), 7, "%s", rep);
        free(rep);
}

/* ---- accepting and limits ------------------------------------------------------------- */

Test(libdovesd, client_limit_never_exceeded_none_refused) {
        enum { LIMIT = 3, CLIENTS = 10 * LIMIT };
        unsigned port;
        int lfd = listen_tcp(128, &port), cfd[CLIENTS], served = 0;
        report rpt;
        svc_fd fds[] = { { lfd, "imap" } };
        prog p = { .hold_usec = 30 * USEC_PER_MSEC };
        char line[512], *rep;
        pid_t pid;

        env_base("imap", "imap", "3");
        setenv("DOVESD_IDLE_KILL", "1", 1);
        pid = spawn_service(fds, 1, prog_main, &p, &rpt);

        for (int i = 0; i < CLIENTS; i++)
                cfd[i] = connect_tcp(port);     /* asserts: nobody is refused */
        for (int i = 0; i < CLIENTS; i++) {
                ssize_t k = read_line(cfd[i], line, sizeof(line));

                cr_expect_gt(k, 0, "client %d got no answer (%s)", i, k < 0 ? strerror(errno) : "EOF");
                if (k > 0 && strncmp(line, "served imap 127.0.0.1:", 22) == 0)
                        served++;
                close(cfd[i]);
        }
        rep = finish(pid, &rpt);
        cr_expect_eq(served, CLIENTS);
        cr_expect_eq(report_num(rep, "run"), 0, "%s", rep);
        cr_expect_eq(report_num(rep, "served"), CLIENTS);
        cr_expect_leq(report_num(rep, "max_clients"), LIMIT, "client_limit exceeded");
        cr_expect_eq(report_num(rep, "max_clients"), LIMIT, "the limit was never reached");
        cr_expect_not_null(strstr(rep, "log=" DOVESD_MESSAGE_LIMIT_REACHED "|-|-|client_limit (3) reached"),
                           "%s", rep);
        cr_expect_not_null(strstr(rep, "log=" DOVESD_MESSAGE_IDLE_EXIT "|"), "%s", rep);
        free(rep);
}

Test(libdovesd, service_count_exact_and_nobody_lost) {
        enum { COUNT = 5, CLIENTS = 8 };
        unsigned port;
        int lfd = listen_tcp(64, &port), cfd[CLIENTS];
        report rpt;
        svc_fd fds[] = { { lfd, "pop3" } };
        prog p = { .hold_usec = 10 * USEC_PER_MSEC };
        char line[512], *rep;
        pid_t pid;

        env_base("pop3", "pop3", "100");
        setenv("DOVESD_SERVICE_COUNT", "5", 1);
        pid = spawn_service(fds, 1, prog_main, &p, &rpt);
        for (int i = 0; i < CLIENTS; i++)
                cfd[i] = connect_tcp(port);
        for (int i = 0; i < COUNT; i++)
                cr_expect_gt(read_line(cfd[i], line, sizeof(line)), 0, "client %d", i);
        rep = finish(pid, &rpt);
        cr_expect_eq(report_num(rep, "run"), 0, "%s", rep);
        cr_expect_eq(report_num(rep, "served"), COUNT);
        cr_expect_eq(report_num(rep, "client_limit"), COUNT);
        cr_expect_not_null(strstr(rep, "log=" DOVESD_MESSAGE_SERVICE_COUNT_EXIT "|-|-|service_count (5) reached"),
                           "%s", rep);
        free(rep);

        /* The rest still wait in the backlog, untouched: neither answered nor reset. */
        for (int i = COUNT; i < CLIENTS; i++) {
                struct pollfd pfd = { .fd = cfd[i], .events = POLLIN };
                cr_expect_eq(poll(&pfd, 1, 0), 0, "client %d was touched", i);
        }

        /* A fresh process (systemd re-activating the socket) serves them. */
        setenv("DOVESD_SERVICE_COUNT", "3", 1);
        pid = spawn_service(fds, 1, prog_main, &p, &rpt);
        for (int i = COUNT; i < CLIENTS; i++)
                cr_expect_gt(read_line(cfd[i], line, sizeof(line)), 0, "client %d lost", i);
        rep = finish(pid, &rpt);
        cr_expect_eq(report_num(rep, "served"), CLIENTS - COUNT);
        free(rep);
}

Test(libdovesd, idle_kill_exits_when_idle) {
        unsigned port;
        int lfd = listen_tcp(8, &port);
        report rpt;
        svc_fd fds[] = { { lfd, "imap" } };
        prog p = {};
        double t0 = now_sec(), dt;
        char *rep;

        env_base("imap", "imap", "10");
        setenv("DOVESD_IDLE_KILL", "1", 1);
        pid_t pid_ = spawn_service(fds, 1, prog_main, &p, &rpt);
        rep = finish(pid_, &rpt);
        dt = now_sec() - t0;
        cr_expect_eq(report_num(rep, "run"), 0, "%s", rep);
        cr_expect_geq(dt, 0.9, "exited after %.2f s", dt);
        cr_expect_lt(dt, 4.0, "exited after %.2f s", dt);
        cr_expect_not_null(strstr(rep, "log=" DOVESD_MESSAGE_IDLE_EXIT "|-|-|No clients for 1 s (idle_kill), exiting"),
                           "%s", rep);
        free(rep);
}

Test(libdovesd, idle_kill_waits_for_clients) {
        unsigned port;
        int lfd = listen_tcp(8, &port), c;
        report rpt;
        svc_fd fds[] = { { lfd, "imap" } };
        prog p = { .hold_usec = 1500 * USEC_PER_MSEC };
        double t0 = now_sec(), dt;
        char line[512], *rep;
        pid_t pid;

        env_base("imap", "imap", "10");
        setenv("DOVESD_IDLE_KILL", "1", 1);
        pid = spawn_service(fds, 1, prog_main, &p, &rpt);
        c = connect_tcp(port);
        cr_expect_gt(read_line(c, line, sizeof(line)), 0);
        rep = finish(pid, &rpt);
        dt = now_sec() - t0;
        cr_expect_eq(report_num(rep, "served"), 1, "%s", rep);
        /* 1.5 s with a client, then 1 s idle */
        cr_expect_geq(dt, 2.3, "exited after %.2f s", dt);
        cr_expect_lt(dt, 6.0, "exited after %.2f s", dt);
        free(rep);
}

/* The per-connection (Accept=yes) contract is gone: a connected socket where a listener
 * belongs is refused with a message naming it, never served as if it were a listener. */
Test(libdovesd, connected_socket_is_refused) {
        unsigned port;
        int lfd = listen_tcp(4, &port), c, afd;
        report rpt;
        prog p = {};
        char *rep, *err;

        c = connect_tcp(port);
        afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        cr_assert_geq(afd, 0);
        svc_fd fds[] = { { afd, "imap" } };

        env_base("imap", "imap", "1000");
        pid_t pid_ = spawn_service(fds, 1, prog_main, &p, &rpt);
        rep = finish(pid_, &rpt);
        cr_expect_eq(report_num(rep, "new"), -EINVAL, "%s", rep);
        err = report_get(rep, "error");
        cr_assert_not_null(err, "%s", rep);
        cr_expect_str_eq(err, "listener 'imap' (fd 3): expected a listening stream socket or a "
                         "FIFO, got a connected stream socket");
        free(err);
        free(rep);
        close(c);
        close(lfd);
}

Test(libdovesd, fifo_delivers_readable_events) {
        char dir[] = "/tmp/test-libdovesd-XXXXXX", path[256], *rep;
        unsigned port;
        int ffd, wfd;
        report rpt;
        prog p = { .stop_on_fifo = true };
        pid_t pid;

        cr_assert_not_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/ctl", dir);
        cr_assert_eq(mkfifo(path, 0600), 0);
        ffd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        svc_fd fds[] = { { listen_tcp(4, &port), "imap" }, { ffd, "ctl" } };

        env_base("imap", "imap;ctl", "10");
        pid = spawn_service(fds, 2, prog_main, &p, &rpt);
        wfd = open(path, O_WRONLY | O_CLOEXEC);
        cr_assert_geq(wfd, 0);
        cr_assert_eq(write(wfd, "hello\n", 6), 6);
        rep = finish(pid, &rpt);
        cr_expect_not_null(strstr(rep, "fifo=ctl:hello\n"), "%s", rep);
        cr_expect_eq(report_num(rep, "run"), 0);
        cr_expect_eq(report_num(rep, "served"), 0, "a FIFO is not a client");
        cr_expect_eq(report_num(rep, "max_clients"), 0);
        free(rep);
}

/* ---- stopping ------------------------------------------------------------------------- */

/* Run p with one client on "imap" and send SIGTERM once the program has accepted it. Returns
 * the client's fd. */
static int client_then_sigterm(prog *p, pid_t *ret_pid, report *ret_report) {
        unsigned port;
        int lfd = listen_tcp(8, &port), c;
        svc_fd fds[] = { { lfd, "imap" } };
        pid_t pid;

        env_base("imap", "imap", "10");
        pid = spawn_service(fds, 1, prog_main, p, ret_report);
        c = connect_tcp(port);
        wait_accepted(lfd);
        usleep(200 * 1000);
        kill(pid, SIGTERM);
        *ret_pid = pid;
        return c;
}

Test(libdovesd, sigterm_lets_clients_finish) {
        prog p = { .hold_usec = 60 * USEC_PER_SEC, .close_on_stop = true };
        char line[512], *rep;
        report rpt;
        pid_t pid;
        int c = client_then_sigterm(&p, &pid, &rpt);

        cr_expect_gt(read_line(c, line, sizeof(line)), 0, "the program answered at stop");
        rep = finish(pid, &rpt);
        cr_expect_not_null(strstr(rep, "stop=1\n"), "%s", rep);
        cr_expect_eq(report_num(rep, "run"), 0);
        cr_expect_null(strstr(rep, "disconnect="), "the program closed it, not the library");
        free(rep);
}

Test(libdovesd, sigterm_closes_clients_after_timeout) {
        prog p = { .hold_usec = 60 * USEC_PER_SEC };
        char line[512], *rep;
        report rpt;
        pid_t pid;
        int c = client_then_sigterm(&p, &pid, &rpt);

        cr_expect_eq(read_line(c, line, sizeof(line)), 0, "closed without an answer");
        rep = finish(pid, &rpt);
        cr_expect_eq(report_num(rep, "run"), 0, "%s", rep);
        cr_expect_not_null(strstr(rep, "disconnect=127.0.0.1:"), "%s", rep);
        cr_expect_not_null(strstr(rep, "log=" DOVESD_MESSAGE_STOP_TIMEOUT "|-|-|1 client still connected after the stop timeout, closing it"),
                           "%s", rep);
        cr_expect_eq(report_num(rep, "clients_after"), 0);
        free(rep);
}

/* ---- sd_notify ------------------------------------------------------------------------ */

/* prog_main with the watchdog systemd would set for the service (WatchdogSec=0.2). */
static int prog_main_watchdog(void *arg) {
        char pid[32];

        snprintf(pid, sizeof(pid), "%d", (int) getpid());
        setenv("WATCHDOG_PID", pid, 1);
        setenv("WATCHDOG_USEC", "200000", 1);
        return prog_main(arg);
}

Test(libdovesd, notify_ready_status_stopping_watchdog) {
        char dir[] = "/tmp/test-libdovesd-XXXXXX", *rep, all[8192] = "";
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        unsigned port;
        int nfd;
        report rpt;
        svc_fd fds[1];
        prog p = {};
        ssize_t k;
        char buf[1024];

        cr_assert_not_null(mkdtemp(dir));
        snprintf(a.sun_path, sizeof(a.sun_path), "%s/notify", dir);
        nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        cr_assert_eq(bind(nfd, (struct sockaddr *) &a, sizeof(a)), 0);
        fds[0] = (svc_fd) { listen_tcp(8, &port), "imap" };

        env_base("imap", "imap", "4");
        setenv("NOTIFY_SOCKET", a.sun_path, 1);
        setenv("DOVESD_IDLE_KILL", "1", 1);
        pid_t pid = spawn_service(fds, 1, prog_main_watchdog, &p, &rpt);
        /* Drain while it runs: sd_notify() blocks when the datagram queue is full. */
        for (;;) {
                int st;
                bool done = waitpid(pid, &st, WNOHANG) == pid;

                while ((k = recv(nfd, buf, sizeof(buf) - 1, 0)) > 0) {
                        buf[k] = '\0';
                        strncat(all, buf, sizeof(all) - strlen(all) - 2);
                        strcat(all, "\n");
                }
                if (done)
                        break;
                usleep(10 * 1000);
        }
        rep = calloc(1, 65536);
        k = read(rpt.fd, rep, 65535);
        cr_expect_gt(k, 0);
        cr_expect_eq(report_num(rep, "run"), 0, "%s", rep);
        cr_expect_not_null(strstr(all, "READY=1\n"), "%s", all);
        cr_expect_not_null(strstr(all, "STATUS=0 clients, 4 free slots, 0 served\n"), "%s", all);
        cr_expect_not_null(strstr(all, "WATCHDOG=1\n"), "%s", all);
        cr_expect_not_null(strstr(all, "STOPPING=1\n"), "%s", all);
        cr_expect_lt(strstr(all, "READY=1"), strstr(all, "STOPPING=1"), "%s", all);
        free(rep);
}

/* STATUS= in the singular where a count is 1 (client_limit = 1: "1 free slot"). */
Test(libdovesd, notify_status_singular) {
        char dir[] = "/tmp/test-libdovesd-XXXXXX", *rep, all[8192] = "";
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        unsigned port;
        int nfd;
        report rpt;
        svc_fd fds[1];
        prog p = {};
        ssize_t k;
        char buf[1024];

        cr_assert_not_null(mkdtemp(dir));
        snprintf(a.sun_path, sizeof(a.sun_path), "%s/notify", dir);
        nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        cr_assert_eq(bind(nfd, (struct sockaddr *) &a, sizeof(a)), 0);
        fds[0] = (svc_fd) { listen_tcp(8, &port), "imap" };

        env_base("imap", "imap", "1");
        setenv("NOTIFY_SOCKET", a.sun_path, 1);
        setenv("DOVESD_IDLE_KILL", "1", 1);
        pid_t pid = spawn_service(fds, 1, prog_main_watchdog, &p, &rpt);
        /* Drain while it runs: sd_notify() blocks when the datagram queue is full. */
        for (;;) {
                int st;
                bool done = waitpid(pid, &st, WNOHANG) == pid;

                while ((k = recv(nfd, buf, sizeof(buf) - 1, 0)) > 0) {
                        buf[k] = '\0';
                        strncat(all, buf, sizeof(all) - strlen(all) - 2);
                        strcat(all, "\n");
                }
                if (done)
                        break;
                usleep(10 * 1000);
        }
        rep = calloc(1, 65536);
        k = read(rpt.fd, rep, 65535);
        cr_expect_gt(k, 0);
        cr_expect_eq(report_num(rep, "run"), 0, "%s", rep);
        cr_expect_not_null(strstr(all, "READY=1\n"), "%s", all);
        cr_expect_not_null(strstr(all, "STATUS=0 clients, 1 free slot, 0 served\n"), "%s", all);
        cr_expect_null(strstr(all, "1 free slots"), "%s", all);
        cr_expect_not_null(strstr(all, "WATCHDOG=1\n"), "%s", all);
        cr_expect_not_null(strstr(all, "STOPPING=1\n"), "%s", all);
        cr_expect_lt(strstr(all, "READY=1"), strstr(all, "STOPPING=1"), "%s", all);
        free(rep);
}

/* ---- PROXY protocol on haproxy=yes listeners ------------------------------------------ */

/* Serve one client that sends hdr (+ "HELLO\r\n") and return the line it got back ("" on EOF)
 * and the child's report. */
static void proxy_roundtrip(const void *hdr, size_t len, const char *trusted, char *line,
                            size_t size, char **ret_report, unsigned *ret_client_port) {
        unsigned port;
        int lfd = listen_tcp(8, &port), c;
        report rpt;
        svc_fd fds[] = { { lfd, "imap" } };
        prog p = { .read_first = true };
        struct sockaddr_in a;
        socklen_t al = sizeof(a);
        pid_t pid;

        env_base("imap", "imap:haproxy", "10");
        setenv("DOVESD_IDLE_KILL", "1", 1);
        setenv("DOVESD_HAPROXY_TRUSTED_NETWORKS", trusted, 1);
        pid = spawn_service(fds, 1, prog_main, &p, &rpt);
        c = connect_tcp(port);
        cr_assert_eq(getsockname(c, (struct sockaddr *) &a, &al), 0);
        *ret_client_port = ntohs(a.sin_port);
        /* A rejected client may be closed before it is done writing: no SIGPIPE, no assert;
         * the answer (or its absence) is what counts. */
        if (len > 0)
                (void) send(c, hdr, len, MSG_NOSIGNAL);
        (void) send(c, "HELLO\r\n", 7, MSG_NOSIGNAL);
        if (read_line(c, line, size) <= 0)
                line[0] = '\0';
        close(c);
        *ret_report = finish(pid, &rpt);
}

Test(libdovesd, proxy_v1_gives_the_real_client) {
        const char hdr[] = "PROXY TCP4 192.0.2.1 192.0.2.2 5555 143\r\n";
        char line[512], *rep;
        unsigned cport;

        proxy_roundtrip(hdr, strlen(hdr), "127.0.0.0/8", line, sizeof(line), &rep, &cport);
        cr_expect_str_eq(line, "served imap 192.0.2.1:5555 local=192.0.2.2:143 proxied=1 alpn=- "
                               "authority=- ssl=0 cn=- first=HELLO\n", "%s", rep);
        cr_expect_eq(report_num(rep, "served"), 1);
        free(rep);
}

Test(libdovesd, proxy_v2_tlvs) {
        static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
                                         0x55, 0x49, 0x54, 0x0a };
        uint8_t h[256], *q;
        char line[512], *rep;
        unsigned cport;
        size_t len;

        memcpy(h, sig, 12);
        h[12] = 0x21;                   /* v2, PROXY */
        h[13] = 0x11;                   /* AF_INET, STREAM */
        q = h + 16;
        memcpy(q, (uint8_t[]) { 198, 51, 100, 7, 192, 0, 2, 9, 0x30, 0x39, 0x03, 0xe1 }, 12);
        q += 12;
        *q++ = 0x01; *q++ = 0; *q++ = 4; memcpy(q, "imap", 4); q += 4;
        *q++ = 0x02; *q++ = 0; *q++ = 12; memcpy(q, "mail.example", 12); q += 12;
        *q++ = 0x20; *q++ = 0; *q++ = 5 + 3 + 5;
        *q++ = 0x01; memset(q, 0, 4); q += 4;
        *q++ = 0x22; *q++ = 0; *q++ = 5; memcpy(q, "alice", 5); q += 5;
        len = (size_t) (q - h);
        h[14] = (uint8_t) ((len - 16) >> 8);
        h[15] = (uint8_t) ((len - 16) & 0xff);

        proxy_roundtrip(h, len, "::1, 127.0.0.1", line, sizeof(line), &rep, &cport);
        cr_expect_str_eq(line, "served imap 198.51.100.7:12345 local=192.0.2.9:993 proxied=1 "
                               "alpn=imap authority=mail.example ssl=1 cn=alice first=HELLO\n",
                         "%s", rep);
        free(rep);
}

Test(libdovesd, proxy_untrusted_peer_closed_and_logged) {
        const char hdr[] = "PROXY TCP4 192.0.2.1 192.0.2.2 5555 143\r\n";
        char line[512], *rep, expect[256];
        unsigned cport;

        proxy_roundtrip(hdr, strlen(hdr), "10.0.0.0/8", line, sizeof(line), &rep, &cport);
        cr_expect_str_eq(line, "");
        cr_expect_eq(report_num(rep, "served"), 0);
        snprintf(expect, sizeof(expect),
                 "log=%s|imap|127.0.0.1:%u|haproxy: Client not trusted (rip=127.0.0.1:%u)\n",
                 DOVESD_MESSAGE_PROXY_REJECTED, cport, cport);
        cr_expect_not_null(strstr(rep, expect), "want %s in:\n%s", expect, rep);
        free(rep);
}

Test(libdovesd, proxy_empty_trust_list_trusts_nobody) {
        const char hdr[] = "PROXY TCP4 192.0.2.1 192.0.2.2 5555 143\r\n";
        char line[512], *rep;
        unsigned cport;

        proxy_roundtrip(hdr, strlen(hdr), "", line, sizeof(line), &rep, &cport);
        cr_expect_str_eq(line, "");
        cr_expect_not_null(strstr(rep, "haproxy: Client not trusted"), "%s", rep);
        free(rep);
}

Test(libdovesd, proxy_malformed_header_closed_and_logged) {
        const char hdr[] = "PROXY TCP9 192.0.2.1 192.0.2.2 5555 143\r\n";
        char line[512], *rep;
        unsigned cport;

        proxy_roundtrip(hdr, strlen(hdr), "127.0.0.1", line, sizeof(line), &rep, &cport);
        cr_expect_str_eq(line, "");
        cr_expect_eq(report_num(rep, "served"), 0);
        cr_expect_not_null(strstr(rep, "log=" DOVESD_MESSAGE_PROXY_REJECTED "|imap|127.0.0.1:"),
                           "%s", rep);
        free(rep);
}

Test(libdovesd, proxy_timeout_releases_the_slot) {
        const char hdr[] = "PROXY TCP6 2001:db8::1 2001:db8::2 4000 143\r\nHELLO\r\n";
        unsigned port;
        int lfd = listen_tcp(8, &port), silent, good;
        report rpt;
        svc_fd fds[] = { { lfd, "imap" } };
        prog p = { .read_first = true };
        char line[512], *rep;
        double t0, dt;
        pid_t pid;

        env_base("imap", "imap:haproxy", "1");          /* one slot */
        setenv("DOVESD_IDLE_KILL", "1", 1);
        setenv("DOVESD_HAPROXY_TIMEOUT", "1", 1);
        setenv("DOVESD_HAPROXY_TRUSTED_NETWORKS", "127.0.0.0/8", 1);
        pid = spawn_service(fds, 1, prog_main, &p, &rpt);
        t0 = now_sec();
        silent = connect_tcp(port);     /* takes the slot and never sends a header */
        usleep(100 * 1000);
        good = connect_tcp(port);       /* waits in the backlog */
        cr_assert_eq(write(good, hdr, strlen(hdr)), (ssize_t) strlen(hdr));
        cr_expect_eq(read_line(silent, line, sizeof(line)), 0, "silent client closed");
        cr_expect_gt(read_line(good, line, sizeof(line)), 0);
        dt = now_sec() - t0;
        cr_expect_str_eq(line, "served imap [2001:db8::1]:4000 local=[2001:db8::2]:143 proxied=1 "
                               "alpn=- authority=- ssl=0 cn=- first=HELLO\n");
        cr_expect_geq(dt, 0.9, "slot released after %.2f s", dt);
        cr_expect_lt(dt, 4.0, "slot released after %.2f s", dt);
        rep = finish(pid, &rpt);
        cr_expect_not_null(strstr(rep, "|haproxy: Client timed out (rip=127.0.0.1:"), "%s", rep);
        cr_expect_eq(report_num(rep, "served"), 1);
        cr_expect_leq(report_num(rep, "max_clients"), 1);
        free(rep);
}

/* ---- privileges (root only) ----------------------------------------------------------- */

static int restrict_child(void *arg) {
        dovesd_service *s = NULL;
        char *error = NULL, *desc = NULL;
        int r;

        r = dovesd_service_new(&s, &error);
        report_line("new=%d", r);
        if (r < 0) {
                report_line("error=%s", error);
                return 0;
        }
        dovesd_service_set_log_callback(s, log_to_report, NULL);
        report_line("before=%d", dovesd_privileged_group_enable(s, true));
        r = dovesd_service_restrict(s);
        report_line("restrict=%d", r);
        if (r < 0) {
                dovesd_service_unref(s);
                return 0;
        }
        report_line("again=%d", dovesd_service_restrict(s));
        (void) dovesd_service_describe_privileges(s, &desc);
        report_line("describe=%s", desc);
        report_line("restricted=%d", dovesd_service_is_restricted(s));
        report_line("chroot=%s", dovesd_service_get_chroot(s) ?: "(null)");
        report_line("caps_dropped=%d", dovesd_service_caps_dropped(s));
        errno = 0;
        r = setuid(0);
        report_line("setuid0=%d/%d", r, errno);
        report_line("cwd_is_root=%d", access("/dovesd-chroot-marker", F_OK) == 0);
        r = dovesd_privileged_group_enable(s, true);
        report_line("priv_on=%d egid=%u", r, (unsigned) getegid());
        r = dovesd_privileged_group_enable(s, false);
        report_line("priv_off=%d egid=%u", r, (unsigned) getegid());
        report_line("ready=1");
        for (int i = 0; i < 20; i++)
                sleep(1);       /* the test reads /proc/PID/status, then kills us */
        return 0;
}

static char *read_file_str(const char *path) {
        char *buf = calloc(1, 8192);
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        cr_assert_geq(fd, 0, "%s: %m", path);
        cr_assert_gt(read(fd, buf, 8191), 0);
        close(fd);
        return buf;
}

static char *status_line(const char *status, const char *key) {
        const char *p = strstr(status, key);

        cr_assert_not_null(p, "no %s in /proc/PID/status", key);
        p += strlen(key);
        return strndup(p, strcspn(p, "\n"));
}

Test(libdovesd, restrict_drops_everything) {
        char dir[] = "/tmp/test-libdovesd-XXXXXX", marker[256], path[64];
        char root[256] = "", expect[512], *status, *v, *ready, *rep;
        report rpt;
        int fd;
        pid_t pid;

        cr_assert_eq(geteuid(), 0, "this test needs root");
        cr_assert_not_null(mkdtemp(dir));
        chmod(dir, 0755);
        snprintf(marker, sizeof(marker), "%s/dovesd-chroot-marker", dir);
        fd = open(marker, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        close(fd);

        env_base("imap", "", "10");
        setenv("DOVESD_USER", "nobody", 1);
        setenv("DOVESD_GROUP", "nogroup", 1);
        setenv("DOVESD_EXTRA_GROUPS", "daemon", 1);
        setenv("DOVESD_PRIVILEGED_GROUP", "mail", 1);
        setenv("DOVESD_CHROOT", dir, 1);
        pid = spawn_service(NULL, 0, restrict_child, NULL, &rpt);
        /* the child sleeps after ready=1, or exits when restricting fails */
        ready = report_wait(&rpt, "ready=1", 30, NULL);
        cr_assert_not_null(ready, "%s", rpt.buf ?: "");
        free(ready);

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        status = read_file_str(path);
        snprintf(path, sizeof(path), "/proc/%d/root", (int) pid);
        cr_expect_gt(readlink(path, root, sizeof(root) - 1), 0);
        kill(pid, SIGKILL);
        rep = finish(pid, &rpt);

        cr_expect_str_eq((v = status_line(status, "Uid:\t")), "65534\t65534\t65534\t65534"); free(v);
        /* real, effective (back to primary), saved = privileged (mail = 8), fs */
        cr_expect_str_eq((v = status_line(status, "Gid:\t")), "65534\t65534\t8\t65534"); free(v);
        cr_expect_str_eq((v = status_line(status, "Groups:\t")), "1 65534 "); free(v);
        cr_expect_str_eq((v = status_line(status, "CapEff:\t")), "0000000000000000"); free(v);
        cr_expect_str_eq((v = status_line(status, "CapPrm:\t")), "0000000000000000"); free(v);
        cr_expect_str_eq((v = status_line(status, "CapInh:\t")), "0000000000000000"); free(v);
        cr_expect_str_eq((v = status_line(status, "CapBnd:\t")), "0000000000000000"); free(v);
        cr_expect_str_eq((v = status_line(status, "CapAmb:\t")), "0000000000000000"); free(v);
        cr_expect_str_eq(root, dir);

        cr_expect_not_null(strstr(rep, "before=-107\n"), "ENOTCONN before restrict: %s", rep);
        cr_expect_not_null(strstr(rep, "restrict=0\nagain=0\n"), "%s", rep);
        snprintf(expect, sizeof(expect),
                 "describe=uid=65534 euid=65534 gid=65534 egid=65534 sgid=8 groups=1,65534 chroot=%s caps=none\n",
                 dir);
        cr_expect_not_null(strstr(rep, expect), "want %s in:\n%s", expect, rep);
        snprintf(expect, sizeof(expect), "log=%s|-|-|Privileges dropped: uid=65534 ",
                 DOVESD_MESSAGE_PRIVILEGES_DROPPED);
        cr_expect_not_null(strstr(rep, expect), "%s", rep);
        cr_expect_not_null(strstr(rep, "restricted=1\n"), "%s", rep);
        cr_expect_not_null(strstr(rep, "caps_dropped=1\n"), "%s", rep);
        cr_expect_not_null(strstr(rep, "setuid0=-1/1\n"), "setuid(0) must fail with EPERM: %s", rep);
        cr_expect_not_null(strstr(rep, "cwd_is_root=1\n"), "chroot in effect: %s", rep);
        cr_expect_not_null(strstr(rep, "priv_on=0 egid=8\n"), "%s", rep);
        cr_expect_not_null(strstr(rep, "priv_off=0 egid=65534\n"), "%s", rep);
        free(status);
        free(rep);
}

/* As under the unit's CapabilityBoundingSet= (four capabilities left in the bounding set) and
 * with an ambient capability raised: restrict drops only what the bounding set holds, and
 * still ends with every set empty. */
static int restrict_partial_bounding_child(void *arg) {
        cap_value_t kill_cap = CAP_KILL;
        cap_t caps;

        for (int c = 0; c <= CAP_LAST_CAP; c++)
                if (c != CAP_SETGID && c != CAP_SETUID && c != CAP_SETPCAP && c != CAP_KILL)
                        (void) prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
        caps = cap_get_proc();
        if (!caps || cap_set_flag(caps, CAP_INHERITABLE, 1, &kill_cap, CAP_SET) < 0 ||
            cap_set_proc(caps) < 0)
                report_line("inheritable=failed");
        cap_free(caps);
        report_line("ambient_raise=%d", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0));
        report_line("bounding_kill=%d bounding_sys_admin=%d", prctl(PR_CAPBSET_READ, CAP_KILL),
                    prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN));
        return restrict_child(arg);
}

Test(libdovesd, restrict_partial_bounding_set_and_ambient_end_empty) {
        char path[64], *status, *v, *ready, *rep;
        report rpt;
        pid_t pid;

        cr_assert_eq(geteuid(), 0, "this test needs root");
        env_base("imap", "", "10");
        setenv("DOVESD_USER", "nobody", 1);
        pid = spawn_service(NULL, 0, restrict_partial_bounding_child, NULL, &rpt);
        ready = report_wait(&rpt, "ready=1", 30, NULL);
        cr_assert_not_null(ready, "%s", rpt.buf ?: "");
        free(ready);
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        status = read_file_str(path);
        kill(pid, SIGKILL);
        rep = finish(pid, &rpt);

        cr_expect_not_null(strstr(rep, "ambient_raise=0\n"), "%s", rep);
        cr_expect_not_null(strstr(rep, "bounding_kill=1 bounding_sys_admin=0\n"), "%s", rep);
        cr_expect_not_null(strstr(rep, "restrict=0\n"), "%s", rep);
        cr_expect_not_null(strstr(rep, "setuid0=-1/1\n"), "%s", rep);
        cr_expect_str_eq((v = status_line(status, "Uid:\t")), "65534\t65534\t65534\t65534"); free(v);
        cr_expect_str_eq((v = status_line(status, "CapEff:\t")), "0000000000000000"); free(v);
        cr_expect_str_eq((v = status_line(status, "CapPrm:\t")), "0000000000000000"); free(v);
        cr_expect_str_eq((v = status_line(status, "CapInh:\t")), "0000000000000000"); free(v);
        cr_expect_str_eq((v = status_line(status, "CapBnd:\t")), "0000000000000000"); free(v);
        cr_expect_str_eq((v = status_line(status, "CapAmb:\t")), "0000000000000000"); free(v);
        free(status);
        free(rep);
}

/* ---- DOVESD_WORKER_IDS: the supervisor's resolution of the names (helper/ids.h) ------ */

Test(libdovesd, worker_ids_round_trip) {
        dovesd_ids a = { .set_uid = true, .uid = 65534, .set_gid = true, .gid = 65534,
                         .has_priv_gid = true, .priv_gid = 8, .n_groups = 2, .groups = { 1, 65534 } };
        dovesd_ids b;
        char *t = NULL;

        cr_assert_eq(ids_to_env(&a, &t), 0);
        cr_expect_str_eq(t, "DOVESD_WORKER_IDS=65534 65534 8 0 1,65534");
        cr_assert_eq(ids_from_string(t + strlen("DOVESD_WORKER_IDS="), &b), 0);
        cr_expect(b.set_uid && b.uid == 65534 && b.set_gid && b.gid == 65534);
        cr_expect(b.has_priv_gid && b.priv_gid == 8 && !b.gid0_allowed);
        cr_expect(b.n_groups == 2 && b.groups[0] == 1 && b.groups[1] == 65534);
        free(t);

        cr_assert_eq(ids_to_env(&(dovesd_ids) { .gid0_allowed = true }, &t), 0);
        cr_expect_str_eq(t, "DOVESD_WORKER_IDS=- - - 1 -");
        cr_assert_eq(ids_from_string("- - - 1 -", &b), 0);
        cr_expect(!b.set_uid && !b.set_gid && !b.has_priv_gid && b.gid0_allowed && b.n_groups == 0);
        free(t);

        static const char *const bad[] = { "", "1 2 3", "x 1 - 0 -", "1 1 - 2 -", "1 1 - 0 1,",
                                           "4294967295 1 - 0 -", "1 1 - 0 -,", "1  1 - 0 -",
                                           "1 1 - 0 - ", "-1 1 - 0 -", "1 1 - 0 1,-" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                cr_expect_eq(ids_from_string(bad[i], &b), -EINVAL, "'%s'", bad[i]);
}

/* The names resolved by service_resolve_ids() are what restrict applies without the variable. */
Test(libdovesd, worker_ids_resolve_names) {
        dovesd_service *s = NULL;
        dovesd_ids ids;
        char *t = NULL, *error = NULL;

        env_base("imap", "", "10");
        setenv("DOVESD_USER", "nobody", 1);
        setenv("DOVESD_GROUP", "nogroup", 1);
        setenv("DOVESD_EXTRA_GROUPS", "daemon", 1);
        setenv("DOVESD_PRIVILEGED_GROUP", "mail", 1);
        cr_assert_eq(dovesd_service_new(&s, &error), 0, "%s", error ?: "");
        cr_assert_eq(service_resolve_ids(&(ids_source) { .settings = s->settings, .log = s->log },
                                         &ids), 0);
        cr_assert_eq(ids_to_env(&ids, &t), 0);
        /* nobody 65534, nogroup 65534, mail 8, extra daemon 1, then the primary group */
        cr_expect_str_eq(t, "DOVESD_WORKER_IDS=65534 65534 8 0 1,65534");
        free(t);
        dovesd_service_unref(s);
}

/* A worker of the supervisor (DOVESD_WORKER) switches to the ids in DOVESD_WORKER_IDS without
 * looking the names up; any other process ignores the variable. uid 1 (daemon) here stands
 * for "not what DOVESD_USER=nobody resolves to": it shows which one was applied. */
static int restrict_as_worker_child(void *arg) {
        int slot = memfd_create("test-slot", MFD_CLOEXEC), wake = eventfd(0, EFD_CLOEXEC);
        char v[32];

        if (slot < 0 || wake < 0 || ftruncate(slot, sizeof(dovesd_worker_slot)) < 0) {
                report_line("worker=failed");
                return 0;
        }
        snprintf(v, sizeof(v), "%d %d", slot, wake);
        setenv(DOVESD_ENV_WORKER, v, 1);
        return restrict_child(arg);
}

static char *restrict_ids_uid(child_body body) {
        char path[64], *status, *uid, *ready;
        report rpt;
        pid_t pid;

        env_base("imap", "", "10");
        setenv("DOVESD_USER", "nobody", 1);
        setenv("DOVESD_WORKER_IDS", "1 1 - 0 -", 1);
        pid = spawn_service(NULL, 0, body, NULL, &rpt);
        ready = report_wait(&rpt, "ready=1", 30, NULL);
        unsetenv("DOVESD_WORKER_IDS");
        cr_assert_not_null(ready, "%s", rpt.buf ?: "");
        free(ready);
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        status = read_file_str(path);
        kill(pid, SIGKILL);
        free(finish(pid, &rpt));
        uid = status_line(status, "Uid:\t");
        free(status);
        return uid;
}

Test(libdovesd, restrict_worker_takes_supervisor_ids) {
        char *uid;

        cr_assert_eq(geteuid(), 0, "this test needs root");
        uid = restrict_ids_uid(restrict_as_worker_child);
        cr_expect_str_eq(uid, "1\t1\t1\t1", "a worker applies DOVESD_WORKER_IDS");
        free(uid);
        uid = restrict_ids_uid(restrict_child);
        cr_expect_str_eq(uid, "65534\t65534\t65534\t65534", "a single process resolves DOVESD_USER");
        free(uid);
}

typedef struct restrict_case {
        char vars[96];
        char log[128];          /* the error record */
        int r;
} restrict_case;

static restrict_case restrict_cases[] = {
        { "DOVESD_USER=nosuchuser-dovesd", "DOVESD_USER: unknown user 'nosuchuser-dovesd'", -ESRCH },
        { "DOVESD_USER=nobody\nDOVESD_GROUP=nosuchgroup-dovesd",
          "DOVESD_GROUP: unknown group 'nosuchgroup-dovesd'", -ESRCH },
        { "DOVESD_USER=nobody\nDOVESD_EXTRA_GROUPS=mail,nosuchgroup-dovesd",
          "DOVESD_EXTRA_GROUPS: unknown group 'nosuchgroup-dovesd'", -ESRCH },
        { "DOVESD_USER=nobody\nDOVESD_PRIVILEGED_GROUP=nosuchgroup-dovesd",
          "DOVESD_PRIVILEGED_GROUP: unknown group 'nosuchgroup-dovesd'", -ESRCH },
        { "DOVESD_USER=nobody\nDOVESD_CHROOT=/nonexistent-dovesd",
          "chroot(/nonexistent-dovesd) failed: No such file or directory", -ENOENT },
        { "DOVESD_TYPE=login", "DOVESD_USER is not set: a login process must not run as root", -EPERM },
        { "DOVESD_TYPE=login\nDOVESD_USER=root", "This process must not be run as root", -EPERM },
};

ParameterizedTestParameters(libdovesd, restrict_errors) {
        return cr_make_param_array(restrict_case, restrict_cases, ELEMENTSOF(restrict_cases));
}

ParameterizedTest(restrict_case *c, libdovesd, restrict_errors) {
        char *rep, expect[256];
        report rpt;
        pid_t pid;

        cr_assert_eq(geteuid(), 0, "this test needs root");
        env_base("imap", "", "10");
        env_apply(c->vars);
        pid = spawn_service(NULL, 0, restrict_child, NULL, &rpt);
        rep = finish(pid, &rpt);
        cr_expect_eq(report_num(rep, "restrict"), c->r, "%s: %s", c->vars, rep);
        snprintf(expect, sizeof(expect), "log=-|-|-|%s\n", c->log);
        cr_expect_not_null(strstr(rep, expect), "want %s in:\n%s", expect, rep);
        free(rep);
}

/* No log callback and no journald: a failed privilege drop still says why, on stderr
 * (libdovesd(3), LOGGING). With journald there, the record goes there and stderr stays
 * empty. */
static int restrict_no_callback_child(void *arg) {
        dovesd_service *s = NULL;
        char *error = NULL;
        int r;

        int fd = open(arg, O_WRONLY | O_APPEND | O_CLOEXEC);

        /* spawn_service() closed every other fd: reopen the file the parent reads */
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                return 1;
        close(fd);
        r = dovesd_service_new(&s, &error);
        if (r < 0)
                return 1;
        r = dovesd_service_restrict(s);
        report_line("restrict=%d", r);
        dovesd_service_unref(s);
        return 0;
}

Test(libdovesd, restrict_error_without_journald_goes_to_stderr) {
        char path[] = "/tmp/test-libdovesd-stderr-XXXXXX", out[1024] = "", *rep;
        bool journald = access("/run/systemd/journal/socket", F_OK) == 0;
        int fd = mkostemp(path, O_CLOEXEC);
        report rpt;
        pid_t pid;
        ssize_t k;

        cr_assert_eq(geteuid(), 0, "this test needs root");
        cr_assert_geq(fd, 0);
        env_base("imap", "", "10");
        env_apply("DOVESD_USER=nosuchuser-dovesd");
        pid = spawn_service(NULL, 0, restrict_no_callback_child, path, &rpt);
        rep = finish(pid, &rpt);
        cr_expect_not_null(strstr(rep, "restrict=-3\n"), "%s", rep);
        k = pread(fd, out, sizeof(out) - 1, 0);
        cr_assert_geq(k, 0);
        if (journald)
                cr_expect_str_eq(out, "", "journald is there, yet stderr got: %s", out);
        else
                cr_expect_str_eq(out, "imap: DOVESD_USER: unknown user 'nosuchuser-dovesd'\n");
        close(fd);
        unlink(path);
        free(rep);
}

Test(libdovesd, restrict_without_user_keeps_root_but_drops_caps) {
        char *rep;
        report rpt;
        pid_t pid;

        cr_assert_eq(geteuid(), 0, "this test needs root");
        env_base("config", "", "10");
        pid = spawn_service(NULL, 0, restrict_child, NULL, &rpt);
        /* the child sleeps after ready=1, or exits when restricting fails */
        free(report_wait(&rpt, "ready=1", 30, NULL));
        kill(pid, SIGKILL);
        rep = finish(pid, &rpt);
        cr_expect_not_null(strstr(rep, "restrict=0\n"), "%s", rep);
        cr_expect_not_null(strstr(rep, "describe=uid=0 euid=0 gid=0 egid=0 sgid=0 groups="), "%s", rep);
        cr_expect_not_null(strstr(rep, " chroot=none caps=none\n"), "%s", rep);
        cr_expect_not_null(strstr(rep, "priv_on=-2 "), "no privileged group: %s", rep);
        free(rep);
}

/* ---- type=login overflow and reload --------------------------------------------------- */

Test(libdovesd, login_overflow_drops_oldest_not_logged_in) {
        unsigned port;
        int lfd = listen_tcp(8, &port), c[3];
        report rpt;
        svc_fd fds[] = { { lfd, "imap" } };
        prog p = { .hold_usec = 60 * USEC_PER_SEC };
        char line[512], *rep;
        pid_t pid;

        env_base("imap-login", "imap", "2");
        setenv("DOVESD_TYPE", "login", 1);
        pid = spawn_service(fds, 1, prog_main, &p, &rpt);
        c[0] = connect_tcp(port);
        usleep(100 * 1000);
        c[1] = connect_tcp(port);
        usleep(100 * 1000);
        c[2] = connect_tcp(port);       /* the process is full: the oldest makes room */
        cr_expect_gt(read_line(c[0], line, sizeof(line)), 0);
        cr_expect_str_eq(line, "bye\n");
        cr_expect_eq(read_line(c[0], line, sizeof(line)), 0, "then closed");
        usleep(200 * 1000);
        kill(pid, SIGTERM);
        rep = finish(pid, &rpt);
        cr_expect_eq(report_num(rep, "served"), 3, "%s", rep);
        cr_expect_leq(report_num(rep, "max_clients"), 2);
        cr_expect_not_null(strstr(rep, "log=" DOVESD_MESSAGE_LOGIN_OVERFLOW "|imap|127.0.0.1:"), "%s", rep);
        /* exactly one overflow: the first client's */
        char *o = strstr(rep, "overflow=");
        cr_expect(o && !strstr(o + 1, "overflow="), "%s", rep);
        free(rep);
}

Test(libdovesd, sighup_calls_reload) {
        unsigned port;
        int lfd = listen_tcp(8, &port);
        report rpt;
        svc_fd fds[] = { { lfd, "imap" } };
        prog p = {};
        char *rep;
        pid_t pid;

        env_base("imap", "imap", "2");
        setenv("DOVESD_IDLE_KILL", "1", 1);
        pid = spawn_service(fds, 1, prog_main, &p, &rpt);
        usleep(300 * 1000);
        kill(pid, SIGHUP);
        rep = finish(pid, &rpt);
        cr_expect_not_null(strstr(rep, "reload=1\n"), "%s", rep);
        cr_expect_eq(report_num(rep, "run"), 0, "the service carried on and exited on idle");
        free(rep);
}

/* ---- the parent-death signal across privilege changes (issue 16, item 7) ----------------- */

static volatile sig_atomic_t pdeath_got;

static void on_pdeath(int sig) {
        pdeath_got = sig;
}

/* The fact the library works around: a credential change clears the parent-death signal. */
Test(libdovesd, pdeathsig_cleared_by_the_kernel_on_setresgid) {
        int status;
        pid_t pid;

        cr_assert_eq(geteuid(), 0, "this test needs root");
        pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                int sig = -1;

                if (prctl(PR_SET_PDEATHSIG, SIGUSR2) < 0 || prctl(PR_GET_PDEATHSIG, &sig) < 0 ||
                    sig != SIGUSR2)
                        _exit(3);
                if (setresgid(65534, 65534, 65534) < 0)
                        _exit(2);
                sig = -1;
                if (prctl(PR_GET_PDEATHSIG, &sig) < 0)
                        _exit(3);
                _exit(sig == 0 ? 0 : 1);
        }
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status));
        cr_assert_eq(WEXITSTATUS(status), 0, "exit %d: 1 = the kernel kept the signal",
                     WEXITSTATUS(status));
}

/* A process that set a death signal keeps it through dovesd_service_restrict() (setresgid,
 * setresuid) and dovesd_privileged_group_enable() (setegid): its parent dies, it gets it. */
Test(libdovesd, pdeathsig_survives_restrict_and_privileged_group) {
        int out[2], ready[2], status;
        char buf[512] = "";
        size_t len = 0;
        pid_t mid;

        cr_assert_eq(geteuid(), 0, "this test needs root");
        cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
        cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
        env_base("imap", "", "10");
        setenv("DOVESD_USER", "nobody", 1);
        setenv("DOVESD_GROUP", "nogroup", 1);
        setenv("DOVESD_PRIVILEGED_GROUP", "mail", 1);

        mid = fork();
        cr_assert_geq(mid, 0);
        if (mid == 0) {
                pid_t c = fork();
                char b;

                if (c < 0)
                        _exit(1);
                if (c == 0) {
                        struct sigaction sa = { .sa_handler = on_pdeath };
                        dovesd_service *s = NULL;
                        char *error = NULL;
                        int r1, r2, sig = -1;

                        sigaction(SIGUSR2, &sa, NULL);
                        (void) prctl(PR_SET_PDEATHSIG, SIGUSR2);
                        if (dovesd_service_new(&s, &error) < 0) {
                                dprintf(out[1], "new failed: %s\n", error ?: "");
                                _exit(1);
                        }
                        r1 = dovesd_service_restrict(s);
                        r2 = dovesd_privileged_group_enable(s, true);
                        (void) prctl(PR_GET_PDEATHSIG, &sig);
                        dprintf(out[1], "restrict=%d priv=%d egid=%u pdeathsig=%d\n", r1, r2,
                                (unsigned) getegid(), sig);
                        (void) write(ready[1], "r", 1);
                        for (int i = 0; i < 500 && !pdeath_got; i++)
                                usleep(10000);
                        dprintf(out[1], "got=%d\n", (int) pdeath_got);
                        _exit(0);
                }
                /* the parent dies once the child has changed its credentials */
                (void) read(ready[0], &b, 1);
                _exit(0);
        }
        close(out[1]);
        close(ready[0]);
        close(ready[1]);
        cr_assert_eq(waitpid(mid, &status, 0), mid);
        for (;;) {
                struct pollfd p = { .fd = out[0], .events = POLLIN };
                ssize_t k;

                if (poll(&p, 1, 10000) <= 0)
                        break;
                k = read(out[0], buf + len, sizeof(buf) - 1 - len);
                if (k <= 0)
                        break;
                len += (size_t) k;
        }
        buf[len] = '\0';
        close(out[0]);
        cr_expect_not_null(strstr(buf, "restrict=0 priv=0 egid=8 pdeathsig=12\n"),
                           "the signal is set again after each change: %s", buf);
        cr_expect_not_null(strstr(buf, "got=12\n"), "the parent died: %s", buf);
}

/* ---- login overflow and PROXY (issue 16, item 5) ------------------------------------------ */

/* A full single login process (client_limit 2, filled through the plain listener) gets one
 * more client on its haproxy listener, which sends HDR (NULL: connects and closes at once).
 * Returns whether the oldest client was pushed out; *ret_report is the service's report. */
static bool overflow_by_proxy_client(const char *trusted, const char *hdr, char **ret_report) {
        unsigned port, pport;
        int lfd = listen_tcp(8, &port), plfd = listen_tcp(8, &pport), c[3];
        svc_fd fds[] = { { lfd, "imap" }, { plfd, "proxy" } };
        prog p = { .hold_usec = 60 * USEC_PER_SEC };
        char line[512] = "";
        bool dropped;
        report rpt;
        pid_t pid;

        env_base("imap-login", "imap;proxy:haproxy", "2");
        setenv("DOVESD_TYPE", "login", 1);
        setenv("DOVESD_HAPROXY_TRUSTED_NETWORKS", trusted, 1);
        pid = spawn_service(fds, 2, prog_main, &p, &rpt);
        c[0] = connect_tcp(port);
        usleep(100 * 1000);
        c[1] = connect_tcp(port);
        usleep(100 * 1000);
        c[2] = connect_tcp(pport);      /* the process is full */
        if (hdr)
                (void) send(c[2], hdr, strlen(hdr), MSG_NOSIGNAL);
        else
                close(c[2]);
        dropped = readable_within(c[0], 1.0) && read_line(c[0], line, sizeof(line)) > 0 &&
                strcmp(line, "bye\n") == 0;
        kill(pid, SIGTERM);
        *ret_report = finish(pid, &rpt);
        close(c[0]);
        close(c[1]);
        if (hdr)
                close(c[2]);
        return dropped;
}

Test(libdovesd, login_overflow_only_for_a_client_that_will_be_served) {
        const char good[] = "PROXY TCP4 192.0.2.1 192.0.2.2 5555 143\r\n";
        const char bad[] = "PROXY TCP9 192.0.2.1 192.0.2.2 5555 143\r\n";
        char *rep;

        /* untrusted peer: rejected, nobody pushed out */
        cr_expect(!overflow_by_proxy_client("", good, &rep), "untrusted: %s", rep);
        cr_expect_not_null(strstr(rep, "haproxy: Client not trusted"), "%s", rep);
        cr_expect_null(strstr(rep, "overflow="), "%s", rep);
        free(rep);

        /* trusted peer, malformed header: rejected, nobody pushed out */
        cr_expect(!overflow_by_proxy_client("127.0.0.1", bad, &rep), "malformed: %s", rep);
        cr_expect_not_null(strstr(rep, "log=" DOVESD_MESSAGE_PROXY_REJECTED "|proxy|"), "%s", rep);
        cr_expect_null(strstr(rep, "overflow="), "%s", rep);
        free(rep);

        /* trusted peer that leaves before its header: nobody pushed out */
        cr_expect(!overflow_by_proxy_client("127.0.0.1", NULL, &rep), "left: %s", rep);
        cr_expect_null(strstr(rep, "overflow="), "%s", rep);
        free(rep);

        /* trusted peer, valid header: the oldest client not logged in makes room */
        cr_expect(overflow_by_proxy_client("127.0.0.1", good, &rep), "valid: %s", rep);
        cr_expect_not_null(strstr(rep, "log=" DOVESD_MESSAGE_LOGIN_OVERFLOW "|imap|127.0.0.1:"),
                           "%s", rep);
        cr_expect_eq(report_num(rep, "served"), 3, "%s", rep);
        free(rep);
}
