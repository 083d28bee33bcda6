/* SPDX-License-Identifier: MIT */

/* Services printed exactly as doveconf -a prints them: sorted keys, two-space indent,
 * doveconf's value formats; and the non-default settings, as doveconf -n prints them. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "model.h"
#include "macro.h"
#include "values.h"

/* doveconf quotes a value holding '#' or starting or ending with a space or tab, escaping
 * backslashes and quotes inside; anything else is printed raw. */
static void print_value(FILE *f, const char *value) {
        size_t len = strlen(value);

        if (len > 0 && (strchr(value, '#') || value[0] == ' ' || value[0] == '\t' ||
                        value[len - 1] == ' ' || value[len - 1] == '\t')) {
                fputc('"', f);
                for (const char *p = value; *p; p++) {
                        if (*p == '\\' || *p == '"' || *p == '\'')
                                fputc('\\', f);
                        fputc(*p, f);
                }
                fputc('"', f);
        } else
                fputs(value, f);
}

static void print_kv(FILE *f, const char *indent, const char *key, const char *value) {
        fprintf(f, "%s%s = ", indent, key);
        print_value(f, value);
        fputc('\n', f);
}

static void print_name(FILE *f, const char *kind, const char *name, const char *indent) {
        if (name[0] == '\0')
                fprintf(f, "%s%s {\n", indent, kind);
        else if (strchr(name, ' '))
                fprintf(f, "%s%s \"%s\" {\n", indent, kind, name);
        else
                fprintf(f, "%s%s %s {\n", indent, kind, name);
}

/* One setting of a service or listener. With only_changed (doveconf -n), printed only when it
 * differs from DEF, the default of a service or listener that sets nothing. */
static void kv_str(FILE *f, bool only_changed, const char *indent, const char *key,
                   const char *value) {
        if (!only_changed || !isempty(value))
                print_kv(f, indent, key, value);
}

static void kv_raw(FILE *f, bool only_changed, const char *indent, const char *key,
                   const char *value, const char *def) {
        if (!only_changed || !streq(value, def))
                fprintf(f, "%s%s = %s\n", indent, key, value);
}

static void kv_uint(FILE *f, bool only_changed, const char *indent, const char *key,
                    unsigned value) {
        if (!only_changed || value != 0)
                fprintf(f, "%s%s = %u\n", indent, key, value);
}

/* A declared listener is always printed (dovesd has no built-in ones: that it exists is part
 * of the configuration), with the settings that differ from a listener's defaults. */
static void dump_listeners(const service *s, listener_kind kind, bool only_changed, FILE *f) {
        char buf[32];

        for (size_t i = 0; i < s->n_listeners; i++) {
                const listener *l = &s->listeners[i];

                if (l->kind != kind)
                        continue;
                if (kind == LISTENER_INET) {
                        print_name(f, "inet_listener", l->name, "  ");
                        kv_str(f, only_changed, "    ", "address", l->address);
                        kv_raw(f, only_changed, "    ", "haproxy", value_format_bool(l->haproxy),
                               "no");
                        kv_uint(f, only_changed, "    ", "port", l->port);
                        kv_raw(f, only_changed, "    ", "reuse_port",
                               value_format_bool(l->reuse_port), "no");
                        kv_raw(f, only_changed, "    ", "ssl", value_format_bool(l->ssl), "no");
                } else {
                        print_name(f, listener_kind_to_string(kind),
                                   l->name, "  ");
                        kv_str(f, only_changed, "    ", "group", l->group);
                        kv_raw(f, only_changed, "    ", "mode", value_format_octal(l->mode, buf),
                               "0600");
                        kv_str(f, only_changed, "    ", "user", l->user);
                }
                fputs("  }\n", f);
        }
}

static void dump_service(const service *s, bool only_changed, FILE *f) {
        char buf[32], def[32];

        print_name(f, "service", s->name, "");
        kv_str(f, only_changed, "  ", "chroot", s->chroot);
        kv_uint(f, only_changed, "  ", "client_limit", s->client_limit);
        kv_raw(f, only_changed, "  ", "drop_priv_before_exec",
               value_format_bool(s->drop_priv_before_exec), "no");
        kv_str(f, only_changed, "  ", "executable", s->executable);
        kv_str(f, only_changed, "  ", "extra_groups", s->extra_groups);
        dump_listeners(s, LISTENER_FIFO, only_changed, f);
        kv_str(f, only_changed, "  ", "group", s->group);
        kv_raw(f, only_changed, "  ", "idle_kill", value_format_time(s->idle_kill, buf), "0");
        dump_listeners(s, LISTENER_INET, only_changed, f);
        kv_str(f, only_changed, "  ", "privileged_group", s->privileged_group);
        kv_uint(f, only_changed, "  ", "process_limit", s->process_limit);
        kv_uint(f, only_changed, "  ", "process_min_avail", s->process_min_avail);
        kv_str(f, only_changed, "  ", "protocol", s->protocol);
        kv_uint(f, only_changed, "  ", "service_count", s->service_count);
        kv_str(f, only_changed, "  ", "type", s->type);
        dump_listeners(s, LISTENER_UNIX, only_changed, f);
        kv_str(f, only_changed, "  ", "user", s->user);
        kv_raw(f, only_changed, "  ", "vsz_limit", value_format_size(s->vsz_limit, buf),
               value_format_size(DOVESD_SIZE_DEFAULT, def));
        fputs("}\n", f);
}

int config_dump(const config *c, FILE *f) {
        for (size_t i = 0; i < c->n_services; i++)
                dump_service(&c->services[i], false, f);
        return ferror(f) ? -EIO : 0;
}

/* doveconf -n: the default of every global Dovecot knows, as doveconf -a prints it. */
static const struct global_default {
        const char *key;
        const char *value;
} global_defaults[] = {
#include "dump-defaults.inc"
};

static int global_default_cmp(const void *key, const void *elem) {
        return strcmp(key, ((const struct global_default *) elem)->key);
}

/* The printed default of KEY: dovesd's own for the globals it uses (base_dir, instance_name:
 * see dovesd-generator(8)), Dovecot's for the others. NULL: not known, always printed. */
static char *global_default(const config *c, const char *key) {
        const struct global_default *d;
        _cleanup_free_ char *v = NULL, *out = NULL;
        size_t size = 0;
        FILE *f;

        /* A config that runs Dovecot's own programs gets Dovecot's base_dir. */
        if (streq(key, "base_dir"))
                for (size_t i = 0; i < c->n_services; i++)
                        if (service_is_dovecot(&c->services[i]))
                                return strdup(DOVECOT_BASE_DIR_DEFAULT);
        v = config_global_default(key);
        if (!v) {
                d = bsearch(key, global_defaults, ELEMENTSOF(global_defaults),
                            sizeof(global_defaults[0]), global_default_cmp);
                return d ? strdup(d->value) : NULL;
        }
        f = open_memstream(&out, &size);
        if (!f)
                return NULL;
        print_value(f, v);
        if (fclose(f) != 0)
                return NULL;
        return TAKE_PTR(out);
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && streq(s + n - m, suffix);
}

/* doveconf -n hides secrets: the whole value of *_password, *_key, *_nonce and ssl_dh*
 * settings, and what follows "password=" or "pass=" inside any value, up to a space or ':'. */
static void print_secret_hidden(FILE *f, const char *key, const char *printed) {
        const char *p = printed;

        if (!isempty(printed) && (has_suffix(key, "_password") || has_suffix(key, "_key") ||
                                  has_suffix(key, "_nonce") || startswith(key, "ssl_dh"))) {
                fputs("# hidden, use -P to show it", f);
                return;
        }
        for (;;) {
                const char *a = strstr(p, "password="), *b = strstr(p, "pass="), *m;

                m = a && (!b || a < b) ? a : b;
                if (!m)
                        break;
                m += m == a ? strlen("password=") : strlen("pass=");
                fwrite(p, 1, (size_t) (m - p), f);
                fputs("#hidden_use-P_to_show#", f);
                p = m + strcspn(m, " \t:");
        }
        fputs(p, f);
}

static int global_ptr_cmp(const void *a, const void *b) {
        return strcmp((*(const config_global *const *) a)->key,
                      (*(const config_global *const *) b)->key);
}

static int dump_globals(const config *c, const config_global *const *g, size_t n, FILE *f) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *v = NULL, *def = NULL, *printed = NULL;
                size_t size = 0;
                FILE *m;

                /* As doveconf -n: variables expanded, a value read from a file as its "<path". */
                v = config_global_canonical(g[i]->key, g[i]->written[0] == '<' ? g[i]->written :
                                                                              g[i]->value);
                if (!v)
                        return -ENOMEM;
                m = open_memstream(&printed, &size);
                if (!m)
                        return -ENOMEM;
                print_value(m, v);
                if (fclose(m) != 0)
                        return -ENOMEM;
                def = global_default(c, g[i]->key);
                if (def && streq(def, printed))
                        continue;
                fprintf(f, "%s = ", g[i]->key);
                print_secret_hidden(f, g[i]->key, printed);
                fputc('\n', f);
        }
        return 0;
}

int config_dump_changed(const char *path, FILE *f, conf_diags *diags) {
        _cleanup_free_ const config_global **sorted = NULL;
        size_t n_globals, before;
        config *c = NULL;
        int r;

        r = config_load(path, &c, diags);
        if (r < 0)
                return r;
        n_globals = c->n_globals;
        sorted = calloc(n_globals + 1, sizeof(*sorted));
        if (!sorted) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < n_globals; i++)
                sorted[i] = &c->globals[i];
        qsort(sorted, n_globals, sizeof(*sorted), global_ptr_cmp);

        /* As doveconf -n: the globals in key order, the services in their place
         * among them (at "service"). */
        for (before = 0; before < n_globals && strcmp(sorted[before]->key, "service") < 0;
             before++)
                ;
        r = dump_globals(c, sorted, before, f);
        if (r < 0)
                goto finish;
        for (size_t i = 0; i < c->n_services; i++)
                dump_service(&c->services[i], true, f);
        r = dump_globals(c, sorted + before, n_globals - before, f);
        if (r >= 0 && ferror(f))
                r = -EIO;
finish:
        config_free(c);
        return r;
}
