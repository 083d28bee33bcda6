/* SPDX-License-Identifier: MIT */

/*
 * dovesd-supervisor's libdovesd worker kind (DOVESD_WORKER_KIND unset or "libdovesd"): a
 * program built on libdovesd. Each worker has its slot in a memfd the supervisor maps
 * (slot.h) and wakes the supervisor through one eventfd shared by all workers; both follow
 * the listeners (DOVESD_WORKER="SLOT_FD WAKE_FD"). The workers' environment is the unit's,
 * with the listeners and the user and groups resolved once per generation. type=login at
 * process_limit sets "all processes full" in every slot (the policy then sends SIGUSR1).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <systemd/sd-daemon.h>

#include "ids.h"
#include "sv-internal.h"

/* The libdovesd kind's own. */
typedef struct libdovesd_state {
        char **envp;                    /* the workers' environment, but LISTEN_PID */
        char *listen_fds_env, *listen_fdnames_env;
        sd_event_source *wake_source;   /* sv->wake_fd: a worker changed its slot */
} libdovesd_state;

static void free_envp(libdovesd_state *ls) {
        if (ls->envp) {
                for (char **e = ls->envp; *e; e++)
                        if (startswith(*e, DOVESD_ENV_WORKER "=") ||
                            startswith(*e, DOVESD_ENV_WORKER_IDS "="))
                                free(*e);
                free(ls->envp);
        }
        ls->envp = NULL;
        free(ls->listen_fds_env);
        free(ls->listen_fdnames_env);
        ls->listen_fds_env = ls->listen_fdnames_env = NULL;
}

/* The workers' environment: ours (the unit's) without what belongs to the supervisor, plus
 * the listeners, and the user and groups resolved once for the generation (ids.h).
 * LISTEN_PID is added per worker. */
static int build_envp(supervisor *sv) {
        libdovesd_state *ls = sv->kind_state;
        const service_settings *s = sv->settings;
        const listen_fds *fds = &sv->fds;
        size_t n = 0, k = 0, len = 0;
        dovesd_ids ids;
        char **envp;

        for (char **e = environ; *e; e++)
                n++;
        /* Ours, LISTEN_FDS, LISTEN_FDNAMES, DOVESD_WORKER, DOVESD_WORKER_IDS and the
         * terminating NULL. */
        envp = calloc(n + 5, sizeof(char *));
        if (!envp)
                return -ENOMEM;
        free_envp(ls);
        for (char **e = environ; *e; e++)
                if (!startswith(*e, "NOTIFY_SOCKET=") && !startswith(*e, "WATCHDOG_") &&
                    !startswith(*e, "LISTEN_") && !startswith(*e, DOVESD_ENV_WORKER "=") &&
                    !startswith(*e, DOVESD_ENV_WORKER_IDS "="))
                        envp[k++] = *e;

        for (size_t i = 0; i < fds->n_fds; i++)
                len += strlen(s->listeners[fds->fds[i].listener].name) + 1;
        ls->listen_fdnames_env = malloc(strlen("LISTEN_FDNAMES=") + len + 1);
        if (asprintf(&ls->listen_fds_env, "LISTEN_FDS=%zu", fds->n_fds) < 0)
                ls->listen_fds_env = NULL;
        if (!ls->listen_fdnames_env || !ls->listen_fds_env) {
                free(envp);
                return -ENOMEM;
        }
        strcpy(ls->listen_fdnames_env, "LISTEN_FDNAMES=");
        for (size_t i = 0; i < fds->n_fds; i++) {
                if (i > 0)
                        strcat(ls->listen_fdnames_env, ":");
                strcat(ls->listen_fdnames_env, s->listeners[fds->fds[i].listener].name);
        }
        envp[k++] = ls->listen_fds_env;
        envp[k++] = ls->listen_fdnames_env;
        if (asprintf(&envp[k], "%s=%d %d", DOVESD_ENV_WORKER,
                     SD_LISTEN_FDS_START + (int) fds->n_fds,
                     SD_LISTEN_FDS_START + (int) fds->n_fds + 1) < 0) {
                free(envp);
                return -ENOMEM;
        }
        /* A name that does not resolve now: each worker looks it up, and says so. */
        if (service_resolve_ids(&(ids_source) { .settings = s, .log = sv->log }, &ids) >= 0 &&
            ids_to_env(&ids, &envp[k + 1]) < 0) {
                free(envp[k]);
                free(envp);
                return -ENOMEM;
        }
        /* envp[k] and envp[k + 1] are owned by the array: freed with it (free_envp()). */
        ls->envp = envp;
        return 0;
}

static int on_wake(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        supervisor *sv = userdata;
        uint64_t v;

        (void) !read(fd, &v, sizeof(v));
        sv->services->worker_changed(sv);
        return 0;
}

static int libdovesd_setup(supervisor *sv) {
        libdovesd_state *ls;
        int r;

        ls = calloc(1, sizeof(*ls));
        if (!ls)
                return -ENOMEM;
        sv->kind_state = ls;

        sv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (sv->wake_fd < 0)
                return -errno;
        r = sd_event_add_io(sv->event, &ls->wake_source, sv->wake_fd, EPOLLIN, on_wake, sv);
        if (r < 0)
                return r;
        return build_envp(sv);
}

static void libdovesd_done(supervisor *sv) {
        libdovesd_state *ls = sv->kind_state;

        if (ls) {
                sd_event_source_disable_unref(ls->wake_source);
                free_envp(ls);
                free(ls);
                sv->kind_state = NULL;
        }
        sv->wake_fd = safe_close(sv->wake_fd);
}

/* The slot is the worker's word: bound what it says by what the settings allow. */
static worker_state libdovesd_read(const worker *w) {
        unsigned cap = worker_capacity(w->sv->settings);

        return (worker_state) {
                .ready = atomic_load(&w->slot->ready),
                .accepting = atomic_load(&w->slot->accepting),
                .free_slots = MIN(atomic_load(&w->slot->free_slots), cap),
                .clients = atomic_load(&w->slot->clients),
                .served = atomic_load(&w->slot->served),
                .max_clients = atomic_load(&w->slot->max_clients),
        };
}

static void libdovesd_worker_done(worker *w) {
        if (w->slot)
                (void) munmap(w->slot, sizeof(*w->slot));
}

/* Its slot, filled as a worker that is starting; the environment with room for LISTEN_PID. */
static int libdovesd_prepare(supervisor *sv, worker *w, spawn_plan *p) {
        libdovesd_state *ls = sv->kind_state;
        size_t n_env = 0;
        int r;

        p->slot_fd = memfd_create("dovesd-worker-slot", MFD_CLOEXEC);
        if (p->slot_fd < 0 || ftruncate(p->slot_fd, sizeof(dovesd_worker_slot)) < 0) {
                r = -errno;
                sv->services->start_failed(sv, "create a worker slot", r);
                return r;
        }
        w->slot = mmap(NULL, sizeof(*w->slot), PROT_READ | PROT_WRITE, MAP_SHARED,
                       p->slot_fd, 0);
        if (w->slot == MAP_FAILED) {
                r = -errno;
                w->slot = NULL;
                sv->services->start_failed(sv, "map a worker slot", r);
                return r;
        }
        /* A starting worker counts as one with free slots. */
        atomic_store(&w->slot->free_slots, worker_capacity(sv->settings));
        atomic_store(&w->slot->accepting, true);
        atomic_store(&w->slot->overflow, sv->login_full);

        if (!ls->envp)
                return -ENOMEM;
        for (char **e = ls->envp; *e; e++)
                n_env++;
        p->envp = calloc(n_env + 3, sizeof(char *));
        if (!p->envp)
                return -ENOMEM;
        memcpy(p->envp, ls->envp, n_env * sizeof(char *));
        p->envp[n_env] = p->listen_pid;
        return 0;
}

static int libdovesd_exec(supervisor *sv, spawn_plan *p) {
        return sv->services->exec_program(sv, p->slot_fd, p->envp, p->listen_pid);
}

static int libdovesd_started(supervisor *sv, worker *w) {
        return 0;
}

static void libdovesd_set_login_full(supervisor *sv, bool full) {
        for (size_t i = 0; i < sv->n_workers; i++)
                if (sv->workers[i]->slot)
                        atomic_store(&sv->workers[i]->slot->overflow, full);
}

/* SIGQUIT (worker_retire()) is all a libdovesd worker needs to stop listening. */
static int libdovesd_retire_generation(supervisor *sv) {
        return 0;
}

const worker_kind kind_libdovesd = {
        .name = "libdovesd",
        .setup = libdovesd_setup,
        .done = libdovesd_done,
        .reconfigure = build_envp,
        .prepare = libdovesd_prepare,
        .exec = libdovesd_exec,
        .started = libdovesd_started,
        .read = libdovesd_read,
        .worker_done = libdovesd_worker_done,
        .set_login_full = libdovesd_set_login_full,
        .retire_generation = libdovesd_retire_generation,
        .sighup_at_reload = true,
};
