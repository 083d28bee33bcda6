/* SPDX-License-Identifier: MIT */

/*
 * After the tree is read: the validation doveconf does (master_settings_verify() and the
 * service checks) and the ones dovesd adds for systemd (absolute, normalized paths below
 * base_dir, executables systemd accepts, IP addresses), then the effective values as
 * Dovecot's master computes them (service_create(): defaults, limits, $default_* users,
 * paths under base_dir, argv under libexec_dir), then doveconf's order (order.c).
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "plan/address.h"
#include "values.h"

/* Split on any of the characters in seps, dropping empty parts (t_strsplit_spaces()). */
static char **split_spaces(const char *s, const char *seps) {
        char **v = NULL;
        size_t n = 0;

        if (!GREEDY_REALLOC(v, 1))
                return NULL;
        v[0] = NULL;
        while (*s) {
                size_t len;
                s += strspn(s, seps);
                len = strcspn(s, seps);
                if (len == 0)
                        break;
                if (!GREEDY_REALLOC(v, n + 2))
                        return strv_free(v);
                v[n] = strndup(s, len);
                if (!v[n])
                        return strv_free(v);
                v[++n] = NULL;
                s += len;
        }
        return v;
}

static bool protocol_enabled(char **protocols, const char *protocol) {
        if (protocol[0] == '\0')
                return true;
        for (char **p = protocols; p && *p; p++)
                if (streq(*p, protocol))
                        return true;
        return false;
}

static const char *expand_user(const config *c, const char *v) {
        if (streq(v, "$default_internal_user"))
                return c->default_internal_user;
        if (streq(v, "$default_login_user"))
                return c->default_login_user;
        return v;
}

static const char *expand_group(const config *c, const char *v) {
        if (streq(v, "$default_internal_group"))
                return c->default_internal_group;
        return v;
}

/* Does PATH have a ".." component? */
static bool path_has_dotdot(const char *path) {
        for (const char *p = path; (p = strstr(p, "..")); p++)
                if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
                        return true;
        return false;
}

/* Normalizes PATH in place as systemd wants socket paths: no "//", no "." component, no
 * trailing '/'. ".." components are refused by validate() before this runs. */
static char *path_simplify(char *path) {
        bool absolute = path[0] == '/';
        const char *r = path;
        char *w = path;

        while (*r != '\0') {
                size_t n;

                while (*r == '/')
                        r++;
                n = strcspn(r, "/");
                if (n == 0)
                        break;
                if (n == 1 && r[0] == '.') {
                        r++;
                        continue;
                }
                if (absolute || w > path)
                        *w++ = '/';
                memmove(w, r, n);
                w += n;
                r += n;
        }
        if (w == path)
                *w++ = absolute ? '/' : '.';
        *w = '\0';
        return path;
}

static char *under_dir(const char *dir, const char *path) {
        char *r;

        if (path[0] == '/')
                return strdup(path);
        if (asprintf(&r, "%s/%s", dir, path) < 0)
                return NULL;
        return r;
}

/* A listener path or chroot: under base_dir when relative, normalized. */
static char *base_path(const config *c, const char *path) {
        char *r = under_dir(c->base_dir, path);

        return r ? path_simplify(r) : NULL;
}

static char *chroot_path(const config *c, const char *chroot) {
        if (chroot[0] == '\0')
                return strdup("");
        /* "." is base_dir itself; the trailing '/' goes, as in Dovecot */
        return base_path(c, chroot);
}

static bool process_limit_1(const char *name) {
        static const char *const names[] = {
                "auth", "anvil", "log", "indexer", "old-stats", "replicator", "ipc", "director",
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcasecmp(names[i], name) == 0)
                        return true;
        return false;
}

static int effective(config *c, service *s, char **protocols) {
        const char *exe = s->var_executable ?: s->executable;

        s->eff_client_limit = s->client_limit ?: c->default_client_limit;
        if (s->service_count > 0 && s->eff_client_limit > s->service_count)
                s->eff_client_limit = s->service_count;
        s->eff_process_limit = s->process_limit ?: c->default_process_limit;
        s->eff_idle_kill = s->idle_kill ?: c->default_idle_kill;
        if (s->eff_idle_kill == DOVESD_TIME_NEVER)
                s->eff_idle_kill = 0;
        s->eff_vsz_limit = s->vsz_limit != DOVESD_SIZE_DEFAULT ? s->vsz_limit
                                                               : c->default_vsz_limit;
        s->enabled = protocol_enabled(protocols, s->protocol) && exe[0] != '\0';

        s->eff_argv = split_spaces(exe, " ");
        if (!s->eff_argv)
                return -ENOMEM;
        if (s->eff_argv[0] && s->eff_argv[0][0] != '/') {
                char *a = under_dir(c->libexec_dir, s->eff_argv[0]);
                if (!a)
                        return -ENOMEM;
                free(s->eff_argv[0]);
                s->eff_argv[0] = a;
        }
        s->eff_user = strdup(expand_user(c, s->var_user ?: s->user));
        s->eff_extra_groups = strdup(expand_group(c, s->var_extra_groups ?: s->extra_groups));
        s->eff_chroot = chroot_path(c, s->var_chroot ?: s->chroot);
        s->eff_group = strdup(expand_group(c, s->var_group ?: s->group));
        s->eff_privileged_group = strdup(expand_group(c, s->var_privileged_group ?: s->privileged_group));
        if (!s->eff_user || !s->eff_extra_groups || !s->eff_chroot || !s->eff_group ||
            !s->eff_privileged_group)
                return -ENOMEM;

        for (size_t i = 0; i < s->n_listeners; i++) {
                listener *l = &s->listeners[i];

                if (l->kind == LISTENER_INET) {
                        const char *a = l->var_address ?: l->address;
                        l->addresses = split_spaces(a[0] ? a : c->listen, ", ");
                        if (!l->addresses)
                                return -ENOMEM;
                        l->enabled = l->port != 0 && !(l->ssl && streq(c->ssl, "no"));
                        l->path = strdup("");
                        l->eff_user = strdup("");
                        l->eff_group = strdup("");
                } else {
                        l->path = base_path(c, l->name);
                        l->eff_user = strdup(expand_user(c, l->var_user ?: l->user));
                        l->eff_group = strdup(expand_group(c, l->var_group ?: l->group));
                        l->addresses = calloc(1, sizeof(char *));
                        l->enabled = l->mode != 0;
                }
                if (!l->path || !l->eff_user || !l->eff_group || !l->addresses)
                        return -ENOMEM;
        }
        return 0;
}

static const config_global *global_find(config_state *st, const char *key) {
        return config_global_find(st->cfg, key);
}

static unsigned global_uint(config_state *st, const char *key, unsigned def) {
        const config_global *g = global_find(st, key);
        _cleanup_free_ char *e = NULL;
        unsigned v;

        if (g && value_parse_uint(g->value, &v, &e) == 0)
                return v;
        return def;
}

/* Where a global-level error points: the line that set the key, else line 1 of the file. */
static int global_error(config_state *st, conf_diags *d, const char *key, const char *text,
                        const char *arg) {
        const config_global *g = global_find(st, key);

        return diag_add(d, false, g ? g->file : st->cfg->path, g ? g->line : 1, "%s%s", text,
                        arg);
}

#ifndef DOVESD_EXAMPLES_DIR
#define DOVESD_EXAMPLES_DIR "/usr/share/doc/dovesd/examples"
#endif

/* Every word of protocols must be some service's protocol. doveconf stops at the first one
 * ("protocols: Unknown protocol: imap"); we keep that text first, so the line still reads as
 * doveconf's, then name every other unknown protocol once and say what to do. A stock Debian
 * /etc/dovecot enables imap, pop3, lmtp (and sieve) that way, while declaring no service. */
static int check_protocols(config_state *st, char **protocols, conf_diags *d) {
        _cleanup_free_ char *others = NULL;
        const char *first = NULL;
        size_t n_others = 0, len = 0;

        for (char **p = protocols; *p; p++) {
                bool found = false, seen = false;

                for (size_t i = 0; i < st->cfg->n_services && !found; i++)
                        found = streq(st->cfg->services[i].protocol, *p);
                for (char **q = protocols; q < p && !seen; q++)
                        seen = streq(*q, *p);
                if (found || seen)
                        continue;
                if (!first) {
                        first = *p;
                        continue;
                }
                /* ", NAME" each; bounded by the length of the protocols value itself */
                if (!GREEDY_REALLOC(others, len + strlen(*p) + 3))
                        return -ENOMEM;
                len += sprintf(others + len, "%s%s", n_others > 0 ? ", " : "", *p);
                n_others++;
        }
        if (!first)
                return 0;

        const config_global *g = global_find(st, "protocols");
        return diag_add(d, false, g ? g->file : st->cfg->path, g ? g->line : 1,
                        "protocols: Unknown protocol: %s%s%s%s: no service has %s%s; declare "
                        "%s, or !include " DOVESD_EXAMPLES_DIR "/dovecot-2.3-services.conf "
                        "(Dovecot's built-in services)",
                        first, others ? " (also unknown: " : "", others ?: "", others ? ")" : "",
                        others ? "these protocols" : "protocol = ", others ? "" : first,
                        others ? "one for each" : "one") ?: -EINVAL;
}

/* Why systemd would refuse PATH as the program of an Exec*= line (config_parse_exec():
 * an absolute, valid path without quotes, '\\' or control characters), or NULL. */
static const char *exec_path_problem(const char *path) {
        size_t len = strlen(path);

        if (path[0] != '/')
                return "not an absolute path (a relative executable is under libexec_dir)";
        if (path[len - 1] == '/')
                return "names a directory";
        if (len >= PATH_MAX)
                return "longer than 4095 bytes";
        for (const char *p = path; *p; ) {
                size_t n;

                p += strspn(p, "/");
                n = strcspn(p, "/");
                if (n > NAME_MAX)
                        return "a path component is longer than 255 bytes";
                p += n;
        }
        for (const char *p = path; *p; p++)
                if ((unsigned char) *p < ' ' || *p == 0x7f || strchr("\"'\\", *p))
                        return "systemd refuses quotes, '\\' and control characters in a program path";
        return NULL;
}

typedef struct listen_key {
        char *key;
        const char *file;
        unsigned line;
        size_t order;
} listen_key;

static int listen_key_cmp(const void *a, const void *b) {
        const listen_key *x = a, *y = b;
        int r = strcmp(x->key, y->key);
        if (r != 0)
                return r;
        return x->order < y->order ? -1 : x->order > y->order;
}

static int validate(config_state *st, conf_diags *d, char **protocols) {
        config *c = st->cfg;
        listen_key *keys = NULL;
        size_t n_keys = 0;
        int r = 0;

        if (c->listen[0] == '\0')
                return global_error(st, d, "listen", "listen can't be set empty", "") ?: -EINVAL;
        /* dovesd creates base_dir, the chroots and the listeners' directories below it (the
         * dirs unit): every one must stay below base_dir, and systemd takes only absolute,
         * normalized socket paths. doveconf checks neither. */
        if (c->base_dir[0] != '/')
                return global_error(st, d, "base_dir", "base_dir must be an absolute path: ",
                                    c->base_dir) ?: -EINVAL;
        if (path_has_dotdot(c->base_dir))
                return global_error(st, d, "base_dir",
                                    "base_dir must not contain a '..' component: ", c->base_dir)
                        ?: -EINVAL;
        {
                unsigned fu = global_uint(st, "first_valid_uid", 500);
                unsigned lu = global_uint(st, "last_valid_uid", 0);
                unsigned fg = global_uint(st, "first_valid_gid", 1);
                unsigned lg = global_uint(st, "last_valid_gid", 0);
                if (lu != 0 && fu > lu)
                        return global_error(st, d, global_find(st, "last_valid_uid") ?
                                            "last_valid_uid" : "first_valid_uid",
                                            "first_valid_uid can't be larger than last_valid_uid", "")
                                ?: -EINVAL;
                if (lg != 0 && fg > lg)
                        return global_error(st, d, global_find(st, "last_valid_gid") ?
                                            "last_valid_gid" : "first_valid_gid",
                                            "first_valid_gid can't be larger than last_valid_gid", "")
                                ?: -EINVAL;
        }

        for (size_t i = 0; i < c->n_services; i++) {
                service *s = &c->services[i];
                static const char *const types[] = {
                        "", "log", "config", "anvil", "login", "startup", "worker",
                };
                bool ok = false;

                if (s->name[0] == '\0')
                        return diag_add(d, false, s->file, s->line, "Service #%zu is missing name",
                                        i) ?: -EINVAL;
                for (size_t t = 0; t < ELEMENTSOF(types); t++)
                        ok = ok || streq(s->type, types[t]);
                if (!ok)
                        return diag_add(d, false, s->file, s->line, "Unknown service type: %s",
                                        s->type) ?: -EINVAL;
        }

        r = check_protocols(st, protocols, d);
        if (r < 0)
                return r;

        for (size_t i = 0; i < c->n_services; i++) {
                service *s = &c->services[i];
                unsigned plimit = s->process_limit ?: c->default_process_limit;

                if (!protocol_enabled(protocols, s->protocol))
                        continue;
                if (s->drop_priv_before_exec && (s->var_chroot ?: s->chroot)[0] != '\0') {
                        r = diag_add(d, false, s->file, s->line,
                                     "service(%s): drop_priv_before_exec=yes can't be used with chroot",
                                     s->name);
                        goto fail;
                }
                if (path_has_dotdot(s->var_chroot ?: s->chroot)) {
                        r = diag_add(d, false, s->file, s->line,
                                     "service(%s): chroot(%s): path must not contain a '..' component",
                                     s->name, s->var_chroot ?: s->chroot);
                        goto fail;
                }
                {
                        _cleanup_strv_free_ char **argv = split_spaces(
                                s->var_executable ?: s->executable, " ");
                        _cleanup_free_ char *exe = NULL;
                        const char *why;

                        if (!argv) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        if (argv[0]) {
                                exe = under_dir(c->libexec_dir, argv[0]);
                                if (!exe) {
                                        r = -ENOMEM;
                                        goto fail;
                                }
                                why = exec_path_problem(exe);
                                if (why) {
                                        r = diag_add(d, false, s->file, s->line,
                                                     "service(%s): executable %s: %s", s->name,
                                                     exe, why);
                                        goto fail;
                                }
                        }
                }
                if (s->process_min_avail > plimit) {
                        r = diag_add(d, false, s->file, s->line,
                                     "service(%s): process_min_avail is higher than process_limit",
                                     s->name);
                        goto fail;
                }
                if (process_limit_1(s->name) && plimit > 1) {
                        r = diag_add(d, false, s->file, s->line,
                                     "service(%s): process_limit must be 1", s->name);
                        goto fail;
                }
                if (s->vsz_limit < 1024 * 1024 && s->vsz_limit != 0) {
                        r = diag_add(d, false, s->file, s->line,
                                     "service(%s): vsz_limit is too low", s->name);
                        goto fail;
                }
                for (int kind = LISTENER_UNIX; kind <= LISTENER_INET; kind++)
                        for (size_t j = 0; j < s->n_listeners; j++) {
                                listener *l = &s->listeners[j];
                                char *k;

                                if ((int) l->kind != kind)
                                        continue;
                                if (kind != LISTENER_INET && l->name[0] == '\0') {
                                        r = diag_add(d, false, l->file, l->line,
                                                     "service(%s): %s: path must not be empty",
                                                     s->name, listener_kind_to_string(kind));
                                        goto fail;
                                }
                                if (kind != LISTENER_INET && path_has_dotdot(l->name)) {
                                        r = diag_add(d, false, l->file, l->line,
                                                     "service(%s): %s(%s): path must not contain a '..' component",
                                                     s->name, listener_kind_to_string(kind), l->name);
                                        goto fail;
                                }
                                if (kind != LISTENER_INET) {
                                        size_t bl = strlen(c->base_dir);
                                        if (strncmp(l->name, c->base_dir, bl) == 0 &&
                                            l->name[bl] == '/') {
                                                /* doveconf says unix_listener for fifo
                                                 * listeners too */
                                                r = diag_add(d, true, l->file, l->line,
                                                             "You should remove base_dir prefix from unix_listener: %s",
                                                             l->name);
                                                if (r < 0)
                                                        goto fail;
                                        }
                                        if (l->mode == 0)
                                                continue;
                                        k = under_dir(c->base_dir, l->name);
                                } else {
                                        const char *addr = l->var_address ?: l->address;
                                        _cleanup_strv_free_ char **as = NULL;

                                        if (l->port == 0)
                                                continue;
                                        as = split_spaces(addr[0] ? addr : c->listen, ", ");
                                        if (!as) {
                                                r = -ENOMEM;
                                                goto fail;
                                        }
                                        for (char **x = as; *x; x++)
                                                if (inet_address_parse(*x, &(inet_address) {}) < 0) {
                                                        r = diag_add(d, false, l->file, l->line,
                                                                     "service(%s): inet_listener(%s): address %s is a host name; use an IP address (a generator cannot resolve names)",
                                                                     s->name, l->name, *x);
                                                        goto fail;
                                                }
                                        if (asprintf(&k, "%u:%s", l->port,
                                                     l->var_address ?: l->address) < 0)
                                                k = NULL;
                                }
                                if (!k) {
                                        r = -ENOMEM;
                                        goto fail;
                                }
                                if (!GREEDY_REALLOC(keys, n_keys + 1)) {
                                        free(k);
                                        r = -ENOMEM;
                                        goto fail;
                                }
                                keys[n_keys] = (listen_key) { k, l->file, l->line, n_keys };
                                n_keys++;
                        }
        }
        if (n_keys > 0)
                qsort_safe(keys, n_keys, sizeof(*keys), listen_key_cmp);
        for (size_t i = 1; i < n_keys; i++)
                if (streq(keys[i].key, keys[i - 1].key)) {
                        r = diag_add(d, false, keys[i].file, keys[i].line,
                                     "duplicate listener: %s", keys[i].key);
                        goto fail;
                }
        r = 0;
        goto done;
fail:
        if (r == 0)
                r = -EINVAL;
done:
        for (size_t i = 0; i < n_keys; i++)
                free(keys[i].key);
        free(keys);
        return r;
}

/* Dovecot's programs learn base_dir from Dovecot's config process, which serves Dovecot's
 * default /run/dovecot when the config sets none: a config that runs them without setting
 * base_dir gets that default too, so that units and programs agree on every socket. */
static int dovecot_base_dir(config_state *st, char **protocols) {
        config *c = st->cfg;

        if (global_find(st, "base_dir"))
                return 0;
        for (size_t i = 0; i < c->n_services; i++) {
                const service *s = &c->services[i];
                const char *exe = s->var_executable ?: s->executable;
                _cleanup_strv_free_ char **argv = NULL;
                _cleanup_free_ char *path = NULL;

                if (!protocol_enabled(protocols, s->protocol) || exe[0] == '\0')
                        continue;
                argv = split_spaces(exe, " ");
                if (!argv)
                        return -ENOMEM;
                if (!argv[0])
                        continue;
                path = under_dir(c->libexec_dir, argv[0]);
                if (!path)
                        return -ENOMEM;
                if (executable_is_dovecot(path))
                        return set_str(&c->base_dir, DOVECOT_BASE_DIR_DEFAULT);
        }
        return 0;
}

int config_finish(config_state *st, conf_diags *diags) {
        config *c = st->cfg;
        _cleanup_strv_free_ char **protocols = NULL;
        int r;

        protocols = split_spaces(c->protocols, " ");
        if (!protocols)
                return -ENOMEM;
        if (protocols[0] && streq(protocols[0], "none") && !protocols[1])
                protocols[0] = mfree(protocols[0]);

        r = validate(st, diags, protocols);
        if (r < 0)
                return r;
        path_simplify(c->base_dir);

        r = dovecot_base_dir(st, protocols);
        if (r < 0)
                return r;

        for (size_t i = 0; i < c->n_services; i++) {
                r = effective(c, &c->services[i], protocols);
                if (r < 0)
                        return r;
        }

        config_sort(c);
        return 0;
}
