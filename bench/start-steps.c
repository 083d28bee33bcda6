/* SPDX-License-Identifier: MIT */
/*
 * start-steps: a libdovesd program that stops after one step of a worker's start-up, so that
 * bench/spawn-floor can price each step (bench/worker-start.sh -s runs them side by side):
 *
 *     start-steps exit       exit at once (ld.so, libdovesd, libsystemd, libc: the floor)
 *     start-steps new        dovesd_service_new() (the DOVESD_* parse, the fds, sd_event_new())
 *     start-steps restrict   … and dovesd_service_restrict() (NSS, capabilities, setresuid)
 *     start-steps run        … and dovesd_service_run() until the loop runs, then stop
 *                            (signals, listeners, the event loop's set-up and tear-down)
 *     start-steps time       every step, and prints the CPU time of each in ns (the thread's
 *                            clock: fork, exec and exit left out, so other load on the machine
 *                            disturbs it less): "new=… restrict=… run=…"
 *     start-steps time worker  the same as a worker of dovesd-supervisor: it makes itself a
 *                            slot and a wake-up eventfd and sets DOVESD_WORKER (so a
 *                            DOVESD_WORKER_IDS in the environment counts, as in a worker)
 *
 * It reads the DOVESD_* environment as the demo does; without LISTEN_FDS it has no listeners.
 * Exit status 0 when every step it was asked for worked.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-event.h>

#include "dovesd.h"

static int on_connection(dovesd_conn *conn, void *userdata) {
        dovesd_conn_close(conn);
        return 0;
}

static int on_loop_running(sd_event_source *es, void *userdata) {
        return dovesd_service_stop(userdata);
}

static uint64_t cpu_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

int main(int argc, char *argv[]) {
        static const dovesd_callbacks cb = { .connection = on_connection };
        const char *step = argc > 1 ? argv[1] : "";
        bool timed = strcmp(step, "time") == 0;
        dovesd_service *s = NULL;
        uint64_t t[4];
        int r;

        if (strcmp(step, "exit") == 0)
                return 0;
        if (timed)
                step = "run";
        if (!strstr("new restrict run", step) || !step[0]) {
                fprintf(stderr, "usage: start-steps exit|new|restrict|run|time\n");
                return 2;
        }

        if (timed && argc > 2 && strcmp(argv[2], "worker") == 0) {
                int slot = memfd_create("start-steps-slot", MFD_CLOEXEC), wake = eventfd(0, EFD_CLOEXEC);
                char v[32];

                if (slot < 0 || wake < 0 || ftruncate(slot, 4096) < 0)
                        return 1;
                snprintf(v, sizeof(v), "%d %d", slot, wake);
                setenv("DOVESD_WORKER", v, 1);
        }

        t[0] = cpu_ns();
        r = dovesd_service_new(&s, NULL);
        if (r < 0)
                return 1;
        t[1] = t[2] = t[3] = cpu_ns();
        if (strcmp(step, "new") != 0) {
                r = dovesd_service_restrict(s);
                t[2] = t[3] = cpu_ns();
                if (r >= 0 && strcmp(step, "run") == 0) {
                        r = sd_event_add_defer(dovesd_service_get_event(s), NULL, on_loop_running, s);
                        if (r >= 0)
                                r = dovesd_service_run(s, &cb, NULL);
                }
        }
        dovesd_service_unref(s);
        t[3] = cpu_ns();
        if (timed)
                printf("new=%llu restrict=%llu run=%llu\n", (unsigned long long) (t[1] - t[0]),
                       (unsigned long long) (t[2] - t[1]), (unsigned long long) (t[3] - t[2]));
        return r < 0 ? 1 : 0;
}
