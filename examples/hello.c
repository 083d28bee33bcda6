/* SPDX-License-Identifier: MIT */
/*
 * hello: the smallest useful libdovesd service. Every client gets one line,
 *     hello from SERVICE on LISTENER, you are REMOTE
 * and is disconnected. Build it with
 *     cc -o hello hello.c $(pkg-config --cflags --libs libdovesd)
 * and declare it in /etc/dovesd/dovesd.conf:
 *     service hello {
 *       executable = /usr/local/bin/hello
 *       user = nobody
 *       inet_listener hello {
 *         port = 7777
 *       }
 *     }
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <dovesd.h>

static int on_connection(dovesd_conn *c, void *userdata) {
        char line[512];
        int n;

        n = snprintf(line, sizeof(line), "hello from %s on %s, you are %s\r\n",
                     dovesd_service_get_name(dovesd_conn_get_service(c)),
                     dovesd_conn_get_listener(c), dovesd_conn_get_remote_str(c));
        /* The fd is non-blocking; a real service would wait for EPOLLOUT on
         * dovesd_service_get_event() and read the client's commands the same way. */
        (void) send(dovesd_conn_get_fd(c), line, (size_t) n, MSG_NOSIGNAL);
        dovesd_conn_close(c);   /* closes the fd and frees the client slot */
        return 0;
}

int main(void) {
        static const dovesd_callbacks cb = { .connection = on_connection };
        dovesd_service *s = NULL;
        char *error = NULL;
        int r;

        /* 1. Read DOVESD_* and take the sockets systemd passed. */
        r = dovesd_service_new(&s, &error);
        if (r < 0) {
                fprintf(stderr, "hello: %s\n", error ?: strerror(-r));
                free(error);
                return 1;
        }

        /* 2. Still root: open what needs privileges here (keys, logs), then drop them. */
        r = dovesd_service_restrict(s);

        /* 3. Serve until service_count, idle_kill or SIGTERM says stop. */
        if (r >= 0)
                r = dovesd_service_run(s, &cb, NULL);

        dovesd_service_unref(s);
        return r < 0 ? 1 : 0;
}
