/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "internal.h"
#include "listen.h"

/* What systemd passed at fd: a FIFO, or a listening stream socket of the inet or unix family
 * (*ret_kind, and NULL); otherwise what it is instead, for the error. One fstat() and three
 * getsockopt() calls: a worker does this at every start. */
static const char *classify_fd(int fd, socket_kind *ret_kind) {
        struct stat st;
        int type = 0, listening = 0, domain = 0;
        socklen_t l = sizeof(int);

        if (fstat(fd, &st) < 0)
                return "an invalid file descriptor";
        if (S_ISFIFO(st.st_mode)) {
                *ret_kind = SOCKET_FIFO;
                return NULL;
        }
        if (S_ISREG(st.st_mode))
                return "a regular file";
        if (S_ISDIR(st.st_mode))
                return "a directory";
        if (S_ISCHR(st.st_mode))
                return "a character device";
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
        if (!listening)
                return "a connected stream socket";
        l = sizeof(int);
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0)
                return "an unusable socket";
        if (domain == AF_INET || domain == AF_INET6)
                *ret_kind = SOCKET_INET;
        else if (domain == AF_UNIX)
                *ret_kind = SOCKET_UNIX;
        else
                return "a listening socket of another address family";
        return NULL;
}

/* O_NONBLOCK is a flag of the open file, which the supervisor and every worker share: the
 * first process to take the fds sets it, the others find it set. */
static int fd_nonblock(int fd) {
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0)
                return -errno;
        if (flags & O_NONBLOCK)
                return 0;
        if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

int listen_fds_take(const service_settings *settings, listen_fds *ret, char **ret_error) {
        _cleanup_free_ size_t *n_fds = NULL;   /* fds matched per listener */
        char **names = NULL;
        int n, r = 0;

        n = sd_listen_fds_with_names(true, &names);
        if (n < 0)
                return set_error(ret_error, "LISTEN_FDS: cannot read the passed file descriptors: %s",
                                 strerror(-n));

        ret->fds = calloc(n > 0 ? n : 1, sizeof(listen_fd));
        n_fds = calloc(settings->n_listeners ?: 1, sizeof(size_t));
        if (!ret->fds || !n_fds) {
                r = -ENOMEM;
                goto finish;
        }

        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                const char *name = names ? names[i] : "unknown";
                int li = service_settings_find_listener(settings, name);
                const service_listener *l = li >= 0 ? &settings->listeners[li] : NULL;
                socket_kind kind = SOCKET_FIFO;
                const char *what;

                if (!l && strcmp(name, DOVESD_ANVIL_SHARED_FDNAME) == 0 &&
                    ret->anvil_shared_fd < 0 && sd_is_fifo(fd, NULL) > 0) {
                        /* Dovecot's anvil: its shared pipe, for dovesd-supervisor. */
                        ret->anvil_shared_fd = fd;
                        continue;
                }
                if (!l) {
                        r = set_error(ret_error,
                                      "fd %d named '%s' matches no listener in DOVESD_LISTENERS",
                                      fd, name);
                        goto finish;
                }

                what = classify_fd(fd, &kind);
                if (what) {
                        r = set_error(ret_error,
                                      "listener '%s' (fd %d): expected a listening stream socket or a FIFO, got %s",
                                      name, fd, what);
                        goto finish;
                }
                if (kind != SOCKET_INET && (l->ssl || l->haproxy)) {
                        r = set_error(ret_error,
                                      "listener '%s' (fd %d): %s needs an inet socket, got %s",
                                      name, fd, l->ssl ? "ssl" : "haproxy",
                                      kind == SOCKET_FIFO ? "a FIFO" : "a unix socket");
                        goto finish;
                }
                if (n_fds[li] > 0) {
                        /* All fds of one listener must be of one kind. */
                        for (size_t j = 0; j < ret->n_fds; j++)
                                if (ret->fds[j].listener == (size_t) li &&
                                    ret->fds[j].kind != kind &&
                                    (ret->fds[j].kind == SOCKET_FIFO || kind == SOCKET_FIFO)) {
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

                n_fds[li]++;
                ret->fds[ret->n_fds++] = (listen_fd) {
                        .fd = fd,
                        .kind = kind,
                        .listener = (size_t) li,
                };
        }

        for (size_t i = 0; i < settings->n_listeners; i++)
                if (n_fds[i] == 0) {
                        r = set_error(ret_error,
                                      "listener '%s': no file descriptor named '%s' in LISTEN_FDNAMES",
                                      settings->listeners[i].name, settings->listeners[i].name);
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

void listen_fds_done(listen_fds *l) {
        for (size_t i = 0; i < l->n_fds; i++)
                safe_close(l->fds[i].fd);
        l->fds = mfree(l->fds);
        l->n_fds = 0;
        l->anvil_shared_fd = safe_close(l->anvil_shared_fd);
}
