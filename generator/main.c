/* SPDX-License-Identifier: MIT */

/*
 * dovesd-generator: the systemd generator and its manual modes.
 *   NORMAL [EARLY LATE]   as systemd runs it: write the units into NORMAL (the other two
 *                         are accepted and unused, see systemd.generator(7))
 *   --check               parse and validate the config, print "configuration OK" or every
 *                         error
 *   --dump                print each declared service as `doveconf -a` prints it
 *   -n, --dump-changed    print the non-default settings, globals included, as
 *                         `doveconf -n` does
 *   --dry-run             print every unit to stdout, write nothing
 * Each mode is a run_*() function behind main(); argv parsing is shared.
 */

#include <errno.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>

#include "dump.h"
#include "exec-kind.h"
#include "log.h"
#include "macro.h"
#include "model.h"
#include "snapshot.h"
#include "units.h"

#define DEFAULT_CONFIG "/etc/dovesd/dovesd.conf"

typedef enum mode {
        MODE_NONE,
        MODE_CHECK,
        MODE_DUMP,
        MODE_DUMP_CHANGED,
        MODE_DRY_RUN,
        MODE_APPLY,
        MODE_SYSTEMD,
} mode;

typedef struct args {
        mode mode;
        const char *config;
        const char *dest;       /* MODE_SYSTEMD: the normal generator directory */
} args;

/* Every diagnostic as "FILE:LINE: [warning: ]TEXT", through the log (stderr by hand). */
static void print_diags(const conf_diags *d) {
        for (size_t i = 0; i < d->n_items; i++) {
                const conf_diag *g = &d->items[i];
                log_full(g->warning ? LOG_WARNING : LOG_ERR, 0, g->file, g->line, "%s%s",
                         g->warning ? "warning: " : "", g->text);
        }
}

/* Load the config; print diagnostics. Returns 0 with *ret, or -errno after printing. */
static int load(const char *path, config **ret) {
        conf_diags d = {};
        config *c = NULL;
        int r;

        r = config_load(path, &c, &d);
        print_diags(&d);
        if (r < 0 && d.n_errors == 0)
                log_error("%s: failed to load configuration: %s", path, strerror(-r));
        conf_diags_done(&d);
        if (r < 0)
                return r;
        *ret = c;
        return 0;
}

static bool is_elf(const char *path) {
        char magic[4];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        bool elf;

        if (fd < 0)
                return false;
        elf = read(fd, magic, sizeof(magic)) == (ssize_t) sizeof(magic) &&
                memcmp(magic, "\177ELF", 4) == 0;
        close(fd);
        return elf;
}

/* --check only: Dovecot's own master enabled beside dovesd takes the same ports (143, 993) and
 * socket paths; one of the two fails to bind. The enablement links are plain files to look
 * at: no IPC with systemd. DOVESD_SYSTEMD_ROOT (tests) prefixes the paths. */
static void check_dovecot_master(void) {
        static const char *const links[] = {
                "/etc/systemd/system/multi-user.target.wants/dovecot.service",
                "/etc/systemd/system/sockets.target.wants/dovecot.socket",
        };
        const char *root = getenv("DOVESD_SYSTEMD_ROOT") ?: "";

        for (size_t i = 0; i < ELEMENTSOF(links); i++) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s%s", root, links[i]) < 0)
                        return;
                if (access(p, F_OK) == 0)
                        log_full(LOG_WARNING, 0, NULL, 0,
                                 "warning: %s is enabled: Dovecot's own master takes the same "
                                 "ports and sockets as dovesd; run 'systemctl mask --now "
                                 "dovecot.service dovecot.socket'", strrchr(links[i], '/') + 1);
        }
}

/* --check only: warn about every service whose executable dovesd cannot run. The generator
 * itself does not look at executables (at boot they may live on a file system that is not
 * mounted yet, and a unit for a program installed later is fine). Returns the number of
 * warnings. */
static unsigned check_executables(const config *c) {
        unsigned n = 0;

        for (size_t i = 0; i < c->n_services; i++) {
                const service *s = &c->services[i];
                const char *exe;
                ExecKind k;
                int r;

                if (!s->enabled || streq(s->type, "log") || !s->eff_argv || !s->eff_argv[0])
                        continue;
                exe = s->eff_argv[0];
                r = executable_kind(exe, &k);
                if (r < 0)
                        log_full(LOG_WARNING, -r, s->file, s->line,
                                 "warning: service(%s): executable %s: %m: the service cannot "
                                 "start", s->name, exe);
                else if (k == EXEC_KIND_DOVECOT && !is_elf(exe))
                        /* In Dovecot's directory, so it gets Dovecot's master contract, but a
                         * script (health-check.sh) never reports a status: killed after 30 s. */
                        log_full(LOG_WARNING, 0, s->file, s->line,
                                 "warning: service(%s): executable %s is a script in Dovecot's "
                                 "directory: dovesd runs Dovecot's programs (which link "
                                 "libdovecot.so.0) as their master, not scripts", s->name, exe);
                else if (k == EXEC_KIND_OTHER)
                        log_full(LOG_WARNING, 0, s->file, s->line,
                                 "warning: service(%s): executable %s is not a libdovesd program "
                                 "(it does not link libdovesd.so.0): dovesd cannot run it",
                                 s->name, exe);
                else
                        continue;
                n++;
        }
        return n;
}

/* The config is OK when the generator would write its units: the unit writer's own checks
 * (name collisions, values systemd would refuse, socket path lengths) run too. */
/* No config file at all is not an error in any mode (the generator then writes nothing,
 * see the man page): say so, as --dry-run and the generator do. Returns true when missing. */
static bool config_missing(const args *a) {
        if (access(a->config, F_OK) < 0 && errno == ENOENT) {
                log_info("%s does not exist: no units.", a->config);
                return true;
        }
        return false;
}

static int run_check(const args *a) {
        _cleanup_(conf_diags_done) conf_diags d = {};
        _cleanup_(unit_set_done) unit_set set = {};
        config *c = NULL;
        int r;

        if (config_missing(a))
                return 0;
        r = load(a->config, &c);
        if (r < 0)
                return r;
        r = units_build(c, &set, &d);
        print_diags(&d);
        if (r >= 0) {
                (void) check_executables(c);
                check_dovecot_master();
        }
        config_free(c);
        if (r < 0) {
                if (d.n_errors == 0)
                        log_error_errno(r, "Failed to build units: %m");
                return r;
        }
        printf("configuration OK\n");
        return 0;
}

static int run_dump(const args *a) {
        config *c = NULL;
        int r;

        if (config_missing(a))
                return 0;
        r = load(a->config, &c);
        if (r < 0)
                return r;
        r = config_dump(c, stdout);
        config_free(c);
        if (r >= 0 && fflush(stdout) != 0)
                r = -errno;
        return r;
}

/* The header doveconf -n starts with (its version, the config file, the OS), so that a pasted
 * output says what produced it. */
static void print_changed_header(const char *path) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL, *pretty = NULL;
        struct utsname u;
        char host[256];
        size_t n = 0;

        printf("# dovesd %s: %s\n", DOVESD_VERSION, path);
        f = fopen("/etc/os-release", "re");
        while (f && getline(&line, &n, f) > 0) {
                const char *v = startswith(line, "PRETTY_NAME=");
                size_t len;

                if (!v)
                        continue;
                v += *v == '"';
                len = strcspn(v, "\"\n");
                pretty = strndup(v, len);
                break;
        }
        if (uname(&u) >= 0)
                printf("# OS: %s %s %s%s%s\n", u.sysname, u.release, u.machine,
                       pretty ? " " : "", pretty ?: "");
        if (gethostname(host, sizeof(host)) >= 0) {
                host[sizeof(host) - 1] = '\0';
                printf("# Hostname: %s\n", host);
        }
}

static int run_dump_changed(const args *a) {
        conf_diags d = {};
        int r;

        if (config_missing(a))
                return 0;
        print_changed_header(a->config);
        r = config_dump_changed(a->config, stdout, &d);
        print_diags(&d);
        if (r < 0 && d.n_errors == 0)
                log_error("%s: failed to load configuration: %s", a->config, strerror(-r));
        conf_diags_done(&d);
        if (r >= 0 && fflush(stdout) != 0)
                r = -errno;
        return r;
}

/* Loads the config and builds every unit in memory. Returns 1 with *ret, 0 when there is no
 * config file at all (nothing to do), -errno after logging every error. */
static int build(const args *a, unit_set *ret) {
        _cleanup_(conf_diags_done) conf_diags d = {};
        config *c = NULL;
        int r;

        if (config_missing(a))
                return 0;

        r = load(a->config, &c);
        if (r < 0) {
                log_error("%s: configuration has errors.", a->config);
                return r;
        }
        r = units_build(c, ret, &d);
        print_diags(&d);
        config_free(c);
        if (r < 0) {
                if (d.n_errors > 0)
                        log_error("%s: configuration has errors.", a->config);
                else
                        log_error_errno(r, "Failed to build units: %m");
                return r;
        }
        for (size_t i = 0; i < ret->n_notes; i++) {
                const unit_note *n = &ret->notes[i];

                log_full(n->level == UNIT_NOTE_INFO ? LOG_INFO : LOG_DEBUG, 0,
                         isempty(n->file) ? NULL : n->file, n->line, "%s", n->text);
        }
        return 1;
}

static int run_dry_run(const args *a) {
        _cleanup_(unit_set_done) unit_set set = {};
        int r;

        r = build(a, &set);
        if (r <= 0)
                return r;
        r = units_print(&set, stdout);
        if (r < 0)
                return log_error_errno(r, "Failed to print units: %m");
        return 0;
}

/* Where the last good unit set is kept: $DOVESD_LAST_GOOD_DIR (empty: nowhere), or
 * SNAPSHOT_DIR_DEFAULT when systemd runs us for the system; by hand, nowhere. */
static const char *last_good_dir(void) {
        const char *e = getenv("DOVESD_LAST_GOOD_DIR");

        if (e)
                return isempty(e) ? NULL : e;
        e = getenv("SYSTEMD_SCOPE");
        if (e && streq(e, "system"))
                return SNAPSHOT_DIR_DEFAULT;
        return NULL;
}

/* The config is broken: write the last good unit set again, so that daemon-reload leaves
 * every dovesd unit as it was (see snapshot.c). Returns 0 when it did, -errno otherwise. */
static int keep_last_good(const args *a, const char *dir) {
        _cleanup_(unit_set_done) unit_set set = {};
        _cleanup_free_ char *failed = NULL;
        char when[64] = "an earlier run";
        int64_t saved = 0;
        struct tm tm;
        time_t t;
        int r;

        r = snapshot_load(dir, a->config, &set, &saved);
        if (r == -ENOENT || r == -ESTALE) {
                log_error("%s: no units written; every dovesd unit is now gone from systemd's "
                          "view and its sockets stop listening until restarted.", a->config);
                return r;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to read the last good unit set from %s: %m", dir);
                return r;
        }
        r = units_write(&set, a->dest, &failed);
        if (r < 0) {
                log_error_errno(r, "Failed to write %s/%s from the last good unit set: %m",
                                a->dest, failed ?: "");
                return r;
        }
        t = (time_t) saved;
        if (localtime_r(&t, &tm))
                (void) strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm);
        log_error("%s: kept the %zu units and links of the last good configuration (from %s); "
                  "fix the errors above and run 'systemctl daemon-reload' again.",
                  a->config, set.n_entries, when);
        return 0;
}

/* Where the errors of a broken config are written for dovesd-config-error.service (units/):
 * $DOVESD_ERRORS_FILE (empty: nowhere), or ERRORS_FILE_DEFAULT when systemd runs us for the
 * system; by hand, nowhere. */
#define ERRORS_FILE_DEFAULT "/run/dovesd-generator/config-errors"

/* A file the generator keeps for systemd's next steps: $ENV_NAME when set (empty: none), else
 * SYSTEM_DEFAULT when systemd runs us for the system; by hand, none. */
static const char *state_file(const char *env_name, const char *system_default) {
        const char *e = getenv(env_name);

        if (e)
                return isempty(e) ? NULL : e;
        e = getenv("SYSTEMD_SCOPE");
        if (e && streq(e, "system"))
                return system_default;
        return NULL;
}

static const char *errors_file(void) {
        return state_file("DOVESD_ERRORS_FILE", ERRORS_FILE_DEFAULT);
}

/* Starts capturing every error and warning into PATH.new. Returns the open file, or NULL
 * (nothing is captured then; the errors still reach the log). */
static FILE *errors_begin(const char *path, char **ret_tmp) {
        _cleanup_free_ char *tmp = NULL, *dir = NULL;
        char *slash;
        FILE *f;

        if (!path || asprintf(&tmp, "%s.new", path) < 0 || !(dir = strdup(path)))
                return NULL;
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                (void) mkdir(dir, 0755);
        }
        f = fopen(tmp, "we");
        if (!f) {
                log_full(LOG_WARNING, errno, NULL, 0, "Failed to create %s, ignoring: %m", tmp);
                return NULL;
        }
        log_capture(f);
        *ret_tmp = TAKE_PTR(tmp);
        return f;
}

/* Ends the capture: with errors (BROKEN), the file replaces PATH atomically, which starts
 * dovesd-config-error.service through dovesd-config-error.path; otherwise PATH goes away. */
static void errors_end(FILE *f, char *tmp, const char *path, bool broken) {
        int r = 0;

        log_capture(NULL);
        if (!f) {
                if (path && !broken)
                        (void) unlink(path);
                return;
        }
        if (fflush(f) != 0 || ferror(f))
                r = -(errno ?: EIO);
        fclose(f);
        if (broken && r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (!broken || r < 0) {
                (void) unlink(tmp);
                if (!broken)
                        (void) unlink(path);
        }
        if (r < 0)
                log_full(LOG_WARNING, -r, NULL, 0, "Failed to write %s, ignoring: %m", path);
        free(tmp);
}

/* Socket units whose text changed since the last good run: systemd applies a socket's new
 * settings only when it starts the socket again, and it refuses that while the socket's
 * service runs. The names accumulate in this file until --apply has dealt with them. */
#define CHANGED_SOCKETS_FILE "/run/dovesd-generator/changed-sockets"

static const char *changed_sockets_file(void) {
        return state_file("DOVESD_CHANGED_SOCKETS_FILE", CHANGED_SOCKETS_FILE);
}

/* A service unit's text without what a reload applies by itself (its DOVESD_* settings) or
 * what does not touch the running process (dependencies, descriptions). */
static char *service_shape(const char *content) {
        static const char *const skip[] = { "Environment=", "After=", "Wants=",
                                            "ReloadPropagatedFrom=", "Description=",
                                            "Documentation=", "SourcePath=", "#" };
        char *out = malloc(strlen(content) + 1), *o = out;

        if (!out)
                return NULL;
        for (const char *l = content; *l; ) {
                size_t n = strcspn(l, "\n");
                bool keep = true;

                for (size_t i = 0; i < ELEMENTSOF(skip); i++)
                        if (strncmp(l, skip[i], strlen(skip[i])) == 0)
                                keep = false;
                if (keep) {
                        memcpy(o, l, n);
                        o += n;
                        *o++ = '\n';
                }
                l += n + (l[n] == '\n');
        }
        *o = '\0';
        return out;
}

/* A socket unit whose text changed, or a (non-oneshot) service unit that changed beyond its
 * settings (ExecStart=, limits, sandbox): systemd applies those only when it starts the unit
 * again. Their names go to FILE for --apply. */
static void note_changed_units(const unit_set *prev, const unit_set *now, const char *file) {
        FILE *f = NULL;

        for (size_t i = 0; i < now->n_entries; i++) {
                const unit_entry *e = &now->entries[i];
                const char *dot = strrchr(e->path, '.');
                bool is_socket = dot && streq(dot, ".socket"), is_service = dot && streq(dot, ".service");

                if (e->symlink || strchr(e->path, '/') || !(is_socket || is_service) ||
                    (is_service && strstr(e->content, "\nType=oneshot\n")))
                        continue;
                for (size_t j = 0; j < prev->n_entries; j++) {
                        const unit_entry *o = &prev->entries[j];
                        _cleanup_free_ char *a = NULL, *b = NULL;

                        if (o->symlink || !streq(o->path, e->path) || streq(o->content, e->content))
                                continue;
                        if (is_service) {
                                a = service_shape(o->content);
                                b = service_shape(e->content);
                                if (!a || !b || streq(a, b))
                                        continue;
                        }
                        if (!f)
                                f = fopen(file, "ae");
                        if (!f)
                                return;
                        fprintf(f, "%s\n", e->path);
                        log_full(LOG_WARNING, 0, NULL, 0, "%s changed%s: systemctl reload "
                                 "dovesd.target applies it if %s not running; otherwise it "
                                 "needs a restart (its clients are dropped)", e->path,
                                 is_service ? " beyond its settings" : "",
                                 is_service ? "it is" : "its service is");
                }
        }
        if (f)
                fclose(f);
}

static bool endswith(const char *s, const char *suffix) {
        size_t l = strlen(s), k = strlen(suffix);

        return l >= k && streq(s + l - k, suffix);
}

/* ---- --apply: what a reload of the target does beyond the services' own reloads -------- */

static int run_argv(char *const argv[]) {
        pid_t pid = fork();
        int status;

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execv(argv[0], argv);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* systemctl ARG... with --no-block: never wait for a job inside ExecReload=. */
static int systemctl(const char *verb, const char *unit, const char *extra) {
        char *argv[] = { (char *) "/bin/systemctl", (char *) "--no-block", (char *) verb,
                         (char *) unit, (char *) extra, NULL };

        return run_argv(argv);
}

static int run_apply(const args *a) {
        _cleanup_free_ char *prefix = NULL, *line = NULL;
        config *c = NULL;
        size_t n = 0;
        FILE *f;
        int r, warnings = 0;

        r = load(a->config, &c);
        if (r < 0)
                return r;
        prefix = strdup(c->instance_name ?: "dovesd");
        config_free(c);
        if (!prefix)
                return -ENOMEM;

        /* 0. The runtime directories of the new config (a new chroot, a new listener's
         *    directory), before the services reload: they are ordered after this unit. */
        {
                _cleanup_free_ char *esc = NULL, *dirs = NULL;
                char *argv[] = { (char *) "/bin/systemctl", (char *) "restart", NULL, NULL };

                if (unit_name_escape(prefix, UNIT_ESCAPE_KEEP_DASH, &esc) >= 0 &&
                    asprintf(&dirs, "%s-dirs.service", esc) >= 0) {
                        argv[2] = dirs;
                        r = run_argv(argv);
                        if (r != 0)
                                log_full(LOG_WARNING, 0, NULL, 0,
                                         "systemctl restart %s: exit status %d", dirs, r);
                }
        }

        /* 1. Services added to the config: their sockets are wanted by the target. */
        r = systemctl("start", "dovesd.target", NULL);
        if (r != 0)
                log_full(LOG_WARNING, 0, NULL, 0, "systemctl start dovesd.target: exit status %d", r);

        /* 2. Units that left the config (not-found but still running): stop their sockets,
         *    let their services drain (SIGQUIT: no new clients, exit after the last). */
        f = popen("/bin/systemctl list-units --all --plain --no-legend --full", "re");
        if (f) {
                while (getline(&line, &n, f) > 0) {
                        char unit[512], load[64], active[64];
                        size_t pl = strlen(prefix);

                        /* A unit that is not loaded properly is marked "●" even with
                         * --plain: skip the mark. */
                        const char *l = strncmp(line, "\xe2\x97\x8f", 3) == 0 ? line + 3 : line;

                        if (sscanf(l, "%511s %63s %63s", unit, load, active) != 3 ||
                            !streq(load, "not-found") || !streq(active, "active") ||
                            strncmp(unit, prefix, pl) != 0 || unit[pl] != '-')
                                continue;
                        if (endswith(unit, ".socket")) {
                                log_full(LOG_NOTICE, 0, NULL, 0, "%s left the config: stopping it",
                                         unit);
                                (void) systemctl("stop", unit, NULL);
                        } else if (endswith(unit, ".service")) {
                                log_full(LOG_NOTICE, 0, NULL, 0, "%s left the config: it takes no "
                                         "new clients and stops when its last client is done",
                                         unit);
                                {
                                        char *argv[] = { (char *) "/bin/systemctl",
                                                         (char *) "--no-block", (char *) "kill",
                                                         (char *) "--kill-who=main",
                                                         (char *) "--signal=SIGQUIT", unit, NULL };

                                        (void) run_argv(argv);
                                }
                        }
                }
                pclose(f);
        }

        /* 3. Sockets whose listeners changed: restart those whose service is not running. */
        const char *file = changed_sockets_file() ?: CHANGED_SOCKETS_FILE;
        _cleanup_free_ char *keep = NULL;
        size_t keep_len = 0;

        f = fopen(file, "re");
        if (f) {
                while (getline(&line, &n, f) > 0) {
                        _cleanup_free_ char *svc = NULL, *cmd = NULL;
                        char state[64] = "";
                        FILE *p;

                        line[strcspn(line, "\n")] = '\0';
                        if (!line[0] || strstr(keep ?: "", line))
                                continue;
                        if (endswith(line, ".service")) {
                                /* Changed beyond its settings: applied when it starts next. */
                                if (asprintf(&cmd, "/bin/systemctl show -P ActiveState -- '%s' "
                                             "2>/dev/null", line) < 0)
                                        break;
                                p = popen(cmd, "re");
                                if (p) {
                                        if (fgets(state, sizeof(state), p))
                                                state[strcspn(state, "\n")] = '\0';
                                        pclose(p);
                                }
                                if (streq(state, "inactive") || streq(state, "failed"))
                                        continue;
                                log_full(LOG_WARNING, 0, NULL, 0, "%s changed beyond its "
                                         "settings (ExecStart=, limits or sandbox), and it is "
                                         "running: 'systemctl restart %s' applies that (its "
                                         "clients are dropped); new workers got the new "
                                         "settings", line, line);
                                warnings++;
                                goto keep_it;
                        }
                        /* The socket's service: Service= in the unit systemd loaded. */
                        if (asprintf(&cmd, "/bin/systemctl show -P Triggers -- '%s' 2>/dev/null; "
                                     "/bin/systemctl show -P ActiveState -- \"$(/bin/systemctl "
                                     "show -P Triggers -- '%s')\" 2>/dev/null", line, line) < 0)
                                break;
                        p = popen(cmd, "re");
                        if (p) {
                                char buf[512];

                                if (fgets(buf, sizeof(buf), p)) {
                                        buf[strcspn(buf, "\n")] = '\0';
                                        svc = strdup(buf);
                                }
                                if (fgets(state, sizeof(state), p))
                                        state[strcspn(state, "\n")] = '\0';
                                pclose(p);
                        }
                        if (streq(state, "inactive") || streq(state, "failed")) {
                                log_full(LOG_NOTICE, 0, NULL, 0, "%s changed: restarting it "
                                         "(%s is not running)", line, svc ?: "its service");
                                (void) systemctl("restart", line, NULL);
                                continue;
                        }
                        log_full(LOG_WARNING, 0, NULL, 0, "%s changed, but %s is running: "
                                 "systemd passes listening sockets only when it starts a "
                                 "service; 'systemctl stop %s && systemctl reload "
                                 "dovesd.target' applies the change (its clients are "
                                 "dropped)", line, svc ?: "its service", svc ?: line);
                        warnings++;
                keep_it:;
                        if (!GREEDY_REALLOC(keep, keep_len + strlen(line) + 2))
                                break;
                        keep_len += (size_t) sprintf(keep + keep_len, "%s\n", line);
                }
                fclose(f);
                /* What still needs a restart stays listed for the next --apply. */
                f = fopen(file, "we");
                if (f) {
                        fputs(keep ?: "", f);
                        fclose(f);
                }
        }
        return warnings > 0 ? 1 : 0;
}

static int run_systemd(const args *a) {
        _cleanup_(unit_set_done) unit_set set = {};
        _cleanup_free_ char *failed = NULL;
        const char *keep = last_good_dir(), *errors = errors_file();
        char *errors_tmp = NULL;
        FILE *ef;
        int r;

        ef = errors_begin(errors, &errors_tmp);
        r = build(a, &set);
        if (r == 0 && keep)
                (void) snapshot_remove(keep, a->config);
        if (r < 0 && keep)
                (void) keep_last_good(a, keep);
        else if (r < 0)
                log_error("%s: no units written.", a->config);
        errors_end(ef, errors_tmp, errors, r < 0);
        if (r <= 0)
                return r;
        r = units_write(&set, a->dest, &failed);
        if (r == -EEXIST)
                return log_error_errno(r, "Failed to create %s/%s, it already exists: %m",
                                       a->dest, failed ?: "");
        if (r < 0)
                return log_error_errno(r, "Failed to write %s/%s: %m", a->dest, failed ?: "");
        log_debug("Wrote %zu units and links from %s to %s.", set.n_entries, a->config, a->dest);

        if (keep) {
                _cleanup_(unit_set_done) unit_set prev = {};
                const char *cf = changed_sockets_file();

                if (cf && snapshot_load(keep, a->config, &prev, NULL) >= 0)
                        note_changed_units(&prev, &set, cf);
                r = snapshot_save(&set, keep, a->config);
                if (r < 0)
                        log_full(LOG_WARNING, -r, NULL, 0, "Failed to keep a copy of the units in %s, "
                                          "ignoring: %m", keep);
        }
        return 0;
}

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "%s [OPTIONS...] NORMAL-DIR [EARLY-DIR LATE-DIR]\n\n"
               "Write systemd units for a Dovecot 2.3 style service configuration, or\n"
               "validate or print it.\n\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "  -c --config=FILE     Read FILE (default: $DOVESD_CONFIG or " DEFAULT_CONFIG ")\n"
               "     --check           Check the configuration, print \"configuration OK\"\n"
               "     --dump            Print each service as doveconf -a does\n"
               "  -n --dump-changed    Print the non-default settings, as doveconf -n does\n"
               "     --dry-run         Print every unit, write nothing\n"
               "     --apply           At a reload of dovesd.target: start added services,\n"
               "                       drain removed ones, restart changed idle sockets\n",
               program_invocation_short_name, program_invocation_short_name);
}

/* Returns 1 to continue, 0 to exit successfully, <0 on error. */
static int parse_argv(int argc, char *argv[], args *a) {
        enum {
                ARG_VERSION = 0x100,
                ARG_CHECK,
                ARG_DUMP,
                ARG_DRY_RUN,
                ARG_APPLY,
        };
        static const struct option options[] = {
                { "help",    no_argument,       NULL, 'h'         },
                { "version", no_argument,       NULL, ARG_VERSION },
                { "config",  required_argument, NULL, 'c'         },
                { "check",   no_argument,       NULL, ARG_CHECK   },
                { "dump",    no_argument,       NULL, ARG_DUMP    },
                { "dump-changed", no_argument,  NULL, 'n'         },
                { "dry-run", no_argument,       NULL, ARG_DRY_RUN },
                { "apply",   no_argument,       NULL, ARG_APPLY   },
                {}
        };
        int c;

        a->config = getenv("DOVESD_CONFIG");
        if (isempty(a->config))
                a->config = DEFAULT_CONFIG;

        while ((c = getopt_long(argc, argv, "hc:n", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("dovesd-generator %s\n", DOVESD_VERSION);
                        return 0;
                case 'c':
                        a->config = optarg;
                        break;
                case ARG_CHECK:
                case ARG_DUMP:
                case 'n':
                case ARG_DRY_RUN:
                case ARG_APPLY:
                        if (a->mode != MODE_NONE) {
                                fprintf(stderr, "Only one of --check, --dump, -n, --dry-run and "
                                        "--apply may be given.\n");
                                return -EINVAL;
                        }
                        a->mode = c == ARG_CHECK ? MODE_CHECK :
                                  c == ARG_DUMP ? MODE_DUMP :
                                  c == 'n' ? MODE_DUMP_CHANGED :
                                  c == ARG_APPLY ? MODE_APPLY : MODE_DRY_RUN;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        abort();
                }

        if (optind < argc) {
                /* As systemd runs generators: 1 or 3 directories, only the first is used. */
                if (a->mode != MODE_NONE) {
                        fprintf(stderr, "Unexpected argument: %s\n", argv[optind]);
                        return -EINVAL;
                }
                if (argc - optind != 1 && argc - optind != 3) {
                        fprintf(stderr, "Expected 1 or 3 directories, got %d.\n",
                                argc - optind);
                        return -EINVAL;
                }
                a->mode = MODE_SYSTEMD;
                a->dest = argv[optind];
        }
        if (a->mode == MODE_NONE) {
                fprintf(stderr, "No mode given: use --check, --dump, -n or --dry-run, or give the "
                        "generator directories (see --help).\n");
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char *argv[]) {
        args a = {};
        int r;

        /* systemd (v251 and later) sets $SYSTEMD_SCOPE for the generators it runs. */
        (void) log_setup(!isempty(getenv("SYSTEMD_SCOPE")));

        r = parse_argv(argc, argv, &a);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        switch (a.mode) {
        case MODE_CHECK:
                r = run_check(&a);
                break;
        case MODE_DUMP:
                r = run_dump(&a);
                break;
        case MODE_DUMP_CHANGED:
                r = run_dump_changed(&a);
                break;
        case MODE_DRY_RUN:
                r = run_dry_run(&a);
                break;
        case MODE_APPLY:
                r = run_apply(&a);
                if (r > 0) {
                        log_close();
                        return EXIT_FAILURE;
                }
                break;
        case MODE_SYSTEMD:
                r = run_systemd(&a);
                break;
        default:
                r = -EINVAL;
        }
        log_close();
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
