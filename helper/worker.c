/* SPDX-License-Identifier: MIT */

/*
 * The worker side of the supervisor contract. dovesd-supervisor starts every worker by fork +
 * exec of the service's program, with the listening fds at 3… (LISTEN_FDS, as systemd passes
 * them) and DOVESD_WORKER="SLOT_FD WAKE_FD":
 *
 *   SLOT_FD  a memfd holding this worker's dovesd_worker_slot, mapped here MAP_SHARED;
 *   WAKE_FD  an eventfd; a write wakes the supervisor to look at the slots again.
 *
 * The worker writes its counts into the slot whenever they change (plain atomic stores, no
 * system call) and writes the eventfd only when it crosses a line the supervisor decides on:
 * full, idle (when idle_kill can apply), accepting, ready; not when it is about to exit (the
 * supervisor sees the exit).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "internal.h"
#include "worker.h"

static int parse_fd(const char *p, char **end) {
        long v;

        errno = 0;
        v = strtol(p, end, 10);
        if (errno != 0 || *end == p || v < 3 || v > 65535)
                return -EINVAL;
        return (int) v;
}

int worker_link_attach(worker_link *w, char **ret_error) {
        const char *v = getenv(DOVESD_ENV_WORKER);
        dovesd_worker_slot *slot;
        struct stat st;
        char *end;
        int slot_fd, wake_fd;

        w->wake_fd = -EBADF;
        if (!v)
                return 0;

        slot_fd = parse_fd(v, &end);
        wake_fd = slot_fd >= 0 && *end == ' ' ? parse_fd(end + 1, &end) : -EINVAL;
        if (slot_fd < 0 || wake_fd < 0 || *end != '\0' ||
            fstat(slot_fd, &st) < 0 || (size_t) st.st_size < sizeof(dovesd_worker_slot)) {
                if (ret_error)
                        (void) asprintf(ret_error, "%s: not a worker contract: '%s'",
                                        DOVESD_ENV_WORKER, v);
                return -EINVAL;
        }

        slot = mmap(NULL, sizeof(*slot), PROT_READ | PROT_WRITE, MAP_SHARED, slot_fd, 0);
        if (slot == MAP_FAILED) {
                int r = -errno;

                if (ret_error)
                        (void) asprintf(ret_error, "%s: cannot map the worker slot: %s",
                                        DOVESD_ENV_WORKER, strerror(-r));
                return r;
        }
        (void) close(slot_fd);
        (void) fcntl(wake_fd, F_SETFD, FD_CLOEXEC);

        w->slot = slot;
        w->wake_fd = wake_fd;
        w->last_bits = ~0U;
        atomic_store(&slot->pid, getpid());
        /* The program's children must not think they are workers too. */
        (void) unsetenv(DOVESD_ENV_WORKER);
        return 1;
}

/* The counts into the slot; the eventfd only when a line the supervisor decides on is
 * crossed: full, idle, accepting, ready. */
static void worker_publish(dovesd_service *s, const loop_counts *c) {
        worker_link *w = &s->worker;
        dovesd_worker_slot *slot = w->slot;
        unsigned bits;

        if (!slot)
                return;

        /* This runs several times per connection: relaxed stores are plain moves, where the
         * default (sequentially consistent) ones are a locked exchange each (on x86). The
         * fence before the eventfd write below orders them for the supervisor it wakes; in
         * between it sees each value whole, if not the newest. */
        atomic_store_explicit(&slot->clients, c->clients, memory_order_relaxed);
        atomic_store_explicit(&slot->free_slots, c->free_slots, memory_order_relaxed);
        atomic_store_explicit(&slot->served, c->served, memory_order_relaxed);
        atomic_store_explicit(&slot->not_logged_in, c->not_logged_in, memory_order_relaxed);
        atomic_store_explicit(&slot->accepting, c->accepting, memory_order_relaxed);
        atomic_store_explicit(&slot->ready, c->running, memory_order_relaxed);
        if (c->clients > atomic_load_explicit(&slot->max_clients, memory_order_relaxed))
                atomic_store_explicit(&slot->max_clients, c->clients, memory_order_relaxed);

        /* Not accepting and no client left: the loop is ending and the worker exits. The
         * supervisor learns that from the exit itself; a wake-up now would cost it one more
         * round for nothing (a service_count = 1 worker would send three per client). */
        if (!c->accepting && c->clients == 0)
                return;

        bits = (c->free_slots == 0) | (c->clients == 0) << 1 | c->accepting << 2 |
                c->running << 3;
        /* Idle matters to the supervisor only for idle_kill, which never applies when
         * process_min_avail workers is all there can be: then a worker whose last client
         * leaves (often, under load) wakes nobody. */
        if (s->settings->idle_kill == 0 ||
            s->settings->process_min_avail >= s->settings->process_limit)
                bits &= ~2U;
        if (bits != w->last_bits) {
                uint64_t one = 1;

                w->last_bits = bits;
                atomic_thread_fence(memory_order_release);
                (void) !write(w->wake_fd, &one, sizeof(one));
        }
}

/* The supervisor sets the login "all processes full" state in the slot (then SIGUSR1). */
static bool worker_all_full(const dovesd_service *s) {
        return s->worker.slot && atomic_load(&s->worker.slot->overflow);
}

/* The watchdog and sd_notify are the supervisor's: the worker reports through its slot. */
static int worker_setup(dovesd_service *s) {
        return 0;
}

static void worker_ready(dovesd_service *s) {
}

static void worker_notify(dovesd_service *s, const char *state) {
}

static void worker_done(dovesd_service *s) {
        worker_link *w = &s->worker;

        if (w->slot)
                (void) munmap(w->slot, sizeof(*w->slot));
        w->slot = NULL;
        w->wake_fd = safe_close(w->wake_fd);
}

const service_role role_worker = {
        .routine_priority = LOG_DEBUG,          /* routine in every worker */
        .exits_on_idle = false,                 /* the supervisor sends SIGINT */
        .warns_at_client_limit = false,         /* a full worker is normal: the supervisor
                                                 * logs process_limit */
        .supervisor_ids = true,
        .setup = worker_setup,
        .all_full = worker_all_full,
        .publish = worker_publish,
        .ready = worker_ready,
        .notify = worker_notify,
        .done = worker_done,
};
