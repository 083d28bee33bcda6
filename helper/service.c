/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>

#include "internal.h"

static dovesd_service *service_free(dovesd_service *s) {
        conn_set_close_all(&s->conns, true);
        service_loop_done(s);
        s->role->done(s);
        listen_fds_done(&s->fds);
        sd_event_unref(s->event);

        service_settings_free((service_settings *) s->settings);
        free(s);
        return NULL;
}

static dovesd_service *service_alloc(void) {
        dovesd_service *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->n_ref = 1;
        s->fds = LISTEN_FDS_NULL;
        s->worker = WORKER_LINK_NULL;
        s->role = &role_single;
        s->stop_timeout_usec = DOVESD_STOP_TIMEOUT_USEC_DEFAULT;
        return s;
}

/* The settings, and the fds systemd passed for their listeners. */
static int service_take_settings(dovesd_service *s, char **ret_error) {
        service_settings *settings = NULL;
        int r;

        r = service_settings_from_env(&settings, ret_error);
        if (r < 0)
                return r;
        s->settings = settings;
        s->log.service = settings->name;
        return listen_fds_take(settings, &s->fds, ret_error);
}

_public_ int dovesd_service_new(dovesd_service **ret, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        dovesd_service *s;
        int r;

        if (!ret)
                return -EINVAL;

        s = service_alloc();
        if (!s)
                return -ENOMEM;

        r = service_take_settings(s, &error);
        if (r >= 0) {
                /* Exec'd by dovesd-supervisor, or on its own: the one place the role is
                 * decided. */
                r = worker_link_attach(&s->worker, &error);
                if (r > 0)
                        s->role = &role_worker;
        }
        if (r >= 0) {
                r = sd_event_new(&s->event);
                if (r < 0 && !error)
                        (void) asprintf(&error, "Failed to create the event loop: %s", strerror(-r));
        }
        if (r < 0) {
                if (!error && r == -ENOMEM)
                        error = strdup("Out of memory");
                if (ret_error)
                        *ret_error = TAKE_PTR(error);
                service_free(s);
                return r;
        }

        *ret = s;
        return 0;
}

_public_ dovesd_service *dovesd_service_ref(dovesd_service *s) {
        if (s)
                s->n_ref++;
        return s;
}

_public_ dovesd_service *dovesd_service_unref(dovesd_service *s) {
        if (!s)
                return NULL;
        if (--s->n_ref > 0)
                return NULL;
        return service_free(s);
}

/* The callbacks of libdovesd 0.1: connection … stop. */
#define DOVESD_CALLBACKS_SIZE_0_1 (offsetof(dovesd_callbacks, stop) + sizeof(void (*)(void)))

/* Reads SIZE bytes of the caller's struct, never more: a program built against an older,
 * shorter struct has the newer callbacks unset. */
_public_ int dovesd_service_run_sized(dovesd_service *s, const dovesd_callbacks *cb, size_t size,
                                      void *userdata) {
        int r;

        if (!s || !cb || size < offsetof(dovesd_callbacks, connection) + sizeof(cb->connection) ||
            !cb->connection)
                return -EINVAL;
        if (s->loop.running)
                return -EBUSY;

        memset(&s->cb, 0, sizeof(s->cb));
        memcpy(&s->cb, cb, MIN(size, sizeof(s->cb)));
        s->userdata = userdata;

        /* Started by dovesd-supervisor, or on its own: either way this process serves. With
         * process_limit > 1 and no supervisor it serves alone, within its client_limit. */
        r = service_loop_setup(s);
        if (r < 0) {
                service_log(s, LOG_ERR, "Failed to set up the event loop: %s", strerror(-r));
                return r;
        }
        return service_loop_run(s);
}

/* The DOVESD_0.1 entry point, for programs built before the size was passed. */
#undef dovesd_service_run
_public_ int dovesd_service_run(dovesd_service *s, const dovesd_callbacks *cb, void *userdata) {
        return dovesd_service_run_sized(s, cb, DOVESD_CALLBACKS_SIZE_0_1, userdata);
}

_public_ int dovesd_service_stop(dovesd_service *s) {
        if (!s)
                return -EINVAL;
        return service_begin_stop(s);
}

_public_ int dovesd_service_set_stop_timeout(dovesd_service *s, uint64_t usec) {
        if (!s)
                return -EINVAL;
        s->stop_timeout_usec = usec;
        return 0;
}

_public_ sd_event *dovesd_service_get_event(dovesd_service *s) {
        return s ? s->event : NULL;
}

_public_ const char *dovesd_service_get_name(const dovesd_service *s) {
        return s ? s->settings->name : NULL;
}

_public_ const char *dovesd_service_get_type(const dovesd_service *s) {
        return s ? s->settings->type : NULL;
}

_public_ unsigned dovesd_service_get_client_limit(const dovesd_service *s) {
        return s ? s->settings->client_limit : 0;
}

_public_ unsigned dovesd_service_get_service_count(const dovesd_service *s) {
        return s ? s->settings->service_count : 0;
}

_public_ unsigned dovesd_service_get_process_limit(const dovesd_service *s) {
        return s ? s->settings->process_limit : 0;
}

_public_ unsigned dovesd_service_get_process_min_avail(const dovesd_service *s) {
        return s ? s->settings->process_min_avail : 0;
}

_public_ unsigned dovesd_service_get_idle_kill(const dovesd_service *s) {
        return s ? s->settings->idle_kill : 0;
}

/* Kept for the 0.1 ABI: the per-connection (Accept=yes) mode is gone, so always false. */
_public_ bool dovesd_service_is_per_connection(const dovesd_service *s) {
        return false;
}

_public_ unsigned dovesd_service_get_clients(const dovesd_service *s) {
        return s ? conn_set_clients(&s->conns) : 0;
}

_public_ uint64_t dovesd_service_get_served(const dovesd_service *s) {
        return s ? s->conns.n_served : 0;
}

_public_ unsigned dovesd_service_get_free_slots(const dovesd_service *s) {
        return s ? service_free_slots(s) : 0;
}

_public_ size_t dovesd_service_get_n_listeners(const dovesd_service *s) {
        return s ? s->settings->n_listeners : 0;
}

_public_ const char *dovesd_service_get_listener_name(const dovesd_service *s, size_t i) {
        if (!s || i >= s->settings->n_listeners)
                return NULL;
        return s->settings->listeners[i].name;
}
