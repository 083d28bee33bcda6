/* SPDX-License-Identifier: MIT */

/*
 * The SINGLE role (role.h): a process that systemd started on its own (process_limit = 1).
 * It tells systemd how it is: READY=1, STATUS= with its counts (at most once a second,
 * except when it fills up or frees up), RELOADING=1, STOPPING=1; the watchdog when
 * WATCHDOG_USEC is set.
 */

#include <inttypes.h>
#include <stdio.h>

#include "internal.h"
#include "single.h"

#define STATUS_INTERVAL_USEC (1 * USEC_PER_SEC)

static void status_send(dovesd_service *s, const loop_counts *c) {
        single_status *st = &s->status;
        char buf[256];

        st->dirty = false;
        st->sent = true;
        st->free_slots = c->free_slots;
        /* "1 client, 1 free slot" (singular), "0 clients", "2 free slots" */
        snprintf(buf, sizeof(buf), "STATUS=%u client%s, %u free slot%s, %" PRIu64 " served",
                 c->clients, c->clients == 1 ? "" : "s", c->free_slots,
                 c->free_slots == 1 ? "" : "s", c->served);
        (void) service_notify(buf);
}

static int on_status_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        dovesd_service *s = userdata;
        loop_counts c;

        if (s->status.dirty) {
                c = service_loop_counts(s);
                status_send(s, &c);
        }
        return 0;
}

static void single_publish(dovesd_service *s, const loop_counts *c) {
        single_status *st = &s->status;

        if (!s->event)
                return;

        /* STATUS= at most once a second, except when the process fills up or frees up. */
        if (!st->sent || (c->free_slots == 0) != (st->free_slots == 0)) {
                status_send(s, c);
                return;
        }
        st->dirty = true;
        if (!st->timer) {
                if (sd_event_add_time_relative(s->event, &st->timer, CLOCK_MONOTONIC,
                                               STATUS_INTERVAL_USEC, 0, on_status_timer, s) < 0)
                        return;
                (void) sd_event_source_set_enabled(st->timer, SD_EVENT_ONESHOT);
        } else {
                int enabled = SD_EVENT_OFF;

                (void) sd_event_source_get_enabled(st->timer, &enabled);
                if (enabled == SD_EVENT_OFF) {
                        (void) sd_event_source_set_time_relative(st->timer, STATUS_INTERVAL_USEC);
                        (void) sd_event_source_set_enabled(st->timer, SD_EVENT_ONESHOT);
                }
        }
}

/* A process on its own is every process of its service: at its client_limit, all are full. */
static bool single_all_full(const dovesd_service *s) {
        return true;
}

static int single_setup(dovesd_service *s) {
        return sd_event_set_watchdog(s->event, true);
}

static void single_ready(dovesd_service *s) {
        loop_counts c;

        (void) service_notify("READY=1");
        c = service_loop_counts(s);
        status_send(s, &c);
}

static void single_notify(dovesd_service *s, const char *state) {
        (void) service_notify(state);
}

static void single_done(dovesd_service *s) {
        s->status.timer = sd_event_source_disable_unref(s->status.timer);
}

const service_role role_single = {
        .routine_priority = LOG_INFO,
        .exits_on_idle = true,
        .warns_at_client_limit = true,
        .supervisor_ids = false,
        .setup = single_setup,
        .all_full = single_all_full,
        .publish = single_publish,
        .ready = single_ready,
        .notify = single_notify,
        .done = single_done,
};
