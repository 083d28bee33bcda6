/* SPDX-License-Identifier: MIT */

/* Services printed exactly as doveconf -a prints them: sorted keys, two-space indent,
 * doveconf's value formats; and the non-default settings, as doveconf -n prints them. */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
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

/* VALUE as print_value() writes it, in a string of its own. NULL on ENOMEM. */
static char *value_printed(const char *value) {
        _cleanup_free_ char *out = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&out, &size);
        if (!f)
                return NULL;
        print_value(f, value);
        if (fclose(f) != 0)
                return NULL;
        return TAKE_PTR(out);
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
        _cleanup_free_ char *v = NULL;

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
        return value_printed(v);
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && streq(s + n - m, suffix);
}

/* doveconf -n hides the user and password of a URL: what follows "http://", "https://" or
 * "ftp://" anywhere in a value up to an '@', when no '/' or space comes first. */
static char *hide_urls(const char *value) {
        static const char *const schemes[] = { "http://", "https://", "ftp://" };
        _cleanup_free_ char *out = NULL;
        const char *p = value;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&out, &size);
        if (!f)
                return NULL;
        for (;;) {
                const char *m = NULL, *after = NULL;
                size_t n;

                for (size_t i = 0; i < ELEMENTSOF(schemes); i++) {
                        const char *x = strstr(p, schemes[i]);

                        if (x && (!m || x < m)) {
                                m = x;
                                after = x + strlen(schemes[i]);
                        }
                }
                if (!m)
                        break;
                fwrite(p, 1, (size_t) (after - p), f);
                n = strcspn(after, "/@ \t");
                if (after[n] == '@') {
                        fputs("#hidden_use-P_to_show#", f);
                        after += n;
                }
                p = after;
        }
        fputs(p, f);
        if (fclose(f) != 0)
                return NULL;
        return TAKE_PTR(out);
}

/* doveconf -n hides secrets: the whole value of *_password, *_key, *_nonce and ssl_dh*
 * settings, the user and password of URLs, and what follows "password=" or "pass=" inside
 * any value (at its start or after a character that is not a letter or digit), up to a
 * space or ':'. Returns 0 or -ENOMEM. */
static int print_secret_hidden(FILE *f, const char *key, const char *printed) {
        _cleanup_free_ char *urls = NULL;
        const char *p;

        if (!isempty(printed) && (has_suffix(key, "_password") || has_suffix(key, "_key") ||
                                  has_suffix(key, "_nonce") || startswith(key, "ssl_dh"))) {
                fputs("# hidden, use -P to show it", f);
                return 0;
        }
        urls = hide_urls(printed);
        if (!urls)
                return -ENOMEM;
        p = urls;
        for (;;) {
                const char *a = strstr(p, "password="), *b = strstr(p, "pass="), *m;

                m = a && (!b || a < b) ? a : b;
                if (!m)
                        break;
                if (m > urls && isalnum((unsigned char) m[-1])) {
                        /* inside a word ("nopassword="): not a secret */
                        fwrite(p, 1, (size_t) (m + 1 - p), f);
                        p = m + 1;
                        continue;
                }
                m += m == a ? strlen("password=") : strlen("pass=");
                fwrite(p, 1, (size_t) (m - p), f);
                fputs("#hidden_use-P_to_show#", f);
                p = m + strcspn(m, " \t:");
        }
        fputs(p, f);
        return 0;
}

/* VALUE as doveconf prints it in a block of CLASS: its canonical form, quoted. */
static char *printed_value(const char *class, const char *key, const char *value) {
        _cleanup_free_ char *v = NULL;

        v = config_setting_canonical(class, key, value);
        if (!v)
                return NULL;
        return value_printed(v);
}

/* One line or block of the output at one level, printed in key order (stable). */
typedef struct entry {
        char *key;
        char *text;
        size_t order;
} entry;

typedef struct entries {
        entry *v;
        size_t n;
} entries;

static void entries_done(entries *e) {
        for (size_t i = 0; i < e->n; i++) {
                free(e->v[i].key);
                free(e->v[i].text);
        }
        free(e->v);
        *e = (entries) {};
}

/* Takes TEXT. */
static int entries_add(entries *e, const char *key, char *text) {
        if (!text)
                return -ENOMEM;
        if (!GREEDY_REALLOC(e->v, e->n + 1)) {
                free(text);
                return -ENOMEM;
        }
        e->v[e->n] = (entry) { .key = strdup(key), .text = text, .order = e->n };
        if (!e->v[e->n].key) {
                free(text);
                return -ENOMEM;
        }
        e->n++;
        return 0;
}

static int entry_cmp(const void *a, const void *b) {
        const entry *x = a, *y = b;
        int r = strcmp(x->key, y->key);

        return r != 0 ? r : (x->order > y->order) - (x->order < y->order);
}

static void entries_write(entries *e, FILE *f) {
        qsort_safe(e->v, e->n, sizeof(entry), entry_cmp);
        for (size_t i = 0; i < e->n; i++)
                fputs(e->v[i].text, f);
}

/* A setting line at DEPTH, secrets hidden. NULL on ENOMEM. */
static char *setting_line(unsigned depth, const char *key, const char *printed) {
        _cleanup_free_ char *out = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&out, &size);
        if (!f)
                return NULL;
        fprintf(f, "%*s%s = ", (int) depth * 2, "", key);
        r = print_secret_hidden(f, key, printed);
        fputc('\n', f);
        if (fclose(f) != 0 || r < 0)
                return NULL;
        return TAKE_PTR(out);
}

/* passdb and userdb: doveconf -n prints the settings that differ from these, what doveconf
 * -a prints for a passdb and a userdb that set only a driver. The other blocks (namespace,
 * mailbox, metric, event_exporter, plugin, dict, a service inside a filter) and filters
 * print every setting set. */
static const struct section_default {
        const char *section, *key, *value;
} section_defaults[] = {
        { "passdb", "args", "" },
        { "passdb", "auth_verbose", "default" },
        { "passdb", "default_fields", "" },
        { "passdb", "deny", "no" },
        { "passdb", "driver", "" },
        { "passdb", "master", "no" },
        { "passdb", "mechanisms", "" },
        { "passdb", "name", "" },
        { "passdb", "override_fields", "" },
        { "passdb", "pass", "no" },
        { "passdb", "result_failure", "continue" },
        { "passdb", "result_internalfail", "continue" },
        { "passdb", "result_success", "return-ok" },
        { "passdb", "skip", "never" },
        { "passdb", "username_filter", "" },
        { "userdb", "args", "" },
        { "userdb", "auth_verbose", "default" },
        { "userdb", "default_fields", "" },
        { "userdb", "driver", "" },
        { "userdb", "name", "" },
        { "userdb", "override_fields", "" },
        { "userdb", "result_failure", "continue" },
        { "userdb", "result_internalfail", "continue" },
        { "userdb", "result_success", "return-ok" },
        { "userdb", "skip", "never" },
};

static const char *section_default(const char *section, const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(section_defaults); i++)
                if (streq(section_defaults[i].section, section) &&
                    streq(section_defaults[i].key, key))
                        return section_defaults[i].value;
        return NULL;
}

static bool in_set(const size_t *set, size_t n, size_t x) {
        for (size_t i = 0; i < n; i++)
                if (set[i] == x)
                        return true;
        return false;
}

/* passdb and userdb blocks are a list: each block is one entry, named ones too. */
static bool is_db(const char *key) {
        return STR_IN_SET(key, "passdb", "userdb");
}

/* The value of a setting as doveconf -n shows it: variables expanded, a value read from a
 * file as its "<path". */
static const char *setting_value(const conf_setting *s) {
        return s->value[0] == '<' ? s->value : s->expanded ?: s->value;
}

/* A group of sections printed as one block: blocks with the same key and name merge (the
 * same namespace twice), all plugin { } blocks of a level merge, passdb/userdb never do. */
typedef struct group {
        const conf_section *first;
        size_t *secs;
        size_t n_secs;
        bool by_name;
} group;

static int group_cmp(const void *a, const void *b) {
        const group *x = a, *y = b;
        int r = strcmp(x->first->key, y->first->key);

        if (r == 0 && x->by_name)
                r = strcmp(x->first->name, y->first->name);
        return r != 0 ? r : (x->first > y->first) - (x->first < y->first);
}

static int add_block_entries(const conf_tree *t, const size_t *secs, size_t n, unsigned depth,
                             entries *out);

/* The settings and blocks written in the sections SECS of class CLASS ("global" for a
 * filter), as entries at DEPTH. */
static int add_body_entries(const conf_tree *t, const char *class, const size_t *secs, size_t n,
                            unsigned depth, entries *out) {
        _cleanup_free_ const conf_setting **last = NULL;
        size_t n_last = 0;
        const conf_section *sec = &t->sections[secs[0]];
        bool has_location = false, has_prefix = false;
        int r;

        last = calloc(t->n_settings + 1, sizeof(*last));
        if (!last)
                return -ENOMEM;
        /* the last value of each key wins, in the place it was first set */
        for (size_t i = 0; i < t->n_settings; i++) {
                const conf_setting *s = &t->settings[i];
                size_t j;

                if (!in_set(secs, n, s->section))
                        continue;
                for (j = 0; j < n_last; j++)
                        if (streq(last[j]->key, s->key))
                                break;
                last[j] = s;
                if (j == n_last)
                        n_last++;
        }
        /* a named passdb or userdb shows its name as a setting */
        if (sec->kind == CONF_SECTION_BLOCK && is_db(sec->key) && !isempty(sec->name)) {
                bool set = false;

                for (size_t j = 0; j < n_last; j++)
                        set = set || streq(last[j]->key, "name");
                if (!set) {
                        r = entries_add(out, "name", setting_line(depth, "name", sec->name));
                        if (r < 0)
                                return r;
                }
        }
        for (size_t j = 0; j < n_last; j++) {
                _cleanup_free_ char *printed = NULL;
                const char *def = section_default(class, last[j]->key);

                printed = printed_value(class, last[j]->key, setting_value(last[j]));
                if (!printed)
                        return -ENOMEM;
                if (def && streq(def, printed))
                        continue;
                has_location = has_location || streq(last[j]->key, "location");
                has_prefix = has_prefix || streq(last[j]->key, "prefix");
                r = entries_add(out, last[j]->key, setting_line(depth, last[j]->key, printed));
                if (r < 0)
                        return r;
        }
        /* doveconf -n prints a namespace's location and prefix even when unset */
        if (sec->kind == CONF_SECTION_BLOCK && streq(sec->key, "namespace")) {
                if (!has_location) {
                        r = entries_add(out, "location", setting_line(depth, "location", ""));
                        if (r < 0)
                                return r;
                }
                if (!has_prefix) {
                        r = entries_add(out, "prefix", setting_line(depth, "prefix", ""));
                        if (r < 0)
                                return r;
                }
        }
        return add_block_entries(t, secs, n, depth, out);
}

/* The blocks (not services, not filters) opened in the sections SECS, as entries at DEPTH. */
static int add_block_entries(const conf_tree *t, const size_t *secs, size_t n, unsigned depth,
                             entries *out) {
        group *groups = NULL;
        size_t n_groups = 0;
        int r = 0;

        for (size_t i = 1; i < t->n_sections; i++) {
                const conf_section *s = &t->sections[i];
                bool any_key, by_name;
                size_t g;

                /* the services at the top level are the model's; one inside a filter is
                 * printed as written, like the other blocks */
                if (s->kind != CONF_SECTION_BLOCK || !in_set(secs, n, s->parent) ||
                    (streq(s->key, "service") && s->parent == 0))
                        continue;
                any_key = s->class && s->class->any_key;
                by_name = !any_key && !is_db(s->key);
                for (g = 0; g < n_groups; g++)
                        if (!is_db(s->key) && streq(groups[g].first->key, s->key) &&
                            (any_key || streq(groups[g].first->name, s->name)))
                                break;
                if (g == n_groups) {
                        if (!GREEDY_REALLOC(groups, n_groups + 1)) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        groups[n_groups++] = (group) { .first = s, .by_name = by_name };
                }
                if (!GREEDY_REALLOC(groups[g].secs, groups[g].n_secs + 1)) {
                        r = -ENOMEM;
                        goto finish;
                }
                groups[g].secs[groups[g].n_secs++] = i;
        }
        qsort_safe(groups, n_groups, sizeof(group), group_cmp);
        for (size_t g = 0; g < n_groups; g++) {
                _cleanup_free_ char *text = NULL;
                entries body = {};
                size_t size = 0;
                FILE *f;

                r = add_body_entries(t, groups[g].first->key, groups[g].secs, groups[g].n_secs,
                                     depth + 1, &body);
                if (r < 0) {
                        entries_done(&body);
                        goto finish;
                }
                if (body.n == 0) {      /* an empty block is not printed */
                        entries_done(&body);
                        continue;
                }
                f = open_memstream(&text, &size);
                if (!f) {
                        entries_done(&body);
                        r = -ENOMEM;
                        goto finish;
                }
                fprintf(f, "%*s", (int) depth * 2, "");
                print_name(f, groups[g].first->key, is_db(groups[g].first->key) ? "" :
                           groups[g].first->name, "");
                entries_write(&body, f);
                fprintf(f, "%*s}\n", (int) depth * 2, "");
                entries_done(&body);
                if (fclose(f) != 0) {
                        r = -ENOMEM;
                        goto finish;
                }
                r = entries_add(out, groups[g].first->key, TAKE_PTR(text));
                if (r < 0)
                        goto finish;
        }
finish:
        for (size_t g = 0; g < n_groups; g++)
                free(groups[g].secs);
        free(groups);
        return r;
}

/* ---- filters ---- */

/* Filters with the same chain of local/remote/protocol/local_name names merge. */
static bool same_filter(const conf_tree *t, size_t a, size_t b) {
        for (;;) {
                const conf_section *x = &t->sections[a], *y = &t->sections[b];
                bool fx = x->kind == CONF_SECTION_FILTER, fy = y->kind == CONF_SECTION_FILTER;

                if (!fx || !fy)
                        return fx == fy;
                if (!streq(x->key, y->key) || !streq(x->name, y->name))
                        return false;
                a = x->parent;
                b = y->parent;
        }
}

/* The prefix length of a local or remote filter's network: "/N", or the whole address;
 * a host name counts as one address. */
static unsigned filter_bits(const char *name) {
        const char *slash = strchr(name, '/');

        if (slash)
                return (unsigned) strtoul(slash + 1, NULL, 10);
        return strchr(name, ':') ? 128 : 32;
}

typedef struct filter_group {
        size_t first;
        size_t *secs;
        size_t n_secs;
        unsigned local_name, local_bits, remote_bits, protocol;
} filter_group;

/* doveconf -n's order of filters: the less specific first (protocol, then remote, local and
 * local_name ones by their prefix length), the order of the file among equals. */
static int filter_group_cmp(const void *a, const void *b) {
        const filter_group *x = a, *y = b;

        if (x->local_name != y->local_name)
                return x->local_name < y->local_name ? -1 : 1;
        if (x->local_bits != y->local_bits)
                return x->local_bits < y->local_bits ? -1 : 1;
        if (x->remote_bits != y->remote_bits)
                return x->remote_bits < y->remote_bits ? -1 : 1;
        if (x->protocol != y->protocol)
                return x->protocol < y->protocol ? -1 : 1;
        return (x->first > y->first) - (x->first < y->first);
}

static int write_filter(const conf_tree *t, const filter_group *g, FILE *f) {
        _cleanup_free_ size_t *chain = NULL;
        entries body = {};
        size_t n = 0;
        int r;

        for (size_t i = g->first; t->sections[i].kind == CONF_SECTION_FILTER;
             i = t->sections[i].parent)
                n++;
        /* the body, indented below the chain of filters; an empty filter is not printed */
        r = add_body_entries(t, "global", g->secs, g->n_secs, (unsigned) n, &body);
        if (r < 0 || body.n == 0) {
                entries_done(&body);
                return r;
        }
        chain = calloc(n, sizeof(*chain));
        if (!chain) {
                entries_done(&body);
                return -ENOMEM;
        }
        for (size_t i = g->first, k = n; k > 0; i = t->sections[i].parent)
                chain[--k] = i;
        for (size_t k = 0; k < n; k++) {
                fprintf(f, "%*s", (int) k * 2, "");
                print_name(f, t->sections[chain[k]].key, t->sections[chain[k]].name, "");
        }
        entries_write(&body, f);
        for (size_t k = n; k > 0; k--)
                fprintf(f, "%*s}\n", (int) (k - 1) * 2, "");
        entries_done(&body);
        return 0;
}

static int dump_filters(const conf_tree *t, FILE *f) {
        filter_group *groups = NULL;
        size_t n_groups = 0;
        int r = 0;

        for (size_t i = 1; i < t->n_sections; i++) {
                size_t g;

                if (t->sections[i].kind != CONF_SECTION_FILTER)
                        continue;
                for (g = 0; g < n_groups; g++)
                        if (same_filter(t, groups[g].first, i))
                                break;
                if (g == n_groups) {
                        filter_group *n;

                        if (!GREEDY_REALLOC(groups, n_groups + 1)) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        n = &groups[n_groups++];
                        *n = (filter_group) { .first = i };
                        for (size_t j = i; t->sections[j].kind == CONF_SECTION_FILTER;
                             j = t->sections[j].parent) {
                                const conf_section *s = &t->sections[j];

                                if (streq(s->key, "local_name"))
                                        n->local_name = 1;
                                else if (streq(s->key, "local"))
                                        n->local_bits = filter_bits(s->name);
                                else if (streq(s->key, "remote"))
                                        n->remote_bits = filter_bits(s->name);
                                else
                                        n->protocol = 1;
                        }
                }
                if (!GREEDY_REALLOC(groups[g].secs, groups[g].n_secs + 1)) {
                        r = -ENOMEM;
                        goto finish;
                }
                groups[g].secs[groups[g].n_secs++] = i;
        }
        qsort_safe(groups, n_groups, sizeof(filter_group), filter_group_cmp);
        for (size_t g = 0; g < n_groups && r >= 0; g++)
                r = write_filter(t, &groups[g], f);
finish:
        for (size_t g = 0; g < n_groups; g++)
                free(groups[g].secs);
        free(groups);
        return r;
}

/* The non-default globals as entries. */
static int add_global_entries(const config *c, entries *out) {
        for (size_t i = 0; i < c->n_globals; i++) {
                const config_global *g = &c->globals[i];
                _cleanup_free_ char *v = NULL, *def = NULL, *printed = NULL;
                int r;

                /* As doveconf -n: variables expanded, a value read from a file as its "<path". */
                v = config_global_canonical(g->key, g->written[0] == '<' ? g->written : g->value);
                if (!v)
                        return -ENOMEM;
                printed = value_printed(v);
                if (!printed)
                        return -ENOMEM;
                def = global_default(c, g->key);
                if (def && streq(def, printed))
                        continue;
                r = entries_add(out, g->key, setting_line(0, g->key, printed));
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_dump_changed(const char *path, FILE *f, conf_diags *diags) {
        _cleanup_free_ char *services = NULL;
        const size_t root = 0;
        entries top = {};
        size_t size = 0;
        config *c = NULL;
        FILE *m;
        int r;

        r = config_load(path, &c, diags);
        if (r < 0)
                return r;

        /* As doveconf -n: the globals, the services and the other blocks (passdb, namespace,
         * plugin ...) in key order, then the filters. */
        r = add_global_entries(c, &top);
        if (r < 0)
                goto finish;
        m = open_memstream(&services, &size);
        if (!m) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < c->n_services; i++)
                dump_service(&c->services[i], true, m);
        if (fclose(m) != 0) {
                r = -ENOMEM;
                goto finish;
        }
        r = entries_add(&top, "service", TAKE_PTR(services));
        if (r < 0)
                goto finish;
        r = add_block_entries(config_tree(c), &root, 1, 0, &top);
        if (r < 0)
                goto finish;
        entries_write(&top, f);
        r = dump_filters(config_tree(c), f);
        if (r >= 0 && ferror(f))
                r = -EIO;
finish:
        entries_done(&top);
        config_free(c);
        return r;
}
