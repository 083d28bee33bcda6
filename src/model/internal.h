/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the parts of the model (src/model/) share and nobody else sees. The public API is
 * src/model.h. Calls go one way, from the top down:
 *   load.c → build.c → schema.c → model.c → settings.c, and validate.c → order.c, model.c.
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

/* A config with dovesd's defaults. Returns 0 or -ENOMEM. */
int config_new(config **ret);

/* ---- schema.c: what sections and keys mean, handed to conf_parse() ---- */

extern const conf_schema model_schema;

/* ---- build.c: the tree into services, listeners and globals ---- */

/* Services, listeners and globals from the tree. Returns -EINVAL when it reported an error. */
int config_build(config_state *st, const conf_tree *t, conf_diags *diags);

/* ---- validate.c: validation, effective values, doveconf's order ---- */

/* Validates the built model (doveconf's checks after parsing), then computes the effective
 * values and sorts. Returns -EINVAL when it reported an error. */
int config_finish(config_state *st, conf_diags *diags);
