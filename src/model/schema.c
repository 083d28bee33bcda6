/* SPDX-License-Identifier: MIT */

/*
 * The schema the parser is handed (conf.h): which sections open which settings blocks, the
 * check of a key and its value in each block, which keys read `<file`, and what $KEY expands
 * to. Service and listener keys are checked by storing them into a scratch object
 * (model.c); the other blocks' keys come from the known settings (settings.c).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const conf_class class_global = { .name = "global" };
const conf_class class_service = { .name = "service", .no_self_variable = true };
static const conf_class class_listeners[] = {
        [LISTENER_UNIX] = { .name = "unix_listener", .no_self_variable = true },
        [LISTENER_FIFO] = { .name = "fifo_listener", .no_self_variable = true },
        [LISTENER_INET] = { .name = "inet_listener", .no_self_variable = true },
};
static const conf_class class_any[] = {
        { .name = "plugin", .any_key = true },
        { .name = "dict", .any_key = true },
};

/* Dovecot's settings blocks outside services: keys from the known-settings table. */
static const conf_class class_known[] = {
        { .name = "passdb" }, { .name = "userdb" }, { .name = "namespace" },
        { .name = "mailbox" }, { .name = "metric" }, { .name = "event_exporter" },
};

static const conf_class *class_find(const conf_class *classes, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(classes[i].name, name))
                        return &classes[i];
        return NULL;
}

static bool class_is_known(const conf_class *c) {
        return c >= class_known && c < class_known + ELEMENTSOF(class_known);
}

int class_listener_kind(const conf_class *c) {
        for (size_t i = 0; i < ELEMENTSOF(class_listeners); i++)
                if (c == &class_listeners[i])
                        return (int) i;
        return -1;
}

static const conf_class *schema_section(void *userdata, const conf_class *ctx, const char *key) {
        const conf_class *c;

        if (ctx == &class_global) {
                if (streq(key, "service"))
                        return &class_service;
                c = class_find(class_any, ELEMENTSOF(class_any), key);
                if (c)
                        return c;
                /* mailbox only inside a namespace */
                if (streq(key, "mailbox"))
                        return NULL;
                return class_find(class_known, ELEMENTSOF(class_known), key);
        }
        if (ctx == &class_service)
                return class_find(class_listeners, ELEMENTSOF(class_listeners), key);
        if (class_is_known(ctx) && streq(ctx->name, "namespace") && streq(key, "mailbox"))
                return class_find(class_known, ELEMENTSOF(class_known), key);
        return NULL;
}

bool is_list_key(const char *key) {
        return STR_IN_SET(key, "unix_listener", "fifo_listener", "inet_listener");
}

static int schema_check(void *userdata, const conf_class *ctx, const char *key,
                        const char *value, const char *expanded, char **ret_error) {
        config_state *st = userdata;
        const known_setting *k;
        int kind, r;

        if (ctx == &class_service) {
                service tmp = { .vsz_limit = DOVESD_SIZE_DEFAULT };

                if (is_list_key(key))
                        return 0; /* list keys: doveconf accepts and ignores a plain value */
                r = service_set(&tmp, key, value, ret_error);
                service_done(&tmp);
                return r;
        }
        kind = class_listener_kind(ctx);
        if (kind >= 0) {
                listener tmp = { .kind = (listener_kind) kind };

                r = listener_set(&tmp, key, value, ret_error);
                listener_done(&tmp);
                return r;
        }
        if (ctx == &class_global) {
                const char *v = expanded ?: value;

                r = config_set_global(st->cfg, key, v, false, ret_error);
                if (r != -ENOENT)
                        return r;
                k = known_setting_find("global", key);
                if (!k)
                        return -ENOENT;
                return known_setting_check(k, v, ret_error);
        }
        k = known_setting_find(ctx->name, key);
        if (!k)
                return -ENOENT;
        return known_setting_check(k, value, ret_error);
}

/* Settings whose value dovesd uses as text: for these `key = <file` reads the file, as the
 * config process does (doveconf -x). Typed settings keep "<file" as doveconf -a does, and
 * settings dovesd does not use (ssl_key, ...) are never read. */
static bool schema_reads_file(void *userdata, const conf_class *ctx, const char *key) {
        if (ctx == &class_service)
                return STR_IN_SET(key, "executable", "user", "group", "privileged_group",
                                  "extra_groups", "chroot");
        if (class_listener_kind(ctx) >= 0)
                return STR_IN_SET(key, "user", "group", "address");
        if (ctx == &class_global)
                return STR_IN_SET(key, "base_dir", "libexec_dir", "instance_name", "protocols",
                                  "listen", "default_internal_user", "default_internal_group",
                                  "default_login_user", "haproxy_trusted_networks");
        return false;
}

/* $KEY: the typed globals in doveconf's format (defaults applied), others as last set. */
static char *schema_variable(void *userdata, const char *key, const char *last) {
        config_state *st = userdata;
        _cleanup_free_ char *error = NULL;
        char buf[32];
        const char *v;

        errno = 0;
        if (last && config_set_global(st->live, key, last, true, &error) == -ENOMEM) {
                errno = ENOMEM;
                return NULL;
        }
        v = global_field(st->live, key, buf) ?: last;
        if (!v && known_setting_find("global", key))
                v = "";
        return v ? strdup(v) : NULL;
}

const conf_schema model_schema = {
        .root = &class_global,
        .section = schema_section,
        .check = schema_check,
        .reads_file = schema_reads_file,
        .variable = schema_variable,
        /* the master expands these whole-value references itself, with the final values
         * (master_settings_verify()), so they are left for effective() */
        .kept_values = (const char *const[]) {
                "$default_internal_user", "$default_login_user", "$default_internal_group",
                NULL,
        },
};
