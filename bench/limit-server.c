/* SPDX-License-Identifier: MIT */
/*
 * limit-server: the baseline of bench/: a bare epoll accept loop in C (no libdovesd, no
 * sd-event) speaking the demo's two-line dialogue, in P processes that share one listening
 * socket. What a hand-written server costs is the limit that dovesd's pool is measured
 * against.
 *
 *     limit-server [-a ADDR] -p PORT [-P PROCESSES] [-b BACKLOG]
 *
 *     (connect)  * OK limit-server ready
 *     LOGOUT     * BYE            and the server closes
 *     (other)    BAD unknown command
 *
 * Each client has the same state as one of dovesd-demo's: a non-blocking fd and a line
 * buffer of 1 KiB (the demo's longest line), allocated on accept, freed on close. Output is
 * a few bytes that a fresh socket always takes, so there is no output queue. Stops on
 * SIGTERM/SIGINT (the parent forwards it to the children).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINE_MAX_BYTES 1024
#define ACCEPT_BURST 16

typedef struct client {
        int fd;
        size_t n_in;
        char in[LINE_MAX_BYTES + 1];
} client;

static const char greeting[] = "* OK limit-server ready\r\n";
static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        stop = 1;
}

static void client_close(int epfd, client *c) {
        (void) epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        free(c);
}

static void say(client *c, const char *text) {
        (void) send(c->fd, text, strlen(text), MSG_NOSIGNAL);
}

/* Returns true when the client is done (LOGOUT or gone). */
static bool client_read(client *c) {
        for (;;) {
                ssize_t n = recv(c->fd, c->in + c->n_in, LINE_MAX_BYTES - c->n_in, 0);
                char *nl;

                if (n < 0)
                        return !(errno == EAGAIN || errno == EINTR);
                if (n == 0)
                        return true;
                c->n_in += (size_t) n;
                while ((nl = memchr(c->in, '\n', c->n_in))) {
                        size_t len = (size_t) (nl - c->in);

                        *nl = '\0';
                        if (len > 0 && c->in[len - 1] == '\r')
                                c->in[len - 1] = '\0';
                        if (strcasecmp(c->in, "LOGOUT") == 0) {
                                say(c, "* BYE\r\n");
                                return true;
                        }
                        say(c, "BAD unknown command\r\n");
                        memmove(c->in, nl + 1, c->n_in - len - 1);
                        c->n_in -= len + 1;
                }
                if (c->n_in >= LINE_MAX_BYTES) {
                        say(c, "BAD line too long\r\n");
                        return true;
                }
        }
}

static int serve(int lfd) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL }, evs[256];
        int epfd;

        epfd = epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) {
                perror("limit-server: epoll");
                return 1;
        }
        while (!stop) {
                int n = epoll_wait(epfd, evs, 256, -1);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("limit-server: epoll_wait");
                        return 1;
                }
                for (int i = 0; i < n; i++) {
                        client *c = evs[i].data.ptr;

                        if (c) {
                                if (client_read(c))
                                        client_close(epfd, c);
                                continue;
                        }
                        for (int k = 0; k < ACCEPT_BURST; k++) {
                                int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                                if (cfd < 0)
                                        break;  /* EAGAIN: another process took it */
                                c = malloc(sizeof(*c));
                                if (!c) {
                                        close(cfd);
                                        continue;
                                }
                                c->fd = cfd;
                                c->n_in = 0;
                                struct epoll_event cev = { .events = EPOLLIN, .data.ptr = c };
                                if (epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev) < 0) {
                                        close(cfd);
                                        free(c);
                                        continue;
                                }
                                say(c, greeting);
                        }
                }
        }
        return 0;
}

int main(int argc, char *argv[]) {
        struct sockaddr_in sa = { .sin_family = AF_INET };
        const char *addr = "127.0.0.1";
        int port = 0, procs = 2, backlog = 511, opt, lfd, one = 1, r;
        struct sigaction act = { .sa_handler = on_signal };
        struct rlimit rl;
        pid_t *kids;

        while ((opt = getopt(argc, argv, "a:p:P:b:")) != -1) {
                switch (opt) {
                case 'a': addr = optarg; break;
                case 'p': port = atoi(optarg); break;
                case 'P': procs = atoi(optarg); break;
                case 'b': backlog = atoi(optarg); break;
                default:
                        fprintf(stderr, "usage: limit-server [-a ADDR] -p PORT [-P PROCESSES] "
                                        "[-b BACKLOG]\n");
                        return 2;
                }
        }
        if (port <= 0 || port > 65535 || procs < 1 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
                fprintf(stderr, "limit-server: bad arguments\n");
                return 2;
        }
        sa.sin_port = htons((uint16_t) port);

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }

        lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(lfd, backlog) < 0) {
                perror("limit-server: listen");
                return 1;
        }

        sigaction(SIGTERM, &act, NULL);
        sigaction(SIGINT, &act, NULL);
        signal(SIGPIPE, SIG_IGN);

        kids = calloc((size_t) procs, sizeof(pid_t));
        if (!kids)
                return 1;
        for (int i = 1; i < procs; i++) {
                kids[i] = fork();
                if (kids[i] < 0) {
                        perror("limit-server: fork");
                        return 1;
                }
                if (kids[i] == 0)
                        return serve(lfd);
        }
        printf("limit-server: %d processes on %s:%d\n", procs, addr, port);
        fflush(stdout);
        r = serve(lfd);
        for (int i = 1; i < procs; i++) {
                kill(kids[i], SIGTERM);
                waitpid(kids[i], NULL, 0);
        }
        free(kids);
        return r;
}
