/* SPDX-License-Identifier: MIT */

/*
 * The unit writer: config (src/model.h) → systemd units.
 *
 * Names (PREFIX is instance_name, default "dovesd"; SERVICE and LISTENER are escaped as
 * systemd-escape does, except that '-' stays literal so that admins can type
 * "systemctl status dovesd-imap-login.service"; LISTENER is the name the program sees, the
 * same as FileDescriptorName=: an inet listener's section name, the basename of a unix/fifo
 * path; only when two listeners of one service share that name, each of them is named by
 * its path as written, escaped like a path ("login/dns-client" → "login-dns-client").
 * Paths everywhere would collide in Dovecot's own default layout (imap-login's inet
 * listener "imap" and imap's unix listener "login/imap" would both be
 * dovesd-imap-login-imap.socket), basenames everywhere too (dns-client has "dns-client" and
 * "login/dns-client", stats "stats-writer" and "login/stats-writer")):
 *
 *   PREFIX-SERVICE-LISTENER.socket        one per enabled listener
 *   PREFIX-SERVICE.service                pool model: one per service, Sockets= all of its
 *   PREFIX-SERVICE-LISTENER@.service      per-connection model: one template per socket
 *   PREFIX.target                         wants every socket and the boot-started services;
 *                                         itself wanted by the static dovesd.target. For the
 *                                         default instance_name "dovesd" PREFIX.target is the
 *                                         static dovesd.target itself: units are linked into
 *                                         dovesd.target.wants/ directly
 *   PREFIX-dirs.service                   oneshot: base_dir, chroot dirs, listener parents
 *
 * Keeping '-' literal makes names ambiguous (service "a-b" + listener "c" and service "a" +
 * listener "b-c" both give PREFIX-a-b-c.socket): every name is registered with its origin
 * and a second use is an error that names both.
 *
 * Slices are different: a '-' in a slice name is hierarchy ("dovesd-imap-login.slice" would
 * be a child of "dovesd-imap.slice" and count against its TasksMax=). So slice components
 * escape '-' as "\x2d" and every slice sits under the static dovesd.slice:
 *
 *   dovesd-ESC(SERVICE).slice                      instance_name = dovesd
 *   dovesd-ESC(INSTANCE).slice                     any other instance_name, holding
 *   dovesd-ESC(INSTANCE)-ESC(SERVICE).slice        one slice per service
 *
 * Mapping (DESIGN.md "Mapping to units"), with the choices made here:
 *
 * - One process model: every socket is Accept=no and Service= names the service (the socket
 *   names differ from it). There is no per-connection (Accept=yes) template: measured, a
 *   sandboxed unit start per connection made Dovecot's default login config 7x slower than
 *   Dovecot. With process_limit > 1 the main process is dovesd-supervisor, which starts every
 *   worker by fork + exec of the program (service_count = 1 with process_min_avail = 0 gets
 *   a fresh worker per waiting client). A socket only triggers while its service is down,
 *   so the socket's trigger
 *   limit (20 per 2 s) is never reached before the service's own start limit (5 per 10 s)
 *   and both keep their defaults, except when the main process exits by design after
 *   service_count clients (process_limit = 1, no supervisor): then every few clients start
 *   it again, so the service has StartLimitIntervalSec=0 and its sockets
 *   TriggerLimitIntervalSec=0.
 * - Restart=always for type=startup and process_min_avail > 0 (Dovecot's master keeps
 *   those running), Restart=on-failure for the other pool services: a pool that exits 0
 *   after idle_kill is started again by its sockets when a client comes.
 * - KillMode= stays control-group: on stop every process of the unit gets SIGTERM and the
 *   supervisor and its workers shut down gracefully each on its own; TimeoutStopSec=30s,
 *   then SIGKILL. ExecReload= sends SIGHUP to the main process (v252 has no ReloadSignal=).
 * - TasksMax= on the slice is process_limit plus one task for a control process
 *   (ExecReload=) plus one for the supervisor of a pool with process_limit > 1.
 * - inet: "*" → 0.0.0.0:P, "::" → [::]:P; any IPv6 address → BindIPv6Only=ipv6-only (Dovecot
 *   sets IPV6_V6ONLY on every IPv6 listener); any specific address → FreeBind=yes;
 *   "localhost" → 127.0.0.1 and [::1]; other host names are an error. KeepAlive=yes, as
 *   Dovecot sets SO_KEEPALIVE on inet listeners.
 * - unix/fifo: SocketMode= always (systemd's default 0666 is not Dovecot's 0600),
 *   SocketUser=/SocketGroup= when set, DirectoryMode=0755; paths longer than a sockaddr_un
 *   holds are an error.
 * - Values are escaped for the unit file syntax: '%' → "%%" everywhere (specifiers),
 *   Exec words '$' → "$$", quoting where a word holds blanks or quotes.
 *
 * Every unit carries a header comment naming the generator, SourcePath= (the file that
 * declared it, absolute) and Documentation=man:dovesd.units(7). The entries are sorted by
 * path, so the same config always gives byte-identical files.
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "contract.h"
#include "units.h"

#define GENERATOR_NAME "dovesd-generator"
#define UNIT_NAME_MAX 255
#define DOCUMENTATION "man:dovesd.units(7)"
#define STOP_TIMEOUT "30s"

typedef struct name_use {
        char *name;
        char *owner;    /* "service(a) listener b", for the collision error */
        const char *file;
        unsigned line;
} name_use;

typedef struct builder {
        const config *c;
        conf_diags *diags;
        unit_set set;

        name_use *names;
        size_t n_names;
        size_t *name_index;             /* open addressing: 1 + index into names, 0 = free */
        size_t name_index_size;         /* a power of two, > 2 × n_names */

        char *prefix;           /* instance_name escaped, '-' kept */
        char *target;           /* PREFIX.target; the static dovesd.target for instance dovesd */
        bool own_target;        /* PREFIX.target is generated (instance_name is not dovesd) */
        char *apply_unit;       /* PREFIX-apply.service */
        char *dirs_unit;        /* PREFIX-dirs.service */
        char *slice_parent;     /* dovesd-ESC(instance).slice, NULL for instance "dovesd" */
        char *slice_prefix;     /* "dovesd-" or "dovesd-ESC(instance)-" */
        const service **built;  /* services that produced units */
        size_t n_built;
        unsigned n_errors;
} builder;

/* ---- small helpers ---------------------------------------------------------------------- */

static _printf_(2, 3) char *strf(char **ret, const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        *ret = s;
        return s;
}

/* The text of a diagnostic or a note and a copy of the FILE it names ("" for none). */
static int format_at(const char *file, char **ret_file, char **ret_text, const char *fmt,
                     va_list ap) _printf_(4, 0);
static int format_at(const char *file, char **ret_file, char **ret_text, const char *fmt,
                     va_list ap) {
        _cleanup_free_ char *text = NULL, *f = NULL;

        if (vasprintf(&text, fmt, ap) < 0) {
                text = NULL;    /* undefined after a failure */
                return -ENOMEM;
        }
        f = strdup(file ?: "");
        if (!f)
                return -ENOMEM;
        *ret_file = TAKE_PTR(f);
        *ret_text = TAKE_PTR(text);
        return 0;
}

static int push_diag(builder *b, bool warning, const char *file, unsigned line, const char *fmt,
                     ...) _printf_(5, 6);
static int push_diag(builder *b, bool warning, const char *file, unsigned line, const char *fmt,
                     ...) {
        conf_diags *d = b->diags;
        _cleanup_free_ char *text = NULL, *f = NULL;
        conf_diag *n;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = format_at(file, &f, &text, fmt, ap);
        va_end(ap);
        if (r < 0)
                return r;

        n = reallocarray(d->items, d->n_items + 1, sizeof(conf_diag));
        if (!n)
                return -ENOMEM;
        d->items = n;
        d->items[d->n_items++] = (conf_diag) {
                .file = TAKE_PTR(f),
                .line = line,
                .text = TAKE_PTR(text),
                .warning = warning,
        };
        if (!warning) {
                d->n_errors++;
                b->n_errors++;
        }
        return 0;
}

static int push_note(builder *b, unit_note_level level, const char *file, unsigned line,
                     const char *fmt, ...) _printf_(5, 6);
static int push_note(builder *b, unit_note_level level, const char *file, unsigned line,
                     const char *fmt, ...) {
        _cleanup_free_ char *text = NULL, *f = NULL;
        unit_note *n;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = format_at(file, &f, &text, fmt, ap);
        va_end(ap);
        if (r < 0)
                return r;

        n = reallocarray(b->set.notes, b->set.n_notes + 1, sizeof(unit_note));
        if (!n)
                return -ENOMEM;
        b->set.notes = n;
        b->set.notes[b->set.n_notes++] = (unit_note) {
                .level = level,
                .file = TAKE_PTR(f),
                .line = line,
                .text = TAKE_PTR(text),
        };
        return 0;
}

/* Takes ownership of PATH and CONTENT (freed on failure too). */
static int push_entry(builder *b, char *path, char *content, bool symlink) {
        unit_entry *n;

        if (!path || !content) {
                free(path);
                free(content);
                return -ENOMEM;
        }
        n = reallocarray(b->set.entries, b->set.n_entries + 1, sizeof(unit_entry));
        if (!n) {
                free(path);
                free(content);
                return -ENOMEM;
        }
        b->set.entries = n;
        b->set.entries[b->set.n_entries++] = (unit_entry) {
                .path = path,
                .content = content,
                .symlink = symlink,
        };
        return 0;
}

static int push_wants(builder *b, const char *from, const char *unit) {
        char *path, *target;

        strf(&path, "%s.wants/%s", from, unit);
        strf(&target, "../%s", unit);
        return push_entry(b, path, target, true);
}

/* Registers NAME; a second use is an error naming both. Returns 0 (also after recording a
 * collision error), -ENOMEM. */
/* The claimed names are looked up through a hash index: a config with thousands of
 * listeners would otherwise compare every name with every earlier one. */
static size_t name_hash(const char *s) {
        uint64_t h = UINT64_C(14695981039346656037);           /* FNV-1a */

        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * UINT64_C(1099511628211);
        return (size_t) h;
}

/* The index slot that holds NAME, or the free one where it would go. */
static size_t *name_slot(builder *b, const char *name) {
        size_t mask = b->name_index_size - 1;

        for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask)
                if (b->name_index[i] == 0 || streq(b->names[b->name_index[i] - 1].name, name))
                        return &b->name_index[i];
}

static int name_index_grow(builder *b) {
        size_t size = b->name_index_size ? 2 * b->name_index_size : 64, *index;

        index = calloc(size, sizeof(size_t));
        if (!index)
                return -ENOMEM;
        free(b->name_index);
        b->name_index = index;
        b->name_index_size = size;
        for (size_t i = 0; i < b->n_names; i++)
                *name_slot(b, b->names[i].name) = i + 1;
        return 0;
}

static int claim_name(builder *b, const char *name, const char *owner, const char *file,
                      unsigned line) {
        name_use *n;
        size_t *slot;
        char *nm, *ow;
        int r;

        if (strlen(name) > UNIT_NAME_MAX)
                return push_diag(b, false, file, line,
                                 "%s: unit name %s is too long (%zu > %d characters)",
                                 owner, name, strlen(name), UNIT_NAME_MAX);

        if (2 * (b->n_names + 1) >= b->name_index_size) {
                r = name_index_grow(b);
                if (r < 0)
                        return r;
        }
        slot = name_slot(b, name);
        if (*slot > 0) {
                const name_use *u = &b->names[*slot - 1];

                return push_diag(b, false, file, line,
                                 "%s: unit name %s is also the name for %s (%s:%u); "
                                 "rename one of them", owner, name, u->owner, u->file, u->line);
        }

        nm = strdup(name);
        ow = strdup(owner);
        n = reallocarray(b->names, b->n_names + 1, sizeof(name_use));
        if (!nm || !ow || !n) {
                free(nm);
                free(ow);
                if (n)
                        b->names = n;
                return -ENOMEM;
        }
        b->names = n;
        b->names[b->n_names++] = (name_use) {
                .name = nm,
                .owner = ow,
                .file = file,
                .line = line,
        };
        *slot = b->n_names;
        return 0;
}

/* Doubles every '%' (systemd specifiers). */
static char *escape_specifiers(const char *s) {
        size_t n = 0;
        char *r, *p;

        for (const char *q = s; *q; q++)
                n += *q == '%' ? 2 : 1;
        r = malloc(n + 1);
        if (!r)
                return NULL;
        p = r;
        for (const char *q = s; *q; q++) {
                *p++ = *q;
                if (*q == '%')
                        *p++ = '%';
        }
        *p = '\0';
        return r;
}

static bool has_cc(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < ' ' || *p == 0x7f)
                        return true;
        return false;
}

/* ---- the pieces, public for tests ------------------------------------------------------- */

int unit_name_escape(const char *s, unsigned flags, char **ret) {
        _cleanup_free_ char *simplified = NULL, *r = NULL;
        const char *in = s;
        char *p;

        if (flags & UNIT_ESCAPE_PATH) {
                /* Drop leading, trailing and duplicate slashes, as systemd-escape --path. */
                char *q;

                simplified = malloc(strlen(s) + 1);
                if (!simplified)
                        return -ENOMEM;
                q = simplified;
                for (const char *c = s; *c; c++) {
                        if (*c == '/' && (q == simplified || q[-1] == '/'))
                                continue;
                        *q++ = *c;
                }
                if (q > simplified && q[-1] == '/')
                        q--;
                *q = '\0';
                in = simplified;
        }

        if (isempty(in))
                return -EINVAL;

        r = malloc(strlen(in) * 4 + 1);
        if (!r)
                return -ENOMEM;
        p = r;
        for (const char *c = in; *c; c++) {
                unsigned char u = (unsigned char) *c;

                if (u == '/')
                        *p++ = '-';
                else if (u == '.' && c == in)
                        p += sprintf(p, "\\x%02x", u);
                else if (isascii(u) && (isalnum(u) || u == ':' || u == '_' || u == '.' ||
                                        (u == '-' && (flags & UNIT_ESCAPE_KEEP_DASH))))
                        *p++ = (char) u;
                else
                        p += sprintf(p, "\\x%02x", u);
        }
        *p = '\0';

        *ret = TAKE_PTR(r);
        return 0;
}

/* One word of an Environment= or Exec*= line. DOLLAR: also double '$'. Control characters
 * are written as C escapes ("\x09") inside double quotes, which systemd unescapes in both
 * kinds of line (systemd.syntax(7), "Quoting"); since v248 it accepts them in values. */
static int quote_word(const char *w, bool dollar, char **ret) {
        bool need_quotes = false, single, cc = has_cc(w);
        char *r, *p;

        for (const char *c = w; *c; c++)
                if (strchr(" \t\"'\\", *c))
                        need_quotes = true;
        if (dollar && streq(w, ";"))
                need_quotes = true;
        if (cc)
                need_quotes = true;
        /* Single quotes when nothing inside needs an escape: they read best. */
        single = !cc && !strchr(w, '\'') && !strchr(w, '\\');

        r = malloc(strlen(w) * 4 + 3);
        if (!r)
                return -ENOMEM;
        p = r;
        if (need_quotes)
                *p++ = single ? '\'' : '"';
        for (const char *c = w; *c; c++) {
                unsigned char u = (unsigned char) *c;

                if (u < ' ' || u == 0x7f) {
                        p += sprintf(p, "\\x%02x", u);
                        continue;
                }
                if (*c == '%' || (dollar && *c == '$'))
                        *p++ = *c;
                else if (need_quotes && !single && (*c == '"' || *c == '\\'))
                        *p++ = '\\';
                *p++ = *c;
        }
        if (need_quotes)
                *p++ = single ? '\'' : '"';
        *p = '\0';

        *ret = r;
        return 0;
}

int unit_env_assignment(const char *name, const char *value, char **ret) {
        _cleanup_free_ char *a = NULL;

        if (!strf(&a, "%s=%s", name, value ?: ""))
                return -ENOMEM;
        return quote_word(a, false, ret);
}

int unit_exec_word(const char *word, char **ret) {
        if (isempty(word))
                return -EINVAL;
        return quote_word(word, true, ret);
}

unsigned unit_backlog(unsigned process_limit, unsigned client_limit) {
        uint64_t b = (uint64_t) process_limit * client_limit;

        if (b < 4)
                return 4;
        if (b > 511)
                return 511;
        return (unsigned) b;
}

int unit_listener_fdname(const listener *l, char **ret) {
        const char *n = l->name ?: "";
        char *r;

        if (l->kind != LISTENER_INET) {
                const char *slash = strrchr(n, '/');

                if (slash)
                        n = slash + 1;
        }
        r = strdup(n);
        if (!r)
                return -ENOMEM;
        *ret = r;
        return 0;
}

bool unit_service_supervised(const service *s) {
        /* Dovecot's programs need a master (status pipe, fds 3-7...) even alone. */
        return s->eff_process_limit > 1 || service_is_dovecot(s);
}

/* ---- writing unit text ------------------------------------------------------------------ */

typedef struct text {
        char *buf;
        size_t size;
        FILE *f;
} text;

static int text_open(text *t) {
        *t = (text) {};
        t->f = open_memstream(&t->buf, &t->size);
        return t->f ? 0 : -ENOMEM;
}

/* Closes T and hands out the text; NULL on failure. */
static char *text_take(text *t) {
        bool bad = ferror(t->f);

        if (fclose(t->f) != 0)
                bad = true;
        t->f = NULL;
        if (bad)
                t->buf = mfree(t->buf);
        return TAKE_PTR(t->buf);
}

static void text_done(text *t) {
        if (t->f)
                fclose(t->f);
        t->f = NULL;
        t->buf = mfree(t->buf);
}

/* KEY=VALUE with '%' escaped. */
static int put(text *t, const char *key, const char *value) {
        _cleanup_free_ char *e = escape_specifiers(value);

        if (!e)
                return -ENOMEM;
        fprintf(t->f, "%s=%s\n", key, e);
        return 0;
}

static int putf(text *t, const char *key, const char *fmt, ...) _printf_(3, 4);
static int putf(text *t, const char *key, const char *fmt, ...) {
        _cleanup_free_ char *v = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&v, fmt, ap) < 0)
                v = NULL;
        va_end(ap);
        if (!v)
                return -ENOMEM;
        return put(t, key, v);
}

static int put_exec(text *t, const char *key, char * const *argv) {
        fprintf(t->f, "%s=", key);
        for (size_t i = 0; argv[i]; i++) {
                _cleanup_free_ char *w = NULL;
                int r;

                r = unit_exec_word(argv[i], &w);
                if (r < 0)
                        return r;
                fprintf(t->f, "%s%s", i > 0 ? " " : "", w);
        }
        fputc('\n', t->f);
        return 0;
}

static int put_env(text *t, const char *name, const char *value) {
        _cleanup_free_ char *a = NULL;
        int r;

        r = unit_env_assignment(name, value, &a);
        if (r < 0)
                return r;
        fprintf(t->f, "Environment=%s\n", a);
        return 0;
}

static int put_header(builder *b, text *t, const char *source, const char *description) {
        _cleanup_free_ char *abs = NULL;

        if (source[0] != '/') {
                char cwd[PATH_MAX];

                if (!getcwd(cwd, sizeof(cwd)))
                        return -errno;
                if (!strf(&abs, "%s/%s", cwd, source))
                        return -ENOMEM;
                source = abs;
        }

        /* DESCRIPTION is written as it is: callers escape '%' (a template keeps "%i"). */
        fprintf(t->f, "# Automatically generated by %s\n\n[Unit]\nDescription=%s\n",
                GENERATOR_NAME, description);
        if (put(t, "Documentation", DOCUMENTATION) < 0 ||
            put(t, "SourcePath", source) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- units ------------------------------------------------------------------------------ */

static const char *expand_default(const config *c, const char *v) {
        if (!v)
                return "";
        if (streq(v, "$default_internal_user"))
                return c->default_internal_user ?: "";
        if (streq(v, "$default_internal_group"))
                return c->default_internal_group ?: "";
        if (streq(v, "$default_login_user"))
                return c->default_login_user ?: "";
        return v;
}

static const char *listener_kind_name(listener_kind k) {
        switch (k) {
        case LISTENER_UNIX:
                return "unix_listener";
        case LISTENER_FIFO:
                return "fifo_listener";
        default:
                return "inet_listener";
        }
}

/* Appends the ListenStream= lines of an inet listener and its address flags. Records an
 * error for a host name. */
static int put_inet_listen(builder *b, text *t, const service *s, const listener *l) {
        bool v6 = false, specific = false;
        int r;

        for (char **a = l->addresses; a && *a; a++) {
                const char *addr = *a;
                _cleanup_free_ char *bare = NULL, *zone = NULL;
                unsigned char buf[sizeof(struct in6_addr)];

                if (streq(addr, "*")) {
                        fprintf(t->f, "ListenStream=0.0.0.0:%u\n", l->port);
                        continue;
                }
                if (streq(addr, "::") || streq(addr, "[::]")) {
                        fprintf(t->f, "ListenStream=[::]:%u\n", l->port);
                        v6 = true;
                        continue;
                }
                if (strcaseeq(addr, "localhost")) {
                        fprintf(t->f, "ListenStream=127.0.0.1:%u\n", l->port);
                        fprintf(t->f, "ListenStream=[::1]:%u\n", l->port);
                        v6 = specific = true;
                        continue;
                }

                /* "[addr]" and "addr%zone" are accepted for IPv6. */
                if (addr[0] == '[' && addr[strlen(addr) - 1] == ']')
                        bare = strndup(addr + 1, strlen(addr) - 2);
                else
                        bare = strdup(addr);
                if (!bare)
                        return -ENOMEM;
                char *pct = strchr(bare, '%');
                if (pct) {
                        zone = strdup(pct + 1);
                        if (!zone)
                                return -ENOMEM;
                        *pct = '\0';
                }

                if (!zone && inet_pton(AF_INET, bare, buf) == 1) {
                        r = putf(t, "ListenStream", "%s:%u", bare, l->port);
                        if (r < 0)
                                return r;
                        specific = true;
                } else if (inet_pton(AF_INET6, bare, buf) == 1) {
                        if (zone)
                                r = putf(t, "ListenStream", "[%s%%%s]:%u", bare, zone, l->port);
                        else
                                r = putf(t, "ListenStream", "[%s]:%u", bare, l->port);
                        if (r < 0)
                                return r;
                        v6 = true;
                        if (!streq(bare, "::"))
                                specific = true;
                } else {
                        r = push_diag(b, false, l->file ?: s->file, l->line ?: s->line,
                                      "service(%s): inet_listener %s: address %s is not an IP "
                                      "address; a generator can't resolve host names",
                                      s->name, l->name, addr);
                        if (r < 0)
                                return r;
                }
        }

        if (v6)
                fputs("BindIPv6Only=ipv6-only\n", t->f);
        if (specific)
                fputs("FreeBind=yes\n", t->f);
        return 0;
}

/* "PREFIX service NAME[, KIND LISTENER[, connection %i]]", '%' escaped in the names. */
static char *describe(builder *b, const service *s, const listener *l, bool connection) {
        _cleanup_free_ char *p = escape_specifiers(b->prefix), *n = escape_specifiers(s->name),
                *ln = l ? escape_specifiers(l->name) : NULL;
        char *r;

        if (!p || !n || (l && !ln))
                return NULL;
        if (!l)
                return strf(&r, "%s service %s", p, n);
        return strf(&r, "%s service %s, %s %s%s", p, n, listener_kind_name(l->kind), ln,
                    connection ? ", connection %i" : "");
}

static int put_common_unit_deps(builder *b, text *t, bool dirs) {
        int r;

        r = put(t, "PartOf", b->target);
        if (r < 0)
                return r;
        if (dirs) {
                r = put(t, "Wants", b->dirs_unit);
                if (r < 0)
                        return r;
                r = put(t, "After", b->dirs_unit);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool service_main_exits(const service *s) {
        /* Without a supervisor the main process itself exits after service_count clients. */
        return s->eff_process_limit <= 1 && s->service_count > 0;
}

static int build_socket(builder *b, const service *s, const listener *l, const char *name,
                        const char *fdname, const char *service_unit) {
        _cleanup_free_ char *desc = NULL;
        text t;
        int r;

        desc = describe(b, s, l, false);
        if (!desc)
                return -ENOMEM;

        r = text_open(&t);
        if (r < 0)
                return r;
        r = put_header(b, &t, l->file ?: s->file, desc);
        if (r < 0)
                goto fail;
        r = put_common_unit_deps(b, &t, l->kind != LISTENER_INET);
        if (r < 0)
                goto fail;

        fputs("\n[Socket]\n", t.f);
        switch (l->kind) {
        case LISTENER_INET:
                r = put_inet_listen(b, &t, s, l);
                if (r < 0)
                        goto fail;
                break;
        case LISTENER_UNIX:
        case LISTENER_FIFO:
                r = put(&t, l->kind == LISTENER_UNIX ? "ListenStream" : "ListenFIFO", l->path);
                if (r < 0)
                        goto fail;
                fprintf(t.f, "SocketMode=%04o\n", l->mode & 07777);
                if (!isempty(l->eff_user) && (r = put(&t, "SocketUser", l->eff_user)) < 0)
                        goto fail;
                if (!isempty(l->eff_group) && (r = put(&t, "SocketGroup", l->eff_group)) < 0)
                        goto fail;
                fputs("DirectoryMode=0755\n", t.f);
                break;
        }

        r = put(&t, "FileDescriptorName", fdname);
        if (r < 0)
                goto fail;
        if (l->kind != LISTENER_FIFO)
                fprintf(t.f, "Backlog=%u\n",
                        unit_backlog(s->eff_process_limit, s->eff_client_limit));
        if (l->kind == LISTENER_INET)
                fputs("KeepAlive=yes\n", t.f);
        if (l->kind == LISTENER_INET && l->reuse_port)
                fputs("ReusePort=yes\n", t.f);

        fputs("Accept=no\n", t.f);
        r = put(&t, "Service", service_unit);
        if (r < 0)
                goto fail;
        if (service_main_exits(s))
                fputs("TriggerLimitIntervalSec=0\n", t.f);

        char *content = text_take(&t);
        char *path = NULL;
        strf(&path, "%s.socket", name);
        return push_entry(b, path, content, false);

fail:
        text_done(&t);
        return r;
}

typedef struct listener_ref {
        const listener *l;
        char *fdname;
        char *socket;           /* unit name without ".socket" */
} listener_ref;

static int put_environment(builder *b, text *t, const service *s, const listener_ref *refs,
                           size_t n_refs) {
        const config *c = b->c;
        bool drop = s->drop_priv_before_exec;
        _cleanup_free_ char *listeners = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        f = open_memstream(&listeners, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n_refs; i++) {
                bool seen = false;

                /* Listeners the program sees under the same name are listed once. */
                for (size_t j = 0; j < i && !seen; j++)
                        seen = streq(refs[j].fdname, refs[i].fdname);
                if (seen)
                        continue;
                fprintf(f, "%s%s%s%s", i > 0 ? ";" : "", refs[i].fdname,
                        refs[i].l->ssl ? ":ssl" : "", refs[i].l->haproxy ? ":haproxy" : "");
        }
        if (fclose(f) != 0 || !listeners)
                return -ENOMEM;

        struct {
                const char *name;
                const char *value;
                unsigned number;
        } env[] = {
                { DOVESD_ENV_SERVICE, s->name },
                { DOVESD_ENV_TYPE, s->type ?: "" },
                { DOVESD_ENV_CLIENT_LIMIT, NULL, s->eff_client_limit },
                { DOVESD_ENV_SERVICE_COUNT, NULL, s->service_count },
                { DOVESD_ENV_PROCESS_LIMIT, NULL, s->eff_process_limit },
                { DOVESD_ENV_PROCESS_MIN_AVAIL, NULL, s->process_min_avail },
                { DOVESD_ENV_IDLE_KILL, NULL, s->eff_idle_kill },
                { DOVESD_ENV_LISTENERS, listeners },
                { DOVESD_ENV_USER, drop ? "" : expand_default(c, s->eff_user) },
                { DOVESD_ENV_GROUP, drop ? "" : expand_default(c, s->eff_group) },
                { DOVESD_ENV_EXTRA_GROUPS, drop ? "" : expand_default(c, s->eff_extra_groups) },
                { DOVESD_ENV_PRIVILEGED_GROUP, drop ? "" : expand_default(c, s->eff_privileged_group) },
                { DOVESD_ENV_CHROOT, drop ? "" : (s->eff_chroot ?: "") },
                { DOVESD_ENV_HAPROXY_TRUSTED_NETWORKS, c->haproxy_trusted_networks ?: "" },
                { DOVESD_ENV_HAPROXY_TIMEOUT, NULL, c->haproxy_timeout },
        };

        for (size_t i = 0; i < ELEMENTSOF(env); i++) {
                char num[16];
                const char *v = env[i].value;

                if (!v) {
                        snprintf(num, sizeof(num), "%u", env[i].number);
                        v = num;
                }
                r = put_env(t, env[i].name, v);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- the sandbox ---------------------------------------------------------------------- */

/* Is PATH the directory DIR or below it? */
static bool path_in(const char *path, const char *dir) {
        size_t n = strlen(dir);

        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Does the process stay root? User names are never resolved: only an empty user (Dovecot's
 * "run as root") and the literal name "root" are known to be uid 0. */
static bool service_runs_as_root(const config *c, const service *s) {
        const char *user = expand_default(c, s->eff_user);

        return isempty(user) || streq(user, "root");
}

/* The capability bounding set: exactly what the start-as-root-then-drop sequence needs.
 * Sockets are always bound by systemd (also with drop_priv_before_exec=yes: the unit's
 * sockets are passed in), so CAP_NET_BIND_SERVICE is never needed. */
static const char *sandbox_capabilities_of_workers(const config *c, const service *s) {
        if (service_runs_as_root(c, s))
                /* The process stays root and does root's work for every mail user: imap, pop3,
                 * lmtp, submission, doveadm, indexer-worker switch to the mail user themselves
                 * (SETUID, SETGID; mail_chroot: SYS_CHROOT); auth-worker reads passwd files
                 * and lmtp reads users' homes and mail of any owner before the switch
                 * (DAC_OVERRIDE, DAC_READ_SEARCH); mail directories are created and handed
                 * to their owner (CHOWN, FOWNER); libdovesd drops the bounding set (SETPCAP).
                 * Broad, but explicit: no SYS_ADMIN, SYS_PTRACE, NET_ADMIN, SYS_MODULE, … */
                return "CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_SETGID "
                       "CAP_SETUID CAP_SETPCAP CAP_SYS_CHROOT";
        if (s->drop_priv_before_exec)
                /* systemd switched to User= before exec: a non-root process has no capability
                 * to keep, and nothing in the bounding set could be regained (NoNewPrivileges). */
                return "";
        if (!isempty(s->eff_chroot))
                /* setgroups/setresgid (SETGID), setresuid (SETUID), chroot (SYS_CHROOT),
                 * libdovesd's PR_CAPBSET_DROP of every capability (SETPCAP). */
                return "CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_SYS_CHROOT";
        return "CAP_SETGID CAP_SETUID CAP_SETPCAP";
}

/* The unit's bounding set: what its workers need, and for dovesd-supervisor (which stays
 * root) CAP_KILL: its workers switch to their user, and a root process signals another
 * user's process (idle SIGINT, reload SIGQUIT, login SIGUSR1, stop SIGTERM) only with it. */
static const char *sandbox_capabilities(const config *c, const service *s, char *buf,
                                        size_t size) {
        const char *w = sandbox_capabilities_of_workers(c, s);

        if (!unit_service_supervised(s) || s->drop_priv_before_exec)
                return w;
        snprintf(buf, size, "%s CAP_KILL", w);
        return buf;
}

/* Writes a sandbox (man dovesd.units(7)): CAPS is the bounding set, CHROOT the service's
 * chroot or NULL, REMOVE_IPC for a unit with User=. Every line can be relaxed by the admin
 * with a drop-in (systemctl edit UNIT). */
static int put_sandbox(text *t, const char *caps, const char *chroot, bool remove_ipc) {
        bool chrooted = !isempty(chroot);
        int r;

        /* No gain of privileges through exec (setuid/setgid binaries, file capabilities).
         * It does not block the in-process drop: setgroups, setresgid, chroot and setresuid
         * by a process that already holds the capabilities. */
        fputs("NoNewPrivileges=yes\n", t->f);
        r = put(t, "CapabilityBoundingSet", caps);
        if (r < 0)
                return r;
        /* The filter applies to socket(2) only: listening fds passed in by systemd are
         * accepted on whatever their family. AF_UNIX for journald, sd_notify and Dovecot's
         * own sockets; AF_INET/AF_INET6 always, not only with inet listeners, because the
         * programs connect out over TCP in ways a service section does not show (auth to
         * SQL/LDAP, login proxying to backends, lmtp proxy, submission relay, dict, fts via
         * HTTP, doveadm_server). PROXY protocol needs nothing more. Everything else
         * (AF_NETLINK, AF_PACKET, …) is refused. */
        fputs("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n", t->f);
        /* mail_temp_dir defaults to /tmp: a private one is fine, the files are the
         * process's own. */
        fputs("PrivateTmp=yes\n", t->f);
        /* /dev/null, zero, (u)random, tty only; no raw devices, no mknod. */
        fputs("PrivateDevices=yes\n", t->f);
        if (chrooted) {
                _cleanup_free_ char *rw = NULL, *w = NULL;

                /* A chrooted process works inside its chroot (Dovecot's login, anvil, ipc,
                 * director: under base_dir): everything else read-only, the chroot itself
                 * writable as its permissions allow, homes hidden unless the chroot is
                 * there. */
                fputs("ProtectSystem=strict\n", t->f);
                if (!strf(&rw, "-%s", chroot))
                        return -ENOMEM;
                r = quote_word(rw, false, &w);
                if (r < 0)
                        return r;
                fprintf(t->f, "ReadWritePaths=%s\n", w);
                if (!path_in(chroot, "/home") && !path_in(chroot, "/root") &&
                    !path_in(chroot, "/run/user"))
                        fputs("ProtectHome=yes\n", t->f);
        } else
                /* /usr, /boot, /etc read-only; not strict: mail storage (/var/mail,
                 * /var/vmail, /var/lib/dovecot, index dirs) is wherever mail_location says,
                 * which the generator does not know. ProtectHome= stays off for the same
                 * reason: ~/Maildir under /home is Dovecot's most common layout. */
                fputs("ProtectSystem=full\n", t->f);
        /* Nothing in a mail service writes kernel tunables, loads modules, reads the kernel
         * log (journald is the log), changes cgroups, the clock or the host name, creates
         * namespaces, asks for realtime scheduling, creates setuid/setgid files (relax
         * for shared mailboxes that rely on setgid directories), or changes personality. */
        fputs("ProtectKernelTunables=yes\n"
              "ProtectKernelModules=yes\n"
              "ProtectKernelLogs=yes\n"
              "ProtectControlGroups=yes\n"
              "ProtectClock=yes\n"
              "ProtectHostname=yes\n", t->f);
        /* Other users' processes are invisible in /proc: dovesd-supervisor signals its
         * workers and never reads their /proc entries; it reads the environment of its own
         * ExecReload= command, which runs as root. */
        fputs("ProtectProc=invisible\n", t->f);
        fputs("RestrictNamespaces=yes\n"
              "RestrictRealtime=yes\n"
              "RestrictSUIDSGID=yes\n"
              "LockPersonality=yes\n", t->f);
        /* C code needs no writable+executable memory; a program with a JIT (LuaJIT for
         * auth/mail Lua, PCRE2's JIT) must relax this line. */
        fputs("MemoryDenyWriteExecute=yes\n", t->f);
        fputs("SystemCallArchitectures=native\n", t->f);
        /* @system-service holds @setuid (setgroups, setresgid, setresuid) and capset; prctl
         * (PR_CAPBSET_DROP) is in @process. chroot(2) is only in @mount/@privileged: added
         * for a chrooted service. Anything else fails with EPERM instead of killing the
         * process, so that the program logs what it tried. */
        fputs("SystemCallFilter=@system-service\n", t->f);
        if (chrooted)
                fputs("SystemCallFilter=chroot\n", t->f);
        fputs("SystemCallErrorNumber=EPERM\n", t->f);
        /* Dovecot's master runs every service with umask 0077; listener modes are applied by
         * systemd (SocketMode=), not by the service's umask. */
        fputs("UMask=0077\n", t->f);
        /* With User= (drop_priv_before_exec=yes), the user's System V IPC and POSIX message
         * queues go away when the unit stops. No effect on root. */
        if (remove_ipc)
                fputs("RemoveIPC=yes\n", t->f);
        return 0;
}

static int put_service_sandbox(builder *b, text *t, const service *s) {
        char caps[256];

        return put_sandbox(t, sandbox_capabilities(b->c, s, caps, sizeof(caps)), s->eff_chroot,
                           s->drop_priv_before_exec && !service_runs_as_root(b->c, s));
}

/* ---- Dovecot's own programs (man dovesd.units(7), RUNNING DOVECOT) ---------------------- */

/* Every Dovecot program runs under the supervisor, also at process_limit 1: it is their
 * master (status pipe, master-dead pipe, fds 3-7…, environment). */
/* Anvil's shared pipe (fd 3 of every worker, fd 8 of anvil), as a FIFO socket of the anvil
 * service; held open by systemd, so writers never see EPIPE while anvil restarts. */
#define DOVECOT_ANVIL_FIFO "dovesd-anvil-shared"

static bool listener_name_shared(const service *s, const listener *l);
static int make_ref(builder *b, const service *s, const listener *l, const char *unit,
                    bool by_path, listener_ref *ref);

static bool service_type_is(const service *s, const char *type) {
        return streq(s->type ?: "", type);
}

/* The enabled Dovecot service of TYPE (config, anvil), or NULL. */
static const service *dovecot_service_of_type(builder *b, const char *type) {
        for (size_t i = 0; i < b->c->n_services; i++) {
                const service *o = &b->c->services[i];

                if (o->enabled && service_is_dovecot(o) && service_type_is(o, type))
                        return o;
        }
        return NULL;
}

static int dovecot_unit_of(builder *b, const service *s, char **ret) {
        _cleanup_free_ char *svc = NULL;
        int r;

        r = unit_name_escape(s->name, UNIT_ESCAPE_KEEP_DASH, &svc);
        if (r < 0)
                return r;
        return strf(ret, "%s-%s", b->prefix, svc) ? 0 : -ENOMEM;
}

static int dovecot_anvil_fifo_unit(builder *b, const service *anvil, char **ret) {
        _cleanup_free_ char *unit = NULL;
        int r;

        r = dovecot_unit_of(b, anvil, &unit);
        if (r < 0)
                return r;
        return strf(ret, "%s-anvil-shared.socket", unit) ? 0 : -ENOMEM;
}

/* Wants= and After= every socket of service O (the config process). */
static int put_dovecot_socket_deps(builder *b, text *t, const service *o) {
        _cleanup_free_ char *unit = NULL;
        int r;

        r = dovecot_unit_of(b, o, &unit);
        if (r < 0)
                return r;
        for (size_t i = 0; i < o->n_listeners; i++) {
                const listener *l = &o->listeners[i];
                listener_ref ref = {};
                _cleanup_free_ char *sock = NULL;

                if (!l->enabled)
                        continue;
                r = make_ref(b, o, l, unit, listener_name_shared(o, l), &ref);
                if (r <= 0)
                        return r;
                if (!strf(&sock, "%s.socket", ref.socket))
                        r = -ENOMEM;
                free(ref.fdname);
                free(ref.socket);
                if (r < 0)
                        return r;
                if ((r = put(t, "Wants", sock)) < 0 || (r = put(t, "After", sock)) < 0)
                        return r;
        }
        return 0;
}

/* [Unit] lines of a Dovecot service: its programs read their settings from the config
 * process and write to anvil's shared pipe from the first moment. */
static int put_dovecot_deps(builder *b, text *t, const service *s) {
        const service *cfg = dovecot_service_of_type(b, "config");
        const service *anvil = dovecot_service_of_type(b, "anvil");
        int r;

        if (cfg && cfg != s) {
                _cleanup_free_ char *unit = NULL, *svc = NULL;

                r = put_dovecot_socket_deps(b, t, cfg);
                if (r < 0)
                        return r;
                /* Ordered after the config service too (no Wants=: it starts on demand):
                 * when dovesd.target is reloaded, the config process's new generation comes
                 * first, so that this service's new workers read the new settings. */
                r = dovecot_unit_of(b, cfg, &unit);
                if (r < 0)
                        return r;
                if (!strf(&svc, "%s.service", unit))
                        return -ENOMEM;
                r = put(t, "After", svc);
                if (r < 0)
                        return r;
        }
        if (anvil && !service_type_is(s, "config")) {
                _cleanup_free_ char *fifo = NULL;

                r = dovecot_anvil_fifo_unit(b, anvil, &fifo);
                if (r < 0)
                        return r;
                if ((r = put(t, "Wants", fifo)) < 0 || (r = put(t, "After", fifo)) < 0)
                        return r;
        }
        return 0;
}

/* ExecStart=: the program, behind dovesd-supervisor when the service has more than one
 * process. ExecReload=: '+' runs it outside the sandbox and as root, so that it may signal a
 * main process that is no longer root (process_limit = 1 after dovesd_service_restrict()),
 * and with the reloaded unit's environment, which the supervisor reads from it. */
static int put_exec_lines(builder *b, text *t, const service *s) {
        _cleanup_free_ char **argv = NULL;
        size_t n = 0;
        int r;

        if (!unit_service_supervised(s)) {
                r = put_exec(t, "ExecStart", s->eff_argv);
                if (r < 0)
                        return r;
                fputs("ExecReload=+/bin/kill -HUP $MAINPID\n", t->f);
                return 0;
        }

        while (s->eff_argv[n])
                n++;
        argv = calloc(n + 2, sizeof(char *));
        if (!argv)
                return -ENOMEM;
        argv[0] = (char *) DOVESD_SUPERVISOR_PATH;
        memcpy(argv + 1, s->eff_argv, n * sizeof(char *));
        r = put_exec(t, "ExecStart", argv);
        if (r < 0)
                return r;
        fputs("ExecReload=+" DOVESD_SUPERVISOR_PATH " --reload $MAINPID\n", t->f);
        return 0;
}


/* The supervisor's extra input for the Dovecot kind. */
static int put_dovecot_environment(builder *b, text *t, const service *s) {
        const service *anvil = dovecot_service_of_type(b, "anvil");
        _cleanup_free_ char *fifo = NULL;
        int r;

        if (anvil && !service_type_is(s, "config") &&
            !strf(&fifo, "%s/" DOVECOT_ANVIL_FIFO, b->c->base_dir))
                return -ENOMEM;
        r = put_env(t, DOVESD_ENV_WORKER_KIND, DOVESD_WORKER_KIND_DOVECOT);
        if (r < 0)
                return r;
        r = put_env(t, DOVESD_ENV_BASE_DIR, b->c->base_dir);
        if (r < 0)
                return r;
        /* The file Dovecot's config process serves (its CONFIG_FILE). */
        if (service_type_is(s, "config") && (r = put_env(t, DOVESD_ENV_CONFIG_FILE, b->c->path)) < 0)
                return r;
        return put_env(t, DOVESD_ENV_ANVIL_FIFO, fifo ?: "");
}

/* For the anvil service: the FIFO socket of its shared pipe (fd 8 of anvil). */
static int build_dovecot_anvil_fifo(builder *b, const service *s, const char *unit) {
        _cleanup_free_ char *desc = NULL, *path = NULL, *name = NULL, *svc = NULL, *owner = NULL;
        text t;
        int r;

        if (!strf(&name, "%s-anvil-shared.socket", unit) || !strf(&svc, "%s.service", unit) ||
            !strf(&path, "%s/" DOVECOT_ANVIL_FIFO, b->c->base_dir) ||
            !strf(&owner, "service(%s) anvil's shared pipe", s->name))
                return -ENOMEM;
        desc = describe(b, s, NULL, false);
        if (!desc)
                return -ENOMEM;
        r = claim_name(b, name, owner, s->file, s->line);
        if (r < 0 || b->n_errors > 0)
                return r;

        r = text_open(&t);
        if (r < 0)
                return r;
        r = put_header(b, &t, s->file, desc);
        if (r < 0)
                goto fail;
        r = put_common_unit_deps(b, &t, true);
        if (r < 0)
                goto fail;
        fputs("\n[Socket]\n", t.f);
        r = put(&t, "ListenFIFO", path);
        if (r < 0)
                goto fail;
        /* Written by the supervisors (root) before they fork a worker; read by anvil. */
        fputs("SocketMode=0600\nDirectoryMode=0755\nFileDescriptorName=" DOVECOT_ANVIL_FIFO
              "\nAccept=no\n", t.f);
        r = put(&t, "Service", svc);
        if (r < 0)
                goto fail;
        r = push_entry(b, strdup(name), text_take(&t), false);
        if (r < 0)
                return r;
        return push_wants(b, b->target, name);

fail:
        text_done(&t);
        return r;
}

static int build_service(builder *b, const service *s, const char *unit, const char *slice,
                         const listener_ref *refs, size_t n_refs) {
        const config *c = b->c;
        _cleanup_free_ char *desc = NULL, *path = NULL;
        bool boot = streq(s->type ?: "", "startup") || s->process_min_avail > 0;
        bool dovecot = service_is_dovecot(s);
        char *content;
        text t;
        int r;

        desc = describe(b, s, NULL, false);
        if (!desc || !strf(&path, "%s.service", unit))
                return -ENOMEM;

        r = text_open(&t);
        if (r < 0)
                return r;
        r = put_header(b, &t, s->file, desc);
        if (r < 0)
                goto fail;
        r = put_common_unit_deps(b, &t, true);
        if (r < 0)
                goto fail;
        if (dovecot && (r = put_dovecot_deps(b, &t, s)) < 0)
                goto fail;
        r = put(&t, "ReloadPropagatedFrom", b->target);
        if (r < 0)
                goto fail;
        if (!streq(b->target, "dovesd.target") &&
            (r = put(&t, "ReloadPropagatedFrom", "dovesd.target")) < 0)
                goto fail;
        /* At a reload of the target the apply unit goes first: it makes the runtime
         * directories of the new config (a new chroot) before new workers need them. */
        r = put(&t, "After", b->apply_unit);
        if (r < 0)
                goto fail;
        if (service_main_exits(s))
                fputs("StartLimitIntervalSec=0\n", t.f);

        fputs("\n[Service]\nType=notify\nNotifyAccess=all\n", t.f);
        r = put_exec_lines(b, &t, s);
        if (r == -EINVAL)
                r = push_diag(b, false, s->file, s->line,
                              "service(%s): executable has an empty argument (two spaces in "
                              "a row?)", s->name);
        if (r < 0)
                goto fail;
        fprintf(t.f, "Restart=%s\n", boot ? "always" : "on-failure");
        fputs("TimeoutStopSec=" STOP_TIMEOUT "\n", t.f);
        r = put(&t, "Slice", slice);
        if (r < 0)
                goto fail;
        if (n_refs > 0) {
                /* systemd splits Sockets= with extract_first_word(…, 0): a backslash escapes
                 * the next character and is dropped, so the "\xNN" of an escaped name needs
                 * "\\xNN" (the dependency settings keep escapes, Slice= and Service= are not
                 * split: there the names go as they are). */
                fputs("Sockets=", t.f);
                for (size_t i = 0; i < n_refs; i++) {
                        if (i > 0)
                                fputc(' ', t.f);
                        for (const char *p = refs[i].socket; *p; p++) {
                                if (*p == '\\')
                                        fputc('\\', t.f);
                                fputc(*p, t.f);
                        }
                        fputs(".socket", t.f);
                }
                fputc('\n', t.f);
        }
        if (dovecot && service_type_is(s, "anvil"))
                fprintf(t.f, "Sockets=%s-anvil-shared.socket\n", unit);

        if (s->drop_priv_before_exec) {
                const char *user = expand_default(c, s->eff_user);
                const char *group = expand_default(c, s->eff_group);
                const char *extra = expand_default(c, s->eff_extra_groups);
                const char *priv = expand_default(c, s->eff_privileged_group);

                if (!isempty(user) && (r = put(&t, "User", user)) < 0)
                        goto fail;
                if (!isempty(group) && (r = put(&t, "Group", group)) < 0)
                        goto fail;
                if (!isempty(extra) || !isempty(priv)) {
                        _cleanup_free_ char *groups = NULL;
                        bool sep = false;
                        char *save = NULL;

                        /* extra_groups is a list separated by commas and/or blanks. */
                        if (!strf(&groups, "%s %s", extra, priv)) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        fputs("SupplementaryGroups=", t.f);
                        for (char *w = strtok_r(groups, ", \t", &save); w;
                             w = strtok_r(NULL, ", \t", &save)) {
                                _cleanup_free_ char *e = escape_specifiers(w);

                                if (!e) {
                                        r = -ENOMEM;
                                        goto fail;
                                }
                                fprintf(t.f, "%s%s", sep ? " " : "", e);
                                sep = true;
                        }
                        fputc('\n', t.f);
                }
                if (!isempty(priv)) {
                        r = push_diag(b, true, s->file, s->line,
                                      "service(%s): privileged_group=%s with "
                                      "drop_priv_before_exec=yes is granted as a supplementary "
                                      "group for the whole run", s->name, priv);
                        if (r < 0)
                                goto fail;
                }
        }

        if (s->eff_vsz_limit > 0)
                fprintf(t.f, "LimitAS=%" PRIu64 "\nLimitDATA=%" PRIu64 "\n", s->eff_vsz_limit,
                        s->eff_vsz_limit);

        r = put_service_sandbox(b, &t, s);
        if (r < 0)
                goto fail;

        r = put_environment(b, &t, s, refs, n_refs);
        if (r < 0)
                goto fail;
        if (dovecot && (r = put_dovecot_environment(b, &t, s)) < 0)
                goto fail;

        content = text_take(&t);
        r = push_entry(b, TAKE_PTR(path), content, false);
        if (r < 0)
                return r;
        if (boot) {
                _cleanup_free_ char *n = NULL;

                if (!strf(&n, "%s.service", unit))
                        return -ENOMEM;
                return push_wants(b, b->target, n);
        }
        return 0;

fail:
        text_done(&t);
        return r;
}

static int build_slice(builder *b, const service *s, const char *slice) {
        _cleanup_free_ char *desc = NULL, *p = NULL, *n = NULL;
        unsigned tasks;
        text t;
        int r;

        p = escape_specifiers(b->prefix);
        n = escape_specifiers(s->name);
        if (!p || !n || !strf(&desc, "%s slice of service %s", p, n))
                return -ENOMEM;

        /* process_limit, a control process (ExecReload=), and with a supervisor: itself and
         * room for an old generation draining after a reload (process_limit counts only the
         * new one), so that the kernel's backstop never blocks the new generation. */
        tasks = s->eff_process_limit + 1;
        if (unit_service_supervised(s))
                tasks += 1 + s->eff_process_limit;

        r = text_open(&t);
        if (r < 0)
                return r;
        r = put_header(b, &t, s->file, desc);
        if (r < 0) {
                text_done(&t);
                return r;
        }
        fprintf(t.f, "\n[Slice]\nTasksMax=%u\n", tasks);

        return push_entry(b, strdup(slice), text_take(&t), false);
}

static void refs_free(listener_ref *refs, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(refs[i].fdname);
                free(refs[i].socket);
        }
        free(refs);
}

/* Fills REF for an enabled listener. Returns 1 when usable, 0 after recording an error. */
/* Does another enabled listener of S (of any kind, or only inet ones) reach the program under
 * the same name as L? */
static bool listener_name_shared_kind(const service *s, const listener *l, bool inet_only) {
        _cleanup_free_ char *mine = NULL;

        if (unit_listener_fdname(l, &mine) < 0)
                return false;
        for (size_t i = 0; i < s->n_listeners; i++) {
                const listener *o = &s->listeners[i];
                _cleanup_free_ char *other = NULL;

                if (o == l || !o->enabled || (inet_only && o->kind != LISTENER_INET) ||
                    unit_listener_fdname(o, &other) < 0)
                        continue;
                if (streq(mine, other))
                        return true;
        }
        return false;
}

static bool listener_name_shared(const service *s, const listener *l) {
        return listener_name_shared_kind(s, l, false);
}

static bool listener_name_shared_with_inet(const service *s, const listener *l) {
        return listener_name_shared_kind(s, l, true);
}

static int make_ref(builder *b, const service *s, const listener *l, const char *unit,
                    bool by_path, listener_ref *ref) {
        const char *file = l->file ?: s->file;
        unsigned line = l->line ?: s->line;
        const char *kind = listener_kind_name(l->kind);
        _cleanup_free_ char *fdname = NULL, *lst = NULL, *socket = NULL;
        int r;

        r = unit_listener_fdname(l, &fdname);
        if (r < 0)
                return r;
        if (isempty(fdname) || has_cc(fdname) || strlen(fdname) > 255 || strpbrk(fdname, ":;")) {
                r = push_diag(b, false, file, line,
                              "service(%s): %s %s: the listener name \"%s\" must not be empty "
                              "or hold ':', ';' or control characters", s->name, kind, l->name,
                              fdname);
                return r < 0 ? r : 0;
        }
        if (l->kind != LISTENER_INET && strlen(l->path) >= sizeof(((struct sockaddr_un) {}).sun_path)) {
                r = push_diag(b, false, file, line,
                              "service(%s): %s %s: path %s is too long for a socket "
                              "(%zu > %zu bytes)", s->name, kind, l->name, l->path,
                              strlen(l->path), sizeof(((struct sockaddr_un) {}).sun_path) - 1);
                return r < 0 ? r : 0;
        }

        /* Named as the program sees it, or by its path when that name is shared (see the top);
         * a path with no directory beside an inet listener of that name would be that name
         * again, so it gets its kind in front ("lmtp" beside inet_listener lmtp →
         * PREFIX-lmtp-unix-lmtp.socket). */
        if (by_path && l->kind != LISTENER_INET && !strchr(l->name, '/') &&
            listener_name_shared_with_inet(s, l)) {
                _cleanup_free_ char *p = NULL;

                r = unit_name_escape(l->name, UNIT_ESCAPE_KEEP_DASH | UNIT_ESCAPE_PATH, &p);
                if (r >= 0 && !strf(&lst, "%s-%s", l->kind == LISTENER_UNIX ? "unix" : "fifo", p))
                        r = -ENOMEM;
        } else if (by_path)
                r = unit_name_escape(l->name, UNIT_ESCAPE_KEEP_DASH | UNIT_ESCAPE_PATH, &lst);
        else
                r = unit_name_escape(fdname, UNIT_ESCAPE_KEEP_DASH, &lst);
        if (r == -EINVAL) {
                r = push_diag(b, false, file, line,
                              "service(%s): %s %s: the name gives no unit name", s->name, kind,
                              l->name);
                return r < 0 ? r : 0;
        }
        if (r < 0)
                return r;
        if (!strf(&socket, "%s-%s", unit, lst))
                return -ENOMEM;

        *ref = (listener_ref) {
                .l = l,
                .fdname = TAKE_PTR(fdname),
                .socket = TAKE_PTR(socket),
        };
        return 1;
}

static int build_one_service(builder *b, const service *s) {
        _cleanup_free_ char *svc = NULL, *svc_slice = NULL, *unit = NULL, *slice = NULL,
                *owner = NULL, *n = NULL;
        listener_ref *refs = NULL;
        size_t n_refs = 0;
        unsigned errors = b->n_errors;
        int r;

        if (!s->enabled)
                return push_note(b, UNIT_NOTE_DEBUG, s->file, s->line,
                                 "service(%s): not enabled (protocol not in protocols, or no "
                                 "executable), no units", s->name);
        if (streq(s->type ?: "", "log"))
                return push_note(b, UNIT_NOTE_INFO, s->file, s->line,
                                 "service(%s): type=log writes no units: journald collects the "
                                 "logs", s->name);

        if (s->drop_priv_before_exec && !isempty(s->eff_chroot))
                return push_diag(b, false, s->file, s->line,
                                 "service(%s): drop_priv_before_exec=yes can't be used with "
                                 "chroot", s->name);

        r = unit_name_escape(s->name, UNIT_ESCAPE_KEEP_DASH, &svc);
        if (r == -EINVAL)
                return push_diag(b, false, s->file, s->line, "Service is missing name");
        if (r < 0)
                return r;
        r = unit_name_escape(s->name, 0, &svc_slice);
        if (r < 0)
                return r;
        if (!strf(&unit, "%s-%s", b->prefix, svc) ||
            !strf(&slice, "%s%s.slice", b->slice_prefix, svc_slice) ||
            !strf(&owner, "service(%s)", s->name))
                return -ENOMEM;

        refs = calloc(s->n_listeners + 1, sizeof(listener_ref));
        if (!refs)
                return -ENOMEM;

        for (size_t i = 0; i < s->n_listeners; i++) {
                const listener *l = &s->listeners[i];

                if (!l->enabled) {
                        r = push_note(b, UNIT_NOTE_DEBUG, l->file ?: s->file,
                                      l->line ?: s->line,
                                      "service(%s): %s %s is disabled, no socket", s->name,
                                      listener_kind_name(l->kind), l->name);
                        if (r < 0)
                                goto finish;
                        continue;
                }
                r = make_ref(b, s, l, unit, listener_name_shared(s, l), &refs[n_refs]);
                if (r < 0)
                        goto finish;
                if (r > 0)
                        n_refs++;
        }

        /* Without a listener only boot starts a service (type=startup, process_min_avail >
         * 0), as with Dovecot's master; any other such service could never start. */
        if (n_refs == 0 && b->n_errors == errors &&
            !streq(s->type ?: "", "startup") && s->process_min_avail == 0) {
                r = push_note(b, UNIT_NOTE_INFO, s->file, s->line,
                              "service(%s): no enabled listener and not started at boot "
                              "(type=startup or process_min_avail > 0): nothing could start "
                              "it, no units", s->name);
                goto finish;
        }

        /* Claim every name first, so that all collisions are reported. */
        if (!strf(&n, "%s.service", unit)) {
                r = -ENOMEM;
                goto finish;
        }
        r = claim_name(b, n, owner, s->file, s->line);
        if (r < 0)
                goto finish;
        r = claim_name(b, slice, owner, s->file, s->line);
        if (r < 0)
                goto finish;
        for (size_t i = 0; i < n_refs; i++) {
                const listener *l = refs[i].l;
                _cleanup_free_ char *sock = NULL, *lowner = NULL;

                if (!strf(&lowner, "service(%s) %s %s", s->name, listener_kind_name(l->kind),
                          l->name) ||
                    !strf(&sock, "%s.socket", refs[i].socket)) {
                        r = -ENOMEM;
                        goto finish;
                }
                r = claim_name(b, sock, lowner, l->file ?: s->file, l->line ?: s->line);
                if (r < 0)
                        goto finish;
        }

        if (b->n_errors > 0) {
                /* Nothing is written anyway; keep looking for more errors. */
                r = 0;
                goto finish;
        }

        {
                const service **nb = reallocarray(b->built, b->n_built + 1, sizeof(service *));

                if (!nb) {
                        r = -ENOMEM;
                        goto finish;
                }
                b->built = nb;
                b->built[b->n_built++] = s;
        }
        for (size_t i = 0; i < n_refs; i++) {
                _cleanup_free_ char *sock = NULL, *svc_unit = NULL;

                if (!strf(&sock, "%s.socket", refs[i].socket) ||
                    !strf(&svc_unit, "%s.service", unit)) {
                        r = -ENOMEM;
                        goto finish;
                }
                r = build_socket(b, s, refs[i].l, refs[i].socket, refs[i].fdname, svc_unit);
                if (r < 0)
                        goto finish;
                r = push_wants(b, b->target, sock);
                if (r < 0)
                        goto finish;
        }
        if (service_is_dovecot(s) && service_type_is(s, "anvil")) {
                r = build_dovecot_anvil_fifo(b, s, unit);
                if (r < 0)
                        goto finish;
        }
        r = build_service(b, s, unit, slice, refs, n_refs);
        if (r < 0)
                goto finish;
        r = build_slice(b, s, slice);

finish:
        refs_free(refs, n_refs);
        return r;
}

/* ---- runtime directories ---------------------------------------------------------------- */

typedef enum dir_kind {
        DIR_PLAIN,              /* 0755 root:root */
        DIR_EMPTY_CHROOT,       /* 0755 root:root, must be empty */
        DIR_LOGIN_CHROOT,       /* 0750 root:<primary group of the chrooted user>, holds sockets */
} dir_kind;

typedef struct dir_spec {
        char *path;
        dir_kind kind;
        const char *user;
        size_t seq;             /* order of addition: the first of the highest kind wins */
} dir_spec;

static bool path_under(const char *path, const char *base) {
        size_t n = strlen(base);

        return strncmp(path, base, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}

/* Appends; dirs_merge() folds the duplicates once all are in. Linear in the number of
 * directories, not a search per addition: 20,000 chroots must not take seconds. */
static int dirs_add(dir_spec **dirs, size_t *n, const char *path, dir_kind kind,
                    const char *user) {
        dir_spec *nd = *dirs;
        char *p;

        p = strdup(path);
        if (p && *n % 64 == 0)
                nd = reallocarray(*dirs, *n + 64, sizeof(dir_spec));
        if (!p || !nd) {
                free(p);
                return -ENOMEM;
        }
        *dirs = nd;
        (*dirs)[*n] = (dir_spec) { .path = p, .kind = kind, .user = user, .seq = *n };
        (*n)++;
        return 0;
}

/* Is PATH absolute and normalized: no empty, "." or ".." component, no trailing '/'? */
static bool dir_path_normalized(const char *path) {
        if (path[0] != '/')
                return false;
        if (streq(path, "/"))
                return true;
        for (const char *p = path; *p; ) {
                size_t n;

                p++;                            /* the '/' */
                n = strcspn(p, "/");
                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                p += n;
        }
        return true;
}

static int dir_spec_cmp(const void *a, const void *b) {
        const dir_spec *x = a, *y = b;
        int r = strcmp(x->path, y->path);

        return r != 0 ? r : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sorts by path and folds each path into one entry: the highest kind, the first added. */
static void dirs_merge(dir_spec *dirs, size_t *n) {
        size_t w = 0;

        if (*n == 0)
                return;
        qsort(dirs, *n, sizeof(dir_spec), dir_spec_cmp);
        for (size_t i = 1; i < *n; i++) {
                if (streq(dirs[i].path, dirs[w].path)) {
                        if (dirs[i].kind > dirs[w].kind) {
                                dirs[w].kind = dirs[i].kind;
                                dirs[w].user = dirs[i].user;
                        }
                        free(dirs[i].path);
                        continue;
                }
                dirs[++w] = dirs[i];
        }
        *n = w + 1;
}

static int str_ptr_cmp(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

/* The directories that directly hold an enabled unix/fifo listener of a built service,
 * sorted for bsearch(). */
static int listener_dirs(builder *b, char ***ret, size_t *ret_n) {
        char **dirs = NULL;
        size_t n = 0, cap = 0;

        for (size_t i = 0; i < b->n_built; i++)
                for (size_t j = 0; j < b->built[i]->n_listeners; j++) {
                        const listener *l = &b->built[i]->listeners[j];
                        const char *slash;

                        if (!l->enabled || l->kind == LISTENER_INET ||
                            !(slash = strrchr(l->path, '/')))
                                continue;
                        if (n == cap) {
                                char **nd = reallocarray(dirs, cap = cap ? cap * 2 : 64,
                                                         sizeof(char *));
                                if (!nd)
                                        goto oom;
                                dirs = nd;
                        }
                        dirs[n] = strndup(l->path, (size_t) (slash - l->path));
                        if (!dirs[n])
                                goto oom;
                        n++;
                }
        if (n > 0)
                qsort(dirs, n, sizeof(char *), str_ptr_cmp);
        *ret = dirs;
        *ret_n = n;
        return 0;
oom:
        for (size_t i = 0; i < n; i++)
                free(dirs[i]);
        free(dirs);
        return -ENOMEM;
}

static int build_dirs(builder *b) {
        static const char script_empty[] =
                "install -d -m 0755 -o root -g root \"$1\"; "
                "if [ -n \"$(ls -A \"$1\")\" ]; then "
                "echo \"$1 is a chroot and must be empty\" >&2; exit 1; fi";
        static const char script_login[] =
                "g=$(id -g \"$2\"); install -d -m 0750 -o root -g \"$g\" \"$1\"";
        _cleanup_free_ char *base = NULL, *desc = NULL, *path = NULL;
        dir_spec *dirs = NULL;
        char **ldirs = NULL;
        size_t n_dirs = 0, n_ldirs = 0;
        text t = {};
        int r;

        base = strdup(b->c->base_dir ?: "/run/dovesd");
        if (!base)
                return -ENOMEM;
        while (strlen(base) > 1 && base[strlen(base) - 1] == '/')
                base[strlen(base) - 1] = '\0';

        r = dirs_add(&dirs, &n_dirs, base, DIR_PLAIN, NULL);
        if (r < 0)
                goto finish;
        r = listener_dirs(b, &ldirs, &n_ldirs);
        if (r < 0)
                goto finish;

        for (size_t i = 0; i < b->n_built; i++) {
                const service *s = b->built[i];
                const char *ch = s->eff_chroot;

                if (!isempty(ch) && path_under(ch, base)) {
                        const char *user = expand_default(b->c, s->eff_user);

                        if (n_ldirs > 0 && !isempty(user) &&
                            bsearch(&ch, ldirs, n_ldirs, sizeof(char *), str_ptr_cmp))
                                r = dirs_add(&dirs, &n_dirs, ch, DIR_LOGIN_CHROOT, user);
                        else
                                r = dirs_add(&dirs, &n_dirs, ch, DIR_EMPTY_CHROOT, NULL);
                        if (r < 0)
                                goto finish;
                }

                for (size_t j = 0; j < s->n_listeners; j++) {
                        const listener *l = &s->listeners[j];
                        _cleanup_free_ char *d = NULL;

                        if (!l->enabled || l->kind == LISTENER_INET || !path_under(l->path, base))
                                continue;
                        d = strdup(l->path);
                        if (!d) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        /* Every directory between base_dir and the socket. */
                        for (char *slash = strrchr(d, '/'); slash && slash > d + strlen(base);
                             slash = strrchr(d, '/')) {
                                *slash = '\0';
                                r = dirs_add(&dirs, &n_dirs, d, DIR_PLAIN, NULL);
                                if (r < 0)
                                        goto finish;
                        }
                }
        }
        dirs_merge(dirs, &n_dirs);

        /* Defence in depth: this unit runs as root with CAP_CHOWN and CAP_FOWNER. Whatever the
         * model let through, it creates and chmods nothing but base_dir and directories below
         * it (the chroots it makes are below base_dir too). */
        for (size_t i = 0; i < n_dirs; i++)
                if (!dir_path_normalized(dirs[i].path) ||
                    !(streq(dirs[i].path, base) || path_under(dirs[i].path, base))) {
                        r = push_diag(b, false, b->c->path, 0,
                                      "refusing to create directory %s: not a normalized path "
                                      "below base_dir %s", dirs[i].path, base);
                        goto finish;
                }

        {
                _cleanup_free_ char *p = escape_specifiers(b->prefix);

                if (!p || !strf(&desc, "%s runtime directories", p)) {
                        r = -ENOMEM;
                        goto finish;
                }
        }
        r = text_open(&t);
        if (r < 0)
                goto finish;
        r = put_header(b, &t, b->c->path, desc);
        if (r < 0)
                goto finish;
        fputs("DefaultDependencies=no\nAfter=local-fs.target\n"
              "Conflicts=shutdown.target\nBefore=shutdown.target\n", t.f);
        r = put(&t, "PartOf", b->target);
        if (r < 0)
                goto finish;
        fputs("\n[Service]\nType=oneshot\nRemainAfterExit=yes\n", t.f);

        for (size_t i = 0; i < n_dirs; i++) {
                const dir_spec *d = &dirs[i];

                switch (d->kind) {
                case DIR_PLAIN:
                        r = put_exec(&t, "ExecStart", (char *[]) {
                                (char *) "/usr/bin/install", (char *) "-d", (char *) "-m",
                                (char *) "0755", (char *) "-o", (char *) "root", (char *) "-g",
                                (char *) "root", d->path, NULL });
                        break;
                case DIR_EMPTY_CHROOT:
                        r = put_exec(&t, "ExecStart", (char *[]) {
                                (char *) "/bin/sh", (char *) "-ec", (char *) script_empty,
                                (char *) "sh", d->path, NULL });
                        break;
                case DIR_LOGIN_CHROOT:
                        r = put_exec(&t, "ExecStart", (char *[]) {
                                (char *) "/bin/sh", (char *) "-ec", (char *) script_login,
                                (char *) "sh", d->path, (char *) d->user, NULL });
                        break;
                }
                if (r == -EINVAL) {
                        r = push_diag(b, false, b->c->path, 0,
                                      "directory %s holds a control character", d->path);
                        if (r < 0)
                                goto finish;
                }
                if (r < 0)
                        goto finish;
        }

        /* The same sandbox: root, creating directories and handing them to root:GROUP
         * (CHOWN), fixing the mode of one that exists with another owner (FOWNER), under
         * parents of any mode (DAC_OVERRIDE). `id -g` may ask NSS over the network. */
        r = put_sandbox(&t, "CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER", NULL, false);
        if (r < 0)
                goto finish;

        if (!strf(&path, "%s", b->dirs_unit)) {
                r = -ENOMEM;
                goto finish;
        }
        r = push_entry(b, TAKE_PTR(path), text_take(&t), false);
        if (r < 0)
                goto finish;
        r = push_wants(b, b->target, b->dirs_unit);

finish:
        if (t.f)
                text_done(&t);
        for (size_t i = 0; i < n_dirs; i++)
                free(dirs[i].path);
        free(dirs);
        for (size_t i = 0; i < n_ldirs; i++)
                free(ldirs[i]);
        free(ldirs);
        return r;
}

/* ---- the whole set ---------------------------------------------------------------------- */

/* PREFIX-apply.service: what a reload of the target does beyond the services' own reloads.
 * Its ExecReload= (dovesd-generator --apply) starts the sockets of services added to the
 * config, drains the services removed from it, and restarts the sockets whose listeners
 * changed while their service is not running (dovesd.units(7), RELOAD). */
static int build_apply(builder *b) {
        _cleanup_free_ char *desc = NULL, *p = escape_specifiers(b->prefix);
        text t;
        int r;

        if (!p || !strf(&desc, "%s: apply added and removed services at a reload", p))
                return -ENOMEM;
        r = text_open(&t);
        if (r < 0)
                return r;
        r = put_header(b, &t, b->c->path, desc);
        if (r < 0)
                goto fail;
        if ((r = put(&t, "PartOf", b->target)) < 0 ||
            (r = put(&t, "ReloadPropagatedFrom", b->target)) < 0)
                goto fail;
        if (!streq(b->target, "dovesd.target") &&
            (r = put(&t, "ReloadPropagatedFrom", "dovesd.target")) < 0)
                goto fail;
        fputs("\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n", t.f);
        r = put_exec(&t, "ExecReload", (char *[]) { (char *) DOVESD_GENERATOR_PATH,
                                                    (char *) "--apply", (char *) "-c",
                                                    b->c->path, NULL });
        if (r < 0)
                goto fail;
        /* It reads the config and asks PID 1 over its socket, as root: no capability. */
        r = put_sandbox(&t, "", NULL, false);
        if (r < 0)
                goto fail;
        r = push_entry(b, strdup(b->apply_unit), text_take(&t), false);
        if (r < 0)
                return r;
        return push_wants(b, b->target, b->apply_unit);

fail:
        text_done(&t);
        return r;
}

static int build_target(builder *b) {
        _cleanup_free_ char *desc = NULL, *p = escape_specifiers(b->prefix);
        text t;
        int r;

        if (!p || !strf(&desc, "%s services", p))
                return -ENOMEM;
        r = text_open(&t);
        if (r < 0)
                return r;
        r = put_header(b, &t, b->c->path, desc);
        if (r < 0) {
                text_done(&t);
                return r;
        }
        fputs("PartOf=dovesd.target\n", t.f);
        r = push_entry(b, strdup(b->target), text_take(&t), false);
        if (r < 0)
                return r;
        return push_wants(b, "dovesd.target", b->target);
}

static int build_parent_slice(builder *b) {
        _cleanup_free_ char *desc = NULL, *p = escape_specifiers(b->c->instance_name);
        text t;
        int r;

        if (!p || !strf(&desc, "dovesd slice of instance %s", p))
                return -ENOMEM;
        r = text_open(&t);
        if (r < 0)
                return r;
        r = put_header(b, &t, b->c->path, desc);
        if (r < 0) {
                text_done(&t);
                return r;
        }
        return push_entry(b, strdup(b->slice_parent), text_take(&t), false);
}

static int unit_entry_cmp(const void *a, const void *b) {
        return strcmp(((const unit_entry *) a)->path, ((const unit_entry *) b)->path);
}

static void entries_free(unit_entry *e, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(e[i].path);
                free(e[i].content);
        }
        free(e);
}

static void notes_free(unit_note *e, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(e[i].file);
                free(e[i].text);
        }
        free(e);
}

void unit_set_done(unit_set *s) {
        if (!s)
                return;
        entries_free(s->entries, s->n_entries);
        notes_free(s->notes, s->n_notes);
        *s = (unit_set) {};
}

static void builder_done(builder *b) {
        unit_set_done(&b->set);
        for (size_t i = 0; i < b->n_names; i++) {
                free(b->names[i].name);
                free(b->names[i].owner);
        }
        free(b->names);
        free(b->name_index);
        free(b->built);
        free(b->prefix);
        free(b->target);
        free(b->dirs_unit);
        free(b->apply_unit);
        free(b->slice_parent);
        free(b->slice_prefix);
}

static int build_all(builder *b) {
        const config *c = b->c;
        const char *instance = c->instance_name ?: "dovesd";
        const char *cfg = c->path ?: "";
        int r;

        r = unit_name_escape(instance, UNIT_ESCAPE_KEEP_DASH, &b->prefix);
        if (r == -EINVAL)
                return push_diag(b, false, cfg, 0, "instance_name must not be empty");
        if (r < 0)
                return r;
        b->own_target = !streq(instance, "dovesd");
        if (!strf(&b->target, "%s.target", b->prefix) ||
            !strf(&b->dirs_unit, "%s-dirs.service", b->prefix) ||
            !strf(&b->apply_unit, "%s-apply.service", b->prefix))
                return -ENOMEM;
        if (streq(instance, "dovesd")) {
                if (!strf(&b->slice_prefix, "dovesd-"))
                        return -ENOMEM;
        } else {
                _cleanup_free_ char *e = NULL;

                r = unit_name_escape(instance, 0, &e);
                if (r < 0)
                        return r;
                if (!strf(&b->slice_parent, "dovesd-%s.slice", e) ||
                    !strf(&b->slice_prefix, "dovesd-%s-", e))
                        return -ENOMEM;
        }

        r = claim_name(b, b->target, "the instance's target", cfg, 0);
        if (r < 0)
                return r;

        r = claim_name(b, b->dirs_unit, "the runtime directories unit", cfg, 0);
        if (r < 0)
                return r;
        r = claim_name(b, b->apply_unit, "the unit that applies added and removed services at "
                       "a reload", cfg, 0);
        if (r < 0)
                return r;
        if (b->slice_parent) {
                r = claim_name(b, b->slice_parent, "the instance's slice", cfg, 0);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < c->n_services; i++) {
                r = build_one_service(b, &c->services[i]);
                if (r < 0)
                        return r;
        }
        if (b->n_errors > 0)
                return 0;

        if (b->n_built == 0)
                return push_note(b, UNIT_NOTE_INFO, cfg, 0,
                                 "no enabled service: no units");

        r = build_dirs(b);
        if (r < 0)
                return r;
        r = build_apply(b);
        if (r < 0)
                return r;
        if (b->own_target) {
                r = build_target(b);
                if (r < 0)
                        return r;
        }
        if (b->slice_parent) {
                r = build_parent_slice(b);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0: overlong forms, surrogates and code
 * points above U+10FFFF are invalid, as systemd's utf8_is_valid() has it. */
static size_t utf8_char_len(const unsigned char *p) {
        unsigned cp;
        size_t n;

        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                n = 2, cp = p[0] & 0x1f;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                n = 3, cp = p[0] & 0x0f;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                n = 4, cp = p[0] & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

/* systemd ignores a unit file line that is not valid UTF-8 ("String is not UTF-8 clean,
 * ignoring assignment"): a lost Environment=DOVESD_USER= would leave the service running as
 * root. Every such line is an error, reported with the setting's name. */
static int check_utf8(builder *b) {
        for (size_t i = 0; i < b->set.n_entries; i++) {
                const unit_entry *e = &b->set.entries[i];
                const unsigned char *p = (const unsigned char *) e->content, *line = p;
                unsigned lineno = 1;

                while (*p) {
                        size_t n = utf8_char_len(p);
                        int r;

                        if (*p == '\n') {
                                line = p + 1;
                                lineno++;
                        }
                        if (n > 0) {
                                p += n;
                                continue;
                        }
                        r = push_diag(b, false, b->c->path, 0,
                                      "%s:%u: %.*s is not valid UTF-8; systemd would ignore it",
                                      e->path, lineno,
                                      (int) strcspn((const char *) line, "=\n"),
                                      (const char *) line);
                        if (r < 0)
                                return r;
                        break;
                }
        }
        return 0;
}

int units_build(const config *c, unit_set *ret, conf_diags *diags) {
        builder b = { .c = c, .diags = diags };
        int r;

        r = build_all(&b);
        if (r >= 0 && b.n_errors == 0)
                r = check_utf8(&b);
        if (r >= 0 && b.n_errors > 0)
                r = -EINVAL;
        if (r < 0) {
                builder_done(&b);
                return r;
        }

        if (b.set.n_entries > 0)
                qsort(b.set.entries, b.set.n_entries, sizeof(unit_entry), unit_entry_cmp);
        *ret = b.set;
        b.set = (unit_set) {};
        builder_done(&b);
        return 0;
}

/* ---- output ----------------------------------------------------------------------------- */

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
