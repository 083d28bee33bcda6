/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "writer.h"
static int write_file_at(int dirfd, const char *path, const char *content) {
        _cleanup_close_ int fd = -EBADF;
        FILE *f;
        int r = 0;

        fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "we");
        if (!f)
                return -errno;
        TAKE_FD(fd);
        fputs(content, f);
        if (fflush(f) != 0 || ferror(f))
                r = -(errno ?: EIO);
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        return r;
}

int units_write(const unit_set *s, const char *dir, char **ret_failed) {
        _cleanup_close_ int dirfd = -EBADF;

        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                if (ret_failed)
                        *ret_failed = strdup(dir);
                return -errno;
        }

        for (size_t i = 0; i < s->n_entries; i++) {
                const unit_entry *e = &s->entries[i];
                const char *slash = strrchr(e->path, '/');
                int r;

                if (slash) {
                        _cleanup_free_ char *d = strndup(e->path, slash - e->path);

                        if (!d)
                                return -ENOMEM;
                        if (mkdirat(dirfd, d, 0755) < 0 && errno != EEXIST) {
                                r = -errno;
                                if (ret_failed)
                                        *ret_failed = strdup(d);
                                return r;
                        }
                }

                if (e->symlink)
                        r = symlinkat(e->content, dirfd, e->path) < 0 ? -errno : 0;
                else
                        r = write_file_at(dirfd, e->path, e->content);
                if (r < 0) {
                        if (ret_failed)
                                *ret_failed = strdup(e->path);
                        return r;
                }
        }
        return 0;
}

int units_print(const unit_set *s, FILE *f) {
        for (size_t i = 0; i < s->n_entries; i++) {
                const unit_entry *e = &s->entries[i];

                if (e->symlink)
                        fprintf(f, "%s# %s -> %s\n", i > 0 ? "\n" : "", e->path, e->content);
                else
                        fprintf(f, "%s# %s\n%s", i > 0 ? "\n" : "", e->path, e->content);
        }
        if (fflush(f) != 0 || ferror(f))
                return -(errno ?: EIO);
        return 0;
}
