/* SPDX-License-Identifier: MIT */

/*
 * The Dovecot 2.3 config file grammar: lines, comments, quoting, continuation, sections,
 * filters, !include / !include_try, key = <file, $variables. What is read goes into a
 * syntax tree (conf.h); what sections and keys mean, and which values are valid, comes from
 * the schema the caller hands in.
 */

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "conf-internal.h"
#include "values.h"

#define IS_WHITE(c) ((c) == ' ' || (c) == '\t')

typedef enum section_kind {
        SEC_ROOT,
        SEC_BLOCK,      /* a settings block the schema knows (class) */
        SEC_FILTER,
        SEC_IGNORE,     /* contents of a section that already failed */
} section_kind;

/* An IP range of a local/remote filter; family 0 = none, or a host name (not resolved). */
typedef struct net_range {
        int family;
        unsigned char addr[16];
        unsigned bits;
} net_range;

typedef struct section {
        section_kind kind;
        const conf_class *class;        /* SEC_ROOT, SEC_BLOCK */
        size_t idx;             /* index into tree->sections */
        char *key;              /* the section type as written: "service", "unix_listener" */
        char *key_path;         /* not a filter: "KEY/NAME/" as in Dovecot's setting paths,
                                 * NAME escaped or the counter of unnamed sections */
        bool path_reset;        /* a filter: "Unknown setting" paths start again after it */
        size_t scope;           /* index into tree->scopes, inherited; 0 = none (root) */
        /* filter state, inherited from enclosing filters */
        bool f_protocol, f_local, f_remote, f_local_name;
        net_range local_net, remote_net;        /* the innermost local / remote filter */
        char *file;
        unsigned line;
} section;

typedef struct input {
        const char *path;
        dev_t dev;
        ino_t ino;
        struct input *parent;
} input;

/* The first place a key was set directly inside a filter (config_parser_check_warnings()). */
typedef struct filter_seen {
        char *key;
        char *file;
        unsigned line;
} filter_seen;

/* A filter (or the root, scope 0) as the checks of other settings blocks see it: the same
 * filter written twice is one scope, as Dovecot merges them. */
struct conf_scope {
        char *desc;             /* "protocol imap;local 1.2.3.4;" from the root down */
        size_t parent;
};

/* A top-level setting that a whole-config check needs (ssl, ssl_ca, ...), in file order. */
struct conf_scoped_value {
        size_t scope;
        const char *key;        /* static */
        char *value;
        char *file;
        unsigned line;
};

/* The last value of a setting at the top level, for $variables. */
typedef struct last_value {
        char *key;
        char *value;
} last_value;

typedef struct parser {
        const conf_schema *schema;
        void *userdata;
        conf_tree *tree;
        last_value *lasts;
        size_t n_lasts;
        filter_seen *seen;
        size_t n_seen;
        conf_diags *diags;
        section stack[CONF_MAX_DEPTH + 1];
        size_t depth;           /* stack[0] is the root */
        const char *push_name;  /* the name of the section being pushed */
        size_t push_n_diags;    /* diagnostics before it */
        unsigned section_counter; /* names unnamed sections in setting paths: 0, 1, ... */
        unsigned n_includes;
        unsigned include_depth;
        unsigned overflow;      /* sections opened beyond CONF_MAX_DEPTH: skipped, one error */
        bool failed;
} parser;

static int perr(parser *p, const char *file, unsigned line, const char *fmt, ...) _printf_(4, 5);
static int perr(parser *p, const char *file, unsigned line, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = diag_addv(p->diags, false, file, line, fmt, ap);
        va_end(ap);
        p->failed = true;
        return r < 0 ? r : 0;
}

static section *top(parser *p) {
        return &p->stack[p->depth];
}

/* The nearest section that is not a filter decides what keys mean. */
static section *context(parser *p) {
        for (size_t i = p->depth; i > 0; i--)
                if (p->stack[i].kind != SEC_FILTER)
                        return &p->stack[i];
                else
                        return &p->stack[0];
        return &p->stack[0];
}

static bool in_ignored(parser *p) {
        return top(p)->kind == SEC_IGNORE;
}

/* "service { unix_listener { KEY" */
static char *setting_path(parser *p, const char *key) {
        size_t start = 1, len = 1;
        char *buf, *q;

        for (size_t i = 1; i <= p->depth; i++)
                if (p->stack[i].path_reset)
                        start = i + 1;
        for (size_t i = start; i <= p->depth; i++)
                len += strlen(p->stack[i].key) + 3;
        len += strlen(key);
        buf = malloc(len);
        if (!buf)
                return NULL;
        q = buf;
        for (size_t i = start; i <= p->depth; i++)
                q = stpcpy(stpcpy(q, p->stack[i].key), " { ");
        strcpy(q, key);
        return buf;
}

/* "KEY/NAME/" with NAME escaped as Dovecot's settings_section_escape() does. */
static char *key_path_component(const char *key, const char *name) {
        size_t len = strlen(key) + 2 * strlen(name) + 3;
        char *buf = malloc(len), *q;

        if (!buf)
                return NULL;
        q = stpcpy(stpcpy(buf, key), "/");
        for (const char *c = name; *c; c++) {
                const char *e = NULL;
                switch (*c) {
                case '=':  e = "\\e"; break;
                case '/':  e = "\\s"; break;
                case '\\': e = "\\\\"; break;
                case ' ':  e = "\\_"; break;
                case ',':  e = "\\+"; break;
                }
                if (e)
                        q = stpcpy(q, e);
                else
                        *q++ = *c;
        }
        strcpy(q, "/");
        return buf;
}

/* The full path of KEY as doveconf prints it in errors: "service/imap/unix_listener/x/user";
 * filters add nothing. */
static char *key_path(parser *p, const char *key) {
        size_t len = strlen(key) + 1;
        char *buf, *q;

        for (size_t i = 1; i <= p->depth; i++)
                if (p->stack[i].key_path)
                        len += strlen(p->stack[i].key_path);
        buf = malloc(len);
        if (!buf)
                return NULL;
        q = buf;
        for (size_t i = 1; i <= p->depth; i++)
                if (p->stack[i].key_path)
                        q = stpcpy(q, p->stack[i].key_path);
        strcpy(q, key);
        return buf;
}

static char *relative_to(const char *cur, const char *path);

static int unknown_setting(parser *p, const char *file, unsigned line, const char *key) {
        _cleanup_free_ char *path = setting_path(p, key);

        if (!path)
                return -ENOMEM;
        return perr(p, file, line, "Unknown setting: %s", path);
}

/* Dovecot's str_unescape(): "\x" becomes "x", a "\" at the end is dropped. In place. */
static char *str_unescape(char *s) {
        char *w = s;

        for (char *r = s; *r; r++) {
                if (*r == '\\') {
                        r++;
                        if (*r == '\0')
                                break;
                }
                *w++ = *r;
        }
        *w = '\0';
        return s;
}

static last_value *last_find(parser *p, const char *key) {
        for (size_t i = 0; i < p->n_lasts; i++)
                if (streq(p->lasts[i].key, key))
                        return &p->lasts[i];
        return NULL;
}

/* Remember VALUE as the current value of top-level setting KEY. */
static int last_set(parser *p, const char *key, const char *value) {
        last_value *l = last_find(p, key);
        char *v = strdup(value);

        if (!v)
                return -ENOMEM;
        if (!l) {
                char *k = strdup(key);
                if (!k || !GREEDY_REALLOC(p->lasts, p->n_lasts + 1)) {
                        free(k);
                        free(v);
                        return -ENOMEM;
                }
                l = &p->lasts[p->n_lasts++];
                *l = (last_value) { .key = k };
        }
        free(l->value);
        l->value = v;
        return 0;
}

/* What $KEY expands to now: the schema's view of the last top-level value. NULL with errno
 * 0: unknown variable. */
static char *variable_value(parser *p, const char *key) {
        const last_value *l = last_find(p, key);

        errno = 0;
        return p->schema->variable(p->userdata, key, l ? l->value : NULL);
}

/*
 * $variables (Dovecot's config_write_keyvariable()): the value is split on spaces, empty
 * tokens are dropped and the rest joined with single spaces (tabs are not separators);
 * a token starting with '$' names a variable. doveconf -a expands only a token naming the
 * key being set (`key = $key more`); the master's view expands every token.
 * ret_dump: what doveconf -a prints; ret_full: what the master sees (may be NULL).
 */
static int expand_variables(parser *p, section *ctx, const char *key, const char *value,
                            const char *file, unsigned line, char **ret_dump, char **ret_full) {
        _cleanup_free_ char *dump = NULL, *full = NULL;
        size_t dump_len = 0, full_len = 0;
        FILE *fd = NULL, *ff = NULL;
        const char *t = value;
        int r = 0;

        fd = open_memstream(&dump, &dump_len);
        ff = open_memstream(&full, &full_len);
        if (!fd || !ff) {
                if (fd)
                        fclose(fd);
                if (ff)
                        fclose(ff);
                return -ENOMEM;
        }
        for (bool first = true;; first = false) {
                const char *end;
                size_t n;
                _cleanup_free_ char *tok = NULL, *val = NULL;
                bool self;

                /* runs of spaces are one separator: empty tokens are dropped */
                t += strspn(t, " ");
                if (*t == '\0')
                        break;
                end = strchr(t, ' ');
                n = end ? (size_t) (end - t) : strlen(t);
                tok = strndup(t, n);
                if (!tok) {
                        r = -ENOMEM;
                        break;
                }
                if (!first) {
                        fputc(' ', fd);
                        fputc(' ', ff);
                }
                self = tok[0] == '$' && streq(tok + 1, key);
                if (tok[0] != '$') {
                        fputs(tok, fd);
                        fputs(tok, ff);
                } else if (strncmp(tok, "$ENV:", 5) == 0) {
                        const char *e = getenv(tok + 5);
                        fputs(self ? (e ?: "") : tok, fd);
                        fputs(e ?: "", ff);
                } else {
                        if (!self || !ctx->class->no_self_variable) {
                                val = variable_value(p, tok + 1);
                                if (!val && errno == ENOMEM) {
                                        r = -ENOMEM;
                                        break;
                                }
                        }
                        if (!val) {
                                r = perr(p, file, line, "Unknown variable: %s", tok);
                                if (r == 0)
                                        r = -EINVAL;
                                break;
                        }
                        fputs(self ? val : tok, fd);
                        fputs(val, ff);
                }
                if (!end)
                        break;
                t = end;
        }
        if (fclose(fd) != 0 || fclose(ff) != 0)
                return -ENOMEM;
        if (r < 0)
                return r;
        *ret_dump = TAKE_PTR(dump);
        if (ret_full)
                *ret_full = TAKE_PTR(full);
        return 0;
}

/* A global setting after a filter that set the same key does not change the filter's value:
 * warn as doveconf does. Settings directly inside a filter are remembered (the first one). */
static int check_filter_warning(parser *p, const char *key, const char *file, unsigned line) {
        filter_seen *f = NULL;

        for (size_t i = 0; i < p->n_seen; i++)
                if (streq(p->seen[i].key, key)) {
                        f = &p->seen[i];
                        break;
                }
        if (p->depth == 0) {
                if (!f)
                        return 0;
                return diag_add(p->diags, true, file, line,
                                "Global setting %s won't change the setting inside an earlier "
                                "filter at %s line %u (if this is intentional, avoid this "
                                "warning by moving the global setting before %s line %u)",
                                key, f->file, f->line, f->file, f->line);
        }
        if (f || top(p)->kind != SEC_FILTER)
                return 0;
        if (!GREEDY_REALLOC(p->seen, p->n_seen + 1))
                return -ENOMEM;
        f = &p->seen[p->n_seen];
        *f = (filter_seen) { .key = strdup(key), .file = strdup(file), .line = line };
        if (!f->key || !f->file) {
                free(f->key);
                free(f->file);
                return -ENOMEM;
        }
        p->n_seen++;
        return 0;
}

/* Read FD to its end into a NUL-terminated buffer. Returns -EFBIG as soon as more than MAX
 * bytes came, -errno when read() fails (errno is left set, for %m). */
static int read_all(int fd, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;

        for (;;) {
                ssize_t n;

                if (!GREEDY_REALLOC(buf, size + 4096 + 1))
                        return -ENOMEM;
                n = read(fd, buf + size, malloc_usable_size(buf) - size - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > max)
                        return -EFBIG;
        }
        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

/* `key = <PATH`: the whole content of PATH (relative to the directory of the file holding
 * the line), verbatim, is the value. Errors as doveconf -x prints them. */
static int read_file_value(parser *p, const char *key, const char *path, const char *file,
                           unsigned line, char **ret) {
        _cleanup_free_ char *full = relative_to(file, path), *kp = key_path(p, key);
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        if (!full || !kp)
                return -ENOMEM;
        /* O_NONBLOCK: opening a FIFO must not wait for a writer */
        fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return perr(p, file, line, "%s: Can't open file %s: %m", kp, full) ?: -EINVAL;
        if (fstat(fd, &st) < 0)
                return perr(p, file, line, "%s: read(%s) failed: %m", kp, full) ?: -EINVAL;
        if (S_ISDIR(st.st_mode)) {
                errno = EISDIR;
                return perr(p, file, line, "%s: read(%s) failed: %m", kp, full) ?: -EINVAL;
        }
        if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
                return perr(p, file, line, "%s: %s: not a regular file", kp, full) ?: -EINVAL;
        r = read_all(fd, CONF_MAX_VALUE_FILE_SIZE, ret, NULL);
        if (r == -EFBIG)
                return perr(p, file, line, "%s: %s is larger than %u bytes", kp, full,
                            CONF_MAX_VALUE_FILE_SIZE) ?: -EINVAL;
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                errno = -r;
                return perr(p, file, line, "%s: read(%s) failed: %m", kp, full) ?: -EINVAL;
        }
        return 0;
}

/*
 * Checks doveconf runs on settings blocks other than the master's, for the root and for every
 * filter with the filter's own values over the final global ones (F12):
 * syslog_facility must name a facility; ssl_verify_client_cert needs ssl_ca unless ssl = no.
 */
static const char *const scoped_keys[] = {
        "ssl", "ssl_verify_client_cert", "ssl_ca", "syslog_facility",
};

static int enter_scope(parser *p, size_t parent, const char *key, const char *name,
                       size_t *ret) {
        _cleanup_free_ char *desc = NULL;
        conf_tree *t = p->tree;

        if (t->n_scopes == 0) {
                t->scopes = calloc(1, sizeof(conf_scope));
                if (!t->scopes)
                        return -ENOMEM;
                t->n_scopes = 1;        /* the root */
        }
        if (asprintf(&desc, "%s%s %s;", t->scopes[parent].desc ?: "", key, name) < 0)
                return -ENOMEM;
        for (size_t i = 1; i < t->n_scopes; i++)
                if (streq(t->scopes[i].desc, desc)) {
                        *ret = i;
                        return 0;
                }
        if (!GREEDY_REALLOC(t->scopes, t->n_scopes + 1))
                return -ENOMEM;
        t->scopes[t->n_scopes] = (conf_scope) { .desc = TAKE_PTR(desc), .parent = parent };
        *ret = t->n_scopes++;
        return 0;
}

static int remember_scoped(parser *p, const char *key, const char *value, const char *file,
                           unsigned line) {
        conf_tree *t = p->tree;
        conf_scoped_value *n;
        const char *k = NULL;

        for (size_t i = 0; i < ELEMENTSOF(scoped_keys); i++)
                if (streq(scoped_keys[i], key))
                        k = scoped_keys[i];
        if (!k)
                return 0;
        if (!GREEDY_REALLOC(t->scoped, t->n_scoped + 1))
                return -ENOMEM;
        n = &t->scoped[t->n_scoped];
        *n = (conf_scoped_value) {
                .scope = p->depth > 0 ? top(p)->scope : 0,
                .key = k,
                .value = strdup(value),
                .file = strdup(file),
                .line = line,
        };
        if (!n->value || !n->file) {
                free(n->value);
                free(n->file);
                return -ENOMEM;
        }
        t->n_scoped++;
        return 0;
}

/* The value of KEY in scope S: the last one set in S or the nearest enclosing filter, else
 * the last global one; NULL when never set. */
static const conf_scoped_value *scoped_lookup(const conf_tree *t, size_t s, const char *key) {
        for (;;) {
                const conf_scoped_value *found = NULL;
                for (size_t i = 0; i < t->n_scoped; i++)
                        if (t->scoped[i].scope == s && streq(t->scoped[i].key, key))
                                found = &t->scoped[i];
                if (found || s == 0)
                        return found;
                s = t->scopes[s].parent;
        }
}

static bool is_facility(const char *v) {
        static const char *const names[] = {
                "auth", "authpriv", "cron", "daemon", "ftp", "kern", "lpr", "mail", "news",
                "syslog", "user", "uucp", "local0", "local1", "local2", "local3", "local4",
                "local5", "local6", "local7",
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (streq(names[i], v))
                        return true;
        return false;
}

static bool is_true(const char *v) {
        _cleanup_free_ char *error = NULL;
        bool b = false;

        return value_parse_bool(v, &b, &error) >= 0 && b;
}

static bool reported(const conf_diags *diags, const char *file, unsigned line,
                     const char *text) {
        for (size_t i = 0; i < diags->n_items; i++) {
                const conf_diag *d = &diags->items[i];
                if (d->line == line && streq(d->file, file) && streq(d->text, text))
                        return true;
        }
        return false;
}

int conf_check(const conf_tree *t, conf_diags *diags) {
        const conf_scoped_value *global_ssl = scoped_lookup(t, 0, "ssl");
        bool warned = false, failed = false;
        int r;

        for (size_t s = 0; s == 0 || s < t->n_scopes; s++) {
                const conf_scoped_value *fac = scoped_lookup(t, s, "syslog_facility");
                const conf_scoped_value *ssl = scoped_lookup(t, s, "ssl");
                const conf_scoped_value *verify = scoped_lookup(t, s, "ssl_verify_client_cert");
                const conf_scoped_value *ca = scoped_lookup(t, s, "ssl_ca");
                _cleanup_free_ char *text = NULL;

                if (fac && !is_facility(fac->value)) {
                        if (asprintf(&text, "Unknown syslog_facility: %s", fac->value) < 0)
                                return -ENOMEM;
                        if (!reported(diags, fac->file, fac->line, text)) {
                                r = diag_add(diags, false, fac->file, fac->line, "%s", text);
                                if (r < 0)
                                        return r;
                                failed = true;
                        }
                }
                if (verify && is_true(verify->value) &&
                    !(ssl && streq(ssl->value, "no")) && (!ca || ca->value[0] == '\0')) {
                        const char *m = "ssl_verify_client_cert set, but ssl_ca not";
                        if (!reported(diags, verify->file, verify->line, m)) {
                                r = diag_add(diags, false, verify->file, verify->line, "%s", m);
                                if (r < 0)
                                        return r;
                                failed = true;
                        }
                }
                /* one warning, for the first filter that turns SSL on under a global ssl=no */
                if (s > 0 && !warned && global_ssl && streq(global_ssl->value, "no"))
                        for (size_t i = 0; i < t->n_scoped; i++) {
                                const conf_scoped_value *v = &t->scoped[i];
                                if (v->scope == s && streq(v->key, "ssl") &&
                                    !streq(v->value, "no")) {
                                        r = diag_add(diags, true, v->file, v->line,
                                                     "SSL is disabled because global ssl=no, ignoring ssl=%s for subsection",
                                                     v->value);
                                        if (r < 0)
                                                return r;
                                        warned = true;
                                        break;
                                }
                        }
        }
        return failed ? -EINVAL : 0;
}

/* Keep KEY = VALUE in the tree, in the innermost open section. */
static int add_setting(parser *p, const char *key, const char *value, char *expanded,
                       const char *file, unsigned line) {
        conf_tree *t = p->tree;
        conf_setting *n;

        if (!GREEDY_REALLOC(t->settings, t->n_settings + 1)) {
                free(expanded);
                return -ENOMEM;
        }
        n = &t->settings[t->n_settings];
        *n = (conf_setting) {
                .section = top(p)->idx,
                .key = strdup(key),
                .value = strdup(value),
                .expanded = expanded,
                .file = strdup(file),
                .line = line,
        };
        t->n_settings++;
        if (!n->key || !n->value || !n->file)
                return -ENOMEM;
        return 0;
}

static bool kept_value(parser *p, const char *value) {
        for (const char *const *k = p->schema->kept_values; k && *k; k++)
                if (streq(*k, value))
                        return true;
        return false;
}

static int apply_setting(parser *p, const char *key, const char *value, bool variable,
                         const char *file_value, const char *file, unsigned line) {
        section *ctx = context(p);
        _cleanup_free_ char *dump = NULL, *full = NULL, *error = NULL;
        int r;

        if (ctx->class->any_key) {
                /* any key, but '/' separates setting paths in Dovecot */
                if (strchr(key, '/'))
                        return unknown_setting(p, file, line, key);
                return add_setting(p, key, value, NULL, file, line);
        }

        if (key[0] == '\0') {
                if (p->depth == 0 || ctx->kind == SEC_ROOT)
                        return perr(p, file, line,
                                    "Missing key name ('=' at the beginning of line)");
                return unknown_setting(p, file, line, key);
        }

        /* Values the schema expands itself later (the master expands "$default_*_user"
         * with the final values) are left as written. */
        if (variable && kept_value(p, value))
                variable = false;

        if (variable) {
                r = expand_variables(p, ctx, key, value, file, line, &dump, &full);
                if (r == -EINVAL)
                        return 0;
                if (r < 0)
                        return r;
                value = dump;
        }

        if (file_value && p->schema->reads_file(p->userdata, ctx->class, key)) {
                r = read_file_value(p, key, file_value, file, line, &full);
                if (r == -EINVAL)
                        return 0;
                if (r < 0)
                        return r;
        }

        r = p->schema->check(p->userdata, ctx->class, key, value, full, &error);
        if (r == -ENOENT)
                return unknown_setting(p, file, line, key);
        if (r == -EINVAL)
                return perr(p, file, line, "%s", error);
        if (r < 0)
                return r;

        if (ctx->kind == SEC_ROOT) {
                const char *v = full ?: value;

                if (p->depth == 0) {
                        r = last_set(p, key, v);
                        if (r < 0)
                                return r;
                }
                r = remember_scoped(p, key, v, file, line);
                if (r < 0)
                        return r;
                r = check_filter_warning(p, key, file, line);
                if (r < 0)
                        return r;
        }
        return add_setting(p, key, value, TAKE_PTR(full), file, line);
}

static int parse_net(const char *value, net_range *ret, char **ret_error) {
        _cleanup_free_ char *ip = strdup(value);
        net_range n = {};
        unsigned max;
        char *slash, *a;
        size_t len;

        if (!ip)
                return -ENOMEM;
        slash = strchr(ip, '/');
        if (slash)
                *slash++ = '\0';
        a = ip;
        len = strlen(a);
        if (len > 2 && a[0] == '[' && a[len - 1] == ']') {
                a[len - 1] = '\0';
                a++;
        }
        if (inet_pton(AF_INET, a, n.addr) == 1)
                n.family = AF_INET;
        else if (inet_pton(AF_INET6, a, n.addr) == 1)
                n.family = AF_INET6;
        /* else a host name: Dovecot resolves it; a generator does no DNS */
        max = n.family == AF_INET ? 32 : 128;
        n.bits = max;
        if (slash) {
                char *e;
                unsigned long bits = strtoul(slash, &e, 10);
                if (*slash == '\0' || *e != '\0' || bits > max) {
                        if (asprintf(ret_error, "Invalid network mask: %s", slash) < 0)
                                return -ENOMEM;
                        return -EINVAL;
                }
                n.bits = (unsigned) bits;
        }
        if (n.family == 0)
                n = (net_range) {};
        *ret = n;
        return 0;
}

/* Is the address of child inside the network parent/bits? An IPv4-mapped IPv6 child counts
 * as IPv4; the families must then agree (Dovecot's net_is_in_network()). */
static bool net_contains(const net_range *parent, const net_range *child) {
        static const unsigned char mapped[12] = { 0,0,0,0, 0,0,0,0, 0,0,0xff,0xff };
        const unsigned char *c = child->addr;
        int family = child->family;

        if (family == AF_INET6 && memcmp(c, mapped, sizeof(mapped)) == 0) {
                family = AF_INET;
                c += 12;
        }
        if (family != parent->family)
                return false;
        for (unsigned i = 0; i < parent->bits; i++) {
                unsigned char m = (unsigned char) (0x80U >> (i % 8));
                if ((c[i / 8] & m) != (parent->addr[i / 8] & m))
                        return false;
        }
        return true;
}

/* Keep the section being opened in the tree; returns its index or -ENOMEM. */
static int add_section(parser *p, section_kind kind, const conf_class *class, const char *key,
                       const char *file, unsigned line, size_t *ret) {
        static const conf_section_kind kinds[] = {
                [SEC_ROOT] = CONF_SECTION_ROOT,
                [SEC_BLOCK] = CONF_SECTION_BLOCK,
                [SEC_FILTER] = CONF_SECTION_FILTER,
                [SEC_IGNORE] = CONF_SECTION_IGNORED,
        };
        conf_tree *t = p->tree;
        conf_section *n;

        if (!GREEDY_REALLOC(t->sections, t->n_sections + 1))
                return -ENOMEM;
        n = &t->sections[t->n_sections];
        *n = (conf_section) {
                .kind = kinds[kind],
                .class = class,
                .key = strdup(key),
                .name = strdup(p->push_name ?: ""),
                .parent = t->n_sections > 0 ? p->stack[p->depth].idx : 0,
                .file = strdup(file),
                .line = line,
                .n_diags = p->push_n_diags,
        };
        *ret = t->n_sections++;
        if (!n->key || !n->name || !n->file)
                return -ENOMEM;
        return 0;
}

static int push(parser *p, section_kind kind, const conf_class *class, const char *key,
                const char *file, unsigned line, section **ret) {
        size_t idx;
        section *s;
        int r;

        if (p->depth >= CONF_MAX_DEPTH) {
                perr(p, file, line, "Too deeply nested sections (more than %u levels)",
                     CONF_MAX_DEPTH);
                return -E2BIG;
        }
        r = add_section(p, kind, class, key, file, line, &idx);
        if (r < 0)
                return r;
        s = &p->stack[++p->depth];
        *s = (section) {
                .kind = kind,
                .class = class,
                .idx = idx,
                .key = strdup(key),
                .file = strdup(file),
                .line = line,
        };
        if (kind != SEC_FILTER) {
                const char *name = p->push_name ?: "";
                if (name[0] == '\0') {
                        if (asprintf(&s->key_path, "%s/%u/", key, p->section_counter++) < 0)
                                s->key_path = NULL;
                } else
                        s->key_path = key_path_component(key, name);
                if (!s->key_path) {
                        free(s->key);
                        free(s->file);
                        p->depth--;
                        return -ENOMEM;
                }
        }
        /* inherit filter state */
        if (p->depth > 1) {
                section *parent = &p->stack[p->depth - 1];
                s->f_protocol = parent->f_protocol;
                s->f_local = parent->f_local;
                s->f_remote = parent->f_remote;
                s->f_local_name = parent->f_local_name;
                s->scope = parent->scope;
                s->local_net = parent->local_net;
                s->remote_net = parent->remote_net;
        }
        if (!s->key || !s->file)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static void section_done(section *s);

static void pop(parser *p) {
        section_done(&p->stack[p->depth]);
        p->depth--;
}

static int section_begin(parser *p, const char *key, const char *name, const char *file,
                         unsigned line) {
        section *ctx = context(p), *s, *t = top(p);
        const conf_class *class;
        const char *filter_error = NULL;
        _cleanup_free_ char *error = NULL;
        net_range net = {};
        int r;

        p->push_name = name;
        p->push_n_diags = p->diags->n_items;

        if (t->kind == SEC_IGNORE)
                return push(p, SEC_IGNORE, NULL, key, file, line, &s);

        if (ctx->class->any_key)
                return perr(p, file, line, "Section not allowed here") ?:
                        push(p, SEC_IGNORE, NULL, key, file, line, &s);

        /* filters, allowed at any level */
        if (streq(key, "protocol") || streq(key, "local") || streq(key, "remote") ||
            streq(key, "local_name")) {
                bool fp = t->f_protocol, fl = t->f_local, fr = t->f_remote, fn = t->f_local_name;

                if (streq(key, "protocol")) {
                        if (fp)
                                filter_error = "Nested protocol { protocol { .. } } block not allowed";
                } else if (streq(key, "local")) {
                        if (fr)
                                filter_error = "remote { local { .. } } not allowed (use local { remote { .. } } instead)";
                        else if (fp)
                                filter_error = "protocol { local { .. } } not allowed (use local { protocol { .. } } instead)";
                        else if (fn)
                                filter_error = "local_name { local { .. } } not allowed (use local { local_name { .. } } instead)";
                } else if (streq(key, "local_name")) {
                        if (fr)
                                filter_error = "remote { local_name { .. } } not allowed (use local_name { remote { .. } } instead)";
                        else if (fp)
                                filter_error = "protocol { local_name { .. } } not allowed (use local_name { protocol { .. } } instead)";
                } else {
                        if (fp)
                                filter_error = "protocol { remote { .. } } not allowed (use remote { protocol { .. } } instead)";
                }
                if (!filter_error && (streq(key, "local") || streq(key, "remote"))) {
                        const net_range *outer = streq(key, "local") ? &t->local_net
                                                                     : &t->remote_net;
                        r = parse_net(name, &net, &error);
                        if (r == -EINVAL)
                                filter_error = error;
                        else if (r < 0)
                                return r;
                        /* nested ranges must narrow down (config_filter_add_new_filter());
                         * host names are not resolved, so they are not compared */
                        else if (outer->family != 0 && net.family != 0 &&
                                 (outer->bits > net.bits ||
                                  (outer->bits > 0 && !net_contains(outer, &net))))
                                filter_error = streq(key, "local") ?
                                        "local net1 { local net2 { .. } } requires net2 to be inside net1" :
                                        "remote net1 { remote net2 { .. } } requires net2 to be inside net1";
                }
                if (filter_error)
                        return perr(p, file, line, "%s", filter_error) ?:
                                push(p, SEC_IGNORE, NULL, key, file, line, &s);
                r = push(p, SEC_FILTER, NULL, key, file, line, &s);
                if (r < 0)
                        return r;
                s->path_reset = true;
                r = enter_scope(p, t->scope, key, name, &s->scope);
                if (r < 0)
                        return r;
                s->f_protocol = fp || streq(key, "protocol");
                s->f_local = fl || streq(key, "local");
                s->f_remote = fr || streq(key, "remote");
                s->f_local_name = fn || streq(key, "local_name");
                if (streq(key, "local"))
                        s->local_net = net;
                else if (streq(key, "remote"))
                        s->remote_net = net;
                return 0;
        }

        class = p->schema->section(p->userdata, ctx->class, key);
        if (class)
                return push(p, SEC_BLOCK, class, key, file, line, &s);

        /* unknown section: doveconf reports the section key as a setting inside itself */
        r = push(p, SEC_IGNORE, NULL, key, file, line, &s);
        if (r < 0)
                return r;
        return unknown_setting(p, file, line, key);
}

static void section_done(section *s) {
        free(s->key);
        free(s->key_path);
        free(s->file);
        *s = (section) {};
}

static int parse_file(parser *p, const char *path, input *parent, const char *inc_file,
                      unsigned inc_line);

const char *conf_include_root = NULL;

static bool include_allowed(const char *full) {
        size_t n;

        if (!conf_include_root)
                return true;
        n = strlen(conf_include_root);
        return strncmp(full, conf_include_root, n) == 0 && full[n] == '/' && !strstr(full, "..");
}

static char *dir_of(const char *path) {
        const char *slash = strrchr(path, '/');

        if (!slash)
                return strdup(".");
        if (slash == path)
                return strdup("/");
        return strndup(path, (size_t) (slash - path));
}

/* A path relative to the directory of the current file. */
static char *relative_to(const char *cur, const char *path) {
        _cleanup_free_ char *dir = NULL;
        char *r;

        if (path[0] == '/' || !strchr(cur, '/'))
                return strdup(path);
        dir = dir_of(cur);
        if (!dir || asprintf(&r, "%s/%s", dir, path) < 0)
                return NULL;
        return r;
}

static int do_include(parser *p, input *in, const char *pattern, bool try, unsigned line) {
        _cleanup_free_ char *full = relative_to(in->path, pattern);
        glob_t g = {};
        int r = 0, gr;

        if (!full)
                return -ENOMEM;
        if (pattern[0] == '\0')
                return try ? 0 : perr(p, in->path, line, "No matches");
        if (!include_allowed(full))
                return perr(p, in->path, line, "Include outside %s refused: %s",
                            conf_include_root, full);
        gr = glob(full, GLOB_BRACE, NULL, &g);
        if (gr == GLOB_NOMATCH) {
                globfree(&g);
                return try ? 0 : perr(p, in->path, line, "No matches");
        }
        if (gr != 0) {
                globfree(&g);
                if (try)
                        return 0;
                return perr(p, in->path, line, "glob(%s) failed: %s", full,
                            gr == GLOB_NOSPACE ? "Out of memory" : "Read error");
        }
        for (size_t i = 0; i < g.gl_pathc; i++) {
                const char *f = g.gl_pathv[i];
                struct stat st;

                if (stat(f, &st) < 0) {
                        if (!try)
                                r = perr(p, in->path, line, "Couldn't open include file %s: %m",
                                         f);
                        if (r < 0)
                                break;
                        continue;
                }
                for (input *i2 = in; i2; i2 = i2->parent)
                        if (i2->dev == st.st_dev && i2->ino == st.st_ino) {
                                r = perr(p, in->path, line, "Recursive include file: %s", f);
                                goto done;
                        }
                if (p->include_depth >= CONF_MAX_INCLUDE_DEPTH) {
                        r = perr(p, in->path, line, "Includes nested too deeply (more than %u)",
                                 CONF_MAX_INCLUDE_DEPTH);
                        goto done;
                }
                if (++p->n_includes > CONF_MAX_INCLUDES) {
                        r = perr(p, in->path, line, "Too many included files (more than %u)",
                                 CONF_MAX_INCLUDES);
                        goto done;
                }
                p->include_depth++;
                r = parse_file(p, f, in, try ? NULL : in->path, line);
                p->include_depth--;
                if (r == -ENOENT && try)
                        r = 0;
                if (r < 0 && r != -EINVAL)
                        break;
                r = 0;
        }
done:
        globfree(&g);
        return r;
}

static int read_whole(const char *path, char **ret, size_t *ret_size, struct stat *ret_st,
                      const char *err_file, unsigned err_line, parser *p) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        /* O_NONBLOCK: opening a FIFO must not wait for a writer */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, ret_st) < 0)
                return -errno;
        if (S_ISDIR(ret_st->st_mode))
                return -EISDIR;
        if (S_ISFIFO(ret_st->st_mode) || S_ISSOCK(ret_st->st_mode)) {
                perr(p, err_file ?: path, err_line, "%s: not a regular file", path);
                return -EFBIG;   /* reported, as for a file too large */
        }
        r = read_all(fd, CONF_MAX_FILE_SIZE, ret, ret_size);
        if (r == -EFBIG)
                perr(p, err_file ?: path, err_line,
                     "%s: file is larger than %u bytes", path, CONF_MAX_FILE_SIZE);
        return r;
}

/* One logical line. Returns <0 only for fatal errors (ENOMEM). */
static int handle_line(parser *p, input *in, char *line, unsigned lineno) {
        char *key, *value, *q;
        size_t len;

        key = line;
        for (q = line; !IS_WHITE(*q) && *q != '\0' && *q != '='; q++)
                ;
        if (IS_WHITE(*q)) {
                *q++ = '\0';
                while (IS_WHITE(*q))
                        q++;
        }
        value = q;

        if (streq(key, "!include") || streq(key, "!include_try")) {
                if (in_ignored(p))
                        return 0;
                return do_include(p, in, value, streq(key, "!include_try"), lineno);
        }

        if (*q == '=') {
                bool variable = false;

                *q++ = '\0';
                while (IS_WHITE(*q))
                        q++;
                if (in_ignored(p))
                        return 0;
                if (*q == '<') {
                        q++;
                        while (IS_WHITE(*q))
                                q++;
                        /* doveconf -a prints "<path"; the value used is the file's content */
                        q[-1] = '<';
                        return apply_setting(p, key, q - 1, false, q, in->path, lineno);
                }
                len = strlen(q);
                if (*q != '\'' && *q != '"' && strchr(q, '$'))
                        variable = true;
                else if (len > 0 && ((*q == '"' && q[len - 1] == '"') ||
                                     (*q == '\'' && q[len - 1] == '\''))) {
                        q[len - 1] = '\0';
                        q = str_unescape(q + 1);
                }
                return apply_setting(p, key, q, variable, NULL, in->path, lineno);
        }

        if (streq(key, "}") && *q == '\0') {
                if (p->depth == 0)
                        return perr(p, in->path, lineno, "Unexpected '}'");
                if (p->overflow > 0) {
                        p->overflow--;
                        return 0;
                }
                pop(p);
                return 0;
        }

        /* section begin */
        const char *name = "";
        if (*q != '{') {
                if (*q != '"') {
                        name = q;
                        while (!IS_WHITE(*q) && *q != '\0')
                                q++;
                        if (*q != '\0') {
                                *q++ = '\0';
                                while (IS_WHITE(*q))
                                        q++;
                        }
                } else {
                        char *v = ++q;
                        while (*q != '"' && *q != '\0')
                                q++;
                        if (*q == '"') {
                                *q++ = '\0';
                                while (IS_WHITE(*q))
                                        q++;
                                name = str_unescape(v);
                        }
                }
                if (*q != '{')
                        return in_ignored(p) ? 0 : perr(p, in->path, lineno, "Expecting '{'");
        }
        if (q[1] != '\0')
                return in_ignored(p) ? 0 : perr(p, in->path, lineno, "Garbage after '{'");
        if (p->depth >= CONF_MAX_DEPTH) {
                if (p->overflow++ > 0)
                        return -E2BIG;
                return perr(p, in->path, lineno,
                            "Too deeply nested sections (more than %u levels)", CONF_MAX_DEPTH),
                       -E2BIG;
        }
        return section_begin(p, key, name, in->path, lineno);
}

static int parse_file(parser *p, const char *path, input *parent, const char *inc_file,
                      unsigned inc_line) {
        _cleanup_free_ char *buf = NULL, *full = NULL;
        size_t size, full_len = 0;
        struct stat st;
        input in = { .path = path, .parent = parent };
        unsigned lineno = 0;
        char *next;
        int r;

        r = read_whole(path, &buf, &size, &st, inc_file ?: (parent ? parent->path : NULL),
                       inc_line, p);
        if (r == -EFBIG)
                return -EINVAL;
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                if (parent && !inc_file)
                        return -ENOENT; /* !include_try */
                errno = -r;
                if (parent)
                        perr(p, inc_file, inc_line, "Couldn't open include file %s: %m", path);
                else
                        perr(p, path, 0, "open(%s) failed: %m", path);
                return -EINVAL;
        }
        in.dev = st.st_dev;
        in.ino = st.st_ino;

        for (char *line = buf; line && (size_t) (line - buf) < size; line = next) {
                char *nl = memchr(line, '\n', size - (size_t) (line - buf));
                char *s, *c;

                lineno++;
                if (nl) {
                        *nl = '\0';
                        next = nl + 1;
                } else
                        next = NULL;
                /* doveconf cuts the line at a NUL byte; what runs would differ from what an
                 * editor shows, so refuse it */
                if (memchr(line, '\0', (size_t) ((nl ?: buf + size) - line))) {
                        /* a binary file: one error, not one per line */
                        perr(p, path, lineno, "Line contains a NUL byte, not reading further");
                        return 0;
                }
                if (nl && nl > line && nl[-1] == '\r')
                        nl[-1] = '\0';

                s = line;
                while (IS_WHITE(*s))
                        s++;
                if (*s == '#' || *s == '\0') {
                        /* a comment or empty line drops a pending continuation */
                        full_len = 0;
                        continue;
                }

                /* strip comments, honouring quotes */
                for (c = s; *c; c++) {
                        if (*c == '\'' || *c == '"') {
                                char quote = *c;
                                for (c++; *c != quote && *c != '\0'; c++)
                                        if (*c == '\\' && c[1] != '\0')
                                                c++;
                                if (*c == '\0')
                                        break;
                        } else if (*c == '#') {
                                if (!IS_WHITE(c[-1])) {
                                        r = diag_add(p->diags, true, path, lineno,
                                                     "Ambiguous '#' character in line, treating it as comment. Add a space before it to remove this warning.");
                                        if (r < 0)
                                                return r;
                                }
                                *c = '\0';
                                break;
                        }
                }
                {
                        size_t len = strlen(s);
                        while (len > 0 && IS_WHITE(s[len - 1]))
                                len--;
                        s[len] = '\0';
                        if (len > 0 && s[len - 1] == '\\') {
                                len--;
                                while (len > 0 && IS_WHITE(s[len - 1]))
                                        len--;
                                if (!GREEDY_REALLOC(full, full_len + len + 2))
                                        return -ENOMEM;
                                memcpy(full + full_len, s, len);
                                full_len += len;
                                full[full_len++] = ' ';
                                full[full_len] = '\0';
                                continue;
                        }
                        if (full_len > 0) {
                                if (!GREEDY_REALLOC(full, full_len + len + 1))
                                        return -ENOMEM;
                                memcpy(full + full_len, s, len + 1);
                                full_len = 0;
                                s = full;
                                /* skip leading whitespace kept from the first line */
                                while (IS_WHITE(*s))
                                        s++;
                        }
                }
                if (*s == '\0')
                        continue;
                r = handle_line(p, &in, s, lineno);
                if (r < 0 && r != -EINVAL && r != -E2BIG)
                        return r;
        }
        return 0;
}

static void tree_free_contents(conf_tree *t) {
        for (size_t i = 0; i < t->n_sections; i++) {
                free(t->sections[i].key);
                free(t->sections[i].name);
                free(t->sections[i].file);
        }
        free(t->sections);
        for (size_t i = 0; i < t->n_settings; i++) {
                free(t->settings[i].key);
                free(t->settings[i].value);
                free(t->settings[i].expanded);
                free(t->settings[i].file);
        }
        free(t->settings);
        for (size_t i = 0; i < t->n_scopes; i++)
                free(t->scopes[i].desc);
        free(t->scopes);
        for (size_t i = 0; i < t->n_scoped; i++) {
                free(t->scoped[i].value);
                free(t->scoped[i].file);
        }
        free(t->scoped);
}

conf_tree *conf_tree_free(conf_tree *t) {
        if (t) {
                tree_free_contents(t);
                free(t);
        }
        return NULL;
}

const conf_section *conf_section_context(const conf_tree *t, const conf_section *s) {
        return s->kind == CONF_SECTION_FILTER ? &t->sections[0] : s;
}

static parser *parser_free(parser *p) {
        if (!p)
                return NULL;
        while (p->depth > 0)
                pop(p);
        section_done(&p->stack[0]);
        for (size_t i = 0; i < p->n_seen; i++) {
                free(p->seen[i].key);
                free(p->seen[i].file);
        }
        free(p->seen);
        for (size_t i = 0; i < p->n_lasts; i++) {
                free(p->lasts[i].key);
                free(p->lasts[i].value);
        }
        free(p->lasts);
        conf_tree_free(p->tree);
        free(p);
        return NULL;
}

static void parser_freep(parser **p) {
        parser_free(*p);
}

int conf_parse(const char *path, const conf_schema *schema, void *userdata, conf_diags *diags,
               conf_tree **ret) {
        _cleanup_(parser_freep) parser *p = NULL;
        size_t root;
        int r;

        p = calloc(1, sizeof(parser));
        if (!p)
                return -ENOMEM;
        p->schema = schema;
        p->userdata = userdata;
        p->diags = diags;
        p->tree = calloc(1, sizeof(conf_tree));
        if (!p->tree)
                return -ENOMEM;
        p->push_n_diags = diags->n_items;
        r = add_section(p, SEC_ROOT, schema->root, "", path, 0, &root);
        if (r < 0)
                return r;
        p->stack[0] = (section) { .kind = SEC_ROOT, .class = schema->root, .idx = root };

        r = parse_file(p, path, NULL, NULL, 0);
        if (r >= 0 || r == -EINVAL) {
                /* unclosed sections: report the innermost one */
                if (p->depth > 0) {
                        section *s = &p->stack[p->depth];
                        perr(p, s->file, s->line, "Missing '}' (section started at %s:%u)",
                             s->file, s->line);
                }
        }
        if (r < 0 && r != -EINVAL)
                return r;
        *ret = TAKE_PTR(p->tree);
        return p->failed ? -EINVAL : 0;
}
