/* SPDX-License-Identifier: MIT */

/*
 * The prefork pool: dovesd_service_run() of a service that is not per-connection and has
 * process_limit > 1. The unit's main process becomes the supervisor. It never accepts a
 * client; it forks workers (after the program's set-up and dovesd_service_restrict(), so each
 * starts unprivileged and clean) that run the accept loop of loop.c, and it decides from
 * their slots in a shared anonymous mapping:
 *
 *   - keep process_min_avail workers with free slots;
 *   - when no worker has a free slot, watch the listening fds: a readable one forks one more
 *     worker, up to process_limit; at the limit, log once a second and stop watching until a
 *     worker changes state (clients wait in the listen backlog; no spinning);
 *   - type=login at the limit: set the "all processes full" state in every slot and SIGUSR1,
 *     so that a full worker lets a new client push out its oldest one not logged in;
 *   - a worker with no client for idle_kill beyond the process_min_avail ones gets SIGINT (it
 *     exits only if it still has no client, a check it makes itself);
 *   - crashes are logged and the worker replaced; more than 10 crashes within a second
 *     throttle start-ups for 2 s, doubling up to 60 s;
 *   - SIGTERM: SIGTERM to every worker (graceful stop), exit when they are gone;
 *   - SIGHUP: the reload callback, then every worker is replaced one at a time, the
 *     replacement first, then SIGQUIT to the old one, which stops accepting and exits when its
 *     last client leaves;
 *   - no worker and no client for idle_kill with process_min_avail = 0: exit 0 (the socket
 *     activates the service again).
 *
 * Workers wake the supervisor through an eventfd created before the first fork, when their
 * state crosses one of the lines the supervisor decides on (full, idle, accepting, ready).
 */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "internal.h"

#define THROTTLE_FAILURES 10                    /* more crashes than this within ... */
#define THROTTLE_WINDOW_USEC (1 * USEC_PER_SEC) /* ... this window throttle start-ups */
#define THROTTLE_MIN_SEC 2
#define THROTTLE_MAX_SEC 60
#define LIMIT_LOG_INTERVAL_USEC (1 * USEC_PER_SEC)
#define FULL_RECHECK_USEC (1 * USEC_PER_SEC)
#define STATUS_INTERVAL_USEC (1 * USEC_PER_SEC)
#define STOP_KILL_EXTRA_USEC (5 * USEC_PER_SEC)

/* The start of the shared mapping; the slots follow. */
typedef struct pool_shared {
        _Atomic(unsigned) workers_max;
        _Atomic(uint64_t) spawned;
        _Atomic(uint64_t) crashed;
        _Atomic(uint64_t) throttled;
        _Atomic(unsigned) max_clients;          /* of workers gone */
        _Atomic(uint64_t) served;               /* by workers gone */
        dovesd_worker_slot slots[];
} pool_shared;

/* The supervisor's own view of one worker. */
typedef struct pool_worker {
        pool *pool;
        size_t idx;
        pid_t pid;                      /* 0: slot free */
        unsigned generation;            /* reload generation it was started in */
        bool sigint_sent;               /* idle SIGINT sent, no client seen since */
        bool retiring;                  /* SIGQUIT (reload) or SIGTERM sent */
        sd_event_source *child, *idle_timer;
} pool_worker;

struct pool {
        dovesd_service *service;
        pool_shared *shared;
        size_t map_size;
        size_t n;                       /* process_limit */
        pool_worker *workers;
        int wake_fd;                    /* eventfd: workers → supervisor */
        sigset_t saved_mask;            /* the program's mask, restored in workers */

        sd_event_source *wake_source;
        sd_event_source **watch;        /* one per listening fd, supervisor side */
        sd_event_source *sigquit_source;
        sd_event_source *full_timer, *throttle_timer, *idle_timer, *stop_timer;
        sd_event_source *status_timer;

        bool watching;
        bool full_wait;                 /* at process_limit, every worker full: wait */
        bool login_full;                /* overflow state set in the slots */
        bool stopping;
        bool ready_sent;
        uint64_t last_limit_log_usec;

        /* start-up throttling */
        bool throttled;
        unsigned n_failures;
        uint64_t failure_window_usec;
        unsigned throttle_sec;          /* the next throttle period */

        /* reload */
        unsigned generation;
        pool_worker *reload_new, *reload_old;

        /* STATUS= */
        char last_status[160];
        unsigned last_workers;
        uint64_t last_status_usec;

        /* in a worker */
        size_t self;
        unsigned last_bits;
};

static uint64_t now_usec(pool *p) {
        uint64_t t = 0;

        (void) sd_event_now(p->service->event, CLOCK_MONOTONIC, &t);
        return t;
}

static unsigned worker_capacity(const dovesd_service *s) {
        if (s->service_count > 0)
                return MIN(s->client_limit, s->service_count);
        return s->client_limit;
}

static dovesd_worker_slot *slot_of(pool *p, const pool_worker *w) {
        return &p->shared->slots[w->idx];
}

static void wake_supervisor(pool *p) {
        uint64_t one = 1;

        (void) !write(p->wake_fd, &one, sizeof(one));
}

/* ---- the worker side ------------------------------------------------------------------ */

void pool_worker_publish(dovesd_service *s, unsigned free_slots) {
        pool *p = s->pool;
        unsigned clients = s->n_active + s->n_pending, bits;

        if (!p || s->role != ROLE_WORKER)
                return;

        if (clients > atomic_load(&s->slot->max_clients))
                atomic_store(&s->slot->max_clients, clients);

        bits = (free_slots == 0) | (clients == 0) << 1 | atomic_load(&s->slot->accepting) << 2 |
                atomic_load(&s->slot->ready) << 3;
        if (bits != p->last_bits) {
                p->last_bits = bits;
                wake_supervisor(p);
        }
}

/* SIGQUIT from the supervisor (reload): stop accepting, exit when the last client leaves. No
 * deadline and no stop callback: nobody is cut off. */
static int on_worker_sigquit(sd_event_source *src, const struct signalfd_siginfo *si,
                             void *userdata) {
        dovesd_service *s = userdata;

        s->stopping = true;
        service_update_accepting(s);
        return 0;
}

static _Noreturn void worker_main(pool *p, size_t idx) {
        dovesd_service *s = p->service;
        dovesd_worker_slot *slot = &p->shared->slots[idx];
        sd_event_source *quit = NULL;
        sigset_t mask = p->saved_mask;
        int r;

        /* The signals the supervisor may send stay blocked (queued for the worker's own
         * signalfd sources); SIGCHLD goes back to what the program had. */
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGUSR1);
        sigaddset(&mask, SIGQUIT);
        (void) sigprocmask(SIG_SETMASK, &mask, NULL);

        /* If the supervisor goes away, stop as on SIGTERM; systemd's control-group kill is the
         * backstop. */
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
                _exit(EXIT_SUCCESS);

        p->self = idx;
        p->last_bits = ~0U;
        /* The supervisor's sources belong to its loop, which the child must not touch. */
        p->wake_source = p->sigquit_source = NULL;
        p->full_timer = p->throttle_timer = p->idle_timer = p->stop_timer = NULL;
        p->status_timer = NULL;

        r = service_after_fork(s, slot);
        if (r < 0)
                _exit(EXIT_FAILURE);
        r = service_loop_setup(s);
        if (r >= 0)
                r = sd_event_add_signal(s->event, &quit, SIGQUIT, on_worker_sigquit, s);
        if (r < 0) {
                service_log(s, LOG_ERR, "Worker failed to set up its event loop: %s", strerror(-r));
                _exit(EXIT_FAILURE);
        }
        atomic_store(&slot->ready, true);

        r = service_loop_run(s);
        _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

/* ---- the supervisor ------------------------------------------------------------------- */

static void pool_evaluate(pool *p);

typedef struct pool_counts {
        unsigned workers;       /* alive */
        unsigned avail;         /* accepting, with free slots, not being retired or idled out */
        unsigned ready;         /* loop set up */
        unsigned clients, free_slots;
        uint64_t served;
} pool_counts;

static bool worker_avail(pool *p, const pool_worker *w) {
        dovesd_worker_slot *slot = slot_of(p, w);

        return w->pid > 0 && !w->retiring && !w->sigint_sent && atomic_load(&slot->accepting) &&
                atomic_load(&slot->free_slots) > 0;
}

static pool_counts pool_count(pool *p) {
        pool_counts c = {};

        c.served = atomic_load(&p->shared->served);
        for (size_t i = 0; i < p->n; i++) {
                pool_worker *w = &p->workers[i];
                dovesd_worker_slot *slot = slot_of(p, w);

                if (w->pid <= 0)
                        continue;
                c.workers++;
                if (worker_avail(p, w))
                        c.avail++;
                if (atomic_load(&slot->ready))
                        c.ready++;
                c.clients += atomic_load(&slot->clients);
                if (atomic_load(&slot->accepting))
                        c.free_slots += atomic_load(&slot->free_slots);
                c.served += atomic_load(&slot->served);
        }
        return c;
}

static void set_watching(pool *p, bool want, bool fifo_too) {
        dovesd_service *s = p->service;

        for (size_t i = 0; i < s->n_sockets; i++) {
                bool on = s->sockets[i].kind == SOCKET_FIFO ? want && fifo_too : want;

                if (p->watch[i])
                        (void) sd_event_source_set_enabled(p->watch[i],
                                                           on ? SD_EVENT_ON : SD_EVENT_OFF);
        }
        p->watching = want;
}

static int on_worker_exit(sd_event_source *src, const siginfo_t *si, void *userdata);

static int pool_spawn(pool *p, pool_worker **ret) {
        dovesd_service *s = p->service;
        pool_worker *w = NULL;
        dovesd_worker_slot *slot;
        unsigned n_alive = 0;
        pid_t pid;
        int r;

        for (size_t i = 0; i < p->n; i++) {
                if (p->workers[i].pid > 0)
                        n_alive++;
                else if (!w)
                        w = &p->workers[i];
        }
        if (!w)
                return -EUSERS;         /* process_limit */

        slot = slot_of(p, w);
        atomic_store(&slot->pid, 0);
        atomic_store(&slot->clients, 0);
        atomic_store(&slot->free_slots, worker_capacity(s));
        atomic_store(&slot->served, 0);
        atomic_store(&slot->not_logged_in, 0);
        atomic_store(&slot->accepting, true);
        atomic_store(&slot->overflow, p->login_full);
        atomic_store(&slot->ready, false);
        atomic_store(&slot->max_clients, 0);

        pid = fork();
        if (pid < 0) {
                r = -errno;
                service_log(s, LOG_ERR, "Failed to fork a worker: %s", strerror(-r));
                return r;
        }
        if (pid == 0)
                worker_main(p, w->idx);

        atomic_store(&slot->pid, pid);
        *w = (pool_worker) {
                .pool = p,
                .idx = w->idx,
                .pid = pid,
                .generation = p->generation,
        };
        r = sd_event_add_child(s->event, &w->child, pid, WEXITED, on_worker_exit, w);
        if (r < 0) {
                /* Without a child source we could never reap it: do not keep it. */
                service_log(s, LOG_ERR, "Failed to watch worker %d: %s", (int) pid, strerror(-r));
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                atomic_store(&slot->pid, 0);
                w->pid = 0;
                return r;
        }

        atomic_fetch_add(&p->shared->spawned, 1);
        if (n_alive + 1 > atomic_load(&p->shared->workers_max))
                atomic_store(&p->shared->workers_max, n_alive + 1);
        service_log(s, LOG_DEBUG, "Started worker %d", (int) pid);
        if (ret)
                *ret = w;
        return 0;
}

static void set_login_full(pool *p, bool full) {
        if (p->login_full == full)
                return;
        p->login_full = full;
        for (size_t i = 0; i < p->n; i++) {
                pool_worker *w = &p->workers[i];

                if (w->pid <= 0)
                        continue;
                atomic_store(&slot_of(p, w)->overflow, full);
                (void) kill(w->pid, SIGUSR1);
        }
}

static void worker_retire(pool *p, pool_worker *w, int sig) {
        if (w->pid <= 0)
                return;
        w->retiring = true;
        w->idle_timer = sd_event_source_disable_unref(w->idle_timer);
        (void) kill(w->pid, sig);
}

static int on_throttle_end(sd_event_source *src, uint64_t usec, void *userdata) {
        pool *p = userdata;

        p->throttled = false;
        p->n_failures = 0;
        pool_evaluate(p);
        return 0;
}

static void worker_failed(pool *p) {
        dovesd_service *s = p->service;
        uint64_t t = now_usec(p);
        int r;

        if (p->n_failures == 0 || t >= p->failure_window_usec + THROTTLE_WINDOW_USEC) {
                p->failure_window_usec = t;
                p->n_failures = 0;
        }
        if (++p->n_failures <= THROTTLE_FAILURES || p->throttled)
                return;

        if (p->throttle_sec == 0)
                p->throttle_sec = THROTTLE_MIN_SEC;
        service_log_full(s, LOG_ERR, DOVESD_MESSAGE_WORKER_CRASHED, NULL, NULL,
                         "Workers failed %u times within a second, throttling start-ups for %u s",
                         p->n_failures, p->throttle_sec);
        atomic_fetch_add(&p->shared->throttled, 1);
        p->throttled = true;
        sd_event_source_disable_unref(p->throttle_timer);
        r = sd_event_add_time_relative(s->event, &p->throttle_timer, CLOCK_MONOTONIC,
                                       p->throttle_sec * USEC_PER_SEC, 0, on_throttle_end, p);
        if (r < 0) {
                p->throttle_timer = NULL;
                p->throttled = false;
        }
        p->throttle_sec = MIN(p->throttle_sec * 2, THROTTLE_MAX_SEC);
}

static int on_worker_exit(sd_event_source *src, const siginfo_t *si, void *userdata) {
        pool_worker *w = userdata;
        pool *p = w->pool;
        dovesd_service *s = p->service;
        dovesd_worker_slot *slot = slot_of(p, w);
        unsigned mc = atomic_load(&slot->max_clients);

        atomic_fetch_add(&p->shared->served, atomic_load(&slot->served));
        if (mc > atomic_load(&p->shared->max_clients))
                atomic_store(&p->shared->max_clients, mc);

        if (si->si_code == CLD_EXITED && si->si_status == 0) {
                /* A clean exit ends the doubling of the throttle period. */
                p->throttle_sec = 0;
                service_log(s, LOG_DEBUG, "Worker %d exited", (int) w->pid);
        } else {
                if (si->si_code == CLD_EXITED)
                        service_log_full(s, LOG_ERR, DOVESD_MESSAGE_WORKER_CRASHED, NULL, NULL,
                                         "Worker %d exited with status %d",
                                         (int) w->pid, si->si_status);
                else
                        service_log_full(s, LOG_ERR, DOVESD_MESSAGE_WORKER_CRASHED, NULL, NULL,
                                         "Worker %d killed by signal %d (SIG%s)%s",
                                         (int) w->pid, si->si_status,
                                         sigabbrev_np(si->si_status) ?: "?",
                                         si->si_code == CLD_DUMPED ? ", core dumped" : "");
                atomic_fetch_add(&p->shared->crashed, 1);
                if (!p->stopping)
                        worker_failed(p);
        }

        atomic_store(&slot->pid, 0);
        atomic_store(&slot->ready, false);
        w->child = sd_event_source_disable_unref(w->child);
        w->idle_timer = sd_event_source_disable_unref(w->idle_timer);
        w->pid = 0;
        w->retiring = w->sigint_sent = false;
        if (p->reload_new == w)
                p->reload_new = NULL;
        if (p->reload_old == w)
                p->reload_old = NULL;

        pool_evaluate(p);
        return 0;
}

static int on_wake(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        pool *p = userdata;
        uint64_t v;

        (void) !read(fd, &v, sizeof(v));
        pool_evaluate(p);
        return 0;
}

static int on_full_recheck(sd_event_source *src, uint64_t usec, void *userdata) {
        pool *p = userdata;

        p->full_wait = false;
        pool_evaluate(p);
        return 0;
}

static void limit_reached(pool *p) {
        dovesd_service *s = p->service;
        uint64_t t = now_usec(p);

        if (p->last_limit_log_usec != 0 && t < p->last_limit_log_usec + LIMIT_LOG_INTERVAL_USEC)
                return;
        p->last_limit_log_usec = t;
        service_log_full(s, LOG_WARNING, DOVESD_MESSAGE_PROCESS_LIMIT_REACHED, NULL, NULL,
                         "process_limit (%u) reached, client connections are waiting in the listen backlog",
                         s->process_limit);
}

/* A listening fd is readable and no worker has a free slot. */
static int on_watch(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        pool *p = userdata;
        dovesd_service *s = p->service;
        pool_counts c = pool_count(p);
        int r;

        if (p->stopping || p->throttled || c.avail > 0) {
                set_watching(p, false, false);
                return 0;
        }

        if (c.workers < p->n) {
                r = pool_spawn(p, NULL);
                if (r < 0)
                        set_watching(p, false, false);  /* retried from the next evaluation */
                pool_evaluate(p);
                return 0;
        }

        /* process_limit: nothing to fork. Do not spin on the readable fd; look again when a
         * worker changes state, or in a second. */
        limit_reached(p);
        if (strcmp(s->type, "login") == 0)
                set_login_full(p, true);
        p->full_wait = true;
        set_watching(p, false, false);
        if (!p->full_timer) {
                r = sd_event_add_time_relative(s->event, &p->full_timer, CLOCK_MONOTONIC,
                                               FULL_RECHECK_USEC, 0, on_full_recheck, p);
                if (r >= 0)
                        (void) sd_event_source_set_enabled(p->full_timer, SD_EVENT_ONESHOT);
                else
                        p->full_timer = NULL;
        } else {
                (void) sd_event_source_set_time_relative(p->full_timer, FULL_RECHECK_USEC);
                (void) sd_event_source_set_enabled(p->full_timer, SD_EVENT_ONESHOT);
        }
        return 0;
}

static int on_worker_idle(sd_event_source *src, uint64_t usec, void *userdata) {
        pool_worker *w = userdata;
        pool *p = w->pool;
        pool_counts c = pool_count(p);
        dovesd_worker_slot *slot = slot_of(p, w);

        w->idle_timer = sd_event_source_disable_unref(w->idle_timer);
        if (w->pid > 0 && !w->retiring && atomic_load(&slot->clients) == 0 &&
            c.avail > p->service->process_min_avail) {
                /* It exits only if it still has no client when the signal arrives. */
                w->sigint_sent = true;
                (void) kill(w->pid, SIGINT);
        }
        pool_evaluate(p);
        return 0;
}

static int on_supervisor_idle(sd_event_source *src, uint64_t usec, void *userdata) {
        pool *p = userdata;
        dovesd_service *s = p->service;

        if (pool_count(p).workers > 0 || p->stopping)
                return 0;
        service_log_full(s, LOG_INFO, DOVESD_MESSAGE_IDLE_EXIT, NULL, NULL,
                         "No workers and no clients for %u s (idle_kill), exiting", s->idle_kill);
        p->stopping = true;
        set_watching(p, false, false);
        return sd_event_exit(s->event, 0);
}

static void status_send(pool *p, const pool_counts *c) {
        dovesd_service *s = p->service;
        char buf[sizeof(p->last_status)];

        snprintf(buf, sizeof(buf),
                 "STATUS=%u workers, %u clients, %u free slots, %" PRIu64 " served",
                 c->workers, c->clients, c->free_slots, c->served);
        if (strcmp(buf, p->last_status) == 0)
                return;
        memcpy(p->last_status, buf, sizeof(buf));
        p->last_status_usec = now_usec(p);
        (void) service_notify(s, buf);
}

static int on_status_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        pool *p = userdata;
        pool_counts c = pool_count(p);

        status_send(p, &c);
        return 0;
}

/* STATUS= at most once a second, except when the number of workers changes. */
static void status_update(pool *p, const pool_counts *c, bool now) {
        dovesd_service *s = p->service;
        int enabled = SD_EVENT_OFF;

        if (now || p->last_status_usec == 0 ||
            now_usec(p) >= p->last_status_usec + STATUS_INTERVAL_USEC) {
                status_send(p, c);
                return;
        }
        if (!p->status_timer) {
                if (sd_event_add_time_relative(s->event, &p->status_timer, CLOCK_MONOTONIC,
                                               STATUS_INTERVAL_USEC, 0, on_status_timer, p) < 0) {
                        p->status_timer = NULL;
                        return;
                }
                (void) sd_event_source_set_enabled(p->status_timer, SD_EVENT_ONESHOT);
                return;
        }
        (void) sd_event_source_get_enabled(p->status_timer, &enabled);
        if (enabled == SD_EVENT_OFF) {
                (void) sd_event_source_set_time_relative(p->status_timer, STATUS_INTERVAL_USEC);
                (void) sd_event_source_set_enabled(p->status_timer, SD_EVENT_ONESHOT);
        }
}

/* One step of a reload: replace the next worker of an older generation. */
static void reload_step(pool *p, const pool_counts *c) {
        pool_worker *old = NULL;
        int r;

        if (p->reload_new) {
                if (!atomic_load(&slot_of(p, p->reload_new)->ready))
                        return;
                /* The replacement serves: the old one may stop accepting. */
                if (p->reload_old)
                        worker_retire(p, p->reload_old, SIGQUIT);
                p->reload_new = p->reload_old = NULL;
        }

        for (size_t i = 0; i < p->n; i++) {
                pool_worker *w = &p->workers[i];

                if (w->pid > 0 && !w->retiring && w->generation < p->generation) {
                        old = w;
                        break;
                }
        }
        if (!old)
                return;

        if (c->workers < p->n && !p->throttled) {
                r = pool_spawn(p, &p->reload_new);
                if (r >= 0) {
                        p->reload_old = old;
                        return;
                }
        }

        /* At process_limit: retire it only while no other one is draining, so the rest keep
         * serving; its exit makes room for the new generation. */
        for (size_t i = 0; i < p->n; i++)
                if (p->workers[i].pid > 0 && p->workers[i].retiring &&
                    p->workers[i].generation < p->generation)
                        return;
        worker_retire(p, old, SIGQUIT);
}

static void pool_evaluate(pool *p) {
        dovesd_service *s = p->service;
        pool_counts c;
        bool want;

        c = pool_count(p);

        if (p->stopping) {
                set_watching(p, false, false);
                if (c.workers == 0)
                        (void) sd_event_exit(s->event, 0);
                status_update(p, &c, false);
                return;
        }

        /* A worker that took a client after its idle SIGINT ignored the signal. */
        for (size_t i = 0; i < p->n; i++) {
                pool_worker *w = &p->workers[i];

                if (w->pid > 0 && w->sigint_sent && atomic_load(&slot_of(p, w)->clients) > 0)
                        w->sigint_sent = false;
        }
        c = pool_count(p);

        if (c.workers < p->n)
                p->full_wait = false;
        if (p->login_full && (c.avail > 0 || c.workers < p->n))
                set_login_full(p, false);

        if (p->generation > 0)
                reload_step(p, &c);
        c = pool_count(p);

        while (!p->throttled && c.avail < s->process_min_avail && c.workers < p->n) {
                if (pool_spawn(p, NULL) < 0)
                        break;
                c = pool_count(p);
        }

        want = !p->throttled && c.avail == 0 && !(p->full_wait && c.workers >= p->n);
        set_watching(p, want, c.workers == 0);

        /* Idle workers beyond process_min_avail get an idle_kill timer. */
        for (size_t i = 0; i < p->n; i++) {
                pool_worker *w = &p->workers[i];
                dovesd_worker_slot *slot = slot_of(p, w);
                bool idle = w->pid > 0 && !w->retiring && !w->sigint_sent &&
                        atomic_load(&slot->accepting) && atomic_load(&slot->ready) &&
                        atomic_load(&slot->clients) == 0;

                if (idle && s->idle_kill > 0 && c.avail > s->process_min_avail) {
                        if (!w->idle_timer &&
                            sd_event_add_time_relative(s->event, &w->idle_timer, CLOCK_MONOTONIC,
                                                       s->idle_kill * USEC_PER_SEC +
                                                       (uint64_t) (random() % 100) * 10 * USEC_PER_MSEC,
                                                       0, on_worker_idle, w) < 0)
                                w->idle_timer = NULL;
                } else if (!idle)
                        w->idle_timer = sd_event_source_disable_unref(w->idle_timer);
        }

        /* The supervisor itself: nothing alive for idle_kill and nothing to keep. */
        if (s->idle_kill > 0 && s->process_min_avail == 0 && c.workers == 0) {
                if (!p->idle_timer &&
                    sd_event_add_time_relative(s->event, &p->idle_timer, CLOCK_MONOTONIC,
                                               s->idle_kill * USEC_PER_SEC, 0,
                                               on_supervisor_idle, p) < 0)
                        p->idle_timer = NULL;
        } else
                p->idle_timer = sd_event_source_disable_unref(p->idle_timer);

        status_update(p, &c, c.workers != p->last_workers);
        p->last_workers = c.workers;
        if (!p->ready_sent && c.ready >= s->process_min_avail) {
                p->ready_sent = true;
                (void) service_notify(s, "READY=1");
        }
}

static int on_sigterm(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        return pool_stop(userdata);
}

static int on_stop_kill(sd_event_source *src, uint64_t usec, void *userdata) {
        pool *p = userdata;

        for (size_t i = 0; i < p->n; i++)
                if (p->workers[i].pid > 0) {
                        service_log_full(p->service, LOG_WARNING, DOVESD_MESSAGE_STOP_TIMEOUT,
                                         NULL, NULL, "Worker %d did not stop, killing it",
                                         (int) p->workers[i].pid);
                        (void) kill(p->workers[i].pid, SIGKILL);
                }
        return 0;
}

int pool_stop(dovesd_service *s) {
        pool *p = s->pool;
        int r;

        if (!p || !s->running)
                return -ESTALE;
        if (p->stopping)
                return 0;
        p->stopping = true;
        s->stopping = true;
        (void) service_notify(s, "STOPPING=1");
        set_watching(p, false, false);
        for (size_t i = 0; i < p->n; i++)
                worker_retire(p, &p->workers[i], SIGTERM);

        r = sd_event_add_time_relative(s->event, &p->stop_timer, CLOCK_MONOTONIC,
                                       s->stop_timeout_usec + STOP_KILL_EXTRA_USEC, 0,
                                       on_stop_kill, p);
        if (r < 0)
                p->stop_timer = NULL;
        pool_evaluate(p);
        return 0;
}

static int on_sighup(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        pool *p = userdata;
        dovesd_service *s = p->service;
        pool_counts c;
        int r;

        if (p->stopping)
                return 0;
        (void) service_notify(s, "RELOADING=1");
        if (s->cb.reload) {
                r = s->cb.reload(s, s->userdata);
                if (r < 0) {
                        /* The supervisor's state may be half reloaded: rather than replace
                         * every worker with it, keep the running ones (workers forked
                         * later, on demand, still inherit it). */
                        service_log(s, LOG_ERR, "Reload failed, keeping the workers: %s",
                                    strerror(-r));
                        (void) service_notify(s, "READY=1");
                        return 0;
                }
                service_log(s, LOG_INFO, "Reloaded, replacing the workers");
        }
        (void) service_notify(s, "READY=1");
        /* Workers are forked from this process: the new ones carry the new state. */
        p->generation++;
        p->last_status[0] = '\0';
        pool_evaluate(p);
        c = pool_count(p);
        status_send(p, &c);
        return 0;
}

static int on_ignored_signal(sd_event_source *src, const struct signalfd_siginfo *si,
                             void *userdata) {
        return 0;
}

pool *pool_free(pool *p) {
        if (!p)
                return NULL;
        if (p->workers)
                for (size_t i = 0; i < p->n; i++) {
                        sd_event_source_disable_unref(p->workers[i].child);
                        sd_event_source_disable_unref(p->workers[i].idle_timer);
                }
        if (p->watch)
                for (size_t i = 0; i < p->service->n_sockets; i++)
                        sd_event_source_disable_unref(p->watch[i]);
        sd_event_source_disable_unref(p->wake_source);
        sd_event_source_disable_unref(p->sigquit_source);
        sd_event_source_disable_unref(p->full_timer);
        sd_event_source_disable_unref(p->throttle_timer);
        sd_event_source_disable_unref(p->idle_timer);
        sd_event_source_disable_unref(p->stop_timer);
        sd_event_source_disable_unref(p->status_timer);
        free(p->watch);
        free(p->workers);
        if (p->shared)
                (void) munmap(p->shared, p->map_size);
        if (p->wake_fd >= 0)
                close(p->wake_fd);
        free(p);
        return NULL;
}

static int pool_new(dovesd_service *s, pool **ret) {
        pool *p;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->service = s;
        p->wake_fd = -EBADF;
        p->n = s->process_limit;

        p->workers = calloc(p->n, sizeof(pool_worker));
        p->watch = calloc(s->n_sockets ?: 1, sizeof(sd_event_source *));
        if (!p->workers || !p->watch) {
                pool_free(p);
                return -ENOMEM;
        }
        for (size_t i = 0; i < p->n; i++)
                p->workers[i] = (pool_worker) { .pool = p, .idx = i };

        p->map_size = sizeof(pool_shared) + p->n * sizeof(dovesd_worker_slot);
        p->shared = mmap(NULL, p->map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                         -1, 0);
        if (p->shared == MAP_FAILED) {
                int r = -errno;

                p->shared = NULL;
                pool_free(p);
                return r;
        }

        p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (p->wake_fd < 0) {
                int r = -errno;

                pool_free(p);
                return r;
        }

        *ret = p;
        return 0;
}

static int pool_setup(pool *p) {
        dovesd_service *s = p->service;
        sigset_t mask;
        int r;

        /* sd_event_add_child() and sd_event_add_signal() want their signals blocked. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGUSR1);
        sigaddset(&mask, SIGQUIT);
        if (sigprocmask(SIG_BLOCK, &mask, &p->saved_mask) < 0)
                return -errno;

        r = sd_event_add_signal(s->event, &s->sigterm, SIGTERM, on_sigterm, s);
        if (r < 0)
                return r;
        /* SIGINT ends the supervisor as SIGTERM does. */
        r = sd_event_add_signal(s->event, &s->sigint, SIGINT, on_sigterm, s);
        if (r < 0)
                return r;
        r = sd_event_add_signal(s->event, &s->sighup, SIGHUP, on_sighup, p);
        if (r < 0)
                return r;
        /* Meant for workers; a stray one must not kill the supervisor. */
        r = sd_event_add_signal(s->event, &s->sigusr1, SIGUSR1, on_ignored_signal, p);
        if (r < 0)
                return r;
        r = sd_event_add_signal(s->event, &p->sigquit_source, SIGQUIT, on_ignored_signal, p);
        if (r < 0)
                return r;
        r = sd_event_set_watchdog(s->event, true);
        if (r < 0)
                return r;

        r = sd_event_add_io(s->event, &p->wake_source, p->wake_fd, EPOLLIN, on_wake, p);
        if (r < 0)
                return r;

        for (size_t i = 0; i < s->n_sockets; i++) {
                r = sd_event_add_io(s->event, &p->watch[i], s->sockets[i].fd, EPOLLIN, on_watch, p);
                if (r < 0)
                        return r;
                r = sd_event_source_set_enabled(p->watch[i], SD_EVENT_OFF);
                if (r < 0)
                        return r;
        }
        return 0;
}

int pool_run(dovesd_service *s) {
        pool *p = NULL;
        int r;

        r = pool_new(s, &p);
        if (r < 0) {
                service_log(s, LOG_ERR, "Failed to set up the worker pool: %s", strerror(-r));
                return r;
        }
        s->pool = p;
        s->role = ROLE_SUPERVISOR;

        r = pool_setup(p);
        if (r < 0) {
                service_log(s, LOG_ERR, "Failed to set up the event loop: %s", strerror(-r));
                return r;
        }

        s->running = true;
        pool_evaluate(p);

        r = sd_event_loop(s->event);

        /* After an error: do not leave workers behind. */
        for (size_t i = 0; i < p->n; i++)
                if (p->workers[i].pid > 0)
                        (void) kill(p->workers[i].pid, SIGTERM);
        s->running = false;
        (void) service_notify(s, "STOPPING=1");
        return r;
}

/* ---- state for tests and status ------------------------------------------------------- */

int pool_get_stats(const dovesd_service *s, pool_stats *ret) {
        const pool *p;
        pool_stats st = {};

        if (!s || !ret)
                return -EINVAL;
        p = s->pool;
        if (!p || !p->shared)
                return -ENODATA;

        st.workers_max = atomic_load(&p->shared->workers_max);
        st.spawned = atomic_load(&p->shared->spawned);
        st.crashed = atomic_load(&p->shared->crashed);
        st.throttled = atomic_load(&p->shared->throttled);
        st.max_clients = atomic_load(&p->shared->max_clients);
        st.served = atomic_load(&p->shared->served);
        for (size_t i = 0; i < p->n; i++) {
                dovesd_worker_slot *slot = &p->shared->slots[i];
                unsigned mc = atomic_load(&slot->max_clients);

                if (atomic_load(&slot->pid) <= 0)
                        continue;
                st.workers++;
                st.clients += atomic_load(&slot->clients);
                if (atomic_load(&slot->accepting)) {
                        st.free_slots += atomic_load(&slot->free_slots);
                        if (atomic_load(&slot->free_slots) > 0)
                                st.avail++;
                }
                st.served += atomic_load(&slot->served);
                if (mc > st.max_clients)
                        st.max_clients = mc;
        }
        *ret = st;
        return 0;
}

size_t pool_get_pids(const dovesd_service *s, pid_t *pids, size_t n) {
        const pool *p = s ? s->pool : NULL;
        size_t k = 0;

        if (!p || !p->shared)
                return 0;
        for (size_t i = 0; i < p->n && k < n; i++) {
                pid_t pid = atomic_load(&p->shared->slots[i].pid);

                if (pid > 0)
                        pids[k++] = pid;
        }
        return k;
}
