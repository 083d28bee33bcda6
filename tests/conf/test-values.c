/* SPDX-License-Identifier: MIT */

#include <criterion/criterion.h>
#include <errno.h>

#include "macro.h"
#include "values.h"

typedef struct {
        const char *in;
        uint64_t value;
        const char *error;
} case_t;

#define OK(in, v)   { in, v, NULL }
#define BAD(in, e)  { in, 0, e }

static void check(const case_t *t, int r, uint64_t got, char *error) {
        if (t->error) {
                cr_assert_eq(r, -EINVAL, "%s: expected an error", t->in);
                cr_assert_str_eq(error, t->error, "%s", t->in);
                free(error);
        } else {
                cr_assert_eq(r, 0, "%s: %s", t->in, r < 0 ? error : "");
                cr_assert_eq(got, t->value, "%s: got %llu", t->in, (unsigned long long) got);
        }
}

Test(values, size) {
        static const case_t cases[] = {
                OK("0", 0), OK("1", 1), OK("256M", 256ULL << 20), OK("256 M", 256ULL << 20),
                OK("1 GiB", 1ULL << 30), OK("1k", 1024), OK("1ki", 1024), OK("1kiB", 1024),
                OK("1KB", 1024), OK("1Kb", 1024), OK("2T", 2ULL << 40), OK("5B", 5), OK("5 b", 5),
                OK("18446744073709551615 B", UINT64_MAX), OK("18446744073709551615", UINT64_MAX),
                BAD("", "Invalid size: "), BAD("unlimited", "Invalid size: unlimited"),
                BAD("2^64-1", "Invalid size: 2^64-1"), BAD("1.5M", "Invalid size: 1.5M"),
                BAD("-1", "Invalid size: -1"), BAD("1 KiBx", "Invalid size: 1 KiBx"),
                BAD("1 bi", "Invalid size: 1 bi"), BAD("1 X", "Invalid size: 1 X"),
                BAD("99999999999999999999999", "Invalid size: 99999999999999999999999"),
                BAD("17179869184 G", "Size is too large: 17179869184 G"),
                BAD("16777216 T", "Size is too large: 16777216 T"),
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v = 0;
                char *e = NULL;
                int r = value_parse_size(cases[i].in, &v, &e);
                check(&cases[i], r, v, e);
        }
}

Test(values, time) {
        static const case_t cases[] = {
                OK("0", 0), OK("0 s", 0), OK("1s", 1), OK("1 sec", 1), OK("1 seconds", 1),
                OK("1m", 60), OK("1 min", 60), OK("1mi", 60), OK("1 minutes", 60),
                OK("2h", 7200), OK("1 hours", 3600), OK("1d", 86400), OK("1 DAYS", 86400),
                OK("1w", 604800), OK("1 weeks", 604800), OK("2000 ms", 2), OK("1000msecs", 1),
                OK("3000 milliseconds", 3), OK("4294967295s", 4294967295U),
                OK("4294967295 secs", 4294967295U),
                BAD("10", "Time interval '10' is missing units (add e.g. 's' for seconds)"),
                BAD("infinite", "Invalid time interval: infinite"),
                BAD("", "Invalid time interval: "), BAD("1 x", "Invalid time interval: 1 x"),
                BAD("1 hr", "Invalid time interval: 1 hr"), BAD("1y", "Invalid time interval: 1y"),
                BAD("1mo", "Invalid time interval: 1mo"), BAD("0x", "Invalid time interval: 0x"),
                BAD("-1s", "Invalid time interval: -1s"),
                BAD("1500ms", "Milliseconds not supported for this setting: 1500ms"),
                BAD("1 MILLI", "Milliseconds not supported for this setting: 1 MILLI"),
                BAD("4294967296s", "Time interval is too large: 4294967296s"),
                BAD("4294967295 weeks", "Time interval is too large: 4294967295 weeks"),
                BAD("99999999999999999999999s", "Invalid time interval: 99999999999999999999999s"),
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                unsigned v = 0;
                char *e = NULL;
                int r = value_parse_time(cases[i].in, &v, &e);
                check(&cases[i], r, v, e);
        }
}

Test(values, uint) {
        static const case_t cases[] = {
                OK("0", 0), OK("42", 42), OK("4294967295", 4294967295U), OK("007", 7),
                BAD("4294967296", "Invalid number 4294967296: Number too large"),
                BAD("-1", "Invalid number -1: Number too small"),
                BAD("1k", "Invalid number 1k: Not a valid number"),
                BAD("", "Invalid number : Not a valid number"),
                BAD(" 5", "Invalid number  5: Not a valid number"),
                BAD("+5", "Invalid number +5: Not a valid number"),
                BAD("abc", "Invalid number abc: Not a valid number"),
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                unsigned v = 0;
                char *e = NULL;
                int r = value_parse_uint(cases[i].in, &v, &e);
                check(&cases[i], r, v, e);
        }
}

Test(values, octal) {
        static const case_t cases[] = {
                OK("0600", 0600), OK("0", 0), OK("00", 0), OK("0666", 0666), OK("666", 666),
                OK("0777", 0777),
                BAD("0999", "Invalid number: 0999"), BAD("0x1", "Invalid number: 0x1"),
                BAD("0o666", "Invalid number: 0o666"),
                OK("040000000000", 0), OK("01000000000600", 0600),
                OK("01777777777777777777777", 037777777777U),
                BAD("02000000000000000000000", "Invalid number: 02000000000000000000000"),
                BAD("abc", "Invalid number abc: Not a valid number"),
                BAD("", "Invalid number : Not a valid number"),
                BAD("99999999999", "Invalid number 99999999999: Number too large"),
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                unsigned v = 0;
                char *e = NULL;
                int r = value_parse_octal(cases[i].in, &v, &e);
                check(&cases[i], r, v, e);
        }
}

Test(values, bool) {
        static const case_t cases[] = {
                OK("yes", 1), OK("YES", 1), OK("y", 1), OK("Y", 1), OK("1", 1), OK("no", 0),
                OK("NO", 0),
                BAD("maybe", "Invalid boolean value: maybe (use yes or no)"),
                BAD("0", "Invalid boolean value: 0 (use yes or no)"),
                BAD("true", "Invalid boolean value: true (use yes or no)"),
                BAD("N", "Invalid boolean value: N (use yes or no)"),
                BAD("", "Invalid boolean value:  (use yes or no)"),
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                bool v = false;
                char *e = NULL;
                int r = value_parse_bool(cases[i].in, &v, &e);
                check(&cases[i], r, v, e);
        }
}

Test(values, port) {
        static const case_t cases[] = {
                OK("0", 0), OK("143", 143), OK("65535", 65535),
                BAD("70000", "Invalid port number 70000"), BAD("abc", "Invalid port number abc"),
                BAD("", "Invalid port number "), BAD("-1", "Invalid port number -1"),
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                unsigned v = 0;
                char *e = NULL;
                int r = value_parse_port(cases[i].in, &v, &e);
                check(&cases[i], r, v, e);
        }
}

Test(values, format) {
        char buf[32];

        cr_assert_str_eq(value_format_size(0, buf), "0");
        cr_assert_str_eq(value_format_size(256ULL << 20, buf), "256 M");
        cr_assert_str_eq(value_format_size(1024, buf), "1 k");
        cr_assert_str_eq(value_format_size(1536, buf), "1536 B");
        cr_assert_str_eq(value_format_size(3ULL << 40, buf), "3 T");
        cr_assert_str_eq(value_format_size(1ULL << 50, buf), "1024 T");
        cr_assert_str_eq(value_format_size(UINT64_MAX, buf), "18446744073709551615 B");
        cr_assert_str_eq(value_format_time(0, buf), "0");
        cr_assert_str_eq(value_format_time(60, buf), "1 mins");
        cr_assert_str_eq(value_format_time(90, buf), "90 secs");
        cr_assert_str_eq(value_format_time(7200, buf), "2 hours");
        cr_assert_str_eq(value_format_time(86400, buf), "1 days");
        cr_assert_str_eq(value_format_time(1209600, buf), "2 weeks");
        cr_assert_str_eq(value_format_time(4294967295U, buf), "4294967295 secs");
        cr_assert_str_eq(value_format_octal(0600, buf), "0600");
        cr_assert_str_eq(value_format_octal(0, buf), "00");
        cr_assert_str_eq(value_format_octal(666, buf), "01232");
}
