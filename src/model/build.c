/* SPDX-License-Identifier: MIT */

/*
 * Reading the syntax tree into the model: service sections into services (same-name sections
 * merge, names compare case-insensitively), listener sections into their service's
 * listeners, top-level settings into the typed globals and the list of every global.
 * Values were checked while parsing (schema.c); here they are stored.
 */

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hash.h"
#include "internal.h"

#define MODEL_MAX_LISTENERS 1000U       /* listeners in one service */

static int hash_rebuild(config_state *st, size_t size) {
        size_t *n = calloc(size, sizeof(size_t));

        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < st->cfg->n_services; i++) {
                size_t h = string_hash_ascii_case(st->cfg->services[i].name) & (size - 1);
                while (n[h] != 0)
                        h = (h + 1) & (size - 1);
                n[h] = i + 1;
        }
        free(st->hash);
        st->hash = n;
        st->hash_size = size;
        return 0;
}

/* Same-name sections merge; names compare case-insensitively and the last spelling is the
 * one doveconf prints. */
static service *config_get_service(config_state *st, const char *name, const char *file,
                                   unsigned line, bool *ret_new) {
        config *c = st->cfg;
        service *n;
        size_t h;

        if (name[0] != '\0' && st->hash_size > 0) {
                h = string_hash_ascii_case(name) & (st->hash_size - 1);
                while (st->hash[h] != 0) {
                        service *s = &c->services[st->hash[h] - 1];
                        if (strcasecmp(s->name, name) == 0) {
                                if (!streq(s->name, name) && set_str(&s->name, name) < 0)
                                        return NULL;
                                if (ret_new)
                                        *ret_new = false;
                                return s;
                        }
                        h = (h + 1) & (st->hash_size - 1);
                }
        }

        n = GREEDY_REALLOC(c->services, c->n_services + 1);
        if (!n)
                return NULL;
        if (service_init(&n[c->n_services], name, file, line) < 0)
                return NULL;
        c->n_services++;
        if (c->n_services * 2 > st->hash_size) {
                if (hash_rebuild(st, st->hash_size ? st->hash_size * 4 : 64) < 0)
                        return NULL;
        } else if (name[0] != '\0') {
                h = string_hash_ascii_case(name) & (st->hash_size - 1);
                while (st->hash[h] != 0)
                        h = (h + 1) & (st->hash_size - 1);
                st->hash[h] = c->n_services;
        }
        if (ret_new)
                *ret_new = true;
        return &n[c->n_services - 1];
}

static listener *service_get_listener(service *s, listener_kind kind, const char *name,
                                      const char *file, unsigned line) {
        listener *n, *l;
        int r = 0;

        for (size_t i = 0; i < s->n_listeners; i++) {
                l = &s->listeners[i];
                if (l->kind == kind && strcasecmp(l->name, name) == 0) {
                        if (!streq(l->name, name) && set_str(&l->name, name) < 0)
                                return NULL;
                        return l;
                }
        }
        n = GREEDY_REALLOC(s->listeners, s->n_listeners + 1);
        if (!n)
                return NULL;
        l = &n[s->n_listeners];
        *l = (listener) { .kind = kind, .mode = 0600, .line = line };
        r |= set_str(&l->name, name);
        r |= set_str(&l->user, "");
        r |= set_str(&l->group, "");
        r |= set_str(&l->address, "");
        r |= set_str(&l->file, file);
        s->n_listeners++;
        if (r < 0)
                return NULL;
        return l;
}

/* What a section of the tree became. */
typedef struct section_ref {
        service *dummy;         /* a service inside a filter: checked, not kept */
        size_t service;         /* index into cfg->services */
        size_t listener;        /* index into the service's listeners */
} section_ref;

static service *ref_service(config_state *st, const section_ref *ref) {
        return ref->dummy ?: &st->cfg->services[ref->service];
}

static int global_set(config *c, const conf_setting *s) {
        const char *v = s->expanded ?: s->value;
        _cleanup_free_ char *error = NULL;
        config_global *g = (config_global *) config_global_find(c, s->key);
        int r;

        r = config_set_global(c, s->key, v, true, &error);
        if (r < 0 && r != -ENOENT)
                return r;
        if (!g) {
                if (!GREEDY_REALLOC(c->globals, c->n_globals + 1))
                        return -ENOMEM;
                g = &c->globals[c->n_globals++];
                *g = (config_global) { .key = strdup(s->key) };
                if (!g->key)
                        return -ENOMEM;
        }
        r = set_str(&g->value, v);
        if (r < 0)
                return r;
        r = set_str(&g->written, s->value);
        if (r < 0)
                return r;
        g->line = s->line;
        return set_str(&g->file, s->file);
}

static void set_var_field(char **field, char *full) {
        free(*field);
        *field = full;
}

static int service_apply(service *s, const conf_setting *set) {
        struct {
                const char *key;
                char **field;
        } vars[] = {
                { "executable", &s->var_executable },
                { "user", &s->var_user },
                { "group", &s->var_group },
                { "privileged_group", &s->var_privileged_group },
                { "extra_groups", &s->var_extra_groups },
                { "chroot", &s->var_chroot },
        };
        _cleanup_free_ char *error = NULL;
        int r;

        if (is_list_key(set->key))
                return 0;
        r = service_set(s, set->key, set->value, &error);
        if (r < 0)
                return r == -ENOMEM ? r : -EIO; /* checked while parsing */
        /* the expanded value; a plain value replaces an earlier expanded one */
        for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                if (streq(set->key, vars[i].key)) {
                        char *full = NULL;
                        if (set->expanded) {
                                full = strdup(set->expanded);
                                if (!full)
                                        return -ENOMEM;
                        }
                        set_var_field(vars[i].field, full);
                }
        return 0;
}

static int listener_apply(listener *l, const conf_setting *set) {
        _cleanup_free_ char *error = NULL;
        char **field = NULL, *full = NULL;
        int r;

        r = listener_set(l, set->key, set->value, &error);
        if (r < 0)
                return r == -ENOMEM ? r : -EIO; /* checked while parsing */
        if (streq(set->key, "user"))
                field = &l->var_user;
        else if (streq(set->key, "group"))
                field = &l->var_group;
        else if (streq(set->key, "address"))
                field = &l->var_address;
        if (!field)
                return 0;
        if (set->expanded) {
                full = strdup(set->expanded);
                if (!full)
                        return -ENOMEM;
        }
        set_var_field(field, full);
        return 0;
}

static int build_sections(config_state *st, const conf_tree *t, section_ref *refs,
                          conf_diags *diags) {
        size_t inserted = 0;
        bool failed = false;
        int r;

        for (size_t i = 1; i < t->n_sections; i++) {
                const conf_section *sec = &t->sections[i];
                const conf_section *parent = &t->sections[sec->parent];
                int kind = class_listener_kind(sec->class);

                if (sec->kind != CONF_SECTION_BLOCK)
                        continue;
                if (sec->class == &class_service) {
                        service *s;

                        if (parent->kind == CONF_SECTION_FILTER) {
                                /* Dovecot's master reads services without filters */
                                refs[i].dummy = calloc(1, sizeof(service));
                                if (!refs[i].dummy)
                                        return -ENOMEM;
                                refs[i].dummy->vsz_limit = DOVESD_SIZE_DEFAULT;
                                continue;
                        }
                        s = config_get_service(st, sec->name, sec->file, sec->line, NULL);
                        if (!s)
                                return -ENOMEM;
                        refs[i].service = (size_t) (s - st->cfg->services);
                } else if (kind >= 0) {
                        section_ref *owner_ref = &refs[sec->parent];
                        service *owner = ref_service(st, owner_ref);
                        size_t n_before = owner->n_listeners;
                        listener *l;

                        refs[i] = (section_ref) {
                                .dummy = owner_ref->dummy, .service = owner_ref->service,
                        };
                        l = service_get_listener(owner, (listener_kind) kind, sec->name,
                                                 sec->file, sec->line);
                        if (!l)
                                return -ENOMEM;
                        refs[i].listener = (size_t) (l - owner->listeners);
                        if (owner->n_listeners > n_before &&
                            owner->n_listeners == MODEL_MAX_LISTENERS + 1) {
                                /* reported where the section opened, among the parser's */
                                r = diag_insert_error(diags, sec->n_diags + inserted, sec->file,
                                                      sec->line,
                                                      "Too many listeners in service %s (more than %u)",
                                                      owner->name ?: "", MODEL_MAX_LISTENERS);
                                if (r < 0)
                                        return r;
                                inserted++;
                                failed = true;
                        }
                }
        }
        return failed ? -EINVAL : 0;
}

static int build_settings(config_state *st, const conf_tree *t, const section_ref *refs) {
        int r;

        for (size_t i = 0; i < t->n_settings; i++) {
                const conf_setting *set = &t->settings[i];
                const conf_section *sec = &t->sections[set->section];
                const section_ref *ref = &refs[set->section];

                if (sec->kind == CONF_SECTION_ROOT)
                        r = global_set(st->cfg, set);
                else if (sec->kind != CONF_SECTION_BLOCK || ref->dummy)
                        continue; /* a filter's own settings or a service inside one */
                else if (sec->class == &class_service)
                        r = service_apply(&st->cfg->services[ref->service], set);
                else if (class_listener_kind(sec->class) >= 0)
                        r = listener_apply(&st->cfg->services[ref->service].listeners[ref->listener],
                                           set);
                else
                        continue;
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Services, listeners and globals from the tree. Returns -EINVAL when it reported an error. */
int config_build(config_state *st, const conf_tree *t, conf_diags *diags) {
        section_ref *refs = calloc(t->n_sections, sizeof(section_ref));
        int r, q = 0;

        if (!refs)
                return -ENOMEM;
        r = build_sections(st, t, refs, diags);
        if (r >= 0 || r == -EINVAL) {
                q = r;
                r = build_settings(st, t, refs);
        }
        for (size_t i = 0; i < t->n_sections; i++)
                if (refs[i].dummy && t->sections[i].class == &class_service) {
                        service_done(refs[i].dummy);
                        free(refs[i].dummy);
                }
        free(refs);
        return r < 0 ? r : q;
}
