/* SPDX-License-Identifier: MIT */
/*
 * spawn-floor: the physical floor of a worker start on this machine: N times fork + exec +
 * waitpid of one command line, in J loops side by side (processes), and the rate.
 *
 *     spawn-floor [-n N] [-j J] [-w W] COMMAND [ARGS...]
 *
 *     -n N   spawns in all (default 2000), split evenly over the loops
 *     -j J   loops running at once (default: the number of online CPUs)
 *     -w W   spawns per loop before the clock starts (default 20: page cache, ld.so cache)
 *
 * Prints one line:
 *
 *     spawns=N secs=S rate=R cpu_us=C failed=F
 *
 * rate: spawns per second over the wall clock; cpu_us: CPU time per spawn (the loops and the
 * children they reaped, user + system), which other jobs on a shared machine disturb less
 * than the rate; failed: children that did not exit (a nonzero exit status is fine: the
 * demo with an argument exits 2 at once). The children's stdin, stdout and stderr are
 * /dev/null. No vfork, no posix_spawn: fork + exec is what dovesd-supervisor does.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_children(void) {
        struct rusage ru;

        getrusage(RUSAGE_CHILDREN, &ru);
        return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
               ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* One fork + exec + waitpid. Returns 0 when the child exited (any status), -1 otherwise. */
static int spawn(char **argv, int null_fd) {
        pid_t pid;
        int status;

        pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                (void) dup2(null_fd, 0);
                (void) dup2(null_fd, 1);
                (void) dup2(null_fd, 2);
                execv(argv[0], argv);
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) == 127)
                return -1;
        return 0;
}

/* A loop: n spawns; exits with the number that failed (capped at 255). */
static int loop(char **argv, long n, int null_fd) {
        long failed = 0;

        for (long i = 0; i < n; i++)
                if (spawn(argv, null_fd) < 0)
                        failed++;
        return failed > 255 ? 255 : (int) failed;
}

int main(int argc, char *argv[]) {
        long n = 2000, warm = 20, jobs = sysconf(_SC_NPROCESSORS_ONLN), failed = 0;
        int opt, null_fd, ready_fd[2], go_fd[2];
        double t0, t1, cpu;

        while ((opt = getopt(argc, argv, "+n:j:w:")) != -1)
                switch (opt) {
                case 'n': n = atol(optarg); break;
                case 'j': jobs = atol(optarg); break;
                case 'w': warm = atol(optarg); break;
                default:
                        fprintf(stderr, "usage: spawn-floor [-n N] [-j J] [-w W] COMMAND [ARGS...]\n");
                        return 2;
                }
        if (optind >= argc || n < 1 || jobs < 1 || warm < 0) {
                fprintf(stderr, "usage: spawn-floor [-n N] [-j J] [-w W] COMMAND [ARGS...]\n");
                return 2;
        }
        if (jobs > n)
                jobs = n;
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd < 0) {
                perror("spawn-floor: /dev/null");
                return 1;
        }
        if (spawn(argv + optind, null_fd) < 0) {
                fprintf(stderr, "spawn-floor: %s: cannot run it\n", argv[optind]);
                return 1;
        }

        /* Each loop warms up, says so on the ready pipe, then waits for the go pipe to close,
         * so that the clock starts with every loop running. */
        if (pipe2(ready_fd, O_CLOEXEC) < 0 || pipe2(go_fd, O_CLOEXEC) < 0) {
                perror("spawn-floor: pipe");
                return 1;
        }
        for (long j = 0; j < jobs; j++) {
                pid_t pid = fork();
                char c = 0;

                if (pid < 0) {
                        perror("spawn-floor: fork");
                        return 1;
                }
                if (pid == 0) {
                        close(go_fd[1]);
                        (void) loop(argv + optind, warm, null_fd);
                        if (write(ready_fd[1], &c, 1) != 1 || read(go_fd[0], &c, 1) < 0)
                                _exit(255);
                        _exit(loop(argv + optind, n / jobs + (j < n % jobs), null_fd));
                }
        }
        close(ready_fd[1]);
        close(go_fd[0]);
        for (long j = 0; j < jobs; j++) {
                char c;

                if (read(ready_fd[0], &c, 1) != 1) {
                        fprintf(stderr, "spawn-floor: a loop failed in its warm-up\n");
                        return 1;
                }
        }
        t0 = now();
        close(go_fd[1]);        /* every loop's read() returns 0: go */
        for (long j = 0; j < jobs; j++) {
                int status;

                if (wait(&status) < 0)
                        break;
                failed += WIFEXITED(status) ? WEXITSTATUS(status) : n / jobs;
        }
        t1 = now();
        /* The loops' CPU includes their warm-up spawns: count those too. */
        cpu = cpu_children() / (n + warm * jobs);

        printf("spawns=%ld secs=%.3f rate=%.0f cpu_us=%.0f failed=%ld\n", n, t1 - t0,
               n / (t1 - t0), cpu * 1e6, failed);
        return failed > 0;
}
