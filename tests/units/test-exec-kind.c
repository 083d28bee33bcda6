/* SPDX-License-Identifier: MIT */

/* src/exec-kind.c: real programs of each kind, hand-made ELF files of every class and byte
 * order, and hostile files (truncated, corrupted, lying headers) that must never crash. */

#include <criterion/criterion.h>
#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec-kind.h"
#include "macro.h"

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

static char dir[] = "/tmp/dovesd-exec-kind-XXXXXX";

static void setup(void) {
        cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        cr_assert_eq(system(cmd), 0);
        strcpy(dir, "/tmp/dovesd-exec-kind-XXXXXX");
}

static void write_file(const char *path, const void *data, size_t n, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        cr_assert_geq(fd, 0, "open %s", path);
        cr_assert_eq(write(fd, data, n), (ssize_t) n);
        cr_assert_eq(fchmod(fd, mode), 0);
        cr_assert_eq(close(fd), 0);
}

static uint8_t *read_whole(const char *path, size_t *ret_size) {
        FILE *f = fopen(path, "re");
        uint8_t *buf;
        long n;

        cr_assert_not_null(f, "fopen %s", path);
        cr_assert_eq(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        cr_assert_gt(n, 0);
        rewind(f);
        buf = malloc(n);
        cr_assert_not_null(buf);
        cr_assert_eq(fread(buf, 1, n, f), (size_t) n);
        fclose(f);
        *ret_size = n;
        return buf;
}

static int kind_of(const char *path, ExecKind *k) {
        *k = _EXEC_KIND_MAX;
        return executable_kind(path, k);
}

Test(exec_kind, real_programs) {
        static const struct {
                const char *path;
                ExecKind kind;
        } cases[] = {
#ifdef DEMO_PATH
                { DEMO_PATH, EXEC_KIND_LIBDOVESD },
#endif
                { LIBDOVESD_PROGRAM_PATH, EXEC_KIND_LIBDOVESD },
                { "/usr/lib/dovecot/imap-login", EXEC_KIND_DOVECOT },  /* DT_NEEDED libdovecot.so.0 */
                { "/usr/lib/dovecot/auth", EXEC_KIND_DOVECOT },
                { "/usr/sbin/dovecot", EXEC_KIND_DOVECOT },            /* outside the libexec dir */
                { "/usr/lib/dovecot/health-check.sh", EXEC_KIND_DOVECOT }, /* a script, in the dir */
                { "/bin/true", EXEC_KIND_OTHER },
                { "/usr/lib/dovecot/../../bin/true", EXEC_KIND_OTHER },  /* ".." leaves the dir */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ExecKind k;
                int r = kind_of(cases[i].path, &k);

                cr_assert_eq(r, 0, "%s: %s", cases[i].path, strerror(-r));
                cr_assert_eq(k, cases[i].kind, "%s: %s, want %s", cases[i].path,
                             exec_kind_to_string(k), exec_kind_to_string(cases[i].kind));
        }
}

Test(exec_kind, errors, .init = setup, .fini = teardown) {
        char path[256];
        ExecKind k;

        cr_assert_eq(kind_of("/nonexistent/dovesd/x", &k), -ENOENT);
        cr_assert_eq(k, _EXEC_KIND_MAX, "*ret written on failure");
        cr_assert_eq(kind_of("", &k), -EINVAL);
        cr_assert_eq(kind_of("/usr", &k), -EISDIR);
        cr_assert_eq(kind_of("/dev/null", &k), -ENOEXEC);

        snprintf(path, sizeof(path), "%s/noexec", dir);
        write_file(path, "#!/bin/sh\n", 10, 0644);
        cr_assert_eq(kind_of(path, &k), -EACCES);

        /* unreadable: a file we may not open (root may open anything: then skip) */
        snprintf(path, sizeof(path), "%s/secret", dir);
        write_file(path, "\177ELF", 4, 0111);
        if (geteuid() != 0)
                cr_assert_eq(kind_of(path, &k), -EACCES);
}

Test(exec_kind, scripts_and_junk, .init = setup, .fini = teardown) {
        static const char *const texts[] = {
                "#!/bin/sh\necho libdovesd.so.0\n",
                "",
                "\177EL",
                "\177ELF",
                "\177ELF\002\001\001",
                "not a program at all, but executable",
        };
        char path[256];

        snprintf(path, sizeof(path), "%s/x", dir);
        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                ExecKind k;

                write_file(path, texts[i], strlen(texts[i]), 0755);
                cr_assert_eq(kind_of(path, &k), 0, "case %zu", i);
                cr_assert_eq(k, EXEC_KIND_OTHER, "case %zu", i);
        }
}

/* A minimal dynamic ELF: header, two program headers (PT_LOAD over the whole file at vaddr
 * 0x1000, PT_DYNAMIC), the dynamic entries, the string table. Returns its size. */
static size_t make_elf(uint8_t *buf, size_t bufsize, bool is64, bool msb, const char *const *needed,
                       size_t n_needed) {
        const size_t ehsize = is64 ? 64 : 52, phent = is64 ? 56 : 32, dent = is64 ? 16 : 8;
        const uint64_t base = 0x1000;
        size_t phoff = ehsize, dynoff = phoff + 2 * phent, n_dyn = n_needed + 3;
        size_t stroff = dynoff + n_dyn * dent, strsz = 1, size;
        uint8_t *p;

#define PUT(at, v, n) do {                                                      \
                uint64_t _v = (v);                                              \
                for (unsigned _i = 0; _i < (n); _i++)                           \
                        (at)[msb ? (n) - 1 - _i : _i] = (uint8_t) (_v >> (8 * _i)); \
        } while (0)

        memset(buf, 0, bufsize);
        buf[stroff] = '\0';
        for (size_t i = 0; i < n_needed; i++) {
                strcpy((char *) buf + stroff + strsz, needed[i]);
                strsz += strlen(needed[i]) + 1;
        }
        size = stroff + strsz;
        cr_assert_lt(size, bufsize);

        memcpy(buf, ELFMAG, SELFMAG);
        buf[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
        buf[EI_DATA] = msb ? ELFDATA2MSB : ELFDATA2LSB;
        buf[EI_VERSION] = EV_CURRENT;
        PUT(buf + 16, ET_DYN, 2);
        if (is64) {
                PUT(buf + 32, phoff, 8);
                PUT(buf + 54, phent, 2);
                PUT(buf + 56, 2, 2);
        } else {
                PUT(buf + 28, phoff, 4);
                PUT(buf + 42, phent, 2);
                PUT(buf + 44, 2, 2);
        }
        for (int i = 0; i < 2; i++) {
                uint64_t off = i == 0 ? 0 : dynoff, len = i == 0 ? size : n_dyn * dent;

                p = buf + phoff + i * phent;
                PUT(p, i == 0 ? PT_LOAD : PT_DYNAMIC, 4);
                if (is64) {
                        PUT(p + 8, off, 8);
                        PUT(p + 16, base + off, 8);
                        PUT(p + 32, len, 8);
                } else {
                        PUT(p + 4, off, 4);
                        PUT(p + 8, base + off, 4);
                        PUT(p + 16, len, 4);
                }
        }
        p = buf + dynoff;
        size_t at = 1;
        for (size_t i = 0; i < n_needed; i++, p += dent) {
                PUT(p, DT_NEEDED, is64 ? 8 : 4);
                PUT(p + dent / 2, at, is64 ? 8 : 4);
                at += strlen(needed[i]) + 1;
        }
        PUT(p, DT_STRTAB, is64 ? 8 : 4);
        PUT(p + dent / 2, base + stroff, is64 ? 8 : 4);
        p += dent;
        PUT(p, DT_STRSZ, is64 ? 8 : 4);
        PUT(p + dent / 2, strsz, is64 ? 8 : 4);
        /* the last entry stays DT_NULL */
#undef PUT
        return size;
}

Test(exec_kind, elf_classes_and_byte_orders, .init = setup, .fini = teardown) {
        static const char *const dovesd[] = { "libc.so.6", "libdovesd.so.0" };
        static const char *const dovecot[] = { "libdovecot-login.so.0", "libdovecot.so.0" };
        static const char *const both[] = { "libdovecot.so.0", "libdovesd.so.0" };
        static const char *const other[] = { "libc.so.6", "libdovesd.so.01", "libdovecot.so" };
        static const struct {
                const char *const *needed;
                size_t n;
                ExecKind kind;
        } cases[] = {
                { dovesd, ELEMENTSOF(dovesd), EXEC_KIND_LIBDOVESD },
                { dovecot, ELEMENTSOF(dovecot), EXEC_KIND_DOVECOT },
                { both, ELEMENTSOF(both), EXEC_KIND_LIBDOVESD },
                { other, ELEMENTSOF(other), EXEC_KIND_OTHER },
                { NULL, 0, EXEC_KIND_OTHER },
        };
        uint8_t buf[4096];
        char path[256];

        snprintf(path, sizeof(path), "%s/elf", dir);
        for (int cls = 0; cls < 2; cls++)
                for (int msb = 0; msb < 2; msb++)
                        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                                size_t n = make_elf(buf, sizeof(buf), cls, msb, cases[i].needed,
                                                    cases[i].n);
                                ExecKind k;

                                write_file(path, buf, n, 0755);
                                cr_assert_eq(kind_of(path, &k), 0);
                                cr_assert_eq(k, cases[i].kind, "ELF%d %s case %zu: %s",
                                             cls ? 64 : 32, msb ? "MSB" : "LSB", i,
                                             exec_kind_to_string(k));
                        }
}

/* Headers that lie: counts and offsets far beyond the file, a string table that no segment
 * maps, a needed name running off the end of the string table. All "other", no crash. */
Test(exec_kind, lying_headers, .init = setup, .fini = teardown) {
        static const char *const dovesd[] = { "libdovesd.so.0" };
        uint8_t buf[4096], copy[4096];
        char path[256];
        size_t n = make_elf(buf, sizeof(buf), true, false, dovesd, 1);
        const size_t dynoff = 64 + 2 * 56;
        static const struct {
                size_t at;
                unsigned len;
                uint64_t value;
        } patches[] = {
                { 56, 2, 0xffff },                      /* e_phnum: PN_XNUM */
                { 56, 2, 0 },                           /* no program headers */
                { 54, 2, 8 },                           /* e_phentsize too small */
                { 32, 8, UINT64_MAX - 8 },              /* e_phoff wraps */
                { 32, 8, 1ULL << 40 },                  /* e_phoff far beyond the file */
                { 64 + 56 + 8, 8, UINT64_MAX },         /* PT_DYNAMIC p_offset */
                { 64 + 56 + 32, 8, UINT64_MAX },        /* PT_DYNAMIC p_filesz */
                { 64 + 56 + 32, 8, 3 },                 /* PT_DYNAMIC shorter than one entry */
                { 64 + 32, 8, 0 },                      /* PT_LOAD maps nothing: strtab unmapped */
                { 64 + 16, 8, UINT64_MAX - 4 },         /* PT_LOAD vaddr wraps */
                { dynoff + 8, 8, UINT64_MAX },          /* DT_NEEDED offset beyond everything */
                { dynoff + 16 + 8, 8, UINT64_MAX },     /* DT_STRTAB unmapped */
                { dynoff + 32 + 8, 8, 3 },              /* DT_STRSZ cuts the name short */
                { dynoff + 32 + 8, 8, 1ULL << 60 },     /* DT_STRSZ huge: still read in bounds */
                { dynoff + 16, 8, DT_NULL },            /* DT_STRTAB never reached */
                { 16, 2, ET_REL },                      /* not a program */
        };

        snprintf(path, sizeof(path), "%s/elf", dir);
        for (size_t i = 0; i < ELEMENTSOF(patches); i++) {
                ExecKind k;

                memcpy(copy, buf, n);
                for (unsigned b = 0; b < patches[i].len; b++)
                        copy[patches[i].at + b] = (uint8_t) (patches[i].value >> (8 * b));
                write_file(path, copy, n, 0755);
                cr_assert_eq(kind_of(path, &k), 0, "patch %zu", i);
                /* a huge DT_STRSZ lies, but the name is still there and terminated */
                cr_assert_eq(k, patches[i].value == 1ULL << 60 ? EXEC_KIND_LIBDOVESD : EXEC_KIND_OTHER,
                             "patch %zu: %s", i, exec_kind_to_string(k));
        }
}

/* A real libdovesd program, truncated at many lengths and with bytes flipped at random
 * (fixed seed): every answer is a kind or -errno, and no read goes out of bounds (ASan). */
Test(exec_kind, truncated_and_corrupted, .init = setup, .fini = teardown) {
        _cleanup_free_ uint8_t *orig = NULL, *copy = NULL;
        char path[256];
        size_t size, step;
        ExecKind k;

        orig = read_whole(LIBDOVESD_PROGRAM_PATH, &size);
        copy = malloc(size);
        cr_assert_not_null(copy);
        snprintf(path, sizeof(path), "%s/t", dir);

        step = size / 300 + 1;
        for (size_t len = 0; len < size; len += len < 256 ? 1 : step) {
                write_file(path, orig, len, 0755);
                cr_assert_eq(kind_of(path, &k), 0, "truncated at %zu", len);
                cr_assert(k == EXEC_KIND_LIBDOVESD || k == EXEC_KIND_OTHER, "truncated at %zu", len);
        }

        srand(17);
        for (int round = 0; round < 300; round++) {
                memcpy(copy, orig, size);
                for (int j = 0; j < 8; j++) {
                        /* mostly the headers, sometimes anywhere */
                        size_t at = (size_t) rand() % (j < 6 ? MIN(size, (size_t) 4096) : size);
                        copy[at] = (uint8_t) rand();
                }
                write_file(path, copy, size, 0755);
                cr_assert_eq(kind_of(path, &k), 0, "round %d", round);
                cr_assert(k >= 0 && k < _EXEC_KIND_MAX, "round %d", round);
        }
}
