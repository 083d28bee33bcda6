/* SPDX-License-Identifier: MIT */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/un.h>

#include "conn.h"
#include "internal.h"

typedef enum conn_state {
        CONN_PROXY,             /* accepted, PROXY header not read yet; invisible to the program */
        CONN_ACTIVE,            /* handed to the program */
} conn_state;

struct dovesd_conn {
        conn_set *set;
        dovesd_service *service;
        const service_listener *listener;
        int fd;
        conn_state state;
        bool proxied;
        bool logged_in;
        bool overflow;          /* arrived on a full login process: makes room once served */

        /* The local address (getsockname()) and both strings are looked up when first asked
         * for: most connections never need them, and a syscall plus two formatted strings per
         * accept is a good part of a short connection's cost. */
        bool local_known;
        struct sockaddr_storage local, remote;
        socklen_t local_len, remote_len;
        char *local_str, *remote_str;

        char *proxy_alpn;
        char *proxy_authority;
        char *proxy_ssl_cn;
        bool proxy_ssl;
        sd_event_source *proxy_io, *proxy_timer;

        void *userdata;
        dovesd_conn *prev, *next;       /* in set->head, oldest first */
};

static const char *conn_remote_str(dovesd_conn *c);

void conn_set_init(conn_set *set, dovesd_service *s, const conn_hooks *hooks) {
        *set = (conn_set) {
                .service = s,
                .hooks = *hooks,
        };
}

static void conn_set_changed(conn_set *set) {
        if (set->hooks.changed)
                set->hooks.changed(set->hooks.userdata);
}

void conn_set_close_all(conn_set *set, bool call_disconnect) {
        while (set->head)
                conn_free(set->head, call_disconnect);
}

void conn_set_close_pending(conn_set *set) {
        for (dovesd_conn *c = set->head, *next; c; c = next) {
                next = c->next;
                if (c->state == CONN_PROXY)
                        conn_free(c, false);
        }
}

dovesd_conn *conn_set_oldest_unlogged(const conn_set *set) {
        for (dovesd_conn *c = set->head; c; c = c->next)
                if (c->state == CONN_ACTIVE && !c->logged_in)
                        return c;
        return NULL;
}

int conn_set_drop_oldest_unlogged(conn_set *set) {
        dovesd_conn *c = conn_set_oldest_unlogged(set);
        dovesd_service *s = set->service;

        if (!c)
                return 0;
        service_log_full(s, LOG_INFO, DOVESD_MESSAGE_LOGIN_OVERFLOW, c->listener->name,
                         conn_remote_str(c),
                         "All processes are full, dropping the oldest client not logged in");
        if (s->cb.overflow)
                s->cb.overflow(c, s->userdata);
        conn_free(c, true);
        return 1;
}

static int sockaddr_format(const struct sockaddr *sa, socklen_t len, char **ret) {
        char buf[INET6_ADDRSTRLEN + 16], ip[INET6_ADDRSTRLEN];
        char *s;

        if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

                if (!inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)))
                        return -errno;
                snprintf(buf, sizeof(buf), "%s:%u", ip, ntohs(in->sin_port));
                s = strdup(buf);
        } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

                if (!inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)))
                        return -errno;
                snprintf(buf, sizeof(buf), "[%s]:%u", ip, ntohs(in6->sin6_port));
                s = strdup(buf);
        } else if (sa->sa_family == AF_UNIX) {
                const struct sockaddr_un *un = (const struct sockaddr_un *) sa;
                size_t off = offsetof(struct sockaddr_un, sun_path);

                if (len > off && un->sun_path[0] != '\0')
                        s = strndup(un->sun_path, len - off);
                else
                        s = strdup("unix");
        } else
                return -EAFNOSUPPORT;

        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int conn_new(conn_set *set, const service_listener *l, int fd, const struct sockaddr *remote,
             socklen_t remote_len, dovesd_conn **ret) {
        dovesd_conn *c;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->set = set;
        c->service = set->service;
        c->listener = l;
        c->fd = fd;
        c->state = CONN_PROXY;

        if (remote && remote_len > 0 && remote_len <= sizeof(c->remote)) {
                memcpy(&c->remote, remote, remote_len);
                c->remote_len = remote_len;
        } else {
                c->remote_len = sizeof(c->remote);
                if (getpeername(fd, (struct sockaddr *) &c->remote, &c->remote_len) < 0)
                        c->remote_len = 0;
        }

        /* Append: the list is oldest first. */
        c->prev = set->tail;
        if (set->tail)
                set->tail->next = c;
        else
                set->head = c;
        set->tail = c;
        set->n_pending++;

        *ret = c;
        return 0;
}

/* The local address, from the socket on first use (before the fd is taken away). */
static void conn_local_ensure(dovesd_conn *c) {
        if (c->local_known)
                return;
        c->local_known = true;
        c->local_len = sizeof(c->local);
        if (c->fd < 0 || getsockname(c->fd, (struct sockaddr *) &c->local, &c->local_len) < 0)
                c->local_len = 0;
}

/* "ADDR:PORT" of an address, formatted once into *cache; "unknown" when there is none (or no
 * memory for it). */
static const char *address_str(const struct sockaddr_storage *sa, socklen_t len, char **cache) {
        if (!*cache && len > 0)
                (void) sockaddr_format((const struct sockaddr *) sa, len, cache);
        return *cache ?: "unknown";
}

static const char *conn_remote_str(dovesd_conn *c) {
        return address_str(&c->remote, c->remote_len, &c->remote_str);
}

static const char *conn_local_str(dovesd_conn *c) {
        conn_local_ensure(c);
        return address_str(&c->local, c->local_len, &c->local_str);
}

void conn_free(dovesd_conn *c, bool call_disconnect) {
        dovesd_service *s;
        conn_set *set;

        if (!c)
                return;
        s = c->service;
        set = c->set;

        if (call_disconnect && c->state == CONN_ACTIVE && s->cb.disconnect)
                s->cb.disconnect(c, s->userdata);

        if (c->prev)
                c->prev->next = c->next;
        else
                set->head = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else
                set->tail = c->prev;

        if (c->state == CONN_ACTIVE) {
                set->n_active--;
                if (!c->logged_in)
                        set->n_not_logged_in--;
        } else
                set->n_pending--;
        if (c->overflow)
                set->n_overflow_pending--;      /* rejected: it pushed nobody out */

        sd_event_source_disable_unref(c->proxy_io);
        sd_event_source_disable_unref(c->proxy_timer);
        if (c->fd >= 0)
                close(c->fd);
        free(c->local_str);
        free(c->remote_str);
        free(c->proxy_alpn);
        free(c->proxy_authority);
        free(c->proxy_ssl_cn);
        free(c);

        conn_set_changed(set);
}

int conn_activate(dovesd_conn *c) {
        dovesd_service *s = c->service;
        int r;

        c->proxy_io = sd_event_source_disable_unref(c->proxy_io);
        c->proxy_timer = sd_event_source_disable_unref(c->proxy_timer);
        c->state = CONN_ACTIVE;
        c->set->n_pending--;
        c->set->n_active++;
        if (!c->logged_in)
                c->set->n_not_logged_in++;
        c->set->n_served++;
        conn_set_changed(c->set);

        /* c may be closed by the callback; do not touch it after a success. */
        r = s->cb.connection(c, s->userdata);
        if (r < 0) {
                /* A client that went away is normal, not a warning. Its address is formatted
                 * only for a record that goes somewhere. */
                int prio = IN_SET_ERRNO_DISCONNECT(-r) ? LOG_DEBUG : LOG_WARNING;

                if (service_log_enabled(s, prio))
                        service_log_full(s, prio, NULL, c->listener->name, conn_remote_str(c),
                                         "Connection callback failed, closing the connection: %s",
                                         strerror(-r));
                conn_free(c, false);
        }
        return 0;
}

_public_ int dovesd_conn_get_fd(const dovesd_conn *c) {
        return c ? c->fd : -EBADF;
}

_public_ int dovesd_conn_take_fd(dovesd_conn *c) {
        if (!c || c->fd < 0)
                return -EBADF;
        conn_local_ensure(c);   /* the socket is the program's from now on */
        return TAKE_FD(c->fd);
}

_public_ dovesd_service *dovesd_conn_get_service(const dovesd_conn *c) {
        return c ? c->service : NULL;
}

_public_ const char *dovesd_conn_get_listener(const dovesd_conn *c) {
        return c ? c->listener->name : NULL;
}

_public_ bool dovesd_conn_is_ssl(const dovesd_conn *c) {
        return c && c->listener->ssl;
}

_public_ bool dovesd_conn_is_proxied(const dovesd_conn *c) {
        return c && c->proxied;
}

_public_ const struct sockaddr *dovesd_conn_get_local(const dovesd_conn *c, socklen_t *ret_len) {
        if (!c)
                return NULL;
        conn_local_ensure((dovesd_conn *) c);
        if (ret_len)
                *ret_len = c->local_len;
        return (const struct sockaddr *) &c->local;
}

_public_ const struct sockaddr *dovesd_conn_get_remote(const dovesd_conn *c, socklen_t *ret_len) {
        if (!c)
                return NULL;
        if (ret_len)
                *ret_len = c->remote_len;
        return (const struct sockaddr *) &c->remote;
}

_public_ const char *dovesd_conn_get_local_str(const dovesd_conn *c) {
        return c ? conn_local_str((dovesd_conn *) c) : NULL;
}

_public_ const char *dovesd_conn_get_remote_str(const dovesd_conn *c) {
        return c ? conn_remote_str((dovesd_conn *) c) : NULL;
}

_public_ const char *dovesd_conn_get_proxy_alpn(const dovesd_conn *c) {
        return c ? c->proxy_alpn : NULL;
}

_public_ const char *dovesd_conn_get_proxy_authority(const dovesd_conn *c) {
        return c ? c->proxy_authority : NULL;
}

_public_ bool dovesd_conn_get_proxy_ssl(const dovesd_conn *c) {
        return c && c->proxy_ssl;
}

_public_ const char *dovesd_conn_get_proxy_ssl_cn(const dovesd_conn *c) {
        return c ? c->proxy_ssl_cn : NULL;
}

_public_ void dovesd_conn_set_userdata(dovesd_conn *c, void *userdata) {
        if (c)
                c->userdata = userdata;
}

_public_ void *dovesd_conn_get_userdata(const dovesd_conn *c) {
        return c ? c->userdata : NULL;
}

_public_ void dovesd_conn_set_logged_in(dovesd_conn *c) {
        if (c && !c->logged_in) {
                c->logged_in = true;
                if (c->state == CONN_ACTIVE)
                        c->set->n_not_logged_in--;
                if (c->set->hooks.publish)
                        c->set->hooks.publish(c->set->hooks.userdata);
        }
}

_public_ bool dovesd_conn_is_logged_in(const dovesd_conn *c) {
        return c && c->logged_in;
}

_public_ dovesd_conn *dovesd_conn_close(dovesd_conn *c) {
        conn_free(c, false);
        return NULL;
}

static bool conn_proxy_trusted(const dovesd_conn *c) {
        return c->remote_len > 0 &&
                proxy_networks_contain(c->service->settings->networks,
                                       (const struct sockaddr *) &c->remote);
}

void conn_overflow(dovesd_conn *c) {
        if (!c->listener->haproxy) {
                (void) conn_set_drop_oldest_unlogged(c->set);
                return;
        }
        if (c->state != CONN_PROXY || c->overflow || !conn_proxy_trusted(c))
                return;         /* conn_proxy_start() rejects it: nobody is pushed out */
        c->overflow = true;
        c->set->n_overflow_pending++;
}

/* Once a PROXY header is in: the room the connection was promised. */
static void conn_overflow_done(dovesd_conn *c) {
        if (!c->overflow)
                return;
        c->overflow = false;
        c->set->n_overflow_pending--;
        (void) conn_set_drop_oldest_unlogged(c->set);
}

static void proxy_reject(dovesd_conn *c, const char *reason) {
        const char *remote = conn_remote_str(c);

        service_log_full(c->service, LOG_WARNING, DOVESD_MESSAGE_PROXY_REJECTED, c->listener->name,
                         remote, "haproxy: %s (rip=%s)", reason, remote);
        conn_free(c, false);
}

static int on_proxy_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        proxy_reject(userdata, "Client timed out");
        return 0;
}

static char *strndup_or_null(const void *p, size_t n, bool *oom) {
        char *s;

        if (!p)
                return NULL;
        s = strndup(p, n);
        if (!s)
                *oom = true;
        return s;
}

static int on_proxy_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        dovesd_conn *c = userdata;
        uint8_t buf[PROXY_HEADER_MAX];
        proxy_header h;
        const char *reason = NULL;
        bool oom = false;
        ssize_t n;
        int r;

        n = recv(fd, buf, sizeof(buf), MSG_PEEK);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                proxy_reject(c, "recv() failed before the header was complete");
                return 0;
        }
        if (n == 0) {
                proxy_reject(c, "Client disconnected before the header was complete");
                return 0;
        }

        r = proxy_header_parse(buf, (size_t) n, &h, &reason);
        if (r == 0)
                return 0;       /* a valid prefix: wait for more (edge-triggered) */
        if (r < 0) {
                proxy_reject(c, reason ?: "Invalid header");
                return 0;
        }

        /* Consume exactly the header; what follows belongs to the program. */
        n = recv(fd, buf, (size_t) r, 0);
        if (n != r) {
                proxy_header_done(&h);
                proxy_reject(c, "Failed to consume the header");
                return 0;
        }

        if (!h.local) {
                memcpy(&c->remote, &h.src, h.src_len);
                c->remote_len = h.src_len;
                memcpy(&c->local, &h.dst, h.dst_len);
                c->local_len = h.dst_len;
                c->local_known = true;
                c->proxied = true;
                c->remote_str = mfree(c->remote_str);   /* formatted again when asked for */
                c->local_str = mfree(c->local_str);
        }
        c->proxy_alpn = strndup_or_null(h.alpn, h.alpn_len, &oom);
        c->proxy_authority = strndup_or_null(h.authority, h.authority ? strlen(h.authority) : 0,
                                             &oom);
        c->proxy_ssl_cn = strndup_or_null(h.ssl_cn, h.ssl_cn ? strlen(h.ssl_cn) : 0, &oom);
        c->proxy_ssl = h.ssl;
        proxy_header_done(&h);
        if (oom) {
                proxy_reject(c, "Out of memory");
                return 0;
        }

        conn_overflow_done(c);
        return conn_activate(c);
}

int conn_proxy_start(dovesd_conn *c) {
        dovesd_service *s = c->service;
        int r;

        if (!conn_proxy_trusted(c)) {
                proxy_reject(c, "Client not trusted");
                return 0;
        }

        /* Peeking does not drain the socket: watch edge-triggered so a partial header waits
         * for more bytes instead of waking the loop again at once. */
        r = sd_event_add_io(s->event, &c->proxy_io, c->fd, EPOLLIN | EPOLLET, on_proxy_io, c);
        if (r >= 0)
                r = sd_event_add_time_relative(s->event, &c->proxy_timer, CLOCK_MONOTONIC,
                                               s->settings->haproxy_timeout_usec, 0,
                                               on_proxy_timeout, c);
        if (r < 0) {
                service_log_full(s, LOG_ERR, NULL, c->listener->name, conn_remote_str(c),
                                 "Failed to watch the PROXY header: %s", strerror(-r));
                conn_free(c, false);
                return r;
        }
        return 0;
}
