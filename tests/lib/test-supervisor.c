/* SPDX-License-Identifier: MIT */

/*
 * dovesd-supervisor (helper/supervisor.c) for real: every case starts the built supervisor
 * program with a listening TCP socket at fd 3 (LISTEN_*, as systemd passes it), DOVESD_*
 * settings in the environment and DOVESD_LOG_STDERR=1, and the worker program
 * tests/lib/pool-worker.c, which the supervisor fork + execs for every worker. The worker greets
 * each client with its pid and answers "pid", "login", "limits", "ids" and "quit". The test process
 * plays the clients and reads the supervisor's stderr, a pipe shared with the workers:
 *
 *   <PRIO>[MESSAGE_ID ]MESSAGE               a record of the supervisor
 *   <6>Stats: workers=N ... pids=a,b         its counters, on SIGUSR2
 *   worker PID <PRIO>[MESSAGE_ID ]MESSAGE    a record of libdovesd in worker PID
 *   worker PID reload                        the worker's reload callback ran
 *
 * DOVESD_SUPERVISOR and POOL_WORKER (tests/meson.build) name the two programs. Under
 * valgrind (the setup traces children: the supervisor and every worker run under memcheck
 * too) and ASan the waits grow; cases that cannot hold there say why and skip.
 */

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "internal.h"         /* the MESSAGE_IDs of the records */
#include "sched-attr.h"
#include "testlib.h"

#define MAX_PIDS 256

/* How much slower than a plain build this run is: waits for something that must happen
 * grow by this; waits for something that must not happen do not. */
static double slow(void) {
        if (RUNNING_ON_VALGRIND)
                return 10;
#if defined(__SANITIZE_ADDRESS__)
        return 3;
#else
        return 1;
#endif
}

/* The end of a long log, for an assertion's message (a spinning supervisor writes megabytes). */
static const char *tail_of(const char *log) {
        size_t l = log ? strlen(log) : 0;

        return !log ? "" : l > 4000 ? log + l - 4000 : log;
}

static const char *program_path(const char *var) {
        const char *p = getenv(var);

        cr_assert(p && p[0] == '/', "%s is not set to an absolute path (tests/meson.build)", var);
        return p;
}

static const char *supervisor_path(void) {
        return program_path("DOVESD_SUPERVISOR");
}

static const char *worker_path(void) {
        return program_path("POOL_WORKER");
}

/* PATH, or a copy of it that any uid can execute: a build tree may sit below a directory
 * only root can enter (mktemp -d makes 0700 ones), and an unprivileged supervisor must exec
 * itself and its workers. The copies live in one 0755 directory under /tmp for the run. */
static char copies_dir[64];

static void copies_remove(void) {
        _cleanup_free_ char *cmd = NULL;

        if (copies_dir[0] && asprintf(&cmd, "rm -rf '%s'", copies_dir) > 0)
                (void) !system(cmd);
}

static char *path_for_any_uid(const char *path) {
        char *dir = copies_dir;
        _cleanup_free_ char *copy = NULL, *cmd = NULL;
        const char *name = strrchr(path, '/') + 1;
        int status;

        if (!dir[0]) {
                snprintf(dir, sizeof(copies_dir), "/tmp/dovesd-test-programs-XXXXXX");
                cr_assert_not_null(mkdtemp(dir), "mkdtemp: %m");
                cr_assert_eq(chmod(dir, 0755), 0);
                atexit(copies_remove);
        }
        cr_assert_gt(asprintf(&copy, "%s/%s", dir, name), 0);
        if (access(copy, X_OK) == 0)
                return strdup(copy);
        cr_assert_gt(asprintf(&cmd, "cp '%s' '%s' && chmod 0755 '%s'", path, copy, copy), 0);
        status = system(cmd);
        cr_assert_eq(status, 0, "%s failed", cmd);
        return strdup(copy);
}

/* ---- the service ----------------------------------------------------------------------- */

typedef struct pool_env {
        const char *type;
        const char *process_limit, *client_limit, *min_avail, *idle_kill, *service_count;
        const char *listeners;          /* NULL: "imap" */
        bool keep_notify;               /* the test reads NOTIFY_SOCKET (set it) itself */
        const char *program;            /* NULL: pool-worker */
        bool as_user;                   /* run the supervisor as uid/gid TEST_UID */
} pool_env;

#define TEST_UID 64123

typedef struct svc {
        pid_t pid;
        unsigned port;
        int listen_fd;
        report rep;
        size_t pos;                     /* svc_stats() reads on from here */
} svc;

static void set_env(const pool_env *e) {
        setenv("DOVESD_SERVICE", "pooltest", 1);
        setenv("DOVESD_TYPE", e->type ?: "", 1);
        setenv("DOVESD_LISTENERS", e->listeners ?: "imap", 1);
        setenv("DOVESD_PROCESS_LIMIT", e->process_limit, 1);
        setenv("DOVESD_CLIENT_LIMIT", e->client_limit, 1);
        setenv("DOVESD_PROCESS_MIN_AVAIL", e->min_avail ?: "0", 1);
        setenv("DOVESD_IDLE_KILL", e->idle_kill ?: "0", 1);
        setenv("DOVESD_SERVICE_COUNT", e->service_count ?: "0", 1);
        setenv("DOVESD_LOG_STDERR", "1", 1);
        if (!e->keep_notify)
                unsetenv("NOTIFY_SOCKET");
}

static char *svc_stats(svc *v);

/* Start the supervisor; unless the test reads NOTIFY_SOCKET itself, wait for its READY=1
 * (process_min_avail workers ready), which also says its signals are set up: SIGUSR2 is a
 * Stats line from then on, not the default action. */
static void svc_start(svc *v, const pool_env *e) {
        char *argv[] = { (char *) supervisor_path(), (char *) (e->program ?: worker_path()), NULL };
        _cleanup_free_ char *sup_copy = NULL, *prog_copy = NULL;
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        static unsigned counter;
        int nfd = -1, status;
        double end;
        svc_fd fd;

        set_env(e);
        if (!e->keep_notify) {
                snprintf(a.sun_path, sizeof(a.sun_path), "/tmp/dovesd-sv-ready-%d-%u",
                         (int) getpid(), counter++);
                unlink(a.sun_path);
                nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                cr_assert_geq(nfd, 0);
                cr_assert_eq(bind(nfd, (struct sockaddr *) &a, sizeof(a)), 0);
                /* an unprivileged supervisor must be able to send to it */
                cr_assert_eq(chmod(a.sun_path, 0666), 0);
                setenv("NOTIFY_SOCKET", a.sun_path, 1);
        }
        if (e->as_user) {
                argv[0] = sup_copy = path_for_any_uid(argv[0]);
                argv[1] = prog_copy = path_for_any_uid(argv[1]);
        }
        *v = (svc) {};
        v->listen_fd = listen_tcp(4096, &v->port);
        fd = (svc_fd) { .fd = v->listen_fd, .name = "imap" };
        v->pid = spawn_program(&fd, 1, argv, e->as_user ? TEST_UID : (uid_t) -1, &v->rep);
        v->rep.timed = true;
        if (e->keep_notify)
                return;

        unsetenv("NOTIFY_SOCKET");
        end = now_sec() + 10 * slow();
        for (;;) {
                char msg[256];
                ssize_t k;

                cr_assert_eq(waitpid(v->pid, &status, WNOHANG), 0,
                             "the supervisor exited at start (status %d):\n%s", status,
                             report_wait(&v->rep, "", 1, NULL) ?: "");
                cr_assert_lt(now_sec(), end, "no READY=1 from the supervisor within %.0f s",
                             10 * slow());
                if (!readable_within(nfd, 0.1))
                        continue;
                k = recv(nfd, msg, sizeof(msg) - 1, 0);
                if (k <= 0)
                        continue;
                msg[k] = '\0';
                if (strcmp(msg, "READY=1") == 0)
                        break;
        }
        close(nfd);
        unlink(a.sun_path);
        free(svc_stats(v));
}

/* SIGUSR2 → one "Stats:" line from the supervisor. */
static char *svc_stats(svc *v) {
        char *line;

        cr_assert_eq(kill(v->pid, SIGUSR2), 0);
        line = report_wait(&v->rep, "<6>Stats: ", 10 * slow(), &v->pos);
        cr_assert_not_null(line, "no Stats from the supervisor; its log:\n%s", tail_of(v->rep.buf));
        return line;
}

/* Poll the Stats line until cond (an expression over `st`) holds or timeout_sec passes. */
#define STATS_UNTIL(v, st, cond, timeout_sec)                                           \
        do {                                                                            \
                double _end_ = now_sec() + (timeout_sec) * slow();                      \
                free(st);                                                               \
                st = svc_stats(v);                                                      \
                while (!(cond) && now_sec() < _end_) {                                  \
                        sleep_sec(0.1);                                                 \
                        free(st);                                                       \
                        st = svc_stats(v);                                              \
                }                                                                       \
        } while (false)

/* The pids= list of a Stats line. */
static size_t stats_pids(const char *line, pid_t *pids, size_t max) {
        const char *p = strstr(line, "pids=");
        size_t n = 0;

        cr_assert_not_null(p, "%s", line);
        for (p += 5; *p >= '0' && *p <= '9' && n < max;) {
                pids[n++] = (pid_t) atoi(p);
                p += strspn(p, "0123456789");
                if (*p == ',')
                        p++;
        }
        return n;
}

static bool pid_in_list(const char *line, pid_t pid) {
        pid_t pids[MAX_PIDS];
        size_t n = stats_pids(line, pids, MAX_PIDS);

        for (size_t i = 0; i < n; i++)
                if (pids[i] == pid)
                        return true;
        return false;
}

static bool pid_gone(pid_t pid) {
        return kill(pid, 0) < 0 && errno == ESRCH;
}

/* SIGTERM and wait: the supervisor exits 0, and every worker of the last Stats line (which
 * *ret_final gets, if asked) is gone with it. Returns the whole log (owned by v->rep). */
static const char *svc_stop(svc *v, char **ret_final) {
        pid_t pids[MAX_PIDS];
        size_t n;
        const char *rep;
        char *final = svc_stats(v);
        int status;

        n = stats_pids(final, pids, MAX_PIDS);
        cr_assert_eq(kill(v->pid, SIGTERM), 0);
        rep = report_finish(&v->rep, v->pid, &status);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "supervisor status %d; its log:\n%s", status, tail_of(rep));
        for (size_t i = 0; i < n; i++)
                cr_assert(pid_gone(pids[i]), "worker %d outlived the supervisor", (int) pids[i]);
        close(v->listen_fd);
        v->listen_fd = -1;
        if (ret_final)
                *ret_final = final;
        else
                free(final);
        return rep;
}

static void svc_free(svc *v) {
        report_free(&v->rep);
}

/* `dovesd-supervisor --reload PID` run with the environment of e: its exit status. */
static int svc_reload(svc *v, const pool_env *e) {
        char pid[16], out[4096];
        size_t n = 0;
        int p[2], status;
        pid_t child;
        ssize_t k;

        set_env(e);
        snprintf(pid, sizeof(pid), "%d", (int) v->pid);
        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        child = fork();
        cr_assert_geq(child, 0);
        if (child == 0) {
                dup2(p[1], STDOUT_FILENO);
                dup2(p[1], STDERR_FILENO);
                execl(supervisor_path(), supervisor_path(), "--reload", pid, (char *) NULL);
                _exit(127);
        }
        close(p[1]);
        while (n < sizeof(out) - 1 && (k = read(p[0], out + n, sizeof(out) - 1 - n)) > 0)
                n += (size_t) k;
        out[n] = '\0';
        close(p[0]);
        cr_assert_eq(waitpid(child, &status, 0), child);
        cr_assert(WIFEXITED(status), "--reload: status %d: %s", status, out);
        if (n > 0)
                fprintf(stderr, "# --reload said: %s", out);
        return WEXITSTATUS(status);
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

/* The client_limit the worker serving fd runs with. */
static long client_limit_of(int fd) {
        char line[128];

        cr_assert_eq(send_str(fd, "limits\n"), 0);
        cr_assert_gt(read_line(fd, line, sizeof(line)), 0, "no answer to limits: %m");
        return field_num(line, "client_limit");
}

/* The DOVESD_WORKER_IDS the worker serving fd was started with ("-": none). */
static char *worker_ids_of(int fd) {
        char line[128];
        size_t l;

        cr_assert_eq(send_str(fd, "ids\n"), 0);
        cr_assert_gt(read_line(fd, line, sizeof(line)), 0, "no answer to ids: %m");
        l = strlen(line);
        if (l > 0 && line[l - 1] == '\n')
                line[l - 1] = '\0';
        cr_assert_eq(strncmp(line, "ids=", 4), 0, "ids: %s", line);
        return strdup(line + 4);
}

/* The greeting if one comes within timeout_sec: the worker's pid, else 0. */
static pid_t greeted_within(int fd, double timeout_sec) {
        char line[128];

        if (!readable_within(fd, timeout_sec))
                return 0;
        cr_assert_gt(read_line(fd, line, sizeof(line)), 0, "connection closed, no greeting");
        cr_assert_eq(strncmp(line, "hello ", 6), 0, "greeting: %s", line);
        return (pid_t) atoi(line + 6);
}

static long count_substr(const char *text, const char *needle) {
        long n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* Children of parent that exited and were not reaped. */
static unsigned count_zombies(pid_t parent) {
        unsigned n = 0;
        DIR *d = opendir("/proc");
        struct dirent *de;

        cr_assert_not_null(d);
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
                    sscanf(p + 2, "%c %d", &state, &ppid) == 2 && ppid == parent && state == 'Z')
                        n++;
                fclose(f);
        }
        closedir(d);
        return n;
}

/* utime + stime of pid in clock ticks. */
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

/* Records of the supervisor (lines "<P>...") or of the workers (lines "worker PID <P>...") in
 * the log at a priority other than debug, not counting the Stats lines the test asked for.
 * Returns how many; *ret_total counts the records seen, *ret_bad is the first such line. */
static unsigned records_above_debug(const char *log, bool workers, unsigned *ret_total,
                                    char **ret_bad) {
        unsigned bad = 0, total = 0;

        *ret_bad = NULL;
        for (const char *p = log; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                const char *rec = p;

                if (workers) {
                        if (strncmp(p, "worker ", 7) != 0)
                                continue;
                        rec = p + 7 + strspn(p + 7, "0123456789");
                        if (*rec != ' ' || rec[1] != '<')
                                continue;
                        rec++;
                } else if (*p != '<')
                        continue;
                total++;
                if (strncmp(rec, "<6>Stats: ", 10) == 0 || strncmp(rec, "<7>", 3) == 0)
                        continue;
                if (bad++ == 0)
                        *ret_bad = strndup(p, strcspn(p, "\n"));
        }
        *ret_total = total;
        return bad;
}

/* ---- cases ----------------------------------------------------------------------------- */

Test(supervisor, grows_to_process_limit_and_no_further, .timeout = 120) {
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
                pids[i] = greeted_within(fds[i], i < 6 ? 5 * slow() : 0.3);
                greeted[i] = pids[i] > 0;
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
        for (size_t j = 0; j < n_distinct; j++)
                cr_assert(pid_in_list(st, distinct[j]), "%s", st);
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
        for (int i = 0; i < 10 && late < 2; i++)
                if (fds[i] >= 0 && !greeted[i] && greeted_within(fds[i], 5 * slow()) > 0)
                        late++;
        cr_assert_eq(late, 2);

        for (int i = 0; i < 10; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        const char *rep = svc_stop(&v, &final);
        cr_assert_eq(field_num(final, "workers_max"), 3, "%s", final);
        cr_assert_leq(field_num(final, "max_clients"), 2, "%s", final);
        cr_assert(strstr(rep, "\n<4>" DOVESD_MESSAGE_PROCESS_LIMIT_REACHED
                         " process_limit (3) reached, client connections are waiting in the listen backlog\n"),
                  "%s", tail_of(rep));
        free(final);
        svc_free(&v);
}

Test(supervisor, min_avail_kept_after_workers_exit, .timeout = 120) {
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
        STATS_UNTIL(&v, st, field_num(st, "avail") == 2 && field_num(st, "workers") == 2, 5);
        cr_assert_eq(field_num(st, "avail"), 2, "%s", st);
        cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
        cr_assert_geq(field_num(st, "spawned"), 8, "%s", st);
        cr_assert_eq(count_zombies(v.pid), 0, "exited workers not reaped: %s", st);
        for (int i = 0; i < 6; i++)
                cr_assert(!pid_in_list(st, seen[i]), "%s", st);
        free(st);

        svc_stop(&v, &final);
        cr_assert_eq(field_num(final, "served"), 6, "%s", final);
        cr_assert_eq(field_num(final, "crashed"), 0, "%s", final);
        free(final);
        svc_free(&v);
}

Test(supervisor, service_count_recycling_loses_no_client, .timeout = 180) {
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
        /* the workers say so, at debug level: a recycled worker is routine */
        cr_assert(strstr(rep, " <7>" DOVESD_MESSAGE_SERVICE_COUNT_EXIT
                         " service_count (5) reached and every client finished, exiting\n"),
                  "%s", tail_of(rep));
        free(final);
        svc_free(&v);
}

Test(supervisor, idle_workers_beyond_min_avail_exit, .timeout = 120) {
        pool_env e = { .process_limit = "4", .client_limit = "2", .min_avail = "1",
                       .idle_kill = "1" };
        int fds[8];
        char *st = NULL, *st2, *final;
        svc v;

        svc_start(&v, &e);
        for (int i = 0; i < 8; i++)
                fds[i] = client_open(v.port, NULL);
        st = svc_stats(&v);
        cr_assert_eq(field_num(st, "workers"), 4, "%s", st);
        for (int i = 0; i < 8; i++)
                close(fds[i]);

        /* idle_kill 1 s (+ up to 1 s jitter): three go, the min_avail one stays. */
        sleep_sec(3.5);
        STATS_UNTIL(&v, st, field_num(st, "workers") == 1, 3);
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
        cr_assert_null(strstr(rep, DOVESD_MESSAGE_WORKER_CRASHED), "%s", tail_of(rep));
        free(final);
        svc_free(&v);
}

/* Without process_min_avail the last worker idles out after idle_kill; the supervisor stays
 * (as Dovecot's master does), and the next client costs one exec, not a unit start. */
Test(supervisor, idle_worker_exits_supervisor_stays, .timeout = 120) {
        pool_env e = { .process_limit = "2", .client_limit = "2", .idle_kill = "1" };
        char *st = NULL, *final;
        pid_t first, second;
        int fd;
        svc v;

        svc_start(&v, &e);
        fd = client_open(v.port, &first);
        cr_assert_eq(send_str(fd, "quit\n"), 0);
        close(fd);

        /* Nobody signals it: the worker idles out (SIGINT from the supervisor, exit 0). */
        sleep_sec(1);
        STATS_UNTIL(&v, st, field_num(st, "workers") == 0, 4);
        cr_assert_eq(field_num(st, "workers"), 0, "%s", st);
        cr_assert_eq(field_num(st, "spawned"), 1, "%s", st);
        cr_assert_eq(field_num(st, "served"), 1, "%s", st);
        cr_assert_eq(field_num(st, "crashed"), 0, "%s", st);
        cr_assert(pid_gone(first));
        free(st);

        /* The supervisor is still there and starts a fresh worker for the next client. */
        sleep_sec(1);
        cr_assert_eq(waitpid(v.pid, NULL, WNOHANG), 0, "the supervisor exited when idle");
        fd = client_open(v.port, &second);
        cr_assert_neq(second, first);
        close(fd);

        const char *rep = svc_stop(&v, &final);
        cr_assert_eq(field_num(final, "spawned"), 2, "%s", final);
        cr_assert_eq(field_num(final, "served"), 2, "%s", final);
        cr_assert_null(strstr(rep, DOVESD_MESSAGE_WORKER_CRASHED), "%s", tail_of(rep));
        free(final);
        svc_free(&v);
}

Test(supervisor, sigkilled_worker_is_replaced, .timeout = 120) {
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

        STATS_UNTIL(&v, st, field_num(st, "avail") >= 2 && !pid_in_list(st, a), 5);
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
        snprintf(want, sizeof(want), "\n<3>%s Worker %d killed by signal 9 (SIGKILL)\n",
                 DOVESD_MESSAGE_WORKER_CRASHED, (int) a);
        cr_assert(strstr(rep, want), "%s", tail_of(rep));
        free(final);
        svc_free(&v);
}

Test(supervisor, login_overflow_drops_oldest_not_logged_in, .timeout = 120) {
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
        /* the worker that dropped them logs each drop */
        cr_assert_eq(count_substr(rep, ">" DOVESD_MESSAGE_LOGIN_OVERFLOW
                                  " All processes are full, dropping the oldest client not logged in\n"),
                     2, "%s", tail_of(rep));
        cr_assert_leq(field_num(final, "max_clients"), 2, "%s", final);
        free(final);
        svc_free(&v);
}

Test(supervisor, sighup_replaces_every_worker, .timeout = 180) {
        pool_env e = { .process_limit = "4", .client_limit = "10", .min_avail = "2" };
        pid_t held_pid[4], before[8];
        int held[4], res[2];
        char *st = NULL, *final, want[64];
        size_t n_before;
        pid_t hammer;
        svc v;

        svc_start(&v, &e);
        for (int i = 0; i < 4; i++)
                held[i] = client_open(v.port, &held_pid[i]);
        st = svc_stats(&v);
        cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
        n_before = stats_pids(st, before, 8);
        free(st);
        st = NULL;
        cr_assert_eq(n_before, 2);

        /* Clients connect without pause while the pool reloads. */
        cr_assert_eq(pipe(res), 0);
        hammer = fork();
        cr_assert_geq(hammer, 0);
        if (hammer == 0) {
                unsigned ok = 0, bad = 0;
                double end = now_sec() + 2 * slow();

                close(res[0]);
                while (now_sec() < end) {
                        struct sockaddr_in a = {
                                .sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                .sin_port = htons(v.port),
                        };
                        struct timeval tv = { .tv_sec = 5 * slow() };
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
                        else
                                ok++;
                        close(fd);
                }
                dprintf(res[1], "%u %u\n", ok, bad);
                _exit(0);
        }
        close(res[1]);
        sleep_sec(0.3 * slow());
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
        STATS_UNTIL(&v, st, !pid_in_list(st, before[0]) && !pid_in_list(st, before[1]) &&
                    field_num(st, "avail") >= 2, 5);
        cr_assert(!pid_in_list(st, before[0]) && !pid_in_list(st, before[1]) &&
                  field_num(st, "avail") >= 2, "%s", st);
        cr_assert_eq(field_num(st, "generation"), 1, "%s", st);
        cr_assert_eq(field_num(st, "old_workers"), 0, "%s", st);
        cr_assert_leq(field_num(st, "workers_max"), 4, "%s", st);
        free(st);

        const char *rep = svc_stop(&v, &final);
        /* the program's reload callback ran in each old worker */
        for (size_t i = 0; i < n_before; i++) {
                snprintf(want, sizeof(want), "\nworker %d reload\n", (int) before[i]);
                cr_assert(strstr(rep, want), "no reload callback in %d:\n%s", before[i],
                          tail_of(rep));
        }
        cr_assert(strstr(rep, "\n<6>" DOVESD_MESSAGE_RELOADED " Reloaded: new workers get the "
                         "new settings (client_limit 10, process_limit 4, service_count 0), "
                         "2 old workers finish their clients\n"), "%s", tail_of(rep));
        cr_assert_eq(field_num(final, "crashed"), 0, "%s", final);
        free(final);
        svc_free(&v);
}

/* A reload the supervisor refuses (DOVESD_LISTENERS changed: the sockets are systemd's)
 * leaves the running workers in place: `--reload` exits 1, the program's reload callback does
 * not run (it would fail here: TEST_RELOAD_FAIL), the workers and the generation stay. */
Test(supervisor, failed_reload_keeps_the_workers, .timeout = 120) {
        pool_env e = { .process_limit = "4", .client_limit = "10", .min_avail = "2" };
        char *st, *final;
        pid_t before[2];
        size_t n;
        svc v;

        setenv("TEST_RELOAD_FAIL", "1", 1);
        svc_start(&v, &e);
        st = svc_stats(&v);
        cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
        n = stats_pids(st, before, 2);
        free(st);
        cr_assert_eq(n, 2);

        pool_env changed = e;
        changed.listeners = "imap;pop3";
        cr_assert_eq(svc_reload(&v, &changed), 1);
        free(report_wait(&v.rep, "<3>Reload failed, keeping the running workers and settings: "
                         "DOVESD_LISTENERS changed", 10 * slow(), NULL));
        sleep_sec(0.5);
        st = svc_stats(&v);
        cr_assert(pid_in_list(st, before[0]) && pid_in_list(st, before[1]), "%s", st);
        cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
        cr_assert_eq(field_num(st, "generation"), 0, "%s", st);
        cr_assert_eq(field_num(st, "old_workers"), 0, "%s", st);
        free(st);

        const char *rep = svc_stop(&v, &final);
        cr_assert(strstr(rep, "\n<3>Reload failed, keeping the running workers and settings: "
                         "DOVESD_LISTENERS changed"), "%s", tail_of(rep));
        cr_assert_null(strstr(rep, " reload\n"), "a worker ran its reload callback:\n%s",
                       tail_of(rep));
        cr_assert_null(strstr(rep, DOVESD_MESSAGE_RELOADED), "%s", tail_of(rep));
        free(final);
        svc_free(&v);
}

Test(supervisor, crashing_workers_throttle_startups, .timeout = 120) {
        pool_env e = { .process_limit = "2", .client_limit = "5" };
        int fds[60];
        char *t1, *t2, *line, *final;
        double at1, at2, at;
        size_t pos = 0;
        svc v;

        /* Under memcheck a worker takes about a CPU second to start: 2 cores never crash 11 of
         * them within a second. */
        if (RUNNING_ON_VALGRIND)
                cr_skip_test("crash rate needs workers that start in milliseconds");

        setenv("TEST_CRASH", "1", 1);
        svc_start(&v, &e);
        for (int i = 0; i < 60; i++)
                fds[i] = connect_tcp(v.port);

        t1 = report_wait_at(&v.rep, "<3>" DOVESD_MESSAGE_WORKER_START_FAILED " ", 10 * slow(),
                            &pos, &at1);
        cr_assert_not_null(t1, "no throttling:\n%s", tail_of(v.rep.buf));
        cr_assert_str_eq(t1, "<3>" DOVESD_MESSAGE_WORKER_START_FAILED
                         " Workers failed 11 times within a second, not starting workers for 2 s");

        /* No worker starts during the 2 s; then the next round fails and doubles it. */
        for (;;) {
                line = report_wait_at(&v.rep, "<", 6 * slow(), &pos, &at);
                cr_assert_not_null(line, "no second throttling:\n%s", tail_of(v.rep.buf));
                if (strncmp(line, "<7>Started worker ", 18) == 0)
                        cr_assert_geq(at, at1 + 1.9, "%s %.3f s after %s", line, at - at1, t1);
                if (strstr(line, DOVESD_MESSAGE_WORKER_START_FAILED))
                        break;
                free(line);
        }
        t2 = line;
        at2 = at;
        cr_assert_str_eq(t2, "<3>" DOVESD_MESSAGE_WORKER_START_FAILED
                         " Workers failed 11 times within a second, not starting workers for 4 s");
        cr_assert_geq(at2, at1 + 1.9);

        for (int i = 0; i < 60; i++)
                close(fds[i]);
        const char *rep = svc_stop(&v, &final);
        cr_assert_eq(field_num(final, "throttled"), 2, "%s", final);
        cr_assert_geq(field_num(final, "crashed"), 22, "%s", final);
        cr_assert(strstr(rep, " exited with status 3\n"), "%s", tail_of(rep));
        free(t1);
        free(t2);
        free(final);
        svc_free(&v);
}

/* 10,000 connections through client_limit 100 × process_limit 8, from 10 client processes
 * holding 90 connections each (900 > 800 slots: the pool is driven to its limit). */
Test(supervisor, ten_thousand_connections, .timeout = 600) {
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
                                        struct timeval tv = { .tv_sec = 20 * slow() };

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
        fprintf(stderr, "# supervisor: %u connections in %.2f s (%.0f/s); %s\n", total, wall,
                total / wall, final);
        cr_assert_eq(total, N_PROC * PER_PROC);
        cr_assert_eq(field_num(final, "served"), N_PROC * PER_PROC, "%s", final);
        cr_assert_leq(field_num(final, "max_clients"), 100, "%s", final);
        cr_assert_leq(field_num(final, "workers_max"), 8, "%s", final);
        cr_assert_eq(field_num(final, "crashed"), 0, "%s", final);
        free(final);
        svc_free(&v);
}

Test(supervisor, sigterm_stops_workers_gracefully, .timeout = 120) {
        pool_env e = { .process_limit = "2", .client_limit = "5", .min_avail = "1" };
        char line[64], *final, want[160];
        pid_t pid;
        int fd, status;
        svc v;

        svc_start(&v, &e);
        fd = client_open(v.port, &pid);
        final = svc_stats(&v);
        cr_assert(pid_in_list(final, pid), "%s", final);
        cr_assert_eq(kill(v.pid, SIGTERM), 0);

        /* Within the grace period (the worker's stop timeout, 2 s) the client is still
         * served ... */
        sleep_sec(0.3);
        cr_assert_eq(client_pid(fd), pid);
        /* ... then closed by its worker, and the supervisor exits 0 once the workers are gone. */
        cr_assert(readable_within(fd, 6 * slow()));
        cr_assert_leq(read_line(fd, line, sizeof(line)), 0);
        close(fd);

        const char *rep = report_finish(&v.rep, v.pid, &status);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d:\n%s", status,
                  tail_of(rep));
        cr_assert(pid_gone(pid), "worker %d outlived the supervisor", (int) pid);
        snprintf(want, sizeof(want), "\nworker %d <4>%s 1 client still connected after the "
                 "stop timeout, closing it\n", (int) pid, DOVESD_MESSAGE_STOP_TIMEOUT);
        cr_assert(strstr(rep, want), "%s", tail_of(rep));
        cr_assert_null(strstr(rep, DOVESD_MESSAGE_WORKER_CRASHED), "%s", tail_of(rep));
        close(v.listen_fd);
        free(final);
        svc_free(&v);
}

static bool streq_(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

/* One STATUS= text: "STATUS=N worker(s), N client(s)[ (N in N old worker(s))], N free
 * slot(s), N served", the singular exactly when N is 1. */
static bool status_well_formed(const char *msg) {
        unsigned w, c, ow = 0, oc = 0, f;
        int n = 0;
        unsigned long long served;
        char ws[16], cs[16], ows[16] = "", fs[16], rest[64];
        const char *p;

        if (sscanf(msg, "STATUS=%u %15[a-z], %u %15[a-z]%n", &w, ws, &c, cs, &n) != 4)
                return false;
        p = msg + n;
        if (strncmp(p, " (", 2) == 0) {
                int k = 0;

                if (sscanf(p, " (%u in %u old %15[a-z])%n", &oc, &ow, ows, &k) != 3 || k == 0)
                        return false;
                if (!streq_(ows, ow == 1 ? "worker" : "workers"))
                        return false;
                p += k;
        }
        if (sscanf(p, ", %u free %15[a-z], %llu %63s", &f, fs, &served, rest) != 4 ||
            !streq_(rest, "served"))
                return false;
        return streq_(ws, w == 1 ? "worker" : "workers") &&
                streq_(cs, c == 1 ? "client" : "clients") &&
                streq_(fs, f == 1 ? "slot" : "slots");
}

typedef struct notify_log {
        int fd;
        char msgs[128][256];
        size_t n;
} notify_log;

static void notify_open(notify_log *nl, char *path, size_t size) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };

        snprintf(a.sun_path, sizeof(a.sun_path), "/tmp/dovesd-sv-notify-%d", (int) getpid());
        snprintf(path, size, "%s", a.sun_path);
        unlink(a.sun_path);
        nl->n = 0;
        nl->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(nl->fd, 0);
        cr_assert_eq(bind(nl->fd, (struct sockaddr *) &a, sizeof(a)), 0);
        setenv("NOTIFY_SOCKET", a.sun_path, 1);
}

/* Read messages until one starts with prefix (after index *from); its index, or -1. */
static long notify_until(notify_log *nl, const char *prefix, size_t from) {
        for (size_t i = from; ; i++) {
                while (i >= nl->n) {
                        ssize_t k;

                        if (nl->n >= 128 || !readable_within(nl->fd, 5 * slow()))
                                return -1;
                        k = recv(nl->fd, nl->msgs[nl->n], sizeof(nl->msgs[0]) - 1, 0);
                        cr_assert_gt(k, 0);
                        nl->msgs[nl->n++][k] = '\0';
                }
                if (strncmp(nl->msgs[i], prefix, strlen(prefix)) == 0)
                        return (long) i;
        }
}

static void notify_dump(const notify_log *nl) {
        for (size_t i = 0; i < nl->n; i++)
                fprintf(stderr, "# notify %zu: %s\n", i, nl->msgs[i]);
}

/* READY=1 only once process_min_avail workers are up; RELOADING=1 … READY=1 on SIGHUP;
 * STATUS= aggregates the workers, shows the old generation draining; STOPPING=1 on SIGTERM. */
Test(supervisor, sd_notify_from_the_supervisor, .timeout = 120) {
        pool_env e = { .process_limit = "3", .client_limit = "4", .min_avail = "2",
                       .keep_notify = true };
        notify_log nl;
        char path[128];
        long ready, reloading, ready2, drain2, drain1, drained, stopping;
        int fd;
        svc v;

        notify_open(&nl, path, sizeof(path));
        svc_start(&v, &e);
        unsetenv("NOTIFY_SOCKET");

        ready = notify_until(&nl, "READY=1", 0);
        cr_assert_geq(ready, 0, "no READY=1");
        /* Not before the workers are up: the STATUS= of their start comes first. */
        cr_assert_gt(ready, 0);
        cr_assert_str_eq(nl.msgs[0], "STATUS=2 workers, 0 clients, 8 free slots, 0 served");
        char *st = svc_stats(&v);
        cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
        free(st);

        fd = client_open(v.port, NULL);
        cr_assert_eq(kill(v.pid, SIGHUP), 0);
        reloading = notify_until(&nl, "RELOADING=1", (size_t) ready + 1);
        ready2 = notify_until(&nl, "READY=1", (size_t) ready + 1);
        cr_assert_geq(reloading, 0);
        cr_assert_gt(ready2, reloading);
        /* The new generation is started at once (process_limit counts it alone); the old one
         * drains: first both old workers, then the one that still has the client. */
        drain2 = notify_until(&nl, "STATUS=4 workers, 1 client (1 in 2 old workers), 8 free "
                              "slots, ", (size_t) reloading);
        drain1 = notify_until(&nl, "STATUS=3 workers, 1 client (1 in 1 old worker), 8 free "
                              "slots, ", (size_t) reloading);
        if (drain2 < 0 || drain1 < 0)
                notify_dump(&nl);
        cr_assert_geq(drain2, 0);
        cr_assert_gt(drain1, drain2);
        close(fd);
        drained = notify_until(&nl, "STATUS=2 workers, 0 clients, 8 free slots, ",
                               (size_t) drain1);
        cr_assert_gt(drained, drain1);

        cr_assert_eq(kill(v.pid, SIGTERM), 0);
        stopping = notify_until(&nl, "STOPPING=1", (size_t) drained);
        cr_assert_gt(stopping, drained);
        int status;
        report_finish(&v.rep, v.pid, &status);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        for (size_t i = 0; i < nl.n; i++)
                if (strncmp(nl.msgs[i], "STATUS=", 7) == 0)
                        cr_assert(status_well_formed(nl.msgs[i]), "%s", nl.msgs[i]);
        close(nl.fd);
        unlink(path);
        close(v.listen_fd);
        svc_free(&v);
}

/* STATUS= says "1 worker", "1 client", "1 free slot". */
Test(supervisor, sd_notify_status_singulars, .timeout = 120) {
        pool_env e = { .process_limit = "2", .client_limit = "1", .min_avail = "1",
                       .keep_notify = true };
        notify_log nl;
        char path[128];
        long ready, one, two;
        int fd;
        svc v;

        notify_open(&nl, path, sizeof(path));
        svc_start(&v, &e);
        unsetenv("NOTIFY_SOCKET");

        ready = notify_until(&nl, "READY=1", 0);
        cr_assert_geq(ready, 0);
        one = notify_until(&nl, "STATUS=1 worker, 0 clients, 1 free slot, 0 served", 0);
        cr_assert_geq(one, 0);
        cr_assert_lt(one, ready);
        /* the worker is full: min_avail 1 starts another */
        fd = client_open(v.port, NULL);
        two = notify_until(&nl, "STATUS=2 workers, 1 client, 1 free slot, ", (size_t) ready);
        if (two < 0)
                notify_dump(&nl);
        cr_assert_gt(two, ready);
        for (size_t i = 0; i < nl.n; i++)
                if (strncmp(nl.msgs[i], "STATUS=", 7) == 0)
                        cr_assert(status_well_formed(nl.msgs[i]), "%s", nl.msgs[i]);
        close(fd);
        svc_stop(&v, NULL);
        close(nl.fd);
        unlink(path);
        svc_free(&v);
}

/* At process_limit a reload still starts the whole new generation at once (process_limit
 * counts the new generation only, as Dovecot's master does): old workers stop accepting,
 * keep serving their clients and exit when the last one leaves. */
Test(supervisor, sighup_at_process_limit_drains_old_generation, .timeout = 120) {
        pool_env e = { .process_limit = "2", .client_limit = "10", .min_avail = "2" };
        pid_t a = 0, b = 0, pa[20];
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
        /* Both old workers keep their client and stop accepting; two new ones take the rest. */
        STATS_UNTIL(&v, st, field_num(st, "generation") == 1 && field_num(st, "avail") == 2, 3);
        cr_assert_eq(field_num(st, "workers"), 4, "%s", st);
        cr_assert_eq(field_num(st, "old_workers"), 2, "%s", st);
        cr_assert_eq(field_num(st, "avail"), 2, "%s", st);
        cr_assert(pid_in_list(st, a) && pid_in_list(st, b), "%s", st);
        cr_assert_eq(client_pid(fds[fa]), a);
        cr_assert_eq(client_pid(fds[fb]), b);
        for (int i = 0; i < 5; i++) {
                pid_t p;
                int fd = client_open(v.port, &p);

                cr_assert(p != a && p != b, "old worker %d took a new client", p);
                close(fd);
        }

        /* The clients leave: both old workers end up replaced. */
        close(fds[fa]);
        close(fds[fb]);
        STATS_UNTIL(&v, st, !pid_in_list(st, a) && !pid_in_list(st, b) &&
                    field_num(st, "workers") == 2, 5);
        cr_assert(!pid_in_list(st, a) && !pid_in_list(st, b), "%s", st);
        cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
        cr_assert_eq(field_num(st, "avail"), 2, "%s", st);
        cr_assert_eq(field_num(st, "old_workers"), 0, "%s", st);
        cr_assert_eq(field_num(st, "workers_max"), 4, "%s", st);
        free(st);
        svc_stop(&v, NULL);
        svc_free(&v);
}

/* ---- fresh images (every worker a fork + exec) ------------------------------------------ */

typedef struct image {
        char exe[4096];
        unsigned long exe_base, libc_base, stack;
} image;

/* What pid runs and where its executable, libc and stack are mapped. False until all three
 * are there (a worker between fork and exec still runs the supervisor's image). */
static bool read_image(pid_t pid, image *img) {
        char path[64], line[4608];
        ssize_t k;
        FILE *f;

        *img = (image) {};
        snprintf(path, sizeof(path), "/proc/%d/exe", (int) pid);
        k = readlink(path, img->exe, sizeof(img->exe) - 1);
        if (k <= 0)
                return false;
        img->exe[k] = '\0';
        snprintf(path, sizeof(path), "/proc/%d/maps", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        while (fgets(line, sizeof(line), f)) {
                unsigned long start;
                int n = 0;
                char *name;

                if (sscanf(line, "%lx-%*x %*s %*s %*s %*s %n", &start, &n) < 1 || n == 0)
                        continue;
                name = line + n;
                name[strcspn(name, "\n")] = '\0';
                if (img->exe_base == 0 && strcmp(name, img->exe) == 0)
                        img->exe_base = start;
                if (img->libc_base == 0 && strstr(name, "/libc.so"))
                        img->libc_base = start;
                if (img->stack == 0 && strcmp(name, "[stack]") == 0)
                        img->stack = start;
        }
        fclose(f);
        return img->exe_base && img->libc_base && img->stack;
}

/* The images of the two workers of v (min_avail 2), once each has exec'd the worker program. */
static void worker_images(svc *v, const char *worker, image img[2]) {
        char *st = NULL;
        pid_t pids[2];

        STATS_UNTIL(v, st, field_num(st, "workers") == 2, 5);
        cr_assert_eq(stats_pids(st, pids, 2), 2, "%s", st);
        free(st);
        for (int i = 0; i < 2; i++) {
                double end = now_sec() + 10 * slow();

                while (!(read_image(pids[i], &img[i]) && strcmp(img[i].exe, worker) == 0)) {
                        cr_assert_lt(now_sec(), end, "worker %d runs %s, not %s", pids[i],
                                     img[i].exe, worker);
                        sleep_sec(0.02);
                }
        }
}

/* Issue 13: two workers of a service_count=1 service and two pool workers each run the worker
 * program (/proc/PID/exe) from a fresh exec: its executable, libc and stack are mapped at
 * addresses different from each other and from the supervisor's. A worker forked without
 * exec would share all three with the supervisor. */
Test(supervisor, workers_are_fresh_execs, .timeout = 120) {
        pool_env single = { .process_limit = "4", .client_limit = "1", .service_count = "1",
                            .min_avail = "2" };
        pool_env pool = { .process_limit = "4", .client_limit = "10", .min_avail = "2" };
        char worker[4096], sup[4096];
        image img[6];           /* supervisor 1, its workers, supervisor 2, its workers */
        svc v1, v2;

        /* memcheck loads every program itself at fixed addresses: there is no ASLR to see */
        if (RUNNING_ON_VALGRIND)
                cr_skip_test("no address-space randomization under valgrind");
        cr_assert_not_null(realpath(worker_path(), worker));
        cr_assert_not_null(realpath(supervisor_path(), sup));

        svc_start(&v1, &single);
        svc_start(&v2, &pool);
        cr_assert(read_image(v1.pid, &img[0]));
        worker_images(&v1, worker, &img[1]);
        cr_assert(read_image(v2.pid, &img[3]));
        worker_images(&v2, worker, &img[4]);
        cr_assert_str_eq(img[0].exe, sup);
        cr_assert_str_eq(img[3].exe, sup);

        for (int i = 0; i < 6; i++) {
                fprintf(stderr, "# %s: exe %#lx libc %#lx stack %#lx\n",
                        i % 3 == 0 ? "supervisor" : "worker", img[i].exe_base,
                        img[i].libc_base, img[i].stack);
                for (int j = 0; j < i; j++) {
                        cr_assert_neq(img[i].exe_base, img[j].exe_base, "images %d, %d", i, j);
                        cr_assert_neq(img[i].libc_base, img[j].libc_base, "images %d, %d", i, j);
                        cr_assert_neq(img[i].stack, img[j].stack, "images %d, %d", i, j);
                }
        }
        svc_stop(&v1, NULL);
        svc_stop(&v2, NULL);
        svc_free(&v1);
        svc_free(&v2);
}

/* Issue 13: service_count = 1, process_min_avail = 0: 16 clients connecting at once are all
 * greeted, each by its own worker, started for it; no worker ever serves a second client
 * (a second round of 16 meets 16 new pids). */
Test(supervisor, service_count_1_every_client_its_own_worker, .timeout = 180) {
        pool_env e = { .process_limit = "20", .client_limit = "1", .service_count = "1" };
        enum { N = 16 };
        pid_t seen[2 * N];
        char *st = NULL, *final;
        svc v;

        svc_start(&v, &e);
        st = svc_stats(&v);
        cr_assert_eq(field_num(st, "workers"), 0, "%s", st);

        for (int round = 0; round < 2; round++) {
                int fds[N];

                for (int i = 0; i < N; i++)
                        fds[i] = connect_tcp(v.port);
                for (int i = 0; i < N; i++) {
                        pid_t p = greeted_within(fds[i], 10 * slow());

                        cr_assert_gt(p, 0, "round %d: client %d not greeted", round, i);
                        for (int j = 0; j < round * N + i; j++)
                                cr_assert_neq(p, seen[j], "worker %d served two clients", p);
                        seen[round * N + i] = p;
                }
                /* all 16 held at once, one per worker */
                free(st);
                st = svc_stats(&v);
                cr_assert_eq(field_num(st, "clients"), N, "%s", st);
                cr_assert_geq(field_num(st, "workers"), N, "%s", st);
                cr_assert_eq(field_num(st, "max_clients"), 1, "%s", st);
                for (int i = 0; i < N; i++) {
                        cr_assert_eq(client_pid(fds[i]), seen[round * N + i]);
                        cr_assert_eq(send_str(fds[i], "quit\n"), 0);
                        close(fds[i]);
                }
                /* each worker exits after its one client; none waits for another */
                STATS_UNTIL(&v, st, field_num(st, "clients") == 0 &&
                            field_num(st, "served") == (round + 1) * N &&
                            field_num(st, "workers") == 0, 5);
                cr_assert_eq(field_num(st, "workers"), 0, "%s", st);
                for (int i = 0; i < N; i++)
                        cr_assert(pid_gone(seen[round * N + i]), "%d still runs",
                                  seen[round * N + i]);
        }
        free(st);
        svc_stop(&v, &final);
        cr_assert_eq(field_num(final, "served"), 2 * N, "%s", final);
        cr_assert_eq(field_num(final, "spawned"), 2 * N, "%s", final);
        cr_assert_eq(field_num(final, "crashed"), 0, "%s", final);
        free(final);
        svc_free(&v);
}

/* ---- start-up failures back off (issue 16, item 2) --------------------------------------- */

typedef struct backoff_case {
        const char *reason;             /* the throttle line's text before ", not starting" */
        const char *failure;            /* the record of each failed start */
        void (*arm)(svc *v, void *userdata);    /* after the start, before the client */
        void (*fix)(svc *v, void *userdata);    /* makes the next start succeed */
        void *userdata;
} backoff_case;

/* One client waits; the supervisor cannot start a worker: it logs one line per back-off step
 * (2 s, then 4 s), does not spin (under 0.5 CPU s in 5 s) and does not drop the client, who is
 * greeted once the cause is gone. */
static void backoff_run(const pool_env *e, const backoff_case *c) {
        char want[512], *line, *final;
        double at1, at2;
        unsigned long t0, t1;
        long tck = sysconf(_SC_CLK_TCK);
        size_t pos = 0;
        int fd;
        svc v;

        svc_start(&v, e);
        if (c->arm)
                c->arm(&v, c->userdata);
        fd = connect_tcp(v.port);

        snprintf(want, sizeof(want), "<3>%s %s, not starting workers for 2 s",
                 DOVESD_MESSAGE_WORKER_START_FAILED, c->reason);
        line = report_wait_at(&v.rep, "<3>" DOVESD_MESSAGE_WORKER_START_FAILED " ",
                              10 * slow(), &pos, &at1);
        cr_assert_not_null(line, "no back-off:\n%s", tail_of(v.rep.buf));
        cr_assert_str_eq(line, want);
        free(line);
        t0 = proc_cpu_ticks(v.pid);

        snprintf(want, sizeof(want), "<3>%s %s, not starting workers for 4 s",
                 DOVESD_MESSAGE_WORKER_START_FAILED, c->reason);
        line = report_wait_at(&v.rep, "<3>" DOVESD_MESSAGE_WORKER_START_FAILED " ",
                              5 * slow(), &pos, &at2);
        cr_assert_not_null(line, "no second back-off step:\n%s", tail_of(v.rep.buf));
        cr_assert_str_eq(line, want);
        free(line);
        cr_assert_geq(at2 - at1, 1.9, "second step %.3f s after the first", at2 - at1);
        cr_assert_leq(at2 - at1, 2 + 1.5 * slow(), "second step %.3f s after the first",
                      at2 - at1);

        /* 5 s after the first failure, during the 4 s step */
        sleep_sec(at1 + 5 - now_sec());
        t1 = proc_cpu_ticks(v.pid);
        cr_assert_lt((double) (t1 - t0) / tck, 0.5, "the supervisor used %.2f CPU s in 5 s",
                     (double) (t1 - t0) / tck);
        cr_assert_eq(count_substr(v.rep.buf, c->failure), 2, "%s", tail_of(v.rep.buf));
        cr_assert_eq(count_substr(v.rep.buf, DOVESD_MESSAGE_WORKER_START_FAILED), 2, "%s",
                     tail_of(v.rep.buf));
        /* the client still waits: neither greeted nor dropped */
        cr_assert(!readable_within(fd, 0), "the waiting client was answered or dropped");

        c->fix(&v, c->userdata);
        cr_assert_gt(greeted_within(fd, 4 + 3 * slow()), 0, "not greeted after the fix:\n%s",
                     tail_of(v.rep.buf));
        close(fd);
        svc_stop(&v, &final);
        cr_assert_eq(field_num(final, "start_failed"), 2, "%s", final);
        cr_assert_eq(field_num(final, "throttled"), 2, "%s", final);
        cr_assert_eq(field_num(final, "served"), 1, "%s", final);
        free(final);
        svc_free(&v);
}

static void make_executable(svc *v, void *userdata) {
        cr_assert_eq(chmod(userdata, 0755), 0);
}

/* The program cannot be executed (not executable: EACCES from execve()). */
Test(supervisor, exec_failure_backs_off, .timeout = 120) {
        char dir[] = "/tmp/dovesd-sv-XXXXXX", prog[64], failure[160], cmd[256];
        pool_env e = { .process_limit = "2", .client_limit = "2", .program = prog };
        backoff_case c = {
                .reason = "A worker could not execute its program",
                .failure = failure,
                .fix = make_executable,
                .userdata = prog,
        };

        /* memcheck traces the exec: its launcher, not the kernel, meets the file, and the
         * child fails in valgrind's own way (not execve()'s EACCES) */
        if (RUNNING_ON_VALGRIND)
                cr_skip_test("under valgrind the failed exec is valgrind's, not the kernel's");
        cr_assert_not_null(mkdtemp(dir));
        snprintf(prog, sizeof(prog), "%s/pool-worker", dir);
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 0644 '%s'", worker_path(), prog, prog);
        cr_assert_eq(system(cmd), 0);
        snprintf(failure, sizeof(failure), "\n<3>Failed to execute %s: Permission denied\n", prog);
        backoff_run(&e, &c);
        unlink(prog);
        rmdir(dir);
}

/* RLIMIT_NPROC of the supervisor (running as TEST_UID): set from a process of that uid, as
 * this one may lack CAP_SYS_RESOURCE (a container's root): a process may change the soft limits
 * of its own uid's processes within the hard limit. */
static void set_nproc(svc *v, void *userdata) {
        rlim_t cur = (rlim_t) (uintptr_t) userdata;
        pid_t child;
        int status;

        child = fork();
        cr_assert_geq(child, 0);
        if (child == 0) {
                struct rlimit rl;

                if (setgroups(0, NULL) < 0 || setresgid(TEST_UID, TEST_UID, TEST_UID) < 0 ||
                    setresuid(TEST_UID, TEST_UID, TEST_UID) < 0)
                        _exit(10);
                if (prlimit(v->pid, RLIMIT_NPROC, NULL, &rl) < 0)
                        _exit(11);
                rl.rlim_cur = cur;
                if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < cur)
                        _exit(12);
                _exit(prlimit(v->pid, RLIMIT_NPROC, &rl, NULL) < 0 ? 13 : 0);
        }
        cr_assert_eq(waitpid(child, &status, 0), child);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "cannot set RLIMIT_NPROC of the supervisor to %lu (status %d)",
                  (unsigned long) cur, status);
}

static void raise_nproc(svc *v, void *userdata) {
        set_nproc(v, (void *) (uintptr_t) 64);
}

/* fork() fails: the supervisor runs as an unprivileged uid (root is exempt from
 * RLIMIT_NPROC) whose only process it is, with RLIMIT_NPROC 1, as LimitNPROC= would set it. */
Test(supervisor, fork_failure_backs_off, .timeout = 120) {
        pool_env e = { .process_limit = "2", .client_limit = "2", .as_user = true };
        backoff_case c = {
                .reason = "Failed to fork a worker: Resource temporarily unavailable",
                .failure = "Failed to fork a worker: Resource temporarily unavailable",
                .arm = set_nproc,
                .fix = raise_nproc,
                .userdata = (void *) (uintptr_t) 1,
        };

        /* valgrind's log files are in a directory only root can write */
        if (RUNNING_ON_VALGRIND)
                cr_skip_test("an unprivileged supervisor cannot write valgrind's log");
        if (geteuid() != 0)
                cr_skip_test("needs root to start the supervisor as another uid");
        backoff_run(&e, &c);
}

/* ---- reload with new settings (issue 14) ------------------------------------------------- */

/* client_limit 3 -> 5 with process_limit 2: before the reload 6 clients are served at once,
 * after `dovesd-supervisor --reload` the new generation serves 10 (8 new clients and more);
 * a client connected before the reload keeps its worker (same pid, old settings), Stats shows
 * the old generation draining, and each old worker exits when its last client leaves. */
Test(supervisor, reload_applies_new_settings, .timeout = 180) {
        pool_env e = { .process_limit = "2", .client_limit = "3" };
        int fds[8], nfds[11], a = -1;
        pid_t pids[8], old[2] = {}, npid[11];
        char *st = NULL, want[64];
        int n_greeted = 0;
        svc v;

        svc_start(&v, &e);
        for (int i = 0; i < 8; i++)
                fds[i] = connect_tcp(v.port);
        for (int i = 0; i < 8; i++) {
                pids[i] = greeted_within(fds[i], n_greeted < 6 ? 5 * slow() : 1);
                if (pids[i] > 0) {
                        n_greeted++;
                        if (!old[0] || old[0] == pids[i])
                                old[0] = pids[i];
                        else
                                old[1] = pids[i];
                }
        }
        cr_assert_eq(n_greeted, 6, "client_limit 3 x process_limit 2 served %d", n_greeted);
        cr_assert(old[0] > 0 && old[1] > 0 && old[0] != old[1]);
        for (int i = 0; i < 8 && a < 0; i++)
                if (pids[i] == old[0])
                        a = i;
        cr_assert_eq(client_limit_of(fds[a]), 3);

        e.client_limit = "5";
        cr_assert_eq(svc_reload(&v, &e), 0, "--reload failed:\n%s", tail_of(v.rep.buf));

        /* The two waiting clients go to the new generation. */
        for (int i = 0; i < 8; i++) {
                if (pids[i] > 0)
                        continue;
                pids[i] = greeted_within(fds[i], 5 * slow());
                cr_assert_gt(pids[i], 0, "a waiting client was not served after the reload");
                cr_assert(pids[i] != old[0] && pids[i] != old[1]);
                cr_assert_eq(client_limit_of(fds[i]), 5);
        }
        /* The old clients leave, but a. */
        for (int i = 0; i < 8; i++)
                if (i != a && (pids[i] == old[0] || pids[i] == old[1])) {
                        close(fds[i]);
                        fds[i] = -1;
                }
        STATS_UNTIL(&v, st, field_num(st, "old_workers") == 1 && !pid_in_list(st, old[1]), 5);
        cr_assert_eq(field_num(st, "generation"), 1, "%s", st);
        cr_assert_eq(field_num(st, "old_workers"), 1, "%s", st);
        cr_assert(pid_in_list(st, old[0]) && !pid_in_list(st, old[1]), "%s", st);

        /* 8 clients of the new generation at once (the 2 that waited and 6 more), then 2
         * more: 10 = 2 x 5; the 11th waits. None goes to the old worker. */
        unsigned per[2] = {};
        pid_t newp[2] = {};
        for (int i = 0; i < 11; i++) {
                if (i < 2) {
                        int k = 0;

                        for (int j = 0; j < 8; j++)
                                if (pids[j] > 0 && pids[j] != old[0] && pids[j] != old[1] &&
                                    k++ == i) {
                                        nfds[i] = fds[j];
                                        fds[j] = -1;
                                        npid[i] = pids[j];
                                }
                        continue;
                }
                nfds[i] = connect_tcp(v.port);
                npid[i] = greeted_within(nfds[i], i < 10 ? 5 * slow() : 1);
                if (i == 7) {
                        STATS_UNTIL(&v, st, field_num(st, "clients") == 9, 2);
                        cr_assert_eq(field_num(st, "clients"), 9, "8 new + a: %s", st);
                }
        }
        for (int i = 0; i < 10; i++) {
                cr_assert_gt(npid[i], 0, "new client %d not served", i);
                cr_assert(npid[i] != old[0] && npid[i] != old[1], "an old worker took a client");
                for (int k = 0; k < 2; k++)
                        if (!newp[k] || newp[k] == npid[i]) {
                                newp[k] = npid[i];
                                per[k]++;
                                break;
                        }
        }
        cr_assert_eq(per[0] + per[1], 10, "more than 2 new workers (process_limit 2)");
        cr_assert_eq(per[0], 5);
        cr_assert_eq(per[1], 5);
        cr_assert_eq(npid[10], 0, "an 11th client was served beyond 2 x 5");

        /* The client of before the reload: same worker, old settings. */
        cr_assert_eq(client_pid(fds[a]), old[0]);
        cr_assert_eq(client_limit_of(fds[a]), 3);
        close(fds[a]);
        STATS_UNTIL(&v, st, field_num(st, "old_workers") == 0 && !pid_in_list(st, old[0]), 5);
        cr_assert_eq(field_num(st, "old_workers"), 0, "%s", st);
        cr_assert(!pid_in_list(st, old[0]), "%s", st);
        cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
        free(st);

        for (int i = 0; i < 11; i++)
                close(nfds[i]);
        for (int i = 0; i < 8; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        const char *rep = svc_stop(&v, NULL);
        for (int k = 0; k < 2; k++) {
                snprintf(want, sizeof(want), "\nworker %d reload\n", (int) old[k]);
                cr_assert(strstr(rep, want), "no reload callback in %d:\n%s", old[k], tail_of(rep));
        }
        cr_assert(strstr(rep, "\n<6>" DOVESD_MESSAGE_RELOADED " Reloaded: new workers get the "
                         "new settings (client_limit 5, process_limit 2, service_count 0), "
                         "2 old workers finish their clients\n"), "%s", tail_of(rep));
        svc_free(&v);
}

/* `--reload` with settings the supervisor refuses exits 1 and changes nothing: same workers,
 * same generation, the program's reload callback not run, the old limits; a later plain
 * SIGHUP reloads with the settings the supervisor kept, not the refused ones. */
Test(supervisor, reload_refused_keeps_workers_and_settings, .timeout = 180) {
        pool_env e = { .process_limit = "2", .client_limit = "3", .min_avail = "2" };
        static const struct {
                const char *listeners, *client_limit, *process_limit, *min_avail, *error;
        } bad[] = {
                { "imap;pop3", "5", "2", "2", "DOVESD_LISTENERS changed from the listeners this "
                  "process was started with" },
                { "pop3", "5", "2", "2", "DOVESD_LISTENERS changed" },
                { "imap", "abc", "2", "2", "DOVESD_CLIENT_LIMIT: invalid number 'abc'" },
                { "imap", "5", "0", "2", "DOVESD_PROCESS_LIMIT: must be at least 1, got '0'" },
                { "imap", "5", "3", "9", "DOVESD_PROCESS_MIN_AVAIL (9) is higher than "
                  "DOVESD_PROCESS_LIMIT (3)" },
        };
        pid_t before[2], p;
        int fds[7];
        char *st, want[256];
        svc v;

        svc_start(&v, &e);
        st = NULL;
        STATS_UNTIL(&v, st, field_num(st, "workers") == 2, 5);
        cr_assert_eq(stats_pids(st, before, 2), 2, "%s", st);
        free(st);

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                pool_env b = e;

                b.listeners = bad[i].listeners;
                b.client_limit = bad[i].client_limit;
                b.process_limit = bad[i].process_limit;
                b.min_avail = bad[i].min_avail;
                cr_assert_eq(svc_reload(&v, &b), 1, "case %zu", i);
                snprintf(want, sizeof(want), "<3>Reload failed, keeping the running workers and "
                         "settings: %s", bad[i].error);
                free(report_wait(&v.rep, want, 10 * slow(), NULL));
                cr_assert(strstr(v.rep.buf, want), "case %zu: %s", i, tail_of(v.rep.buf));
                st = svc_stats(&v);
                cr_assert_eq(field_num(st, "generation"), 0, "%s", st);
                cr_assert_eq(field_num(st, "workers"), 2, "%s", st);
                cr_assert(pid_in_list(st, before[0]) && pid_in_list(st, before[1]), "%s", st);
                free(st);
        }
        cr_assert_null(strstr(v.rep.buf, " reload\n"), "%s", tail_of(v.rep.buf));

        /* Still 3 clients a worker: 6 served, the 7th waits. */
        for (int i = 0; i < 7; i++)
                fds[i] = connect_tcp(v.port);
        for (int i = 0; i < 7; i++) {
                p = greeted_within(fds[i], i < 6 ? 5 * slow() : 1);
                if (i < 6) {
                        cr_assert(p == before[0] || p == before[1], "client %d: %d", i, p);
                        cr_assert_eq(client_limit_of(fds[i]), 3);
                } else
                        cr_assert_eq(p, 0, "a 7th client was served");
        }
        for (int i = 0; i < 7; i++)
                close(fds[i]);

        /* SIGHUP: a new generation with the kept settings (client_limit 3, not 5). */
        cr_assert_eq(kill(v.pid, SIGHUP), 0);
        st = NULL;
        STATS_UNTIL(&v, st, field_num(st, "generation") == 1 && field_num(st, "workers") == 2 &&
                    !pid_in_list(st, before[0]) && !pid_in_list(st, before[1]), 5);
        cr_assert_eq(field_num(st, "generation"), 1, "%s", st);
        cr_assert(!pid_in_list(st, before[0]) && !pid_in_list(st, before[1]), "%s", st);
        free(st);
        fds[0] = client_open(v.port, &p);
        cr_assert(p != before[0] && p != before[1]);
        cr_assert_eq(client_limit_of(fds[0]), 3);
        close(fds[0]);
        const char *rep = svc_stop(&v, NULL);
        cr_assert(strstr(rep, "Reloaded: new workers get the new settings (client_limit 3, "
                         "process_limit 2, service_count 0)"), "%s", tail_of(rep));
        svc_free(&v);
}

/* ---- a quiet journal (issue 13) ---------------------------------------------------------- */

/* A burst of 200 connections to a service_count = 1 service (a fresh worker each, every
 * tenth client resetting): the supervisor logs nothing above debug level (the Stats line the
 * test asks for aside), and neither do the workers. */
Test(supervisor, burst_leaves_the_journal_quiet, .timeout = 300) {
        pool_env e = { .process_limit = "100", .client_limit = "1", .service_count = "1" };
        enum { N_PROC = 8 };
        unsigned n = RUNNING_ON_VALGRIND ? 24 : 200, total = 0, sup_total, wrk_total;
        pid_t kids[N_PROC];
        char *final, *bad;
        int res[2];
        svc v;

        svc_start(&v, &e);
        cr_assert_eq(pipe(res), 0);
        for (int k = 0; k < N_PROC; k++) {
                kids[k] = fork();
                cr_assert_geq(kids[k], 0);
                if (kids[k] == 0) {
                        unsigned ok = 0;

                        close(res[0]);
                        for (unsigned i = 0; i < n / N_PROC; i++) {
                                struct sockaddr_in a = {
                                        .sin_family = AF_INET,
                                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                        .sin_port = htons(v.port),
                                };
                                struct timeval tv = { .tv_sec = 10 * slow() };
                                struct linger lg = { .l_onoff = 1, .l_linger = 0 };
                                char line[64];
                                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

                                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                                if (connect(fd, (struct sockaddr *) &a, sizeof(a)) < 0 ||
                                    read_line(fd, line, sizeof(line)) <= 0 ||
                                    strncmp(line, "hello ", 6) != 0) {
                                        close(fd);
                                        continue;
                                }
                                if (i % 10 == 9)
                                        /* reset */
                                        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
                                else if (send_str(fd, "quit\n") < 0 ||
                                         read_line(fd, line, sizeof(line)) <= 0 ||
                                         strcmp(line, "bye\n") != 0) {
                                        close(fd);
                                        continue;
                                }
                                ok++;
                                close(fd);
                        }
                        dprintf(res[1], "%u\n", ok);
                        _exit(0);
                }
        }
        close(res[1]);
        FILE *f = fdopen(res[0], "r");
        for (int k = 0; k < N_PROC; k++) {
                unsigned ok;

                cr_assert_eq(fscanf(f, "%u", &ok), 1);
                total += ok;
        }
        fclose(f);
        for (int k = 0; k < N_PROC; k++)
                waitpid(kids[k], NULL, 0);
        cr_assert_eq(total, n);

        final = NULL;
        STATS_UNTIL(&v, final, field_num(final, "workers") == 0, 5);
        cr_assert_eq(field_num(final, "served"), n, "%s", final);
        cr_assert_eq(field_num(final, "spawned"), n, "%s", final);
        cr_assert_eq(field_num(final, "crashed"), 0, "%s", final);
        cr_assert_eq(field_num(final, "throttled"), 0, "%s", final);
        cr_assert_eq(field_num(final, "workers"), 0, "%s", final);
        free(final);

        /* Everything up to here, before the stop. */
        cr_assert_eq(records_above_debug(v.rep.buf, false, &sup_total, &bad), 0,
                     "the supervisor logged above debug: %s", bad);
        cr_assert_eq(records_above_debug(v.rep.buf, true, &wrk_total, &bad), 0,
                     "a worker logged above debug: %s", bad);
        /* The check saw the debug records: one "Started worker" per worker at least. */
        cr_assert_geq(sup_total, n, "%u supervisor records", sup_total);
        cr_assert_geq(count_substr(v.rep.buf, "\n<7>Started worker "), n - 1);
        fprintf(stderr, "# burst: %u connections, %u supervisor and %u worker records, all debug\n",
                n, sup_total, wrk_total);
        svc_stop(&v, NULL);
        svc_free(&v);
}

/* A client waits while its worker is still setting up (here 1.5 s): the supervisor does not
 * spin on the readable listener meanwhile (the worker it started will take the client). */
Test(supervisor, no_spin_while_a_worker_starts, .timeout = 120) {
        pool_env e = { .process_limit = "4", .client_limit = "10" };
        unsigned long t0, t1;
        char *final;
        pid_t p;
        int fd;
        svc v;

        setenv("TEST_START_DELAY_MS", "1500", 1);
        svc_start(&v, &e);
        fd = connect_tcp(v.port);
        sleep_sec(0.2);
        t0 = proc_cpu_ticks(v.pid);
        sleep_sec(1);
        t1 = proc_cpu_ticks(v.pid);
        cr_assert_lt(t1 - t0, 10, "supervisor used %lu ticks in 1 s", t1 - t0);
        p = greeted_within(fd, 5 * slow());
        cr_assert_gt(p, 0);
        close(fd);
        svc_stop(&v, &final);
        cr_assert_eq(field_num(final, "spawned"), 1, "%s", final);
        free(final);
        svc_free(&v);
}

/* A client that arrives while a worker is still setting up (here 3 s) and cannot fit in it
 * (client_limit 1) gets a worker of its own within a second or so, not only after the first
 * one is up: the supervisor looks at the listener again at least once a second. */
Test(supervisor, client_behind_a_slow_start_gets_its_own_worker, .timeout = 120) {
        pool_env e = { .process_limit = "4", .client_limit = "1" };
        pid_t pa, pb;
        double t0;
        int a, b;
        svc v;

        if (RUNNING_ON_VALGRIND)
                cr_skip_test("the timing needs workers that exec in milliseconds");
        setenv("TEST_START_DELAY_MS", "3000", 1);
        svc_start(&v, &e);
        t0 = now_sec();
        a = connect_tcp(v.port);
        sleep_sec(0.3);
        b = connect_tcp(v.port);
        /* started at once: 3 s + exec; one worker after the other: 6 s */
        pb = greeted_within(b, t0 + 5 - now_sec());
        cr_assert_gt(pb, 0, "the second client waited for the first worker's start");
        pa = greeted_within(a, 5);
        cr_assert_gt(pa, 0);
        cr_assert_neq(pa, pb);
        close(a);
        close(b);
        svc_stop(&v, NULL);
        svc_free(&v);
}

/* The supervisor resolves DOVESD_USER and the groups once per generation and hands them to
 * each worker in DOVESD_WORKER_IDS (helper/ids.h); a reload resolves the new names. */
Test(supervisor, workers_get_the_ids_of_their_generation, .timeout = 120) {
        pool_env e = { .process_limit = "2", .client_limit = "1" };
        char *ids;
        int a, b;
        svc v;

        setenv("DOVESD_USER", "nobody", 1);
        setenv("DOVESD_GROUP", "nogroup", 1);
        svc_start(&v, &e);
        a = connect_tcp(v.port);
        cr_assert_gt(greeted_within(a, 5 * slow()), 0, "%s", tail_of(v.rep.buf));
        ids = worker_ids_of(a);
        /* nobody 65534, nogroup 65534, no privileged group, gid 0 not allowed, no groups */
        cr_expect_str_eq(ids, "65534 65534 - 0 -");
        free(ids);

        setenv("DOVESD_USER", "daemon", 1);
        cr_assert_eq(svc_reload(&v, &e), 0, "--reload failed:\n%s", tail_of(v.rep.buf));
        b = connect_tcp(v.port);
        cr_assert_gt(greeted_within(b, 5 * slow()), 0, "%s", tail_of(v.rep.buf));
        ids = worker_ids_of(b);
        /* daemon 1, still nogroup */
        cr_expect_str_eq(ids, "1 65534 - 0 -");
        free(ids);

        close(a);
        close(b);
        (void) svc_stop(&v, NULL);
        svc_free(&v);
        unsetenv("DOVESD_USER");
        unsetenv("DOVESD_GROUP");
}

static sched_attr_v1 sched_of(pid_t pid) {
        sched_attr_v1 a = {};

        cr_assert_eq(syscall(SYS_sched_getattr, pid, &a, sizeof(a), 0), 0,
                     "sched_getattr(%d): %m", (int) pid);
        return a;
}

/* Whether this kernel keeps a custom slice: a child asks for 0.1 ms and says what it got. */
static bool kernel_has_custom_slices(void) {
        int status;
        pid_t pid = fork();

        cr_assert_geq(pid, 0);
        if (pid == 0) {
                sched_attr_v1 a = {};

                if (syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) < 0)
                        _exit(2);
                a.size = sizeof(a);
                a.sched_runtime = 100000;
                if (syscall(SYS_sched_setattr, 0, &a, 0) < 0 ||
                    syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) < 0)
                        _exit(2);
                _exit(a.sched_runtime == 100000 ? 0 : 1);
        }
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The supervisor runs with a short time slice (so that it and the child it clones run ahead
 * of busy workers); every worker gets the unit's scheduling back before it execs: the
 * default slice, and the nice value the unit gave (here 3). */
Test(supervisor, workers_get_the_default_slice_and_the_units_nice, .timeout = 60) {
        pool_env e = { .process_limit = "2", .client_limit = "1" };
        sched_attr_v1 own, sup, wk;
        bool custom = kernel_has_custom_slices();
        pid_t worker;
        int fd;
        svc v;

        cr_assert_eq(setpriority(PRIO_PROCESS, 0, 3), 0, "setpriority: %m");
        own = sched_of(0);
        svc_start(&v, &e);
        fd = connect_tcp(v.port);
        worker = greeted_within(fd, 5 * slow());
        cr_assert_gt(worker, 0, "%s", tail_of(v.rep.buf));

        sup = sched_of(v.pid);
        wk = sched_of(worker);
        cr_expect_eq(wk.sched_policy, SCHED_OTHER);
        cr_expect_eq(wk.sched_nice, 3, "worker nice %d", wk.sched_nice);
        cr_expect_eq(sup.sched_nice, 3, "supervisor nice %d", sup.sched_nice);
        cr_expect_eq(wk.sched_runtime, own.sched_runtime,
                     "worker slice %llu ns, the default is %llu ns",
                     (unsigned long long) wk.sched_runtime,
                     (unsigned long long) own.sched_runtime);
        if (custom)
                cr_expect_eq(sup.sched_runtime, 100000, "supervisor slice %llu ns",
                             (unsigned long long) sup.sched_runtime);
        else
                fprintf(stderr, "NOTE: workers_get_the_default_slice_and_the_units_nice: this "
                        "kernel keeps no custom time slice (Linux < 6.12): the supervisor's "
                        "short slice is not checked, only the workers' scheduling\n");

        close(fd);
        (void) svc_stop(&v, NULL);
        svc_free(&v);
}
