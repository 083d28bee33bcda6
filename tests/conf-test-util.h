/* SPDX-License-Identifier: MIT */
#pragma once

/* Helpers for the config dialect tests: write files into a private temp dir and load them. */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "model.h"

static char test_dir[] = "/tmp/dovesd-test-XXXXXX";

static inline void test_dir_setup(void) {
        cr_assert_not_null(mkdtemp(test_dir));
}

static inline void test_dir_teardown(void) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
        cr_assert_eq(system(cmd), 0);
        strcpy(test_dir, "/tmp/dovesd-test-XXXXXX");
}

/* Write NAME (relative to the test dir, subdirectories created) with TEXT; returns the path
 * (static buffer per call site is not needed: caller frees). */
static inline char *test_write(const char *name, const char *text) {
        char *path, *slash;
        FILE *f;

        cr_assert(asprintf(&path, "%s/%s", test_dir, name) > 0);
        for (slash = strchr(path + strlen(test_dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                mkdir(path, 0755);
                *slash = '/';
        }
        f = fopen(path, "we");
        cr_assert_not_null(f, "fopen %s", path);
        fputs(text, f);
        cr_assert_eq(fclose(f), 0);
        return path;
}

/* Load TEXT as the main file "main.conf". Returns config_load()'s result; *ret_first gets
 * "FILE:LINE: TEXT" of the first error (file relative to the test dir) or "" when none. */
static inline int test_load(const char *text, config **ret, char **ret_first, conf_diags *diags) {
        _cleanup_free_ char *path = test_write("main.conf", text);
        config *c = NULL;
        int r;

        *diags = (conf_diags) {};
        r = config_load(path, &c, diags);
        *ret_first = NULL;
        for (size_t i = 0; i < diags->n_items; i++) {
                const conf_diag *d = &diags->items[i];
                const char *f = d->file;
                if (d->warning)
                        continue;
                if (strncmp(f, test_dir, strlen(test_dir)) == 0)
                        f += strlen(test_dir) + 1;
                cr_assert(asprintf(ret_first, "%s:%u: %s", f, d->line, d->text) > 0);
                break;
        }
        if (!*ret_first)
                *ret_first = strdup("");
        if (ret)
                *ret = c;
        else
                config_free(c);
        return r;
}

/* The first error of TEXT, or "" when it loads; the config is discarded. */
static inline char *test_first_error(const char *text) {
        conf_diags d;
        char *first;
        int r;

        r = test_load(text, NULL, &first, &d);
        if (first[0] == '\0')
                cr_assert_geq(r, 0, "config_load failed without an error: %d", r);
        else
                cr_assert_lt(r, 0);
        conf_diags_done(&d);
        return first;
}

static inline config *test_config(const char *text) {
        conf_diags d;
        config *c = NULL;
        char *first;
        int r;

        r = test_load(text, &c, &first, &d);
        cr_assert_eq(r, 0, "config_load: %d, first error: %s", r, first);
        free(first);
        conf_diags_done(&d);
        return c;
}

static inline service *test_service(config *c, const char *name) {
        for (size_t i = 0; i < c->n_services; i++)
                if (strcmp(c->services[i].name, name) == 0)
                        return &c->services[i];
        cr_assert_fail("no service %s", name);
        return NULL;
}
