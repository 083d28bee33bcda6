/* SPDX-License-Identifier: MIT */

/* The unit writer's pieces: escaping, quoting, backlog, naming collisions, a few whole
 * units built from models made here in C. */

#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"
#include "units/sandbox.h"

static void diags_clear(conf_diags *d) {
        for (size_t i = 0; i < d->n_items; i++) {
                free(d->items[i].file);
                free(d->items[i].text);
        }
        free(d->items);
        *d = (conf_diags) {};
}

/* ---- escaping ---------------------------------------------------------------------------- */

static const struct {
        const char *in;
        unsigned flags;
        const char *out;
} escape_table[] = {
        { "imap", UNIT_ESCAPE_KEEP_DASH, "imap" },
        { "imap-login", UNIT_ESCAPE_KEEP_DASH, "imap-login" },
        { "imap-login", 0, "imap\\x2dlogin" },
        { "login/imap", UNIT_ESCAPE_KEEP_DASH | UNIT_ESCAPE_PATH, "login-imap" },
        { "/login//imap/", UNIT_ESCAPE_KEEP_DASH | UNIT_ESCAPE_PATH, "login-imap" },
        { "token-login/imap-urlauth", UNIT_ESCAPE_KEEP_DASH | UNIT_ESCAPE_PATH,
          "token-login-imap-urlauth" },
        { "login/imap", 0, "login-imap" },
        { "a b", UNIT_ESCAPE_KEEP_DASH, "a\\x20b" },
        { "50%", UNIT_ESCAPE_KEEP_DASH, "50\\x25" },
        { ".hidden", UNIT_ESCAPE_KEEP_DASH, "\\x2ehidden" },
        { "a.b", 0, "a.b" },
        { "x:y_z", 0, "x:y_z" },
        { "back\\slash", UNIT_ESCAPE_KEEP_DASH, "back\\x5cslash" },
        { "\xc3\xbc", 0, "\\xc3\\xbc" },
        { "a@b", UNIT_ESCAPE_KEEP_DASH, "a\\x40b" },
};

Test(units, escape_table) {
        for (size_t i = 0; i < sizeof(escape_table) / sizeof(escape_table[0]); i++) {
                char *out = NULL;

                cr_assert_eq(unit_name_escape(escape_table[i].in, escape_table[i].flags, &out), 0,
                             "escaping %s", escape_table[i].in);
                cr_expect_str_eq(out, escape_table[i].out, "escaping %s", escape_table[i].in);
                free(out);
        }
}

Test(units, escape_empty) {
        char *out = NULL;

        cr_expect_eq(unit_name_escape("", 0, &out), -EINVAL);
        cr_expect_eq(unit_name_escape("///", UNIT_ESCAPE_PATH, &out), -EINVAL);
        cr_expect_null(out);
}

/* ---- quoting ----------------------------------------------------------------------------- */

static const struct {
        const char *name, *value, *out;
} env_table[] = {
        { "DOVESD_SERVICE", "imap", "DOVESD_SERVICE=imap" },
        { "DOVESD_USER", "", "DOVESD_USER=" },
        { "DOVESD_HAPROXY_TRUSTED_NETWORKS", "10.0.0.0/8 192.168.1.1",
          "'DOVESD_HAPROXY_TRUSTED_NETWORKS=10.0.0.0/8 192.168.1.1'" },
        { "X", "50%", "X=50%%" },
        { "X", "$HOME", "X=$HOME" },
        { "X", "a\"b c", "'X=a\"b c'" },
        { "X", "it's", "\"X=it's\"" },
        { "X", "a\\b", "\"X=a\\\\b\"" },
        { "X", "it's \"q\"", "\"X=it's \\\"q\\\"\"" },
        { "X", "a;b:c", "X=a;b:c" },
};

Test(units, env_quoting) {
        for (size_t i = 0; i < sizeof(env_table) / sizeof(env_table[0]); i++) {
                char *out = NULL;

                cr_assert_eq(unit_env_assignment(env_table[i].name, env_table[i].value, &out), 0);
                cr_expect_str_eq(out, env_table[i].out, "value %s", env_table[i].value);
                free(out);
        }
}

Test(units, env_control_character) {
        char *out = NULL;

        cr_assert_eq(unit_env_assignment("X", "a\nb\tc", &out), 0);
        cr_expect_str_eq(out, "\"X=a\\x0ab\\x09c\"");
        free(out);
}

static const struct {
        const char *in, *out;
} exec_table[] = {
        { "/usr/libexec/dovecot/imap", "/usr/libexec/dovecot/imap" },
        { "-D", "-D" },
        { "$HOME", "$$HOME" },
        { "100%", "100%%" },
        { ";", "';'" },
        { "a b", "'a b'" },
        { "g=$(id -g \"$2\")", "'g=$$(id -g \"$$2\")'" },
        { "it's", "\"it's\"" },
};

Test(units, exec_quoting) {
        char *out = NULL;

        for (size_t i = 0; i < sizeof(exec_table) / sizeof(exec_table[0]); i++) {
                cr_assert_eq(unit_exec_word(exec_table[i].in, &out), 0);
                cr_expect_str_eq(out, exec_table[i].out, "word %s", exec_table[i].in);
                free(out);
                out = NULL;
        }
        cr_expect_eq(unit_exec_word("", &out), -EINVAL);
        cr_assert_eq(unit_exec_word("a\tb\x01$", &out), 0);
        cr_expect_str_eq(out, "\"a\\x09b\\x01$$\"");
        free(out);
}

/* ---- backlog ----------------------------------------------------------------------------- */

Test(units, backlog_clamp) {
        static const struct {
                unsigned process_limit, client_limit, backlog;
        } t[] = {
                { 1, 1, 4 },
                { 0, 0, 4 },
                { 2, 2, 4 },
                { 1, 5, 5 },
                { 100, 1, 100 },
                { 100, 1000, 511 },
                { 511, 1, 511 },
                { 512, 1, 511 },
                { 4294967295U, 4294967295U, 511 },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
                cr_expect_eq(unit_backlog(t[i].process_limit, t[i].client_limit), t[i].backlog,
                             "%u × %u", t[i].process_limit, t[i].client_limit);
}

/* ---- whole units from a model ------------------------------------------------------------ */

static char *argv_imap[] = { (char *) "/usr/libexec/dovesd/imap", NULL };
static char *any_addresses[] = { (char *) "*", (char *) "::", NULL };

static listener inet(const char *name, unsigned port) {
        return (listener) {
                .kind = LISTENER_INET,
                .name = (char *) name,
                .address = (char *) "",
                .port = port,
                .addresses = any_addresses,
                .enabled = port != 0,
                .file = (char *) "/etc/dovesd/dovesd.conf",
                .line = 3,
        };
}

static listener unix_l(const char *name, const char *path, unsigned mode) {
        return (listener) {
                .kind = LISTENER_UNIX,
                .name = (char *) name,
                .path = (char *) path,
                .mode = mode,
                .eff_user = (char *) "",
                .eff_group = (char *) "",
                .enabled = mode != 0,
                .file = (char *) "/etc/dovesd/dovesd.conf",
                .line = 5,
        };
}

static service svc(const char *name, listener *l, size_t n) {
        return (service) {
                .name = (char *) name,
                .protocol = (char *) "",
                .type = (char *) "",
                .executable = (char *) "imap",
                .user = (char *) "",
                .group = (char *) "",
                .privileged_group = (char *) "",
                .extra_groups = (char *) "",
                .chroot = (char *) "",
                .process_limit = 0,
                .client_limit = 0,
                .vsz_limit = DOVESD_SIZE_DEFAULT,
                .enabled = true,
                .eff_client_limit = 1000,
                .eff_process_limit = 100,
                .eff_idle_kill = 60,
                .eff_vsz_limit = 268435456,
                .eff_argv = argv_imap,
                .eff_user = (char *) "",
                .eff_extra_groups = (char *) "",
                .eff_chroot = (char *) "",
                .listeners = l,
                .n_listeners = n,
                .file = (char *) "/etc/dovesd/dovesd.conf",
                .line = 1,
        };
}

static config conf(service *s, size_t n) {
        return (config) {
                .path = (char *) "/etc/dovesd/dovesd.conf",
                .base_dir = (char *) "/run/dovesd",
                .libexec_dir = (char *) "/usr/libexec/dovesd",
                .instance_name = (char *) "dovesd",
                .protocols = (char *) "",
                .listen = (char *) "*, ::",
                .ssl = (char *) "yes",
                .default_internal_user = (char *) "dovecot",
                .default_internal_group = (char *) "dovecot",
                .default_login_user = (char *) "dovenull",
                .default_client_limit = 1000,
                .default_process_limit = 100,
                .default_idle_kill = 60,
                .default_vsz_limit = 268435456,
                .haproxy_trusted_networks = (char *) "",
                .haproxy_timeout = 3,
                .services = s,
                .n_services = n,
        };
}

static const unit_entry *find(const unit_set *s, const char *path) {
        for (size_t i = 0; i < s->n_entries; i++)
                if (strcmp(s->entries[i].path, path) == 0)
                        return &s->entries[i];
        return NULL;
}

Test(units, collision_is_an_error_naming_both) {
        listener l1[] = { inet("c", 1143) }, l2[] = { inet("b-c", 2143) };
        service s[] = { svc("a", l2, 1), svc("a-b", l1, 1) };
        config c = conf(s, 2);
        conf_diags d = {};
        unit_set set = {};

        s[1].line = 7;
        l1[0].line = 8;
        cr_assert_eq(units_build(&c, &set, &d), -EINVAL);
        cr_assert_eq(d.n_errors, 1);
        cr_expect_str_eq(d.items[0].file, "/etc/dovesd/dovesd.conf");
        cr_expect_eq(d.items[0].line, 8);
        cr_expect_str_eq(d.items[0].text,
                         "service(a-b) inet_listener c: unit name dovesd-a-b-c.socket is also the "
                         "name for service(a) inet_listener b-c (/etc/dovesd/dovesd.conf:3); "
                         "rename one of them");
        cr_expect_eq(set.n_entries, 0);
        diags_clear(&d);
}

Test(units, collision_with_the_dirs_unit) {
        listener l[] = { inet("imap", 143) };
        service s[] = { svc("dirs", l, 1) };
        config c = conf(s, 1);
        conf_diags d = {};
        unit_set set = {};

        cr_assert_eq(units_build(&c, &set, &d), -EINVAL);
        cr_assert_eq(d.n_errors, 1);
        cr_expect_str_eq(d.items[0].text,
                         "service(dirs): unit name dovesd-dirs.service is also the name for the "
                         "runtime directories unit (/etc/dovesd/dovesd.conf:0); rename one of them");
        diags_clear(&d);
}

Test(units, pool_service) {
        listener l[] = { inet("imap", 143), inet("imaps", 993), unix_l("login/imap-x",
                                                                         "/run/dovesd/login/imap-x",
                                                                         0666) };
        service s[] = { svc("imap", l, 3) };
        config c = conf(s, 1);
        conf_diags d = {};
        unit_set set = {};
        const unit_entry *e;

        l[1].ssl = true;
        cr_assert_eq(units_build(&c, &set, &d), 0);
        cr_expect_eq(d.n_items, 0);

        e = find(&set, "dovesd-imap.service");
        cr_assert_not_null(e);
        cr_expect_not_null(strstr(e->content, "\nSockets=dovesd-imap-imap.socket "
                                  "dovesd-imap-imaps.socket dovesd-imap-imap-x.socket\n"));
        cr_expect_not_null(strstr(e->content, "\nEnvironment=DOVESD_LISTENERS=imap;imaps:ssl;imap-x\n"));
        cr_expect_not_null(strstr(e->content, "\nLimitAS=268435456\nLimitDATA=268435456\n"));
        cr_expect_not_null(strstr(e->content, "\nRestart=on-failure\n"));

        e = find(&set, "dovesd-imap-imap-x.socket");
        cr_assert_not_null(e);
        cr_expect_not_null(strstr(e->content, "\nListenStream=/run/dovesd/login/imap-x\n"
                                  "SocketMode=0666\nDirectoryMode=0755\nFileDescriptorName=imap-x\n"
                                  "Backlog=511\nAccept=no\nService=dovesd-imap.service\n"));

        e = find(&set, "dovesd-imap-imaps.socket");
        cr_assert_not_null(e);
        cr_expect_not_null(strstr(e->content, "\nListenStream=0.0.0.0:993\nListenStream=[::]:993\n"
                                  "BindIPv6Only=ipv6-only\nFileDescriptorName=imaps\n"));

        e = find(&set, "dovesd-imap.slice");
        cr_assert_not_null(e);
        /* process_limit 100, a control process, the supervisor, an old generation */
        cr_expect_not_null(strstr(e->content, "\n[Slice]\nTasksMax=202\n"));

        e = find(&set, "dovesd.target.wants/dovesd-imap-imaps.socket");
        cr_assert_not_null(e);
        cr_expect(e->symlink);
        cr_expect_str_eq(e->content, "../dovesd-imap-imaps.socket");
        /* Instance "dovesd" uses the static dovesd.target. */
        cr_expect_null(find(&set, "dovesd.target"));
        cr_expect_null(find(&set, "dovesd.target.wants/dovesd.target"));
        cr_expect_not_null(find(&set, "dovesd.target.wants/dovesd-dirs.service"));

        /* Sorted, and a second build is byte-identical. */
        for (size_t i = 1; i < set.n_entries; i++)
                cr_expect_lt(strcmp(set.entries[i - 1].path, set.entries[i].path), 0);
        unit_set again = {};
        cr_assert_eq(units_build(&c, &again, &d), 0);
        cr_assert_eq(again.n_entries, set.n_entries);
        for (size_t i = 0; i < set.n_entries; i++)
                cr_expect_str_eq(again.entries[i].content, set.entries[i].content);
        unit_set_done(&again);
        unit_set_done(&set);
        diags_clear(&d);
}

/* Dovecot's default login config (service_count = 1, process_min_avail = 0) is no longer a
 * per-connection template: one service whose main process is dovesd-supervisor, which
 * fork+execs a fresh worker per waiting client. */
Test(units, single_use_login_is_a_supervised_service) {
        listener l[] = { inet("imap", 143), inet("imaps", 993) };
        service s[] = { svc("imap-login", l, 2) };
        config c = conf(s, 1);
        conf_diags d = {};
        unit_set set = {};
        const unit_entry *e;

        s[0].service_count = 1;
        s[0].eff_client_limit = 1;
        s[0].eff_vsz_limit = 0;
        cr_assert_eq(units_build(&c, &set, &d), 0);
        cr_expect_null(find(&set, "dovesd-imap-login-imaps@.service"));
        cr_expect_null(find(&set, "dovesd-imap-login-imap@.service"));

        e = find(&set, "dovesd-imap-login.service");
        cr_assert_not_null(e);
        cr_expect_not_null(strstr(e->content, "\nExecStart=" DOVESD_SUPERVISOR_PATH " "),
                           "%s", e->content);
        cr_expect_not_null(strstr(e->content, "\nExecReload=+" DOVESD_SUPERVISOR_PATH
                                  " --reload $MAINPID\n"), "%s", e->content);
        cr_expect_not_null(strstr(e->content, "\nReloadPropagatedFrom=dovesd.target\n"));
        cr_expect_not_null(strstr(e->content, "\nSockets=dovesd-imap-login-imap.socket "
                                  "dovesd-imap-login-imaps.socket\n"));
        cr_expect_not_null(strstr(e->content, "\nEnvironment=DOVESD_SERVICE_COUNT=1\n"));

        e = find(&set, "dovesd-imap-login-imap.socket");
        cr_assert_not_null(e);
        cr_expect_not_null(strstr(e->content, "\nBacklog=100\nKeepAlive=yes\nAccept=no\n"
                                  "Service=dovesd-imap-login.service\n"), "%s", e->content);
        cr_expect_null(strstr(e->content, "MaxConnections="));

        /* process_limit 100: the supervisor, a control process, room for an old generation */
        e = find(&set, "dovesd-imap\\x2dlogin.slice");
        cr_assert_not_null(e);
        cr_expect_not_null(strstr(e->content, "\nTasksMax=202\n"), "%s", e->content);
        unit_set_done(&set);
        diags_clear(&d);
}

Test(units, host_name_is_an_error) {
        static char *addrs[] = { (char *) "mail.example.org", (char *) "127.0.0.1", NULL };
        listener l[] = { inet("imap", 143) };
        service s[] = { svc("imap", l, 1) };
        config c = conf(s, 1);
        conf_diags d = {};
        unit_set set = {};

        l[0].addresses = addrs;
        cr_assert_eq(units_build(&c, &set, &d), -EINVAL);
        cr_assert_eq(d.n_errors, 1);
        cr_expect_str_eq(d.items[0].text,
                         "service(imap): inet_listener imap: address mail.example.org is not an "
                         "IP address; a generator can't resolve host names");
        diags_clear(&d);
}

Test(units, unix_path_too_long) {
        char path[200];
        listener l[] = { unix_l("x", path, 0600) };
        service s[] = { svc("imap", l, 1) };
        config c = conf(s, 1);
        conf_diags d = {};
        unit_set set = {};

        memset(path, 'a', sizeof(path));
        path[0] = '/';
        path[108] = '\0';
        cr_assert_eq(units_build(&c, &set, &d), -EINVAL);
        cr_assert_eq(d.n_errors, 1);
        cr_expect_not_null(strstr(d.items[0].text, "is too long for a socket (108 > 107 bytes)"));
        diags_clear(&d);
}

Test(units, other_instance_slices) {
        listener l[] = { inet("imap", 143) };
        service s[] = { svc("imap-login", l, 1) };
        config c = conf(s, 1);
        conf_diags d = {};
        unit_set set = {};

        c.instance_name = (char *) "mail-a";
        cr_assert_eq(units_build(&c, &set, &d), 0);
        cr_expect_not_null(find(&set, "dovesd-mail\\x2da.slice"));
        cr_expect_not_null(find(&set, "dovesd-mail\\x2da-imap\\x2dlogin.slice"));
        cr_expect_not_null(find(&set, "mail-a-imap-login.service"));
        cr_expect_not_null(find(&set, "mail-a.target"));
        cr_expect_not_null(find(&set, "dovesd.target.wants/mail-a.target"));
        unit_set_done(&set);
        diags_clear(&d);
}

Test(units, shared_basename_uses_the_path) {
        listener l[] = { unix_l("dns-client", "/run/dovesd/dns-client", 0666),
                         unix_l("login/dns-client", "/run/dovesd/login/dns-client", 0666) };
        service s[] = { svc("dns-client", l, 2) };
        config c = conf(s, 1);
        conf_diags d = {};
        unit_set set = {};

        cr_assert_eq(units_build(&c, &set, &d), 0);
        cr_expect_not_null(find(&set, "dovesd-dns-client-dns-client.socket"));
        cr_expect_not_null(find(&set, "dovesd-dns-client-login-dns-client.socket"));
        unit_set_done(&set);
        diags_clear(&d);
}

Test(units, dovecot_default_layout_does_not_collide) {
        listener l1[] = { inet("imap", 143) };
        listener l2[] = { unix_l("imap-master", "/run/dovesd/imap-master", 0600),
                          unix_l("login/imap", "/run/dovesd/login/imap", 0666) };
        service s[] = { svc("imap", l2, 2), svc("imap-login", l1, 1) };
        config c = conf(s, 2);
        conf_diags d = {};
        unit_set set = {};

        cr_assert_eq(units_build(&c, &set, &d), 0);
        cr_expect_not_null(find(&set, "dovesd-imap-imap.socket"));
        cr_expect_not_null(find(&set, "dovesd-imap-imap-master.socket"));
        cr_expect_not_null(find(&set, "dovesd-imap-login-imap.socket"));
        unit_set_done(&set);
        diags_clear(&d);
}

/* The dirs unit runs as root with CAP_CHOWN/CAP_FOWNER: whatever a model holds, it creates
 * nothing outside base_dir (the model refuses ".." first; this is the writer's own guard). */
Test(units, dirs_unit_stays_below_base_dir) {
        static const struct {
                const char *listener_path, *chroot, *error;
        } t[] = {
                { "/run/dovesd/../../var/mail/sock", "",
                  "refusing to create directory /run/dovesd/..: not a normalized path below "
                  "base_dir /run/dovesd" },
                { "/run/dovesd/a/./b/sock", "",
                  "refusing to create directory /run/dovesd/a/.: not a normalized path below "
                  "base_dir /run/dovesd" },
                { "/run/dovesd/x", "/run/dovesd/..",
                  "refusing to create directory /run/dovesd/..: not a normalized path below "
                  "base_dir /run/dovesd" },
                { "/run/dovesd/x", "/run/dovesd/login/../..",
                  "refusing to create directory /run/dovesd/login/../..: not a normalized path "
                  "below base_dir /run/dovesd" },
                /* outside base_dir: used where it is, never created */
                { "/var/mail/sock", "/var/empty", NULL },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                listener l[] = { unix_l("x", t[i].listener_path, 0600) };
                service s[] = { svc("imap", l, 1) };
                config c = conf(s, 1);
                conf_diags d = {};
                unit_set set = {};
                const unit_entry *e;

                s[0].eff_chroot = (char *) t[i].chroot;
                if (t[i].error) {
                        cr_assert_eq(units_build(&c, &set, &d), -EINVAL, "case %zu", i);
                        cr_assert_eq(d.n_errors, 1, "case %zu", i);
                        cr_expect_str_eq(d.items[0].text, t[i].error, "case %zu", i);
                        cr_expect_eq(set.n_entries, 0);
                        diags_clear(&d);
                        continue;
                }
                cr_assert_eq(units_build(&c, &set, &d), 0, "case %zu", i);
                e = find(&set, "dovesd-dirs.service");
                cr_assert_not_null(e);
                cr_expect_not_null(strstr(e->content, " /run/dovesd\n"));
                cr_expect_null(strstr(e->content, "/var/"), "case %zu: %s", i, e->content);
                unit_set_done(&set);
                diags_clear(&d);
        }
}

/* ---- the sandbox table against dovesd.units(7) ----------------------------------------- */

/* Drops scdoc's markup (*bold*, _underline_, '\' escapes) and folds blanks. */
static void normalize(const char *in, char *out, size_t size) {
        size_t n = 0;

        for (; *in && n + 1 < size; in++) {
                if (strchr("*_\\", *in))
                        continue;
                if (isspace((unsigned char) *in)) {
                        if (n > 0 && out[n - 1] != ' ')
                                out[n++] = ' ';
                        continue;
                }
                out[n++] = *in;
        }
        while (n > 0 && out[n - 1] == ' ')
                n--;
        out[n] = '\0';
}

typedef struct man_row {
        char lines[2048];       /* the "line" cell, markup kept */
        char reason[2048];      /* the "reason" cell, normalized */
} man_row;

/* The rows of the table under "# SANDBOX": "|  " starts a row, ":  " each further cell,
 * indented lines continue the cell. */
static size_t man_sandbox_rows(man_row *rows, size_t max) {
        FILE *f = fopen(MAN_UNITS_7, "re");
        char line[1024], cell[3][2048] = {};
        size_t n = 0;
        int c = -1;
        bool in = false;

        cr_assert_not_null(f, "%s", MAN_UNITS_7);
        while (fgets(line, sizeof(line), f)) {
                bool end;

                if (!in) {
                        in = strncmp(line, "[[ *line*", 9) == 0 && n == 0;
                        continue;
                }
                end = line[0] == '\n' || line[0] == '#';
                if ((end || strncmp(line, "|  ", 3) == 0) && c >= 2) {
                        cr_assert_lt(n, max);
                        snprintf(rows[n].lines, sizeof(rows[n].lines), "%s", cell[0]);
                        normalize(cell[2], rows[n].reason, sizeof(rows[n].reason));
                        n++;
                        memset(cell, 0, sizeof(cell));
                        c = -1;
                }
                if (end)
                        break;
                if (strncmp(line, "|  ", 3) == 0 || strncmp(line, ":  ", 3) == 0) {
                        c++;
                        if (c > 2)
                                continue;
                        strncat(cell[c], line + 3, sizeof(cell[c]) - strlen(cell[c]) - 1);
                } else if (c >= 0 && c <= 2)
                        strncat(cell[c], line, sizeof(cell[c]) - strlen(cell[c]) - 1);
        }
        fclose(f);
        return n;
}

/* Every directive the writer puts into the sandbox is a row of the man page's table with
 * the same reason, and every directive the table names is written. */
Test(units, sandbox_table_is_the_man_pages) {
        static man_row rows[64];
        size_t n = man_sandbox_rows(rows, 64);

        cr_assert_geq(n, 10, "table not found in %s", MAN_UNITS_7);
        for (size_t i = 0; i < sandbox_table_size; i++) {
                const sandbox_directive *d = &sandbox_table[i];
                char key[64], reason[2048];
                bool found = false;

                snprintf(key, sizeof(key), "*%s=*", d->key);
                normalize(d->reason, reason, sizeof(reason));
                for (size_t j = 0; j < n && !found; j++)
                        if (strstr(rows[j].lines, key)) {
                                found = true;
                                cr_expect_str_eq(reason, rows[j].reason, "%s", d->key);
                        }
                cr_expect(found, "%s= is not in the man page's SANDBOX table", d->key);
        }
        for (size_t j = 0; j < n; j++)
                for (const char *p = strchr(rows[j].lines, '*'); p; p = strchr(p + 1, '*')) {
                        const char *eq = strstr(p + 1, "=*");
                        bool found = false;

                        if (!eq || strchr(p + 1, '*') < eq)
                                continue;
                        for (size_t i = 0; i < sandbox_table_size && !found; i++)
                                found = strlen(sandbox_table[i].key) == (size_t) (eq - p - 1) &&
                                        strncmp(sandbox_table[i].key, p + 1, eq - p - 1) == 0;
                        cr_expect(found, "the man page's %.*s= is not in the sandbox table",
                                  (int) (eq - p - 1), p + 1);
                        p = eq + 1;
                }
}
