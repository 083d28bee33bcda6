/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The naming scheme (PREFIX is instance_name, default "dovesd"; SERVICE and LISTENER are
 * escaped as systemd-escape does, except that '-' stays literal so that admins can type
 * "systemctl status dovesd-imap-login.service"; LISTENER is the name the program sees, the
 * same as FileDescriptorName=: an inet listener's section name, the basename of a unix/fifo
 * path; only when two listeners of one service share that name, each of them is named by
 * its path as written, escaped like a path ("login/dns-client" → "login-dns-client").
 * Paths everywhere would collide in Dovecot's own default layout (imap-login's inet
 * listener "imap" and imap's unix listener "login/imap" would both be
 * dovesd-imap-login-imap.socket), basenames everywhere too (dns-client has "dns-client" and
 * "login/dns-client", stats "stats-writer" and "login/stats-writer")):
 *
 *   PREFIX-SERVICE-LISTENER.socket        one per enabled listener
 *   PREFIX-SERVICE.service                one per service, Sockets= all of its sockets
 *   PREFIX.target                         wants every socket and the boot-started services;
 *                                         itself wanted by the static dovesd.target. For the
 *                                         default instance_name "dovesd" PREFIX.target is the
 *                                         static dovesd.target itself: units are linked into
 *                                         dovesd.target.wants/ directly
 *   PREFIX-dirs.service                   oneshot: base_dir, chroot dirs, listener parents
 *   PREFIX-apply.service                  applies added and removed services at a reload
 *
 * Slices are different: a '-' in a slice name is hierarchy ("dovesd-imap-login.slice" would
 * be a child of "dovesd-imap.slice" and count against its TasksMax=). So slice components
 * escape '-' as "\x2d" and every slice sits under the static dovesd.slice:
 *
 *   dovesd-ESC(SERVICE).slice                      instance_name = dovesd
 *   dovesd-ESC(INSTANCE).slice                     any other instance_name, holding
 *   dovesd-ESC(INSTANCE)-ESC(SERVICE).slice        one slice per service
 *
 * Every name is claimed in the registry (names.h); a second use is an error naming both.
 */

#include <stdbool.h>

#include "names.h"
#include "plan/resolve.h"

typedef struct service_names {
        char *unit;             /* PREFIX-SERVICE, without suffix */
        char *service;          /* PREFIX-SERVICE.service */
        char *slice;            /* …slice */
        char **sockets;         /* per plan listener: PREFIX-SERVICE-LISTENER.socket */
        char *anvil_fifo;       /* Dovecot's anvil: PREFIX-SERVICE-anvil-shared.socket */
} service_names;

typedef struct layout {
        char *prefix;           /* instance_name escaped, '-' kept */
        char *target;           /* PREFIX.target; the static dovesd.target for instance dovesd */
        bool own_target;        /* PREFIX.target is generated (instance_name is not dovesd) */
        char *apply_unit;       /* PREFIX-apply.service */
        char *dirs_unit;        /* PREFIX-dirs.service */
        char *slice_parent;     /* dovesd-ESC(instance).slice, NULL for instance "dovesd" */
        char *slice_prefix;     /* "dovesd-" or "dovesd-ESC(instance)-" */
        service_names *services;        /* parallel to plan.services */
        name_registry registry;
} layout;

struct builder;

/* Names the instance and every service of P, and claims each name; collisions and names
 * that escape to nothing are errors (reported through B). Returns 0 and fills *RET (also
 * after errors), -ENOMEM. */
int layout_build(struct builder *b, const plan *p, layout *ret);
void layout_done(layout *l, size_t n_services);

/* PREFIX-ESC(NAME): the unit name stem of any service of the config. */
int layout_unit_of(const layout *l, const char *service_name, char **ret);
