/* SPDX-License-Identifier: MIT */

/*
 * dovesd-supervisor: the main process of every service with process_limit > 1.
 *
 *   ExecStart=/usr/libexec/dovesd/dovesd-supervisor PROGRAM [ARGS...]
 *   ExecReload=+/usr/libexec/dovesd/dovesd-supervisor --reload $MAINPID
 *
 * It is its own small program, so it holds nothing the service's program loads (keys,
 * configuration, client state): it never runs the program's code and never touches a client
 * connection's data. It reads the unit's DOVESD_* environment and the listening fds systemd
 * passed, and starts every worker by fork + exec of PROGRAM: each worker is a fresh image with
 * its own address-space layout and stack canary, runs the program's own set-up and
 * dovesd_service_restrict() itself, and serves. It decides, as Dovecot's master does:
 *
 *   - keep process_min_avail workers with free slots;
 *   - when no ready worker has a free slot and a listening fd is readable, start workers for
 *     the clients waiting in the backlog (TCP: the backlog length is known, one worker per
 *     waiting client up to the capacity needed; unix: one at a time), up to process_limit;
 *     at the limit log once a second and wait (clients wait in the listen backlog);
 *   - type=login at the limit: set the "all processes full" state in every slot and SIGUSR1,
 *     so that a full worker lets a new client push out its oldest one not logged in;
 *   - a worker with no client for idle_kill beyond the process_min_avail ones gets SIGINT (it
 *     exits only if it still has no client); the supervisor itself stays, as Dovecot's master
 *     does, so a cold start costs one exec, not a unit start;
 *   - a worker that cannot be started (fork or exec fails) and workers crashing more than 10
 *     times within a second stop start-ups for 2 s, doubling up to 60 s, logged once a step;
 *   - SIGTERM: SIGTERM to every worker (graceful stop), exit when they are gone;
 *   - reload (SIGHUP; from `--reload`, the settings of the reloaded unit): a new generation.
 *     New workers get the new settings; old workers get SIGHUP (the program's reload
 *     callback) and SIGQUIT: they stop accepting, keep their clients and exit when the last
 *     one leaves. process_limit counts the new generation only.
 *   - SIGUSR2: log the counters (workers, clients, starts, crashes) at info level.
 *
 * Worker kinds (DOVESD_WORKER_KIND), one row each (sv-internal.h) in its own file: a
 * libdovesd program (sv-libdovesd.c: its slot in a memfd and a wake-up eventfd, see
 * worker.c), or one of Dovecot 2.3's own programs (sv-dovecot.c, "dovecot": the fd,
 * environment and status-pipe contract of Dovecot's master, dovecot.[ch]; this supervisor is
 * then their master). The kind decides how a worker is exec'd and how its state is read;
 * everything else above is the same for every kind. Dovecot's programs never get SIGHUP (all
 * but auth die of it) and report through the status pipe: READY=1 follows the first status
 * record, and a worker that sends none within 30 s is killed, as Dovecot's master does.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>

#include "dovecot.h"
#include "env.h"
#include "internal.h"
#include "listen.h"
#include "slot.h"
#include "sv-internal.h"

#define THROTTLE_FAILURES 10                    /* more crashes than this within ... */
#define THROTTLE_WINDOW_USEC (1 * USEC_PER_SEC) /* ... this window throttle start-ups */
#define THROTTLE_MIN_SEC 2
#define THROTTLE_MAX_SEC 60
#define LIMIT_LOG_INTERVAL_USEC (1 * USEC_PER_SEC)
#define FULL_RECHECK_USEC (1 * USEC_PER_SEC)
#define STATUS_INTERVAL_USEC (1 * USEC_PER_SEC)
#define STOP_KILL_EXTRA_USEC (5 * USEC_PER_SEC)
#define RELOAD_MAGIC 0x646f7665                 /* sigqueue() value of `--reload` */
#define RELOAD_REPLY_TIMEOUT_SEC 60
#define ENVIRON_CHUNK 4096                      /* read_environ(): bytes per read() */
#define ENVIRON_MAX (4 * 1024 * 1024)           /* ... and the most it reads */

typedef struct counts {
        unsigned workers;               /* alive, every generation */
        unsigned current;               /* alive, this generation */
        unsigned avail;                 /* this generation: accepting, free slots, not idled out */
        unsigned avail_ready;           /* ... of those, set up already */
        unsigned starting_slots;        /* free slots of workers still starting */
        unsigned ready;
        unsigned clients, free_slots;
        unsigned old_workers, old_clients;
        uint64_t served;
} counts;

static uint64_t now_usec(supervisor *sv) {
        uint64_t t = 0;

        (void) sd_event_now(sv->event, CLOCK_MONOTONIC, &t);
        return t;
}

static const char *plural(unsigned n, const char *one, const char *many) {
        return n == 1 ? one : many;
}

static worker_state worker_read(const worker *w) {
        return w->sv->kind->read(w);
}

/* ---- workers ---------------------------------------------------------------------------- */

static void supervisor_evaluate(supervisor *sv);

static bool worker_avail(const worker *w, const worker_state *st) {
        return w->pid > 0 && w->generation == w->sv->generation && !w->retiring &&
                !w->sigint_sent && st->accepting && st->free_slots > 0;
}

static counts count_workers(supervisor *sv) {
        counts c = { .served = sv->served_gone };

        for (size_t i = 0; i < sv->n_workers; i++) {
                worker *w = sv->workers[i];
                worker_state st = worker_read(w);

                c.workers++;
                c.clients += st.clients;
                c.served += st.served;
                if (w->generation != sv->generation) {
                        c.old_workers++;
                        c.old_clients += st.clients;
                        continue;
                }
                c.current++;
                if (st.ready)
                        c.ready++;
                if (st.accepting && !w->retiring)
                        c.free_slots += st.free_slots;
                if (worker_avail(w, &st)) {
                        c.avail++;
                        if (st.ready)
                                c.avail_ready++;
                        else
                                c.starting_slots += st.free_slots;
                }
        }
        return c;
}

static void set_watching(supervisor *sv, bool want, bool fifo_too) {
        for (size_t i = 0; i < sv->fds.n_fds; i++) {
                bool on = sv->fds.fds[i].kind == SOCKET_FIFO ? want && fifo_too : want;

                (void) sd_event_source_set_enabled(sv->watch[i], on ? SD_EVENT_ON : SD_EVENT_OFF);
        }
        sv->watching = want;
}

static worker *worker_free(worker *w) {
        if (!w)
                return NULL;
        sd_event_source_disable_unref(w->child);
        sd_event_source_disable_unref(w->idle_timer);
        w->sv->kind->worker_done(w);
        free(w);
        return NULL;
}

/* ---- scheduling ------------------------------------------------------------------------- */

/* The supervisor is a dispatcher: woken often, it runs some 20-60 µs per event. Each worker it
 * starts is cloned with CLONE_VFORK, so the supervisor waits until the child has exec'd; with
 * the CPUs busy with workers starting, the child waits its turn first. Measured with a
 * service_count = 1 service under a closed-loop load of 50 clients on 2 CPUs: the supervisor
 * spent ~0.8 ms per worker waiting, new workers were started no faster than ~1,250/s, and the
 * CPUs were idle 4-6% of the time while clients waited. A short time slice (the EEVDF
 * scheduler's custom slice, Linux 6.12 and later: sched_attr.sched_runtime of a SCHED_OTHER
 * task) lets the supervisor and its child run as soon as they are runnable, ahead of workers
 * that are set up; the CPUs stay busy. The child gives the workers back the unit's scheduling
 * with the default slice before it execs. On older kernels the kernel ignores the field for
 * SCHED_OTHER; a failure changes nothing. Real-time and deadline policies set in the unit
 * are left alone. */
#define SCHED_SLICE_NSEC UINT64_C(100000)       /* 0.1 ms, the kernel's minimum */

static void sched_slice_shorten(supervisor *sv) {
        sched_attr_v1 attr = {};

        if (syscall(SYS_sched_getattr, 0, &attr, sizeof(attr), 0) < 0) {
                sv_log(sv, LOG_DEBUG, "sched_getattr() failed, keeping the default slice: %m");
                return;
        }
        if (attr.sched_policy != SCHED_OTHER && attr.sched_policy != SCHED_BATCH)
                return;

        attr.size = sizeof(attr);
        attr.sched_runtime = 0;                 /* the default slice */
        sv->sched_workers = attr;
        attr.sched_runtime = SCHED_SLICE_NSEC;
        if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0) {
                sv_log(sv, LOG_DEBUG, "sched_setattr() failed, keeping the default slice: %m");
                return;
        }
        sv->sched_shortened = true;
}

/* In the child, before exec: the worker runs with the unit's scheduling. */
static void sched_slice_restore(supervisor *sv) {
        if (sv->sched_shortened)
                (void) syscall(SYS_sched_setattr, 0, &sv->sched_workers, 0);
}

/* In the child, between clone and exec, on its own stack but in the supervisor's memory
 * (worker_spawn()): system calls only, no allocation, no logging, and nothing written but the
 * plan made for this worker. The listeners stay at 3…; the slot and the eventfd follow them.
 * Returns only if it cannot exec: -errno. */
static int worker_exec(supervisor *sv, int slot_fd, char **envp, char *listen_pid) {
        int n = (int) sv->fds.n_fds, hi = SD_LISTEN_FDS_START + n + 2;
        int slot_hi, wake_hi;
        sigset_t none;

        /* The supervisor has no signal handlers (its signals go to a signalfd), so none can
         * run on this stack once the mask is empty. */
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        /* If the supervisor goes away, the worker stops as on SIGTERM; systemd's control-group
         * kill is the backstop. */
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != sv->pid)
                return -ESRCH;          /* the supervisor is gone already */

        slot_hi = fcntl(slot_fd, F_DUPFD_CLOEXEC, hi);
        wake_hi = fcntl(sv->wake_fd, F_DUPFD_CLOEXEC, hi);
        if (slot_hi < 0 || wake_hi < 0 ||
            dup2(slot_hi, SD_LISTEN_FDS_START + n) < 0 ||
            dup2(wake_hi, SD_LISTEN_FDS_START + n + 1) < 0)
                return -errno;
        for (int i = 0; i < n; i++)
                (void) fcntl(SD_LISTEN_FDS_START + i, F_SETFD, 0);

        /* "LISTEN_PID=" and room for the number, filled in here. */
        {
                char digits[16];
                pid_t pid = getpid();
                size_t k = 0, off = strlen("LISTEN_PID=");

                do {
                        digits[k++] = (char) ('0' + pid % 10);
                        pid /= 10;
                } while (pid > 0);
                while (k > 0)
                        listen_pid[off++] = digits[--k];
                listen_pid[off] = '\0';
        }

        execve(sv->argv[0], sv->argv, envp);
        return -errno;
}

static int on_worker_exit(sd_event_source *src, const siginfo_t *si, void *userdata);

static void start_failed(supervisor *sv, const char *what, int error);

static void spawn_plan_done(spawn_plan *p) {
        p->slot_fd = safe_close(p->slot_fd);
        p->envp = mfree(p->envp);
        dovecot_exec_free(p->dexec);
        p->dexec = NULL;
}

/* The child of worker_spawn(), from clone() to exec. */
typedef struct spawn_child {
        supervisor *sv;
        spawn_plan *plan;
        int error;                      /* written by the child: -errno if it cannot exec */
} spawn_child;

/* Its return value is the child's exit status (clone() then calls exit): no call to a
 * noreturn function, which AddressSanitizer would check against the supervisor's stack. */
static int spawn_child_run(void *userdata) {
        spawn_child *c = userdata;

        sched_slice_restore(c->sv);
        c->error = c->sv->kind->exec(c->sv, c->plan);
        return EXIT_EXEC_FAILED;
}

/* The child's stack: one, made at the first start and kept, as the supervisor waits while a
 * child runs on it (CLONE_VFORK). A guard page below it. */
#define SPAWN_STACK_SIZE (128 * 1024)

static void *spawn_stack_top(void) {
        static uint8_t *top = NULL;
        size_t page = (size_t) sysconf(_SC_PAGESIZE);
        uint8_t *p;

        if (top)
                return top;
        p = mmap(NULL, page + SPAWN_STACK_SIZE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (p == MAP_FAILED)
                return NULL;
        (void) mprotect(p, page, PROT_NONE);
        top = p + page + SPAWN_STACK_SIZE;
        return top;
}

/* A worker by clone(CLONE_VM | CLONE_VFORK), as posix_spawn() does: the child runs in the
 * supervisor's memory on its own stack until it execs (or exits), and the supervisor waits
 * for that, so no page table is copied per worker. What the child cannot exec it reports in
 * spawn_child.error, and the supervisor logs it. */
static int worker_spawn(supervisor *sv) {
        spawn_plan plan = { .slot_fd = -EBADF, .listen_pid = "LISTEN_PID=" };
        spawn_child child = { .sv = sv, .plan = &plan };
        void *stack;
        worker *w;
        pid_t pid;
        int r;

        if (!GREEDY_REALLOC(sv->workers, sv->n_workers + 1))
                return -ENOMEM;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->sv = sv;
        w->generation = sv->generation;

        r = sv->kind->prepare(sv, w, &plan);
        if (r < 0) {
                worker_free(w);
                spawn_plan_done(&plan);
                return r;
        }

        stack = spawn_stack_top();
        pid = stack ? clone(spawn_child_run, stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &child) : -1;
        if (pid < 0) {
                r = -errno;
                worker_free(w);
                spawn_plan_done(&plan);
                start_failed(sv, "fork a worker", r);
                return r;
        }
        spawn_plan_done(&plan);
        if (child.error < 0) {
                /* It has exited already: reap it here, it never was a worker. */
                (void) waitpid(pid, NULL, 0);
                worker_free(w);
                sv_log(sv, LOG_ERR, "Failed to execute %s: %s", sv->argv[0],
                       strerror(-child.error));
                sv->crashed++;
                start_failed(sv, "A worker could not execute its program", 0);
                return child.error;
        }

        w->pid = pid;
        r = sd_event_add_child(sv->event, &w->child, pid, WEXITED, on_worker_exit, w);
        if (r >= 0)
                r = sv->kind->started(sv, w);
        if (r < 0) {
                /* Without a child source it could never be reaped: do not keep it. */
                sv_log(sv, LOG_ERR, "Failed to watch worker %d: %s", (int) pid, strerror(-r));
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                worker_free(w);
                return r;
        }
        sv->workers[sv->n_workers++] = w;
        sv->spawned++;
        if (sv->n_workers > sv->workers_max)
                sv->workers_max = (unsigned) sv->n_workers;
        sv_log(sv, LOG_DEBUG, "Started worker %d", (int) pid);
        return 0;
}

static void worker_signal(worker *w, int sig);

static void set_login_full(supervisor *sv, bool full) {
        if (sv->login_full == full)
                return;
        sv->login_full = full;
        sv->kind->set_login_full(sv, full);
        for (size_t i = 0; i < sv->n_workers; i++)
                worker_signal(sv->workers[i], SIGUSR1);
}

/* A signal that cannot reach a worker (the unit's CapabilityBoundingSet= lost CAP_KILL
 * through a drop-in, say) would silently break idle_kill, reload and stop: say so. */
static void worker_signal(worker *w, int sig) {
        if (kill(w->pid, sig) < 0 && errno != ESRCH)
                sv_log(w->sv, LOG_ERR, "Failed to send SIG%s to worker %d: %m",
                       sigabbrev_np(sig) ?: "?", (int) w->pid);
}

static void worker_retire(worker *w, int sig) {
        w->retiring = true;
        w->idle_timer = sd_event_source_disable_unref(w->idle_timer);
        worker_signal(w, sig);
}

static int on_throttle_end(sd_event_source *src, uint64_t usec, void *userdata) {
        supervisor *sv = userdata;

        sv->throttled = false;
        sv->n_failures = 0;
        supervisor_evaluate(sv);
        return 0;
}

static void throttle(supervisor *sv, const char *why) {
        int r;

        if (sv->throttled)
                return;
        if (sv->throttle_sec == 0)
                sv->throttle_sec = THROTTLE_MIN_SEC;
        sv_log_full(sv, LOG_ERR, DOVESD_MESSAGE_WORKER_START_FAILED, NULL, NULL,
                    "%s, not starting workers for %u s", why, sv->throttle_sec);
        sv->throttles++;
        sv->throttled = true;
        sd_event_source_disable_unref(sv->throttle_timer);
        r = sd_event_add_time_relative(sv->event, &sv->throttle_timer, CLOCK_MONOTONIC,
                                       sv->throttle_sec * USEC_PER_SEC, 0, on_throttle_end, sv);
        if (r < 0) {
                sv->throttle_timer = NULL;
                sv->throttled = false;
        }
        sv->throttle_sec = MIN(sv->throttle_sec * 2, THROTTLE_MAX_SEC);
        set_watching(sv, false, false);
}

/* fork(), exec() or the slot failed: back off at once (clients wait in the backlog). error 0:
 * what says it all. */
static void start_failed(supervisor *sv, const char *what, int error) {
        char why[200];

        sv->start_failed++;
        if (error != 0)
                snprintf(why, sizeof(why), "Failed to %s: %s", what, strerror(-error));
        else
                snprintf(why, sizeof(why), "%s", what);
        throttle(sv, why);
}

static void worker_crashed(supervisor *sv) {
        uint64_t t = now_usec(sv);
        char why[100];

        if (sv->n_failures == 0 || t >= sv->failure_window_usec + THROTTLE_WINDOW_USEC) {
                sv->failure_window_usec = t;
                sv->n_failures = 0;
        }
        if (++sv->n_failures <= THROTTLE_FAILURES)
                return;
        snprintf(why, sizeof(why), "Workers failed %u times within a second", sv->n_failures);
        throttle(sv, why);
}

static void worker_remove(supervisor *sv, worker *w) {
        for (size_t i = 0; i < sv->n_workers; i++)
                if (sv->workers[i] == w) {
                        sv->workers[i] = sv->workers[--sv->n_workers];
                        break;
                }
        worker_free(w);
}

static int on_worker_exit(sd_event_source *src, const siginfo_t *si, void *userdata) {
        worker *w = userdata;
        supervisor *sv = w->sv;
        worker_state st = worker_read(w);

        sv->served_gone += st.served;
        if (st.max_clients > sv->max_clients_gone)
                sv->max_clients_gone = MIN(st.max_clients, worker_capacity(sv->settings));

        if (si->si_code == CLD_EXITED && si->si_status == 0) {
                /* A clean exit ends the doubling of the throttle period. */
                sv->throttle_sec = 0;
                sv_log(sv, LOG_DEBUG, "Worker %d exited", (int) w->pid);
        } else if (si->si_code == CLD_EXITED && si->si_status == EXIT_EXEC_FAILED && !st.ready) {
                /* worker_spawn() logs a failed exec of its child; this is the program's own
                 * 127 (or the child ran as a fork, as under valgrind, not sharing the error). */
                sv->crashed++;
                if (!sv->stopping)
                        start_failed(sv, "A worker could not execute its program", 0);
        } else {
                if (si->si_code == CLD_EXITED)
                        sv_log_full(sv, LOG_ERR, DOVESD_MESSAGE_WORKER_CRASHED, NULL, NULL,
                                    "Worker %d exited with status %d",
                                    (int) w->pid, si->si_status);
                else
                        sv_log_full(sv, LOG_ERR, DOVESD_MESSAGE_WORKER_CRASHED, NULL, NULL,
                                    "Worker %d killed by signal %d (SIG%s)%s",
                                    (int) w->pid, si->si_status,
                                    sigabbrev_np(si->si_status) ?: "?",
                                    si->si_code == CLD_DUMPED ? ", core dumped" : "");
                sv->crashed++;
                if (!sv->stopping)
                        worker_crashed(sv);
        }

        worker_remove(sv, w);
        sv->start_wait = false;
        supervisor_evaluate(sv);
        return 0;
}

/* A worker changed state (its slot, a status record): look again now. */
static void worker_changed(supervisor *sv) {
        sv->start_wait = false;
        supervisor_evaluate(sv);
}

static int on_full_recheck(sd_event_source *src, uint64_t usec, void *userdata) {
        supervisor *sv = userdata;

        sv->full_wait = false;
        sv->start_wait = false;
        supervisor_evaluate(sv);
        return 0;
}

/* The listener is not watched for now (full_wait, start_wait): look again when a worker
 * changes state, or in a second at the latest (a worker that never gets set up). */
static void recheck_later(supervisor *sv) {
        int r;

        if (!sv->full_timer) {
                r = sd_event_add_time_relative(sv->event, &sv->full_timer, CLOCK_MONOTONIC,
                                               FULL_RECHECK_USEC, 0, on_full_recheck, sv);
                if (r >= 0)
                        (void) sd_event_source_set_enabled(sv->full_timer, SD_EVENT_ONESHOT);
                else
                        sv->full_timer = NULL;
        } else {
                (void) sd_event_source_set_time_relative(sv->full_timer, FULL_RECHECK_USEC);
                (void) sd_event_source_set_enabled(sv->full_timer, SD_EVENT_ONESHOT);
        }
}

static void limit_reached(supervisor *sv) {
        uint64_t t = now_usec(sv);

        if (sv->last_limit_log_usec != 0 && t < sv->last_limit_log_usec + LIMIT_LOG_INTERVAL_USEC)
                return;
        sv->last_limit_log_usec = t;
        sv_log_full(sv, LOG_WARNING, DOVESD_MESSAGE_PROCESS_LIMIT_REACHED, NULL, NULL,
                    "process_limit (%u) reached, client connections are waiting in the listen backlog",
                    sv->settings->process_limit);
}

/* Clients waiting in the accept queues: TCP says how many (tcpi_unacked of a listening
 * socket is its accept queue length); a unix socket or FIFO counts as one. */
static unsigned waiting_clients(supervisor *sv) {
        unsigned n = 0;

        for (size_t i = 0; i < sv->fds.n_fds; i++) {
                struct tcp_info ti;
                socklen_t len = sizeof(ti);

                if (sv->fds.fds[i].kind == SOCKET_INET &&
                    getsockopt(sv->fds.fds[i].fd, IPPROTO_TCP, TCP_INFO, &ti, &len) >= 0)
                        n += ti.tcpi_unacked;
                else
                        n += 1;
        }
        return n;
}

/* A listening fd is readable and no ready worker has a free slot. */
static int on_watch(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        supervisor *sv = userdata;
        const service_settings *s = sv->settings;
        counts c = count_workers(sv);
        unsigned waiting, cap = worker_capacity(s);
        int r;

        if (sv->stopping || sv->throttled || c.avail_ready > 0) {
                set_watching(sv, false, false);
                return 0;
        }

        if (c.current < s->process_limit) {
                waiting = waiting_clients(sv);
                /* Workers still starting take the first clients; start more only for the
                 * rest. A unix socket counts one client: start one worker at a time. */
                while (c.current < s->process_limit && waiting > c.starting_slots) {
                        r = worker_spawn(sv);
                        if (r < 0)
                                break;
                        c.current++;
                        c.starting_slots += cap;
                }
                /* The listener stays readable until a starting worker accepts: watching it
                 * meanwhile would spin. Look again when a worker changes state, or in a
                 * second if none does (one that hangs in its set-up). */
                sv->start_wait = true;
                set_watching(sv, false, false);
                recheck_later(sv);
                supervisor_evaluate(sv);
                return 0;
        }

        /* process_limit: nothing to start. Do not spin on the readable fd; look again when a
         * worker changes state, or in a second. */
        if (c.starting_slots > 0) {
                sv->start_wait = true;
                set_watching(sv, false, false);
                recheck_later(sv);
                return 0;
        }
        limit_reached(sv);
        if (streq_ptr(s->type, "login"))
                set_login_full(sv, true);
        sv->full_wait = true;
        set_watching(sv, false, false);
        recheck_later(sv);
        return 0;
}

static int on_worker_idle(sd_event_source *src, uint64_t usec, void *userdata) {
        worker *w = userdata;
        supervisor *sv = w->sv;
        counts c = count_workers(sv);
        worker_state st = worker_read(w);

        w->idle_timer = sd_event_source_disable_unref(w->idle_timer);
        if (!w->retiring && st.clients == 0 && c.avail > sv->settings->process_min_avail) {
                /* It exits only if it still has no client when the signal arrives. */
                w->sigint_sent = true;
                worker_signal(w, SIGINT);
        }
        supervisor_evaluate(sv);
        return 0;
}

static void status_send(supervisor *sv, const counts *c) {
        char buf[sizeof(sv->last_status)], old[80] = "";

        if (c->old_workers > 0)
                snprintf(old, sizeof(old), " (%u in %u old %s)", c->old_clients, c->old_workers,
                         plural(c->old_workers, "worker", "workers"));
        snprintf(buf, sizeof(buf), "STATUS=%u %s, %u %s%s, %u free %s, %" PRIu64 " served",
                 c->workers, plural(c->workers, "worker", "workers"),
                 c->clients, plural(c->clients, "client", "clients"), old,
                 c->free_slots, plural(c->free_slots, "slot", "slots"), c->served);
        if (strcmp(buf, sv->last_status) == 0)
                return;
        memcpy(sv->last_status, buf, sizeof(buf));
        sv->last_status_usec = now_usec(sv);
        (void) service_notify(buf);
}

static int on_status_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        supervisor *sv = userdata;
        counts c = count_workers(sv);

        status_send(sv, &c);
        return 0;
}

/* STATUS= at most once a second, except when asked for NOW. */
static void status_update(supervisor *sv, const counts *c, bool now) {
        int enabled = SD_EVENT_OFF;

        if (now || sv->last_status_usec == 0 ||
            now_usec(sv) >= sv->last_status_usec + STATUS_INTERVAL_USEC) {
                status_send(sv, c);
                return;
        }
        if (!sv->status_timer) {
                if (sd_event_add_time_relative(sv->event, &sv->status_timer, CLOCK_MONOTONIC,
                                               STATUS_INTERVAL_USEC, 0, on_status_timer, sv) < 0) {
                        sv->status_timer = NULL;
                        return;
                }
                (void) sd_event_source_set_enabled(sv->status_timer, SD_EVENT_ONESHOT);
                return;
        }
        (void) sd_event_source_get_enabled(sv->status_timer, &enabled);
        if (enabled == SD_EVENT_OFF) {
                (void) sd_event_source_set_time_relative(sv->status_timer, STATUS_INTERVAL_USEC);
                (void) sd_event_source_set_enabled(sv->status_timer, SD_EVENT_ONESHOT);
        }
}

static void supervisor_evaluate(supervisor *sv) {
        const service_settings *s = sv->settings;
        counts c;
        bool want;

        if (sv->stopping || sv->draining) {
                set_watching(sv, false, false);
                c = count_workers(sv);
                if (c.workers == 0)
                        (void) sd_event_exit(sv->event, 0);
                status_update(sv, &c, false);
                return;
        }

        /* A worker that took a client after its idle SIGINT ignored the signal. */
        for (size_t i = 0; i < sv->n_workers; i++) {
                worker *w = sv->workers[i];

                if (w->sigint_sent && worker_read(w).clients > 0)
                        w->sigint_sent = false;
        }
        c = count_workers(sv);

        if (c.current < s->process_limit)
                sv->full_wait = false;
        if (sv->login_full && (c.avail > 0 || c.current < s->process_limit))
                set_login_full(sv, false);

        while (!sv->throttled && c.avail < s->process_min_avail && c.current < s->process_limit) {
                if (worker_spawn(sv) < 0)
                        break;
                c = count_workers(sv);
        }

        want = !sv->throttled && c.avail_ready == 0 &&
                !(sv->full_wait && c.current >= s->process_limit) &&
                !(sv->start_wait && c.starting_slots > 0);
        set_watching(sv, want, c.current == 0);

        /* Idle workers beyond process_min_avail get an idle_kill timer. */
        for (size_t i = 0; i < sv->n_workers; i++) {
                worker *w = sv->workers[i];
                worker_state st = worker_read(w);
                bool idle = w->generation == sv->generation && !w->retiring && !w->sigint_sent &&
                        st.accepting && st.ready && st.clients == 0;

                if (idle && s->idle_kill > 0 && c.avail > s->process_min_avail) {
                        if (!w->idle_timer &&
                            sd_event_add_time_relative(sv->event, &w->idle_timer, CLOCK_MONOTONIC,
                                                       s->idle_kill * USEC_PER_SEC +
                                                       (uint64_t) (random() % 100) * 10 * USEC_PER_MSEC,
                                                       0, on_worker_idle, w) < 0)
                                w->idle_timer = NULL;
                } else if (!idle)
                        w->idle_timer = sd_event_source_disable_unref(w->idle_timer);
        }

        /* Every STATUS= costs PID 1 and D-Bus work: with service_count = 1 the number of
         * workers changes twice per client. At once only between none and some. */
        status_update(sv, &c, (c.workers == 0) != (sv->last_workers == 0));
        sv->last_workers = c.workers;
        if (!sv->ready_sent && c.ready >= s->process_min_avail) {
                sv->ready_sent = true;
                (void) service_notify("READY=1");
        }
}

/* ---- signals ---------------------------------------------------------------------------- */

static int on_stop_kill(sd_event_source *src, uint64_t usec, void *userdata) {
        supervisor *sv = userdata;

        for (size_t i = 0; i < sv->n_workers; i++) {
                sv_log_full(sv, LOG_WARNING, DOVESD_MESSAGE_STOP_TIMEOUT, NULL, NULL,
                            "Worker %d did not stop, killing it", (int) sv->workers[i]->pid);
                (void) kill(sv->workers[i]->pid, SIGKILL);
        }
        return 0;
}

static int on_sigterm(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        supervisor *sv = userdata;
        int r;

        if (sv->stopping)
                return 0;
        sv->stopping = true;
        (void) service_notify("STOPPING=1");
        set_watching(sv, false, false);
        for (size_t i = 0; i < sv->n_workers; i++)
                worker_retire(sv->workers[i], SIGTERM);

        r = sd_event_add_time_relative(sv->event, &sv->stop_timer, CLOCK_MONOTONIC,
                                       DOVESD_STOP_TIMEOUT_USEC_DEFAULT + STOP_KILL_EXTRA_USEC, 0,
                                       on_stop_kill, sv);
        if (r < 0)
                sv->stop_timer = NULL;
        supervisor_evaluate(sv);
        return 0;
}

/* The environment of the process that sent the reload (the reloaded unit's ExecReload=):
 * its DOVESD_* variables replace ours. Returns the number of variables read. */
static int read_environ(pid_t pid, char **ret, size_t *ret_size) {
        char path[64];
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;

        snprintf(path, sizeof(path), "/proc/%d/environ", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t k;

                if (size + ENVIRON_CHUNK + 1 > ENVIRON_MAX)
                        return -E2BIG;
                if (!GREEDY_REALLOC(buf, size + ENVIRON_CHUNK + 1))
                        return -ENOMEM;
                k = read(fd, buf + size, ENVIRON_CHUNK);
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

/* Replace every DOVESD_* variable of our environment with the sender's (a variable the
 * reloaded unit no longer sets is removed). Returns 1 if anything changed. */
static int apply_environ(const char *buf, size_t size) {
        int changed = 0;
        char **names = NULL;
        size_t n = 0;

        /* Collect our DOVESD_* names first: unsetenv() while walking environ skips entries. */
        for (char **e = environ; *e; e++)
                if (startswith(*e, DOVESD_ENV_PREFIX) && !startswith(*e, DOVESD_ENV_WORKER "=")) {
                        const char *eq = strchr(*e, '=');

                        if (!eq || !GREEDY_REALLOC(names, n + 1))
                                break;
                        names[n] = strndup(*e, (size_t) (eq - *e));
                        if (names[n])
                                n++;
                }
        for (size_t i = 0; i < n; i++) {
                bool found = false;

                for (const char *p = buf; p < buf + size; p += strlen(p) + 1)
                        if (startswith(p, names[i]) && p[strlen(names[i])] == '=')
                                found = true;
                if (!found) {
                        (void) unsetenv(names[i]);
                        changed = 1;
                }
                free(names[i]);
        }
        free(names);

        for (const char *p = buf; p < buf + size; p += strlen(p) + 1) {
                const char *eq = strchr(p, '=');
                _cleanup_free_ char *name = NULL;
                const char *old;

                if (!startswith(p, DOVESD_ENV_PREFIX) || !eq || startswith(p, DOVESD_ENV_WORKER "="))
                        continue;
                name = strndup(p, (size_t) (eq - p));
                if (!name)
                        return -ENOMEM;
                old = getenv(name);
                if (old && streq(old, eq + 1))
                        continue;
                if (setenv(name, eq + 1, 1) < 0)
                        return -errno;
                changed = 1;
        }
        return changed;
}

/* Our DOVESD_* variables, to put back after a reload that fails. */
static char *save_environ(size_t *ret_size) {
        size_t size = 0;
        char *buf;

        for (char **e = environ; *e; e++)
                if (startswith(*e, DOVESD_ENV_PREFIX))
                        size += strlen(*e) + 1;
        buf = malloc(size + 1);
        if (!buf)
                return NULL;
        size = 0;
        for (char **e = environ; *e; e++)
                if (startswith(*e, DOVESD_ENV_PREFIX)) {
                        strcpy(buf + size, *e);
                        size += strlen(*e) + 1;
                }
        buf[size] = '\0';
        *ret_size = size;
        return buf;
}

/* The settings of the new environment, checked as dovesd_service_new() checks them. The
 * listeners are ours (systemd passed them at start): the new unit must name the same. They
 * replace the running settings as a whole. */
static int reload_settings(supervisor *sv, char **ret_error) {
        service_settings *n = NULL;
        int r;

        r = service_settings_from_env(&n, ret_error);
        if (r < 0)
                return r;
        if (!service_settings_same_listeners(n, sv->settings)) {
                service_settings_free(n);
                free(*ret_error);
                if (asprintf(ret_error, "DOVESD_LISTENERS changed from the listeners "
                             "this process was started with; the socket units need "
                             "a restart of the service to apply") < 0)
                        *ret_error = NULL;
                return -EBUSY;
        }

        service_settings_free(sv->settings);
        sv->settings = n;
        return 0;
}

static int reload(supervisor *sv, pid_t sender, char **ret_error) {
        _cleanup_free_ char *env = NULL, *saved = NULL;
        size_t env_size = 0, saved_size = 0;
        int r;

        if (sender > 0) {
                r = read_environ(sender, &env, &env_size);
                if (r < 0) {
                        if (asprintf(ret_error, "Cannot read the environment of the reloading "
                                     "process %d: %s", (int) sender, strerror(-r)) < 0)
                                *ret_error = NULL;
                        return r;
                }
                saved = save_environ(&saved_size);
                if (!saved)
                        return -ENOMEM;
                r = apply_environ(env, env_size);
                if (r < 0)
                        return r;
        }

        r = reload_settings(sv, ret_error);
        if (r < 0) {
                if (saved) {
                        (void) apply_environ(saved, saved_size);
                        (void) sv->kind->reconfigure(sv);
                }
                return r;
        }
        r = sv->kind->reconfigure(sv);
        if (r < 0)
                return r;

        /* The new generation starts; the old one runs the program's reload callback, stops
         * accepting and drains. */
        r = sv->kind->retire_generation(sv);
        if (r < 0)
                return r;
        sv->generation++;
        sv->full_wait = false;
        sv->start_wait = false;
        sv->throttled = false;
        sv->throttle_sec = 0;
        sv->throttle_timer = sd_event_source_disable_unref(sv->throttle_timer);
        for (size_t i = 0; i < sv->n_workers; i++) {
                worker *w = sv->workers[i];

                if (w->retiring)
                        continue;
                if (sv->kind->sighup_at_reload)
                        worker_signal(w, SIGHUP);
                worker_retire(w, SIGQUIT);
        }
        return 0;
}

static int on_sighup(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        supervisor *sv = userdata;
        _cleanup_free_ char *error = NULL;
        bool from_tool = si->ssi_code == SI_QUEUE && si->ssi_int == RELOAD_MAGIC;
        counts c;
        int r;

        if (sv->stopping || sv->draining)
                return 0;
        (void) service_notify("RELOADING=1");
        r = reload(sv, from_tool ? (pid_t) si->ssi_pid : 0, &error);
        if (r < 0)
                sv_log(sv, LOG_ERR, "Reload failed, keeping the running workers and "
                       "settings: %s", error ?: strerror(-r));
        else {
                c = count_workers(sv);
                sv_log_full(sv, LOG_INFO, DOVESD_MESSAGE_RELOADED, NULL, NULL,
                            "Reloaded: new workers get the new settings (client_limit %u, "
                            "process_limit %u, service_count %u), %u old %s",
                            sv->settings->client_limit, sv->settings->process_limit,
                            sv->settings->service_count, c.old_workers,
                            c.old_workers == 0 ? "workers left" :
                            c.old_workers == 1 ? "worker finishes its clients" :
                            "workers finish their clients");
        }
        (void) service_notify("READY=1");
        sv->last_status[0] = '\0';
        supervisor_evaluate(sv);
        c = count_workers(sv);
        status_send(sv, &c);
        if (from_tool)
                (void) sigqueue((pid_t) si->ssi_pid, r < 0 ? SIGUSR2 : SIGUSR1,
                                (union sigval) { .sival_int = RELOAD_MAGIC });
        return 0;
}

static int on_sigusr2(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        supervisor *sv = userdata;
        counts c = count_workers(sv);
        char pids[512] = "";
        unsigned max_clients = sv->max_clients_gone;

        for (size_t i = 0; i < sv->n_workers; i++) {
                worker_state st = worker_read(sv->workers[i]);
                size_t l = strlen(pids);

                if (st.max_clients > max_clients)
                        max_clients = MIN(st.max_clients, worker_capacity(sv->settings));
                if (l < sizeof(pids) - 16)
                        snprintf(pids + l, sizeof(pids) - l, "%s%d", i > 0 ? "," : "",
                                 (int) sv->workers[i]->pid);
        }
        sv_log(sv, LOG_INFO,
               "Stats: workers=%u workers_max=%u generation=%u old_workers=%u "
               "spawned=%" PRIu64 " crashed=%" PRIu64 " start_failed=%" PRIu64
               " throttled=%" PRIu64 " clients=%u free=%u avail=%u max_clients=%u served=%"
               PRIu64 " pids=%s",
               c.workers, sv->workers_max, sv->generation, c.old_workers, sv->spawned,
               sv->crashed, sv->start_failed, sv->throttles, c.clients, c.free_slots,
               c.avail, max_clients, c.served, pids);
        return 0;
}

static int on_ignored_signal(sd_event_source *src, const struct signalfd_siginfo *si,
                             void *userdata) {
        return 0;
}

/* SIGQUIT: the service was removed from the config (dovesd-generator --apply): no new
 * workers; every worker stops accepting and keeps its clients; exit 0 after the last one. */
static int on_sigquit(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        supervisor *sv = userdata;

        if (sv->stopping || sv->draining)
                return 0;
        sv->draining = true;
        sv_log(sv, LOG_INFO, "Draining: no new clients, exiting when the last of %zu "
               "workers is done", sv->n_workers);
        (void) sv->kind->retire_generation(sv);
        for (size_t i = 0; i < sv->n_workers; i++)
                if (!sv->workers[i]->retiring)
                        worker_retire(sv->workers[i], SIGQUIT);
        supervisor_evaluate(sv);
        return 0;
}

/* ---- set-up ----------------------------------------------------------------------------- */

static supervisor *supervisor_free(supervisor *sv) {
        if (!sv)
                return NULL;
        sv->kind->done(sv);
        for (size_t i = 0; i < sv->n_workers; i++)
                worker_free(sv->workers[i]);
        free(sv->workers);
        if (sv->watch)
                for (size_t i = 0; i < sv->fds.n_fds; i++)
                        sd_event_source_disable_unref(sv->watch[i]);
        free(sv->watch);
        sd_event_source_disable_unref(sv->sigterm);
        sd_event_source_disable_unref(sv->sigint);
        sd_event_source_disable_unref(sv->sighup);
        sd_event_source_disable_unref(sv->sigusr1);
        sd_event_source_disable_unref(sv->sigusr2);
        sd_event_source_disable_unref(sv->sigquit);
        sd_event_source_disable_unref(sv->full_timer);
        sd_event_source_disable_unref(sv->throttle_timer);
        sd_event_source_disable_unref(sv->stop_timer);
        sd_event_source_disable_unref(sv->status_timer);
        sd_event_unref(sv->event);
        listen_fds_done(&sv->fds);
        service_settings_free(sv->settings);
        free(sv->name);
        free(sv);
        return NULL;
}

static int supervisor_setup(supervisor *sv) {
        static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT };
        sigset_t mask;
        int r;

        sv->pid = getpid();

        /* sd_event_add_child() and sd_event_add_signal() want their signals blocked. */
        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                sigaddset(&mask, sigs[i]);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;

        r = sd_event_add_signal(sv->event, &sv->sigterm, SIGTERM, on_sigterm, sv);
        if (r < 0)
                return r;
        /* SIGINT ends the supervisor as SIGTERM does. */
        r = sd_event_add_signal(sv->event, &sv->sigint, SIGINT, on_sigterm, sv);
        if (r < 0)
                return r;
        r = sd_event_add_signal(sv->event, &sv->sighup, SIGHUP, on_sighup, sv);
        if (r < 0)
                return r;
        r = sd_event_add_signal(sv->event, &sv->sigusr2, SIGUSR2, on_sigusr2, sv);
        if (r < 0)
                return r;
        /* Meant for workers; a stray one must not kill the supervisor. */
        r = sd_event_add_signal(sv->event, &sv->sigusr1, SIGUSR1, on_ignored_signal, sv);
        if (r < 0)
                return r;
        r = sd_event_add_signal(sv->event, &sv->sigquit, SIGQUIT, on_sigquit, sv);
        if (r < 0)
                return r;
        r = sd_event_set_watchdog(sv->event, true);
        if (r < 0)
                return r;

        sv->watch = calloc(sv->fds.n_fds ?: 1, sizeof(sd_event_source *));
        if (!sv->watch)
                return -ENOMEM;
        for (size_t i = 0; i < sv->fds.n_fds; i++) {
                r = sd_event_add_io(sv->event, &sv->watch[i], sv->fds.fds[i].fd, EPOLLIN,
                                    on_watch, sv);
                if (r < 0)
                        return r;
                r = sd_event_source_set_enabled(sv->watch[i], SD_EVENT_OFF);
                if (r < 0)
                        return r;
        }
        return sv->kind->setup(sv);
}

/* ---- the reload client ------------------------------------------------------------------ */

/* `dovesd-supervisor --reload PID`, as the unit's ExecReload= (with the reloaded unit's
 * environment): ask the supervisor PID to read our environment and start a new generation,
 * and wait for its answer. */
static int reload_client(const char *arg) {
        sigset_t mask;
        siginfo_t si;
        struct timespec ts = { .tv_sec = RELOAD_REPLY_TIMEOUT_SEC };
        cap_t caps;
        char *end;
        long pid;

        errno = 0;
        pid = strtol(arg, &end, 10);
        if (errno != 0 || *end != '\0' || pid <= 1) {
                fprintf(stderr, "dovesd-supervisor: --reload: not a process id: '%s'\n", arg);
                return 2;
        }

        /* ExecReload=+ runs this with every capability; the supervisor, bounded by the unit's
         * CapabilityBoundingSet=, may read our /proc/PID/environ only if our capabilities are
         * a subset of its own. Signalling a process of the same user needs none. */
        caps = cap_init();
        if (!caps || cap_set_proc(caps) < 0) {
                fprintf(stderr, "dovesd-supervisor: --reload: cannot drop capabilities: %m\n");
                return 1;
        }
        cap_free(caps);

        sigemptyset(&mask);
        sigaddset(&mask, SIGUSR1);
        sigaddset(&mask, SIGUSR2);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return 1;
        if (sigqueue((pid_t) pid, SIGHUP, (union sigval) { .sival_int = RELOAD_MAGIC }) < 0) {
                fprintf(stderr, "dovesd-supervisor: --reload: cannot signal process %ld: %m\n",
                        pid);
                return 1;
        }
        for (;;) {
                int sig = sigtimedwait(&mask, &si, &ts);

                if (sig < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "dovesd-supervisor: --reload: no answer from process "
                                "%ld within %d s\n", pid, RELOAD_REPLY_TIMEOUT_SEC);
                        return 1;
                }
                if (si.si_pid != (pid_t) pid)
                        continue;
                if (sig == SIGUSR1)
                        return 0;
                fprintf(stderr, "dovesd-supervisor: reload failed, the service keeps its "
                        "running settings (its log says why)\n");
                return 1;
        }
}

static const worker_kind *const worker_kinds[] = { &kind_libdovesd, &kind_dovecot };

/* What the kinds may ask of the policy (sv_services). */
static const sv_services services = {
        .start_failed = start_failed,
        .worker_changed = worker_changed,
        .exec_program = worker_exec,
};

/* ---- main ------------------------------------------------------------------------------- */

static void log_to_stderr(const dovesd_log_record *rec, void *userdata) {
        fprintf(stderr, "<%d>%s%s%s\n", rec->priority, rec->message_id ?: "",
                rec->message_id ? " " : "", rec->message);
}

static int help(void) {
        printf("dovesd-supervisor PROGRAM [ARGUMENTS...]\n"
               "dovesd-supervisor --reload PID\n"
               "dovesd-supervisor --kinds\n\n"
               "The main process of a dovesd service with process_limit > 1: starts every\n"
               "worker by fork + exec of PROGRAM with the listening fds systemd passed.\n"
               "See libdovesd(3) and dovesd.units(7).\n");
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char *error = NULL;
        const worker_kind *kind = NULL;
        const char *kind_name;
        supervisor *sv = NULL;
        int r;

        if (argc >= 2 && streq(argv[1], "--help"))
                return help();
        if (argc == 2 && streq(argv[1], "--kinds")) {
                for (size_t i = 0; i < ELEMENTSOF(worker_kinds); i++)
                        printf("%s\n", worker_kinds[i]->name);
                return 0;
        }
        if (argc == 3 && streq(argv[1], "--reload"))
                return reload_client(argv[2]);
        if (argc < 2 || argv[1][0] == '-') {
                fprintf(stderr, "dovesd-supervisor: usage: dovesd-supervisor PROGRAM [ARGUMENTS...]\n");
                return 2;
        }
        if (argv[1][0] != '/') {
                fprintf(stderr, "dovesd-supervisor: %s: the program must be an absolute path\n",
                        argv[1]);
                return 2;
        }

        kind_name = getenv(DOVESD_ENV_WORKER_KIND) ?: kind_libdovesd.name;
        for (size_t i = 0; i < ELEMENTSOF(worker_kinds); i++)
                if (streq(kind_name, worker_kinds[i]->name))
                        kind = worker_kinds[i];
        if (!kind) {
                fprintf(stderr, "dovesd-supervisor: DOVESD_WORKER_KIND=%s: unknown worker kind "
                        "(dovesd-supervisor --kinds)\n", kind_name);
                return 2;
        }

        /* Workers are this process's children only: never inherit DOVESD_WORKER. */
        (void) unsetenv(DOVESD_ENV_WORKER);
        service_log_connect();

        sv = calloc(1, sizeof(*sv));
        if (!sv)
                return 1;
        sv->kind = kind;
        sv->services = &services;
        sv->wake_fd = -EBADF;
        sv->fds = LISTEN_FDS_NULL;
        sv->argv = argv + 1;

        r = service_settings_from_env(&sv->settings, &error);
        if (r >= 0) {
                sv->name = strdup(sv->settings->name);
                if (!sv->name)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = listen_fds_take(sv->settings, &sv->fds, &error);
        if (r >= 0) {
                r = sd_event_new(&sv->event);
                if (r < 0 && !error)
                        (void) asprintf(&error, "Failed to create the event loop: %s", strerror(-r));
        }
        if (r < 0) {
                /* Nothing to serve with: say why where an admin looks. */
                if (!error && r == -ENOMEM)
                        error = strdup("Out of memory");
                fprintf(stderr, "dovesd-supervisor: %s\n", error ?: strerror(-r));
                supervisor_free(sv);
                return 1;
        }
        sv->log.service = sv->name;
        if (getenv(DOVESD_ENV_LOG_STDERR))
                sv->log.fn = log_to_stderr;

        sched_slice_shorten(sv);
        r = supervisor_setup(sv);
        if (r < 0) {
                sv_log(sv, LOG_ERR, "Failed to set up the supervisor: %s", strerror(-r));
                goto finish;
        }
        supervisor_evaluate(sv);

        r = sd_event_loop(sv->event);

        /* After an error: do not leave workers behind. */
        for (size_t i = 0; i < sv->n_workers; i++)
                (void) kill(sv->workers[i]->pid, SIGTERM);
        (void) service_notify("STOPPING=1");
finish:
        supervisor_free(sv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
