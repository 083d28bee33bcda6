/* SPDX-License-Identifier: MIT */

/*
 * Dovecot 2.3's programs as workers of dovesd-supervisor: the exec with Dovecot's master
 * contract, the status pipe, the login notify file, the version check string. See
 * dovecot.h and reference/dovecot-master-contract.md. Self-contained: libc only.
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dovecot.h"
#include "macro.h"



_Static_assert(sizeof(dovecot_status) == DOVECOT_STATUS_SIZE,
               "dovecot_status must have struct master_status's layout");

struct dovecot_exec {
        char *path;             /* argv[0] */
        char **argv;
        char **envp;
        char *base_dir;
        int *src;               /* src[i]: what becomes fd i; -1 = closed */
        int *scratch;           /* written after fork only (the child's own copy) */
        int n_fds;
        int devnull;
};

static bool empty(const char *s) {
        return !s || !*s;
}

static void strv_free_(char **v) {
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

dovecot_exec *dovecot_exec_free(dovecot_exec *e) {
        if (!e)
                return NULL;
        free(e->path);
        strv_free_(e->argv);
        strv_free_(e->envp);
        free(e->base_dir);
        free(e->src);
        free(e->scratch);
        if (e->devnull >= 0)
                close(e->devnull);
        free(e);
        return NULL;
}

char * const *dovecot_exec_envp(const dovecot_exec *e) {
        return e->envp;
}

/* ---- the environment -------------------------------------------------------------------- */

typedef struct envb {
        char **v;
        size_t n;
} envb;

static int env_add(envb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int env_add(envb *b, const char *fmt, ...) {
        va_list ap;
        char *s;
        int k;

        if (!GREEDY_REALLOC(b->v, b->n + 2))
                return -ENOMEM;
        va_start(ap, fmt);
        k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        b->v[b->n++] = s;
        b->v[b->n] = NULL;
        return 0;
}

/* Dovecot's str_append_tabescaped(): \001 → \0011, \t → \001t, \r → \001r, \n → \001n. */
static char *tabescape(const char *s) {
        char *r = malloc(strlen(s) * 2 + 1), *p = r;

        if (!r)
                return NULL;
        for (; *s; s++) {
                switch (*s) {
                case '\001': *p++ = '\001'; *p++ = '1'; break;
                case '\t': *p++ = '\001'; *p++ = 't'; break;
                case '\r': *p++ = '\001'; *p++ = 'r'; break;
                case '\n': *p++ = '\001'; *p++ = 'n'; break;
                default: *p++ = *s;
                }
        }
        *p = '\0';
        return r;
}

static int lookup_user(const char *name, uid_t *ret_uid, gid_t *ret_gid) {
        struct passwd *pw;

        errno = 0;
        pw = getpwnam(name);
        if (!pw)
                return errno > 0 && errno != ENOENT ? -errno : -ESRCH;
        *ret_uid = pw->pw_uid;
        *ret_gid = pw->pw_gid;
        return 0;
}

static int lookup_group(const char *name, gid_t *ret) {
        struct group *gr;

        errno = 0;
        gr = getgrnam(name);
        if (!gr)
                return errno > 0 && errno != ENOENT ? -errno : -ESRCH;
        *ret = gr->gr_gid;
        return 0;
}

/* RESTRICT_*: what Dovecot's master derives from user, group, privileged_group,
 * extra_groups and chroot (service.c service_create(), restrict_access_set_env()). */
static int env_restrict(envb *b, const dovecot_child *c) {
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1, priv = (gid_t) -1;
        int r;

        if (!empty(c->user)) {
                r = lookup_user(c->user, &uid, &gid);
                if (r < 0)
                        return r;
        }
        if (!empty(c->group)) {
                r = lookup_group(c->group, &gid);
                if (r < 0)
                        return r;
        }
        if (!empty(c->privileged_group)) {
                r = lookup_group(c->privileged_group, &priv);
                if (r < 0)
                        return r;
        }
        if (!empty(c->chroot) && (r = env_add(b, "RESTRICT_CHROOT=%s", c->chroot)) < 0)
                return r;
        if (uid != (uid_t) -1 && (r = env_add(b, "RESTRICT_SETUID=%u", (unsigned) uid)) < 0)
                return r;
        if (gid != (gid_t) -1 && (r = env_add(b, "RESTRICT_SETGID=%u", (unsigned) gid)) < 0)
                return r;
        if (priv != (gid_t) -1 &&
            (r = env_add(b, "RESTRICT_SETGID_PRIV=%u", (unsigned) priv)) < 0)
                return r;
        if (!empty(c->extra_groups)) {
                char *list = strdup(c->extra_groups), *save = NULL, *out = NULL;
                bool first = true;
                size_t len = 0;
                FILE *f;

                if (!list)
                        return -ENOMEM;
                f = open_memstream(&out, &len);
                if (!f) {
                        free(list);
                        return -ENOMEM;
                }
                r = 0;
                for (char *w = strtok_r(list, ", \t", &save); w && r == 0;
                     w = strtok_r(NULL, ", \t", &save)) {
                        gid_t g;

                        r = lookup_group(w, &g);
                        if (r == 0)
                                fprintf(f, "%s%u", first ? "" : ",", (unsigned) g);
                        first = false;
                }
                free(list);
                if (fclose(f) != 0 && r == 0)
                        r = -ENOMEM;
                if (r == 0 && out && *out)
                        r = env_add(b, "RESTRICT_SETEXTRAGROUPS=%s", out);
                free(out);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int build_env(envb *b, const dovecot_child *c) {
        static const char *const imported[] = { "TZ", "CORE_OUTOFMEM", "CORE_ERROR" };
        bool anvil = c->type && strcmp(c->type, "anvil") == 0;
        bool config = c->type && strcmp(c->type, "config") == 0;
        const char *stats = c->stats_writer ?: "stats-writer";
        char preserve[64] = "";
        unsigned n_sockets = 0;
        int r = 0;

        /* The order of service_process_setup_environment() and service_dup_fds(). */
        r |= env_add(b, "DOVECOT_CHILD_PROCESS=1");
        if (config)
                r |= env_add(b, "CONFIG_FILE=%s", c->config_file);
        else
                r |= env_add(b, "CONFIG_FILE=%s/config", c->base_dir);
        r |= env_add(b, "SERVICE_NAME=%s", c->service);
        r |= env_add(b, "CLIENT_LIMIT=%u", c->client_limit);
        r |= env_add(b, "PROCESS_LIMIT=%u", c->process_limit);
        r |= env_add(b, "PROCESS_MIN_AVAIL=%u", c->process_min_avail);
        r |= env_add(b, "IDLE_KILL=%u", c->idle_kill);
        if (c->service_count > 0)
                r |= env_add(b, "SERVICE_COUNT=%u", c->service_count);
        r |= env_add(b, "GENERATION=%u", c->generation);
        if (!empty(c->hostname))
                r |= env_add(b, "DOVECOT_HOSTNAME=%s", c->hostname);
        if (!empty(c->hostdomain))
                r |= env_add(b, "DOVECOT_HOSTDOMAIN=%s", c->hostdomain);
        if (!empty(c->dovecot_version))
                r |= env_add(b, "DOVECOT_VERSION=%s", c->dovecot_version);
        if (*stats == '\0')
                ;
        else if (!empty(c->chroot))
                /* In a chroot the socket is expected in the working directory. */
                r |= env_add(b, "STATS_WRITER_SOCKET_PATH=%s", stats);
        else
                r |= env_add(b, "STATS_WRITER_SOCKET_PATH=%s/%s", c->base_dir, stats);
        if (anvil && c->anvil_restarted)
                r |= env_add(b, "ANVIL_RESTARTED=1");
        r |= env_add(b, "LOG_DEBUG=%s", c->log_debug ?: "");
        if (r < 0)
                return -ENOMEM;

        if (anvil)
                n_sockets = 2;          /* the master's and the shared pipe: no settings */
        for (size_t i = 0; i < c->n_listeners; i++, n_sockets++) {
                const dovecot_listener *l = &c->listeners[i];
                char *name = tabescape(l->name ?: "");

                if (!name)
                        return -ENOMEM;
                r = env_add(b, "SOCKET%u_SETTINGS=%s%s%s", n_sockets, name,
                            l->ssl ? "\tssl" : "", l->haproxy ? "\thaproxy" : "");
                free(name);
                if (r < 0)
                        return r;
        }
        r = env_add(b, "SOCKET_COUNT=%u", n_sockets);
        if (r < 0)
                return r;

        r = env_restrict(b, c);
        if (r < 0)
                return r;

        /* import_environment's default (TZ CORE_OUTOFMEM CORE_ERROR), as the master keeps
         * it for its children; DOVECOT_PRESERVE_ENVS names them. */
        for (size_t i = 0; i < ELEMENTSOF(imported); i++) {
                const char *v = getenv(imported[i]);

                if (!v)
                        continue;
                r = env_add(b, "%s=%s", imported[i], v);
                if (r < 0)
                        return r;
                if (preserve[0])
                        strcat(preserve, " ");
                strcat(preserve, imported[i]);
        }
        if (preserve[0] && (r = env_add(b, "DOVECOT_PRESERVE_ENVS=%s", preserve)) < 0)
                return r;
        return 0;
}

/* ---- prepare and exec ------------------------------------------------------------------- */

static bool fd_valid(int fd) {
        return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

int dovecot_child_prepare(const dovecot_child *c, dovecot_exec **ret) {
        bool anvil, config;
        envb env = {};
        dovecot_exec *e;
        size_t argc = 0;
        int fd, r;

        if (!c || !ret || empty(c->service) || empty(c->base_dir) || !c->argv ||
            empty(c->argv[0]) || c->argv[0][0] != '/' || c->client_limit == 0)
                return -EINVAL;
        if (c->type && strcmp(c->type, "log") == 0)
                return -EINVAL;         /* journald is the log service */
        anvil = c->type && strcmp(c->type, "anvil") == 0;
        config = c->type && strcmp(c->type, "config") == 0;
        if (config && empty(c->config_file))
                return -EINVAL;
        if (!fd_valid(c->status_fd) || !fd_valid(c->master_dead_fd))
                return -EINVAL;
        /* anvil polls fd 4 (the master passes it new log fds there): a socket is needed. */
        if (anvil && (!fd_valid(c->anvil_master_fd) || !fd_valid(c->anvil_shared_fd) ||
                      !fd_valid(c->login_notify_fd)))
                return -EINVAL;
        for (size_t i = 0; i < c->n_listeners; i++)
                if (!fd_valid(c->listeners[i].fd))
                        return -EINVAL;
        if (c->n_listeners > 1000)
                return -E2BIG;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->devnull = -1;

        r = build_env(&env, c);
        e->envp = env.v;
        if (r < 0)
                goto fail;
        if (!e->envp) {
                r = -ENOMEM;
                goto fail;
        }

        while (c->argv[argc])
                argc++;
        e->argv = calloc(argc + 1, sizeof(char *));
        e->path = strdup(c->argv[0]);
        e->base_dir = strdup(c->base_dir);
        if (!e->argv || !e->path || !e->base_dir) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < argc; i++)
                if (!(e->argv[i] = strdup(c->argv[i]))) {
                        r = -ENOMEM;
                        goto fail;
                }

        e->devnull = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (e->devnull < 0) {
                r = -errno;
                goto fail;
        }

        e->n_fds = DOVECOT_LISTEN_FD_FIRST + (anvil ? 2 : 0) + (int) c->n_listeners;
        e->src = calloc(e->n_fds, sizeof(int));
        e->scratch = calloc(e->n_fds, sizeof(int));
        if (!e->src || !e->scratch) {
                r = -ENOMEM;
                goto fail;
        }
        e->src[0] = e->devnull;
        e->src[1] = c->stdout_fd >= 0 ? c->stdout_fd : e->devnull;
        e->src[2] = c->stderr_fd >= 0 ? c->stderr_fd : STDERR_FILENO;
        /* log, anvil and config get /dev/null at fd 3 (service_dup_fds()). */
        e->src[DOVECOT_ANVIL_FD] = anvil || config || c->anvil_fd < 0 ? e->devnull : c->anvil_fd;
        e->src[DOVECOT_LOGIN_NOTIFY_FD] = c->login_notify_fd;
        e->src[DOVECOT_STATUS_FD] = c->status_fd;
        e->src[DOVECOT_MASTER_DEAD_FD] = c->master_dead_fd;
        fd = DOVECOT_LISTEN_FD_FIRST;
        if (anvil) {
                /* "nonblocking anvil fd must be the first one. anvil treats it as the
                 * master's fd" */
                e->src[fd++] = c->anvil_master_fd;
                e->src[fd++] = c->anvil_shared_fd;
        }
        for (size_t i = 0; i < c->n_listeners; i++)
                e->src[fd++] = c->listeners[i].fd;
        if (e->src[2] == STDERR_FILENO && !fd_valid(STDERR_FILENO))
                e->src[2] = e->devnull;
        if (e->src[DOVECOT_LOGIN_NOTIFY_FD] >= 0 && !fd_valid(e->src[DOVECOT_LOGIN_NOTIFY_FD])) {
                r = -EINVAL;
                goto fail;
        }

        *ret = e;
        return 0;

fail:
        dovecot_exec_free(e);
        return r;
}

int dovecot_child_exec(const dovecot_exec *e) {
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        sigset_t none;
        int n = e->n_fds;

        /* Move every source above the table first, so that no dup2() overwrites a source
         * still to be placed; the copies are close-on-exec. */
        for (int i = 0; i < n; i++) {
                e->scratch[i] = -1;
                if (e->src[i] < 0)
                        continue;
                e->scratch[i] = fcntl(e->src[i], F_DUPFD_CLOEXEC, n);
                if (e->scratch[i] < 0)
                        return -errno;
        }
        for (int i = 0; i < n; i++) {
                if (e->scratch[i] < 0) {
                        (void) close(i);
                        continue;
                }
                /* dup2() clears FD_CLOEXEC on the new fd. */
                if (dup2(e->scratch[i], i) < 0)
                        return -errno;
        }
        if (close_range(n, ~0U, 0) < 0) {
                struct rlimit rl;

                if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                        rl.rlim_cur = 65536;
                for (rlim_t fd = n; fd < rl.rlim_cur; fd++)
                        (void) close((int) fd);
        }

        /* The supervisor's blocked signals (sd-event) and ignored ones (SIGPIPE) would
         * survive execve. Every handler goes first: a child that shares its parent's memory
         * (vfork, clone(CLONE_VM)) must not run one once the mask is empty. */
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &dfl, NULL);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);

        if (chdir(e->base_dir) < 0)
                return -errno;
        execve(e->path, e->argv, e->envp);
        return -errno;
}

/* ---- the status pipe -------------------------------------------------------------------- */

static int status_emit(const unsigned char *p, dovecot_status_cb cb, void *userdata) {
        dovecot_status st;

        memcpy(&st, p, sizeof(st));
        return cb(&st, userdata);
}

int dovecot_status_feed(dovecot_status_reader *r, const void *data, size_t n,
                        dovecot_status_cb cb, void *userdata) {
        const unsigned char *p = data;
        int count = 0, k;

        if (r->n_partial > 0) {
                size_t take = DOVECOT_STATUS_SIZE - r->n_partial;

                if (take > n)
                        take = n;
                memcpy(r->partial + r->n_partial, p, take);
                r->n_partial += take;
                p += take;
                n -= take;
                if (r->n_partial < DOVECOT_STATUS_SIZE)
                        return 0;
                r->n_partial = 0;
                k = status_emit(r->partial, cb, userdata);
                if (k < 0)
                        return k;
                count++;
        }
        for (; n >= DOVECOT_STATUS_SIZE; p += DOVECOT_STATUS_SIZE, n -= DOVECOT_STATUS_SIZE) {
                k = status_emit(p, cb, userdata);
                if (k < 0)
                        return k;
                count++;
        }
        memcpy(r->partial, p, n);
        r->n_partial = n;
        return count;
}

int dovecot_status_read(dovecot_status_reader *r, int fd, dovecot_status_cb cb,
                        void *userdata) {
        unsigned char buf[DOVECOT_STATUS_SIZE * 128];
        int total = 0, k;

        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return total;
                        return -errno;
                }
                if (n == 0)
                        return -EPIPE;
                k = dovecot_status_feed(r, buf, (size_t) n, cb, userdata);
                if (k < 0)
                        return k;
                total += k;
                if (total > INT_MAX / 2)
                        return total;
        }
}

/* ---- the login notify file -------------------------------------------------------------- */

int dovecot_login_notify_new(void) {
        int fd = memfd_create("dovecot-login-notify", MFD_CLOEXEC);

        return fd < 0 ? -errno : fd;
}

int dovecot_login_notify_set(int fd, bool full) {
        /* enum master_login_state: NONFULL = 0, FULL = 1, read back with lseek(SEEK_CUR). */
        return lseek(fd, full ? 1 : 0, SEEK_SET) < 0 ? -errno : 0;
}

/* ---- the version ------------------------------------------------------------------------ */

/* libdovecot's check (master_service_verify_version_string()) compares DOVECOT_VERSION with
 * PACKAGE_VERSION, compiled into its message "Master is v%s, %s is v<VERSION> (if you …".
 * The module ABI string "…ABIv<N>(<VERSION>)" holds it too. */
static int version_after(const char *map, size_t size, const char *marker, char stop,
                         char **ret) {
        const char *p = memmem(map, size, marker, strlen(marker)), *end, *q;

        if (!p)
                return -ENOENT;
        p += strlen(marker);
        end = map + size;
        for (q = p; q < end && *q != stop && *q != '\0'; q++)
                if (!strchr("0123456789.", *q) && !(*q >= 'a' && *q <= 'z'))
                        return -ENOENT;
        if (q == p || q >= end || *q != stop || q - p > 32)
                return -ENOENT;
        *ret = strndup(p, q - p);
        return *ret ? 0 : -ENOMEM;
}

int dovecot_version_from_library(const char *path, char **ret) {
        struct stat st;
        void *map;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode) || st.st_size == 0) {
                close(fd);
                return -ENOENT;
        }
        map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        r = map == MAP_FAILED ? -errno : 0;
        close(fd);
        if (r < 0)
                return r;
        r = version_after(map, st.st_size, "Master is v%s, %s is v", ' ', ret);
        if (r == -ENOENT) {
                const char *p = memmem(map, st.st_size, ".ABIv", 5);

                if (p) {
                        const char *open_paren = memchr(p, '(', (const char *) map +
                                                                        st.st_size - p);

                        if (open_paren && open_paren - p < 16)
                                r = version_after(open_paren, (const char *) map +
                                                  st.st_size - open_paren, "(", ')', ret);
                }
        }
        munmap(map, st.st_size);
        return r;
}

int dovecot_version_detect(const char *executable, char **ret) {
        const char *slash = executable ? strrchr(executable, '/') : NULL;
        int r = -ENOENT;

        if (slash) {
                char *lib;

                if (asprintf(&lib, "%.*s/libdovecot.so.0", (int) (slash - executable),
                             executable) < 0)
                        return -ENOMEM;
                r = dovecot_version_from_library(lib, ret);
                free(lib);
                if (r >= 0 || r == -ENOMEM)
                        return r;
        }
        return dovecot_version_from_library("/usr/lib/dovecot/libdovecot.so.0", ret);
}
