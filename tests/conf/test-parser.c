/* SPDX-License-Identifier: MIT */

/* Grammar: lines, comments, quotes, continuation, sections, filters, known settings. The
 * expected texts are doveconf 2.3.19.1's (Debian 12). */

#include <errno.h>

#include "conf.h"
#include "conf-test-util.h"

TestSuite(parser, .init = test_dir_setup, .fini = test_dir_teardown);

typedef struct {
        const char *conf;
        const char *error;      /* "" = valid */
} case_t;

Test(parser, errors) {
        static const case_t cases[] = {
                { "foo = bar\n", "main.conf:1: Unknown setting: foo" },
                { "ssl = no\n}\n", "main.conf:2: Unexpected '}'" },
                { "service imap {\n  drop_priv_before_exec = maybe\n}\n",
                  "main.conf:2: Invalid boolean value: maybe (use yes or no)" },
                { "service imap {\n client_limit = abc\n}\n",
                  "main.conf:2: Invalid number abc: Not a valid number" },
                { "service imap {\n idle_kill = 10\n}\n",
                  "main.conf:2: Time interval '10' is missing units (add e.g. 's' for seconds)" },
                { "service imap {\n vsz_limit = 1.5M\n}\n", "main.conf:2: Invalid size: 1.5M" },
                { "service imap {\n inet_listener imap {\nport = 70000\n}\n}\n",
                  "main.conf:3: Invalid port number 70000" },
                { "service imap {\n unix_listener foo {\nmode = 0999\n}\n}\n",
                  "main.conf:3: Invalid number: 0999" },
                { "service imap { foo\n}\n", "main.conf:1: Garbage after '{'" },
                { "service imap { client_limit = 1 }\n", "main.conf:1: Garbage after '{'" },
                { "service imap foo bar {\n}\n", "main.conf:1: Expecting '{'" },
                { "foo\n", "main.conf:1: Expecting '{'" },
                { "service imap{\n}\n", "main.conf:1: Expecting '{'" },
                { "service \"imap {\n}\n", "main.conf:1: Expecting '{'" },
                { "service \"a\\\"b\" {\n}\n", "main.conf:1: Expecting '{'" },
                { "!foo x\n", "main.conf:1: Expecting '{'" },
                { "ssl = maybe\n", "main.conf:1: Invalid value: maybe" },
                { "ssl = YES\n", "main.conf:1: Invalid value: YES" },
                { " = x\n", "main.conf:1: Missing key name ('=' at the beginning of line)" },
                { "service imap {\n = x\n}\n", "main.conf:2: Unknown setting: service { " },
                { "service imap {\n foo = 1\n}\n", "main.conf:2: Unknown setting: service { foo" },
                { "service imap {\n CLIENT_LIMIT = 1\n}\n",
                  "main.conf:2: Unknown setting: service { CLIENT_LIMIT" },
                { "SERVICE imap {\n}\n", "main.conf:1: Unknown setting: SERVICE { SERVICE" },
                { "service imap {\n inet_listener x {\n mode = 1\n}\n}\n",
                  "main.conf:3: Unknown setting: service { inet_listener { mode" },
                { "service imap {\n unix_listener x {\n port = 1\n}\n}\n",
                  "main.conf:3: Unknown setting: service { unix_listener { port" },
                { "foo {\n}\n", "main.conf:1: Unknown setting: foo { foo" },
                { "foo bar {\n}\n", "main.conf:1: Unknown setting: foo { foo" },
                { "service imap {\n foo bar {\n}\n}\n",
                  "main.conf:2: Unknown setting: service { foo { foo" },
                { "service imap {\n unix_listener x {\n unix_listener y {\n}\n}\n}\n",
                  "main.conf:3: Unknown setting: service { unix_listener { unix_listener { unix_listener" },
                { "service imap {\n service x {\n}\n}\n",
                  "main.conf:2: Unknown setting: service { service { service" },
                { "passdb {\n foo = 1\n}\n", "main.conf:2: Unknown setting: passdb { foo" },
                { "namespace inbox {\n foo = 1\n}\n",
                  "main.conf:2: Unknown setting: namespace { foo" },
                { "namespace inbox {\n mailbox x {\n foo = 1\n}\n}\n",
                  "main.conf:3: Unknown setting: namespace { mailbox { foo" },
                { "namespace inbox {\n bar x {\n}\n}\n",
                  "main.conf:2: Unknown setting: namespace { bar { bar" },
                { "mailbox x {\n}\n", "main.conf:1: Unknown setting: mailbox { mailbox" },
                { "protocol imap {\n foo = 1\n}\n", "main.conf:2: Unknown setting: foo" },
                { "protocol imap {\n service imap {\n foo = 1\n}\n}\n",
                  "main.conf:3: Unknown setting: service { foo" },
                { "protocol imap {\n protocol pop3 {\n}\n}\n",
                  "main.conf:2: Nested protocol { protocol { .. } } block not allowed" },
                { "protocol imap {\n remote 1.2.3.4 {\n}\n}\n",
                  "main.conf:2: protocol { remote { .. } } not allowed (use remote { protocol { .. } } instead)" },
                { "remote 1.2.3.4 {\n local 1.2.3.4 {\n}\n}\n",
                  "main.conf:2: remote { local { .. } } not allowed (use local { remote { .. } } instead)" },
                { "local_name x {\n local 1.2.3.4 {\n}\n}\n",
                  "main.conf:2: local_name { local { .. } } not allowed (use local { local_name { .. } } instead)" },
                { "remote 1.2.3.4/99 {\n}\n", "main.conf:1: Invalid network mask: 99" },
                { "remote 1.2.3.4/ {\n}\n", "main.conf:1: Invalid network mask: " },
                /* nested local/remote ranges must lie inside the enclosing one (F6) */
                { "local 1.2.3.4 {\n  local 1.2.3.5 {\n  }\n}\n",
                  "main.conf:2: local net1 { local net2 { .. } } requires net2 to be inside net1" },
                { "local 1.2.3.0/24 {\n  local 1.2.0.0/16 {\n  }\n}\n",
                  "main.conf:2: local net1 { local net2 { .. } } requires net2 to be inside net1" },
                { "local 1.2.3.0/24 {\n  local 1.2.3.0/16 {\n  }\n}\n",
                  "main.conf:2: local net1 { local net2 { .. } } requires net2 to be inside net1" },
                { "remote 10.0.0.0/8 {\n remote 11.1.0.0/16 {\n }\n}\n",
                  "main.conf:2: remote net1 { remote net2 { .. } } requires net2 to be inside net1" },
                { "remote 10.0.0.0/8 {\n remote ::1 {\n }\n}\n",
                  "main.conf:2: remote net1 { remote net2 { .. } } requires net2 to be inside net1" },
                { "remote ::ffff:10.0.0.0/104 {\n remote 10.1.1.1 {\n }\n}\n",
                  "main.conf:2: remote net1 { remote net2 { .. } } requires net2 to be inside net1" },
                { "remote 10.0.0.0/8 {\n remote 10.1.1.1/0 {\n }\n}\n",
                  "main.conf:2: remote net1 { remote net2 { .. } } requires net2 to be inside net1" },
                { "remote 2001:db8::/32 {\n remote 2001:db9:1::/48 {\n }\n}\n",
                  "main.conf:2: remote net1 { remote net2 { .. } } requires net2 to be inside net1" },
                { "remote 10.0.0.0/8 {\n remote 10.1.0.0/16 {\n remote 10.2.0.0/16 {\n }\n }\n}\n",
                  "main.conf:3: remote net1 { remote net2 { .. } } requires net2 to be inside net1" },
                { "local 10.0.0.0/8 {\n protocol imap {\n }\n}\nlocal 11.0.0.0/8 {\n local 10.1.1.1 {\n }\n}\n",
                  "main.conf:6: local net1 { local net2 { .. } } requires net2 to be inside net1" },
                { "local 10.0.0.0/9 {\n local_name x {\n remote 1.2.3.4 {\n remote 1.2.3.5 {\n }\n }\n }\n}\n",
                  "main.conf:4: remote net1 { remote net2 { .. } } requires net2 to be inside net1" },
                { "plugin {\n foo = 1\n x {\n }\n}\n", "main.conf:3: Section not allowed here" },
                { "dict {\n foo = 1\n x {\n }\n}\n", "main.conf:3: Section not allowed here" },
                /* '/' separates setting paths: no key may hold one, not even in plugin {} (F11) */
                { "plugin {\n quota = maildir\n sieve/x = 1\n}\n",
                  "main.conf:3: Unknown setting: plugin { sieve/x" },
                { "dict {\n a/b = x\n}\n", "main.conf:2: Unknown setting: dict { a/b" },
                { "a/b = x\n", "main.conf:1: Unknown setting: a/b" },
                { "mail_fsync = sometimes\n", "main.conf:1: Invalid value: sometimes" },
                { "namespace x {\n list = children\n type = bad\n}\n",
                  "main.conf:3: Invalid value: bad" },
                { "userdb {\n skip = authenticated\n}\n",
                  "main.conf:2: Invalid value: authenticated" },
                { "mail_max_userip_connections = x\n",
                  "main.conf:1: Invalid number x: Not a valid number" },
                { "auth_cache_ttl = 1\n",
                  "main.conf:1: Time interval '1' is missing units (add e.g. 's' for seconds)" },
                { "protocol imap {\n auth_debug = maybe\n}\n",
                  "main.conf:2: Invalid boolean value: maybe (use yes or no)" },
                { "default_vsz_limit = 1 X\n", "main.conf:1: Invalid size: 1 X" },
                { "service imap {\n  client_limit = 5\n",
                  "main.conf:1: Missing '}' (section started at " },
                { "protocols = imap \\\n  foo\nservice imap {\n protocol = imap\n}\n",
                  "main.conf:2: protocols: Unknown protocol: foo: no service has protocol = foo" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = test_first_error(cases[i].conf);
                if (strstr(cases[i].error, "Missing '}'") ||
                    strstr(cases[i].error, "Unknown protocol"))
                        cr_assert(strncmp(e, cases[i].error, strlen(cases[i].error)) == 0,
                                  "case %zu: %s", i, e);
                else
                        cr_assert_str_eq(e, cases[i].error, "case %zu: %s", i, cases[i].conf);
        }
}

Test(parser, valid) {
        static const char *const cases[] = {
                "",
                "# comment\n\n   # indented comment\n",
                "service imap { # comment\n}\n",
                "base_dir = /x #y\n",
                "base_dir=\"/x#y\"\n",
                "mail_location=\"/x\n",     /* base_dir must be absolute */
                "service 'imap' {\n}\n",
                "protocol {\n}\n",
                "remote 1.2.3.4 {\n protocol imap {\n }\n}\n",
                "local 1.2.3.4 {\n remote 10.0.0.0/8 {\n }\n}\n",
                "local 1.2.3.4 {\n local_name x {\n }\n}\n",
                "local 1.2.3.0/24 {\n local 1.2.3.5 {\n }\n}\n",
                "local 1.2.3.0/24 {\n local 1.2.3.0/24 {\n local 1.2.3.7/25 {\n }\n }\n}\n",
                "local 1.2.3.4 {\n local 1.2.3.4 {\n }\n}\n",
                "remote ::/0 {\n remote 1.2.3.4 {\n }\n}\n",
                "remote 0.0.0.0/0 {\n remote ::1 {\n }\n}\n",
                "remote 1.2.3.4/0 {\n remote 5.6.7.8 {\n }\n}\n",
                "remote 10.0.0.0/8 {\n remote ::ffff:10.1.1.1 {\n }\n}\n",
                "remote 2001:db8::/32 {\n remote [2001:db8:1::]/48 {\n }\n}\n",
                "remote 10.0.0.0/9 {\n remote 10.127.1.1 {\n }\n}\n",
                "local 10.0.0.0/8 {\n remote 1.2.3.4 {\n }\n}\nlocal 11.0.0.0/8 {\n remote 1.2.3.5 {\n }\n}\n",
                "local 10.0.0.0/8 {\n local mail.example.com {\n }\n}\n",
                "local_name mail.example.com {\n ssl_cert = </etc/ssl/x.pem\n}\n",
                "plugin x {\n anything = 1\n}\n",
                "dict {\n foo = bar\n}\n",
                "passdb {\n driver = pam\n args = x\n}\n",
                "namespace inbox {\n inbox = yes\n mailbox Drafts {\n special_use = \\Drafts\n }\n}\n",
                "service imap {\n protocol imap {\n }\n}\n",
                "mail_plugins = a\nprotocol imap {\n mail_plugins = $mail_plugins b\n}\n",
                "ssl_cert = </nonexistent\n",
                "service imap {\n unix_listener = x\n}\n",
                "service imap {\r\n client_limit = 1\r\n}\r\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = test_first_error(cases[i]);
                cr_assert_str_eq(e, "", "case %zu: %s", i, cases[i]);
        }
}

/* Pigeonhole (Debian dovecot-managesieved, dovecot-sieve) defines managesieve_* in settings
 * modules that doveconf loads: doveconf -n accepts them, so must we, with their types. */
Test(parser, pigeonhole_settings) {
        static const struct {
                const char *conf;
                const char *error;
        } cases[] = {
                { "managesieve_max_line_length = 64k\n", "" },
                { "managesieve_max_compile_errors = 5\n", "" },
                { "managesieve_logout_format = bytes=%i/%o\n", "" },
                { "managesieve_implementation_string = x\n", "" },
                { "managesieve_sieve_capability = fileinto\n", "" },
                { "managesieve_notify_capability = mailto\n", "" },
                { "managesieve_client_workarounds = \n", "" },
                { "protocol sieve {\n managesieve_max_line_length = 1M\n}\n", "" },
                { "plugin {\n sieve = file:~/sieve;active=~/.dovecot.sieve\n}\n", "" },
                { "managesieve_max_compile_errors = x\n",
                  "main.conf:1: Invalid number x: Not a valid number" },
                { "managesieve_nonexistent = 1\n",
                  "main.conf:1: Unknown setting: managesieve_nonexistent" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = test_first_error(cases[i].conf);
                cr_assert_str_eq(e, cases[i].error, "case %zu: %s", i, cases[i].conf);
        }
}

Test(parser, quoting_and_continuation) {
        config *c = test_config(
                "service \"my svc\" {\n"
                "  executable = \"a \\\"b\\\\ c\"\n"
                "  user = 'x y'\n"
                "  group = \"unterminated\n"
                "  chroot = \"\"\n"
                "  privileged_group = a \\\n"
                "     b \\\n"
                "c\n"
                "  extra_groups = v#w\n"
                "}\n");
        service *s = test_service(c, "my svc");

        cr_assert_str_eq(s->executable, "a \"b\\ c");
        cr_assert_str_eq(s->user, "x y");
        cr_assert_str_eq(s->group, "\"unterminated");
        cr_assert_str_eq(s->chroot, "");
        cr_assert_str_eq(s->privileged_group, "a b c");
        cr_assert_str_eq(s->extra_groups, "v");
        config_free(c);

        /* a backslash left at the end once the quotes are gone is dropped (F10) */
        c = test_config("service q {\n  chroot = \"\\\"\n  user = \"a\\\"\n  group = 'b\\'\n"
                        "  executable = \"x c\\\\\"\n}\n");
        s = test_service(c, "q");
        cr_assert_str_eq(s->chroot, "");
        cr_assert_str_eq(s->user, "a");
        cr_assert_str_eq(s->group, "b");
        cr_assert_str_eq(s->executable, "x c\\");
        config_free(c);
}

Test(parser, ambiguous_hash_warning) {
        conf_diags d;
        config *c = NULL;
        char *first;

        cr_assert_eq(test_load("base_dir=/x#y\nservice a {# c\n}\n", &c, &first, &d), 0);
        cr_assert_str_eq(first, "");
        cr_assert_eq(d.n_items, 2);
        cr_assert_eq(d.n_errors, 0);
        cr_assert(d.items[0].warning);
        cr_assert_eq(d.items[0].line, 1);
        cr_assert_eq(d.items[1].line, 2);
        cr_assert_str_eq(d.items[0].text,
                         "Ambiguous '#' character in line, treating it as comment. Add a space before it to remove this warning.");
        cr_assert_str_eq(c->base_dir, "/x");
        free(first);
        conf_diags_done(&d);
        config_free(c);
}

/* A global setting after a filter that set the same key (F-warning): doveconf's text, the
 * first filter line, only settings directly inside a filter. */
Test(parser, global_after_filter_warning) {
        static const struct {
                const char *conf;
                const char *warnings;   /* "LINE: TEXT\n" per warning */
        } cases[] = {
                { "protocol imap {\n  ssl = no\n}\nssl = yes\n",
                  "4: Global setting ssl won't change the setting inside an earlier filter at main.conf line 2 (if this is intentional, avoid this warning by moving the global setting before main.conf line 2)\n" },
                { "local 1.2.3.4 {\n protocol imap {\n  base_dir = /y\n }\n}\n"
                  "protocol pop3 {\n base_dir = /z\n}\nbase_dir = /x\nbase_dir = /w\n",
                  "9: Global setting base_dir won't change the setting inside an earlier filter at main.conf line 3 (if this is intentional, avoid this warning by moving the global setting before main.conf line 3)\n"
                  "10: Global setting base_dir won't change the setting inside an earlier filter at main.conf line 3 (if this is intentional, avoid this warning by moving the global setting before main.conf line 3)\n" },
                { "protocol imap {\n  mail_max_userip_connections = 5\n}\nmail_max_userip_connections = 6\n",
                  "4: Global setting mail_max_userip_connections won't change the setting inside an earlier filter at main.conf line 2 (if this is intentional, avoid this warning by moving the global setting before main.conf line 2)\n" },
                { "ssl = yes\nprotocol imap {\n  ssl = no\n}\n", "" },
                { "protocol imap {\n service x {\n  inet_listener y {\n   ssl = yes\n  }\n }\n}\nssl = no\n", "" },
                { "protocol imap {\n plugin {\n  ssl = x\n }\n}\nssl = no\n", "" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *got = NULL, *first = NULL;
                size_t len = 0;
                conf_diags d;
                FILE *f;

                cr_assert_geq(test_load(cases[i].conf, NULL, &first, &d), 0, "case %zu", i);
                cr_assert_str_eq(first, "", "case %zu", i);
                f = open_memstream(&got, &len);
                for (size_t j = 0; j < d.n_items; j++) {
                        cr_assert(d.items[j].warning);
                        cr_assert(strstr(d.items[j].file, "/main.conf"));
                        fprintf(f, "%u: %s\n", d.items[j].line, d.items[j].text);
                }
                fclose(f);
                /* the text names the file as it was opened: make it relative */
                for (char *m; (m = strstr(got, test_dir)); )
                        memmove(m, m + strlen(test_dir) + 1, strlen(m + strlen(test_dir) + 1) + 1);
                cr_assert_str_eq(got, cases[i].warnings, "case %zu", i);
                conf_diags_done(&d);
        }
}

Test(parser, merge_case_insensitive) {
        config *c = test_config(
                "service zz {\n unix_listener A {\n  mode = 0601\n }\n}\n"
                "service ZZ {\n unix_listener a {\n  user = x\n }\n client_limit = 3\n}\n"
                "service Zz {\n user = q\n}\n");

        cr_assert_eq(c->n_services, 1);
        service *s = test_service(c, "Zz");
        cr_assert_eq(s->client_limit, 3);
        cr_assert_str_eq(s->user, "q");
        cr_assert_eq(s->n_listeners, 1);
        cr_assert_str_eq(s->listeners[0].name, "a");
        cr_assert_eq(s->listeners[0].mode, 0601);
        cr_assert_str_eq(s->listeners[0].user, "x");
        cr_assert_eq(s->line, 1);
        config_free(c);
}

Test(parser, sort_order) {
        config *c = test_config(
                "service z {\n}\nservice z-a {\n}\nservice zz/x {\n}\nservice A {\n}\n"
                "service zz {\n"
                " unix_listener a/b {\n }\n unix_listener a-c {\n }\n unix_listener a0 {\n }\n"
                " unix_listener a\\\\b {\n }\n unix_listener \"a b\" {\n }\n unix_listener a {\n }\n"
                " inet_listener b {\n }\n fifo_listener x {\n }\n"
                "}\n");
        static const char *const svc[] = { "A", "z-a", "z", "zz", "zz/x" };
        static const char *const lst[] = { "x", "b", "a-c", "a", "a0", "a\\\\b", "a b", "a/b" };

        cr_assert_eq(c->n_services, ELEMENTSOF(svc));
        for (size_t i = 0; i < ELEMENTSOF(svc); i++)
                cr_assert_str_eq(c->services[i].name, svc[i]);
        service *s = test_service(c, "zz");
        cr_assert_eq(s->n_listeners, ELEMENTSOF(lst));
        for (size_t i = 0; i < ELEMENTSOF(lst); i++)
                cr_assert_str_eq(s->listeners[i].name, lst[i], "listener %zu", i);
        config_free(c);
}

Test(parser, limits) {
        /* nesting depth */
        char *deep = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&deep, &len);
        for (int i = 0; i < 70; i++)
                fputs("local 10.0.0.1 {\n", f);
        fclose(f);
        _cleanup_free_ char *e = test_first_error(deep);
        cr_assert_str_eq(e, "main.conf:65: Too deeply nested sections (more than 64 levels)");
        free(deep);

        /* no line length limit (doveconf has none; the 16 MiB file limit bounds it): a
         * 1 MiB comment line and a 70 KiB value line load */
        const size_t big = 1024 * 1024;
        char *longline = malloc(big + 64);
        strcpy(longline, "# ");
        memset(longline + 2, 'x', big);
        strcpy(longline + 2 + big, "\nbase_dir = /run/x\n");
        config *c = test_config(longline);
        cr_assert_str_eq(c->base_dir, "/run/x");
        config_free(c);
        strcpy(longline, "base_dir = /");
        memset(longline + 12, 'x', 70 * 1024);
        strcpy(longline + 12 + 70 * 1024, "\n");
        c = test_config(longline);
        cr_assert_eq(strlen(c->base_dir), 70 * 1024 + 1);
        config_free(c);
        free(longline);
}

/* The syntax tree on its own, with a schema of the test's (no service model): a top level
 * that takes `a`, blocks `box` that take `a` and `b`. */
static const conf_class toy_top = { .name = "top" };
static const conf_class toy_box = { .name = "box" };

static const conf_class *toy_section(void *userdata, const conf_class *ctx, const char *key) {
        return streq(key, "box") ? &toy_box : NULL;
}

static int toy_check(void *userdata, const conf_class *ctx, const char *key, const char *value,
                     const char *expanded, char **ret_error) {
        if (!streq(key, "a") && !(ctx == &toy_box && streq(key, "b")))
                return -ENOENT;
        if (streq(value, "bad"))
                return asprintf(ret_error, "Bad value for %s", key) < 0 ? -ENOMEM : -EINVAL;
        return 0;
}

static bool toy_reads_file(void *userdata, const conf_class *ctx, const char *key) {
        return streq(key, "b");
}

static char *toy_variable(void *userdata, const char *key, const char *last) {
        errno = 0;
        return last ? strdup(last) : NULL;
}

static const conf_schema toy_schema = {
        .root = &toy_top,
        .section = toy_section,
        .check = toy_check,
        .reads_file = toy_reads_file,
        .variable = toy_variable,
};

static void assert_setting(const conf_tree *t, size_t i, size_t section, const char *key,
                           const char *value, const char *expanded, const char *file,
                           unsigned line) {
        const conf_setting *s = &t->settings[i];
        const char *f = s->file + strlen(test_dir) + 1;

        cr_assert_eq(s->section, section, "setting %zu: section %zu", i, s->section);
        cr_assert_str_eq(s->key, key);
        cr_assert_str_eq(s->value, value);
        if (expanded)
                cr_assert_str_eq(s->expanded, expanded);
        else
                cr_assert_null(s->expanded, "setting %zu: expanded %s", i, s->expanded);
        cr_assert_str_eq(f, file);
        cr_assert_eq(s->line, line, "setting %zu: line %u", i, s->line);
}

static void assert_section(const conf_tree *t, size_t i, conf_section_kind kind,
                           const conf_class *class, const char *key, const char *name,
                           size_t parent, const char *file, unsigned line) {
        const conf_section *s = &t->sections[i];

        cr_assert_eq(s->kind, kind, "section %zu: kind %d", i, s->kind);
        cr_assert_eq(s->class, class, "section %zu: class", i);
        cr_assert_str_eq(s->key, key);
        cr_assert_str_eq(s->name, name);
        cr_assert_eq(s->parent, parent, "section %zu: parent %zu", i, s->parent);
        cr_assert_str_eq(s->file + strlen(test_dir) + 1, file);
        cr_assert_eq(s->line, line, "section %zu: line %u", i, s->line);
}

Test(parser, syntax_tree) {
        _cleanup_free_ char *inc = test_write("inc.conf",
                "a = 5\n"
                "box \"two words\" {\n"
                "  b = <value.txt\n"
                "}\n");
        _cleanup_free_ char *txt = test_write("value.txt", "from a file");
        _cleanup_free_ char *path = test_write("main.conf",
                "a = 1\n"
                "box one {\n"
                "  b = $a x\n"
                "  !include inc.conf\n"
                "}\n"
                "protocol imap {\n"
                "  a = 2\n"
                "}\n"
                "c = 3\n"
                "a = bad\n"
                "nope {\n"
                "  a = 7\n"
                "}\n"
                "a = 4\n");
        conf_diags d = {};
        conf_tree *t = NULL;

        cr_assert_eq(conf_parse(path, &toy_schema, NULL, &d, &t), -EINVAL);
        cr_assert_not_null(t);

        /* sections in file order, an included file's where the !include is */
        cr_assert_eq(t->n_sections, 5);
        assert_section(t, 0, CONF_SECTION_ROOT, &toy_top, "", "", 0, "main.conf", 0);
        assert_section(t, 1, CONF_SECTION_BLOCK, &toy_box, "box", "one", 0, "main.conf", 2);
        assert_section(t, 2, CONF_SECTION_BLOCK, &toy_box, "box", "two words", 1, "inc.conf", 2);
        assert_section(t, 3, CONF_SECTION_FILTER, NULL, "protocol", "imap", 0, "main.conf", 6);
        assert_section(t, 4, CONF_SECTION_IGNORED, NULL, "nope", "", 0, "main.conf", 11);
        cr_assert_eq(conf_section_context(t, &t->sections[3]), &t->sections[0]);
        cr_assert_eq(conf_section_context(t, &t->sections[2]), &t->sections[2]);
        cr_assert_eq(t->sections[4].n_diags, 2, "errors before `nope {`: c and a = bad");

        /* settings that passed the check, with variables and <file applied; none from the
         * ignored section */
        cr_assert_eq(t->n_settings, 6);
        assert_setting(t, 0, 0, "a", "1", NULL, "main.conf", 1);
        assert_setting(t, 1, 1, "b", "$a x", "1 x", "main.conf", 3);
        assert_setting(t, 2, 1, "a", "5", NULL, "inc.conf", 1);
        assert_setting(t, 3, 2, "b", "<value.txt", "from a file", "inc.conf", 3);
        assert_setting(t, 4, 3, "a", "2", NULL, "main.conf", 7);
        assert_setting(t, 5, 0, "a", "4", NULL, "main.conf", 14);

        /* the schema's verdicts, at their lines, in order */
        cr_assert_eq(d.n_items, 4);
        cr_assert_eq(d.items[0].line, 9);
        cr_assert_str_eq(d.items[0].text, "Unknown setting: c");
        cr_assert_eq(d.items[1].line, 10);
        cr_assert_str_eq(d.items[1].text, "Bad value for a");
        cr_assert_eq(d.items[2].line, 11);
        cr_assert_str_eq(d.items[2].text, "Unknown setting: nope { nope");
        /* and the dialect's own warning: a top-level a after a filter that set a */
        cr_assert(d.items[3].warning);
        cr_assert_eq(d.items[3].line, 14);
        cr_assert(strstr(d.items[3].text, "Global setting a won't change the setting inside "
                                          "an earlier filter"));

        conf_tree_free(t);
        conf_diags_done(&d);
}

/* The model's listener limit is checked after reading, yet reported in file order among the
 * parser's errors, at the line of the 1,001st listener. */
Test(parser, listener_limit_in_order) {
        _cleanup_free_ char *text = NULL, *path = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        conf_diags d = {};
        config *c = NULL;
        static const unsigned lines[] = { 1, 2003, 2005, 2008 };

        cr_assert_not_null(f);
        fputs("bogus_a = 1\nservice s {\n", f);
        for (unsigned i = 0; i < 1001; i++)
                fprintf(f, "  unix_listener l%u {\n  }\n", i);
        fputs("  bogus_b = 2\n}\nservice t {\n  process_limit = x\n}\n", f);
        cr_assert_eq(fclose(f), 0);
        path = test_write("main.conf", text);

        cr_assert_eq(config_load(path, &c, &d), -EINVAL);
        cr_assert_eq(d.n_items, ELEMENTSOF(lines));
        for (size_t i = 0; i < ELEMENTSOF(lines); i++)
                cr_assert_eq(d.items[i].line, lines[i], "item %zu: line %u: %s", i,
                             d.items[i].line, d.items[i].text);
        cr_assert_str_eq(d.items[1].text, "Too many listeners in service s (more than 1000)");
        conf_diags_done(&d);
}
