/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the config dialect (src/): whole files through config_load(), and for
 * every config that loads, the unit writer (units_build, units_print) and --dump.
 *
 * Built by meson with -Dfuzz=true (see fuzz/meson.build and scripts/fuzz). By hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE \
 *         -DDOVESD_SUPERVISOR_PATH='"/usr/libexec/dovesd/dovesd-supervisor"' \
 *         -DDOVESD_GENERATOR_PATH='"/usr/sbin/dovesd-generator"' \
 *         -Isrc -Isrc/shared fuzz/conf.c src/{conf,diag,dump,exec-kind,units,values}.c \
 *         src/model/{build,load,model,order,schema,settings,validate}.c \
 *         src/plan/{address,resolve}.c \
 *         src/units/{apply,builder,dirs,layout,names,sandbox,service,slice,socket,target}.c \
 *         src/units/{unit-file,unit-set,writer}.c \
 *         -o build/fuzz-conf
 *   build/fuzz-conf -max_len=16384 -dict=fuzz/dovesd.dict fuzz/corpus/conf
 *
 * Input: up to three files separated by a line "#--file--": dovesd.conf, a.conf, b.conf, all
 * in one private directory, so that "!include a.conf", globs and include loops are reached.
 * Includes are confined to that directory (conf_include_root). */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf-internal.h"
#include "dump.h"
#include "units.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEPARATOR "#--file--\n"

static char dir[] = "/tmp/dovesd-fuzz-conf-XXXXXX";
static const char *const names[] = { "dovesd.conf", "a.conf", "b.conf" };
static FILE *devnull;

static void check(int cond) {
        if (!cond)
                abort();
}

static void cleanup(void) {
        char path[sizeof(dir) + 32];

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                (void) unlink(path);
        }
        (void) rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        check(mkdtemp(dir) != NULL);
        atexit(cleanup);
        conf_include_root = dir;
        devnull = fopen("/dev/null", "we");
        check(devnull != NULL);
        return 0;
}

/* A unit path stays inside the output directory: "NAME" or "DIR/NAME", no "." or "..". */
static int path_is_safe(const char *p) {
        const char *slash = strchr(p, '/');

        if (!p[0] || p[0] == '/' || (slash && strchr(slash + 1, '/')))
                return 0;
        if (streq(p, ".") || streq(p, "..") || strncmp(p, "./", 2) == 0 ||
            strncmp(p, "../", 3) == 0)
                return 0;
        return !slash || (slash[1] && !streq(slash + 1, ".") && !streq(slash + 1, ".."));
}

static void write_file(const char *name, const uint8_t *data, size_t size) {
        char path[sizeof(dir) + 32];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        check(fd >= 0);
        while (size > 0) {
                ssize_t n = write(fd, data, size);
                check(n > 0);
                data += n;
                size -= (size_t) n;
        }
        close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char path[sizeof(dir) + 32];
        conf_diags d = {}, d2 = {};
        unit_set set = {};
        config *c = NULL;
        size_t i;
        int r;

        for (i = 0; i < ELEMENTSOF(names); i++) {
                const uint8_t *sep = i + 1 < ELEMENTSOF(names) ?
                        memmem(data, size, SEPARATOR, strlen(SEPARATOR)) : NULL;
                size_t len = sep ? (size_t) (sep - data) : size;

                write_file(names[i], data, len);
                if (!sep) {
                        i++;
                        break;
                }
                data += len + strlen(SEPARATOR);
                size -= len + strlen(SEPARATOR);
        }
        for (; i < ELEMENTSOF(names); i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                (void) unlink(path);
        }

        snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
        r = config_load(path, &c, &d);
        /* the contract: errors always come with a diagnostic; success with a config */
        if (r < 0) {
                check(r == -EINVAL || r == -ENOMEM);
                check(c == NULL);
                check(r == -ENOMEM || d.n_errors > 0);
        } else
                check(c != NULL && d.n_errors == 0);
        for (size_t j = 0; j < d.n_items; j++)
                check(d.items[j].file && d.items[j].text && d.items[j].text[0]);

        if (c) {
                check(config_dump(c, devnull) >= 0);
                r = units_build(c, &set, &d2);
                if (r >= 0) {
                        check(units_print(&set, devnull) >= 0);
                        for (size_t j = 0; j < set.n_entries; j++)
                                check(path_is_safe(set.entries[j].path));
                } else
                        check(r == -ENOMEM || d2.n_errors > 0);
                unit_set_done(&set);
        }
        conf_diags_done(&d2);
        conf_diags_done(&d);
        config_free(c);
        return 0;
}
