/* SPDX-License-Identifier: MIT */

/* !include and !include_try: paths relative to the including file, glob order, recursion,
 * missing files, sections spanning files. */

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
