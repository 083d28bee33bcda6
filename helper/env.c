/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "env.h"
#include "internal.h"

static int parse_unsigned(const char *name, const char *value, unsigned min, unsigned *ret,
                          char **ret_error) {
        unsigned long v;
        char *end;

        if (!value[0] || value[0] < '0' || value[0] > '9')
                return set_error(ret_error, "%s: invalid number '%s'", name, value);
        errno = 0;
        v = strtoul(value, &end, 10);
        if (*end != '\0')
                return set_error(ret_error, "%s: invalid number '%s'", name, value);
        if (errno == ERANGE || v > UINT_MAX)
                return set_error(ret_error, "%s: number too large '%s'", name, value);
        if (v < min)
                return set_error(ret_error, "%s: must be at least %u, got '%s'", name, min, value);
        *ret = (unsigned) v;
        return 0;
}

/* A numeric variable: required ones must be set; optional ones default to def. */
static int env_unsigned(const char *name, bool required, unsigned def, unsigned min,
                        unsigned *ret, char **ret_error) {
        const char *v = getenv(name);

        if (!v) {
                if (required)
                        return set_error(ret_error, "%s is not set", name);
                *ret = def;
                return 0;
        }
        return parse_unsigned(name, v, min, ret, ret_error);
}

/* A string variable; unset or empty is NULL. */
static int env_string(const char *name, char **ret) {
        const char *v = getenv(name);

        if (!v || !v[0]) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(v);
        return *ret ? 0 : -ENOMEM;
}

static int parse_networks(service_settings *s, const char *text, char **ret_error) {
        _cleanup_free_ char *err = NULL;
        const char *prefix = "haproxy_trusted_networks: ";
        int r;

        r = proxy_networks_parse(text, &s->networks, &err);
        if (r == -EINVAL) {
                const char *e = err ?: "invalid value";

                if (strncmp(e, prefix, strlen(prefix)) == 0)
                        e += strlen(prefix);
                return set_error(ret_error, "DOVESD_HAPROXY_TRUSTED_NETWORKS: %s", e);
        }
        return r;
}

static int parse_listeners(service_settings *s, const char *text, char **ret_error) {
        _cleanup_free_ char *copy = strdup(text);
        char *p, *entry;

        if (!copy)
                return -ENOMEM;
        if (!copy[0])
                return 0;

        p = copy;
        while ((entry = strsep(&p, ";"))) {
                char *name = strsep(&entry, ":"), *flag;
                service_listener l = {};

                if (!name[0])
                        return set_error(ret_error, "DOVESD_LISTENERS: empty listener name in '%s'",
                                         text);
                while ((flag = strsep(&entry, ":"))) {
                        if (strcmp(flag, "ssl") == 0)
                                l.ssl = true;
                        else if (strcmp(flag, "haproxy") == 0)
                                l.haproxy = true;
                        else
                                return set_error(ret_error,
                                                 "DOVESD_LISTENERS: unknown flag '%s' for listener '%s'",
                                                 flag, name);
                }
                for (size_t i = 0; i < s->n_listeners; i++)
                        if (strcmp(s->listeners[i].name, name) == 0)
                                return set_error(ret_error,
                                                 "DOVESD_LISTENERS: duplicate listener '%s'", name);

                if (!GREEDY_REALLOC(s->listeners, s->n_listeners + 1))
                        return -ENOMEM;
                l.name = strdup(name);
                if (!l.name)
                        return -ENOMEM;
                s->listeners[s->n_listeners++] = l;
        }
        return 0;
}

static int parse_env(service_settings *s, char **ret_error) {
        const char *v;
        unsigned timeout;
        int r;

        v = getenv(DOVESD_ENV_SERVICE);
        if (!v || !v[0])
                return set_error(ret_error, "DOVESD_SERVICE is not set");
        s->name = strdup(v);
        v = getenv(DOVESD_ENV_TYPE);
        s->type = strdup(v ?: "");
        if (!s->name || !s->type)
                return -ENOMEM;
        if (!STR_IN_SET(s->type, "", "log", "config", "anvil", "login", "startup", "worker"))
                return set_error(ret_error, "DOVESD_TYPE: unknown service type '%s'", s->type);
        s->login = streq(s->type, "login");

        r = env_unsigned(DOVESD_ENV_CLIENT_LIMIT, true, 0, 1, &s->client_limit, ret_error);
        if (r < 0)
                return r;
        r = env_unsigned(DOVESD_ENV_SERVICE_COUNT, false, 0, 0, &s->service_count, ret_error);
        if (r < 0)
                return r;
        r = env_unsigned(DOVESD_ENV_PROCESS_LIMIT, false, 1, 1, &s->process_limit, ret_error);
        if (r < 0)
                return r;
        r = env_unsigned(DOVESD_ENV_PROCESS_MIN_AVAIL, false, 0, 0, &s->process_min_avail,
                         ret_error);
        if (r < 0)
                return r;
        /* As doveconf (master_settings_verify()) refuses it: a drop-in may change one without
         * the other, and a pool could never keep process_min_avail workers (no READY=1). */
        if (s->process_min_avail > s->process_limit)
                return set_error(ret_error,
                                 "DOVESD_PROCESS_MIN_AVAIL (%u) is higher than DOVESD_PROCESS_LIMIT (%u)",
                                 s->process_min_avail, s->process_limit);
        r = env_unsigned(DOVESD_ENV_IDLE_KILL, false, 0, 0, &s->idle_kill, ret_error);
        if (r < 0)
                return r;
        r = env_unsigned(DOVESD_ENV_HAPROXY_TIMEOUT, false, DOVESD_HAPROXY_TIMEOUT_DEFAULT, 1,
                         &timeout, ret_error);
        if (r < 0)
                return r;
        s->haproxy_timeout_usec = timeout * USEC_PER_SEC;

        /* As Dovecot's master: client_limit is capped at service_count. */
        if (s->service_count > 0 && s->client_limit > s->service_count)
                s->client_limit = s->service_count;

        r = parse_listeners(s, getenv(DOVESD_ENV_LISTENERS) ?: "", ret_error);
        if (r < 0)
                return r;
        r = parse_networks(s, getenv(DOVESD_ENV_HAPROXY_TRUSTED_NETWORKS) ?: "", ret_error);
        if (r < 0)
                return r;

        if (env_string(DOVESD_ENV_USER, &s->user) < 0 ||
            env_string(DOVESD_ENV_GROUP, &s->group) < 0 ||
            env_string(DOVESD_ENV_EXTRA_GROUPS, &s->extra_groups) < 0 ||
            env_string(DOVESD_ENV_PRIVILEGED_GROUP, &s->privileged_group) < 0 ||
            env_string(DOVESD_ENV_CHROOT, &s->chroot) < 0)
                return -ENOMEM;
        if (s->chroot) {
                if (s->chroot[0] != '/')
                        return set_error(ret_error, "DOVESD_CHROOT: not an absolute path: '%s'",
                                         s->chroot);
                /* Dovecot strips the trailing '/'; "/" itself means no chroot. */
                size_t l = strlen(s->chroot);
                while (l > 1 && s->chroot[l - 1] == '/')
                        s->chroot[--l] = '\0';
                if (strcmp(s->chroot, "/") == 0)
                        s->chroot = (free(s->chroot), NULL);
        }
        return 0;
}

service_settings *service_settings_free(service_settings *s) {
        if (!s)
                return NULL;
        free(s->name);
        free(s->type);
        free(s->user);
        free(s->group);
        free(s->extra_groups);
        free(s->privileged_group);
        free(s->chroot);
        proxy_networks_free(s->networks);
        for (size_t i = 0; i < s->n_listeners; i++)
                free(s->listeners[i].name);
        free(s->listeners);
        free(s);
        return NULL;
}

int service_settings_from_env(service_settings **ret, char **ret_error) {
        service_settings *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = parse_env(s, ret_error);
        if (r < 0) {
                service_settings_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

int service_settings_find_listener(const service_settings *s, const char *name) {
        for (size_t i = 0; i < s->n_listeners; i++)
                if (streq(s->listeners[i].name, name))
                        return (int) i;
        return -ENOENT;
}

unsigned service_settings_capacity(const service_settings *s) {
        if (s->service_count > 0)
                return MIN(s->client_limit, s->service_count);
        return s->client_limit;
}

bool service_settings_same_listeners(const service_settings *a, const service_settings *b) {
        if (a->n_listeners != b->n_listeners)
                return false;
        for (size_t i = 0; i < a->n_listeners; i++)
                if (!streq(a->listeners[i].name, b->listeners[i].name) ||
                    a->listeners[i].ssl != b->listeners[i].ssl ||
                    a->listeners[i].haproxy != b->listeners[i].haproxy)
                        return false;
        return true;
}
