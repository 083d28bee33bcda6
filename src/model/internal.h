/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the parts of the model (src/model/) share and nobody else sees. The public API is
 * src/model.h. Calls go one way, from the top down (scripts/file-graph checks it):
 *   load.c → build.c → schema.c → model.c → settings.c
 *   load.c → validate.c → order.c, model.c
 */

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "model.h"

/* The parser's view of the model while loading (config_load()). */
typedef struct config_state {
        config *cfg;
        config *live;                   /* the typed globals as $variables see them */
        /* service name lookup (case-insensitive) */
        size_t *hash;                   /* index + 1, 0 = empty */
        size_t hash_size;
} config_state;

/* ---- settings.c: the settings Dovecot knows outside services ---- */

typedef enum known_type {
        KT_STR,
        KT_BOOL,
        KT_UINT,
        KT_OCT,
        KT_TIME,
        KT_MSECS,
        KT_SIZE,
        KT_PORT,
        KT_ENUM,
} known_type;

typedef struct known_setting {
        const char *section;    /* "global", "passdb", "userdb", "namespace", "mailbox", ... */
        const char *key;
        known_type type;
} known_setting;

/* The known setting KEY of SECTION, NULL when Dovecot has none. */
const known_setting *known_setting_find(const char *section, const char *key);
/* 0 when VALUE parses as K's type; -EINVAL with a message in *ret_error, or -ENOMEM. */
int known_setting_check(const known_setting *k, const char *value, char **ret_error);

/* ---- model.c: the objects, their defaults and typed setters ---- */

/* Replaces *FIELD with a copy of VALUE. Returns 0 or -ENOMEM. */
int set_str(char **field, const char *value);
/* A config with dovesd's defaults. Returns 0 or -ENOMEM. */
int config_new(config **ret);
/* S named NAME with the defaults of a service, opened at FILE:LINE. Returns 0 or -ENOMEM. */
int service_init(service *s, const char *name, const char *file, unsigned line);
void service_done(service *s);
void listener_done(listener *l);
/* Stores KEY = VALUE of a service / listener section: 0, -ENOENT for a key the section does
 * not have, -EINVAL with a message in *ret_error, or -ENOMEM. */
int service_set(service *s, const char *key, const char *value, char **ret_error);
int listener_set(listener *l, const char *key, const char *value, char **ret_error);
/* As service_set() for a global the model keeps; APPLY false only checks VALUE. */
int config_set_global(config *c, const char *key, const char *value, bool apply,
                      char **ret_error);
/* The typed global KEY of C in doveconf's format; NULL when the model keeps no such field. */
const char *global_field(const config *c, const char *key, char buf[static 32]);

/* ---- schema.c: what sections and keys mean, handed to conf_parse() ---- */

extern const conf_schema model_schema;
/* The class of service sections. */
extern const conf_class class_service;
/* The listener_kind of a listener section's class, -1 for any other class. */
int class_listener_kind(const conf_class *c);
/* unix_listener, fifo_listener, inet_listener: list keys, a plain value is ignored. */
bool is_list_key(const char *key);

/* ---- build.c: the tree into services, listeners and globals ---- */

/* Services, listeners and globals from the tree. Returns -EINVAL when it reported an error. */
int config_build(config_state *st, const conf_tree *t, conf_diags *diags);

/* ---- validate.c: validation, effective values, doveconf's order ---- */

/* Validates the built model (doveconf's checks after parsing), then computes the effective
 * values and sorts. Returns -EINVAL when it reported an error. */
int config_finish(config_state *st, conf_diags *diags);

/* ---- order.c: doveconf's order ---- */

/* Services and each service's listeners in doveconf -a's order: names as doveconf escapes
 * them, compared as signed chars; fifo, inet, then unix listeners. */
void config_sort(config *c);
