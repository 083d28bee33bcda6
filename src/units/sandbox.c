/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sandbox.h"

#define CHROOTED_SYSTEM \
        "/usr, /boot and /etc read-only. Not strict: the mail storage (/var/mail, " \
        "/var/vmail, /var/lib/dovecot, index directories) is wherever mail_location says, " \
        "which the generator does not know. See Chrooted services."
#define KERNEL "Nothing in a mail service does these; journald is the log."
#define UNUSED "Not used."
#define SYSCALLS \
        "@system-service holds @setuid (setgroups, setresgid, setresuid) and capset; prctl " \
        "(PR_CAPBSET_DROP) is in @process. chroot(2) is only in @mount and @privileged " \
        "(systemd-analyze syscall-filter, systemd 252), so it is added for a chrooted " \
        "service only."

const sandbox_directive sandbox_table[] = {
        { "NoNewPrivileges", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS,
          "No privileges gained through exec(2) (setuid and setgid programs, file "
          "capabilities). It does not block the in-process drop: setgroups(2), setresgid(2), "
          "chroot(2) and setresuid(2) by a process that already holds the capabilities." },
        { "CapabilityBoundingSet", SANDBOX_CAPABILITIES, NULL, SANDBOX_ALWAYS,
          "Exactly what the start-as-root-then-drop sequence needs." },
        { "RestrictAddressFamilies", SANDBOX_FIXED, "AF_UNIX AF_INET AF_INET6", SANDBOX_ALWAYS,
          "Filters socket(2) only: the listening sockets systemd passes in work whatever their "
          "family. AF_UNIX for journald, sd_notify(3) and Dovecot's own sockets; AF_INET and "
          "AF_INET6 for every service, also one without inet listeners, since the programs "
          "connect out in ways a service section does not show (auth to SQL or LDAP, login "
          "proxying, lmtp proxy, submission relay, dict, fts over HTTP, doveadm_server). The "
          "PROXY protocol needs nothing more. AF_NETLINK, AF_PACKET and every other family "
          "are refused." },
        { "PrivateTmp", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS,
          "mail_temp_dir defaults to /tmp; the files are the process's own." },
        { "PrivateDevices", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS,
          "Only pseudo devices (/dev/null, zero, random, urandom, tty and the like); no raw "
          "devices, no mknod(2)." },
        { "ProtectSystem", SANDBOX_FIXED, "strict", SANDBOX_CHROOTED, CHROOTED_SYSTEM },
        { "ReadWritePaths", SANDBOX_CHROOT_RW, NULL, SANDBOX_CHROOTED,
          "A chrooted process works inside its chroot: writable as far as its own permissions "
          "allow, everything else read-only." },
        { "ProtectHome", SANDBOX_FIXED, "yes", SANDBOX_CHROOTED_HOME_HIDDEN,
          "~/Maildir under /home is Dovecot's most common layout." },
        { "ProtectSystem", SANDBOX_FIXED, "full", SANDBOX_UNCHROOTED, CHROOTED_SYSTEM },
        { "ProtectKernelTunables", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS, KERNEL },
        { "ProtectKernelModules", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS, KERNEL },
        { "ProtectKernelLogs", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS, KERNEL },
        { "ProtectControlGroups", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS, KERNEL },
        { "ProtectClock", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS, KERNEL },
        { "ProtectHostname", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS, KERNEL },
        { "ProtectProc", SANDBOX_FIXED, "invisible", SANDBOX_ALWAYS,
          "Other users' processes are hidden in /proc. The pool supervisor signals its "
          "workers and never reads their /proc entries." },
        { "RestrictNamespaces", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS, UNUSED },
        { "RestrictRealtime", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS, UNUSED },
        { "RestrictSUIDSGID", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS,
          "No setuid or setgid files. Relax it for shared mailboxes that create setgid "
          "directories." },
        { "LockPersonality", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS, UNUSED },
        { "MemoryDenyWriteExecute", SANDBOX_FIXED, "yes", SANDBOX_ALWAYS,
          "C needs no writable and executable memory. Relax it for a JIT (LuaJIT for auth or "
          "mail Lua scripts, the PCRE2 JIT)." },
        { "SystemCallArchitectures", SANDBOX_FIXED, "native", SANDBOX_ALWAYS,
          "No foreign system call ABIs." },
        { "SystemCallFilter", SANDBOX_FIXED, "@system-service", SANDBOX_ALWAYS, SYSCALLS },
        { "SystemCallFilter", SANDBOX_FIXED, "chroot", SANDBOX_CHROOTED, SYSCALLS },
        { "SystemCallErrorNumber", SANDBOX_FIXED, "EPERM", SANDBOX_ALWAYS,
          "A filtered call fails with EPERM instead of killing the process with SIGSYS, so "
          "the program can log what it tried." },
        { "UMask", SANDBOX_FIXED, "0077", SANDBOX_ALWAYS,
          "Dovecot's master runs every service with umask 0077. Listener modes are set by "
          "systemd (SocketMode=), not by the service's umask." },
        { "RemoveIPC", SANDBOX_FIXED, "yes", SANDBOX_REMOVE_IPC,
          "drop_priv_before_exec = yes with a user other than root: that user's System V IPC "
          "objects and POSIX message queues go away when the unit stops." },
};
const size_t sandbox_table_size = ELEMENTSOF(sandbox_table);

/* Is PATH the directory DIR or below it? */
static bool path_in(const char *path, const char *dir) {
        size_t n = strlen(dir);

        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool applies(const sandbox_directive *d, const sandbox_params *p) {
        bool chrooted = !isempty(p->chroot);

        switch (d->when) {
        case SANDBOX_ALWAYS:
                return true;
        case SANDBOX_UNCHROOTED:
                return !chrooted;
        case SANDBOX_CHROOTED:
                return chrooted;
        case SANDBOX_CHROOTED_HOME_HIDDEN:
                return chrooted && !path_in(p->chroot, "/home") && !path_in(p->chroot, "/root") &&
                       !path_in(p->chroot, "/run/user");
        case SANDBOX_REMOVE_IPC:
                return p->remove_ipc;
        }
        return false;
}

int sandbox_add(unit_file *u, const char *section, const sandbox_params *p) {
        for (size_t i = 0; i < sandbox_table_size; i++) {
                const sandbox_directive *d = &sandbox_table[i];
                _cleanup_free_ char *rw = NULL;
                int r;

                if (!applies(d, p))
                        continue;
                switch (d->kind) {
                case SANDBOX_FIXED:
                        r = unit_file_add(u, section, d->key, d->value);
                        break;
                case SANDBOX_CAPABILITIES:
                        r = unit_file_add_escaped(u, section, d->key, p->capabilities ?: "");
                        break;
                case SANDBOX_CHROOT_RW:
                        if (asprintf(&rw, "-%s", p->chroot) < 0)
                                return -ENOMEM;
                        r = unit_file_add_word(u, section, d->key, rw);
                        break;
                default:
                        r = -EINVAL;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}
