/* SPDX-License-Identifier: MIT */
/*
 * dovesd-demo: a small line-protocol service on libdovesd, for people (nc) and the
 * end-to-end tests. Every line the client sends is one command; every answer ends with a
 * tagged line "OK …", "NO …" or "BAD …":
 *
 *     (connect)   * OK dovesd-demo ready
 *     INFO        * INFO pid=… service=… listener=… ssl=0|1 proxied=0|1 remote=… local=…
 *                   uid=… euid=… gid=… egid=… groups=a,b chroot=PATH|none clients=N
 *                   served=N sgid=… caps=none|TEXT type=… logged_in=0|1  (one line)
 *                 OK
 *     LOGIN       OK                  (type=login: the client no longer drops on overflow)
 *     SLEEP N     OK                  (after N seconds; other clients are served meanwhile)
 *     ALLOC N     OK | NO out of memory   (malloc N MiB, write every page, free)
 *     PRIV on|off OK | NO …           (effective gid: privileged_group / primary group)
 *     LOGOUT      * BYE               (and the server closes the connection)
 *     (other)     BAD unknown command
 *
 * All values come from libdovesd's own state (dovesd_service_get_*, dovesd_conn_get_*,
 * dovesd_service_describe_privileges()). The program uses only the public header and the
 * event loop the library gives it: every client is a non-blocking fd with an sd_event I/O
 * source, so one process serves many clients (client_limit > 1, pool mode).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "dovesd.h"

#define LINE_MAX_BYTES 1024
#define ALLOC_MAX_MIB (1024 * 1024)     /* 1 TiB: beyond any vsz_limit, still no overflow */

typedef struct client {
        dovesd_conn *conn;
        sd_event_source *io;
        sd_event_source *sleep_timer;   /* SLEEP in progress: input waits */
        char in[LINE_MAX_BYTES + 1];
        size_t n_in;
        char *out;                      /* pending output */
        size_t n_out;
        bool closing;                   /* close once the output is written */
        bool stopping;                  /* service stops: BYE after the current command */
        bool eof;                       /* the client shut down its side: finish, then close */
        struct client *prev, *next;     /* every client of this process */
} client;

static client *clients;

static int client_dispatch(client *c);

static void free_client_state(client *c) {
        if (!c)
                return;
        if (c->prev)
                c->prev->next = c->next;
        else
                clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->sleep_timer);
        dovesd_conn_set_userdata(c->conn, NULL);
        free(c->out);
        free(c);
}

/* Our own end of a connection: free the state, then let the library free the slot. */
static void client_close(client *c) {
        dovesd_conn *conn = c->conn;

        free_client_state(c);
        dovesd_conn_close(conn);
}

static int client_update_events(client *c) {
        uint32_t ev = 0;

        if (c->n_out > 0)
                ev |= EPOLLOUT;
        if (!c->closing && !c->sleep_timer && !c->eof)
                ev |= EPOLLIN;
        return sd_event_source_set_io_events(c->io, ev);
}

/* Write as much pending output as the socket takes. Returns 1 when everything is written,
 * 0 when some is left (EPOLLOUT will continue), < 0 when the client is gone. */
static int client_flush(client *c) {
        while (c->n_out > 0) {
                ssize_t n = send(dovesd_conn_get_fd(c->conn), c->out, c->n_out, MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return -errno;
                }
                memmove(c->out, c->out + n, c->n_out - (size_t) n);
                c->n_out -= (size_t) n;
        }
        return 1;
}

static int client_send(client *c, const char *text) {
        size_t len = strlen(text);
        char *p;

        p = realloc(c->out, c->n_out + len + 2);
        if (!p)
                return -ENOMEM;
        c->out = p;
        memcpy(c->out + c->n_out, text, len);
        c->n_out += len;
        c->out[c->n_out++] = '\r';
        c->out[c->n_out++] = '\n';
        return 0;
}

/* One value of "key=value ..." as printed by dovesd_service_describe_privileges(). */
static void priv_field(const char *desc, const char *key, char *buf, size_t size) {
        size_t klen = strlen(key);
        const char *p = desc;

        snprintf(buf, size, "?");
        while (p && *p) {
                if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
                        size_t vlen;

                        p += klen + 1;
                        /* caps= is last and may contain spaces (cap_to_text); take the rest */
                        vlen = strcmp(key, "caps") == 0 ? strlen(p) : strcspn(p, " ");
                        snprintf(buf, size, "%.*s", (int) vlen, p);
                        return;
                }
                p = strchr(p, ' ');
                if (p)
                        p++;
        }
}

static int cmd_info(client *c) {
        dovesd_service *s = dovesd_conn_get_service(c->conn);
        char *desc = NULL, *line = NULL;
        char uid[16], euid[16], gid[16], egid[16], sgid[16], groups[512], chroot[512], caps[512];
        int r;

        r = dovesd_service_describe_privileges(s, &desc);
        if (r < 0)
                return client_send(c, "NO cannot read credentials");
        priv_field(desc, "uid", uid, sizeof(uid));
        priv_field(desc, "euid", euid, sizeof(euid));
        priv_field(desc, "gid", gid, sizeof(gid));
        priv_field(desc, "egid", egid, sizeof(egid));
        priv_field(desc, "sgid", sgid, sizeof(sgid));
        priv_field(desc, "groups", groups, sizeof(groups));
        priv_field(desc, "chroot", chroot, sizeof(chroot));
        priv_field(desc, "caps", caps, sizeof(caps));
        free(desc);

        r = asprintf(&line,
                     "* INFO pid=%d service=%s listener=%s ssl=%d proxied=%d remote=%s local=%s "
                     "uid=%s euid=%s gid=%s egid=%s groups=%s chroot=%s clients=%u served=%" PRIu64
                     " sgid=%s caps=%s type=%s logged_in=%d",
                     (int) getpid(), dovesd_service_get_name(s), dovesd_conn_get_listener(c->conn),
                     dovesd_conn_is_ssl(c->conn), dovesd_conn_is_proxied(c->conn),
                     dovesd_conn_get_remote_str(c->conn), dovesd_conn_get_local_str(c->conn),
                     uid, euid, gid, egid, groups[0] ? groups : "-", chroot,
                     dovesd_service_get_clients(s), dovesd_service_get_served(s), sgid, caps,
                     dovesd_service_get_type(s)[0] ? dovesd_service_get_type(s) : "-",
                     dovesd_conn_is_logged_in(c->conn));
        if (r < 0)
                return -ENOMEM;
        r = client_send(c, line);
        free(line);
        if (r < 0)
                return r;
        return client_send(c, "OK");
}

static int cmd_alloc(client *c, unsigned long mib) {
        size_t size = (size_t) mib << 20;
        long page = sysconf(_SC_PAGESIZE);
        char *p;

        p = malloc(size);
        if (!p)
                return client_send(c, "NO out of memory");
        for (size_t i = 0; i < size; i += (size_t) page)
                p[i] = 1;       /* touch every page: the memory really exists */
        free(p);
        return client_send(c, "OK");
}

static int on_sleep_done(sd_event_source *es, uint64_t usec, void *userdata) {
        client *c = userdata;
        int r;

        c->sleep_timer = sd_event_source_disable_unref(c->sleep_timer);
        r = client_send(c, "OK");
        if (r >= 0)
                r = client_dispatch(c);        /* lines that arrived meanwhile */
        if (r < 0)
                client_close(c);
        return 0;
}

static int cmd_sleep(client *c, unsigned long sec) {
        return sd_event_add_time_relative(dovesd_service_get_event(dovesd_conn_get_service(c->conn)),
                                          &c->sleep_timer, CLOCK_MONOTONIC,
                                          (uint64_t) sec * 1000000, 0, on_sleep_done, c);
}

static bool parse_number(const char *s, unsigned long max, unsigned long *ret) {
        char *end;
        unsigned long v;

        if (!s || *s < '0' || *s > '9')
                return false;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0' || v > max)
                return false;
        *ret = v;
        return true;
}

static int client_command(client *c, char *line) {
        dovesd_service *s = dovesd_conn_get_service(c->conn);
        char *arg = strchr(line, ' ');
        unsigned long n;
        int r;

        if (arg)
                *arg++ = '\0';

        if (strcasecmp(line, "INFO") == 0 && !arg)
                return cmd_info(c);
        if (strcasecmp(line, "LOGIN") == 0 && !arg) {
                dovesd_conn_set_logged_in(c->conn);
                return client_send(c, "OK");
        }
        if (strcasecmp(line, "SLEEP") == 0) {
                if (!parse_number(arg, 86400, &n))
                        return client_send(c, "BAD SLEEP needs seconds (0-86400)");
                return cmd_sleep(c, n);
        }
        if (strcasecmp(line, "ALLOC") == 0) {
                if (!parse_number(arg, ALLOC_MAX_MIB, &n))
                        return client_send(c, "BAD ALLOC needs MiB");
                return cmd_alloc(c, n);
        }
        if (strcasecmp(line, "PRIV") == 0) {
                if (!arg || (strcasecmp(arg, "on") != 0 && strcasecmp(arg, "off") != 0))
                        return client_send(c, "BAD PRIV needs on or off");
                r = dovesd_privileged_group_enable(s, strcasecmp(arg, "on") == 0);
                if (r == -ENOENT)
                        return client_send(c, "NO no privileged_group configured");
                if (r == -ENOTCONN)
                        return client_send(c, "NO privileges were not dropped");
                if (r < 0)
                        return client_send(c, "NO cannot switch group");
                return client_send(c, "OK");
        }
        if (strcasecmp(line, "LOGOUT") == 0 && !arg) {
                c->closing = true;
                return client_send(c, "* BYE");
        }
        return client_send(c, "BAD unknown command");
}

/* Run the complete lines in the input buffer, up to a SLEEP or LOGOUT; then flush. */
static int client_dispatch(client *c) {
        int r;

        while (!c->sleep_timer && !c->closing) {
                char *nl = memchr(c->in, '\n', c->n_in);
                size_t len;

                if (!nl) {
                        if (c->n_in >= LINE_MAX_BYTES) {
                                c->closing = true;
                                r = client_send(c, "BAD line too long");
                                if (r < 0)
                                        return r;
                        }
                        break;
                }
                *nl = '\0';
                len = (size_t) (nl - c->in);
                if (len > 0 && c->in[len - 1] == '\r')
                        c->in[len - 1] = '\0';
                r = client_command(c, c->in);
                if (r < 0)
                        return r;
                memmove(c->in, nl + 1, c->n_in - len - 1);
                c->n_in -= len + 1;
        }

        /* After the client's EOF (nc -N) the commands it sent are answered, then we close. */
        if (c->eof && !c->sleep_timer)
                c->closing = true;

        if (c->stopping && !c->sleep_timer && !c->closing) {
                c->closing = true;
                r = client_send(c, "* BYE server shutting down");
                if (r < 0)
                        return r;
        }

        r = client_flush(c);
        if (r < 0)
                return r;
        if (r > 0 && c->closing)
                return -ECONNRESET;     /* everything said: close */
        return client_update_events(c);
}

static int on_client_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        client *c = userdata;
        int r = 0;

        if (revents & EPOLLIN) {
                ssize_t n = recv(fd, c->in + c->n_in, LINE_MAX_BYTES - c->n_in, 0);

                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        client_close(c);        /* the client went away */
                        return 0;
                }
                if (n == 0)
                        c->eof = true;
                if (n > 0)
                        c->n_in += (size_t) n;
        } else if (revents & (EPOLLHUP | EPOLLERR) && !(revents & EPOLLOUT)) {
                client_close(c);
                return 0;
        }

        r = client_dispatch(c);
        if (r < 0)
                client_close(c);
        return 0;
}

static int on_connection(dovesd_conn *conn, void *userdata) {
        sd_event *e = dovesd_service_get_event(dovesd_conn_get_service(conn));
        client *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->conn = conn;
        c->next = clients;
        if (clients)
                clients->prev = c;
        clients = c;
        r = sd_event_add_io(e, &c->io, dovesd_conn_get_fd(conn), EPOLLIN, on_client_io, c);
        if (r < 0) {
                free_client_state(c);
                return r;
        }
        dovesd_conn_set_userdata(conn, c);
        r = client_send(c, "* OK dovesd-demo ready");
        if (r >= 0)
                r = client_dispatch(c);
        if (r < 0) {
                free_client_state(c);
                return r;       /* the library closes the connection and logs */
        }
        return 0;
}

/* The library closes a connection itself (stop timeout, login overflow): free our state. */
static void on_disconnect(dovesd_conn *conn, void *userdata) {
        free_client_state(dovesd_conn_get_userdata(conn));
}

static void on_overflow(dovesd_conn *conn, void *userdata) {
        client *c = dovesd_conn_get_userdata(conn);

        if (c && client_send(c, "* BYE too many clients, try again later") >= 0)
                (void) client_flush(c);
}

/* SIGTERM (systemctl stop/restart): every client gets "* BYE server shutting down" once its
 * current command (a SLEEP, say) is done; the library closes whoever is left after its stop
 * timeout. The listening sockets stay with systemd, so new clients wait for the next process. */
static void on_stop(dovesd_service *s, void *userdata) {
        client *next;

        for (client *c = clients; c; c = next) {
                next = c->next;
                c->stopping = true;
                if (client_dispatch(c) < 0)
                        client_close(c);
        }
}

int main(int argc, char *argv[]) {
        static const dovesd_callbacks cb = {
                .connection = on_connection,
                .disconnect = on_disconnect,
                .overflow = on_overflow,
                .stop = on_stop,
        };
        dovesd_service *s = NULL;
        char *error = NULL;
        int r;

        if (argc > 1) {
                fprintf(stderr, "dovesd-demo takes no arguments; it is started by systemd "
                                "from units that dovesd-generator writes.\n");
                return 2;
        }

        r = dovesd_service_new(&s, &error);
        if (r < 0) {
                fprintf(stderr, "dovesd-demo: %s\n", error ?: strerror(-r));
                free(error);
                return 1;
        }

        /* The program's own set-up would happen here, as root (open files, read keys). */

        r = dovesd_service_restrict(s);
        if (r < 0) {
                fprintf(stderr, "dovesd-demo: cannot drop privileges: %s\n", strerror(-r));
                dovesd_service_unref(s);
                return 1;
        }

        r = dovesd_service_run(s, &cb, NULL);
        dovesd_service_unref(s);
        if (r < 0) {
                fprintf(stderr, "dovesd-demo: %s\n", strerror(-r));
                return 1;
        }
        return 0;
}
