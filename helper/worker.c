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
 * full, idle, accepting, ready.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "internal.h"

static int parse_fd(const char *p, char **end) {
        long v;

        errno = 0;
        v = strtol(p, end, 10);
        if (errno != 0 || *end == p || v < 3 || v > 65535)
                return -EINVAL;
        return (int) v;
}

int service_worker_attach(dovesd_service *s, char **ret_error) {
        const char *v = getenv(DOVESD_ENV_WORKER);
        dovesd_worker_slot *slot;
        struct stat st;
        char *end;
        int slot_fd, wake_fd;

        s->wake_fd = -EBADF;
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

        s->slot = slot;
        s->wake_fd = wake_fd;
        s->role = ROLE_WORKER;
        s->last_bits = ~0U;
        atomic_store(&slot->pid, getpid());
        /* The program's children must not think they are workers too. */
        (void) unsetenv(DOVESD_ENV_WORKER);
        return 0;
}

void service_worker_publish(dovesd_service *s, unsigned free_slots) {
        dovesd_worker_slot *slot = s->slot;
        unsigned clients = conn_set_clients(&s->conns), bits;

        if (!slot)
                return;

        atomic_store(&slot->clients, clients);
        atomic_store(&slot->free_slots, free_slots);
        atomic_store(&slot->served, s->conns.n_served);
        atomic_store(&slot->not_logged_in, s->conns.n_not_logged_in);
        atomic_store(&slot->accepting, !s->loop.stopping && !s->loop.exhausted);
        atomic_store(&slot->ready, s->loop.running);
        if (clients > atomic_load(&slot->max_clients))
                atomic_store(&slot->max_clients, clients);

        bits = (free_slots == 0) | (clients == 0) << 1 | atomic_load(&slot->accepting) << 2 |
                s->loop.running << 3;
        if (bits != s->last_bits) {
                uint64_t one = 1;

                s->last_bits = bits;
                (void) !write(s->wake_fd, &one, sizeof(one));
        }
}

void service_worker_detach(dovesd_service *s) {
        if (s->slot)
                (void) munmap(s->slot, sizeof(*s->slot));
        s->slot = NULL;
        if (s->wake_fd >= 0)
                (void) close(s->wake_fd);
        s->wake_fd = -EBADF;
}
