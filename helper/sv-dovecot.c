/* SPDX-License-Identifier: MIT */

/*
 * dovesd-supervisor's Dovecot worker kind (DOVESD_WORKER_KIND=dovecot): one of Dovecot 2.3's
 * own programs, started with the fd, environment and status-pipe contract of Dovecot's
 * master (dovecot.[ch]); the supervisor is their master. It holds what Dovecot's master holds
 * for a service: the status pipe (a worker is ready after its first record, and killed if it
 * sends none within 30 s), a master-dead pipe per generation (a reload closes the old one's
 * read end: the old workers stop listening), anvil's shared FIFO, the type=login "all
 * processes full" file, and for anvil itself its own pipe and fd 4.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dovecot.h"
#include "sv-internal.h"

/* The Dovecot kind: what Dovecot's master holds for a service. */
typedef struct dovecot_master {
        char *version;                  /* DOVECOT_VERSION the programs expect */
        const char *base_dir, *config_file;
        int status_read, status_write;  /* the status pipe: workers write 12-byte records */
        int dead_read, dead_write;      /* master-dead: its read end stays open while we run */
        int anvil_fd;                   /* write end of anvil's shared FIFO, or -1 */
        int login_notify_fd;            /* type=login: the "all processes full" file */
        int anvil_shared_fd;            /* type=anvil: the FIFO systemd passed (fd 8) */
        int anvil_master_read, anvil_master_write;      /* type=anvil: its fd 7 */
        int anvil_log_pair[2];          /* type=anvil: fd 4 (a log fd pass; never used) */
        unsigned anvil_starts;
        dovecot_status_reader reader;
        sd_event_source *status_source;
        dovecot_listener *listeners;
        size_t n_listeners;
} dovecot_master;

static void dovecot_master_done(dovecot_master *dc) {
        int *fds[] = { &dc->status_read, &dc->status_write, &dc->dead_read, &dc->dead_write,
                       &dc->anvil_fd, &dc->login_notify_fd, &dc->anvil_master_read,
                       &dc->anvil_master_write, &dc->anvil_log_pair[0], &dc->anvil_log_pair[1] };

        sd_event_source_disable_unref(dc->status_source);
        dc->status_source = NULL;
        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                *fds[i] = safe_close(*fds[i]);
        free(dc->version);
        dc->version = NULL;
        free(dc->listeners);
        dc->listeners = NULL;
}

/* The listeners in config order (DOVESD_LISTENERS), each fd of a listener; names from the
 * running settings (again after a reload: the listeners are the same). */
static void dovecot_listeners_fill(supervisor *sv) {
        const service_settings *s = sv->settings;
        dovecot_master *dc = sv->kind_state;

        dc->n_listeners = 0;
        for (size_t l = 0; l < s->n_listeners; l++)
                for (size_t i = 0; i < sv->fds.n_fds; i++)
                        if (sv->fds.fds[i].listener == l)
                                dc->listeners[dc->n_listeners++] = (dovecot_listener) {
                                        .fd = sv->fds.fds[i].fd,
                                        .name = s->listeners[l].name,
                                        .ssl = s->listeners[l].ssl,
                                        .haproxy = s->listeners[l].haproxy,
                                };
}

/* A master-dead pipe per generation: at a reload the old one's read end is closed, and a
 * Dovecot program whose fd 6 reports an error takes it as "the master wants us to die": it
 * stops listening at once and exits after its last client (master_status_error()). SIGQUIT
 * alone closes only listeners that are not being watched, i.e. hardly ever. */
static int dovecot_dead_pipe_new(supervisor *sv) {
        dovecot_master *dc = sv->kind_state;
        int p[2];

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        safe_close(dc->dead_read);
        safe_close(dc->dead_write);
        dc->dead_read = p[0];
        dc->dead_write = p[1];
        return 0;
}

static int on_first_status_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        worker *w = userdata;

        w->first_status_timer = sd_event_source_disable_unref(w->first_status_timer);
        if (w->status_seen)
                return 0;
        sv_log_full(w->sv, LOG_ERR, DOVESD_MESSAGE_WORKER_CRASHED, NULL, NULL,
                    "Worker %d sent no status within %d s, killing it", (int) w->pid,
                    DOVECOT_FIRST_STATUS_TIMEOUT_SEC);
        (void) kill(w->pid, SIGKILL);
        return 0;
}

/* One record from the status pipe of Dovecot's programs. Any process of the service may write
 * it: a record counts only for a live worker of ours with the generation it was started in. */
static int on_dovecot_record(const dovecot_status *st, void *userdata) {
        supervisor *sv = userdata;

        for (size_t i = 0; i < sv->n_workers; i++) {
                worker *w = sv->workers[i];

                if (w->pid != st->pid || st->generation != w->generation + 1)
                        continue;
                w->status_seen = true;
                w->available = st->available_count;
                w->first_status_timer = sd_event_source_disable_unref(w->first_status_timer);
                break;
        }
        return 0;
}

static int on_dovecot_status(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        supervisor *sv = userdata;
        dovecot_master *dc = sv->kind_state;
        int r;

        r = dovecot_status_read(&dc->reader, fd, on_dovecot_record, sv);
        if (r < 0 && r != -EAGAIN)
                sv_log(sv, LOG_ERR, "Failed to read the status pipe: %s", strerror(-r));
        sv->services->worker_changed(sv);
        return 0;
}

/* What Dovecot's master holds for a service: the status and master-dead pipes, the anvil
 * FIFO, the login notify file; for anvil its own pipe and fd 4. */
static int dovecot_master_setup(supervisor *sv) {
        const service_settings *s = sv->settings;
        dovecot_master *dc;
        const char *fifo = getenv(DOVESD_ENV_ANVIL_FIFO);
        int p[2], r;

        dc = malloc(sizeof(*dc));
        if (!dc)
                return -ENOMEM;
        *dc = (dovecot_master) {
                .status_read = -EBADF, .status_write = -EBADF, .dead_read = -EBADF,
                .dead_write = -EBADF, .anvil_fd = -EBADF, .login_notify_fd = -EBADF,
                .anvil_shared_fd = -EBADF, .anvil_master_read = -EBADF,
                .anvil_master_write = -EBADF, .anvil_log_pair = { -EBADF, -EBADF },
        };
        sv->kind_state = dc;

        dc->base_dir = getenv(DOVESD_ENV_BASE_DIR);
        dc->config_file = getenv(DOVESD_ENV_CONFIG_FILE);
        if (!dc->base_dir || dc->base_dir[0] != '/') {
                sv_log(sv, LOG_ERR, "DOVESD_BASE_DIR: not an absolute path");
                return -EINVAL;
        }
        r = dovecot_version_detect(sv->argv[0], &dc->version);
        if (r < 0)
                sv_log(sv, LOG_WARNING, "Cannot tell the Dovecot version of %s (%s), "
                       "starting it without DOVECOT_VERSION", sv->argv[0], strerror(-r));

        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        dc->status_read = p[0];
        dc->status_write = p[1];
        r = sd_event_add_io(sv->event, &dc->status_source, dc->status_read, EPOLLIN,
                            on_dovecot_status, sv);
        if (r < 0)
                return r;
        r = dovecot_dead_pipe_new(sv);
        if (r < 0)
                return r;

        if (fifo && fifo[0] && !streq(s->type, "anvil") && !streq(s->type, "config")) {
                dc->anvil_fd = open(fifo, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
                if (dc->anvil_fd < 0)
                        sv_log(sv, LOG_WARNING, "Cannot open anvil's pipe %s (%m): "
                               "mail_max_userip_connections is not enforced", fifo);
                else {
                        /* Dovecot's programs write to it blocking, as to the master's pipe. */
                        int fl = fcntl(dc->anvil_fd, F_GETFL);

                        if (fl >= 0)
                                (void) fcntl(dc->anvil_fd, F_SETFL, fl & ~O_NONBLOCK);
                }
        }
        if (streq(s->type, "login")) {
                dc->login_notify_fd = dovecot_login_notify_new();
                if (dc->login_notify_fd < 0)
                        return dc->login_notify_fd;
        }
        if (streq(s->type, "anvil")) {
                if (sv->fds.anvil_shared_fd < 0) {
                        sv_log(sv, LOG_ERR, "anvil: no fd named %s (its shared pipe)",
                               DOVESD_ANVIL_SHARED_FDNAME);
                        return -EINVAL;
                }
                dc->anvil_shared_fd = sv->fds.anvil_shared_fd;
                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                dc->anvil_master_read = p[0];
                dc->anvil_master_write = p[1];
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dc->anvil_log_pair) < 0)
                        return -errno;
        }

        dc->listeners = calloc(sv->fds.n_fds ?: 1, sizeof(dovecot_listener));
        if (!dc->listeners)
                return -ENOMEM;
        dovecot_listeners_fill(sv);
        return 0;
}

static void dovecot_done(supervisor *sv) {
        dovecot_master *dc = sv->kind_state;

        if (!dc)
                return;
        dovecot_master_done(dc);
        free(dc);
        sv->kind_state = NULL;
}

static void dovecot_worker_done(worker *w) {
        sd_event_source_disable_unref(w->first_status_timer);
}

/* Dovecot's contract for one worker of the current generation, ready to exec. */
static int dovecot_prepare(supervisor *sv, dovecot_exec **ret) {
        const service_settings *s = sv->settings;
        dovecot_master *dc = sv->kind_state;
        bool anvil = streq(s->type, "anvil");
        dovecot_child c = {
                .service = sv->name,
                .type = s->type,
                .client_limit = s->client_limit,
                .process_limit = s->process_limit,
                .process_min_avail = s->process_min_avail,
                .idle_kill = s->idle_kill,
                .service_count = s->service_count,
                .generation = sv->generation + 1,
                .user = s->user,
                .group = s->group,
                .extra_groups = s->extra_groups,
                .privileged_group = s->privileged_group,
                .chroot = s->chroot,
                .base_dir = dc->base_dir,
                .config_file = dc->config_file,
                .dovecot_version = dc->version,
                .anvil_restarted = anvil && dc->anvil_starts > 0,
                .listeners = dc->listeners,
                .n_listeners = dc->n_listeners,
                .stdout_fd = -1,
                .stderr_fd = -1,
                .anvil_fd = dc->anvil_fd,
                .login_notify_fd = anvil ? dc->anvil_log_pair[0] : dc->login_notify_fd,
                .status_fd = dc->status_write,
                .master_dead_fd = dc->dead_write,
                .anvil_master_fd = anvil ? dc->anvil_master_read : -1,
                .anvil_shared_fd = anvil ? dc->anvil_shared_fd : -1,
                .argv = sv->argv,
        };

        return dovecot_child_prepare(&c, ret);
}

static worker_state dovecot_read(const worker *w) {
        unsigned cap = worker_capacity(w->sv->settings);
        /* A starting worker counts as one with every slot free. */
        unsigned avail = w->status_seen ? MIN(w->available, cap) : cap;

        return (worker_state) {
                .ready = w->status_seen,
                .accepting = true,
                .free_slots = avail,
                .clients = cap - avail,
                .max_clients = cap - avail,
        };
}

static int dovecot_reconfigure(supervisor *sv) {
        dovecot_listeners_fill(sv);
        return 0;
}

static int dovecot_kind_prepare(supervisor *sv, worker *w, spawn_plan *p) {
        int r;

        r = dovecot_prepare(sv, &p->dexec);
        if (r < 0)
                sv->services->start_failed(sv, "prepare a Dovecot worker", r);
        return r;
}

static int dovecot_kind_exec(supervisor *sv, spawn_plan *p) {
        return dovecot_child_exec(p->dexec);
}

/* A worker that sends no status record in time is killed, as Dovecot's master does. */
static int dovecot_started(supervisor *sv, worker *w) {
        dovecot_master *dc = sv->kind_state;
        int r;

        r = sd_event_add_time_relative(sv->event, &w->first_status_timer, CLOCK_MONOTONIC,
                                       DOVECOT_FIRST_STATUS_TIMEOUT_SEC * USEC_PER_SEC, 0,
                                       on_first_status_timeout, w);
        if (r < 0)
                return r;
        if (streq(sv->settings->type, "anvil")) {
                /* As Dovecot's master, at every start of anvil: the handshake into both of
                 * its pipes (it skips what an earlier anvil left unread up to it). */
                (void) !write(dc->anvil_master_write, DOVECOT_ANVIL_HANDSHAKE,
                              strlen(DOVECOT_ANVIL_HANDSHAKE));
                (void) !write(dc->anvil_shared_fd, DOVECOT_ANVIL_HANDSHAKE,
                              strlen(DOVECOT_ANVIL_HANDSHAKE));
                dc->anvil_starts++;
        }
        return 0;
}

static void dovecot_set_login_full(supervisor *sv, bool full) {
        dovecot_master *dc = sv->kind_state;

        if (dc->login_notify_fd >= 0)
                (void) dovecot_login_notify_set(dc->login_notify_fd, full);
}

const worker_kind kind_dovecot = {
        .name = DOVESD_WORKER_KIND_DOVECOT,
        .setup = dovecot_master_setup,
        .done = dovecot_done,
        .reconfigure = dovecot_reconfigure,
        .prepare = dovecot_kind_prepare,
        .exec = dovecot_kind_exec,
        .started = dovecot_started,
        .read = dovecot_read,
        .worker_done = dovecot_worker_done,
        .set_login_full = dovecot_set_login_full,
        /* Dovecot's programs stop listening when their master-dead pipe fails. */
        .retire_generation = dovecot_dead_pipe_new,
        /* Dovecot's programs die of SIGHUP (all but auth): they only stop listening. */
        .sighup_at_reload = false,
};
