/* SPDX-License-Identifier: MIT */

/* Services printed exactly as doveconf -a prints them: sorted keys, two-space indent,
 * doveconf's value formats. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dump.h"
#include "macro.h"
#include "values.h"

/* doveconf quotes a value holding '#' or starting or ending with a space or tab, escaping
 * backslashes and quotes inside; anything else is printed raw. */
static void print_kv(FILE *f, const char *indent, const char *key, const char *value) {
        size_t len = strlen(value);

        if (len > 0 && (strchr(value, '#') || value[0] == ' ' || value[0] == '\t' ||
                        value[len - 1] == ' ' || value[len - 1] == '\t')) {
                fprintf(f, "%s%s = \"", indent, key);
                for (const char *p = value; *p; p++) {
                        if (*p == '\\' || *p == '"' || *p == '\'')
                                fputc('\\', f);
                        fputc(*p, f);
                }
                fputs("\"\n", f);
        } else
                fprintf(f, "%s%s = %s\n", indent, key, value);
}

static void print_name(FILE *f, const char *kind, const char *name, const char *indent) {
        if (name[0] == '\0')
                fprintf(f, "%s%s {\n", indent, kind);
        else if (strchr(name, ' '))
                fprintf(f, "%s%s \"%s\" {\n", indent, kind, name);
        else
                fprintf(f, "%s%s %s {\n", indent, kind, name);
}

static void dump_listeners(const service *s, listener_kind kind, FILE *f) {
        char buf[32];

        for (size_t i = 0; i < s->n_listeners; i++) {
                const listener *l = &s->listeners[i];

                if (l->kind != kind)
                        continue;
                if (kind == LISTENER_INET) {
                        print_name(f, "inet_listener", l->name, "  ");
                        print_kv(f, "    ", "address", l->address);
                        fprintf(f, "    haproxy = %s\n", value_format_bool(l->haproxy));
                        fprintf(f, "    port = %u\n", l->port);
                        fprintf(f, "    reuse_port = %s\n", value_format_bool(l->reuse_port));
                        fprintf(f, "    ssl = %s\n", value_format_bool(l->ssl));
                } else {
                        print_name(f, kind == LISTENER_UNIX ? "unix_listener" : "fifo_listener",
                                   l->name, "  ");
                        print_kv(f, "    ", "group", l->group);
                        fprintf(f, "    mode = %s\n", value_format_octal(l->mode, buf));
                        print_kv(f, "    ", "user", l->user);
                }
                fputs("  }\n", f);
        }
}

int config_dump(const config *c, FILE *f) {
        char buf[32];

        for (size_t i = 0; i < c->n_services; i++) {
                const service *s = &c->services[i];

                print_name(f, "service", s->name, "");
                print_kv(f, "  ", "chroot", s->chroot);
                fprintf(f, "  client_limit = %u\n", s->client_limit);
                fprintf(f, "  drop_priv_before_exec = %s\n",
                        value_format_bool(s->drop_priv_before_exec));
                print_kv(f, "  ", "executable", s->executable);
                print_kv(f, "  ", "extra_groups", s->extra_groups);
                dump_listeners(s, LISTENER_FIFO, f);
                print_kv(f, "  ", "group", s->group);
                fprintf(f, "  idle_kill = %s\n", value_format_time(s->idle_kill, buf));
                dump_listeners(s, LISTENER_INET, f);
                print_kv(f, "  ", "privileged_group", s->privileged_group);
                fprintf(f, "  process_limit = %u\n", s->process_limit);
                fprintf(f, "  process_min_avail = %u\n", s->process_min_avail);
                print_kv(f, "  ", "protocol", s->protocol);
                fprintf(f, "  service_count = %u\n", s->service_count);
                print_kv(f, "  ", "type", s->type);
                dump_listeners(s, LISTENER_UNIX, f);
                print_kv(f, "  ", "user", s->user);
                fprintf(f, "  vsz_limit = %s\n", value_format_size(s->vsz_limit, buf));
                fputs("}\n", f);
        }
        return ferror(f) ? -EIO : 0;
}
