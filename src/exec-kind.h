/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What kind of program an `executable` is, from the file alone: which ELF shared objects it
 * names in DT_NEEDED. Pure: it reads the file and nothing else (no dynamic loader, no exec).
 */

typedef enum ExecKind {
        EXEC_KIND_LIBDOVESD,    /* an ELF program that needs libdovesd.so.0 */
        EXEC_KIND_DOVECOT,      /* Dovecot's own: needs libdovecot.so.0, or lives in DOVECOT_LIBEXEC_DIR */
        EXEC_KIND_OTHER,        /* anything else: other ELF programs, scripts (#!), other files */
        _EXEC_KIND_MAX,
} ExecKind;

#define DOVECOT_LIBEXEC_DIR "/usr/lib/dovecot/"

/* Reads PATH (opened read-only, never executed) and classifies it. A program needing both
 * libraries is EXEC_KIND_LIBDOVESD. Returns 0 with *ret; -errno when PATH cannot be opened or
 * read (-ENOENT, -EACCES, ...), -EISDIR for a directory, -ENOEXEC for a file that is not
 * regular, -EACCES when it has no execute bit. Truncated or malformed ELF files are
 * EXEC_KIND_OTHER, never an error (the kernel would refuse to run them anyway). */
int executable_kind(const char *path, ExecKind *ret);

/* "libdovesd", "dovecot", "other". */
const char *exec_kind_to_string(ExecKind k);
