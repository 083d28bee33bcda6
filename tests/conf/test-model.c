/* SPDX-License-Identifier: MIT */

/* Effective values as Dovecot's master computes them. */

#include "conf-test-util.h"
#include "conf.h"
#include "dump.h"

TestSuite(model, .init = test_dir_setup, .fini = test_dir_teardown);

Test(model, globals_defaults) {
        config *c = test_config("");
        cr_assert_str_eq(c->base_dir, "/run/dovesd");
        cr_assert_str_eq(c->instance_name, "dovesd");
        cr_assert_str_eq(c->libexec_dir, "/usr/lib/dovecot");
        cr_assert_str_eq(c->protocols, "");
        cr_assert_str_eq(c->listen, "*, ::");
        cr_assert_str_eq(c->ssl, "yes");
        cr_assert_str_eq(c->default_internal_user, "dovecot");
        cr_assert_str_eq(c->default_internal_group, "dovecot");
        cr_assert_str_eq(c->default_login_user, "dovenull");
        cr_assert_eq(c->default_client_limit, 1000);
        cr_assert_eq(c->default_process_limit, 100);
        cr_assert_eq(c->default_idle_kill, 60);
        cr_assert_eq(c->default_vsz_limit, 256ULL << 20);
        cr_assert_str_eq(c->haproxy_trusted_networks, "");
        cr_assert_eq(c->haproxy_timeout, 3);
        cr_assert_eq(c->n_services, 0);
        config_free(c);
}

Test(model, effective_limits) {
        config *c = test_config(
                "default_client_limit = 50\ndefault_process_limit = 7\ndefault_idle_kill = 2 mins\n"
                "default_vsz_limit = 1G\n"
                "service d {\n executable = d\n}\n"
                "service capped {\n executable = x\n client_limit = 10\n service_count = 3\n}\n"
                "service never {\n executable = /bin/x\n idle_kill = 4294967295 secs\n vsz_limit = 0\n"
                " process_limit = 5\n}\n"
                "service pc {\n executable = x\n service_count = 1\n vsz_limit = 2M\n}\n"
                "service pool {\n executable = x\n service_count = 1\n process_min_avail = 1\n}\n");
        service *s = test_service(c, "d");
        cr_assert_eq(s->eff_client_limit, 50);
        cr_assert_eq(s->eff_process_limit, 7);
        cr_assert_eq(s->eff_idle_kill, 120);
        cr_assert_eq(s->eff_vsz_limit, 1ULL << 30);
        cr_assert_eq(s->vsz_limit, DOVESD_SIZE_DEFAULT);
        cr_assert(s->enabled);

        s = test_service(c, "capped");
        cr_assert_eq(s->eff_client_limit, 3);
        s = test_service(c, "never");
        cr_assert_eq(s->eff_idle_kill, 0);
        cr_assert_eq(s->eff_vsz_limit, 0);
        cr_assert_eq(s->eff_process_limit, 5);
        cr_assert_str_eq(s->eff_argv[0], "/bin/x");
        s = test_service(c, "pc");
        cr_assert_eq(s->eff_client_limit, 1);
        cr_assert_eq(s->eff_vsz_limit, 2ULL << 20);
        s = test_service(c, "pool");
        cr_assert_eq(s->eff_client_limit, 1);
        config_free(c);
}

Test(model, enabled_and_paths) {
        config *c = test_config(
                "base_dir = /run/x/\nlibexec_dir = /opt/le\nprotocols = imap\nssl = no\n"
                "listen = 10.0.0.1,  ::1\n"
                "default_internal_user = du\ndefault_login_user = lu\ndefault_internal_group = dg\n"
                "service imap {\n protocol = imap\n executable = imap -a  -b\n chroot = login/\n"
                " user = $default_login_user\n extra_groups = $default_internal_group\n"
                " group = $default_internal_group\n"
                " unix_listener login/imap {\n  user = $default_internal_user\n"
                "  group = $default_internal_group\n }\n"
                " unix_listener /abs/path {\n  mode = 0\n }\n"
                " inet_listener imap {\n  port = 143\n }\n"
                " inet_listener imaps {\n  port = 993\n  ssl = yes\n  address = *, [::]\n }\n"
                " inet_listener off {\n }\n"
                "}\n"
                "service pop3 {\n protocol = pop3\n executable = pop3\n}\n"
                "service noexe {\n}\n"
                "service dot {\n executable = x\n chroot = .\n"
                " unix_listener ./a//b/. {\n }\n unix_listener //abs/./p/ {\n }\n}\n");
        service *s = test_service(c, "imap");

        cr_assert(s->enabled);
        cr_assert_str_eq(s->eff_argv[0], "/opt/le/imap");
        cr_assert_str_eq(s->eff_argv[1], "-a");
        cr_assert_str_eq(s->eff_argv[2], "-b");
        cr_assert_null(s->eff_argv[3]);
        /* effective paths are normalized, as systemd wants them (base_dir ends in '/') */
        cr_assert_str_eq(s->eff_chroot, "/run/x/login");
        cr_assert_str_eq(c->base_dir, "/run/x");
        cr_assert_str_eq(s->eff_user, "lu");
        cr_assert_str_eq(s->eff_extra_groups, "dg");
        cr_assert_str_eq(s->group, "$default_internal_group");
        cr_assert_eq(s->n_listeners, 5);
        /* sorted: inet imap, imaps, off; unix /abs/path, login/imap */
        listener *l = &s->listeners[0];
        cr_assert_str_eq(l->name, "imap");
        cr_assert(l->enabled);
        cr_assert_str_eq(l->addresses[0], "10.0.0.1");
        cr_assert_str_eq(l->addresses[1], "::1");
        cr_assert_null(l->addresses[2]);
        l = &s->listeners[1];
        cr_assert_str_eq(l->name, "imaps");
        cr_assert(!l->enabled);
        cr_assert_str_eq(l->addresses[0], "*");
        cr_assert_str_eq(l->addresses[1], "[::]");
        l = &s->listeners[2];
        cr_assert_str_eq(l->name, "off");
        cr_assert(!l->enabled);
        l = &s->listeners[3];
        cr_assert_str_eq(l->name, "/abs/path");
        cr_assert_str_eq(l->path, "/abs/path");
        cr_assert(!l->enabled);
        l = &s->listeners[4];
        cr_assert_str_eq(l->path, "/run/x/login/imap");
        cr_assert_eq(l->mode, 0600);
        cr_assert_str_eq(l->eff_user, "du");
        cr_assert_str_eq(l->eff_group, "dg");
        cr_assert(l->enabled);

        cr_assert(!test_service(c, "pop3")->enabled);
        cr_assert(!test_service(c, "noexe")->enabled);
        cr_assert_str_eq(test_service(c, "dot")->eff_chroot, "/run/x");
        cr_assert_str_eq(test_service(c, "dot")->listeners[0].path, "/run/x/a/b");
        cr_assert_str_eq(test_service(c, "dot")->listeners[1].path, "/abs/p");
        config_free(c);
}

Test(model, filters_do_not_change_globals) {
        config *c = test_config("protocol imap {\n listen = 1.1.1.1\n service x {\n  client_limit = 3\n }\n}\n");
        cr_assert_str_eq(c->listen, "*, ::");
        cr_assert_eq(c->n_services, 0);
        config_free(c);
}

/* Top-level settings stay readable after loading (config_global_find/_value): the last one
 * of each key with its line, not those inside a filter; typed values in doveconf's format. */
Test(model, globals_kept) {
        config *c = test_config("mail_location = maildir:~/a\n"
                                "protocol imap {\n"
                                "  mail_location = maildir:~/b\n"
                                "}\n"
                                "default_vsz_limit = 1G\n"
                                "mail_location = maildir:~/c\n");
        const config_global *g = config_global_find(c, "mail_location");
        _cleanup_free_ char *vsz = config_global_value(c, "default_vsz_limit");
        _cleanup_free_ char *plugins = config_global_value(c, "mail_plugins");
        _cleanup_free_ char *unknown = config_global_value(c, "no_such_setting");

        cr_assert_not_null(g);
        cr_assert_str_eq(g->value, "maildir:~/c");
        cr_assert_str_eq(g->written, "maildir:~/c");
        cr_assert_eq(g->line, 6);
        cr_assert_eq(c->n_globals, 2);
        cr_assert_str_eq(c->globals[0].key, "mail_location");
        cr_assert_str_eq(c->globals[1].key, "default_vsz_limit");
        cr_assert_str_eq(vsz, "1 G");
        cr_assert_str_eq(plugins, "");
        cr_assert_null(unknown);
        cr_assert_null(config_global_find(c, "mail_plugins"));
        config_free(c);
}

/* The model keeps the parsed tree for -n: sections it does not use, with their settings and
 * nesting, and filters with theirs. */
Test(model, keeps_sections_for_dump) {
        config *c = test_config("passdb {\n driver = pam\n}\n"
                                "namespace inbox {\n mailbox Drafts {\n  special_use = \\Drafts\n }\n}\n"
                                "protocol imap {\n mail_debug = yes\n}\n"
                                "service s {\n executable = s\n}\n");
        const conf_tree *t = config_tree(c);
        const conf_section *passdb = NULL, *ns = NULL, *mbox = NULL, *proto = NULL;
        bool driver = false, special_use = false, debug = false;

        cr_assert_not_null(t);
        for (size_t i = 0; i < t->n_sections; i++) {
                const conf_section *s = &t->sections[i];

                if (streq(s->key, "passdb"))
                        passdb = s;
                else if (streq(s->key, "namespace"))
                        ns = s;
                else if (streq(s->key, "mailbox"))
                        mbox = s;
                else if (streq(s->key, "protocol"))
                        proto = s;
        }
        cr_assert(passdb && ns && mbox && proto);
        cr_assert_eq(passdb->kind, CONF_SECTION_BLOCK);
        cr_assert_eq(passdb->line, 1);
        cr_assert_str_eq(ns->name, "inbox");
        cr_assert_eq(&t->sections[mbox->parent], ns);
        cr_assert_str_eq(mbox->name, "Drafts");
        cr_assert_eq(proto->kind, CONF_SECTION_FILTER);
        cr_assert_str_eq(proto->name, "imap");
        for (size_t i = 0; i < t->n_settings; i++) {
                const conf_setting *s = &t->settings[i];
                const conf_section *in = &t->sections[s->section];

                driver = driver || (in == passdb && streq(s->key, "driver") &&
                                    streq(s->value, "pam"));
                special_use = special_use || (in == mbox && streq(s->value, "\\Drafts"));
                debug = debug || (in == proto && streq(s->key, "mail_debug"));
        }
        cr_assert(driver && special_use && debug);
        config_free(c);
}

Test(model, setting_canonical_in_sections) {
        _cleanup_free_ char *order = config_setting_canonical("namespace", "order", "010");
        _cleanup_free_ char *deny = config_setting_canonical("passdb", "deny", "YES");
        _cleanup_free_ char *expunge = config_setting_canonical("mailbox", "autoexpunge", "1d");
        _cleanup_free_ char *vsz = config_setting_canonical("service", "vsz_limit", "1G");
        /* doveconf reads a mode without a leading 0 as decimal */
        _cleanup_free_ char *mode = config_setting_canonical("unix_listener", "mode", "666");
        _cleanup_free_ char *plugin = config_setting_canonical("plugin", "quota", "010");
        _cleanup_free_ char *protocols = config_setting_canonical("plugin", "protocols", " a  b");

        cr_assert_str_eq(order, "10");
        cr_assert_str_eq(deny, "yes");
        cr_assert_str_eq(expunge, "1 days");
        cr_assert_str_eq(vsz, "1 G");
        cr_assert_str_eq(mode, "01232");
        cr_assert_str_eq(plugin, "010");
        cr_assert_str_eq(protocols, " a  b");
}

/* dovesd-generator -n on sections and filters: doveconf -n's shape (tests/diff compares it
 * with doveconf itself on valid/n-sections*.conf). */
Test(model, dump_changed_sections) {
        _cleanup_free_ char *path = test_write("n.conf",
                "protocol imap {\n imap_max_line_length = 64k\n}\n"
                "passdb b {\n driver = pam\n deny = no\n}\n"
                "plugin {\n x_key = k\n url = http://u:p@h\n}\n"
                "local 10.0.0.0/8 {\n protocol imap {\n  mail_debug = no\n }\n}\n"
                "remote 10.0.0.0/8 {\n mail_debug = yes\n}\n"
                "namespace inbox {\n inbox = yes\n}\n"
                "mail_debug = yes\n");
        _cleanup_free_ char *out = NULL;
        size_t size = 0;
        conf_diags d = {};
        FILE *f = open_memstream(&out, &size);

        cr_assert_not_null(f);
        cr_assert_eq(config_dump_changed(path, f, &d), 0);
        cr_assert_eq(fclose(f), 0);
        conf_diags_done(&d);
        cr_assert_str_eq(out,
                "mail_debug = yes\n"
                "namespace inbox {\n  inbox = yes\n  location = \n  prefix = \n}\n"
                "passdb {\n  driver = pam\n  name = b\n}\n"
                "plugin {\n  url = http://#hidden_use-P_to_show#@h\n"
                "  x_key = # hidden, use -P to show it\n}\n"
                "protocol imap {\n  imap_max_line_length = 64 k\n}\n"
                "remote 10.0.0.0/8 {\n  mail_debug = yes\n}\n"
                "local 10.0.0.0/8 {\n  protocol imap {\n    mail_debug = no\n  }\n}\n");
}
