/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One mapper per unit kind: each reads the plan (resolve.h) and the names (layout.h) and
 * fills unit files through the typed adders (unit-file.h). None decides semantics or
 * formats unit text.
 */

#include <stddef.h>

#include "builder.h"
#include "layout.h"
#include "plan/resolve.h"

typedef struct mapper {
        builder *b;
        const plan *p;
        const layout *names;
} mapper;

/* PREFIX-SERVICE-LISTENER.socket for listener L of service I, and its .wants/ link. */
int map_socket(const mapper *m, size_t i, size_t l);
/* Dovecot's anvil: the FIFO socket of its shared pipe. */
int map_anvil_fifo(const mapper *m, size_t i);
/* PREFIX-SERVICE.service, linked into the target when started at boot. */
int map_service(const mapper *m, size_t i);
/* The service's slice, and the instance's parent slice. */
int map_slice(const mapper *m, size_t i);
int map_parent_slice(const mapper *m);
/* PREFIX-dirs.service, PREFIX-apply.service, PREFIX.target. */
int map_dirs(const mapper *m);
int map_apply(const mapper *m);
int map_target(const mapper *m);
