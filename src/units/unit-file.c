/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "unit-file.h"

unit_file *unit_file_new(void) {
        return calloc(1, sizeof(unit_file));
}

static void item_done(unit_item *i) {
        free(i->key);
        free(i->value);
        strv_free(i->words);
}

unit_file *unit_file_free(unit_file *u) {
        if (!u)
                return NULL;
        for (size_t i = 0; i < u->n_comments; i++)
                free(u->comments[i]);
        free(u->comments);
        for (size_t i = 0; i < u->n_sections; i++) {
                unit_section *s = &u->sections[i];

                for (size_t j = 0; j < s->n_items; j++)
                        item_done(&s->items[j]);
                free(s->items);
                free(s->name);
        }
        free(u->sections);
        free(u);
        return NULL;
}

int unit_file_add_comment(unit_file *u, const char *text) {
        char *c;

        if (!GREEDY_REALLOC(u->comments, u->n_comments + 1))
                return -ENOMEM;
        c = strdup(text);
        if (!c)
                return -ENOMEM;
        u->comments[u->n_comments++] = c;
        return 0;
}

static unit_section *section_get(unit_file *u, const char *name) {
        char *n;

        for (size_t i = 0; i < u->n_sections; i++)
                if (streq(u->sections[i].name, name))
                        return &u->sections[i];
        if (!GREEDY_REALLOC(u->sections, u->n_sections + 1))
                return NULL;
        n = strdup(name);
        if (!n)
                return NULL;
        u->sections[u->n_sections] = (unit_section) { .name = n };
        return &u->sections[u->n_sections++];
}

/* Takes VALUE and WORDS (freed on failure too). */
static int add_item(unit_file *u, const char *section, const char *key, unit_value_kind kind,
                    char *value, char **words) {
        _cleanup_free_ char *v = value;
        _cleanup_strv_free_ char **w = words;
        unit_section *s;
        char *k;

        if (!v && !w)
                return -ENOMEM;
        s = section_get(u, section);
        if (!s || !GREEDY_REALLOC(s->items, s->n_items + 1))
                return -ENOMEM;
        k = strdup(key);
        if (!k)
                return -ENOMEM;
        s->items[s->n_items++] = (unit_item) {
                .key = k,
                .kind = kind,
                .value = TAKE_PTR(v),
                .words = TAKE_PTR(w),
        };
        return 0;
}

static char **strv_copy(char *const *l) {
        size_t n = 0;
        char **r;

        while (l[n])
                n++;
        r = calloc(n + 1, sizeof(char *));
        if (!r)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                r[i] = strdup(l[i]);
                if (!r[i])
                        return strv_free(r);
        }
        return r;
}

int unit_file_add(unit_file *u, const char *section, const char *key, const char *value) {
        return add_item(u, section, key, UNIT_VALUE_PLAIN, strdup(value), NULL);
}

int unit_file_add_escaped(unit_file *u, const char *section, const char *key,
                          const char *value) {
        return add_item(u, section, key, UNIT_VALUE_ESCAPED, strdup(value), NULL);
}

int unit_file_add_word(unit_file *u, const char *section, const char *key, const char *word) {
        return add_item(u, section, key, UNIT_VALUE_WORD, strdup(word), NULL);
}

int unit_file_add_env(unit_file *u, const char *section, const char *name, const char *value) {
        char *a;

        if (asprintf(&a, "%s=%s", name, value ?: "") < 0)
                return -ENOMEM;
        return add_item(u, section, "Environment", UNIT_VALUE_WORD, a, NULL);
}

int unit_file_add_exec(unit_file *u, const char *section, const char *key,
                       char *const *argv) {
        for (size_t i = 0; argv[i]; i++)
                if (isempty(argv[i]))
                        return -EINVAL;
        return add_item(u, section, key, UNIT_VALUE_EXEC, NULL, strv_copy(argv));
}

int unit_file_add_words(unit_file *u, const char *section, const char *key,
                        char *const *words) {
        return add_item(u, section, key, UNIT_VALUE_WORDS, NULL, strv_copy(words));
}

int unit_file_add_names(unit_file *u, const char *section, const char *key,
                        char *const *names) {
        return add_item(u, section, key, UNIT_VALUE_NAMES, NULL, strv_copy(names));
}

int unit_file_add_uint(unit_file *u, const char *section, const char *key, unsigned long long v) {
        char *s;

        if (asprintf(&s, "%llu", v) < 0)
                return -ENOMEM;
        return add_item(u, section, key, UNIT_VALUE_PLAIN, s, NULL);
}

/* ---- escaping ---------------------------------------------------------------------------- */

static bool is_cc(unsigned char c) {
        return c < ' ' || c == 0x7f;
}

char *unit_escape_specifiers(const char *s) {
        size_t n = 0;
        char *r, *p;

        for (const char *q = s; *q; q++)
                n += *q == '%' ? 2 : 1;
        r = malloc(n + 1);
        if (!r)
                return NULL;
        p = r;
        for (const char *q = s; *q; q++) {
                *p++ = *q;
                if (*q == '%')
                        *p++ = '%';
        }
        *p = '\0';
        return r;
}

/* Control characters are written as C escapes ("\x09") inside double quotes, which systemd
 * unescapes in Environment= and Exec*= lines (systemd.syntax(7), "Quoting"); since v248 it
 * accepts them in values. Single quotes when nothing inside needs an escape: they read
 * best. */
int unit_word_quote(const char *w, bool dollar, char **ret) {
        bool need_quotes = false, single, cc = false;
        char *r, *p;

        for (const char *c = w; *c; c++) {
                if (strchr(" \t\"'\\", *c))
                        need_quotes = true;
                if (is_cc((unsigned char) *c))
                        cc = true;
        }
        if ((dollar && streq(w, ";")) || cc)
                need_quotes = true;
        single = !cc && !strchr(w, '\'') && !strchr(w, '\\');

        r = malloc(strlen(w) * 4 + 3);
        if (!r)
                return -ENOMEM;
        p = r;
        if (need_quotes)
                *p++ = single ? '\'' : '"';
        for (const char *c = w; *c; c++) {
                unsigned char u = (unsigned char) *c;

                if (is_cc(u)) {
                        p += sprintf(p, "\\x%02x", u);
                        continue;
                }
                if (*c == '%' || (dollar && *c == '$'))
                        *p++ = *c;
                else if (need_quotes && !single && (*c == '"' || *c == '\\'))
                        *p++ = '\\';
                *p++ = *c;
        }
        if (need_quotes)
                *p++ = single ? '\'' : '"';
        *p = '\0';

        *ret = r;
        return 0;
}

/* ---- validation -------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1-4), or 0: overlong forms, surrogates and code
 * points above U+10FFFF are invalid, as systemd's utf8_is_valid() has it. */
static size_t utf8_char_len(const unsigned char *p) {
        unsigned cp;
        size_t n;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                n = 2, cp = p[0] & 0x1f;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                n = 3, cp = p[0] & 0x0f;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                n = 4, cp = p[0] & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

static bool utf8_valid(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; ) {
                size_t n = utf8_char_len(p);

                if (n == 0)
                        return false;
                p += n;
        }
        return true;
}

/* A value written as it is must stay on its line: a tab is fine, any other control
 * character is not (a newline would start a new setting). */
static bool raw_value_ok(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (is_cc(*p) && *p != '\t')
                        return false;
        return true;
}

/* ---- rendering --------------------------------------------------------------------------- */

typedef struct renderer {
        FILE *f;
        unsigned line;
        unit_file_problem problem;
} renderer;

static int problem(renderer *r, const char *key, const char *what) {
        if (asprintf(&r->problem.text, "%s %s", key, what) < 0) {
                r->problem.text = NULL;
                return -ENOMEM;
        }
        r->problem.line = r->line;
        return -EBADMSG;
}

/* Writes one line: KEY (NULL for a line of its own) and VALUE. systemd ignores a unit file
 * line that is not valid UTF-8 ("String is not UTF-8 clean, ignoring assignment"): a lost
 * Environment=DOVESD_USER= would leave the service running as root. */
static int put_line(renderer *r, const char *key, const char *value) {
        r->line++;
        if (!utf8_valid(value))
                return problem(r, key ?: value, "is not valid UTF-8; systemd would ignore it");
        if (key)
                fprintf(r->f, "%s=%s\n", key, value);
        else
                fprintf(r->f, "%s\n", value);
        return 0;
}

/* The text of one item's value. */
static int render_value(const unit_item *i, char **ret, bool *ret_raw_ok) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        bool ok = true;
        FILE *f;
        int r = 0;

        switch (i->kind) {
        case UNIT_VALUE_PLAIN:
                *ret_raw_ok = raw_value_ok(i->value);
                *ret = strdup(i->value);
                return *ret ? 0 : -ENOMEM;
        case UNIT_VALUE_ESCAPED:
                *ret_raw_ok = raw_value_ok(i->value);
                *ret = unit_escape_specifiers(i->value);
                return *ret ? 0 : -ENOMEM;
        case UNIT_VALUE_WORD:
                *ret_raw_ok = true;
                return unit_word_quote(i->value, false, ret);
        default:
                break;
        }

        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        for (size_t n = 0; i->words[n] && r >= 0; n++) {
                const char *w = i->words[n];
                _cleanup_free_ char *e = NULL;

                if (n > 0)
                        fputc(' ', f);
                switch (i->kind) {
                case UNIT_VALUE_EXEC:
                        r = unit_word_quote(w, true, &e);
                        if (r >= 0)
                                fputs(e, f);
                        break;
                case UNIT_VALUE_WORDS:
                        ok = ok && raw_value_ok(w);
                        e = unit_escape_specifiers(w);
                        if (!e)
                                r = -ENOMEM;
                        else
                                fputs(e, f);
                        break;
                default:
                        /* systemd splits these with extract_first_word(…, 0): a backslash
                         * escapes the next character and is dropped, so the "\xNN" of an
                         * escaped name needs "\\xNN". */
                        ok = ok && raw_value_ok(w);
                        for (const char *p = w; *p; p++) {
                                if (*p == '\\')
                                        fputc('\\', f);
                                fputc(*p, f);
                        }
                        break;
                }
        }
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        if (!buf)
                return -ENOMEM;
        *ret_raw_ok = ok;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int render_all(renderer *r, const unit_file *u) {
        int k;

        for (size_t i = 0; i < u->n_comments; i++) {
                _cleanup_free_ char *c = NULL;

                if (asprintf(&c, "# %s", u->comments[i]) < 0)
                        return -ENOMEM;
                k = put_line(r, NULL, c);
                if (k < 0)
                        return k;
        }
        for (size_t i = 0; i < u->n_sections; i++) {
                const unit_section *s = &u->sections[i];
                _cleanup_free_ char *h = NULL;

                if (i > 0 || u->n_comments > 0) {
                        r->line++;
                        fputc('\n', r->f);
                }
                if (asprintf(&h, "[%s]", s->name) < 0)
                        return -ENOMEM;
                k = put_line(r, NULL, h);
                if (k < 0)
                        return k;
                for (size_t j = 0; j < s->n_items; j++) {
                        _cleanup_free_ char *v = NULL;
                        bool ok;

                        k = render_value(&s->items[j], &v, &ok);
                        if (k < 0)
                                return k;
                        if (!ok) {
                                r->line++;
                                return problem(r, s->items[j].key,
                                               "holds a control character; systemd would "
                                               "misread the line");
                        }
                        k = put_line(r, s->items[j].key, v);
                        if (k < 0)
                                return k;
                }
        }
        return 0;
}

int unit_file_render(const unit_file *u, char **ret, unit_file_problem *ret_problem) {
        renderer r = {};
        char *buf = NULL;
        size_t len = 0;
        int k;

        r.f = open_memstream(&buf, &len);
        if (!r.f)
                return -ENOMEM;
        k = render_all(&r, u);
        if (fclose(r.f) != 0 && k >= 0)
                k = -ENOMEM;
        if (k >= 0 && !buf)
                k = -ENOMEM;
        if (k < 0) {
                free(buf);
                if (k == -EBADMSG && ret_problem)
                        *ret_problem = r.problem;
                else
                        free(r.problem.text);
                return k;
        }
        *ret = buf;
        return 0;
}
