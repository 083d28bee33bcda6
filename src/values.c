/* SPDX-License-Identifier: MIT */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "values.h"

_printf_(2, 3)
static int fail(char **ret_error, const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        *ret_error = s;
        return -EINVAL;
}

/* Parse leading decimal digits into *ret; returns the end pointer or NULL when there is no
 * digit or the number does not fit in 64 bits. */
static const char *parse_u64(const char *s, uint64_t *ret, bool *ret_overflow) {
        uint64_t v = 0;
        bool overflow = false;

        if (!isdigit((unsigned char) *s))
                return NULL;
        for (; isdigit((unsigned char) *s); s++) {
                unsigned d = *s - '0';
                if (v > (UINT64_MAX - d) / 10)
                        overflow = true;
                else
                        v = v * 10 + d;
        }
        *ret = v;
        *ret_overflow = overflow;
        return s;
}

int value_parse_bool(const char *s, bool *ret, char **ret_error) {
        if (strcaseeq(s, "yes") || strcaseeq(s, "y") || streq(s, "1")) {
                *ret = true;
                return 0;
        }
        if (strcaseeq(s, "no")) {
                *ret = false;
                return 0;
        }
        return fail(ret_error, "Invalid boolean value: %s (use yes or no)", s);
}

/* Dovecot's str_to_uint(): digits only; a leading '-' followed by digits is "too small". */
int value_parse_uint(const char *s, unsigned *ret, char **ret_error) {
        uint64_t v;
        bool overflow;
        const char *e;

        if (s[0] == '-' && isdigit((unsigned char) s[1])) {
                e = parse_u64(s + 1, &v, &overflow);
                if (*e == '\0')
                        return fail(ret_error, "Invalid number %s: Number too small", s);
        }
        e = parse_u64(s, &v, &overflow);
        if (!e || *e != '\0')
                return fail(ret_error, "Invalid number %s: Not a valid number", s);
        if (overflow || v > UINT_MAX)
                return fail(ret_error, "Invalid number %s: Number too large", s);
        *ret = (unsigned) v;
        return 0;
}

/* UINT_OCT: octal only with a leading 0, otherwise decimal. */
int value_parse_octal(const char *s, unsigned *ret, char **ret_error) {
        uint64_t v = 0;

        if (s[0] != '0')
                return value_parse_uint(s, ret, ret_error);

        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '7' || v > (UINT64_MAX >> 3))
                        return fail(ret_error, "Invalid number: %s", s);
                v = (v << 3) | (uint64_t) (*p - '0');
        }
        /* doveconf keeps the low 32 bits of a 64-bit octal value */
        *ret = (unsigned) v;
        return 0;
}

int value_parse_size(const char *s, uint64_t *ret, char **ret_error) {
        uint64_t v, mult = 1;
        bool overflow;
        const char *p;

        p = parse_u64(s, &v, &overflow);
        if (!p || overflow)
                return fail(ret_error, "Invalid size: %s", s);
        while (*p == ' ')
                p++;
        switch (toupper((unsigned char) *p)) {
        case '\0':
                break;
        case 'B':
                p++;
                break;
        case 'K':
                mult = UINT64_C(1) << 10;
                break;
        case 'M':
                mult = UINT64_C(1) << 20;
                break;
        case 'G':
                mult = UINT64_C(1) << 30;
                break;
        case 'T':
                mult = UINT64_C(1) << 40;
                break;
        default:
                return fail(ret_error, "Invalid size: %s", s);
        }
        if (mult > 1) {
                p++;
                if (*p == 'i' || *p == 'I')
                        p++;
                if (*p == 'b' || *p == 'B')
                        p++;
        }
        if (*p != '\0')
                return fail(ret_error, "Invalid size: %s", s);
        if (v > UINT64_MAX / mult)
                return fail(ret_error, "Size is too large: %s", s);
        *ret = v * mult;
        return 0;
}

static bool unit_prefix(const char *p, const char *word) {
        return strncasecmp(p, word, strlen(p)) == 0;
}

int value_parse_time(const char *s, unsigned *ret, char **ret_error) {
        uint64_t v, mult_ms;
        bool overflow;
        const char *p;

        p = parse_u64(s, &v, &overflow);
        if (!p || overflow)
                return fail(ret_error, "Invalid time interval: %s", s);
        while (*p == ' ')
                p++;
        if (*p == '\0') {
                if (v != 0)
                        return fail(ret_error,
                                    "Time interval '%s' is missing units (add e.g. 's' for seconds)",
                                    s);
                *ret = 0;
                return 0;
        }
        switch (toupper((unsigned char) *p)) {
        case 'S':
                mult_ms = 1000;
                if (unit_prefix(p, "secs") || unit_prefix(p, "seconds"))
                        p = "";
                break;
        case 'M':
                mult_ms = 60 * 1000;
                if (unit_prefix(p, "mins") || unit_prefix(p, "minutes"))
                        p = "";
                else if (unit_prefix(p, "msecs") || unit_prefix(p, "mseconds") ||
                         unit_prefix(p, "millisecs") || unit_prefix(p, "milliseconds")) {
                        mult_ms = 1;
                        p = "";
                }
                break;
        case 'H':
                mult_ms = 3600 * 1000;
                if (unit_prefix(p, "hours"))
                        p = "";
                break;
        case 'D':
                mult_ms = 86400 * 1000;
                if (unit_prefix(p, "days"))
                        p = "";
                break;
        case 'W':
                mult_ms = UINT64_C(604800) * 1000;
                if (unit_prefix(p, "weeks"))
                        p = "";
                break;
        default:
                return fail(ret_error, "Invalid time interval: %s", s);
        }
        if (*p != '\0')
                return fail(ret_error, "Invalid time interval: %s", s);
        if (v > UINT64_MAX / mult_ms)
                return fail(ret_error, "Time interval is too large: %s", s);
        v *= mult_ms;
        if (v % 1000 != 0)
                return fail(ret_error, "Milliseconds not supported for this setting: %s", s);
        v /= 1000;
        if (v > UINT_MAX)
                return fail(ret_error, "Time interval is too large: %s", s);
        *ret = (unsigned) v;
        return 0;
}

int value_parse_port(const char *s, unsigned *ret, char **ret_error) {
        uint64_t v;
        bool overflow;
        const char *e;

        e = parse_u64(s, &v, &overflow);
        if (!e || *e != '\0' || overflow || v > 65535)
                return fail(ret_error, "Invalid port number %s", s);
        *ret = (unsigned) v;
        return 0;
}

int value_parse_ssl(const char *s, char **ret, char **ret_error) {
        char *c;

        if (!streq(s, "yes") && !streq(s, "no") && !streq(s, "required"))
                return fail(ret_error, "Invalid value: %s", s);
        c = strdup(s);
        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}

const char *value_format_size(uint64_t v, char buf[static 32]) {
        static const char units[] = "BkMGT";
        unsigned u = 0;

        if (v == 0)
                return strcpy(buf, "0");
        while (u < 4 && v % 1024 == 0) {
                v /= 1024;
                u++;
        }
        snprintf(buf, 32, "%" PRIu64 " %c", v, units[u]);
        return buf;
}

const char *value_format_time(unsigned v, char buf[static 32]) {
        if (v == 0)
                return strcpy(buf, "0");
        if (v % 604800 == 0)
                snprintf(buf, 32, "%u weeks", v / 604800);
        else if (v % 86400 == 0)
                snprintf(buf, 32, "%u days", v / 86400);
        else if (v % 3600 == 0)
                snprintf(buf, 32, "%u hours", v / 3600);
        else if (v % 60 == 0)
                snprintf(buf, 32, "%u mins", v / 60);
        else
                snprintf(buf, 32, "%u secs", v);
        return buf;
}

const char *value_format_octal(unsigned v, char buf[static 32]) {
        snprintf(buf, 32, "0%o", v);
        return buf;
}

const char *value_format_bool(bool v) {
        return v ? "yes" : "no";
}
