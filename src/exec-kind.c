/* SPDX-License-Identifier: MIT */

/*
 * Which programs dovesd can run, told from the executable file: an ELF program's dynamic
 * section lists the shared objects it needs (DT_NEEDED, offsets into the string table named
 * by DT_STRTAB, an address that a PT_LOAD segment maps back to a file offset). We read the
 * ELF header, the program headers and the dynamic segment with pread(), each bounded by the
 * file size and by fixed limits, so a truncated or hostile file is "other", never a crash
 * or an unbounded allocation. ELF32 and ELF64, either byte order, are read.
 */

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec-kind.h"
#include "macro.h"

#ifndef MIN

#endif

#define MAX_PHNUM       4096U                   /* program headers read */
#define MAX_DYNAMIC     (1024U * 1024U)         /* bytes of dynamic segment read */
#define MAX_NEEDED      1024U                   /* DT_NEEDED entries looked at */
#define MAX_SONAME      256U                    /* bytes of one needed name */

typedef struct elf_file {
        int fd;
        uint64_t size;
        bool is64;
        bool msb;
} elf_file;

typedef struct segment {
        uint64_t offset, vaddr, filesz;
} segment;

static uint64_t get(const elf_file *e, const uint8_t *p, unsigned n) {
        uint64_t v = 0;

        for (unsigned i = 0; i < n; i++)
                v |= (uint64_t) p[e->msb ? n - 1 - i : i] << (8 * i);
        return v;
}

/* Reads exactly N bytes at OFF. Returns 0, -EBADMSG when the range is outside the file or the
 * file is shorter than it said, -errno. */
static int read_at(const elf_file *e, uint64_t off, void *buf, size_t n) {
        size_t done = 0;

        if (off > e->size || n > e->size - off)
                return -EBADMSG;
        while (done < n) {
                ssize_t k = pread(e->fd, (uint8_t *) buf + done, n - done, (off_t) (off + done));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EBADMSG;
                done += k;
        }
        return 0;
}

/* The file offset that virtual address ADDR is loaded from, or -EBADMSG. */
static int vaddr_to_offset(const segment *loads, size_t n, uint64_t addr, uint64_t *ret) {
        for (size_t i = 0; i < n; i++)
                if (addr >= loads[i].vaddr && addr - loads[i].vaddr < loads[i].filesz) {
                        *ret = loads[i].offset + (addr - loads[i].vaddr);
                        return 0;
                }
        return -EBADMSG;
}

/* Reads the needed libraries of E. Sets *ret_dovesd / *ret_dovecot. Returns 0, -EBADMSG for
 * a malformed or static file, -ENOMEM, -errno. */
static int elf_needed(elf_file *e, bool *ret_dovesd, bool *ret_dovecot) {
        _cleanup_free_ uint8_t *ph = NULL, *dyn = NULL;
        _cleanup_free_ segment *loads = NULL;
        _cleanup_free_ uint64_t *needed = NULL;
        uint8_t eh[64];
        uint64_t phoff, dyn_off = 0, dyn_size = 0, strtab = 0, strsz = 0, str_off;
        unsigned phentsize, phnum, type, min_phent = e->is64 ? 56 : 32;
        unsigned dent = e->is64 ? 16 : 8;
        size_t n_loads = 0, n_needed = 0;
        bool have_dyn = false, have_strtab = false, have_strsz = false;
        int r;

        r = read_at(e, 0, eh, e->is64 ? 64 : 52);
        if (r < 0)
                return r;
        type = get(e, eh + 16, 2);
        if (type != ET_EXEC && type != ET_DYN)
                return -EBADMSG;
        phoff = e->is64 ? get(e, eh + 32, 8) : get(e, eh + 28, 4);
        phentsize = get(e, eh + (e->is64 ? 54 : 42), 2);
        phnum = get(e, eh + (e->is64 ? 56 : 44), 2);
        if (phnum == 0 || phnum > MAX_PHNUM || phentsize < min_phent)
                return -EBADMSG;

        ph = malloc((size_t) phnum * phentsize);
        loads = calloc(phnum, sizeof(segment));
        if (!ph || !loads)
                return -ENOMEM;
        r = read_at(e, phoff, ph, (size_t) phnum * phentsize);
        if (r < 0)
                return r;

        for (unsigned i = 0; i < phnum; i++) {
                const uint8_t *p = ph + (size_t) i * phentsize;
                uint32_t ptype = get(e, p, 4);
                segment s;

                if (e->is64)
                        s = (segment) { get(e, p + 8, 8), get(e, p + 16, 8), get(e, p + 32, 8) };
                else
                        s = (segment) { get(e, p + 4, 4), get(e, p + 8, 4), get(e, p + 16, 4) };
                if (ptype == PT_LOAD)
                        loads[n_loads++] = s;
                else if (ptype == PT_DYNAMIC && !have_dyn) {
                        have_dyn = true;
                        dyn_off = s.offset;
                        dyn_size = s.filesz;
                }
        }
        if (!have_dyn)
                return -EBADMSG;        /* statically linked: needs nothing */
        if (dyn_size > MAX_DYNAMIC)
                dyn_size = MAX_DYNAMIC;
        dyn_size -= dyn_size % dent;
        if (dyn_size == 0)
                return -EBADMSG;

        dyn = malloc(dyn_size);
        needed = calloc(MAX_NEEDED, sizeof(uint64_t));
        if (!dyn || !needed)
                return -ENOMEM;
        r = read_at(e, dyn_off, dyn, dyn_size);
        if (r < 0)
                return r;

        for (uint64_t o = 0; o < dyn_size; o += dent) {
                uint64_t tag = e->is64 ? get(e, dyn + o, 8) : get(e, dyn + o, 4);
                uint64_t val = e->is64 ? get(e, dyn + o + 8, 8) : get(e, dyn + o + 4, 4);

                if (tag == DT_NULL)
                        break;
                if (tag == DT_NEEDED && n_needed < MAX_NEEDED)
                        needed[n_needed++] = val;
                else if (tag == DT_STRTAB) {
                        strtab = val;
                        have_strtab = true;
                } else if (tag == DT_STRSZ) {
                        strsz = val;
                        have_strsz = true;
                }
        }
        if (n_needed == 0) {
                *ret_dovesd = *ret_dovecot = false;
                return 0;
        }
        if (!have_strtab || !have_strsz)
                return -EBADMSG;
        r = vaddr_to_offset(loads, n_loads, strtab, &str_off);
        if (r < 0)
                return r;

        *ret_dovesd = *ret_dovecot = false;
        for (size_t i = 0; i < n_needed; i++) {
                char name[MAX_SONAME];
                uint64_t len;

                if (needed[i] >= strsz)
                        continue;
                len = MIN(strsz - needed[i], (uint64_t) sizeof(name));
                if (str_off > e->size || needed[i] > e->size - str_off)
                        continue;
                len = MIN(len, e->size - str_off - needed[i]);
                r = read_at(e, str_off + needed[i], name, len);
                if (r < 0)
                        return r;
                if (!memchr(name, '\0', len))
                        continue;       /* not terminated within bounds: not one of ours */
                if (streq(name, "libdovesd.so.0"))
                        *ret_dovesd = true;
                else if (streq(name, "libdovecot.so.0"))
                        *ret_dovecot = true;
        }
        return 0;
}

/* True for a path below DOVECOT_LIBEXEC_DIR with no ".." component. */
static bool in_dovecot_libexec(const char *path) {
        const char *rest;

        if (strncmp(path, DOVECOT_LIBEXEC_DIR, strlen(DOVECOT_LIBEXEC_DIR)) != 0)
                return false;
        rest = path + strlen(DOVECOT_LIBEXEC_DIR);
        for (const char *p = rest; (p = strstr(p, "..")); p += 2)
                if ((p == rest || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
                        return false;
        return rest[0] != '\0';
}

int executable_kind(const char *path, ExecKind *ret) {
        _cleanup_close_ int fd = -EBADF;
        elf_file e = {};
        uint8_t ident[EI_NIDENT];
        bool dovesd = false, dovecot = false;
        struct stat st;
        int r;

        if (isempty(path))
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -ENOEXEC;
        if ((st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0)
                return -EACCES;

        e = (elf_file) { .fd = fd, .size = (uint64_t) st.st_size };
        r = read_at(&e, 0, ident, sizeof(ident));
        if (r == 0 && memcmp(ident, ELFMAG, SELFMAG) == 0 &&
            (ident[EI_CLASS] == ELFCLASS32 || ident[EI_CLASS] == ELFCLASS64) &&
            (ident[EI_DATA] == ELFDATA2LSB || ident[EI_DATA] == ELFDATA2MSB) &&
            ident[EI_VERSION] == EV_CURRENT) {
                e.is64 = ident[EI_CLASS] == ELFCLASS64;
                e.msb = ident[EI_DATA] == ELFDATA2MSB;
                r = elf_needed(&e, &dovesd, &dovecot);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && r != -EBADMSG)
                        return r;       /* a read error, not a malformed file */
        } else if (r < 0 && r != -EBADMSG)
                return r;

        if (dovesd)
                *ret = EXEC_KIND_LIBDOVESD;
        else if (dovecot || in_dovecot_libexec(path))
                *ret = EXEC_KIND_DOVECOT;
        else
                *ret = EXEC_KIND_OTHER;
        return 0;
}

const char *exec_kind_to_string(ExecKind k) {
        static const char *const names[_EXEC_KIND_MAX] = {
                [EXEC_KIND_LIBDOVESD] = "libdovesd",
                [EXEC_KIND_DOVECOT] = "dovecot",
                [EXEC_KIND_OTHER] = "other",
        };

        return k >= 0 && k < _EXEC_KIND_MAX ? names[k] : NULL;
}
