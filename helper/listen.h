/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The listening fds systemd passed (LISTEN_FDS, LISTEN_FDNAMES), each matched to its entry of
 * DOVESD_LISTENERS. Taken once by listen_fds_take(); the fds stay where systemd put them
 * (3…), made non-blocking. A listener's index refers to the settings the fds were taken with,
 * or to any settings with the same listeners (service_settings_same_listeners()).
 */

#include <errno.h>
#include <stddef.h>

#include "env.h"

typedef enum socket_kind {
        SOCKET_INET,
        SOCKET_UNIX,
        SOCKET_FIFO,
} socket_kind;

typedef struct listen_fd {
        int fd;
        socket_kind kind;
        size_t listener;                /* index in service_settings.listeners */
} listen_fd;

typedef struct listen_fds {
        listen_fd *fds;
        size_t n_fds;
        int anvil_shared_fd;            /* Dovecot's anvil: its shared FIFO, or -EBADF */
} listen_fds;

#define LISTEN_FDS_NULL ((listen_fds) { .anvil_shared_fd = -EBADF })

/* Fills *ret (which starts as LISTEN_FDS_NULL). Bad input: -EINVAL and a message in
 * *ret_error. */
int listen_fds_take(const service_settings *settings, listen_fds *ret, char **ret_error);
/* Closes the fds. */
void listen_fds_done(listen_fds *l);
