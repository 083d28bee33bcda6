/* SPDX-License-Identifier: MIT */

/*
 * Sockets. Every socket is Accept=no and Service= names the service. inet: "*" →
 * 0.0.0.0:P, "::" → [::]:P; any IPv6 address → BindIPv6Only=ipv6-only (Dovecot sets
 * IPV6_V6ONLY on every IPv6 listener); any specific address → FreeBind=yes; "localhost" →
 * 127.0.0.1 and [::1]. KeepAlive=yes, as Dovecot sets SO_KEEPALIVE on inet listeners.
 * unix/fifo: SocketMode= always (systemd's default 0666 is not Dovecot's 0600),
 * SocketUser=/SocketGroup= when set, DirectoryMode=0755.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "contract.h"
#include "mappers.h"

#define S "Socket"

/* ListenStream=HOST:PORT, an IPv6 HOST in brackets. */
static int add_listen(unit_file *u, const char *host, bool v6, unsigned port) {
        _cleanup_free_ char *v = NULL;

        if (asprintf(&v, v6 ? "[%s]:%u" : "%s:%u", host, port) < 0)
                return -ENOMEM;
        return unit_file_add_escaped(u, S, "ListenStream", v);
}

static int add_inet(unit_file *u, const plan_listener *pl) {
        unsigned port = pl->l->port;
        bool v6 = false, specific = false;
        int r = 0;

        for (size_t i = 0; i < pl->n_addresses && r >= 0; i++) {
                const inet_address *a = &pl->addresses[i];

                switch (a->kind) {
                case INET_ADDRESS_ANY4:
                        r = add_listen(u, "0.0.0.0", false, port);
                        break;
                case INET_ADDRESS_ANY6:
                        r = add_listen(u, "::", true, port);
                        v6 = true;
                        break;
                case INET_ADDRESS_LOCALHOST:
                        r = add_listen(u, "127.0.0.1", false, port);
                        if (r >= 0)
                                r = add_listen(u, "::1", true, port);
                        v6 = specific = true;
                        break;
                case INET_ADDRESS_IPV4:
                        r = add_listen(u, a->host, false, port);
                        specific = true;
                        break;
                case INET_ADDRESS_IPV6:
                        r = add_listen(u, a->host, true, port);
                        v6 = specific = true;
                        break;
                }
        }
        if (r >= 0 && v6)
                r = unit_file_add(u, S, "BindIPv6Only", "ipv6-only");
        if (r >= 0 && specific)
                r = unit_file_add(u, S, "FreeBind", "yes");
        return r;
}

static int add_path(unit_file *u, const plan_listener *pl) {
        const listener *l = pl->l;
        char mode[8];
        int r;

        snprintf(mode, sizeof(mode), "%04o", l->mode & 07777);
        r = unit_file_add_escaped(u, S, l->kind == LISTENER_UNIX ? "ListenStream" : "ListenFIFO",
                                  l->path);
        if (r >= 0)
                r = unit_file_add(u, S, "SocketMode", mode);
        if (r >= 0 && !isempty(pl->socket_user))
                r = unit_file_add_escaped(u, S, "SocketUser", pl->socket_user);
        if (r >= 0 && !isempty(pl->socket_group))
                r = unit_file_add_escaped(u, S, "SocketGroup", pl->socket_group);
        if (r >= 0)
                r = unit_file_add(u, S, "DirectoryMode", "0755");
        return r;
}

int map_socket(const mapper *m, size_t i, size_t li) {
        const plan_service *ps = &m->p->services[i];
        const plan_listener *pl = &ps->listeners[li];
        const service_names *n = &m->names->services[i];
        const listener *l = pl->l;
        _cleanup_unit_file_ unit_file *u = NULL;
        _cleanup_free_ char *desc = NULL;
        int r;

        if (asprintf(&desc, "%s service %s, %s %s", m->names->prefix, ps->s->name,
                     listener_kind_to_string(l->kind), l->name) < 0)
                return -ENOMEM;
        u = builder_unit_new(pl->source, desc);
        if (!u)
                return -ENOMEM;
        r = unit_file_add_escaped(u, "Unit", "PartOf", m->names->target);
        if (r >= 0 && l->kind != LISTENER_INET) {
                r = unit_file_add_escaped(u, "Unit", "Wants", m->names->dirs_unit);
                if (r >= 0)
                        r = unit_file_add_escaped(u, "Unit", "After", m->names->dirs_unit);
        }
        if (r >= 0)
                r = l->kind == LISTENER_INET ? add_inet(u, pl) : add_path(u, pl);
        if (r >= 0)
                r = unit_file_add_escaped(u, S, "FileDescriptorName", pl->fdname);
        if (r >= 0 && l->kind != LISTENER_FIFO)
                r = unit_file_add_uint(u, S, "Backlog", ps->backlog);
        if (r >= 0 && l->kind == LISTENER_INET)
                r = unit_file_add(u, S, "KeepAlive", "yes");
        if (r >= 0 && l->kind == LISTENER_INET && l->reuse_port)
                r = unit_file_add(u, S, "ReusePort", "yes");
        if (r >= 0)
                r = unit_file_add(u, S, "Accept", "no");
        if (r >= 0)
                r = unit_file_add_escaped(u, S, "Service", n->service);
        /* A socket only triggers while its service is down: its trigger limit (20 per 2 s)
         * is never reached before the service's start limit, except when the service exits
         * by design after service_count clients. */
        if (r >= 0 && ps->restarts_by_design)
                r = unit_file_add(u, S, "TriggerLimitIntervalSec", "0");
        if (r < 0)
                return r;

        r = builder_add(m->b, n->sockets[li], TAKE_PTR(u));
        if (r < 0)
                return r;
        return builder_add_wants(m->b, m->names->target, n->sockets[li]);
}

/* Anvil's shared pipe (fd 3 of every worker, fd 8 of anvil), a FIFO socket of the anvil
 * service; held open by systemd, so writers never see EPIPE while anvil restarts. Written
 * by the supervisors (root) before they fork a worker; read by anvil. */
int map_anvil_fifo(const mapper *m, size_t i) {
        const plan_service *ps = &m->p->services[i];
        const service_names *n = &m->names->services[i];
        _cleanup_unit_file_ unit_file *u = NULL;
        _cleanup_free_ char *desc = NULL;
        int r;

        if (asprintf(&desc, "%s service %s", m->names->prefix, ps->s->name) < 0)
                return -ENOMEM;
        u = builder_unit_new(ps->source, desc);
        if (!u)
                return -ENOMEM;
        r = unit_file_add_escaped(u, "Unit", "PartOf", m->names->target);
        if (r >= 0)
                r = unit_file_add_escaped(u, "Unit", "Wants", m->names->dirs_unit);
        if (r >= 0)
                r = unit_file_add_escaped(u, "Unit", "After", m->names->dirs_unit);
        if (r >= 0)
                r = unit_file_add_escaped(u, S, "ListenFIFO", m->p->anvil_fifo);
        if (r >= 0)
                r = unit_file_add(u, S, "SocketMode", "0600");
        if (r >= 0)
                r = unit_file_add(u, S, "DirectoryMode", "0755");
        if (r >= 0)
                r = unit_file_add(u, S, "FileDescriptorName", DOVESD_ANVIL_SHARED_FDNAME);
        if (r >= 0)
                r = unit_file_add(u, S, "Accept", "no");
        if (r >= 0)
                r = unit_file_add_escaped(u, S, "Service", n->service);
        if (r < 0)
                return r;

        r = builder_add(m->b, n->anvil_fifo, TAKE_PTR(u));
        if (r < 0)
                return r;
        return builder_add_wants(m->b, m->names->target, n->anvil_fifo);
}
