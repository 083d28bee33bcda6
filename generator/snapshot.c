/* SPDX-License-Identifier: MIT */

/*
 * The last good unit set.
 *
 * systemd empties the generator directories before every `systemctl daemon-reload`. When the
 * config is broken at that moment and the generator writes nothing, every dovesd unit turns
 * "not-found": running processes carry on, but each socket unit closes its listening fds
 * ("no open socket file descriptor left. The socket unit is not functional until restarted")
 * and stays that way even after the config is fixed and reloaded again. Per-connection
 * services refuse every new client from that moment.
 *
 * So after each successful run the generator keeps a copy of the unit set it wrote, and on a
 * broken config it writes that copy again, unchanged: daemon-reload then changes nothing for
 * dovesd and the admin gets the errors. The copy lives in /run (gone at reboot: a broken
 * config at boot writes nothing). The directory holds the unit files and links exactly as
 * written, plus SNAPSHOT_META with the config path and the time it was saved; it is replaced
 * atomically (RENAME_EXCHANGE), so a half-written copy is never read.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "snapshot.h"

#define SNAPSHOT_META ".dovesd-snapshot"
#define SNAPSHOT_MAX_ENTRIES 100000
#define SNAPSHOT_MAX_FILE (1024 * 1024)

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int rm_rf(const char *path) {
        if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int mkdir_parents(const char *path) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return 0;
}

int snapshot_save(const unit_set *s, const char *dir, const char *config_path) {
        _cleanup_free_ char *tmp = NULL, *meta = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        int r;

        if (asprintf(&tmp, "%s.new", dir) < 0)
                return -ENOMEM;
        r = mkdir_parents(dir);
        if (r < 0)
                return r;
        r = rm_rf(tmp);
        if (r < 0)
                return r;
        if (mkdir(tmp, 0700) < 0)
                return -errno;

        r = units_write(s, tmp, NULL);
        if (r < 0)
                goto fail;

        if (asprintf(&meta, "%s/" SNAPSHOT_META, tmp) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        f = fopen(meta, "wxe");
        if (!f) {
                r = -errno;
                goto fail;
        }
        fprintf(f, "config=%s\nsaved=%" PRIi64 "\n", config_path, (int64_t) time(NULL));
        if (fflush(f) != 0 || ferror(f)) {
                r = -(errno ?: EIO);
                goto fail;
        }

        /* Swap the new copy in atomically; the old one ends up under tmp and goes. */
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) < 0) {
                if (errno != ENOENT) {
                        r = -errno;
                        goto fail;
                }
                if (rename(tmp, dir) < 0) {
                        r = -errno;
                        goto fail;
                }
                return 0;
        }
        (void) rm_rf(tmp);
        return 0;

fail:
        (void) rm_rf(tmp);
        return r;
}

static int read_small_file(int dirfd, const char *path, char **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        ssize_t n;

        fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        if (st.st_size > SNAPSHOT_MAX_FILE)
                return -EFBIG;
        buf = malloc(st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        n = read(fd, buf, st.st_size + 1);
        if (n < 0)
                return -errno;
        if (n != st.st_size)
                return -EBADMSG;        /* changed under us */
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

static int add_entry(unit_set *s, const char *path, char *content, bool symlink) {
        unit_entry *e;

        if (s->n_entries >= SNAPSHOT_MAX_ENTRIES)
                return -E2BIG;
        if (!GREEDY_REALLOC(s->entries, s->n_entries + 1))
                return -ENOMEM;
        e = &s->entries[s->n_entries];
        *e = (unit_entry) { .path = strdup(path), .content = content, .symlink = symlink };
        if (!e->path)
                return -ENOMEM;
        s->n_entries++;
        return 0;
}

/* Reads the files and links of DIR/SUB (SUB "" for the top) into S; one level of
 * subdirectories (the .wants/ ones) below the top. */
static int load_dir(int topfd, const char *sub, unit_set *s) {
        _cleanup_close_ int fd = -EBADF;
        DIR *d;
        struct dirent *de;
        int r = 0;

        fd = openat(topfd, isempty(sub) ? "." : sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        TAKE_FD(fd);

        while (r >= 0 && (errno = 0, de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                struct stat st;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&path, "%s%s%s", sub, isempty(sub) ? "" : "/", de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (fstatat(topfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        r = isempty(sub) ? load_dir(topfd, path, s) : -EBADMSG;
                } else if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        ssize_t n = readlinkat(topfd, path, target, sizeof(target) - 1);
                        char *t;

                        if (n < 0) {
                                r = -errno;
                                break;
                        }
                        target[n] = '\0';
                        t = strdup(target);
                        r = t ? add_entry(s, path, t, true) : -ENOMEM;
                        if (r < 0)
                                free(t);
                } else {
                        char *content = NULL;

                        r = read_small_file(topfd, path, &content);
                        if (r >= 0) {
                                r = add_entry(s, path, content, false);
                                if (r < 0)
                                        free(content);
                        }
                }
        }
        if (r >= 0 && errno != 0)
                r = -errno;
        closedir(d);
        return r;
}

static int entry_cmp(const void *a, const void *b) {
        return strcmp(((const unit_entry *) a)->path, ((const unit_entry *) b)->path);
}

int snapshot_load(const char *dir, const char *config_path, unit_set *ret, int64_t *ret_saved) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *meta = NULL, *want = NULL;
        _cleanup_(unit_set_done) unit_set s = {};
        const char *saved;
        int r;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = read_small_file(fd, SNAPSHOT_META, &meta);
        if (r < 0)
                return r;

        /* Only a copy made from the same config file stands in for it. */
        if (asprintf(&want, "config=%s\n", config_path) < 0)
                return -ENOMEM;
        if (strncmp(meta, want, strlen(want)) != 0)
                return -ESTALE;
        saved = strstr(meta, "\nsaved=");
        if (!saved)
                return -EBADMSG;

        r = load_dir(fd, "", &s);
        if (r < 0)
                return r;
        if (s.n_entries == 0)
                return -ENOENT;
        qsort_safe(s.entries, s.n_entries, sizeof(unit_entry), entry_cmp);

        if (ret_saved)
                *ret_saved = strtoll(saved + strlen("\nsaved="), NULL, 10);
        *ret = s;
        s = (unit_set) {};
        return 0;
}

int snapshot_remove(const char *dir, const char *config_path) {
        _cleanup_free_ char *meta = NULL, *path = NULL, *want = NULL;
        int r;

        if (asprintf(&path, "%s/" SNAPSHOT_META, dir) < 0 ||
            asprintf(&want, "config=%s\n", config_path) < 0)
                return -ENOMEM;
        r = read_small_file(AT_FDCWD, path, &meta);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (strncmp(meta, want, strlen(want)) != 0)
                return 0;               /* another config's copy */
        return rm_rf(dir);
}
