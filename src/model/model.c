/* SPDX-License-Identifier: MIT */

/*
 * The model's objects (model.h): a config, its services and listeners with dovesd's
 * defaults, the typed setters that store a key's value, the globals as doveconf prints
 * them, and freeing. Which programs are Dovecot's own.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "values.h"

int set_str(char **field, const char *value) {
        char *c = strdup(value);

        if (!c)
                return -ENOMEM;
        free(*field);
        *field = c;
        return 0;
}

int config_new(config **ret) {
        config *c = calloc(1, sizeof(config));
        int r = 0;

        if (!c)
                return -ENOMEM;
        r |= set_str(&c->base_dir, "/run/dovesd");
        r |= set_str(&c->libexec_dir, "/usr/lib/dovecot");
        r |= set_str(&c->instance_name, "dovesd");
        r |= set_str(&c->protocols, "");
        r |= set_str(&c->listen, "*, ::");
        r |= set_str(&c->ssl, "yes");
        r |= set_str(&c->default_internal_user, "dovecot");
        r |= set_str(&c->default_internal_group, "dovecot");
        r |= set_str(&c->default_login_user, "dovenull");
        r |= set_str(&c->haproxy_trusted_networks, "");
        c->default_client_limit = 1000;
        c->default_process_limit = 100;
        c->default_idle_kill = 60;
        c->default_vsz_limit = UINT64_C(256) * 1024 * 1024;
        c->haproxy_timeout = 3;
        if (r < 0) {
                config_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

int service_init(service *s, const char *name, const char *file, unsigned line) {
        int r = 0;

        *s = (service) { .vsz_limit = DOVESD_SIZE_DEFAULT, .line = line };
        r |= set_str(&s->name, name);
        r |= set_str(&s->protocol, "");
        r |= set_str(&s->type, "");
        r |= set_str(&s->executable, "");
        r |= set_str(&s->user, "");
        r |= set_str(&s->group, "");
        r |= set_str(&s->privileged_group, "");
        r |= set_str(&s->extra_groups, "");
        r |= set_str(&s->chroot, "");
        r |= set_str(&s->file, file);
        return r < 0 ? -ENOMEM : 0;
}

int service_set(service *s, const char *key, const char *value, char **ret_error) {
        struct {
                const char *key;
                char **field;
        } strs[] = {
                { "protocol", &s->protocol },
                { "type", &s->type },
                { "executable", &s->executable },
                { "user", &s->user },
                { "group", &s->group },
                { "privileged_group", &s->privileged_group },
                { "extra_groups", &s->extra_groups },
                { "chroot", &s->chroot },
        };
        struct {
                const char *key;
                unsigned *field;
        } uints[] = {
                { "process_min_avail", &s->process_min_avail },
                { "process_limit", &s->process_limit },
                { "client_limit", &s->client_limit },
                { "service_count", &s->service_count },
        };

        for (size_t i = 0; i < ELEMENTSOF(strs); i++)
                if (streq(key, strs[i].key))
                        return set_str(strs[i].field, value);
        for (size_t i = 0; i < ELEMENTSOF(uints); i++)
                if (streq(key, uints[i].key))
                        return value_parse_uint(value, uints[i].field, ret_error);
        if (streq(key, "drop_priv_before_exec"))
                return value_parse_bool(value, &s->drop_priv_before_exec, ret_error);
        if (streq(key, "idle_kill"))
                return value_parse_time(value, &s->idle_kill, ret_error);
        if (streq(key, "vsz_limit"))
                return value_parse_size(value, &s->vsz_limit, ret_error);
        if (streq(key, "name"))
                return 0; /* the section name is the name */
        return -ENOENT;
}

int listener_set(listener *l, const char *key, const char *value, char **ret_error) {
        if (l->kind == LISTENER_INET) {
                if (streq(key, "address"))
                        return set_str(&l->address, value);
                if (streq(key, "port"))
                        return value_parse_port(value, &l->port, ret_error);
                if (streq(key, "ssl"))
                        return value_parse_bool(value, &l->ssl, ret_error);
                if (streq(key, "reuse_port"))
                        return value_parse_bool(value, &l->reuse_port, ret_error);
                if (streq(key, "haproxy"))
                        return value_parse_bool(value, &l->haproxy, ret_error);
                if (streq(key, "name"))
                        return 0;
                return -ENOENT;
        }
        if (streq(key, "user"))
                return set_str(&l->user, value);
        if (streq(key, "group"))
                return set_str(&l->group, value);
        if (streq(key, "mode"))
                return value_parse_octal(value, &l->mode, ret_error);
        if (streq(key, "path"))
                return 0;
        return -ENOENT;
}

int config_set_global(config *c, const char *key, const char *value, bool apply,
                      char **ret_error) {
        struct {
                const char *key;
                char **field;
        } strs[] = {
                { "base_dir", &c->base_dir },
                { "libexec_dir", &c->libexec_dir },
                { "instance_name", &c->instance_name },
                { "protocols", &c->protocols },
                { "listen", &c->listen },
                { "default_internal_user", &c->default_internal_user },
                { "default_internal_group", &c->default_internal_group },
                { "default_login_user", &c->default_login_user },
                { "haproxy_trusted_networks", &c->haproxy_trusted_networks },
        };
        unsigned u;
        uint64_t sz;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(strs); i++)
                if (streq(key, strs[i].key))
                        return apply ? set_str(strs[i].field, value) : 0;
        if (streq(key, "ssl")) {
                char *v;
                r = value_parse_ssl(value, &v, ret_error);
                if (r < 0)
                        return r;
                if (apply) {
                        free(c->ssl);
                        c->ssl = v;
                } else
                        free(v);
                return 0;
        }
        if (streq(key, "default_client_limit") || streq(key, "default_process_limit")) {
                r = value_parse_uint(value, &u, ret_error);
                if (r < 0 || !apply)
                        return r;
                if (streq(key, "default_client_limit"))
                        c->default_client_limit = u;
                else
                        c->default_process_limit = u;
                return 0;
        }
        if (streq(key, "default_idle_kill") || streq(key, "haproxy_timeout")) {
                r = value_parse_time(value, &u, ret_error);
                if (r < 0 || !apply)
                        return r;
                if (streq(key, "default_idle_kill"))
                        c->default_idle_kill = u;
                else
                        c->haproxy_timeout = u;
                return 0;
        }
        if (streq(key, "default_vsz_limit")) {
                r = value_parse_size(value, &sz, ret_error);
                if (r < 0 || !apply)
                        return r;
                c->default_vsz_limit = sz;
                return 0;
        }
        return -ENOENT;
}

const config_global *config_global_find(const config *c, const char *key) {
        for (size_t i = 0; i < c->n_globals; i++)
                if (streq(c->globals[i].key, key))
                        return &c->globals[i];
        return NULL;
}

/* The typed global KEY of C in doveconf's format; NULL when the model keeps no such field. */
const char *global_field(const config *c, const char *key, char buf[static 32]) {
        if (streq(key, "base_dir"))
                return c->base_dir;
        if (streq(key, "libexec_dir"))
                return c->libexec_dir;
        if (streq(key, "instance_name"))
                return c->instance_name;
        if (streq(key, "protocols"))
                return c->protocols;
        if (streq(key, "listen"))
                return c->listen;
        if (streq(key, "ssl"))
                return c->ssl;
        if (streq(key, "default_internal_user"))
                return c->default_internal_user;
        if (streq(key, "default_internal_group"))
                return c->default_internal_group;
        if (streq(key, "default_login_user"))
                return c->default_login_user;
        if (streq(key, "haproxy_trusted_networks"))
                return c->haproxy_trusted_networks;
        if (streq(key, "default_client_limit"))
                return snprintf(buf, 32, "%u", c->default_client_limit), buf;
        if (streq(key, "default_process_limit"))
                return snprintf(buf, 32, "%u", c->default_process_limit), buf;
        if (streq(key, "default_idle_kill"))
                return value_format_time(c->default_idle_kill, buf);
        if (streq(key, "haproxy_timeout"))
                return value_format_time(c->haproxy_timeout, buf);
        if (streq(key, "default_vsz_limit"))
                return value_format_size(c->default_vsz_limit, buf);
        return NULL;
}

char *config_global_value(const config *c, const char *key) {
        const config_global *g;
        const char *v;
        char buf[32];

        errno = 0;
        v = global_field(c, key, buf);
        if (!v && (g = config_global_find(c, key)))
                v = g->value;
        if (!v && known_setting_find("global", key))
                v = "";
        return v ? strdup(v) : NULL;
}

void listener_done(listener *l) {
        free(l->name);
        free(l->user);
        free(l->group);
        free(l->path);
        free(l->eff_user);
        free(l->eff_group);
        free(l->address);
        strv_free(l->addresses);
        free(l->var_user);
        free(l->var_group);
        free(l->var_address);
        free(l->file);
}

void service_done(service *s) {
        free(s->name);
        free(s->protocol);
        free(s->type);
        free(s->executable);
        free(s->user);
        free(s->group);
        free(s->privileged_group);
        free(s->extra_groups);
        free(s->chroot);
        strv_free(s->eff_argv);
        free(s->eff_user);
        free(s->eff_extra_groups);
        free(s->eff_group);
        free(s->eff_privileged_group);
        free(s->eff_chroot);
        free(s->var_executable);
        free(s->var_user);
        free(s->var_group);
        free(s->var_privileged_group);
        free(s->var_extra_groups);
        free(s->var_chroot);
        for (size_t i = 0; i < s->n_listeners; i++)
                listener_done(&s->listeners[i]);
        free(s->listeners);
        free(s->file);
}

config *config_free(config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_services; i++)
                service_done(&c->services[i]);
        free(c->services);
        free(c->path);
        free(c->base_dir);
        free(c->libexec_dir);
        free(c->instance_name);
        free(c->protocols);
        free(c->listen);
        free(c->ssl);
        free(c->default_internal_user);
        free(c->default_internal_group);
        free(c->default_login_user);
        free(c->haproxy_trusted_networks);
        for (size_t i = 0; i < c->n_globals; i++) {
                free(c->globals[i].key);
                free(c->globals[i].value);
                free(c->globals[i].written);
                free(c->globals[i].file);
        }
        free(c->globals);
        conf_tree_free(c->tree);
        free(c);
        return NULL;
}

/* ---- Dovecot's own programs ------------------------------------------------------------- */

/* Is PATH one of Dovecot's programs? The one place that decides (swap in exec-kind's ELF
 * check here): Debian's and Dovecot's default libexec_dir. */
bool executable_is_dovecot(const char *path) {
        static const char dir[] = "/usr/lib/dovecot/";

        return path && strncmp(path, dir, strlen(dir)) == 0 && path[strlen(dir)] != '\0';
}

const char *listener_kind_to_string(listener_kind k) {
        switch (k) {
        case LISTENER_UNIX:
                return "unix_listener";
        case LISTENER_FIFO:
                return "fifo_listener";
        default:
                return "inet_listener";
        }
}

bool service_is_dovecot(const service *s) {
        return s->eff_argv && executable_is_dovecot(s->eff_argv[0]);
}

const conf_tree *config_tree(const config *c) {
        return c->tree;
}

static void config_freep(config **c) {
        config_free(*c);
}

char *config_global_default(const char *key) {
        _cleanup_(config_freep) config *fresh = NULL;
        const char *v;
        char buf[32];

        if (config_new(&fresh) < 0)
                return NULL;
        v = global_field(fresh, key, buf);
        return v ? strdup(v) : NULL;
}
