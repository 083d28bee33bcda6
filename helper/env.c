/* SPDX-License-Identifier: MIT */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "internal.h"

_printf_(2, 3)
static int set_error(char **ret_error, const char *format, ...) {
        va_list ap;

        if (!ret_error)
                return -EINVAL;
        free(*ret_error);
        *ret_error = NULL;
        va_start(ap, format);
        if (vasprintf(ret_error, format, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return -EINVAL;
}

static int parse_unsigned(const char *name, const char *value, unsigned min, unsigned *ret,
                          char **ret_error) {
        unsigned long v;
        char *end;

        if (!value[0] || value[0] < '0' || value[0] > '9')
                return set_error(ret_error, "%s: invalid number '%s'", name, value);
        errno = 0;
        v = strtoul(value, &end, 10);
        if (*end != '\0')
                return set_error(ret_error, "%s: invalid number '%s'", name, value);
        if (errno == ERANGE || v > UINT_MAX)
                return set_error(ret_error, "%s: number too large '%s'", name, value);
        if (v < min)
                return set_error(ret_error, "%s: must be at least %u, got '%s'", name, min, value);
        *ret = (unsigned) v;
        return 0;
}

/* A numeric variable: required ones must be set; optional ones default to def. */
static int env_unsigned(const char *name, bool required, unsigned def, unsigned min,
                        unsigned *ret, char **ret_error) {
        const char *v = getenv(name);

        if (!v) {
                if (required)
                        return set_error(ret_error, "%s is not set", name);
                *ret = def;
                return 0;
        }
        return parse_unsigned(name, v, min, ret, ret_error);
}

/* A string variable; unset or empty is NULL. */
static int env_string(const char *name, char **ret) {
        const char *v = getenv(name);

        if (!v || !v[0]) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(v);
        return *ret ? 0 : -ENOMEM;
}

static int parse_networks(dovesd_service *s, const char *text, char **ret_error) {
        _cleanup_free_ char *err = NULL;
        const char *prefix = "haproxy_trusted_networks: ";
        int r;

        r = proxy_networks_parse(text, &s->networks, &err);
        if (r == -EINVAL) {
                const char *e = err ?: "invalid value";

                if (strncmp(e, prefix, strlen(prefix)) == 0)
                        e += strlen(prefix);
                return set_error(ret_error, "DOVESD_HAPROXY_TRUSTED_NETWORKS: %s", e);
        }
        return r;
}

static int parse_listeners(dovesd_service *s, const char *text, char **ret_error) {
        _cleanup_free_ char *copy = strdup(text);
        char *p, *entry;

        if (!copy)
                return -ENOMEM;
        if (!copy[0])
                return 0;

        p = copy;
        while ((entry = strsep(&p, ";"))) {
                char *name = strsep(&entry, ":"), *flag;
                dovesd_listener l = {}, *a;

                if (!name[0])
                        return set_error(ret_error, "DOVESD_LISTENERS: empty listener name in '%s'",
                                         text);
                while ((flag = strsep(&entry, ":"))) {
                        if (strcmp(flag, "ssl") == 0)
                                l.ssl = true;
                        else if (strcmp(flag, "haproxy") == 0)
                                l.haproxy = true;
                        else
                                return set_error(ret_error,
                                                 "DOVESD_LISTENERS: unknown flag '%s' for listener '%s'",
                                                 flag, name);
                }
                for (size_t i = 0; i < s->n_listeners; i++)
                        if (strcmp(s->listeners[i].name, name) == 0)
                                return set_error(ret_error,
                                                 "DOVESD_LISTENERS: duplicate listener '%s'", name);

                l.name = strdup(name);
                if (!l.name)
                        return -ENOMEM;
                a = reallocarray(s->listeners, s->n_listeners + 1, sizeof(*a));
                if (!a) {
                        free(l.name);
                        return -ENOMEM;
                }
                s->listeners = a;
                s->listeners[s->n_listeners++] = l;
        }
        return 0;
}

int service_parse_env(dovesd_service *s, char **ret_error) {
        const char *v;
        unsigned timeout;
        int r;

        v = getenv(DOVESD_ENV_SERVICE);
        if (!v || !v[0])
                return set_error(ret_error, "DOVESD_SERVICE is not set");
        s->name = strdup(v);
        v = getenv(DOVESD_ENV_TYPE);
        s->type = strdup(v ?: "");
        if (!s->name || !s->type)
                return -ENOMEM;
        if (!STR_IN_SET(s->type, "", "log", "config", "anvil", "login", "startup", "worker"))
                return set_error(ret_error, "DOVESD_TYPE: unknown service type '%s'", s->type);

        r = env_unsigned(DOVESD_ENV_CLIENT_LIMIT, true, 0, 1, &s->client_limit, ret_error);
        if (r < 0)
                return r;
        r = env_unsigned(DOVESD_ENV_SERVICE_COUNT, false, 0, 0, &s->service_count, ret_error);
        if (r < 0)
                return r;
        r = env_unsigned(DOVESD_ENV_PROCESS_LIMIT, false, 1, 1, &s->process_limit, ret_error);
        if (r < 0)
                return r;
        r = env_unsigned(DOVESD_ENV_PROCESS_MIN_AVAIL, false, 0, 0, &s->process_min_avail,
                         ret_error);
        if (r < 0)
                return r;
        /* As doveconf (master_settings_verify()) refuses it: a drop-in may change one without
         * the other, and a pool could never keep process_min_avail workers (no READY=1). */
        if (s->process_min_avail > s->process_limit)
                return set_error(ret_error,
                                 "DOVESD_PROCESS_MIN_AVAIL (%u) is higher than DOVESD_PROCESS_LIMIT (%u)",
                                 s->process_min_avail, s->process_limit);
        r = env_unsigned(DOVESD_ENV_IDLE_KILL, false, 0, 0, &s->idle_kill, ret_error);
        if (r < 0)
                return r;
        r = env_unsigned(DOVESD_ENV_HAPROXY_TIMEOUT, false, DOVESD_HAPROXY_TIMEOUT_DEFAULT, 1,
                         &timeout, ret_error);
        if (r < 0)
                return r;
        s->haproxy_timeout_usec = timeout * USEC_PER_SEC;

        /* As Dovecot's master: client_limit is capped at service_count. */
        if (s->service_count > 0 && s->client_limit > s->service_count)
                s->client_limit = s->service_count;

        r = parse_listeners(s, getenv(DOVESD_ENV_LISTENERS) ?: "", ret_error);
        if (r < 0)
                return r;
        r = parse_networks(s, getenv(DOVESD_ENV_HAPROXY_TRUSTED_NETWORKS) ?: "", ret_error);
        if (r < 0)
                return r;

        if (env_string(DOVESD_ENV_USER, &s->user) < 0 ||
            env_string(DOVESD_ENV_GROUP, &s->group) < 0 ||
            env_string(DOVESD_ENV_EXTRA_GROUPS, &s->extra_groups) < 0 ||
            env_string(DOVESD_ENV_PRIVILEGED_GROUP, &s->privileged_group) < 0 ||
            env_string(DOVESD_ENV_CHROOT, &s->chroot) < 0)
                return -ENOMEM;
        if (s->chroot) {
                if (s->chroot[0] != '/')
                        return set_error(ret_error, "DOVESD_CHROOT: not an absolute path: '%s'",
                                         s->chroot);
                /* Dovecot strips the trailing '/'; "/" itself means no chroot. */
                size_t l = strlen(s->chroot);
                while (l > 1 && s->chroot[l - 1] == '/')
                        s->chroot[--l] = '\0';
                if (strcmp(s->chroot, "/") == 0)
                        s->chroot = (free(s->chroot), NULL);
        }
        return 0;
}

static const char *describe_fd(int fd) {
        struct stat st;
        int type = 0, listening = 0;
        socklen_t l = sizeof(int);

        if (fstat(fd, &st) < 0)
                return "an invalid file descriptor";
        if (S_ISREG(st.st_mode))
                return "a regular file";
        if (S_ISDIR(st.st_mode))
                return "a directory";
        if (S_ISCHR(st.st_mode))
                return "a character device";
        if (S_ISFIFO(st.st_mode))
                return "a FIFO";
        if (!S_ISSOCK(st.st_mode))
                return "not a socket";
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
                return "an unusable socket";
        if (type == SOCK_DGRAM)
                return "a datagram socket";
        if (type == SOCK_SEQPACKET)
                return "a seqpacket socket";
        if (type != SOCK_STREAM)
                return "a socket of an unknown type";
        l = sizeof(int);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) < 0)
                return "an unusable socket";
        return listening ? "a listening stream socket" : "a connected stream socket";
}

static int fd_nonblock(int fd) {
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0)
                return -errno;
        if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

static dovesd_listener *find_listener(dovesd_service *s, const char *name) {
        for (size_t i = 0; i < s->n_listeners; i++)
                if (strcmp(s->listeners[i].name, name) == 0)
                        return &s->listeners[i];
        return NULL;
}

int service_take_fds(dovesd_service *s, char **ret_error) {
        char **names = NULL;
        int n, r = 0;

        n = sd_listen_fds_with_names(true, &names);
        if (n < 0)
                return set_error(ret_error, "LISTEN_FDS: cannot read the passed file descriptors: %s",
                                 strerror(-n));

        s->sockets = calloc(n > 0 ? n : 1, sizeof(dovesd_socket));
        if (!s->sockets) {
                r = -ENOMEM;
                goto finish;
        }

        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                const char *name = names ? names[i] : "unknown";
                dovesd_listener *l = find_listener(s, name);
                socket_kind kind;

                if (!l && strcmp(name, DOVESD_ANVIL_SHARED_FDNAME) == 0 &&
                    s->anvil_shared_fd < 0 && sd_is_fifo(fd, NULL) > 0) {
                        /* Dovecot's anvil: its shared pipe, for dovesd-supervisor. */
                        s->anvil_shared_fd = fd;
                        continue;
                }
                if (!l) {
                        r = set_error(ret_error,
                                      "fd %d named '%s' matches no listener in DOVESD_LISTENERS",
                                      fd, name);
                        goto finish;
                }

                if (sd_is_fifo(fd, NULL) > 0)
                        kind = SOCKET_FIFO;
                else if (sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) > 0)
                        kind = SOCKET_INET;
                else if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0)
                        kind = SOCKET_UNIX;
                else {
                        r = set_error(ret_error,
                                      "listener '%s' (fd %d): expected a listening stream socket or a FIFO, got %s",
                                      name, fd, describe_fd(fd));
                        goto finish;
                }
                if (kind != SOCKET_INET && (l->ssl || l->haproxy)) {
                        r = set_error(ret_error,
                                      "listener '%s' (fd %d): %s needs an inet socket, got %s",
                                      name, fd, l->ssl ? "ssl" : "haproxy",
                                      kind == SOCKET_FIFO ? "a FIFO" : "a unix socket");
                        goto finish;
                }
                if (l->n_fds > 0) {
                        /* All fds of one listener must be of one kind. */
                        for (size_t j = 0; j < s->n_sockets; j++)
                                if (s->sockets[j].listener == l && s->sockets[j].kind != kind &&
                                    (s->sockets[j].kind == SOCKET_FIFO || kind == SOCKET_FIFO)) {
                                        r = set_error(ret_error,
                                                      "listener '%s' (fd %d): mixes FIFOs and sockets",
                                                      name, fd);
                                        goto finish;
                                }
                }
                r = fd_nonblock(fd);
                if (r < 0) {
                        r = set_error(ret_error, "listener '%s' (fd %d): cannot make it non-blocking: %s",
                                      name, fd, strerror(-r));
                        goto finish;
                }

                l->n_fds++;
                s->sockets[s->n_sockets++] = (dovesd_socket) {
                        .service = s,
                        .listener = l,
                        .fd = fd,
                        .kind = kind,
                };
        }

        for (size_t i = 0; i < s->n_listeners; i++)
                if (s->listeners[i].n_fds == 0) {
                        r = set_error(ret_error,
                                      "listener '%s': no file descriptor named '%s' in LISTEN_FDNAMES",
                                      s->listeners[i].name, s->listeners[i].name);
                        goto finish;
                }
        r = 0;

finish:
        if (names)
                for (char **p = names; *p; p++)
                        free(*p);
        free(names);
        return r;
}
