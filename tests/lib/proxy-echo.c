/* SPDX-License-Identifier: MIT */
/* Test server for the PROXY parser: proxy-echo ADDRESS TRUSTED-NETWORKS
 *
 * Listens on ADDRESS (an IPv4 or IPv6 literal) with an ephemeral port and prints the port on
 * stdout. For each connection, one at a time: checks the peer against TRUSTED-NETWORKS, reads
 * the PROXY header the way libdovesd does (MSG_PEEK, parse, consume exactly the header), reads
 * one line the client sends after it, and answers with one line:
 *   version=V local=0|1 src=IP:PORT dst=IP:PORT ssl=0|1 cn=X alpn=X authority=X data=LINE
 * or "error=REASON". Runs until killed. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxy.h"

#define HEADER_TIMEOUT_MS 3000

static void fmt_addr(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t size) {
        char ip[INET6_ADDRSTRLEN] = "?";

        if (len == 0)
                snprintf(out, size, "-");
        else if (ss->ss_family == AF_INET) {
                const struct sockaddr_in *sin = (const struct sockaddr_in *) ss;

                inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
                snprintf(out, size, "%s:%u", ip, ntohs(sin->sin_port));
        } else {
                const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) ss;

                inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
                snprintf(out, size, "[%s]:%u", ip, ntohs(sin6->sin6_port));
        }
}

static long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void reply(int fd, const char *line) {
        size_t len = strlen(line);

        while (len > 0) {
                ssize_t n = send(fd, line, len, MSG_NOSIGNAL);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                line += n;
                len -= (size_t) n;
        }
}

/* Reads the header incrementally: returns its length and fills *h, or a negative errno with
 * *reason set. Bytes after the header stay queued on the socket. */
static int read_header(int fd, proxy_header *h, const char **reason) {
        uint8_t buf[PROXY_HEADER_MAX];
        long deadline = now_ms() + HEADER_TIMEOUT_MS;
        ssize_t last = -1;

        for (;;) {
                long left = deadline - now_ms();
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;
                int r;

                if (left <= 0) {
                        *reason = "Client timed out";
                        return -ETIMEDOUT;
                }
                r = poll(&p, 1, (int) left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        continue;

                n = recv(fd, buf, sizeof(buf), MSG_PEEK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        *reason = "Client disconnected";
                        return -ECONNRESET;
                }
                if (n == last) {
                        /* Nothing new since the last peek; the socket stays readable. */
                        nanosleep(&(struct timespec) { .tv_nsec = 5 * 1000 * 1000 }, NULL);
                        continue;
                }
                last = n;

                r = proxy_header_parse(buf, (size_t) n, h, reason);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;

                /* Consume exactly the header. */
                n = recv(fd, buf, (size_t) r, 0);
                if (n != r) {
                        proxy_header_done(h);
                        *reason = "Failed to read full header";
                        return -EIO;
                }
                return r;
        }
}

static void serve(int fd, const proxy_networks *trusted) {
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof(peer);
        const char *reason = NULL;
        char line[1024], data[256] = "", src[80], dst[80];
        proxy_header h;
        size_t used = 0;
        int r;

        if (getpeername(fd, (struct sockaddr *) &peer, &peer_len) < 0 ||
            !proxy_networks_contain(trusted, (struct sockaddr *) &peer)) {
                reply(fd, "error=Client not trusted\n");
                return;
        }

        r = read_header(fd, &h, &reason);
        if (r < 0) {
                snprintf(line, sizeof(line), "error=%s\n", reason);
                reply(fd, line);
                return;
        }

        /* The first line after the header, read a byte at a time up to LF. */
        while (used + 1 < sizeof(data)) {
                char c;
                ssize_t n = recv(fd, &c, 1, 0);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0 || c == '\n')
                        break;
                if (c != '\r')
                        data[used++] = c;
        }
        data[used] = '\0';

        fmt_addr(&h.src, h.src_len, src, sizeof(src));
        fmt_addr(&h.dst, h.dst_len, dst, sizeof(dst));
        snprintf(line, sizeof(line),
                 "version=%u local=%d src=%s dst=%s ssl=%d cn=%s alpn=%.*s authority=%s data=%s\n",
                 h.version, h.local, src, dst, h.ssl, h.ssl_cn ? h.ssl_cn : "-",
                 h.alpn ? (int) h.alpn_len : 1, h.alpn ? (const char *) h.alpn : "-",
                 h.authority ? h.authority : "-", data);
        reply(fd, line);
        proxy_header_done(&h);
}

int main(int argc, char *argv[]) {
        struct sockaddr_storage ss = {};
        socklen_t len;
        proxy_networks *trusted = NULL;
        char *error = NULL;
        int fd, r;

        if (argc != 3) {
                fprintf(stderr, "Usage: %s ADDRESS TRUSTED-NETWORKS\n", argv[0]);
                return 2;
        }

        r = proxy_networks_parse(argv[2], &trusted, &error);
        if (r < 0) {
                fprintf(stderr, "%s\n", error ? error : strerror(-r));
                return 1;
        }

        if (strchr(argv[1], ':')) {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;

                sin6->sin6_family = AF_INET6;
                if (inet_pton(AF_INET6, argv[1], &sin6->sin6_addr) != 1)
                        return 2;
                len = sizeof(*sin6);
        } else {
                struct sockaddr_in *sin = (struct sockaddr_in *) &ss;

                sin->sin_family = AF_INET;
                if (inet_pton(AF_INET, argv[1], &sin->sin_addr) != 1)
                        return 2;
                len = sizeof(*sin);
        }

        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &ss, len) < 0 || listen(fd, 16) < 0) {
                perror("proxy-echo: listen");
                return 1;
        }
        len = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0) {
                perror("proxy-echo: getsockname");
                return 1;
        }
        printf("%u\n", ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
                                                     : ((struct sockaddr_in6 *) &ss)->sin6_port));
        fflush(stdout);

        for (;;) {
                int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

                if (c < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        perror("proxy-echo: accept");
                        return 1;
                }
                serve(c, trusted);
                close(c);
        }
}
