/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "ids.h"
#include "internal.h"

#define GROUPS_MAX DOVESD_IDS_GROUPS_MAX

static int lookup_group(const ids_source *s, const char *var, const char *name, gid_t *ret) {
        struct group *gr;

        errno = 0;
        gr = getgrnam(name);
        if (!gr) {
                if (errno != 0 && errno != ENOENT && errno != ESRCH)
                        service_log(s, LOG_ERR, "%s: cannot look up group '%s': %m", var, name);
                else
                        service_log(s, LOG_ERR, "%s: unknown group '%s'", var, name);
                return -ESRCH;
        }
        *ret = gr->gr_gid;
        return 0;
}

/* Capabilities through the system calls themselves: cap_get_proc() and cap_set_proc() cost a
 * capget() each on top, and allocations, in every worker start. */
static int caps_get(struct __user_cap_data_struct data[static 2]) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };

        return syscall(SYS_capget, &h, data) < 0 ? -errno : 0;
}

static bool caps_empty_now(void) {
        struct __user_cap_data_struct d[2] = {};

        if (caps_get(d) < 0)
                return false;
        for (size_t i = 0; i < 2; i++)
                if (d[i].effective != 0 || d[i].permitted != 0 || d[i].inheritable != 0)
                        return false;
        return true;
}

static int drop_caps(dovesd_service *s, bool bounding) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct empty[2] = {};
        int r = 0;

        if (bounding) {
                /* Needs CAP_SETPCAP, so this runs before setresuid(). Only the capabilities
                 * still in the set: each PR_CAPBSET_DROP commits new credentials, even for
                 * one already gone (~0.4 µs each in a fresh worker, 41 of them), a
                 * PR_CAPBSET_READ does not (~0.1 µs), and the unit's CapabilityBoundingSet=
                 * leaves four. A read that fails (EINVAL: past the kernel's last capability)
                 * drops it anyway, as before. */
                cap_value_t last = MAX(cap_max_bits(), (cap_value_t) CAP_LAST_CAP + 1);

                for (cap_value_t c = 0; c < last; c++) {
                        if (prctl(PR_CAPBSET_READ, (unsigned long) c, 0, 0, 0) == 0)
                                continue;
                        if (prctl(PR_CAPBSET_DROP, (unsigned long) c, 0, 0, 0) < 0 && errno != EINVAL) {
                                r = -errno;
                                service_log(s, LOG_ERR, "Failed to drop capability %d from the bounding set: %m",
                                            (int) c);
                                return r;
                        }
                }
                /* One call for the whole ambient set (EINVAL: a kernel without ambient
                 * capabilities, < 4.3, has none to clear). */
                (void) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
                return 0;
        }

        if (syscall(SYS_capset, &h, empty) < 0) {
                r = -errno;
                service_log(s, LOG_ERR, "Failed to drop capabilities: %m");
                return r;
        }
        if (!caps_empty_now()) {
                service_log(s, LOG_ERR, "Capabilities are still present after dropping them");
                return -EPERM;
        }
        return 0;
}

/* The kernel clears the parent-death signal when the effective or fs uid or gid changes
 * (commit_creds()): a worker that set one (the pool's workers do) would outlive a killed
 * supervisor until systemd's cgroup kill. Saved before a change, set again after it; a parent
 * that died in between (the process was re-parented) gets the signal delivered at once, as
 * the kernel would have. */
typedef struct pdeathsig {
        int sig;
        pid_t ppid;
} pdeathsig;

static pdeathsig pdeathsig_save(void) {
        int sig = 0;

        if (prctl(PR_GET_PDEATHSIG, &sig) < 0)
                sig = 0;
        return (pdeathsig) { .sig = sig, .ppid = getppid() };
}

static int pdeathsig_restore(dovesd_service *s, const pdeathsig *d) {
        int r;

        if (d->sig == 0)
                return 0;
        if (prctl(PR_SET_PDEATHSIG, d->sig) < 0) {
                r = -errno;
                service_log(s, LOG_ERR, "prctl(PR_SET_PDEATHSIG) failed: %m");
                return r;
        }
        if (getppid() != d->ppid)
                (void) kill(getpid(), d->sig);
        return 0;
}

static int restrict_credentials(dovesd_service *s);

int service_restrict(dovesd_service *s) {
        pdeathsig d;
        int r, q;

        if (s->restricted)
                return 0;
        d = pdeathsig_save();
        r = restrict_credentials(s);
        /* also after a failure: the caller may go on, or exit on its own terms */
        q = pdeathsig_restore(s, &d);
        return r < 0 ? r : q;
}

int service_resolve_ids(const ids_source *s, dovesd_ids *ret) {
        dovesd_ids ids = { .uid = getuid(), .gid = getgid() };
        int r;

        /* Resolve every name while NSS is reachable, before chroot. */
        if (s->settings->user) {
                struct passwd *pw;

                errno = 0;
                pw = getpwnam(s->settings->user);
                if (!pw) {
                        service_log(s, LOG_ERR, "DOVESD_USER: unknown user '%s'", s->settings->user);
                        return -ESRCH;
                }
                ids.uid = pw->pw_uid;
                ids.gid = pw->pw_gid;
                ids.set_uid = ids.set_gid = true;
        }
        if (s->settings->group) {
                r = lookup_group(s, DOVESD_ENV_GROUP, s->settings->group, &ids.gid);
                if (r < 0)
                        return r;
                ids.set_gid = true;
        }
        if (s->settings->privileged_group) {
                r = lookup_group(s, DOVESD_ENV_PRIVILEGED_GROUP, s->settings->privileged_group, &ids.priv_gid);
                if (r < 0)
                        return r;
                ids.has_priv_gid = true;
                ids.set_gid = true;
        }
        ids.gid0_allowed = !ids.set_gid || ids.gid == 0 || (ids.has_priv_gid && ids.priv_gid == 0);
        if (s->settings->extra_groups) {
                _cleanup_free_ char *copy = strdup(s->settings->extra_groups);
                char *saveptr = NULL;

                if (!copy)
                        return -ENOMEM;
                for (char *w = strtok_r(copy, ", ", &saveptr); w; w = strtok_r(NULL, ", ", &saveptr)) {
                        if (ids.n_groups >= GROUPS_MAX - 1) {
                                service_log(s, LOG_ERR, "DOVESD_EXTRA_GROUPS: more than %d groups",
                                            GROUPS_MAX - 1);
                                return -E2BIG;
                        }
                        r = lookup_group(s, DOVESD_ENV_EXTRA_GROUPS, w, &ids.groups[ids.n_groups]);
                        if (r < 0)
                                return r;
                        if (ids.groups[ids.n_groups] == 0)
                                ids.gid0_allowed = true;
                        ids.n_groups++;
                }
                ids.set_gid = true;
        }
        /* As Dovecot: with a privileged group, the primary group joins the supplementary ones
         * so that it stays usable while the egid is the privileged one. */
        if (ids.has_priv_gid)
                ids.groups[ids.n_groups++] = ids.gid;

        *ret = ids;
        return 0;
}

int ids_to_env(const dovesd_ids *ids, char **ret) {
        /* "NAME=" and 4 numbers, the flag and the groups, each at most 11 characters */
        size_t size = strlen(DOVESD_ENV_WORKER_IDS) + 1 + (4 + ids->n_groups) * 12 + 4;
        char *buf = malloc(size), *p;

        if (!buf)
                return -ENOMEM;
        p = buf + sprintf(buf, "%s=", DOVESD_ENV_WORKER_IDS);
        p += ids->set_uid ? sprintf(p, "%u ", (unsigned) ids->uid) : sprintf(p, "- ");
        p += ids->set_gid ? sprintf(p, "%u ", (unsigned) ids->gid) : sprintf(p, "- ");
        p += ids->has_priv_gid ? sprintf(p, "%u ", (unsigned) ids->priv_gid) : sprintf(p, "- ");
        p += sprintf(p, "%d ", ids->gid0_allowed);
        if (ids->n_groups == 0)
                strcpy(p, "-");
        for (size_t i = 0; i < ids->n_groups; i++)
                p += sprintf(p, "%s%u", i > 0 ? "," : "", (unsigned) ids->groups[i]);
        *ret = buf;
        return 0;
}

/* One number (a uid or gid: below 2^32 - 1, which is "none") or "-", then SEP. */
static int parse_id(const char **p, char sep, bool *ret_set, unsigned *ret) {
        unsigned long long v = 0;
        const char *q = *p;

        if (*q == '-') {
                *ret_set = false;
                q++;
        } else {
                if (*q < '0' || *q > '9')
                        return -EINVAL;
                while (*q >= '0' && *q <= '9') {
                        v = v * 10 + (unsigned) (*q++ - '0');
                        if (v >= UINT32_MAX)
                                return -EINVAL;
                }
                *ret_set = true;
                *ret = (unsigned) v;
        }
        if (*q != sep)
                return -EINVAL;
        *p = q + (sep != '\0');
        return 0;
}

int ids_from_string(const char *text, dovesd_ids *ret) {
        dovesd_ids ids = {};
        const char *p = text;
        unsigned v = 0;
        bool set;

        if (parse_id(&p, ' ', &ids.set_uid, &v) < 0)
                return -EINVAL;
        ids.uid = v;
        if (parse_id(&p, ' ', &ids.set_gid, &v) < 0)
                return -EINVAL;
        ids.gid = v;
        if (parse_id(&p, ' ', &ids.has_priv_gid, &v) < 0)
                return -EINVAL;
        ids.priv_gid = v;
        if ((p[0] != '0' && p[0] != '1') || p[1] != ' ')
                return -EINVAL;
        ids.gid0_allowed = p[0] == '1';
        p += 2;
        if (streq(p, "-")) {
                *ret = ids;
                return 0;
        }
        for (;;) {
                const char *comma = strchr(p, ',');

                if (ids.n_groups >= GROUPS_MAX)
                        return -EINVAL;
                if (parse_id(&p, comma ? ',' : '\0', &set, &v) < 0 || !set)
                        return -EINVAL;
                ids.groups[ids.n_groups++] = v;
                if (!comma)
                        break;
        }
        *ret = ids;
        return 0;
}

/* A worker of dovesd-supervisor takes the ids the supervisor resolved; anything else (or a
 * variable that does not parse) looks the names up itself. */
static int restrict_ids(dovesd_service *s, dovesd_ids *ret) {
        const char *e = getenv(DOVESD_ENV_WORKER_IDS);
        int r = -ENOENT;

        if (e && s->role->supervisor_ids)
                r = ids_from_string(e, ret);
        if (e) {
                /* The program's children resolve for themselves. */
                (void) unsetenv(DOVESD_ENV_WORKER_IDS);
                if (r < 0 && s->role->supervisor_ids)
                        service_log(s, LOG_WARNING, "%s: malformed, looking the names up", DOVESD_ENV_WORKER_IDS);
        }
        if (r >= 0) {
                if (!ret->set_uid)
                        ret->uid = getuid();
                if (!ret->set_gid)
                        ret->gid = getgid();
                return 0;
        }
        return service_resolve_ids(&(ids_source) { .settings = s->settings, .log = s->log }, ret);
}

static int restrict_credentials(dovesd_service *s) {
        bool as_root = geteuid() == 0, set_uid, set_gid, gid0_allowed;
        dovesd_ids ids;
        uid_t uid;
        gid_t gid, priv_gid;
        int r;

        r = restrict_ids(s, &ids);
        if (r < 0)
                return r;
        set_uid = ids.set_uid;
        set_gid = ids.set_gid;
        gid0_allowed = ids.gid0_allowed;
        uid = ids.uid;
        gid = ids.gid;
        priv_gid = ids.has_priv_gid ? ids.priv_gid : 0;
        s->has_priv_gid = ids.has_priv_gid;

        if (set_uid && uid == 0 && strcmp(s->settings->type, "login") == 0) {
                service_log(s, LOG_ERR, "This process must not be run as root");
                return -EPERM;
        }
        if (!set_uid && uid == 0 && strcmp(s->settings->type, "login") == 0) {
                service_log(s, LOG_ERR, "DOVESD_USER is not set: a login process must not run as root");
                return -EPERM;
        }

        if (!as_root) {
                /* Already unprivileged (systemd's User=): only an identity we have works. */
                if (set_uid && uid != getuid()) {
                        service_log(s, LOG_ERR, "Cannot switch to user '%s' (uid %u): not running as root",
                                    s->settings->user, (unsigned) uid);
                        return -EPERM;
                }
                set_uid = set_gid = false;
        }

        if (as_root) {
                r = drop_caps(s, true);
                if (r < 0)
                        return r;
        }

        if (set_gid) {
                if (setgroups(ids.n_groups, ids.groups) < 0) {
                        r = -errno;
                        service_log(s, LOG_ERR, "setgroups() failed: %m");
                        return r;
                }
                if (setresgid(gid, gid, s->has_priv_gid ? priv_gid : gid) < 0) {
                        r = -errno;
                        service_log(s, LOG_ERR, "setresgid(%u, %u, %u) failed: %m", (unsigned) gid,
                                    (unsigned) gid, (unsigned) (s->has_priv_gid ? priv_gid : gid));
                        return r;
                }
        } else if (as_root && set_uid) {
                /* Leaving root: never keep root's supplementary groups. */
                if (setgroups(0, NULL) < 0) {
                        r = -errno;
                        service_log(s, LOG_ERR, "setgroups() failed: %m");
                        return r;
                }
        }

        if (s->settings->chroot) {
                /* journald and NOTIFY_SOCKET are paths outside the chroot: connect first. */
                service_log_connect();
                if (chroot(s->settings->chroot) < 0) {
                        r = -errno;
                        service_log(s, LOG_ERR, "chroot(%s) failed: %m", s->settings->chroot);
                        return r;
                }
                if (chdir("/") < 0) {
                        r = -errno;
                        service_log(s, LOG_ERR, "chdir(/) in the chroot %s failed: %m", s->settings->chroot);
                        return r;
                }
        }

        if (set_uid && setresuid(uid, uid, uid) < 0) {
                r = -errno;
                service_log(s, LOG_ERR, "setresuid(%u) failed: %m", (unsigned) uid);
                return r;
        }

        /* Verify, as OpenBSD's daemons and Dovecot do. */
        if (getuid() != 0 && geteuid() != 0) {
                if (setuid(0) == 0 || errno != EPERM) {
                        service_log(s, LOG_ERR, "We couldn't drop root privileges");
                        return -EPERM;
                }
        }
        if (!gid0_allowed) {
                gid_t rg, eg, sg, list[GROUPS_MAX];
                int n;

                if (getresgid(&rg, &eg, &sg) < 0)
                        return -errno;
                n = getgroups(GROUPS_MAX, list);
                if (n < 0)
                        return -errno;
                bool has0 = rg == 0 || eg == 0 || sg == 0;
                for (int i = 0; i < n; i++)
                        if (list[i] == 0)
                                has0 = true;
                if (has0) {
                        service_log(s, LOG_ERR, "We couldn't drop root group privileges (GID 0 isn't permitted)");
                        return -EPERM;
                }
        }

        r = drop_caps(s, false);
        if (r < 0)
                return r;

        s->uid = getuid();
        s->gid = gid;
        s->priv_gid = priv_gid;
        s->restricted = true;
        s->caps_dropped = true;

        /* Routine in every worker: debug there, info for a process on its own. */
        int prio = s->role->routine_priority;
        _cleanup_free_ char *desc = NULL;
        if (service_log_enabled(s, prio) && dovesd_service_describe_privileges(s, &desc) >= 0)
                service_log_full(s, prio, DOVESD_MESSAGE_PRIVILEGES_DROPPED, NULL, NULL,
                                 "Privileges dropped: %s", desc);
        return 0;
}

_public_ int dovesd_service_restrict(dovesd_service *s) {
        if (!s)
                return -EINVAL;
        return service_restrict(s);
}

_public_ int dovesd_privileged_group_enable(dovesd_service *s, bool enable) {
        pdeathsig d;
        gid_t g;

        if (!s)
                return -EINVAL;
        if (!s->restricted)
                return -ENOTCONN;
        if (!s->has_priv_gid)
                return -ENOENT;
        g = enable ? s->priv_gid : s->gid;
        d = pdeathsig_save();
        if (setegid(g) < 0) {
                int r = -errno;

                service_log(s, LOG_ERR, "setegid(%s) failed: %m", enable ? "privileged" : "primary");
                return r;
        }
        return pdeathsig_restore(s, &d);
}

_public_ bool dovesd_service_is_restricted(const dovesd_service *s) {
        return s && s->restricted;
}

_public_ const char *dovesd_service_get_chroot(const dovesd_service *s) {
        return s && s->restricted ? s->settings->chroot : NULL;
}

_public_ bool dovesd_service_caps_dropped(const dovesd_service *s) {
        return s && caps_empty_now();
}

_public_ int dovesd_service_describe_privileges(const dovesd_service *s, char **ret) {
        uid_t ru, eu, su;
        gid_t rg, eg, sg, list[GROUPS_MAX];
        char groups[GROUPS_MAX * 12] = "", *caps = NULL, *out = NULL;
        size_t off = 0;
        int n;

        if (!s || !ret)
                return -EINVAL;
        if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
                return -errno;
        n = getgroups(GROUPS_MAX, list);
        if (n < 0)
                return -errno;
        for (int i = 0; i < n; i++)
                off += snprintf(groups + off, sizeof(groups) - off, "%s%u", i ? "," : "",
                                (unsigned) list[i]);

        if (!caps_empty_now()) {
                cap_t cur = cap_get_proc();
                char *t = cur ? cap_to_text(cur, NULL) : NULL;

                caps = t ? strdup(t) : NULL;
                cap_free(t);
                cap_free(cur);
                if (!caps)
                        return -ENOMEM;
        }

        n = asprintf(&out, "uid=%u euid=%u gid=%u egid=%u sgid=%u groups=%s chroot=%s caps=%s",
                     (unsigned) ru, (unsigned) eu, (unsigned) rg, (unsigned) eg, (unsigned) sg,
                     groups, s->restricted && s->settings->chroot ? s->settings->chroot : "none", caps ?: "none");
        free(caps);
        if (n < 0)
                return -ENOMEM;
        *ret = out;
        return 0;
}
