/* SPDX-License-Identifier: MIT */
/*
 * loadgen: a closed-loop connection load client for the benchmarks in bench/.
 *
 * Every connection: connect, read the greeting line, send the logout command, read until the
 * server closes. With -c N there are always N connections in flight (closed loop): when one
 * finishes, the next starts. One thread, epoll, non-blocking sockets.
 *
 *     loadgen [-a ADDR] -p PORT [-c N] [-d SECONDS | -n COUNT] [-w WARMUP] [-s COMMAND]
 *             [-g PREFIX] [-t TIMEOUT] [-m load|idle|cold] [-k K]
 *
 *   -m load   (default) the closed loop; prints one result line:
 *             conns=… secs=… cps=… p50_us=… p99_us=… max_us=… refused=… reset=… timeout=… other=…
 *             total=… (total: every finished dialogue, warm-up and drain included)
 *   -m idle   open K connections (at most N connecting at a time), read each greeting, print
 *             "idle K opened" and hold them until stdin reaches EOF; then close them all.
 *   -m cold   one connection: prints greeting_us=… (connect to the end of the greeting line)
 *             and total_us=… (to the server's close after the logout command).
 *
 * Latency is from the connect() call to the server's close (EOF), in microseconds. A
 * connection that the server refuses, resets, or that does not finish within the timeout
 * (default 10 s) is counted under its reason and not in the latency figures. The greeting
 * must start with PREFIX (default "* OK"), or the connection counts as "other".
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { ST_FREE, ST_CONNECTING, ST_GREETING, ST_DRAIN, ST_IDLE };

typedef struct conn {
        int fd;
        enum state state;
        uint64_t start_us;
        char buf[512];
        size_t n_buf;
        bool sent;
} conn;

static struct {
        struct sockaddr_in addr;
        unsigned concurrency;
        double duration;
        uint64_t count;
        double warmup;
        const char *command;
        const char *prefix;
        double timeout;
        const char *mode;
        unsigned idle_k;
} arg = {
        .concurrency = 50,
        .duration = 5,
        .warmup = 0.5,
        .command = "LOGOUT\r\n",
        .prefix = "* OK",
        .timeout = 10,
        .mode = "load",
        .idle_k = 1000,
};

static struct {
        uint64_t *lat;
        size_t n_lat, size_lat;
        uint64_t refused, reset, timeout, other;
        uint64_t started;
        uint64_t done_all;      /* finished dialogues, warm-up and drain included */
        bool measuring;
} res;

static int epfd = -1;

static uint64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static int record_latency(uint64_t us) {
        if (!res.measuring)
                return 0;
        if (res.n_lat == res.size_lat) {
                size_t n = res.size_lat ? res.size_lat * 2 : 65536;
                uint64_t *p = realloc(res.lat, n * sizeof(*p));

                if (!p)
                        return -ENOMEM;
                res.lat = p;
                res.size_lat = n;
        }
        res.lat[res.n_lat++] = us;
        return 0;
}

static void conn_end(conn *c) {
        if (c->fd >= 0) {
                (void) epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
        }
        c->fd = -1;
        c->state = ST_FREE;
}

static void conn_fail(conn *c, int err) {
        if (res.measuring) {
                if (err == ECONNREFUSED)
                        res.refused++;
                else if (err == ECONNRESET || err == EPIPE)
                        res.reset++;
                else if (err == ETIMEDOUT)
                        res.timeout++;
                else
                        res.other++;
        }
        conn_end(c);
}

static int conn_start(conn *c) {
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c };
        int fd, r;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        c->fd = fd;
        c->n_buf = 0;
        c->sent = false;
        c->start_us = now_us();
        c->state = ST_CONNECTING;
        res.started++;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                r = -errno;
                conn_end(c);
                return r;
        }
        if (connect(fd, (struct sockaddr *) &arg.addr, sizeof(arg.addr)) < 0 &&
            errno != EINPROGRESS) {
                conn_fail(c, errno);
                return 0;
        }
        return 0;
}

/* Returns 1 when the connection finished (successfully or not), 0 to wait for more. */
static int conn_io(conn *c, uint32_t events, uint64_t *ret_greeting_us) {
        if (c->state == ST_CONNECTING) {
                int err = 0;
                socklen_t len = sizeof(err);

                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
                if (err != 0) {
                        conn_fail(c, err);
                        return 1;
                }
                if (!(events & (EPOLLOUT | EPOLLIN | EPOLLHUP | EPOLLERR)))
                        return 0;
                c->state = ST_GREETING;
                struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
                (void) epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        }

        for (;;) {
                char tmp[512];
                ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        conn_fail(c, errno);
                        return 1;
                }
                if (n == 0) {
                        if (c->state == ST_DRAIN) {
                                uint64_t t = now_us();

                                res.done_all++;
                                if (record_latency(t - c->start_us) < 0)
                                        return -ENOMEM;
                                conn_end(c);
                                return 1;
                        }
                        /* closed before the greeting was complete or before our logout */
                        conn_fail(c, ECONNRESET);
                        return 1;
                }
                if (c->state != ST_GREETING)
                        continue;       /* ST_DRAIN / ST_IDLE: the rest of the dialogue */

                size_t take = (size_t) n;
                if (take > sizeof(c->buf) - 1 - c->n_buf)
                        take = sizeof(c->buf) - 1 - c->n_buf;
                memcpy(c->buf + c->n_buf, tmp, take);
                c->n_buf += take;
                c->buf[c->n_buf] = '\0';
                if (!memchr(c->buf, '\n', c->n_buf)) {
                        if (c->n_buf >= sizeof(c->buf) - 1) {
                                conn_fail(c, EPROTO);
                                return 1;
                        }
                        continue;
                }
                if (strncmp(c->buf, arg.prefix, strlen(arg.prefix)) != 0) {
                        conn_fail(c, EPROTO);
                        return 1;
                }
                if (ret_greeting_us)
                        *ret_greeting_us = now_us() - c->start_us;
                if (strcmp(arg.mode, "idle") == 0) {
                        c->state = ST_IDLE;
                        return 1;
                }
                if (send(c->fd, arg.command, strlen(arg.command), MSG_NOSIGNAL) < 0) {
                        conn_fail(c, errno);
                        return 1;
                }
                c->state = ST_DRAIN;
        }
}

static void expire(conn *conns, unsigned n, uint64_t t) {
        uint64_t limit = (uint64_t) (arg.timeout * 1e6);

        for (unsigned i = 0; i < n; i++)
                if (conns[i].state != ST_FREE && conns[i].state != ST_IDLE &&
                    t - conns[i].start_us > limit)
                        conn_fail(&conns[i], ETIMEDOUT);
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

static uint64_t pct(double p) {
        size_t i;

        if (res.n_lat == 0)
                return 0;
        i = (size_t) (p * (double) (res.n_lat - 1) + 0.5);
        return res.lat[i];
}

static int run_load(void) {
        struct epoll_event evs[256];
        conn *conns;
        uint64_t t0, t_measure, t_end, t_stop_measure = 0;
        bool stop = false;
        unsigned active = 0;
        int r;

        conns = calloc(arg.concurrency, sizeof(*conns));
        if (!conns)
                return -ENOMEM;
        t0 = now_us();
        t_measure = t0 + (uint64_t) (arg.warmup * 1e6);
        t_end = t_measure + (uint64_t) (arg.duration * 1e6);
        res.measuring = arg.warmup <= 0;
        if (res.measuring)
                t_measure = t0;

        for (unsigned i = 0; i < arg.concurrency; i++) {
                conns[i].fd = -1;
                r = conn_start(&conns[i]);
                if (r < 0)
                        return r;
        }
        for (unsigned i = 0; i < arg.concurrency; i++)
                active += conns[i].state != ST_FREE;

        while (active > 0 || !stop) {
                int n = epoll_wait(epfd, evs, 256, 50);
                uint64_t t;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < n; i++) {
                        r = conn_io(evs[i].data.ptr, evs[i].events, NULL);
                        if (r < 0)
                                return r;
                }
                t = now_us();
                expire(conns, arg.concurrency, t);
                if (!res.measuring && !stop && t >= t_measure) {
                        res.measuring = true;
                        t_measure = t;
                }
                if (!stop && ((arg.count == 0 && t >= t_end) ||
                              (arg.count > 0 && res.measuring &&
                               res.n_lat + res.refused + res.reset + res.timeout + res.other >=
                               arg.count))) {
                        stop = true;
                        t_stop_measure = t;
                        res.measuring = false;  /* the rest finish unrecorded */
                }
                active = 0;
                for (unsigned i = 0; i < arg.concurrency; i++) {
                        if (conns[i].state == ST_FREE && !stop) {
                                r = conn_start(&conns[i]);
                                if (r < 0)
                                        return r;
                        }
                        active += conns[i].state != ST_FREE;
                }
        }

        double secs = (double) (t_stop_measure - t_measure) / 1e6;
        qsort(res.lat, res.n_lat, sizeof(uint64_t), cmp_u64);
        printf("conns=%zu secs=%.3f cps=%.1f p50_us=%" PRIu64 " p99_us=%" PRIu64 " max_us=%" PRIu64
               " refused=%" PRIu64 " reset=%" PRIu64 " timeout=%" PRIu64 " other=%" PRIu64
               " total=%" PRIu64 "\n",
               res.n_lat, secs, secs > 0 ? (double) res.n_lat / secs : 0.0, pct(0.5), pct(0.99),
               res.n_lat ? res.lat[res.n_lat - 1] : 0, res.refused, res.reset, res.timeout,
               res.other, res.done_all);
        free(conns);
        return 0;
}

static int run_idle(void) {
        struct epoll_event evs[256];
        conn *conns;
        unsigned next = 0, connecting = 0, opened = 0, failed = 0;
        int r;

        conns = calloc(arg.idle_k, sizeof(*conns));
        if (!conns)
                return -ENOMEM;
        for (unsigned i = 0; i < arg.idle_k; i++)
                conns[i].fd = -1;
        res.measuring = true;

        while (opened + failed < arg.idle_k) {
                while (next < arg.idle_k && connecting < arg.concurrency) {
                        r = conn_start(&conns[next++]);
                        if (r < 0)
                                return r;
                        connecting++;
                }
                int n = epoll_wait(epfd, evs, 256, 50);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < n; i++) {
                        conn *c = evs[i].data.ptr;

                        if (c->state == ST_IDLE || c->state == ST_FREE)
                                continue;
                        r = conn_io(c, evs[i].events, NULL);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                connecting--;
                                if (c->state == ST_IDLE)
                                        opened++;
                                else
                                        failed++;
                        }
                }
                uint64_t t = now_us();
                for (unsigned i = 0; i < next; i++)
                        if (conns[i].state != ST_FREE && conns[i].state != ST_IDLE &&
                            t - conns[i].start_us > (uint64_t) (arg.timeout * 1e6)) {
                                conn_fail(&conns[i], ETIMEDOUT);
                                connecting--;
                                failed++;
                        }
        }
        printf("idle %u opened failed=%u refused=%" PRIu64 " reset=%" PRIu64 " timeout=%" PRIu64
               " other=%" PRIu64 "\n", opened, failed, res.refused, res.reset, res.timeout,
               res.other);
        fflush(stdout);

        /* Hold until stdin ends (the caller has measured). */
        char b[64];
        while (read(STDIN_FILENO, b, sizeof(b)) > 0)
                ;
        for (unsigned i = 0; i < arg.idle_k; i++)
                if (conns[i].fd >= 0)
                        close(conns[i].fd);
        free(conns);
        return 0;
}

static int run_cold(void) {
        struct epoll_event evs[4];
        conn c = { .fd = -1 };
        uint64_t greeting_us = 0;
        int r;

        res.measuring = true;
        r = conn_start(&c);
        if (r < 0)
                return r;
        while (c.state != ST_FREE) {
                int n = epoll_wait(epfd, evs, 4, 50);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < n; i++) {
                        r = conn_io(&c, evs[i].events, &greeting_us);
                        if (r < 0)
                                return r;
                }
                expire(&c, 1, now_us());
        }
        if (res.n_lat != 1) {
                printf("greeting_us=0 total_us=0 refused=%" PRIu64 " reset=%" PRIu64
                       " timeout=%" PRIu64 " other=%" PRIu64 "\n",
                       res.refused, res.reset, res.timeout, res.other);
                return 1;
        }
        printf("greeting_us=%" PRIu64 " total_us=%" PRIu64 "\n", greeting_us, res.lat[0]);
        return 0;
}

static void usage(void) {
        fprintf(stderr, "usage: loadgen [-a ADDR] -p PORT [-c N] [-d SECONDS | -n COUNT] "
                        "[-w WARMUP] [-s COMMAND] [-g PREFIX] [-t TIMEOUT] "
                        "[-m load|idle|cold] [-k K]\n");
}

int main(int argc, char *argv[]) {
        const char *addr = "127.0.0.1";
        struct rlimit rl;
        int port = 0, opt, r;
        char *cmd = NULL;

        while ((opt = getopt(argc, argv, "a:p:c:d:n:w:s:g:t:m:k:h")) != -1) {
                switch (opt) {
                case 'a': addr = optarg; break;
                case 'p': port = atoi(optarg); break;
                case 'c': arg.concurrency = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'd': arg.duration = atof(optarg); break;
                case 'n': arg.count = strtoull(optarg, NULL, 10); break;
                case 'w': arg.warmup = atof(optarg); break;
                case 's':
                        /* the command as given, with CRLF */
                        if (asprintf(&cmd, "%s\r\n", optarg) < 0)
                                return 1;
                        arg.command = cmd;
                        break;
                case 'g': arg.prefix = optarg; break;
                case 't': arg.timeout = atof(optarg); break;
                case 'm': arg.mode = optarg; break;
                case 'k': arg.idle_k = (unsigned) strtoul(optarg, NULL, 10); break;
                default:
                        usage();
                        return 2;
                }
        }
        if (port <= 0 || port > 65535 || arg.concurrency == 0 ||
            inet_pton(AF_INET, addr, &arg.addr.sin_addr) != 1 ||
            (strcmp(arg.mode, "load") != 0 && strcmp(arg.mode, "idle") != 0 &&
             strcmp(arg.mode, "cold") != 0)) {
                usage();
                return 2;
        }
        arg.addr.sin_family = AF_INET;
        arg.addr.sin_port = htons((uint16_t) port);

        /* As many fds as the hard limit allows (the idle mode holds thousands). */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }

        epfd = epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0) {
                perror("epoll_create1");
                return 1;
        }
        if (strcmp(arg.mode, "load") == 0)
                r = run_load();
        else if (strcmp(arg.mode, "idle") == 0)
                r = run_idle();
        else
                r = run_cold();
        free(cmd);
        free(res.lat);
        if (r < 0) {
                fprintf(stderr, "loadgen: %s\n", strerror(-r));
                return 1;
        }
        return r;
}
