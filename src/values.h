/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Typed setting values as Dovecot 2.3's settings parser reads and doveconf prints them.
 * Each parser returns 0 and writes *ret, or -EINVAL with a malloc'd message in *ret_error
 * (Dovecot's text, e.g. "Invalid size: 1.5M"), or -ENOMEM.
 */

#include <stdbool.h>
#include <stdint.h>

int value_parse_bool(const char *s, bool *ret, char **ret_error);
int value_parse_uint(const char *s, unsigned *ret, char **ret_error);
int value_parse_octal(const char *s, unsigned *ret, char **ret_error);
int value_parse_size(const char *s, uint64_t *ret, char **ret_error);
int value_parse_time(const char *s, unsigned *ret, char **ret_error);
int value_parse_port(const char *s, unsigned *ret, char **ret_error);
int value_parse_ssl(const char *s, char **ret, char **ret_error);

/* doveconf's output forms: "256 M", "1 mins", "0600", "yes". Write into buf (>= 32 bytes). */
const char *value_format_size(uint64_t v, char buf[static 32]);
const char *value_format_time(unsigned v, char buf[static 32]);
const char *value_format_octal(unsigned v, char buf[static 32]);
const char *value_format_bool(bool v);
