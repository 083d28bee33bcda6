/* SPDX-License-Identifier: MIT */

/* The unit-file model (src/units/unit-file.c): every adder's escaping, and the renderer's
 * validation (invalid UTF-8, control characters) with the line and setting it names. */

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "units/unit-file.h"

/* Renders a unit with one [Service] line added by ADD; returns that line (without "\n"). */
static char *one_line(int (*add)(unit_file *u, const void *arg), const void *arg) {
        unit_file *u = unit_file_new();
        unit_file_problem problem = {};
        char *text = NULL, *line;

        cr_assert_not_null(u);
        cr_assert_eq(add(u, arg), 0);
        cr_assert_eq(unit_file_render(u, &text, &problem), 0, "%s", problem.text ?: "");
        cr_assert(strncmp(text, "[Service]\n", 10) == 0, "%s", text);
        line = strdup(text + 10);
        line[strcspn(line, "\n")] = '\0';
        free(text);
        unit_file_free(u);
        return line;
}

static int add_escaped(unit_file *u, const void *arg) {
        return unit_file_add_escaped(u, "Service", "K", arg);
}

static int add_plain(unit_file *u, const void *arg) {
        return unit_file_add(u, "Service", "K", arg);
}

static int add_word(unit_file *u, const void *arg) {
        return unit_file_add_word(u, "Service", "K", arg);
}

static int add_env(unit_file *u, const void *arg) {
        return unit_file_add_env(u, "Service", "X", arg);
}

static int add_exec(unit_file *u, const void *arg) {
        return unit_file_add_exec(u, "Service", "ExecStart", arg);
}

static int add_words(unit_file *u, const void *arg) {
        return unit_file_add_words(u, "Service", "K", arg);
}

static int add_names(unit_file *u, const void *arg) {
        return unit_file_add_names(u, "Service", "Sockets", arg);
}

Test(unit_file, value_escaping) {
        static const struct {
                int (*add)(unit_file *u, const void *arg);
                const char *in, *out;
        } t[] = {
                { add_plain, "50%", "K=50%" },
                { add_plain, "+/bin/kill -HUP $MAINPID", "K=+/bin/kill -HUP $MAINPID" },
                { add_escaped, "50%", "K=50%%" },
                { add_escaped, "%i %%", "K=%%i %%%%" },
                { add_escaped, "a\tb", "K=a\tb" },
                { add_escaped, "back\\slash \"q\"", "K=back\\slash \"q\"" },
                { add_escaped, "", "K=" },
                { add_word, "-/run/dovesd/login", "K=-/run/dovesd/login" },
                { add_word, "-/a b", "K='-/a b'" },
                { add_word, "-/a'b", "K=\"-/a'b\"" },
                { add_word, "100%", "K=100%%" },
                { add_env, "imap", "Environment=X=imap" },
                { add_env, "", "Environment=X=" },
                { add_env, "10.0.0.0/8 192.168.1.1", "Environment='X=10.0.0.0/8 192.168.1.1'" },
                { add_env, "50%", "Environment=X=50%%" },
                { add_env, "$HOME", "Environment=X=$HOME" },
                { add_env, "a\"b c", "Environment='X=a\"b c'" },
                { add_env, "it's", "Environment=\"X=it's\"" },
                { add_env, "a\\b", "Environment=\"X=a\\\\b\"" },
                { add_env, "it's \"q\"", "Environment=\"X=it's \\\"q\\\"\"" },
                { add_env, "a\nb\tc", "Environment=\"X=a\\x0ab\\x09c\"" },
                { add_env, "\x7f", "Environment=\"X=\\x7f\"" },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                char *line = one_line(t[i].add, t[i].in);

                cr_expect_str_eq(line, t[i].out, "case %zu (%s)", i, t[i].in);
                free(line);
        }
}

Test(unit_file, lists) {
        static const struct {
                int (*add)(unit_file *u, const void *arg);
                const char *words[5];
                const char *out;
        } t[] = {
                { add_exec, { "/usr/libexec/dovesd/imap", "-D", NULL },
                  "ExecStart=/usr/libexec/dovesd/imap -D" },
                { add_exec, { "/bin/sh", "-ec", "g=$(id -g \"$2\")", NULL },
                  "ExecStart=/bin/sh -ec 'g=$$(id -g \"$$2\")'" },
                { add_exec, { "/x", "100%", ";", "it's", NULL },
                  "ExecStart=/x 100%% ';' \"it's\"" },
                { add_exec, { "/x", "a\tb\x01$", NULL }, "ExecStart=/x \"a\\x09b\\x01$$\"" },
                { add_words, { "mail", "50%", NULL }, "K=mail 50%%" },
                { add_words, { NULL }, "K=" },
                { add_names, { "dovesd-a\\x2db.socket", "dovesd-c.socket", NULL },
                  "Sockets=dovesd-a\\\\x2db.socket dovesd-c.socket" },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                char *line = one_line(t[i].add, t[i].words);

                cr_expect_str_eq(line, t[i].out, "case %zu", i);
                free(line);
        }
}

Test(unit_file, exec_refuses_an_empty_word) {
        unit_file *u = unit_file_new();

        cr_expect_eq(unit_file_add_exec(u, "Service", "ExecStart",
                                        (char *const[]) { (char *) "/x", (char *) "", NULL }),
                     -EINVAL);
        cr_expect_eq(u->n_sections, 0);
        unit_file_free(u);
}

/* Sections in the order first used, items in the order added; the header comments first,
 * a blank line before every section but a first one without a header. */
Test(unit_file, layout) {
        unit_file *u = unit_file_new();
        char *text = NULL;

        cr_assert_eq(unit_file_add_comment(u, "Automatically generated by dovesd-generator"), 0);
        cr_assert_eq(unit_file_add(u, "Unit", "Description", "d"), 0);
        cr_assert_eq(unit_file_add(u, "Socket", "Accept", "no"), 0);
        cr_assert_eq(unit_file_add(u, "Unit", "PartOf", "dovesd.target"), 0);
        cr_assert_eq(unit_file_add_uint(u, "Socket", "Backlog", 511), 0);
        cr_assert_eq(unit_file_render(u, &text, NULL), 0);
        cr_expect_str_eq(text, "# Automatically generated by dovesd-generator\n\n"
                               "[Unit]\nDescription=d\nPartOf=dovesd.target\n\n"
                               "[Socket]\nAccept=no\nBacklog=511\n");
        free(text);
        unit_file_free(u);
}

/* systemd ignores a line that is not valid UTF-8, and a raw control character would break
 * the line: both are refused with the line number and the setting. */
Test(unit_file, validation) {
        static const struct {
                int (*add)(unit_file *u, const void *arg);
                const char *in;
                const char *problem;            /* NULL: renders */
        } t[] = {
                { add_escaped, "caf\xc3\xa9", NULL },
                { add_escaped, "\xf0\x9f\x93\xab", NULL },
                { add_escaped, "latin1 \xe9", "K is not valid UTF-8; systemd would ignore it" },
                { add_escaped, "\xc0\xaf", "K is not valid UTF-8; systemd would ignore it" },
                { add_escaped, "\xed\xa0\x80", "K is not valid UTF-8; systemd would ignore it" },
                { add_escaped, "\xf4\x90\x80\x80", "K is not valid UTF-8; systemd would ignore it" },
                { add_escaped, "\xe2\x82", "K is not valid UTF-8; systemd would ignore it" },
                { add_env, "\xff", "Environment is not valid UTF-8; systemd would ignore it" },
                { add_word, "-/\xfe", "K is not valid UTF-8; systemd would ignore it" },
                { add_escaped, "a\nb", "K holds a control character; systemd would misread the line" },
                { add_plain, "a\rb", "K holds a control character; systemd would misread the line" },
                { add_escaped, "\x7f", "K holds a control character; systemd would misread the line" },
                { add_env, "a\nb", NULL },
                { add_word, "a\rb", NULL },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                unit_file *u = unit_file_new();
                unit_file_problem problem = {};
                char *text = NULL;
                int r;

                cr_assert_eq(unit_file_add_comment(u, "header"), 0);
                cr_assert_eq(unit_file_add(u, "Unit", "Description", "x"), 0);
                cr_assert_eq(t[i].add(u, t[i].in), 0);
                r = unit_file_render(u, &text, &problem);
                if (!t[i].problem) {
                        cr_expect_eq(r, 0, "case %zu: %s", i, problem.text ?: "");
                } else {
                        cr_expect_eq(r, -EBADMSG, "case %zu", i);
                        cr_expect_null(text, "case %zu", i);
                        /* header, blank, [Unit], Description, blank, [Service], the line */
                        cr_expect_eq(problem.line, 7, "case %zu", i);
                        cr_expect_str_eq(problem.text, t[i].problem, "case %zu", i);
                }
                free(problem.text);
                free(text);
                unit_file_free(u);
        }
}
