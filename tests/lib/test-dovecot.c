/* SPDX-License-Identifier: MIT */

/*
 * helper/dovecot.[ch]: the status pipe reader (pure), the environment and fd table a worker
 * gets, the version detection, and Debian's real Dovecot 2.3 programs started with the
 * contract: the config process (serving a dovecot.conf written here) and anvil (talking to
 * it through its pipes and socket). Tests with real programs skip when
 * /usr/lib/dovecot/config is not installed (package dovecot-core).
 */

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "dovecot.h"

#define LIBEXEC "/usr/lib/dovecot"

/* ---- the status reader ------------------------------------------------------------------ */

typedef struct seen {
        dovecot_status st[16];
        int n;
        int fail_at;            /* return -EBADMSG for this record (0 = never) */
} seen;

static int collect(const dovecot_status *st, void *userdata) {
        seen *s = userdata;

        if (s->fail_at && s->n + 1 == s->fail_at)
                return -EBADMSG;
        cr_assert_lt(s->n, 16);
        s->st[s->n++] = *st;
        return 0;
}

static void record(unsigned char out[12], pid_t pid, unsigned gen, unsigned avail) {
        dovecot_status st = { pid, gen, avail };
        memcpy(out, &st, 12);
}

Test(dovecot_status, layout_is_master_status) {
        /* struct master_status { pid_t pid; unsigned uid; unsigned available_count; } */
        cr_assert_eq(sizeof(dovecot_status), 12);
        cr_assert_eq(offsetof(dovecot_status, generation), 4);
        cr_assert_eq(offsetof(dovecot_status, available_count), 8);
}

Test(dovecot_status, several_at_once) {
        unsigned char buf[36];
        dovecot_status_reader r = {};
        seen s = {};

        record(buf, 100, 1, 1000);
        record(buf + 12, 101, 1, 999);
        record(buf + 24, 100, 2, 0);
        cr_assert_eq(dovecot_status_feed(&r, buf, sizeof(buf), collect, &s), 3);
        cr_assert_eq(s.n, 3);
        cr_assert_eq(s.st[0].pid, 100);
        cr_assert_eq(s.st[0].available_count, 1000);
        cr_assert_eq(s.st[1].pid, 101);
        cr_assert_eq(s.st[1].available_count, 999);
        cr_assert_eq(s.st[2].generation, 2);
        cr_assert_eq(s.st[2].available_count, 0);
        cr_assert_eq(r.n_partial, 0);
}

Test(dovecot_status, partial_records_are_kept) {
        unsigned char buf[24];
        dovecot_status_reader r = {};
        seen s = {};

        record(buf, 4242, 7, 5);
        record(buf + 12, 4243, 7, 4);
        /* 5 bytes, then 10 (completes the first, 3 of the second), then 1 byte at a time */
        cr_assert_eq(dovecot_status_feed(&r, buf, 5, collect, &s), 0);
        cr_assert_eq(r.n_partial, 5);
        cr_assert_eq(dovecot_status_feed(&r, buf + 5, 10, collect, &s), 1);
        cr_assert_eq(s.n, 1);
        cr_assert_eq(s.st[0].pid, 4242);
        cr_assert_eq(s.st[0].available_count, 5);
        cr_assert_eq(r.n_partial, 3);
        for (size_t i = 15; i < 23; i++)
                cr_assert_eq(dovecot_status_feed(&r, buf + i, 1, collect, &s), 0);
        cr_assert_eq(dovecot_status_feed(&r, buf + 23, 1, collect, &s), 1);
        cr_assert_eq(s.n, 2);
        cr_assert_eq(s.st[1].pid, 4243);
        cr_assert_eq(s.st[1].generation, 7);
        cr_assert_eq(s.st[1].available_count, 4);
        cr_assert_eq(r.n_partial, 0);
}

Test(dovecot_status, callback_error_stops) {
        unsigned char buf[36];
        dovecot_status_reader r = {};
        seen s = { .fail_at = 2 };

        record(buf, 1, 1, 1);
        record(buf + 12, 2, 1, 1);
        record(buf + 24, 3, 1, 1);
        cr_assert_eq(dovecot_status_feed(&r, buf, sizeof(buf), collect, &s), -EBADMSG);
        cr_assert_eq(s.n, 1);
}

Test(dovecot_status, read_drains_pipe_then_eof) {
        unsigned char buf[36];
        dovecot_status_reader r = {};
        seen s = {};
        int p[2];

        cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        record(buf, 10, 3, 8);
        record(buf + 12, 11, 3, 7);
        record(buf + 24, 12, 3, 6);     /* only 6 of its 12 bytes */
        cr_assert_eq(write(p[1], buf, 30), 30);
        cr_assert_eq(dovecot_status_read(&r, p[0], collect, &s), 2);
        cr_assert_eq(r.n_partial, 6);
        cr_assert_eq(dovecot_status_read(&r, p[0], collect, &s), 0);   /* EAGAIN */
        record(buf, 12, 3, 6);
        cr_assert_eq(write(p[1], buf + 6, 6), 6);
        cr_assert_eq(dovecot_status_read(&r, p[0], collect, &s), 1);
        cr_assert_eq(s.n, 3);
        cr_assert_eq(s.st[2].pid, 12);
        cr_assert_eq(s.st[2].available_count, 6);
        close(p[1]);
        cr_assert_eq(dovecot_status_read(&r, p[0], collect, &s), -EPIPE);
        close(p[0]);
}

/* ---- login notify ------------------------------------------------------------------------ */

Test(dovecot_login_notify, offset_is_the_state) {
        int fd = dovecot_login_notify_new(), other;

        cr_assert_geq(fd, 0);
        /* A worker sees the state through its own copy of the fd (same file description). */
        other = dup(fd);
        cr_assert_eq(dovecot_login_notify_set(fd, true), 0);
        cr_assert_eq(lseek(other, 0, SEEK_CUR), 1);
        cr_assert_eq(dovecot_login_notify_set(fd, false), 0);
        cr_assert_eq(lseek(other, 0, SEEK_CUR), 0);
        cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(other);
        close(fd);
}

/* ---- version ------------------------------------------------------------------------------ */

Test(dovecot_version, matches_dovecot_version_output) {
        char line[128] = "", *v = NULL;
        FILE *p;

        if (access(LIBEXEC "/libdovecot.so.0", R_OK) < 0 || access("/usr/sbin/dovecot", X_OK) < 0)
                cr_skip_test("dovecot-core is not installed");
        p = popen("/usr/sbin/dovecot --version", "r");
        cr_assert_not_null(p);
        cr_assert_not_null(fgets(line, sizeof(line), p));
        pclose(p);
        line[strcspn(line, " \n")] = '\0';      /* "2.3.19.1 (9b53102964)" → "2.3.19.1" */

        cr_assert_eq(dovecot_version_detect(LIBEXEC "/imap-login", &v), 0);
        cr_assert_str_eq(v, line);
        free(v);
        /* Not beside the executable: the default library is used. */
        cr_assert_eq(dovecot_version_detect("/nonexistent/imap", &v), 0);
        cr_assert_str_eq(v, line);
        free(v);
        cr_assert_eq(dovecot_version_from_library("/nonexistent/libdovecot.so.0", &v), -ENOENT);
        /* A file without the string */
        cr_assert_eq(dovecot_version_from_library("/etc/hostname", &v), -ENOENT);
}

/* ---- environment and fds ----------------------------------------------------------------- */

static bool env_has(char * const *envp, const char *entry) {
        for (; *envp; envp++)
                if (strcmp(*envp, entry) == 0)
                        return true;
        return false;
}

static bool env_has_name(char * const *envp, const char *name) {
        size_t n = strlen(name);

        for (; *envp; envp++)
                if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
                        return true;
        return false;
}

static int dummy_pipe(int p[2]) {
        return pipe2(p, O_CLOEXEC | O_NONBLOCK);
}

Test(dovecot_env, master_environment) {
        char *argv[] = { "/usr/lib/dovecot/imap-login", "-D", NULL };
        int status[2], dead[2], s1, s2;
        dovecot_listener ls[2];
        dovecot_exec *e = NULL;
        char * const *envp;

        cr_assert_eq(dummy_pipe(status), 0);
        cr_assert_eq(dummy_pipe(dead), 0);
        s1 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        s2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ls[0] = (dovecot_listener) { .fd = s1, .name = "imap" };
        ls[1] = (dovecot_listener) { .fd = s2, .name = "imaps", .ssl = true, .haproxy = true };
        dovecot_child c = {
                .service = "imap-login", .type = "login", .client_limit = 1000,
                .process_limit = 100, .process_min_avail = 2, .idle_kill = 60,
                .generation = 3, .user = "root", .group = "root", .extra_groups = "root,root",
                .privileged_group = "root", .chroot = "/run/dovecot/login",
                .base_dir = "/run/dovecot", .dovecot_version = "2.3.19.1",
                .listeners = ls, .n_listeners = 2, .stdout_fd = -1, .stderr_fd = -1,
                .anvil_fd = -1, .login_notify_fd = -1, .status_fd = status[1],
                .master_dead_fd = dead[1], .argv = argv,
        };

        cr_assert_eq(dovecot_child_prepare(&c, &e), 0);
        envp = dovecot_exec_envp(e);
        cr_assert(env_has(envp, "DOVECOT_CHILD_PROCESS=1"));
        cr_assert(env_has(envp, "GENERATION=3"));
        cr_assert(env_has(envp, "SERVICE_NAME=imap-login"));
        cr_assert(env_has(envp, "CLIENT_LIMIT=1000"));
        cr_assert(env_has(envp, "PROCESS_LIMIT=100"));
        cr_assert(env_has(envp, "PROCESS_MIN_AVAIL=2"));
        cr_assert(env_has(envp, "IDLE_KILL=60"));
        cr_assert(!env_has_name(envp, "SERVICE_COUNT"), "SERVICE_COUNT only when not 0");
        cr_assert(env_has(envp, "CONFIG_FILE=/run/dovecot/config"));
        cr_assert(env_has(envp, "DOVECOT_VERSION=2.3.19.1"));
        cr_assert(env_has(envp, "SOCKET_COUNT=2"));
        cr_assert(env_has(envp, "SOCKET0_SETTINGS=imap"));
        cr_assert(env_has(envp, "SOCKET1_SETTINGS=imaps\tssl\thaproxy"));
        cr_assert(env_has(envp, "RESTRICT_SETUID=0"));
        cr_assert(env_has(envp, "RESTRICT_SETGID=0"));
        cr_assert(env_has(envp, "RESTRICT_SETGID_PRIV=0"));
        cr_assert(env_has(envp, "RESTRICT_SETEXTRAGROUPS=0,0"));
        cr_assert(env_has(envp, "RESTRICT_CHROOT=/run/dovecot/login"));
        /* chrooted: the stats-writer socket is expected in the working directory */
        cr_assert(env_has(envp, "STATS_WRITER_SOCKET_PATH=stats-writer"));
        cr_assert(env_has(envp, "LOG_DEBUG="));
        cr_assert(!env_has_name(envp, "LOG_SERVICE"), "journald is the log service");
        cr_assert(!env_has_name(envp, "LISTEN_FDS"));
        e = dovecot_exec_free(e);

        /* service_count, no chroot, no user: no RESTRICT_* at all */
        c.service_count = 1;
        c.chroot = c.user = c.group = c.extra_groups = c.privileged_group = NULL;
        cr_assert_eq(dovecot_child_prepare(&c, &e), 0);
        envp = dovecot_exec_envp(e);
        cr_assert(env_has(envp, "SERVICE_COUNT=1"));
        cr_assert(env_has(envp, "STATS_WRITER_SOCKET_PATH=/run/dovecot/stats-writer"));
        cr_assert(!env_has_name(envp, "RESTRICT_SETUID"));
        cr_assert(!env_has_name(envp, "RESTRICT_SETGID"));
        cr_assert(!env_has_name(envp, "RESTRICT_CHROOT"));
        e = dovecot_exec_free(e);

        /* errors */
        c.user = "no-such-user-dovesd";
        cr_assert_eq(dovecot_child_prepare(&c, &e), -ESRCH);
        c.user = NULL;
        c.type = "log";
        cr_assert_eq(dovecot_child_prepare(&c, &e), -EINVAL);
        c.type = "login";
        c.status_fd = -1;
        cr_assert_eq(dovecot_child_prepare(&c, &e), -EINVAL);
        c.status_fd = status[1];
        c.type = "config";      /* needs config_file */
        cr_assert_eq(dovecot_child_prepare(&c, &e), -EINVAL);
        c.type = "anvil";       /* needs its two pipes and fd 4 */
        cr_assert_eq(dovecot_child_prepare(&c, &e), -EINVAL);
        cr_assert_null(e);
}

static pid_t spawn(const dovecot_child *c) {
        dovecot_exec *e = NULL;
        pid_t pid;

        cr_assert_eq(dovecot_child_prepare(c, &e), 0);
        pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                int r = dovecot_child_exec(e);
                dprintf(2, "dovecot_child_exec: %s\n", strerror(-r));
                _exit(127);
        }
        dovecot_exec_free(e);
        return pid;
}

static int wait_exit(pid_t pid, int seconds) {
        for (int i = 0; i < seconds * 100; i++) {
                int st;
                pid_t r = waitpid(pid, &st, WNOHANG);

                if (r == pid)
                        return st;
                usleep(10000);
        }
        return -1;
}

static char *read_file(const char *path) {
        static char buf[8192];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return NULL;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        buf[n < 0 ? 0 : n] = '\0';
        return buf;
}

Test(dovecot_exec, fd_table_cwd_signals) {
        char dir[] = "/tmp/test-dovecot-XXXXXX", out[256];
        /* The signal state first, read by the shell's builtins: a grep in a pipeline would
         * race with the shell's own fork (glibc blocks every signal around it). */
        char *argv[] = { "/bin/sh", "-c",
                         "while read -r l; do case $l in Sig[BI]*) sig=\"$sig $l\";; esac; "
                         "done < /proc/$$/status; "
                         /* fds 0-9 by builtins (dash takes no fd above 9 in a redirection),
                          * since a pipe to ls or a $(ls) would show the shell's own pipe
                          * fds; above 9 by ls, where the shell keeps none of its own */
                         "for n in 0 1 2 3 4 5 6 7 8 9; do if { true >&$n; } 2>/dev/null; "
                         "then printf '%s ' $n; fi; done; echo; pwd; echo \"$sig\"; "
                         "echo \"high:$(ls /proc/$$/fd | while read -r f; do "
                         "[ \"$f\" -ge 10 ] && printf ' %s' \"$f\"; done)\"", NULL };
        int status[2], dead[2], lst, leak, outfd, st;
        dovecot_listener l;
        sigset_t block;
        char *text;
        pid_t pid;

        /* The setup traces children: the exec'd shell and its tools would run under memcheck,
         * whose own fds show in the list and whose tools' leaks are reported. */
        if (RUNNING_ON_VALGRIND)
                cr_skip_test("under valgrind the exec'd shell's fd table is memcheck's");
        cr_assert_not_null(mkdtemp(dir));
        snprintf(out, sizeof(out), "%s/out", dir);
        outfd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        cr_assert_eq(dummy_pipe(status), 0);
        cr_assert_eq(pipe2(dead, O_CLOEXEC), 0);
        lst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        leak = dup(0);          /* no CLOEXEC: must not leak into the worker */
        cr_assert_geq(leak, 0);
        /* A supervisor on sd-event blocks signals and ignores SIGPIPE. */
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGCHLD);
        sigprocmask(SIG_BLOCK, &block, NULL);
        signal(SIGPIPE, SIG_IGN);

        l = (dovecot_listener) { .fd = lst, .name = "x" };
        dovecot_child c = {
                .service = "probe", .client_limit = 1, .process_limit = 1, .base_dir = dir,
                .listeners = &l, .n_listeners = 1, .stdout_fd = outfd, .stderr_fd = outfd,
                .anvil_fd = -1, .login_notify_fd = -1, .status_fd = status[1],
                .master_dead_fd = dead[1], .argv = argv,
        };
        pid = spawn(&c);
        sigprocmask(SIG_UNBLOCK, &block, NULL);
        signal(SIGPIPE, SIG_DFL);
        st = wait_exit(pid, 10);
        cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);

        text = read_file(out);
        cr_assert_not_null(text);
        /* 0-2, 3 (/dev/null), 5 status, 6 master-dead, 7 the listener; 4 stays closed */
        cr_assert_eq(strncmp(text, "0 1 2 3 5 6 7 \n", 15), 0, "fds: %s", text);
        cr_assert_not_null(strstr(text, "\nhigh:\n"), "no fd above 9 (the leak): %s", text);
        cr_assert_not_null(strstr(text, dir), "cwd is base_dir: %s", text);
        cr_assert_not_null(strstr(text, "SigBlk:\t0000000000000000"), "%s", text);
        cr_assert_not_null(strstr(text, "SigIgn:\t0000000000000000"), "%s", text);
        close(leak);
        close(outfd);
}

/* ---- real Dovecot programs ------------------------------------------------------------ */

typedef struct fixture {
        char dir[64];
        char log[96];
        int logfd;
        int dead[2];            /* master-dead pipe: [0] held here */
        pid_t config_pid;
        int config_status[2];
        int config_sock;
} fixture;

static int unix_listen(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        cr_assert_geq(fd, 0);
        cr_assert_lt(strlen(path), sizeof(sa.sun_path));
        memcpy(sa.sun_path, path, strlen(path) + 1);
        cr_assert_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0, "bind %s: %m", path);
        cr_assert_eq(listen(fd, 16), 0);
        return fd;
}

static int unix_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        cr_assert_lt(strlen(path), sizeof(sa.sun_path));
        memcpy(sa.sun_path, path, strlen(path) + 1);
        cr_assert_eq(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0, "connect %s: %m",
                     path);
        return fd;
}

static int first_status_cb(const dovecot_status *st, void *userdata) {
        dovecot_status *out = userdata;

        if (out->pid == 0)
                *out = *st;
        return 0;
}

/* Waits up to SECONDS for the first status record on FD. */
static dovecot_status wait_status(int fd, int seconds, const char *log) {
        dovecot_status_reader r = {};
        dovecot_status st = {};
        struct pollfd p = { .fd = fd, .events = POLLIN };
        time_t end = time(NULL) + seconds;

        while (st.pid == 0 && time(NULL) <= end) {
                if (poll(&p, 1, 200) > 0)
                        cr_assert_geq(dovecot_status_read(&r, fd, first_status_cb, &st), 0);
        }
        cr_assert_neq(st.pid, 0, "no status record within %d s; the programs wrote:\n%s",
                      seconds, read_file(log) ?: "");
        return st;
}

static void fixture_config(fixture *f) {
        char conf[128], sock[128], state[128];
        FILE *cf;

        if (access(LIBEXEC "/config", X_OK) < 0 || access(LIBEXEC "/anvil", X_OK) < 0)
                cr_skip_test("dovecot-core is not installed");
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-dovecot-XXXXXX");
        cr_assert_not_null(mkdtemp(f->dir));
        chmod(f->dir, 0755);
        snprintf(f->log, sizeof(f->log), "%s/stderr.log", f->dir);
        f->logfd = open(f->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        cr_assert_geq(f->logfd, 0);
        snprintf(conf, sizeof(conf), "%s/dovecot.conf", f->dir);
        snprintf(state, sizeof(state), "%s/state", f->dir);
        mkdir(state, 0755);
        cf = fopen(conf, "we");
        cr_assert_not_null(cf);
        /* log_path = /dev/stderr and no LOG_SERVICE: lines go straight to fd 2 */
        fprintf(cf, "base_dir = %s\nstate_dir = %s\nlog_path = /dev/stderr\nlog_timestamp =\n"
                "ssl = no\nprotocols =\nlisten = 127.0.0.1\n", f->dir, state);
        fclose(cf);

        cr_assert_eq(pipe2(f->dead, O_CLOEXEC), 0);
        cr_assert_eq(pipe2(f->config_status, O_CLOEXEC | O_NONBLOCK), 0);
        snprintf(sock, sizeof(sock), "%s/config", f->dir);
        f->config_sock = unix_listen(sock);

        char *argv[] = { LIBEXEC "/config", NULL };
        dovecot_listener l = { .fd = f->config_sock, .name = "config" };
        char *version = NULL;
        cr_assert_eq(dovecot_version_detect(argv[0], &version), 0);
        dovecot_child c = {
                .service = "config", .type = "config", .client_limit = 1000,
                .process_limit = 1, .idle_kill = 60, .generation = 1, .base_dir = f->dir,
                .config_file = conf, .dovecot_version = version, .listeners = &l,
                .n_listeners = 1, .stdout_fd = -1, .stderr_fd = f->logfd, .anvil_fd = -1,
                .login_notify_fd = -1, .status_fd = f->config_status[1],
                .master_dead_fd = f->dead[1], .argv = argv,
        };
        f->config_pid = spawn(&c);
        free(version);
}

static void fixture_done(fixture *f) {
        char cmd[128];

        if (f->config_pid > 0) {
                kill(f->config_pid, SIGKILL);
                waitpid(f->config_pid, NULL, 0);
        }
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (f->dir[0])
                (void) system(cmd);
}

Test(dovecot_real, config_first_status_and_master_dead) {
        fixture f = {};
        dovecot_status st;
        int exit_status;

        fixture_config(&f);
        st = wait_status(f.config_status[0], 10, f.log);
        cr_assert_eq(st.pid, f.config_pid);
        cr_assert_eq(st.generation, 1);
        cr_assert_eq(st.available_count, 1000);

        /* The config process serves the file it was given, over its socket, in Dovecot's
         * config protocol: base_dir comes back as written in it. */
        {
                const char *req = "VERSION\tconfig\t2\t0\nREQ\tservice=anvil\n";
                char sock[128], want[128], reply[65536] = "";
                size_t got = 0;
                int c;

                snprintf(sock, sizeof(sock), "%s/config", f.dir);
                snprintf(want, sizeof(want), "\nbase_dir=%s\n", f.dir);
                c = unix_connect(sock);
                cr_assert_eq(write(c, req, strlen(req)), (ssize_t) strlen(req));
                while (got < sizeof(reply) - 1 && !strstr(reply, "\n\n")) {
                        struct pollfd p = { .fd = c, .events = POLLIN };
                        ssize_t n;

                        cr_assert_eq(poll(&p, 1, 5000), 1);
                        n = read(c, reply + got, sizeof(reply) - 1 - got);
                        cr_assert_gt(n, 0);
                        got += n;
                        reply[got] = '\0';
                }
                cr_assert_not_null(strstr(reply, want), "reply:\n%s", reply);
                close(c);
        }

        /* The master "dies": the read end of the master-dead pipe closes. */
        close(f.dead[0]);
        exit_status = wait_exit(f.config_pid, 10);
        cr_assert_geq(exit_status, 0, "config kept running without its master");
        f.config_pid = 0;
        fixture_done(&f);
}

Test(dovecot_real, sigint_exits_when_idle) {
        fixture f = {};
        dovecot_status st;
        int exit_status;

        fixture_config(&f);
        st = wait_status(f.config_status[0], 10, f.log);
        cr_assert_eq(st.pid, f.config_pid);
        /* idle_kill: SIGINT from the master, no clients → exits cleanly, without logging */
        kill(f.config_pid, SIGINT);
        exit_status = wait_exit(f.config_pid, 10);
        cr_assert(exit_status >= 0 && WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0,
                  "status %d", exit_status);
        f.config_pid = 0;
        fixture_done(&f);
}

Test(dovecot_real, anvil_handshake_pipes_and_privileges) {
        char sock[128], fifo[128], line[64] = "", *log;
        int status[2], master[2], fdpass[2], shared, lst, c, exit_status;
        struct passwd *pw = getpwnam("dovecot");
        dovecot_status st;
        fixture f = {};
        pid_t pid;
        ssize_t n;

        fixture_config(&f);
        (void) wait_status(f.config_status[0], 10, f.log);

        cr_assert_eq(pipe2(status, O_CLOEXEC | O_NONBLOCK), 0);
        cr_assert_eq(pipe2(master, O_CLOEXEC), 0);
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fdpass), 0);
        /* The shared pipe as systemd's ListenFIFO= gives it: a FIFO opened read-write. */
        snprintf(fifo, sizeof(fifo), "%s/anvil-shared", f.dir);
        cr_assert_eq(mkfifo(fifo, 0600), 0);
        shared = open(fifo, O_RDWR | O_CLOEXEC);
        cr_assert_geq(shared, 0);
        snprintf(sock, sizeof(sock), "%s/anvil", f.dir);
        lst = unix_listen(sock);

        char *argv[] = { LIBEXEC "/anvil", NULL };
        dovecot_listener l = { .fd = lst, .name = "anvil" };
        dovecot_child ch = {
                .service = "anvil", .type = "anvil", .client_limit = 1000,
                .process_limit = 1, .idle_kill = 60, .generation = 5,
                .user = pw ? "dovecot" : NULL, .base_dir = f.dir,
                .listeners = &l, .n_listeners = 1, .stdout_fd = -1, .stderr_fd = f.logfd,
                .anvil_fd = -1, .login_notify_fd = fdpass[1], .status_fd = status[1],
                .master_dead_fd = f.dead[1], .anvil_master_fd = master[0],
                .anvil_shared_fd = shared, .argv = argv,
        };
        pid = spawn(&ch);
        /* The master writes the handshake into both pipes when anvil starts. */
        cr_assert_eq(write(master[1], DOVECOT_ANVIL_HANDSHAKE, strlen(DOVECOT_ANVIL_HANDSHAKE)),
                     (ssize_t) strlen(DOVECOT_ANVIL_HANDSHAKE));
        cr_assert_eq(write(shared, DOVECOT_ANVIL_HANDSHAKE, strlen(DOVECOT_ANVIL_HANDSHAKE)),
                     (ssize_t) strlen(DOVECOT_ANVIL_HANDSHAKE));

        st = wait_status(status[0], 10, f.log);
        cr_assert_eq(st.pid, pid);
        cr_assert_eq(st.generation, 5);
        cr_assert_eq(st.available_count, 1000);

        /* A worker's CONNECT through the shared pipe (what fd 3 carries), then a LOOKUP on
         * the socket counts it: anvil took both handshakes. */
        {
                const char *connect_line = "CONNECT\t4242\timap/127.0.0.1/alice\n";
                const char *req = DOVECOT_ANVIL_HANDSHAKE "LOOKUP\timap/127.0.0.1/alice\n";
                struct pollfd p;

                cr_assert_eq(write(shared, connect_line, strlen(connect_line)),
                             (ssize_t) strlen(connect_line));
                usleep(200000);
                c = unix_connect(sock);
                cr_assert_eq(write(c, req, strlen(req)), (ssize_t) strlen(req));
                p = (struct pollfd) { .fd = c, .events = POLLIN };
                cr_assert_eq(poll(&p, 1, 5000), 1, "%s", read_file(f.log) ?: "");
                n = read(c, line, sizeof(line) - 1);
                cr_assert_gt(n, 0);
                line[n] = '\0';
                cr_assert_str_eq(line, "1\n");
                /* An unknown command is logged to stderr (log_path=/dev/stderr, no
                 * LOG_SERVICE): "anvil: Error: …" */
                cr_assert_eq(write(c, "FOO\n", 4), 4);
                usleep(300000);
                close(c);
        }
        log = read_file(f.log);
        cr_assert_not_null(strstr(log, "anvil: Error: Anvil client input error: Unknown "
                                       "command: FOO"), "log:\n%s", log);

        /* RESTRICT_SETUID: anvil dropped to the dovecot user itself. */
        if (pw) {
                char path[64], *s, want[64];

                snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
                s = read_file(path);
                cr_assert_not_null(s);
                snprintf(want, sizeof(want), "\nUid:\t%u\t%u\t%u", (unsigned) pw->pw_uid,
                         (unsigned) pw->pw_uid, (unsigned) pw->pw_uid);
                cr_assert_not_null(strstr(s, want), "%s", s);
        }

        kill(pid, SIGTERM);
        exit_status = wait_exit(pid, 10);
        cr_assert_geq(exit_status, 0, "anvil ignored SIGTERM");
        fixture_done(&f);
}
