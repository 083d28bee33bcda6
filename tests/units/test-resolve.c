/* SPDX-License-Identifier: MIT */

/* The resolve step (src/plan/): what it decides once for the unit writer, from configs
 * loaded as dovesd-generator loads them. */

#include "conf-test-util.h"
#include "plan/resolve.h"

TestSuite(resolve, .init = test_dir_setup, .fini = test_dir_teardown);

typedef struct reports {
        char *text[32];
        bool note[32];
        size_t n;
        size_t n_errors;
} reports;

static int on_diag(void *userdata, bool warning, const char *file, unsigned line,
                   const char *text) {
        reports *r = userdata;

        (void) file, (void) line;
        cr_assert_lt(r->n, 32);
        r->note[r->n] = false;
        r->text[r->n++] = strdup(text);
        if (!warning)
                r->n_errors++;
        return 0;
}

static int on_note(void *userdata, bool info, const char *file, unsigned line,
                   const char *text) {
        reports *r = userdata;

        (void) info, (void) file, (void) line;
        cr_assert_lt(r->n, 32);
        r->note[r->n] = true;
        r->text[r->n++] = strdup(text);
        return 0;
}

static void reports_done(reports *r) {
        for (size_t i = 0; i < r->n; i++)
                free(r->text[i]);
        *r = (reports) {};
}

static bool reported(const reports *r, const char *text) {
        for (size_t i = 0; i < r->n; i++)
                if (strcmp(r->text[i], text) == 0)
                        return true;
        return false;
}

/* Loads TEXT and resolves it; asserts no error. */
static config *resolve(const char *text, plan *p, reports *r) {
        config *c = test_config(text);
        plan_report rep = { .diag = on_diag, .note = on_note, .userdata = r };
        unsigned errors = 99;

        *r = (reports) {};
        cr_assert_eq(plan_resolve(c, &rep, p, &errors), 0);
        cr_assert_eq(errors, 0, "%s", r->n > 0 ? r->text[0] : "");
        return c;
}

static const plan_service *find(const plan *p, const char *name) {
        for (size_t i = 0; i < p->n_services; i++)
                if (strcmp(p->services[i].s->name, name) == 0)
                        return &p->services[i];
        return NULL;
}

#define LIBEXEC "libexec_dir = /usr/libexec/dovesd\n"

Test(resolve, effective_values_and_process_model) {
        static const struct {
                const char *settings;
                unsigned client_limit, process_limit, backlog, tasks_max;
                process_model process;
                bool restarts_by_design, boot;
        } t[] = {
                /* defaults: 1000 × 100, the supervisor, a control process, an old generation */
                { "", 1000, 100, 511, 202, PROCESS_SUPERVISED, false, false },
                { " process_limit = 1\n", 1000, 1, 511, 2, PROCESS_SINGLE, false, false },
                /* client_limit capped at service_count */
                { " process_limit = 1\n service_count = 1\n", 1, 1, 4, 2, PROCESS_SINGLE, true,
                  false },
                { " service_count = 1\n", 1, 100, 100, 202, PROCESS_SUPERVISED, false, false },
                { " process_limit = 2\n client_limit = 3\n", 3, 2, 6, 6, PROCESS_SUPERVISED,
                  false, false },
                { " process_min_avail = 1\n", 1000, 100, 511, 202, PROCESS_SUPERVISED, false,
                  true },
                { " type = startup\n process_limit = 1\n", 1000, 1, 511, 2, PROCESS_SINGLE,
                  false, true },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                char *text = NULL;
                plan p;
                reports r;
                config *c;
                const plan_service *ps;

                cr_assert(asprintf(&text, LIBEXEC "service s {\n executable = s\n%s"
                                   " inet_listener s {\n  port = 1143\n }\n}\n",
                                   t[i].settings) > 0);
                c = resolve(text, &p, &r);
                ps = find(&p, "s");
                cr_assert_not_null(ps, "case %zu", i);
                cr_expect_eq(ps->s->eff_client_limit, t[i].client_limit, "case %zu", i);
                cr_expect_eq(ps->s->eff_process_limit, t[i].process_limit, "case %zu", i);
                cr_expect_eq(ps->backlog, t[i].backlog, "case %zu", i);
                cr_expect_eq(ps->tasks_max, t[i].tasks_max, "case %zu", i);
                cr_expect_eq(ps->process, t[i].process, "case %zu", i);
                cr_expect_eq(ps->kind, WORKER_LIBDOVESD, "case %zu", i);
                cr_expect_eq(ps->restarts_by_design, t[i].restarts_by_design, "case %zu", i);
                cr_expect_eq(ps->boot, t[i].boot, "case %zu", i);
                cr_expect_eq(plan_process_model(ps->s), t[i].process, "case %zu", i);
                plan_done(&p);
                reports_done(&r);
                config_free(c);
                free(text);
        }
}

/* Dovecot's own programs always run under the supervisor: it is their master. */
Test(resolve, dovecot_kind_is_supervised) {
        plan p;
        reports r;
        config *c = resolve("service anvil {\n executable = /usr/lib/dovecot/anvil\n"
                            " type = anvil\n process_limit = 1\n unix_listener anvil {\n }\n}\n"
                            "service imap {\n executable = /usr/lib/dovecot/imap\n"
                            " unix_listener imap-master {\n }\n}\n"
                            "service imap-login {\n executable = /usr/lib/dovecot/imap-login\n"
                            " process_limit = 1\n service_count = 1\n"
                            " unix_listener login {\n }\n}\n", &p, &r);
        const plan_service *anvil = find(&p, "anvil"), *imap = find(&p, "imap");

        cr_assert_not_null(anvil);
        cr_assert_not_null(imap);
        cr_expect_eq(anvil->process, PROCESS_SUPERVISED);
        cr_expect_eq(anvil->kind, WORKER_DOVECOT);
        cr_expect_eq(imap->kind, WORKER_DOVECOT);
        cr_expect_eq(imap->dovecot_anvil, anvil->s);
        cr_expect_str_eq(imap->anvil_fifo, "/run/dovecot/dovesd-anvil-shared");
        cr_expect_eq(p.dovecot_anvil, anvil);
        cr_expect_null(imap->dovecot_config);
        /* Its supervisor replaces the worker that served service_count clients: the unit
         * keeps its start and trigger limits. */
        cr_expect_eq(find(&p, "imap-login")->process, PROCESS_SUPERVISED);
        cr_expect_not(find(&p, "imap-login")->restarts_by_design);
        plan_done(&p);
        reports_done(&r);
        config_free(c);
}

/* $default_* is expanded once, by the model; the plan hands out the result and says who
 * applies it. */
Test(resolve, users_and_groups) {
        plan p;
        reports r;
        config *c = resolve(LIBEXEC
                "default_internal_user = du\ndefault_login_user = lu\n"
                "default_internal_group = dg\n"
                "service a {\n executable = a\n user = $default_login_user\n"
                " group = $default_internal_group\n extra_groups = $default_internal_group\n"
                " privileged_group = mail\n chroot = login\n"
                " unix_listener login/a {\n  user = $default_internal_user\n"
                "  group = $default_internal_group\n }\n}\n"
                "service b {\n executable = b\n user = $default_internal_user\n"
                " extra_groups = x, y\n privileged_group = p\n drop_priv_before_exec = yes\n"
                " inet_listener b {\n  port = 1\n }\n}\n"
                "service root {\n executable = r\n process_limit = 1\n inet_listener r {\n"
                "  port = 2\n }\n}\n", &p, &r);
        const plan_service *a = find(&p, "a"), *b = find(&p, "b"), *root = find(&p, "root");

        cr_assert_not_null(a);
        cr_expect_str_eq(a->user, "lu");
        cr_expect_str_eq(a->group, "dg");
        cr_expect_str_eq(a->extra_groups, "dg");
        cr_expect_str_eq(a->privileged_group, "mail");
        cr_expect_str_eq(a->chroot, "/run/dovesd/login");
        cr_expect(!a->drop_priv_before_exec);
        cr_expect(!a->runs_as_root);
        cr_expect_null(a->supplementary_groups);
        cr_expect_str_eq(a->capabilities, "CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_SYS_CHROOT "
                                          "CAP_KILL");
        cr_assert_eq(a->n_listeners, 1);
        cr_expect_str_eq(a->listeners[0].socket_user, "du");
        cr_expect_str_eq(a->listeners[0].socket_group, "dg");
        cr_expect_str_eq(a->listeners[0].fdname, "a");

        cr_assert_not_null(b);
        cr_expect(b->drop_priv_before_exec);
        cr_expect_str_eq(b->user, "du");
        cr_assert_not_null(b->supplementary_groups);
        cr_expect_str_eq(b->supplementary_groups[0], "x");
        cr_expect_str_eq(b->supplementary_groups[1], "y");
        cr_expect_str_eq(b->supplementary_groups[2], "p");
        cr_expect_null(b->supplementary_groups[3]);
        cr_expect_str_eq(b->capabilities, "");
        cr_expect(b->remove_ipc);
        cr_expect(reported(&r, "service(b): privileged_group=p with drop_priv_before_exec=yes "
                               "is granted as a supplementary group for the whole run"));

        cr_assert_not_null(root);
        cr_expect(root->runs_as_root);
        cr_expect_str_eq(root->capabilities, "CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH "
                                             "CAP_FOWNER CAP_SETGID CAP_SETUID CAP_SETPCAP "
                                             "CAP_SYS_CHROOT");

        /* base_dir, the login chroot that holds a listener (root:the user's group) */
        cr_assert_eq(p.n_dirs, 2);
        cr_expect_str_eq(p.dirs[0].path, "/run/dovesd");
        cr_expect_eq(p.dirs[0].kind, PLAN_DIR_PLAIN);
        cr_expect_str_eq(p.dirs[1].path, "/run/dovesd/login");
        cr_expect_eq(p.dirs[1].kind, PLAN_DIR_LOGIN_CHROOT);
        cr_expect_str_eq(p.dirs[1].user, "lu");
        plan_done(&p);
        reports_done(&r);
        config_free(c);
}

/* Every address form the model accepts, parsed once into its kind. */
Test(resolve, addresses) {
        static const struct {
                const char *in;
                int r;
                inet_address_kind kind;
                const char *host;
        } t[] = {
                { "*", 0, INET_ADDRESS_ANY4, "" },
                { "::", 0, INET_ADDRESS_ANY6, "" },
                { "[::]", 0, INET_ADDRESS_ANY6, "" },
                { "localhost", 0, INET_ADDRESS_LOCALHOST, "" },
                { "1.2.3.4", 0, INET_ADDRESS_IPV4, "1.2.3.4" },
                { "0.0.0.0", 0, INET_ADDRESS_IPV4, "0.0.0.0" },
                { "::1", 0, INET_ADDRESS_IPV6, "::1" },
                { "[::1]", 0, INET_ADDRESS_IPV6, "::1" },
                { "[fe80::1:2]", 0, INET_ADDRESS_IPV6, "fe80::1:2" },
                { "mail.example.org", -EINVAL },
                { "LOCALHOST", -EINVAL },
                { "[1.2.3.4]", -EINVAL },
                { "1.2.3.4.5", -EINVAL },
                { "fe80::1%eth0", -EINVAL },
                { "[::1", -EINVAL },
                { "[]", -EINVAL },
                { "", -EINVAL },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                inet_address a = {};

                cr_expect_eq(inet_address_parse(t[i].in, &a), t[i].r, "%s", t[i].in);
                if (t[i].r == 0) {
                        cr_expect_eq(a.kind, t[i].kind, "%s", t[i].in);
                        cr_expect_str_eq(a.host, t[i].host, "%s", t[i].in);
                }
        }

        /* In a config: the listener's addresses, or the global listen. */
        plan p;
        reports r;
        config *c = resolve(LIBEXEC "listen = 10.0.0.1, [::1]\n"
                            "service s {\n executable = s\n"
                            " inet_listener a {\n  port = 1\n  address = *, ::, localhost\n }\n"
                            " inet_listener b {\n  port = 2\n }\n}\n", &p, &r);
        const plan_service *s = find(&p, "s");

        cr_assert_not_null(s);
        cr_assert_eq(s->n_listeners, 2);
        cr_assert_eq(s->listeners[0].n_addresses, 3);
        cr_expect_eq(s->listeners[0].addresses[0].kind, INET_ADDRESS_ANY4);
        cr_expect_eq(s->listeners[0].addresses[1].kind, INET_ADDRESS_ANY6);
        cr_expect_eq(s->listeners[0].addresses[2].kind, INET_ADDRESS_LOCALHOST);
        cr_assert_eq(s->listeners[1].n_addresses, 2);
        cr_expect_eq(s->listeners[1].addresses[0].kind, INET_ADDRESS_IPV4);
        cr_expect_str_eq(s->listeners[1].addresses[0].host, "10.0.0.1");
        cr_expect_eq(s->listeners[1].addresses[1].kind, INET_ADDRESS_IPV6);
        cr_expect_str_eq(s->listeners[1].addresses[1].host, "::1");
        cr_expect_str_eq(s->listeners_env, "a;b");
        plan_done(&p);
        reports_done(&r);
        config_free(c);

        /* The model refuses a host name with the same parser, at the listener's line. */
        char *e = test_first_error("service s {\n executable = s\n inet_listener a {\n"
                                   "  port = 1\n  address = mail.example.org\n }\n}\n");
        cr_expect_str_eq(e, "main.conf:3: service(s): inet_listener(a): address "
                            "mail.example.org is a host name; use an IP address (a generator "
                            "cannot resolve names)");
        free(e);
}

/* Services that get no units are reported once, here, and left out of the plan. */
Test(resolve, services_without_units) {
        plan p;
        reports r;
        config *c = resolve(LIBEXEC "protocols = imap\n"
                            "service off {\n protocol = pop3\n executable = x\n}\n"
                            "service log {\n type = log\n executable = log\n process_limit = 1\n"
                            " unix_listener log {\n }\n}\n"
                            "service idle {\n protocol = imap\n executable = idle\n}\n"
                            "service boot {\n executable = boot\n type = startup\n}\n"
                            "service half {\n executable = h\n unix_listener on {\n }\n"
                            " unix_listener off {\n  mode = 0\n }\n"
                            " inet_listener ssl {\n  port = 993\n  ssl = yes\n }\n}\n", &p, &r);

        cr_expect_null(find(&p, "off"));
        cr_expect_null(find(&p, "log"));
        cr_expect_null(find(&p, "idle"));
        cr_expect_not_null(find(&p, "boot"));
        cr_assert_not_null(find(&p, "half"));
        cr_expect_eq(find(&p, "half")->n_listeners, 2);
        cr_expect(reported(&r, "service(off): not enabled (protocol not in protocols, or no "
                               "executable), no units"));
        cr_expect(reported(&r, "service(log): type=log writes no units: journald collects "
                               "the logs"));
        cr_expect(reported(&r, "service(idle): no enabled listener and not started at boot "
                               "(type=startup or process_min_avail > 0): nothing could start "
                               "it, no units"));
        cr_expect(reported(&r, "service(half): unix_listener off is disabled, no socket"));
        cr_expect_eq(r.n_errors, 0);
        plan_done(&p);
        reports_done(&r);
        config_free(c);
}

/* drop_priv_before_exec with chroot is the model's error, at doveconf's line, so the plan
 * never sees it. */
Test(resolve, drop_priv_with_chroot_is_the_models_error) {
        char *e = test_first_error("service s {\n executable = s\n chroot = x\n"
                                   " drop_priv_before_exec = yes\n}\n");

        cr_expect_str_eq(e, "main.conf:1: service(s): drop_priv_before_exec=yes can't be "
                            "used with chroot");
        free(e);
}
