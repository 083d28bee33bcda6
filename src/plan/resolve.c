/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "contract.h"
#include "macro.h"
#include "resolve.h"

/* Anvil's shared pipe (fd 3 of every worker, fd 8 of anvil), a FIFO under base_dir. */
#define DOVECOT_ANVIL_FIFO DOVESD_ANVIL_SHARED_FDNAME

typedef struct resolver {
        const config *c;
        const plan_report *report;
        plan *p;
        unsigned n_errors;
        char *cwd;                      /* asked once, when a path is relative */
        char **sources;                 /* absolute paths handed out, freed with the plan */
        size_t n_sources;
} resolver;

static int report(resolver *r, int level, const char *file, unsigned line, const char *fmt,
                  ...) _printf_(5, 6);
/* LEVEL: 0 error, 1 warning, 2 info note, 3 debug note. */
static int report(resolver *r, int level, const char *file, unsigned line, const char *fmt,
                  ...) {
        _cleanup_free_ char *text = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        if (level == 0)
                r->n_errors++;
        if (level <= 1)
                return r->report->diag(r->report->userdata, level == 1, file ?: "", line, text);
        return r->report->note(r->report->userdata, level == 2, file ?: "", line, text);
}

/* ---- small decisions, public ----------------------------------------------------------- */

unsigned plan_backlog(unsigned process_limit, unsigned client_limit) {
        uint64_t b = (uint64_t) process_limit * client_limit;

        if (b < 4)
                return 4;
        if (b > 511)
                return 511;
        return (unsigned) b;
}

int plan_listener_fdname(const listener *l, char **ret) {
        const char *n = l->name ?: "";
        char *r;

        if (l->kind != LISTENER_INET) {
                const char *slash = strrchr(n, '/');

                if (slash)
                        n = slash + 1;
        }
        r = strdup(n);
        if (!r)
                return -ENOMEM;
        *ret = r;
        return 0;
}

process_model plan_process_model(const service *s) {
        return s->eff_process_limit > 1 || service_is_dovecot(s) ? PROCESS_SUPERVISED
                                                                  : PROCESS_SINGLE;
}

static bool type_is(const service *s, const char *type) {
        return streq(s->type ?: "", type);
}

/* FILE made absolute against the current directory, asked for once. The string lives as
 * long as the plan. */
static int source_of(resolver *r, const char *file, const char **ret) {
        char *abs;

        file = file ?: "";
        if (file[0] == '/') {
                *ret = file;
                return 0;
        }
        if (!r->cwd) {
                char buf[PATH_MAX];

                if (!getcwd(buf, sizeof(buf)))
                        return -errno;
                r->cwd = strdup(buf);
                if (!r->cwd)
                        return -ENOMEM;
        }
        if (!GREEDY_REALLOC(r->sources, r->n_sources + 1) ||
            asprintf(&abs, "%s/%s", r->cwd, file) < 0)
                return -ENOMEM;
        r->sources[r->n_sources++] = abs;
        *ret = abs;
        return 0;
}

/* ---- privileges ------------------------------------------------------------------------ */

/* The capability bounding set: exactly what the start-as-root-then-drop sequence needs
 * (man dovesd.units(7), Capabilities). Sockets are always bound by systemd, so
 * CAP_NET_BIND_SERVICE is never needed. */
static const char *capabilities(const plan_service *ps) {
        if (ps->runs_as_root)
                /* The process stays root and does root's work for every mail user: imap, pop3,
                 * lmtp, submission, doveadm, indexer-worker switch to the mail user themselves
                 * (SETUID, SETGID; mail_chroot: SYS_CHROOT); auth-worker reads passwd files
                 * and lmtp reads users' homes and mail of any owner before the switch
                 * (DAC_OVERRIDE, DAC_READ_SEARCH); mail directories are created and handed
                 * to their owner (CHOWN, FOWNER); libdovesd drops the bounding set (SETPCAP).
                 * With dovesd-supervisor, CAP_KILL: it stays root while its workers switch to
                 * their user, and signals them (idle SIGINT, reload SIGQUIT, login SIGUSR1,
                 * stop SIGTERM). */
                return ps->process == PROCESS_SUPERVISED && !ps->drop_priv_before_exec ?
                        "CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_SETGID "
                        "CAP_SETUID CAP_SETPCAP CAP_SYS_CHROOT CAP_KILL" :
                        "CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_SETGID "
                        "CAP_SETUID CAP_SETPCAP CAP_SYS_CHROOT";
        if (ps->drop_priv_before_exec)
                /* systemd switched to User= before exec: a non-root process has no capability
                 * to keep, and nothing in the bounding set could be regained (NoNewPrivileges). */
                return "";
        /* setgroups/setresgid (SETGID), setresuid (SETUID), chroot (SYS_CHROOT), libdovesd's
         * PR_CAPBSET_DROP of every capability (SETPCAP). */
        if (!isempty(ps->chroot))
                return ps->process == PROCESS_SUPERVISED ?
                        "CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_SYS_CHROOT CAP_KILL" :
                        "CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_SYS_CHROOT";
        return ps->process == PROCESS_SUPERVISED ? "CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_KILL"
                                                 : "CAP_SETGID CAP_SETUID CAP_SETPCAP";
}

static int resolve_privileges(resolver *r, plan_service *ps) {
        const service *s = ps->s;
        bool drop = s->drop_priv_before_exec;

        ps->drop_priv_before_exec = drop;
        ps->user = s->eff_user ?: "";
        ps->group = s->eff_group ?: "";
        ps->extra_groups = s->eff_extra_groups ?: "";
        ps->privileged_group = s->eff_privileged_group ?: "";
        ps->chroot = s->eff_chroot ?: "";
        ps->runs_as_root = isempty(ps->user) || streq(ps->user, "root");
        ps->capabilities = capabilities(ps);
        ps->remove_ipc = drop && !ps->runs_as_root;

        if (!drop)
                return 0;

        /* extra_groups is a list separated by commas and/or blanks. */
        {
                _cleanup_free_ char *groups = NULL;
                char *save = NULL;
                size_t n = 0;

                if (asprintf(&groups, "%s %s", ps->extra_groups, ps->privileged_group) < 0)
                        return -ENOMEM;
                for (char *w = strtok_r(groups, ", \t", &save); w;
                     w = strtok_r(NULL, ", \t", &save)) {
                        if (!GREEDY_REALLOC(ps->supplementary_groups, n + 2))
                                return -ENOMEM;
                        ps->supplementary_groups[n] = strdup(w);
                        if (!ps->supplementary_groups[n])
                                return -ENOMEM;
                        ps->supplementary_groups[++n] = NULL;
                }
        }
        if (!isempty(ps->privileged_group))
                return report(r, 1, s->file, s->line,
                              "service(%s): privileged_group=%s with drop_priv_before_exec=yes "
                              "is granted as a supplementary group for the whole run", s->name,
                              ps->privileged_group);
        return 0;
}

/* ---- listeners ------------------------------------------------------------------------- */

static void plan_listener_done(plan_listener *pl) {
        free(pl->fdname);
        free(pl->addresses);
}

/* Does another enabled listener of S (of any kind, or only inet ones) reach the program under
 * the name FDNAME? */
static int fdname_shared(const service *s, const listener *l, const char *fdname, bool inet_only,
                         bool *ret) {
        for (size_t i = 0; i < s->n_listeners; i++) {
                const listener *o = &s->listeners[i];
                _cleanup_free_ char *other = NULL;
                int k;

                if (o == l || !o->enabled || (inet_only && o->kind != LISTENER_INET))
                        continue;
                k = plan_listener_fdname(o, &other);
                if (k < 0)
                        return k;
                if (streq(fdname, other)) {
                        *ret = true;
                        return 0;
                }
        }
        *ret = false;
        return 0;
}

/* Fills PL for the enabled listener L. Returns 1 when usable, 0 after reporting an error. */
static int resolve_listener(resolver *r, const service *s, const listener *l, plan_listener *pl) {
        const char *file = l->file ?: s->file, *kind = listener_kind_to_string(l->kind);
        unsigned line = l->line ?: s->line;
        _cleanup_free_ char *fdname = NULL;
        bool bad = false;
        int k;

        *pl = (plan_listener) { .l = l, .file = file, .line = line };
        k = plan_listener_fdname(l, &fdname);
        if (k < 0)
                return k;
        for (const unsigned char *p = (const unsigned char *) fdname; *p; p++)
                if (*p < ' ' || *p == 0x7f || *p == ':' || *p == ';')
                        bad = true;
        if (isempty(fdname) || bad || strlen(fdname) > 255) {
                k = report(r, 0, file, line,
                           "service(%s): %s %s: the listener name \"%s\" must not be empty or "
                           "hold ':', ';' or control characters", s->name, kind, l->name,
                           fdname);
                return k < 0 ? k : 0;
        }
        if (l->kind != LISTENER_INET &&
            strlen(l->path) >= sizeof(((struct sockaddr_un) {}).sun_path)) {
                k = report(r, 0, file, line,
                           "service(%s): %s %s: path %s is too long for a socket (%zu > %zu "
                           "bytes)", s->name, kind, l->name, l->path, strlen(l->path),
                           sizeof(((struct sockaddr_un) {}).sun_path) - 1);
                return k < 0 ? k : 0;
        }

        k = fdname_shared(s, l, fdname, false, &pl->fdname_shared);
        if (k < 0)
                return k;
        k = fdname_shared(s, l, fdname, true, &pl->fdname_shared_with_inet);
        if (k < 0)
                return k;
        k = source_of(r, file, &pl->source);
        if (k < 0)
                return k;
        pl->socket_user = l->eff_user ?: "";
        pl->socket_group = l->eff_group ?: "";

        for (char **a = l->kind == LISTENER_INET ? l->addresses : NULL; a && *a; a++) {
                inet_address addr;

                if (inet_address_parse(*a, &addr) < 0) {
                        k = report(r, 0, file, line,
                                   "service(%s): inet_listener %s: address %s is not an IP "
                                   "address; a generator can't resolve host names", s->name,
                                   l->name, *a);
                        if (k < 0)
                                return k;
                        continue;
                }
                if (!GREEDY_REALLOC(pl->addresses, pl->n_addresses + 1))
                        return -ENOMEM;
                pl->addresses[pl->n_addresses++] = addr;
        }
        pl->fdname = TAKE_PTR(fdname);
        return 1;
}

/* NAME[:ssl][:haproxy] for each listener, in order; names the program sees twice are
 * listed once. */
static int listeners_env(plan_service *ps) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        FILE *f;

        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < ps->n_listeners; i++) {
                const plan_listener *pl = &ps->listeners[i];
                bool seen = false;

                for (size_t j = 0; j < i && !seen; j++)
                        seen = streq(ps->listeners[j].fdname, pl->fdname);
                if (seen)
                        continue;
                if (i > 0)
                        fputc(DOVESD_LISTENERS_SEPARATOR, f);
                fputs(pl->fdname, f);
                if (pl->l->ssl)
                        fprintf(f, "%c%s", DOVESD_LISTENER_FLAG_SEPARATOR,
                                DOVESD_LISTENER_FLAG_SSL);
                if (pl->l->haproxy)
                        fprintf(f, "%c%s", DOVESD_LISTENER_FLAG_SEPARATOR,
                                DOVESD_LISTENER_FLAG_HAPROXY);
        }
        if (fclose(f) != 0 || !buf)
                return -ENOMEM;
        ps->listeners_env = TAKE_PTR(buf);
        return 0;
}

/* ---- services -------------------------------------------------------------------------- */

static void plan_service_done(plan_service *ps) {
        for (size_t i = 0; i < ps->n_listeners; i++)
                plan_listener_done(&ps->listeners[i]);
        free(ps->listeners);
        free(ps->listeners_env);
        strv_free(ps->supplementary_groups);
}

/* Returns 1 when S gets units (*PS filled), 0 when not (reported), <0 on failure. */
static int resolve_service(resolver *r, const service *s, plan_service *ps) {
        unsigned errors = r->n_errors;
        int k;

        *ps = (plan_service) { .s = s };
        if (!s->enabled)
                return report(r, 3, s->file, s->line,
                              "service(%s): not enabled (protocol not in protocols, or no "
                              "executable), no units", s->name);
        if (type_is(s, "log"))
                return report(r, 2, s->file, s->line,
                              "service(%s): type=log writes no units: journald collects the "
                              "logs", s->name);

        for (char **a = s->eff_argv; a && *a; a++)
                if (isempty(*a))
                        return report(r, 0, s->file, s->line,
                                      "service(%s): executable has an empty argument (two "
                                      "spaces in a row?)", s->name);

        ps->listeners = calloc(s->n_listeners + 1, sizeof(plan_listener));
        if (!ps->listeners)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_listeners; i++) {
                const listener *l = &s->listeners[i];

                if (!l->enabled) {
                        k = report(r, 3, l->file ?: s->file, l->line ?: s->line,
                                   "service(%s): %s %s is disabled, no socket", s->name,
                                   listener_kind_to_string(l->kind), l->name);
                        if (k < 0)
                                return k;
                        continue;
                }
                k = resolve_listener(r, s, l, &ps->listeners[ps->n_listeners]);
                if (k < 0)
                        return k;
                if (k > 0)
                        ps->n_listeners++;
                else
                        plan_listener_done(&ps->listeners[ps->n_listeners]);
        }

        ps->boot = type_is(s, "startup") || s->process_min_avail > 0;
        /* Without a listener only boot starts a service (type=startup, process_min_avail >
         * 0), as with Dovecot's master; any other such service could never start. */
        if (ps->n_listeners == 0 && r->n_errors == errors && !ps->boot) {
                k = report(r, 2, s->file, s->line,
                           "service(%s): no enabled listener and not started at boot "
                           "(type=startup or process_min_avail > 0): nothing could start it, "
                           "no units", s->name);
                return k < 0 ? k : 0;
        }

        ps->process = plan_process_model(s);
        ps->kind = service_is_dovecot(s) ? WORKER_DOVECOT : WORKER_LIBDOVESD;
        /* The main process itself exits after service_count clients (a supervisor never
         * does: it replaces its workers). */
        ps->restarts_by_design = ps->process == PROCESS_SINGLE && s->service_count > 0;
        /* process_limit, a control process (ExecReload=), and with a supervisor: itself and
         * room for an old generation draining after a reload (process_limit counts only the
         * new one), so that the kernel's backstop never blocks the new generation. */
        ps->backlog = plan_backlog(s->eff_process_limit, s->eff_client_limit);
        ps->tasks_max = s->eff_process_limit + 1;
        if (ps->process == PROCESS_SUPERVISED)
                ps->tasks_max += 1 + s->eff_process_limit;

        k = source_of(r, s->file, &ps->source);
        if (k < 0)
                return k;
        k = listeners_env(ps);
        if (k < 0)
                return k;
        k = resolve_privileges(r, ps);
        if (k < 0)
                return k;
        return 1;
}

/* ---- runtime directories --------------------------------------------------------------- */

static bool path_under(const char *path, const char *base) {
        size_t n = strlen(base);

        return strncmp(path, base, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}

/* Is PATH absolute and normalized: no empty, "." or ".." component, no trailing '/'? */
static bool dir_path_normalized(const char *path) {
        if (path[0] != '/')
                return false;
        if (streq(path, "/"))
                return true;
        for (const char *p = path; *p; ) {
                size_t n;

                p++;                            /* the '/' */
                n = strcspn(p, "/");
                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                p += n;
        }
        return true;
}

/* Appends; dirs_merge() folds the duplicates once all are in. Linear in the number of
 * directories, not a search per addition: 20,000 chroots must not take seconds. */
static int dirs_add(plan *p, const char *path, plan_dir_kind kind, const char *user) {
        char *d;

        if (!GREEDY_REALLOC(p->dirs, p->n_dirs + 1))
                return -ENOMEM;
        d = strdup(path);
        if (!d)
                return -ENOMEM;
        p->dirs[p->n_dirs] = (plan_dir) { .path = d, .kind = kind, .user = user,
                                          .seq = p->n_dirs };
        p->n_dirs++;
        return 0;
}

static int dir_cmp(const void *a, const void *b) {
        const plan_dir *x = a, *y = b;
        int r = strcmp(x->path, y->path);

        return r != 0 ? r : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sorts by path and folds each path into one entry: the highest kind, the first added. */
static void dirs_merge(plan *p) {
        size_t w = 0;

        if (p->n_dirs == 0)
                return;
        qsort_safe(p->dirs, p->n_dirs, sizeof(plan_dir), dir_cmp);
        for (size_t i = 1; i < p->n_dirs; i++) {
                if (streq(p->dirs[i].path, p->dirs[w].path)) {
                        if (p->dirs[i].kind > p->dirs[w].kind) {
                                p->dirs[w].kind = p->dirs[i].kind;
                                p->dirs[w].user = p->dirs[i].user;
                        }
                        free(p->dirs[i].path);
                        continue;
                }
                p->dirs[++w] = p->dirs[i];
        }
        p->n_dirs = w + 1;
}

static int str_ptr_cmp(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

/* The directories that directly hold an enabled unix/fifo listener, sorted for bsearch(). */
static int listener_dirs(const plan *p, char ***ret, size_t *ret_n) {
        _cleanup_strv_free_ char **dirs = NULL;
        size_t n = 0;

        for (size_t i = 0; i < p->n_services; i++)
                for (size_t j = 0; j < p->services[i].n_listeners; j++) {
                        const listener *l = p->services[i].listeners[j].l;
                        const char *slash;

                        if (l->kind == LISTENER_INET || !(slash = strrchr(l->path, '/')))
                                continue;
                        if (!GREEDY_REALLOC(dirs, n + 2))
                                return -ENOMEM;
                        dirs[n] = strndup(l->path, (size_t) (slash - l->path));
                        if (!dirs[n])
                                return -ENOMEM;
                        dirs[++n] = NULL;
                }
        if (n > 0)
                qsort_safe(dirs, n, sizeof(char *), str_ptr_cmp);
        *ret = TAKE_PTR(dirs);
        *ret_n = n;
        return 0;
}

/* base_dir, the chroots below it (a login chroot that holds listeners belongs to root and
 * the chrooted user's group), and every directory between base_dir and a listener. */
static int resolve_dirs(resolver *r) {
        plan *p = r->p;
        _cleanup_strv_free_ char **ldirs = NULL;
        size_t n_ldirs = 0;
        const char *base;
        int k;

        k = dirs_add(p, p->base_dir, PLAN_DIR_PLAIN, NULL);
        if (k < 0)
                return k;
        base = p->base_dir;
        k = listener_dirs(p, &ldirs, &n_ldirs);
        if (k < 0)
                return k;

        for (size_t i = 0; i < p->n_services; i++) {
                const plan_service *ps = &p->services[i];
                const char *ch = ps->chroot;

                if (!isempty(ch) && path_under(ch, base)) {
                        if (n_ldirs > 0 && !isempty(ps->user) &&
                            bsearch(&ch, ldirs, n_ldirs, sizeof(char *), str_ptr_cmp))
                                k = dirs_add(p, ch, PLAN_DIR_LOGIN_CHROOT, ps->user);
                        else
                                k = dirs_add(p, ch, PLAN_DIR_EMPTY_CHROOT, NULL);
                        if (k < 0)
                                return k;
                }

                for (size_t j = 0; j < ps->n_listeners; j++) {
                        const listener *l = ps->listeners[j].l;
                        _cleanup_free_ char *d = NULL;

                        if (l->kind == LISTENER_INET || !path_under(l->path, base))
                                continue;
                        d = strdup(l->path);
                        if (!d)
                                return -ENOMEM;
                        for (char *slash = strrchr(d, '/'); slash && slash > d + strlen(base);
                             slash = strrchr(d, '/')) {
                                *slash = '\0';
                                k = dirs_add(p, d, PLAN_DIR_PLAIN, NULL);
                                if (k < 0)
                                        return k;
                        }
                }
        }
        dirs_merge(p);

        /* Defence in depth: the dirs unit runs as root with CAP_CHOWN and CAP_FOWNER.
         * Whatever the model let through, it creates and chmods nothing but base_dir and
         * directories below it (the chroots it makes are below base_dir too). */
        for (size_t i = 0; i < p->n_dirs; i++)
                if (!dir_path_normalized(p->dirs[i].path) ||
                    !(streq(p->dirs[i].path, base) || path_under(p->dirs[i].path, base)))
                        return report(r, 0, r->c->path, 0,
                                      "refusing to create directory %s: not a normalized path "
                                      "below base_dir %s", p->dirs[i].path, base);
        return 0;
}

/* ---- the plan -------------------------------------------------------------------------- */

/* The enabled Dovecot service of TYPE (config, anvil), or NULL. */
static const service *dovecot_service_of_type(const config *c, const char *type) {
        for (size_t i = 0; i < c->n_services; i++) {
                const service *o = &c->services[i];

                if (o->enabled && service_is_dovecot(o) && type_is(o, type))
                        return o;
        }
        return NULL;
}

static int resolve_all(resolver *r) {
        const config *c = r->c;
        plan *p = r->p;
        const service *cfg = dovecot_service_of_type(c, "config");
        const service *anvil = dovecot_service_of_type(c, "anvil");
        const char *src;
        int k;

        p->instance = c->instance_name ?: "dovesd";
        k = source_of(r, c->path, &src);
        if (k < 0)
                return k;
        p->source = strdup(src);
        p->base_dir = strdup(c->base_dir ?: "/run/dovesd");
        if (!p->source || !p->base_dir)
                return -ENOMEM;
        while (strlen(p->base_dir) > 1 && p->base_dir[strlen(p->base_dir) - 1] == '/')
                p->base_dir[strlen(p->base_dir) - 1] = '\0';
        if (asprintf(&p->anvil_fifo, "%s/" DOVECOT_ANVIL_FIFO, c->base_dir) < 0) {
                p->anvil_fifo = NULL;
                return -ENOMEM;
        }

        for (size_t i = 0; i < c->n_services; i++) {
                plan_service ps;

                if (!GREEDY_REALLOC(p->services, p->n_services + 1))
                        return -ENOMEM;
                k = resolve_service(r, &c->services[i], &ps);
                if (k <= 0) {
                        plan_service_done(&ps);
                        if (k < 0)
                                return k;
                        continue;
                }
                p->services[p->n_services++] = ps;
        }

        /* Dovecot's programs read their settings from the config process and write to
         * anvil's shared pipe from the first moment. */
        for (size_t i = 0; i < p->n_services; i++) {
                plan_service *ps = &p->services[i];

                if (ps->s == cfg)
                        p->dovecot_config = ps;
                if (ps->s == anvil)
                        p->dovecot_anvil = ps;
        }
        for (size_t i = 0; i < p->n_services; i++) {
                plan_service *ps = &p->services[i];

                if (ps->kind != WORKER_DOVECOT)
                        continue;
                if (cfg && cfg != ps->s) {
                        ps->dovecot_config = cfg;
                        ps->dovecot_config_planned = p->dovecot_config;
                }
                if (anvil && !type_is(ps->s, "config")) {
                        ps->dovecot_anvil = anvil;
                        ps->anvil_fifo = p->anvil_fifo;
                }
        }

        if (r->n_errors > 0)
                return 0;
        if (p->n_services == 0)
                return report(r, 2, c->path ?: "", 0, "no enabled service: no units");
        return resolve_dirs(r);
}

int plan_resolve(const config *c, const plan_report *rep, plan *ret, unsigned *ret_errors) {
        plan p = { .c = c };
        resolver r = { .c = c, .report = rep, .p = &p };
        int k;

        k = resolve_all(&r);
        free(r.cwd);
        /* The absolute sources are referenced by the plan: kept in it. */
        p.sources = r.sources;
        p.n_sources = r.n_sources;
        if (k < 0) {
                plan_done(&p);
                return k;
        }
        *ret = p;
        *ret_errors = r.n_errors;
        return 0;
}

void plan_done(plan *p) {
        for (size_t i = 0; i < p->n_services; i++)
                plan_service_done(&p->services[i]);
        free(p->services);
        for (size_t i = 0; i < p->n_dirs; i++)
                free(p->dirs[i].path);
        free(p->dirs);
        for (size_t i = 0; i < p->n_sources; i++)
                free(p->sources[i]);
        free(p->sources);
        free(p->source);
        free(p->base_dir);
        free(p->anvil_fifo);
        *p = (plan) {};
}
