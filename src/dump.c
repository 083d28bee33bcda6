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

static void print_name(FILE *f, const char *kind, const char *name, const char *indent) {
        if (strchr(name, ' '))
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
                        fprintf(f, "    address = %s\n", l->address);
                        fprintf(f, "    haproxy = %s\n", value_format_bool(l->haproxy));
                        fprintf(f, "    port = %u\n", l->port);
                        fprintf(f, "    reuse_port = %s\n", value_format_bool(l->reuse_port));
                        fprintf(f, "    ssl = %s\n", value_format_bool(l->ssl));
                } else {
                        print_name(f, kind == LISTENER_UNIX ? "unix_listener" : "fifo_listener",
                                   l->name, "  ");
                        fprintf(f, "    group = %s\n", l->group);
                        fprintf(f, "    mode = %s\n", value_format_octal(l->mode, buf));
                        fprintf(f, "    user = %s\n", l->user);
                }
                fputs("  }\n", f);
        }
}

int config_dump(const config *c, FILE *f) {
        char buf[32];

        for (size_t i = 0; i < c->n_services; i++) {
                const service *s = &c->services[i];

                print_name(f, "service", s->name, "");
                fprintf(f, "  chroot = %s\n", s->chroot);
                fprintf(f, "  client_limit = %u\n", s->client_limit);
                fprintf(f, "  drop_priv_before_exec = %s\n",
                        value_format_bool(s->drop_priv_before_exec));
                fprintf(f, "  executable = %s\n", s->executable);
                fprintf(f, "  extra_groups = %s\n", s->extra_groups);
                dump_listeners(s, LISTENER_FIFO, f);
                fprintf(f, "  group = %s\n", s->group);
                fprintf(f, "  idle_kill = %s\n", value_format_time(s->idle_kill, buf));
                dump_listeners(s, LISTENER_INET, f);
                fprintf(f, "  privileged_group = %s\n", s->privileged_group);
                fprintf(f, "  process_limit = %u\n", s->process_limit);
                fprintf(f, "  process_min_avail = %u\n", s->process_min_avail);
                fprintf(f, "  protocol = %s\n", s->protocol);
                fprintf(f, "  service_count = %u\n", s->service_count);
                fprintf(f, "  type = %s\n", s->type);
                dump_listeners(s, LISTENER_UNIX, f);
                fprintf(f, "  user = %s\n", s->user);
                fprintf(f, "  vsz_limit = %s\n", value_format_size(s->vsz_limit, buf));
                fputs("}\n", f);
        }
        return ferror(f) ? -EIO : 0;
}
