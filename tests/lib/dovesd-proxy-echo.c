/* SPDX-License-Identifier: MIT */
/* proxy-echo on libdovesd: a service that takes its listeners from systemd-style socket
 * activation (LISTEN_FDS, DOVESD_*), lets libdovesd read the PROXY header on haproxy=yes
 * listeners, and answers each client with the same line as tests/lib/proxy-echo.c:
 *   version=- local=- src=IP:PORT dst=IP:PORT ssl=0|1 cn=X alpn=X authority=X data=LINE
 * where src/dst are what dovesd_conn_get_remote()/get_local() report. Used by
 * test-haproxy.sh under systemd-socket-activate. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dovesd.h"

static void fmt_addr(const struct sockaddr *sa, char *out, size_t size) {
        char ip[INET6_ADDRSTRLEN] = "?";

        if (!sa)
                snprintf(out, size, "-");
        else if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;

                inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
                snprintf(out, size, "%s:%u", ip, ntohs(sin->sin_port));
        } else if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;

                inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
                snprintf(out, size, "[%s]:%u", ip, ntohs(sin6->sin6_port));
        } else
                snprintf(out, size, "family-%d", sa->sa_family);
}

/* Reads one line (the fd is non-blocking; a test client sends it at once). */
static void read_line(int fd, char *buf, size_t size) {
        size_t used = 0;

        while (used + 1 < size) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                char c;
                ssize_t n;

                if (poll(&p, 1, 3000) <= 0)
                        break;
                n = recv(fd, &c, 1, 0);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0 || c == '\n')
                        break;
                if (c != '\r')
                        buf[used++] = c;
        }
        buf[used] = '\0';
}

static int on_connection(dovesd_conn *c, void *userdata) {
        char data[256], src[80], dst[80], line[1024];
        const char *alpn = dovesd_conn_get_proxy_alpn(c);
        const char *authority = dovesd_conn_get_proxy_authority(c);
        const char *cn = dovesd_conn_get_proxy_ssl_cn(c);
        int fd = dovesd_conn_get_fd(c);

        read_line(fd, data, sizeof(data));
        fmt_addr(dovesd_conn_get_remote(c, NULL), src, sizeof(src));
        fmt_addr(dovesd_conn_get_local(c, NULL), dst, sizeof(dst));
        snprintf(line, sizeof(line),
                 "version=- local=%d src=%s dst=%s ssl=%d cn=%s alpn=%s authority=%s data=%s\n",
                 !dovesd_conn_is_proxied(c), src, dst, dovesd_conn_get_proxy_ssl(c),
                 cn ?: "-", alpn ?: "-", authority ?: "-", data);
        (void) send(fd, line, strlen(line), MSG_NOSIGNAL);
        dovesd_conn_close(c);
        return 0;
}

int main(void) {
        static const dovesd_callbacks cb = { .connection = on_connection };
        dovesd_service *s = NULL;
        char *error = NULL;
        int r;

        r = dovesd_service_new(&s, &error);
        if (r < 0) {
                fprintf(stderr, "dovesd-proxy-echo: %s\n", error ?: strerror(-r));
                free(error);
                return 1;
        }
        r = dovesd_service_run(s, &cb, NULL);
        dovesd_service_unref(s);
        if (r < 0) {
                fprintf(stderr, "dovesd-proxy-echo: run: %s\n", strerror(-r));
                return 1;
        }
        return 0;
}
