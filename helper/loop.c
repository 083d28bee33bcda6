/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>

#include "internal.h"

#define LIMIT_LOG_INTERVAL_USEC (1 * USEC_PER_SEC)
#define ACCEPT_PAUSE_USEC (100 * USEC_PER_MSEC)

static uint64_t now_usec(dovesd_service *s) {
        uint64_t t = 0;

        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &t);
        return t;
}

loop_counts service_loop_counts(const dovesd_service *s) {
        return (loop_counts) {
                .clients = conn_set_clients(&s->conns),
                .free_slots = service_free_slots(s),
                .not_logged_in = s->conns.n_not_logged_in,
                .served = s->conns.n_served,
                .accepting = !s->loop.stopping && !s->loop.exhausted,
                .running = s->loop.running,
        };
}

unsigned service_free_slots(const dovesd_service *s) {
        const service_settings *set = s->settings;
        unsigned used = conn_set_clients(&s->conns);
        unsigned avail = used >= set->client_limit ? 0 : set->client_limit - used;

        if (set->service_count > 0) {
                uint64_t committed = s->conns.n_served + s->conns.n_pending;
                unsigned left = committed >= set->service_count ? 0 :
                                (unsigned) (set->service_count - committed);
                avail = MIN(avail, left);
        }
        return avail;
}

static bool service_is_login(const dovesd_service *s) {
        return s->settings->login;
}

/* A single login process at its client_limit is "every process full" (process_limit = 1);
 * a worker learns it from the supervisor through its slot. Such a process keeps listening,
 * and a waiting client pushes out the oldest one not logged in. Only client_limit can be
 * overflowed, never service_count. */
static bool can_overflow(const dovesd_service *s) {
        const conn_set *cs = &s->conns;
        unsigned service_count = s->settings->service_count;

        return service_is_login(s) && s->role->all_full(s) &&
                !s->loop.exhausted && !s->loop.stopping &&
                (service_count == 0 || cs->n_served + cs->n_pending < service_count) &&
                cs->n_overflow_pending < cs->n_not_logged_in && conn_set_oldest_unlogged(cs);
}

/* The role tells whoever watches: systemd (STATUS=) or the supervisor (the slot). */
static void service_publish(dovesd_service *s) {
        loop_counts c = service_loop_counts(s);

        s->role->publish(s, &c);
}

static bool idle_kill_applies(const dovesd_service *s) {
        return s->role->exits_on_idle && s->settings->idle_kill > 0 &&
                s->settings->process_min_avail == 0;
}

static void limit_reached(dovesd_service *s) {
        service_loop *l = &s->loop;
        uint64_t t = now_usec(s);

        if (l->last_limit_log_usec != 0 && t < l->last_limit_log_usec + LIMIT_LOG_INTERVAL_USEC)
                return;
        l->last_limit_log_usec = t;
        service_log_full(s, LOG_WARNING, DOVESD_MESSAGE_LIMIT_REACHED, NULL, NULL,
                         "client_limit (%u) reached, new clients wait in the listen backlog",
                         s->settings->client_limit);
}

void service_update_accepting(dovesd_service *s) {
        service_loop *l = &s->loop;
        unsigned free_slots;
        bool want;

        if (!l->running)
                return;

        if (s->settings->service_count > 0 && s->conns.n_served >= s->settings->service_count)
                l->exhausted = true;

        free_slots = service_free_slots(s);
        want = !l->stopping && !l->exhausted && !l->accept_paused &&
                (free_slots > 0 || can_overflow(s));
        if (want != l->listening) {
                for (size_t i = 0; i < l->n_sockets; i++)
                        if (l->sockets[i].kind != SOCKET_FIFO && l->sockets[i].source)
                                (void) sd_event_source_set_enabled(l->sockets[i].source,
                                                                   want ? SD_EVENT_ON : SD_EVENT_OFF);
                l->listening = want;
                /* A full worker is normal: the supervisor logs process_limit. */
                if (!want && !l->stopping && !l->exhausted && !l->accept_paused &&
                    s->settings->service_count != 1 && s->role->warns_at_client_limit)
                        limit_reached(s);
        }

        if (l->idle_timer) {
                if (conn_set_clients(&s->conns) == 0 && !l->stopping && !l->exhausted) {
                        int enabled = SD_EVENT_OFF;

                        (void) sd_event_source_get_enabled(l->idle_timer, &enabled);
                        if (enabled == SD_EVENT_OFF) {
                                (void) sd_event_source_set_time_relative(l->idle_timer,
                                                                         s->settings->idle_kill * USEC_PER_SEC);
                                (void) sd_event_source_set_enabled(l->idle_timer, SD_EVENT_ONESHOT);
                        }
                } else
                        (void) sd_event_source_set_enabled(l->idle_timer, SD_EVENT_OFF);
        }

        if ((l->exhausted || l->stopping) && conn_set_clients(&s->conns) == 0) {
                /* A worker that served its service_count is routine: the supervisor starts a
                 * fresh one. Only a process on its own says so at info level. */
                if (l->exhausted && !l->stopping)
                        service_log_full(s, s->role->routine_priority,
                                         DOVESD_MESSAGE_SERVICE_COUNT_EXIT, NULL, NULL,
                                         "service_count (%u) reached and every client finished, exiting",
                                         s->settings->service_count);
                l->stopping = true;
                (void) sd_event_exit(s->event, 0);
        }

        service_publish(s);
}

static int on_fifo(dovesd_service *s, loop_socket *sock) {
        int r;

        if (s->cb.fifo_readable) {
                r = s->cb.fifo_readable(s, sock->listener->name, sock->fd, s->userdata);
                if (r < 0) {
                        service_log_full(s, LOG_ERR, NULL, sock->listener->name, NULL,
                                         "FIFO callback failed: %s", strerror(-r));
                        return sd_event_exit(s->event, r);
                }
                return 0;
        }

        /* Nobody wants the data: read and discard it, or the loop spins. */
        char buf[4096];
        while (read(sock->fd, buf, sizeof(buf)) > 0)
                ;
        return 0;
}

static int on_accept_pause_end(sd_event_source *src, uint64_t usec, void *userdata) {
        dovesd_service *s = userdata;

        s->loop.accept_paused = false;
        service_update_accepting(s);
        return 0;
}

/* accept4() failed for lack of fds or memory. The listener stays readable, so accepting
 * again at once would spin: stop for ACCEPT_PAUSE_USEC (clients wait in the backlog), log at
 * most once per LIMIT_LOG_INTERVAL_USEC. */
static void pause_accepting(dovesd_service *s, int error) {
        service_loop *l = &s->loop;
        uint64_t t = now_usec(s);
        int r;

        r = sd_event_add_time_relative(s->event, NULL, CLOCK_MONOTONIC, ACCEPT_PAUSE_USEC, 0,
                                       on_accept_pause_end, s);
        if (r >= 0)
                l->accept_paused = true;
        if (l->last_accept_error_log_usec == 0 ||
            t >= l->last_accept_error_log_usec + LIMIT_LOG_INTERVAL_USEC) {
                l->last_accept_error_log_usec = t;
                service_log(s, LOG_WARNING, "accept4() failed: %s, pausing new connections "
                            "for %llu ms", strerror(error),
                            (unsigned long long) (ACCEPT_PAUSE_USEC / USEC_PER_MSEC));
        }
}

static int on_listener(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        loop_socket *sock = userdata;
        dovesd_service *s = sock->service;

        if (sock->kind == SOCKET_FIFO)
                return on_fifo(s, sock);

        for (unsigned i = 0; i < DOVESD_ACCEPT_BURST && s->loop.listening; i++) {
                struct sockaddr_storage ss;
                socklen_t len = sizeof(ss);
                bool overflow = false;
                dovesd_conn *c;
                int cfd, r;

                if (service_free_slots(s) == 0) {
                        if (!can_overflow(s))
                                break;
                        overflow = true;
                }

                cfd = accept4(fd, (struct sockaddr *) &ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        if (IN_SET_ERRNO_TRANSIENT(errno))
                                continue;
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                            errno == ENOMEM) {
                                pause_accepting(s, errno);
                                break;
                        }
                        service_log_full(s, LOG_WARNING, NULL, sock->listener->name, NULL,
                                         "accept4() failed: %m");
                        break;
                }
                s->loop.n_accepted++;

                r = conn_new(&s->conns, sock->listener, cfd, (struct sockaddr *) &ss, len, &c);
                if (r < 0) {
                        close(cfd);
                        service_log_full(s, LOG_ERR, NULL, sock->listener->name, NULL,
                                         "Failed to set up a connection: %s", strerror(-r));
                        continue;
                }
                /* Only a client that really arrived pushes one out: several pool workers may
                 * race for it, and the losers get EAGAIN above without dropping anyone. A
                 * PROXY peer does so only when trusted and once its header is valid. */
                if (overflow)
                        conn_overflow(c);
                if (sock->listener->haproxy)
                        (void) conn_proxy_start(c);
                else
                        (void) conn_activate(c);
        }

        service_update_accepting(s);
        return 0;
}

static int on_idle(sd_event_source *src, uint64_t usec, void *userdata) {
        dovesd_service *s = userdata;

        if (conn_set_clients(&s->conns) > 0)
                return 0;
        service_log_full(s, LOG_INFO, DOVESD_MESSAGE_IDLE_EXIT, NULL, NULL,
                         "No clients for %u s (idle_kill), exiting", s->settings->idle_kill);
        s->loop.stopping = true;
        service_update_accepting(s);
        return sd_event_exit(s->event, 0);
}

static int on_stop_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        dovesd_service *s = userdata;

        service_log_full(s, LOG_WARNING, DOVESD_MESSAGE_STOP_TIMEOUT, NULL, NULL,
                         "%u %s still connected after the stop timeout, closing %s",
                         conn_set_clients(&s->conns),
                         conn_set_clients(&s->conns) == 1 ? "client" : "clients",
                         conn_set_clients(&s->conns) == 1 ? "it" : "them");
        conn_set_close_all(&s->conns, true);
        service_update_accepting(s);
        return 0;
}

int service_begin_stop(dovesd_service *s) {
        service_loop *l = &s->loop;
        int r;

        if (!l->running)
                return -ESTALE;
        if (l->stopping)
                return 0;
        l->stopping = true;
        s->role->notify(s, "STOPPING=1");

        /* Clients whose PROXY header is still outstanding never reached the program. */
        conn_set_close_pending(&s->conns);

        if (s->conns.n_active > 0) {
                if (s->cb.stop)
                        s->cb.stop(s, s->userdata);
                if (s->conns.n_active > 0 && !l->stop_timer) {
                        r = sd_event_add_time_relative(s->event, &l->stop_timer, CLOCK_MONOTONIC,
                                                       s->stop_timeout_usec, 0, on_stop_timeout, s);
                        if (r < 0)
                                return r;
                }
        } else if (s->cb.stop)
                s->cb.stop(s, s->userdata);

        service_update_accepting(s);
        return 0;
}

static int on_sigterm(dovesd_service *s) {
        return service_begin_stop(s);
}

static int on_sigint(dovesd_service *s) {
        /* As Dovecot's children: an idle-kill SIGINT is ignored while any client is connected. */
        if (conn_set_clients(&s->conns) > 0) {
                service_publish(s);
                return 0;
        }
        s->loop.stopping = true;
        service_update_accepting(s);
        return sd_event_exit(s->event, 0);
}

static int on_sighup(dovesd_service *s) {
        int r;

        if (!s->cb.reload)
                return 0;
        s->role->notify(s, "RELOADING=1");
        r = s->cb.reload(s, s->userdata);
        if (r < 0)
                service_log(s, LOG_ERR, "Reload failed: %s", strerror(-r));
        else
                service_log(s, s->role->routine_priority, "Reloaded");
        s->role->ready(s);
        return 0;
}

/* SIGQUIT (from the supervisor at a reload, or from dovesd-generator --apply for a removed
 * service): stop accepting, exit when the last client leaves. No deadline and no stop
 * callback: nobody is cut off. */
static int on_sigquit(dovesd_service *s) {
        s->loop.stopping = true;
        service_update_accepting(s);
        return 0;
}

static int on_sigusr1(dovesd_service *s) {
        /* The supervisor changed the login "all processes full" state in our slot. */
        service_update_accepting(s);
        return 0;
}

/* The five signals through one signalfd and one I/O source: sd_event_add_signal() costs a
 * signalfd4() and a sigprocmask() per signal at set-up and a signalfd4() per signal at
 * tear-down, in every worker start. */
static int on_signalfd(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        dovesd_service *s = userdata;
        struct signalfd_siginfo si;

        while (read(fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                int r = 0;

                switch (si.ssi_signo) {
                case SIGTERM:
                        r = on_sigterm(s);
                        break;
                case SIGINT:
                        r = on_sigint(s);
                        break;
                case SIGUSR1:
                        r = on_sigusr1(s);
                        break;
                case SIGHUP:
                        r = on_sighup(s);
                        break;
                case SIGQUIT:
                        r = on_sigquit(s);
                        break;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static void on_conns_changed(void *userdata) {
        service_update_accepting(userdata);
}

static void on_conns_publish(void *userdata) {
        service_publish(userdata);
}

int service_loop_setup(dovesd_service *s) {
        service_loop *l = &s->loop;
        sigset_t mask;
        int r, fd;

        conn_set_init(&s->conns, s, &(conn_hooks) {
                .changed = on_conns_changed,
                .publish = on_conns_publish,
                .userdata = s,
        });

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGUSR1);
        sigaddset(&mask, SIGQUIT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;

        fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = sd_event_add_io(s->event, &l->signals, fd, EPOLLIN, on_signalfd, s);
        if (r < 0) {
                (void) close(fd);
                return r;
        }
        (void) sd_event_source_set_io_fd_own(l->signals, true);
        r = s->role->setup(s);
        if (r < 0)
                return r;

        if (!l->sockets)
                l->sockets = calloc(s->fds.n_fds ?: 1, sizeof(loop_socket));
        if (!l->sockets)
                return -ENOMEM;
        l->n_sockets = s->fds.n_fds;
        for (size_t i = 0; i < l->n_sockets; i++) {
                loop_socket *sock = &l->sockets[i];

                *sock = (loop_socket) {
                        .service = s,
                        .listener = &s->settings->listeners[s->fds.fds[i].listener],
                        .fd = s->fds.fds[i].fd,
                        .kind = s->fds.fds[i].kind,
                };

                /* Added enabled, as sd_event_add_io() does: service_loop_run() begins with a
                 * free slot, and the first service_update_accepting() turns them off only if
                 * it does not (an epoll_ctl() DEL and ADD less per worker start). */
                r = sd_event_add_io(s->event, &sock->source, sock->fd, EPOLLIN, on_listener, sock);
                if (r < 0)
                        return r;
        }
        l->listening = true;

        if (idle_kill_applies(s)) {
                r = sd_event_add_time_relative(s->event, &l->idle_timer, CLOCK_MONOTONIC,
                                               s->settings->idle_kill * USEC_PER_SEC, 0, on_idle,
                                               s);
                if (r < 0)
                        return r;
                r = sd_event_source_set_enabled(l->idle_timer, SD_EVENT_OFF);
                if (r < 0)
                        return r;
        }
        return 0;
}

int service_loop_run(dovesd_service *s) {
        int r;

        s->loop.running = true;
        service_update_accepting(s);
        s->role->ready(s);

        r = sd_event_loop(s->event);

        /* Whatever is left (only after an error) is closed now. */
        conn_set_close_all(&s->conns, true);
        s->loop.running = false;
        s->role->notify(s, "STOPPING=1");
        return r;
}

void service_loop_done(dovesd_service *s) {
        service_loop *l = &s->loop;

        for (size_t i = 0; i < l->n_sockets; i++)
                sd_event_source_disable_unref(l->sockets[i].source);
        l->sockets = mfree(l->sockets);
        l->n_sockets = 0;
        l->signals = sd_event_source_disable_unref(l->signals);
        l->idle_timer = sd_event_source_disable_unref(l->idle_timer);
        l->stop_timer = sd_event_source_disable_unref(l->stop_timer);
}
