/* SPDX-License-Identifier: MIT */

/*
 * A program as it was built against libdovesd 0.1: it declares the 0.1 API itself (no
 * dovesd.h), so its call binds to dovesd_service_run@DOVESD_0.1, and it hands the library a
 * 0.1 dovesd_callbacks (six pointers) that ends right at a PROT_NONE page. A library that
 * read one byte more than the 0.1 struct would die of SIGSEGV here. Prints TAP.
 */

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* libdovesd 0.1's public API, as its header declared it */
typedef struct dovesd_service dovesd_service;
typedef struct dovesd_conn dovesd_conn;
typedef struct callbacks_0_1 {
        int (*connection)(dovesd_conn *conn, void *userdata);
        void (*disconnect)(dovesd_conn *conn, void *userdata);
        int (*fifo_readable)(dovesd_service *s, const char *listener, int fd, void *userdata);
        int (*reload)(dovesd_service *s, void *userdata);
        void (*overflow)(dovesd_conn *conn, void *userdata);
        void (*stop)(dovesd_service *s, void *userdata);
} callbacks_0_1;
int dovesd_service_new(dovesd_service **ret, char **ret_error);
int dovesd_service_run(dovesd_service *s, const callbacks_0_1 *cb, void *userdata);
/* DOVESD_0.2: the size-versioned entry point every newer program calls */
int dovesd_service_run_sized(dovesd_service *s, const void *cb, size_t size, void *userdata);
dovesd_service *dovesd_service_unref(dovesd_service *s);

static int on_connection(dovesd_conn *conn, void *userdata) {
        return -1;
}

/* The 0.1 struct at the very end of a readable page, a PROT_NONE page after it. */
static callbacks_0_1 *guarded_callbacks(void) {
        long page = sysconf(_SC_PAGESIZE);
        char *m = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        callbacks_0_1 *cb;

        if (m == MAP_FAILED || mprotect(m + page, page, PROT_NONE) < 0)
                return NULL;
        cb = (callbacks_0_1 *) (m + page - sizeof(callbacks_0_1));
        memset(cb, 0, sizeof(*cb));
        cb->connection = on_connection;
        return cb;
}

/* A struct of SIZE bytes (only connection set) at the very end of a readable page. */
static void *guarded(size_t size) {
        long page = sysconf(_SC_PAGESIZE);
        char *m = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int (**connection)(dovesd_conn *, void *);

        if (m == MAP_FAILED || mprotect(m + page, page, PROT_NONE) < 0)
                return NULL;
        connection = (void *) (m + page - size);
        memset(connection, 0, size);
        *connection = on_connection;
        return connection;
}

static int child_status(pid_t pid) {
        int status = 0;

        (void) waitpid(pid, &status, 0);
        return status;
}

int main(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        callbacks_0_1 *cb = guarded_callbacks();
        dovesd_service *s = NULL;
        char *error = NULL, pid[16];
        int fd, status, r;

        (void) r;
        pid_t p;

        printf("1..4\n");
        if (!cb) {
                printf("Bail out! cannot map the guarded page\n");
                return 1;
        }

        /* The guard works: one byte past the struct faults. */
        fflush(stdout);
        p = fork();
        if (p == 0) {
                volatile char c = ((volatile char *) cb)[sizeof(*cb)];
                (void) c;
                _exit(0);
        }
        status = child_status(p);
        printf("%s 1 - the byte after the 0.1 struct faults (the test can fail)\n",
               WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV ? "ok" : "not ok");

        /* A listening socket at fd 3, passed as systemd passes it; the service exits after an
         * idle second (process_limit 1, idle_kill 1). */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 4) < 0 ||
            dup2(fd, 3) < 0) {
                printf("Bail out! no listening socket\n");
                return 1;
        }
        setenv("LISTEN_FDS", "1", 1);
        setenv("LISTEN_FDNAMES", "t", 1);
        setenv("DOVESD_SERVICE", "abi", 1);
        setenv("DOVESD_CLIENT_LIMIT", "1", 1);
        setenv("DOVESD_LISTENERS", "t", 1);
        setenv("DOVESD_IDLE_KILL", "1", 1);
        unsetenv("NOTIFY_SOCKET");

        /* In a child (the event loop belongs to the process that made it), so that a fault
         * is reported rather than fatal to the test. */
        fflush(stdout);
        p = fork();
        if (p == 0) {
                snprintf(pid, sizeof(pid), "%d", (int) getpid());
                setenv("LISTEN_PID", pid, 1);
                r = dovesd_service_new(&s, &error);
                if (r < 0) {
                        fprintf(stderr, "dovesd_service_new: %d %s\n", r, error ?: "");
                        _exit(2);
                }
                r = dovesd_service_run(s, cb, NULL);
                dovesd_service_unref(s);
                _exit(r == 0 ? 0 : 1);
        }
        status = child_status(p);
        printf("%s 2 - dovesd_service_new in the 0.1-built program\n",
               WIFEXITED(status) && WEXITSTATUS(status) == 2 ? "not ok" : "ok");
        printf("%s 3 - a 0.1-built caller runs: dovesd_service_run@DOVESD_0.1 reads the six "
               "callbacks and no byte more (status %d)\n",
               WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "not ok", status);

        fflush(stdout);
        p = fork();
        if (p == 0) {
                snprintf(pid, sizeof(pid), "%d", (int) getpid());
                setenv("LISTEN_PID", pid, 1);
                if (dovesd_service_new(&s, &error) < 0)
                        _exit(2);
                _exit(dovesd_service_run_sized(s, guarded(sizeof(void *)), sizeof(void *),
                                               NULL) == 0 ? 0 : 1);
        }
        status = child_status(p);
        printf("%s 4 - dovesd_service_run_sized reads SIZE bytes and no more (a one-callback "
               "struct at a page end; status %d)\n",
               WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "not ok", status);
        return 0;
}
