/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * An in-memory unit file: header comment lines, then ordered sections, each with ordered
 * KEY=VALUE items. The mappers add items through the typed adders below and never format
 * unit text; unit_file_render() is the one place that escapes and validates.
 *
 * Escaping by adder (systemd.syntax(7), systemd.service(5) "Command lines"):
 *   unit_file_add()          as it is (numbers, fixed words, "+… $MAINPID")
 *   unit_file_add_escaped()  '%' doubled (specifiers)
 *   unit_file_add_word()     one word: '%' doubled, quoted when it holds blanks, quotes or
 *                            '\', control characters as "\xNN" inside double quotes
 *   unit_file_add_env()      Environment="NAME=value", quoted as one word
 *   unit_file_add_exec()     argv: each word as above, and '$' doubled, a lone ";" quoted
 *   unit_file_add_words()    words joined by ' ', each with '%' doubled (SupplementaryGroups=)
 *   unit_file_add_names()    unit names joined by ' ' for a setting that systemd splits with
 *                            extract_first_word() (Sockets=): '\' doubled
 */

#include <stdbool.h>
#include <stddef.h>

typedef enum unit_value_kind {
        UNIT_VALUE_PLAIN,
        UNIT_VALUE_ESCAPED,
        UNIT_VALUE_WORD,
        UNIT_VALUE_EXEC,
        UNIT_VALUE_WORDS,
        UNIT_VALUE_NAMES,
} unit_value_kind;

typedef struct unit_item {
        char *key;
        unit_value_kind kind;
        char *value;            /* PLAIN, ESCAPED, WORD */
        char **words;           /* EXEC, WORDS, NAMES: NULL-terminated */
} unit_item;

typedef struct unit_section {
        char *name;
        unit_item *items;
        size_t n_items;
} unit_section;

typedef struct unit_file {
        char **comments;        /* header lines without "# " */
        size_t n_comments;
        unit_section *sections;
        size_t n_sections;
} unit_file;

unit_file *unit_file_new(void);
unit_file *unit_file_free(unit_file *u);
static inline void unit_file_freep(unit_file **u) {
        unit_file_free(*u);
}
#define _cleanup_unit_file_ __attribute__((cleanup(unit_file_freep)))

/* Every adder returns 0 or -ENOMEM; SECTION is created at the end when it is new. */
int unit_file_add_comment(unit_file *u, const char *text);
int unit_file_add(unit_file *u, const char *section, const char *key, const char *value);
int unit_file_add_escaped(unit_file *u, const char *section, const char *key,
                          const char *value);
int unit_file_add_word(unit_file *u, const char *section, const char *key, const char *word);
int unit_file_add_env(unit_file *u, const char *section, const char *name, const char *value);
/* Also -EINVAL when ARGV holds an empty word. */
int unit_file_add_exec(unit_file *u, const char *section, const char *key,
                       char *const *argv);
int unit_file_add_words(unit_file *u, const char *section, const char *key,
                        char *const *words);
int unit_file_add_names(unit_file *u, const char *section, const char *key,
                        char *const *names);
int unit_file_add_uint(unit_file *u, const char *section, const char *key, unsigned long long v);

/* A value as unit_file_add_word()/unit_file_add_exec() write it; exposed for tests. DOLLAR:
 * also double '$' and quote a lone ";". Returns 0, -ENOMEM. */
int unit_word_quote(const char *word, bool dollar, char **ret);
/* '%' doubled. NULL on ENOMEM. */
char *unit_escape_specifiers(const char *s);

/* Why a unit file line could not be rendered: LINE is 1-based in the rendered text, TEXT
 * names the setting ("KEY is not valid UTF-8; systemd would ignore it"). */
typedef struct unit_file_problem {
        unsigned line;
        char *text;
} unit_file_problem;

/* Renders U. Returns 0 and the text in *RET; -EBADMSG when a line is not valid UTF-8 or a
 * value that is written as it is holds a control character (the first such line in
 * *RET_PROBLEM, to be freed by the caller); -ENOMEM. */
int unit_file_render(const unit_file *u, char **ret, unit_file_problem *ret_problem);
