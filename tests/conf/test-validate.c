/* SPDX-License-Identifier: MIT */

/* Validation after parsing, as master_settings_verify() does it; texts are doveconf's. The
 * line is the offending setting's, service's or listener's (doveconf gives none). */

#include "conf-test-util.h"

TestSuite(validate, .init = test_dir_setup, .fini = test_dir_teardown);

Test(validate, errors) {
        static const struct {
                const char *conf;
                const char *error;
        } cases[] = {
                { "\nservice imap {\n type = foo\n}\n", "main.conf:2: Unknown service type: foo" },
                { "service zz {\n type = foo\n protocol = qq\n}\n",
                  "main.conf:1: Unknown service type: foo" },
                { "service {\n}\n", "main.conf:1: Service #0 is missing name" },
                { "service a {\n}\nservice {\n type = x\n}\n",
                  "main.conf:3: Service #1 is missing name" },
                { "service zz {\n process_min_avail = 200\n}\n",
                  "main.conf:1: service(zz): process_min_avail is higher than process_limit" },
                { "service anvil {\n process_min_avail = 5\n process_limit = 1\n}\n",
                  "main.conf:1: service(anvil): process_min_avail is higher than process_limit" },
                { "service auth {\n process_limit = 2\n}\n",
                  "main.conf:1: service(auth): process_limit must be 1" },
                { "service auth {\n}\n", "main.conf:1: service(auth): process_limit must be 1" },
                { "service auth {\n vsz_limit = 100k\n process_limit = 1\n}\n",
                  "main.conf:1: service(auth): vsz_limit is too low" },
                { "service imap-login {\n chroot = login\n drop_priv_before_exec = yes\n}\n",
                  "main.conf:1: service(imap-login): drop_priv_before_exec=yes can't be used with chroot" },
                { "service zz {\n unix_listener {\n }\n}\n",
                  "main.conf:2: service(zz): unix_listener: path must not be empty" },
                { "service zz {\n fifo_listener \"\" {\n }\n}\n",
                  "main.conf:2: service(zz): fifo_listener: path must not be empty" },
                { "service zz {\n inet_listener a {\n  port = 5\n }\n inet_listener b {\n  port = 5\n }\n}\n",
                  "main.conf:5: duplicate listener: 5:" },
                { "service zz {\n unix_listener x {\n }\n fifo_listener x {\n }\n}\n",
                  "main.conf:4: duplicate listener: /run/dovesd/x" },
                { "service zz {\n unix_listener x {\n }\n}\nservice yy {\n unix_listener /run/dovesd/x {\n }\n}\n",
                  "main.conf:6: duplicate listener: /run/dovesd/x" },
                { "listen =\n", "main.conf:1: listen can't be set empty" },
                { "service zz {\n inet_listener a {\n  port = 5\n  address = mail.example.com\n }\n}\n",
                  "main.conf:2: service(zz): inet_listener(a): address mail.example.com is a host name; use an IP address (a generator cannot resolve names)" },
                { "listen = 127.0.0.1, myhost\nservice zz {\n inet_listener a {\n  port = 5\n }\n}\n",
                  "main.conf:3: service(zz): inet_listener(a): address myhost is a host name; use an IP address (a generator cannot resolve names)" },
                { "protocols = imap\nservice i {\n protocol = imap\n}\nservice zz {\n protocol = imap\n inet_listener a {\n  port = 5\n  address = [::1], 10.0.0.1 localhost * ::\n }\n}\n"
                  "service q {\n  protocol = pop3\n inet_listener a {\n  port = 5\n  address = unused.host\n }\n}\n",
                  "" },
                /* dovesd only (doveconf accepts them): a path that could leave base_dir, whose
                 * directories dovesd would create (issue 16, item 3) */
                { "service zz {\n chroot = ..\n unix_listener ../../var/mail/sock {\n }\n}\n",
                  "main.conf:1: service(zz): chroot(..): path must not contain a '..' component" },
                { "service zz {\n chroot = login/../../x\n}\n",
                  "main.conf:1: service(zz): chroot(login/../../x): path must not contain a '..' component" },
                { "service zz {\n chroot = /var/..\n}\n",
                  "main.conf:1: service(zz): chroot(/var/..): path must not contain a '..' component" },
                { "service zz {\n unix_listener ../../var/mail/sock {\n }\n}\n",
                  "main.conf:2: service(zz): unix_listener(../../var/mail/sock): path must not contain a '..' component" },
                { "service zz {\n fifo_listener /run/dovesd/../x {\n }\n}\n",
                  "main.conf:2: service(zz): fifo_listener(/run/dovesd/../x): path must not contain a '..' component" },
                { "base_dir = /run/../x\n", "main.conf:1: base_dir must not contain a '..' component: /run/../x" },
                { "base_dir = run/x\n", "main.conf:1: base_dir must be an absolute path: run/x" },
                /* a program path systemd would refuse: --check OK means systemd loads the units */
                { "service zz {\n executable = \"a\\\"b -x\"\n}\n",
                  "main.conf:1: service(zz): executable /usr/lib/dovecot/a\"b: systemd refuses quotes, '\\' and control characters in a program path" },
                { "libexec_dir = lib\nservice zz {\n executable = imap\n}\n",
                  "main.conf:2: service(zz): executable lib/imap: not an absolute path (a relative executable is under libexec_dir)" },
                { "service zz {\n executable = /usr/bin/\n}\n",
                  "main.conf:1: service(zz): executable /usr/bin/: names a directory" },
                /* "..." and "a..b" are names, not ".." */
                { "service zz {\n chroot = ...\n unix_listener a..b/..c {\n }\n}\n", "" },
                { "last_valid_uid = 5\n",
                  "main.conf:1: first_valid_uid can't be larger than last_valid_uid" },
                { "first_valid_gid = 10\nlast_valid_gid = 5\n",
                  "main.conf:2: first_valid_gid can't be larger than last_valid_gid" },
                /* checks of other settings blocks, per filter over the final globals (F12);
                 * the line is the setting's that gave the value */
                { "syslog_facility = bogus\n", "main.conf:1: Unknown syslog_facility: bogus" },
                { "syslog_facility = LOCAL7\n", "main.conf:1: Unknown syslog_facility: LOCAL7" },
                { "protocol imap {\n syslog_facility = security\n}\n",
                  "main.conf:2: Unknown syslog_facility: security" },
                { "service x {\n inet_listener y {\n  ssl = yes\n }\n}\nssl_verify_client_cert = yes\n",
                  "main.conf:6: ssl_verify_client_cert set, but ssl_ca not" },
                { "protocol imap {\n ssl_verify_client_cert = yes\n}\nprotocol pop3 {\n ssl_ca = </x\n}\n",
                  "main.conf:2: ssl_verify_client_cert set, but ssl_ca not" },
                { "local 1.2.3.4 {\n ssl_verify_client_cert = yes\n protocol imap {\n  ssl_ca = </x\n }\n}\n",
                  "main.conf:2: ssl_verify_client_cert set, but ssl_ca not" },
                { "ssl = no\nprotocol imap {\n ssl = yes\n ssl_verify_client_cert = yes\n}\n",
                  "main.conf:4: ssl_verify_client_cert set, but ssl_ca not" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = test_first_error(cases[i].conf);
                cr_assert_str_eq(e, cases[i].error, "case %zu", i);
        }
}

/* A program path component over NAME_MAX: systemd says "Neither a valid executable name nor
 * an absolute path"; 255 bytes are fine. */
Test(validate, executable_component_length) {
        char conf[512], want[512];

        snprintf(conf, sizeof(conf), "service zz {\n executable = /x/%0256d\n}\n", 0);
        snprintf(want, sizeof(want), "main.conf:1: service(zz): executable /x/%0256d: a path "
                 "component is longer than 255 bytes", 0);
        _cleanup_free_ char *e = test_first_error(conf);
        cr_assert_str_eq(e, want);

        snprintf(conf, sizeof(conf), "service zz {\n executable = /x/%0255d\n}\n", 0);
        _cleanup_free_ char *e2 = test_first_error(conf);
        cr_assert_str_eq(e2, "");
}

Test(validate, skipped_or_fine) {
        static const char *const cases[] = {
                /* disabled protocol: not validated */
                "service zz {\n process_min_avail = 200\n protocol = qq\n}\n",
                "service zz {\n unix_listener {\n }\n protocol = qq\n}\n",
                /* disabled listeners are left out of the duplicate check */
                "service zz {\n unix_listener x {\n  mode = 0\n }\n fifo_listener x {\n }\n}\n",
                "service zz {\n inet_listener a {\n  port = 5\n  address = 1.2.3.4\n }\n"
                " inet_listener b {\n  port = 5\n }\n}\n",
                "service zz {\n inet_listener a {\n }\n inet_listener b {\n }\n}\n",
                "protocols = none\n",
                "service zz {\n vsz_limit = 0\n}\ndefault_vsz_limit = 1k\n",
                "service zz {\n vsz_limit = 1M\n}\n",
                "service auth {\n process_limit = 1\n}\n",
                "syslog_facility = local7\nprotocol imap {\n syslog_facility = authpriv\n}\n",
                "ssl_verify_client_cert = yes\nssl = no\n",
                "ssl_verify_client_cert = yes\nssl_ca = </nonexistent/ca.pem\n",
                "ssl = no\nprotocol imap {\n ssl_verify_client_cert = yes\n}\n",
                "protocol imap {\n ssl_verify_client_cert = yes\n}\nprotocol imap {\n ssl_ca = </x\n}\n",
                "protocol imap {\n ssl_verify_client_cert = yes\n}\nssl_ca = </x\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = test_first_error(cases[i]);
                cr_assert_str_eq(e, "", "case %zu: %s", i, cases[i]);
        }
}

Test(validate, base_dir_prefix_warning) {
        conf_diags d;
        char *first;

        cr_assert_eq(test_load("service zz {\n unix_listener /run/dovesd/x {\n }\n}\n", NULL, &first,
                               &d), 0);
        cr_assert_eq(d.n_items, 1);
        cr_assert(d.items[0].warning);
        cr_assert_eq(d.items[0].line, 2);
        cr_assert_str_eq(d.items[0].text,
                         "You should remove base_dir prefix from unix_listener: /run/dovesd/x");
        free(first);
        conf_diags_done(&d);

        /* doveconf names unix_listener for a fifo listener too (F9) */
        cr_assert_eq(test_load("service zz {\n fifo_listener /run/dovesd/f {\n }\n}\n", NULL,
                               &first, &d), 0);
        cr_assert_eq(d.n_items, 1);
        cr_assert_str_eq(d.items[0].text,
                         "You should remove base_dir prefix from unix_listener: /run/dovesd/f");
        free(first);
        conf_diags_done(&d);
}

Test(validate, ssl_disabled_warning) {
        conf_diags d;
        char *first;

        cr_assert_eq(test_load("ssl = no\nprotocol imap {\n ssl = no\n}\nprotocol pop3 {\n"
                               " ssl = required\n}\nlocal 1.2.3.4 {\n ssl = yes\n}\n", NULL,
                               &first, &d), 0);
        cr_assert_eq(d.n_items, 1);
        cr_assert(d.items[0].warning);
        cr_assert_eq(d.items[0].line, 6);
        cr_assert_str_eq(d.items[0].text,
                         "SSL is disabled because global ssl=no, ignoring ssl=required for subsection");
        free(first);
        conf_diags_done(&d);
}

/* Every unknown protocol in one message, doveconf's text first, then the hint (issue 17). */
Test(validate, unknown_protocols) {
        static const struct {
                const char *conf;
                const char *start;
        } cases[] = {
                { "protocols = imap foo\nservice imap {\n protocol = imap\n}\n",
                  "main.conf:1: protocols: Unknown protocol: foo: no service has protocol = foo; "
                  "declare one, or !include /" },
                { "protocols = none imap\n",
                  "main.conf:1: protocols: Unknown protocol: none (also unknown: imap): no service "
                  "has these protocols; declare one for each, or !include /" },
                /* Debian's stock config: $protocols grows over several files; each name once,
                 * at the line that set the final value */
                { "protocols = imap pop3 lmtp\nprotocols = $protocols imap\n"
                  "protocols = $protocols sieve\n",
                  "main.conf:3: protocols: Unknown protocol: imap (also unknown: pop3, lmtp, sieve): "
                  "no service has these protocols; declare one for each, or !include /" },
        };
        static const char end[] = "/dovecot-2.3-services.conf (Dovecot's built-in services)";

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = test_first_error(cases[i].conf);
                cr_assert(strncmp(e, cases[i].start, strlen(cases[i].start)) == 0,
                          "case %zu: %s", i, e);
                cr_assert(strlen(e) > strlen(end) && streq(e + strlen(e) - strlen(end), end),
                          "case %zu: %s", i, e);
        }
}
