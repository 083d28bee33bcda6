/* SPDX-License-Identifier: MIT */

/* src/shared/macro.h: the greedy grower, ownership transfer and the string predicates. */

#include <criterion/criterion.h>
#include <fcntl.h>

#include "macro.h"

Test(macro, greedy_realloc_grows_and_keeps_the_elements) {
        _cleanup_free_ unsigned *v = NULL;
        size_t n = 0, growths = 0, have = 0;

        for (unsigned i = 0; i < 100000; i++) {
                cr_assert_not_null(GREEDY_REALLOC(v, n + 1));
                if (malloc_usable_size(v) != have) {
                        growths++;
                        have = malloc_usable_size(v);
                }
                v[n++] = i;
        }
        for (unsigned i = 0; i < 100000; i++)
                cr_assert_eq(v[i], i);
        /* At least doubling: 100,000 appends take about log2(100000 / 8) growths. */
        cr_assert_leq(growths, 20, "%zu growths for 100000 appends", growths);
        cr_assert_geq(malloc_usable_size(v) / sizeof(*v), n);
}

Test(macro, greedy_realloc_within_capacity_keeps_the_array) {
        _cleanup_free_ char *v = NULL;
        char *first;

        cr_assert_not_null(GREEDY_REALLOC(v, 1));
        first = v;
        cr_assert_eq(GREEDY_REALLOC(v, 2), first);
        cr_assert_eq(GREEDY_REALLOC(v, malloc_usable_size(v)), first);
}

Test(macro, greedy_realloc_refuses_an_overflow_and_leaves_the_array) {
        _cleanup_free_ uint64_t *v = NULL;
        uint64_t *before;

        cr_assert_not_null(GREEDY_REALLOC(v, 4));
        v[3] = 42;
        before = v;
        cr_assert_null(GREEDY_REALLOC(v, SIZE_MAX / 4));
        cr_assert_null(GREEDY_REALLOC(v, SIZE_MAX));
        cr_assert_eq(v, before);
        cr_assert_eq(v[3], 42);
}

Test(macro, take_ptr_and_take_fd_hand_on_ownership) {
        char *p = strdup("x"), *q;
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), g;

        cr_assert_geq(fd, 0);
        q = TAKE_PTR(p);
        cr_assert_null(p);
        cr_assert_str_eq(q, "x");
        free(q);
        g = TAKE_FD(fd);
        cr_assert_eq(fd, -EBADF);
        cr_assert_geq(g, 0);
        cr_assert_eq(safe_close(g), -EBADF);
        cr_assert_eq(fcntl(g, F_GETFD), -1, "the fd was closed");
}

Test(macro, string_predicates) {
        cr_assert(streq_ptr(NULL, NULL));
        cr_assert_not(streq_ptr("a", NULL));
        cr_assert(streq_ptr("a", "a"));
        cr_assert_str_eq(startswith("DOVESD_USER=x", "DOVESD_"), "USER=x");
        cr_assert_null(startswith("DOVES", "DOVESD_"));
        cr_assert(STR_IN_SET("login", "", "login", "worker"));
        cr_assert_not(STR_IN_SET("logi", "", "login", "worker"));
        cr_assert(isempty(NULL));
        cr_assert(isempty(""));
        cr_assert_not(isempty("x"));
}
