/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A process's client connections (dovesd_conn) and their counts. conn.c writes the set and
 * nothing else; whoever accepts (loop.c) creates connections in it and hands it hooks at
 * conn_set_init(): the set calls back through them only, never into its caller by name.
 *
 * A connection starts in CONN_PROXY (accepted, PROXY header not read yet on haproxy=yes
 * listeners; invisible to the program) and becomes CONN_ACTIVE when the program's
 * connection callback gets it. Both states hold a client slot.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dovesd.h"
#include "env.h"

typedef struct conn_hooks {
        /* A client came, went, or was handed to the program: decide on accepting again. */
        void (*changed)(void *userdata);
        /* Only a count that others read changed (a client logged in). */
        void (*publish)(void *userdata);
        void *userdata;
} conn_hooks;

typedef struct conn_set {
        dovesd_service *service;        /* the program's callbacks, settings and event loop */
        conn_hooks hooks;
        dovesd_conn *head, *tail;       /* oldest first */
        unsigned n_active;              /* CONN_ACTIVE connections */
        unsigned n_not_logged_in;       /* CONN_ACTIVE ones not logged in (login overflow) */
        unsigned n_pending;             /* CONN_PROXY connections */
        unsigned n_overflow_pending;    /* CONN_PROXY ones with overflow set */
        uint64_t n_served;              /* connections handed to the program */
} conn_set;

void conn_set_init(conn_set *set, dovesd_service *s, const conn_hooks *hooks);

/* Connections held, both states. */
static inline unsigned conn_set_clients(const conn_set *set) {
        return set->n_active + set->n_pending;
}

/* Closes every connection; call_disconnect: the program's disconnect callback for active
 * ones. */
void conn_set_close_all(conn_set *set, bool call_disconnect);
/* Closes the connections whose PROXY header is still outstanding (they never reached the
 * program). */
void conn_set_close_pending(conn_set *set);
/* type=login overflow: the oldest active connection that has not logged in, or NULL. */
dovesd_conn *conn_set_oldest_unlogged(const conn_set *set);
/* ... dropped (overflow callback, disconnect callback, close). Returns 1 if one was dropped,
 * 0 if none. */
int conn_set_drop_oldest_unlogged(conn_set *set);

/* A new connection in CONN_PROXY on the accepted fd (owned by it on success). */
int conn_new(conn_set *set, const service_listener *l, int fd, const struct sockaddr *remote,
             socklen_t remote_len, dovesd_conn **ret);
void conn_free(dovesd_conn *c, bool call_disconnect);
int conn_activate(dovesd_conn *c);              /* hand to the program */
int conn_proxy_start(dovesd_conn *c);           /* haproxy=yes: trust check, read the header */
/* A connection on a full login process: the oldest client not logged in makes room, but only
 * for one that will be served. Without PROXY at once; with PROXY only for a trusted peer, and
 * only once its header is in. */
void conn_overflow(dovesd_conn *c);
