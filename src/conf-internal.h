/* SPDX-License-Identifier: MIT */
#pragma once

/* Internal interfaces between the parser (conf.c), the model (model.c) and the dump (dump.c). */

#include <stdarg.h>
#include <stdbool.h>

#include "macro.h"
#include "model.h"

/* Hard limits against hostile input. */
#define CONF_MAX_FILE_SIZE      (16U * 1024U * 1024U)   /* bytes per file */
#define CONF_MAX_VALUE_FILE_SIZE (1024U * 1024U)        /* bytes read by key = <file */
#define CONF_MAX_DEPTH          64U                     /* nested sections */
#define CONF_MAX_INCLUDE_DEPTH  32U                     /* nested !include */
#define CONF_MAX_INCLUDES       1000U                   /* files included in total */
#define CONF_MAX_LISTENERS      1000U                   /* listeners in one service */

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

/* Look a setting up in the table of settings Dovecot knows outside services. */
const known_setting *known_setting_find(const char *section, const char *key);
bool known_section(const char *section);

/* Check a value against a known type; on error returns -EINVAL and a message. */
int known_setting_check(const known_setting *k, const char *value, char **ret_error);

/* diags */
_printf_(5, 0)
int diag_addv(conf_diags *d, bool warning, const char *file, unsigned line, const char *fmt,
              va_list ap);
_printf_(5, 6)
int diag_add(conf_diags *d, bool warning, const char *file, unsigned line, const char *fmt, ...);

/* Per-service and per-global bookkeeping the parser keeps beside the public structs. */
typedef struct global_value {
        char *key;
        char *value;
        char *file;
        unsigned line;
} global_value;

typedef struct config_state {
        config *cfg;
        global_value *globals;          /* every root-level setting, last one wins */
        size_t n_globals;
        /* service name lookup (case-insensitive) */
        size_t *hash;                   /* index + 1, 0 = empty */
        size_t hash_size;
} config_state;

/* Create a config with dovesd's global defaults. */
int config_new(config **ret);
service *config_get_service(config_state *st, const char *name, const char *file,
                            unsigned line, bool *ret_new);
listener *service_get_listener(service *s, listener_kind kind, const char *name,
                               const char *file, unsigned line);
/* Apply one setting inside a service / listener. Returns 0, -ENOENT for an unknown key,
 * -EINVAL with *ret_error for a bad value, -ENOMEM. */
int service_set(service *s, const char *key, const char *value, char **ret_error);
int listener_set(listener *l, const char *key, const char *value, char **ret_error);
/* Apply a root-level setting to the config. -ENOENT when not a tracked global. */
int config_set_global(config *c, const char *key, const char *value, bool apply,
                      char **ret_error);
/* Order of names in doveconf -a output. */
int config_name_cmp(const char *a, const char *b);
/* Current value of a global as doveconf prints it, NULL if unknown (caller frees). */
char *config_global_value(config_state *st, const char *key);

/* Compute effective values and validate; errors go to diags. Returns 0 or -EINVAL. */
int config_finish(config_state *st, conf_diags *diags);

/* Test hook (the fuzzer): when set, every !include / !include_try pattern must lie below this
 * absolute directory and contain no "..", or it is refused with an error. NULL: no limit. */
extern const char *conf_include_root;

/* Parse the file into st. Returns 0, or -EINVAL when errors were recorded, -ENOMEM. */
int conf_parse(config_state *st, const char *path, conf_diags *diags);

/* config_load(), handing over as well every top-level setting (st->globals), for
 * dovesd-generator -n (dump.c). The caller frees each entry's strings and the array. */
int config_load_globals(const char *path, config **ret, global_value **ret_globals,
                        size_t *ret_n_globals, conf_diags *diags);
