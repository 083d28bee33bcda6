/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The Dovecot 2.3 config dialect as syntax: what conf_parse() reads from a file and its
 * includes, with !include / !include_try, $variables and key = <file already applied. It
 * knows sections, filters and settings, not services: what a section or a key means comes
 * from the schema its caller hands it (model/schema.c hands the service model's).
 */

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

/* What the schema made of a section: a settings block whose keys it checks. */
typedef struct conf_class {
        const char *name;       /* "global", "service", "unix_listener", "passdb", ... */
        bool any_key;           /* plugin, dict: any key (without '/'), no subsections */
        bool no_self_variable;  /* `key = $key` is an unknown variable here */
} conf_class;

typedef struct conf_schema {
        const conf_class *root;
        /* The class of section KEY opened in a block of class CTX, NULL: unknown section. */
        const conf_class *(*section)(void *userdata, const conf_class *ctx, const char *key);
        /* Check KEY = VALUE in a block of class CTX (EXPANDED: see conf_setting): 0, -ENOENT
         * for an unknown key, -EINVAL with a message in *ret_error, or -ENOMEM. */
        int (*check)(void *userdata, const conf_class *ctx, const char *key, const char *value,
                     const char *expanded, char **ret_error);
        /* Does `KEY = <path` in CTX read the file (else "<path" is the value)? */
        bool (*reads_file)(void *userdata, const conf_class *ctx, const char *key);
        /* The value $KEY expands to, given the last value set at the top level (NULL: none);
         * NULL: unknown variable. Returns a malloc'd string or NULL (errno ENOMEM or 0). */
        char *(*variable)(void *userdata, const char *key, const char *last);
        /* Values that are left as written ("$default_internal_user": the master expands
         * them), NULL-terminated. */
        const char *const *kept_values;
} conf_schema;

typedef enum conf_section_kind {
        CONF_SECTION_ROOT,      /* sections[0], the file itself */
        CONF_SECTION_BLOCK,     /* a settings block the schema knows */
        CONF_SECTION_FILTER,    /* protocol, local, remote, local_name */
        CONF_SECTION_IGNORED,   /* unknown or refused: reported, its contents skipped */
} conf_section_kind;

typedef struct conf_section {
        conf_section_kind kind;
        const conf_class *class;        /* ROOT and BLOCK: the schema's class */
        char *key;                      /* as written: "service", "protocol"; root: "" */
        char *name;                     /* as written, unescaped; "" when none */
        size_t parent;                  /* index into sections; the root is its own parent */
        char *file;                     /* where it was opened */
        unsigned line;
        size_t n_diags;                 /* diagnostics reported before it was opened */
} conf_section;

typedef struct conf_setting {
        size_t section;                 /* the innermost section it is written in */
        char *key;
        char *value;                    /* as doveconf -a prints it: "<path" kept, $KEY of the
                                         * key itself expanded */
        char *expanded;                 /* what programs get: every $variable expanded or the
                                         * content of <path; NULL when no file or variable */
        char *file;
        unsigned line;
} conf_setting;

typedef struct conf_scope conf_scope;
typedef struct conf_scoped_value conf_scoped_value;

/* Sections and settings in file order (an included file's at the !include line). Only
 * settings that passed the schema's check are kept; settings inside ignored sections are
 * not kept. */
typedef struct conf_tree {
        conf_section *sections;
        size_t n_sections;
        conf_setting *settings;
        size_t n_settings;

        /* for conf_check(): filters as scopes, and the values of the scoped keys */
        conf_scope *scopes;
        size_t n_scopes;
        conf_scoped_value *scoped;
        size_t n_scoped;
} conf_tree;

/* Test hook (the fuzzer): when set, every !include / !include_try pattern must lie below this
 * absolute directory and contain no "..", or it is refused with an error. NULL: no limit. */
extern const char *conf_include_root;

/* Parse PATH into *ret (always set unless -ENOMEM). Returns 0, or -EINVAL when errors were
 * recorded in diags (the tree holds what was read), or -ENOMEM. */
int conf_parse(const char *path, const conf_schema *schema, void *userdata, conf_diags *diags,
               conf_tree **ret);

/* The checks doveconf runs on the whole file after reading it, for the top level and every
 * filter (syslog_facility, ssl_verify_client_cert without ssl_ca, ssl under ssl=no).
 * Returns 0, -EINVAL when it reported an error, -ENOMEM. */
int conf_check(const conf_tree *t, conf_diags *diags);

conf_tree *conf_tree_free(conf_tree *t);

/* The section that decides what a setting in S means: S unless S is a filter; the settings
 * of a filter are top-level settings (the root's). */
const conf_section *conf_section_context(const conf_tree *t, const conf_section *s);
