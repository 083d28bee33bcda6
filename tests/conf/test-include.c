/* SPDX-License-Identifier: MIT */

/* !include and !include_try: paths relative to the including file, glob order, recursion,
 * missing files, sections spanning files. key = <file: read relative to the file holding the
 * line; --dump keeps "<path" as doveconf -a prints it, the effective value is the content. */

#include "conf-test-util.h"

TestSuite(include, .init = test_dir_setup, .fini = test_dir_teardown);

Test(include, relative_sorted_later_wins) {
        free(test_write("inc.d/b.conf", "service x {\n client_limit = 2\n}\n"));
        free(test_write("inc.d/a.conf", "service x {\n client_limit = 1\n process_limit = 7\n}\n"));
        config *c = test_config("!include inc.d/*.conf\n");
        service *s = test_service(c, "x");

        cr_assert_eq(s->client_limit, 2);
        cr_assert_eq(s->process_limit, 7);
        cr_assert(strstr(s->file, "inc.d/a.conf"));
        cr_assert_eq(s->line, 1);
        config_free(c);
}

Test(include, nested_relative_to_including_file) {
        free(test_write("sub/one.conf", "!include two.conf\n"));
        free(test_write("sub/two.conf", "service y {\n}\n"));
        config *c = test_config("!include sub/one.conf\n");
        cr_assert_eq(c->n_services, 1);
        cr_assert_str_eq(c->services[0].name, "y");
        config_free(c);
}

Test(include, brace_glob) {
        free(test_write("p.conf", "service p {\n}\n"));
        free(test_write("q.conf", "service q {\n}\n"));
        config *c = test_config("!include {p,q}.conf\n");
        cr_assert_eq(c->n_services, 2);
        config_free(c);
}

Test(include, section_spans_files) {
        free(test_write("body.conf", " client_limit = 5\n}\n"));
        config *c = test_config("service s {\n!include body.conf\n");
        cr_assert_eq(test_service(c, "s")->client_limit, 5);
        config_free(c);
}

Test(include, errors) {
        static const struct {
                const char *conf;
                const char *error;
        } cases[] = {
                { "!include /nonexistent/x.conf\n", "main.conf:1: No matches" },
                { "\n!include nothing-*.conf\n", "main.conf:2: No matches" },
                { "!include\n", "main.conf:1: No matches" },
                { "!include_try /nonexistent/x.conf\n!include_try none-*.conf\n", "" },
                { "!include self.conf\n", "self.conf:1: Recursive include file: " },
                { "!include bad.conf\n", "bad.conf:2: Unknown setting: foo" },
        };
        free(test_write("self.conf", "!include self.conf\n"));
        free(test_write("bad.conf", "\nfoo = 1\n"));
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = test_first_error(cases[i].conf);
                cr_assert(strncmp(e, cases[i].error, strlen(cases[i].error)) == 0 &&
                          (cases[i].error[0] != '\0' || e[0] == '\0'),
                          "case %zu: got %s", i, e);
        }
}

Test(include, missing_main_file) {
        conf_diags d = {};
        config *c = NULL;
        int r = config_load("/nonexistent/dovesd.conf", &c, &d);

        cr_assert_lt(r, 0);
        cr_assert_eq(d.n_errors, 1);
        cr_assert_str_eq(d.items[0].file, "/nonexistent/dovesd.conf");
        cr_assert_str_eq(d.items[0].text,
                         "open(/nonexistent/dovesd.conf) failed: No such file or directory");
        conf_diags_done(&d);
}

Test(include, file_values) {
        free(test_write("sub/exe.txt", "prog  -x"));
        free(test_write("sub/inc/user.txt", "mailer"));
        free(test_write("sub/inc/addr.txt", "127.0.0.1, ::1"));
        free(test_write("sub/inc/nl.txt", "grp\n"));
        free(test_write("sub/base.txt", "/srv/run"));
        free(test_write("sub/main2.conf",
                        "base_dir = <base.txt\n"
                        "service s {\n"
                        "  executable = <exe.txt\n"
                        "  user = <  inc/user.txt\n"
                        "  group = <inc/nl.txt\n"
                        "  privileged_group = \"<inc/user.txt\"\n"
                        "  unix_listener l {\n"
                        "    user = <inc/user.txt\n"
                        "  }\n"
                        "  inet_listener i {\n"
                        "    address = <inc/addr.txt\n"
                        "    port = 10143\n"
                        "  }\n"
                        "}\n"
                        "ssl_cert = </nonexistent/never-read.pem\n"));
        config *c = test_config("!include sub/main2.conf\n");
        service *s = test_service(c, "s");

        cr_assert_str_eq(c->base_dir, "/srv/run");
        cr_assert_str_eq(s->executable, "<exe.txt");
        cr_assert_str_eq(s->eff_argv[0], "/usr/lib/dovecot/prog");
        cr_assert_str_eq(s->eff_argv[1], "-x");
        cr_assert_null(s->eff_argv[2]);
        cr_assert_str_eq(s->user, "<inc/user.txt");
        cr_assert_str_eq(s->eff_user, "mailer");
        cr_assert_str_eq(s->group, "<inc/nl.txt");
        cr_assert_str_eq(s->eff_group, "grp\n");      /* verbatim, as Dovecot reads it */
        cr_assert_str_eq(s->privileged_group, "<inc/user.txt"); /* quoted: not a file */
        cr_assert_str_eq(s->eff_privileged_group, "<inc/user.txt");
        cr_assert_str_eq(s->listeners[0].name, "i");
        cr_assert_str_eq(s->listeners[0].address, "<inc/addr.txt");
        cr_assert_str_eq(s->listeners[0].addresses[0], "127.0.0.1");
        cr_assert_str_eq(s->listeners[0].addresses[1], "::1");
        cr_assert_null(s->listeners[0].addresses[2]);
        cr_assert_str_eq(s->listeners[1].user, "<inc/user.txt");
        cr_assert_str_eq(s->listeners[1].eff_user, "mailer");
        cr_assert_str_eq(s->listeners[1].path, "/srv/run/l");
        config_free(c);
}

/* Errors as doveconf -x prints them: the key's full path (section names escaped, unnamed
 * sections numbered), the path as opened. Typed settings keep "<path", as doveconf -a does. */
Test(include, file_value_errors) {
        static const struct {
                const char *conf;
                const char *error;      /* DIR stands for the test directory */
        } cases[] = {
                { "service x {\n  executable = <nonexistent\n}\n",
                  "main.conf:2: service/x/executable: Can't open file DIR/nonexistent: No such file or directory" },
                { "service x {\n  user = <dir\n}\n",
                  "main.conf:2: service/x/user: read(DIR/dir) failed: Is a directory" },
                { "service x {\n  user = <\n}\n",
                  "main.conf:2: service/x/user: read(DIR/) failed: Is a directory" },
                { "listen = <sub/none\n",
                  "main.conf:1: listen: Can't open file DIR/sub/none: No such file or directory" },
                { "protocol imap {\n  base_dir = <none\n}\n",
                  "main.conf:2: base_dir: Can't open file DIR/none: No such file or directory" },
                { "protocol imap {\n service x {\n  chroot = <none\n }\n}\n",
                  "main.conf:3: service/x/chroot: Can't open file DIR/none: No such file or directory" },
                { "service x {\n unix_listener \"a=b\\\\c d,e/f\" {\n  group = </none\n }\n}\n",
                  "main.conf:3: service/x/unix_listener/a\\eb\\\\c\\_d\\+e\\sf/group: Can't open file /none: No such file or directory" },
                { "service \"a b/c\" {\n  extra_groups = </none\n}\n",
                  "main.conf:2: service/a\\_b\\sc/extra_groups: Can't open file /none: No such file or directory" },
                { "service y {\n inet_listener {\n }\n}\nplugin {\n}\nservice {\n  user = </none\n}\n",
                  "main.conf:8: service/2/user: Can't open file /none: No such file or directory" },
                { "service y {\n inet_listener {\n  address = </none\n }\n}\n",
                  "main.conf:3: service/y/inet_listener/0/address: Can't open file /none: No such file or directory" },
                { "service x {\n  client_limit = <num.txt\n}\n",
                  "main.conf:2: Invalid number <num.txt: Not a valid number" },
                { "service x {\n  drop_priv_before_exec = <num.txt\n}\n",
                  "main.conf:2: Invalid boolean value: <num.txt (use yes or no)" },
                { "ssl = <num.txt\n", "main.conf:1: Invalid value: <num.txt" },
                { "service x {\n  user = <num.txt\n}\nssl_key = </none\nplugin {\n  x = </none\n}\n", "" },
        };
        free(test_write("dir/x", ""));
        free(test_write("num.txt", "5"));
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = test_first_error(cases[i].conf), *want = NULL;
                const char *d = strstr(cases[i].error, "DIR");

                if (d)
                        cr_assert(asprintf(&want, "%.*s%s%s", (int) (d - cases[i].error),
                                           cases[i].error, test_dir, d + 3) > 0);
                cr_assert_str_eq(e, want ?: cases[i].error, "case %zu", i);
        }
}
