/* SPDX-License-Identifier: MIT */

/* $setting and $ENV:NAME: doveconf -a keeps them as written unless the token names the key
 * being set; the master's (effective) view expands every token at token start. */

#include "conf-test-util.h"

TestSuite(variables, .init = test_dir_setup, .fini = test_dir_teardown);

Test(variables, configured_vs_effective) {
        setenv("DOVESD_TEST_VAR", "from-env", 1);
        config *c = test_config(
                "default_internal_user = mailer\n"
                "service s {\n"
                "  executable = prog $ENV:DOVESD_TEST_VAR x$ENV:DOVESD_TEST_VAR\n"
                "  user = $default_internal_user\n"
                "  group = $default_internal_user extra\n"
                "  chroot = \"$base_dir\"\n"
                "  unix_listener l {\n"
                "    user = $default_login_user\n"
                "  }\n"
                "}\n");
        service *s = test_service(c, "s");

        cr_assert_str_eq(s->executable, "prog $ENV:DOVESD_TEST_VAR x$ENV:DOVESD_TEST_VAR");
        cr_assert_str_eq(s->eff_argv[0], "/usr/lib/dovecot/prog");
        cr_assert_str_eq(s->eff_argv[1], "from-env");
        cr_assert_str_eq(s->eff_argv[2], "x$ENV:DOVESD_TEST_VAR");
        cr_assert_null(s->eff_argv[3]);
        cr_assert_str_eq(s->user, "$default_internal_user");
        cr_assert_str_eq(s->eff_user, "mailer");
        cr_assert_str_eq(s->group, "$default_internal_user extra");
        cr_assert_str_eq(s->var_group, "mailer extra");
        cr_assert_str_eq(s->chroot, "$base_dir");
        /* /usr/lib/dovecot/prog is a Dovecot program: Dovecot's default base_dir */
        cr_assert_str_eq(s->eff_chroot, "/run/dovecot/$base_dir");
        cr_assert_str_eq(s->listeners[0].user, "$default_login_user");
        cr_assert_str_eq(s->listeners[0].eff_user, "dovenull");
        config_free(c);
}

/* doveconf splits a value holding '$' on spaces, drops empty tokens and joins with single
 * spaces; tabs are not separators (F8). */
Test(variables, spaces_collapse) {
        static const struct {
                const char *value;
                const char *configured;
                const char *effective;
        } cases[] = {
                { "a    $default_internal_user   b", "a $default_internal_user b", "a dovecot b" },
                { "x\t$default_internal_user", "x\t$default_internal_user", "x\t$default_internal_user" },
                { "x\t $default_internal_user", "x\t $default_internal_user", "x\t dovecot" },
                { "$ENV:DOVESD_TEST_UNSET  x", "$ENV:DOVESD_TEST_UNSET x", " x" },
                { "x  \"$a\"  'b'", "x \"$a\" 'b'", "x \"$a\" 'b'" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = NULL;
                cr_assert(asprintf(&text, "service s {\n  group = %s\n}\n", cases[i].value) > 0);
                config *c = test_config(text);
                service *s = test_service(c, "s");
                cr_assert_str_eq(s->group, cases[i].configured, "case %zu", i);
                cr_assert_str_eq(s->eff_group, cases[i].effective, "case %zu", i);
                config_free(c);
        }
}

Test(variables, default_user_expanded_with_final_value) {
        config *c = test_config(
                "service s {\n  user = $default_internal_user\n"
                "  extra_groups = $default_internal_group\n}\n"
                "default_internal_user = late\ndefault_internal_group = grp\n");
        service *s = test_service(c, "s");
        cr_assert_str_eq(s->eff_user, "late");
        cr_assert_str_eq(s->eff_extra_groups, "grp");
        config_free(c);
}

Test(variables, self_reference_global) {
        config *c = test_config("listen = $listen 1.2.3.4\nprotocols = $protocols\n"
                                "service s {\n inet_listener i {\n  port = 1\n }\n}\n");
        cr_assert_str_eq(c->listen, "*, :: 1.2.3.4");
        cr_assert_str_eq(c->protocols, "");
        char **a = c->services[0].listeners[0].addresses;
        cr_assert_str_eq(a[0], "*");
        cr_assert_str_eq(a[1], "::");
        cr_assert_str_eq(a[2], "1.2.3.4");
        cr_assert_null(a[3]);
        config_free(c);
}

Test(variables, errors) {
        static const struct {
                const char *conf;
                const char *error;
        } cases[] = {
                { "service imap {\n user = $user x\n}\n", "main.conf:2: Unknown variable: $user" },
                { "service imap {\n executable = $executable -x\n}\n",
                  "main.conf:2: Unknown variable: $executable" },
                { "service imap {\n client_limit = $default_client_limit\n}\n",
                  "main.conf:2: Invalid number $default_client_limit: Not a valid number" },
                { "service imap {\n user = $nosuchvar\n}\n",
                  "main.conf:2: Unknown variable: $nosuchvar" },
                { "service imap {\n extra_groups = $default_internal_group, mail\n}\n",
                  "main.conf:2: Unknown variable: $default_internal_group," },
                { "mail_plugins = $mail_plugins quota\n", "" },
                { "service imap {\n user = postmaster@$ENV:X\n}\n", "" },
                { "service imap {\n user = \"$nosuchvar\"\n}\n", "" },
                /* runs of spaces are one separator, also in error texts (F8) */
                { "service imap {\n unix_listener x {\n  mode = 066    $default_internal_group\n }\n}\n",
                  "main.conf:3: Invalid number: 066 $default_internal_group" },
                { "service imap {\n client_limit = 1   $default_client_limit\n}\n",
                  "main.conf:2: Invalid number 1 $default_client_limit: Not a valid number" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = test_first_error(cases[i].conf);
                cr_assert_str_eq(e, cases[i].error, "case %zu", i);
        }
}
