/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The generator's log: stderr when run by hand, kmsg (or journald in a container) when
 * systemd runs it. Levels are syslog's; DOVESD_LOG_LEVEL picks the maximum shown.
 */

#include <stdbool.h>
#include <stdio.h>
#include <syslog.h>

/* Reads DOVESD_LOG_LEVEL (err, warning, notice, info, debug or 3…7; default info) and opens
 * the targets. BY_SYSTEMD: invoked as a generator. Returns 0, or -EINVAL for a bad
 * DOVESD_LOG_LEVEL (logged, the default stays). */
int log_setup(bool by_systemd);
void log_close(void);

/* While F is not NULL, every message at LOG_WARNING or more severe is also written to F, one
 * line each, as "FILE:LINE: TEXT" (for the config-errors file, see main.c). */
void log_capture(FILE *f);

/* Logs one message at LEVEL. FILE/LINE (FILE may be NULL) are prefixed as "FILE:LINE: "
 * ("FILE: " when LINE is 0, a message about the whole file)
 * and, in the journal, also sent as CONFIG_FILE= and CONFIG_LINE=. Returns -ERR when ERR > 0
 * (so that callers can "return log_...(...)"), 0 otherwise. */
int log_full(int level, int err, const char *file, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

#define log_error_errno(err, ...) log_full(LOG_ERR, (err) < 0 ? -(err) : (err), NULL, 0, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, 0, NULL, 0, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, 0, NULL, 0, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, 0, NULL, 0, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, 0, NULL, 0, __VA_ARGS__)
#define log_debug(...)   log_full(LOG_DEBUG, 0, NULL, 0, __VA_ARGS__)
