# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# A throwaway container with a real systemd as PID 1, for scripts/demo and tests/e2e.
# Source this file, then:
#
#     ct_init NAME                      # state dir, EXIT/INT/TERM trap (never leaks a container)
#     ct_install_dovesd BUILD_DIR CONF  # generator, static units, demo, catalog, config
#     ct_bind_ro SRC DST / ct_bind SRC DST / ct_arg ARG...
#     ct_boot                           # boot and wait for "running" (or "degraded")
#     ct_exec CMD...  /  ct_sh 'SCRIPT' # run inside (nsenter into every namespace)
#     ct_stop                           # poweroff, wait, SIGKILL on timeout
#
# How the container is made: `systemd-nspawn -D / --volatile=yes --boot --private-network`.
# This host has no systemd as PID 1 and no systemd-machined, so nspawn runs with
# --register=no --keep-unit (otherwise it dies with "Failed to open system bus") and
# machinectl cannot be used: the container's PID 1 is found as the child of the nspawn
# process that lives in another PID namespace, and commands enter it with `nsenter -t PID -a`.
#
# What the container looks like (measured on Debian 12, systemd 252.39, this harness):
# * Boot: ct_boot returns after ~1.2 s (nspawn set-up + systemd reaching "running" with the
#   masks below; ~2.6 s without them); a clean poweroff takes ~2 s.
# * --volatile=yes: / is a fresh tmpfs; only /usr is the host's, read-only. /etc, /var, /run,
#   /tmp start empty, so this is a *first boot*: systemd-sysusers creates the system users
#   from /usr/lib/sysusers.d (only those: no dovecot, dovenull, haproxy users) and
#   `systemctl preset-all` enables every unit with an [Install] section that Debian's preset
#   allows, i.e. everything installed on the host (dovecot.socket, haproxy, postgresql...).
#   We mask those on the kernel command line (systemd.mask=, parsed from PID 1's argv in a
#   container) to keep ports 143/993 free and the boot short. systemd.firstboot=no skips the
#   interactive first-boot wizard.
# * Nothing can be created under /usr (read-only bind), so nspawn cannot bind a file to a
#   path whose parent does not exist there. /usr/local is therefore overlaid with a
#   throw-away upper dir (--overlay=/usr/local::/usr/local, upper dir under the host's
#   /var/tmp, removed by nspawn on exit), which lets us bind the demo to
#   /usr/local/libexec/dovesd/dovesd-demo, the path a default `meson install` uses.
# * /sys and the cgroup v1 controllers are read-only (host is cgroup v1 hybrid): slice limits
#   are checked by their loaded properties (systemctl show), never by the kernel files.
# * There is NO /dev/kmsg inside (and /proc/kmsg is masked by an empty file), and systemd 252
#   runs generators with stdin, stdout and stderr on /dev/null (tests/e2e/harness.sh checks
#   both). A generator that logs "to kmsg, else stderr" is therefore mute in this container:
#   its diagnostics reach neither the journal nor the console. Settings reach generators
#   through PID 1's command line: systemd.setenv=NAME=VALUE (CT_KARGS) is in their environment.
# * /etc/alternatives does not exist (empty /etc): /usr/bin/nc, awk, editor... are dangling
#   symlinks. Call nc.openbsd, mawk etc. by their real names.
# * journald stores to /var/log/journal (tmpfs under --volatile=yes: "persistent" storage
#   that vanishes with the container). journalctl works from the first second.
# * A process started with nsenter is a child of the nsenter process on the host. At
#   shutdown, systemd-shutdown SIGSTOPs every process before SIGTERM/SIGCONT; nsenter sees
#   its child stop, stops itself with SIGSTOP and never wakes up again, so the child stays a
#   zombie and the container hangs in "Waiting for process". ct_stop sends SIGCONT to our
#   own stopped nsenter processes (found by the exact leader PID in their argv).
# * systemd-nspawn is a background job of the sourcing shell: never use a bare `wait` there
#   (it would wait for the container); wait for the PIDs of your own background jobs.
# * nspawn's last line "Attempted to remove disk file system under
#   /run/systemd/nspawn/propagate/NAME, and we can't allow that." is harmless here: /run of
#   this host is not a tmpfs; the directory is removed anyway.

CT_NSPAWN_PID=
CT_LEADER=
# Where ct_install_dovesd puts the build tree inside the container. Not the host's path:
# a clone under /tmp (or /home, /root) would be hidden from services by the generated
# sandbox (PrivateTmp=, ProtectHome=), so configs and commands inside use $CT_BUILD.
CT_BUILD=/opt/dovesd-build
CT_HOST_BUILD=
CT_ARGS=()
CT_KARGS=()     # extra arguments for the container's PID 1 ("kernel command line")
CT_BOOT_TIMEOUT=${CT_BOOT_TIMEOUT:-60}
CT_STOP_TIMEOUT=${CT_STOP_TIMEOUT:-30}
# Units a Debian host may have installed that would start (or fail) in the container.
CT_MASK=(dovecot.socket dovecot.service haproxy.service postgresql.service
         systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer
         man-db.timer e2scrub_all.timer dpkg-db-backup.timer systemd-tmpfiles-clean.timer
         console-getty.service)

ct_log() { printf 'container: %s\n' "$*" >&2; }

# ct_init NAME: name the machine (unique per process), make the state dir, install the trap.
ct_init() {
        CT_NAME="$1-$$"
        CT_ARGS=()
        CT_KARGS=()
        CT_DIR=$(mktemp -d "/tmp/dovesd-ct-$1.XXXXXX")
        CT_CONSOLE="$CT_DIR/console.log"
        trap 'ct_stop' EXIT
        trap 'ct_stop; exit 130' INT
        trap 'ct_stop; exit 143' TERM HUP
}

ct_arg() { CT_ARGS+=("$@"); }
ct_bind_ro() { CT_ARGS+=("--bind-ro=$1:$2"); }
ct_bind() { CT_ARGS+=("--bind=$1:$2"); }

# ct_install_exec SRC DST: make the executable SRC appear at DST inside. A binary that finds
# its libraries through a build-tree RUNPATH ($ORIGIN/...) cannot simply be bound elsewhere;
# then DST is a two-line wrapper that execs SRC, which is bound at its own path.
ct_install_exec() {
        local src="$1" dst="$2" w
        [ -x "$src" ] || { ct_log "$src: not built"; return 1; }
        if grep -q 'R.*PATH.*\$ORIGIN' <<<"$(readelf -d "$src" 2>/dev/null)"; then
                w="$CT_DIR/wrap-$(basename "$dst")"
                printf '#!/bin/sh\nexec %q "$@"\n' "$(ct_path "$src")" > "$w"
                chmod 0755 "$w"
                ct_bind_ro "$w" "$dst"
        else
                ct_bind_ro "$src" "$dst"
        fi
}

# ct_path HOSTPATH: the path inside the container of a file of the build tree.
ct_path() {
        local p
        p=$(realpath "$1")
        if [ -n "$CT_HOST_BUILD" ] && [ "${p#"$CT_HOST_BUILD"/}" != "$p" ]; then
                printf '%s\n' "$CT_BUILD/${p#"$CT_HOST_BUILD"/}"
        else
                printf '%s\n' "$p"
        fi
}

# ct_install_dovesd BUILD CONF: everything dovesd needs inside, at the paths of a real install.
#   BUILD                                   -> $CT_BUILD, read-only (RUNPATHs are $ORIGIN-
#                                              relative, so they keep working there)
#   BUILD/generator/dovesd-generator        -> /etc/systemd/system-generators/dovesd-generator
#   SRC/units/*.{target,slice,service,...}  -> /etc/systemd/system/
#   BUILD/helper/dovesd-supervisor          -> /usr/local/libexec/dovesd/dovesd-supervisor
#   BUILD/examples/demo/dovesd-demo         -> /usr/local/libexec/dovesd/dovesd-demo
#   SRC/helper/*.catalog                    -> /usr/local/lib/systemd/catalog/
#   SRC/examples/dovesd-demo.sysusers       -> /etc/sysusers.d/ (users of the demo config)
#   CONF                                    -> /etc/dovesd/dovesd.conf (read-write copy, so
#                                              tests can edit it and daemon-reload)
ct_install_dovesd() {
        local build src conf f
        build=$(realpath "$1")
        conf="$2"
        src=$(realpath "$(dirname "${BASH_SOURCE[0]}")/../..")
        CT_HOST_BUILD=$build
        ct_bind_ro "$build" "$CT_BUILD"
        ct_arg --overlay=/usr/local::/usr/local
        ct_install_exec "$build/generator/dovesd-generator" \
                /etc/systemd/system-generators/dovesd-generator || return 1
        # On PATH too, as an install puts it (the generated PREFIX-apply.service runs it).
        ct_install_exec "$build/generator/dovesd-generator" /usr/local/sbin/dovesd-generator ||
                return 1
        ct_install_exec "$build/helper/dovesd-supervisor" \
                /usr/local/libexec/dovesd/dovesd-supervisor || return 1
        if [ -x "$build/examples/demo/dovesd-demo" ]; then
                ct_install_exec "$build/examples/demo/dovesd-demo" \
                        /usr/local/libexec/dovesd/dovesd-demo || return 1
        fi
        for f in "$src"/units/*.target "$src"/units/*.slice "$src"/units/*.service "$src"/units/*.path \
                 "$src"/units/*.socket; do
                [ -f "$f" ] && ct_bind_ro "$f" "/etc/systemd/system/$(basename "$f")"
        done
        for f in "$src"/helper/*.catalog "$src"/units/*.catalog; do
                [ -f "$f" ] && ct_bind_ro "$f" "/usr/local/lib/systemd/catalog/$(basename "$f")"
        done
        [ -f "$src/examples/dovesd-demo.sysusers" ] &&
                ct_bind_ro "$src/examples/dovesd-demo.sysusers" /etc/sysusers.d/dovesd-demo.conf
        mkdir -p "$CT_DIR/etc-dovesd"
        cp "$conf" "$CT_DIR/etc-dovesd/dovesd.conf"
        CT_CONF="$CT_DIR/etc-dovesd/dovesd.conf"
        ct_bind "$CT_DIR/etc-dovesd" /etc/dovesd
}

# ct_boot: start the container in the background and wait until systemd reports the boot
# finished. Returns 0 on running/degraded; otherwise prints why and the console tail.
ct_boot() {
        local masks=() m i st pidns
        for m in "${CT_MASK[@]}"; do masks+=("systemd.mask=$m"); done
        # Not setsid: a SIGTERM to our process group (meson test timeout) reaches nspawn too,
        # which then asks the container's systemd for a clean poweroff.
        systemd-nspawn --quiet -D / --volatile=yes --boot --private-network \
                --register=no --keep-unit -M "$CT_NAME" --console=read-only \
                "${CT_ARGS[@]}" \
                systemd.firstboot=no systemd.show_status=auto "${masks[@]}" "${CT_KARGS[@]}" \
                </dev/null >"$CT_CONSOLE" 2>&1 &
        CT_NSPAWN_PID=$!
        pidns=$(readlink /proc/self/ns/pid)
        # The leader is the nspawn child that lives in a new PID namespace.
        for ((i = 0; i < CT_BOOT_TIMEOUT * 10; i++)); do
                if ! kill -0 "$CT_NSPAWN_PID" 2>/dev/null; then
                        ct_log "systemd-nspawn exited during start-up; console log follows"
                        sed 's/^/  | /' "$CT_CONSOLE" >&2
                        CT_NSPAWN_PID=
                        return 1
                fi
                for m in $(pgrep -P "$CT_NSPAWN_PID"); do
                        if [ "$(readlink "/proc/$m/ns/pid" 2>/dev/null)" != "$pidns" ] &&
                           [ "$(cat "/proc/$m/comm" 2>/dev/null)" = systemd ]; then
                                CT_LEADER=$m
                                break 2
                        fi
                done
                sleep 0.1
        done
        if [ -z "$CT_LEADER" ]; then
                ct_log "no container PID 1 appeared within ${CT_BOOT_TIMEOUT}s"
                return 1
        fi
        # Early on, PID 1 may not have its private bus socket yet: retry until it answers.
        # Each wait runs in the background so that a signal reaches our trap at once (bash
        # runs traps only between foreground commands, but interrupts `wait`).
        local deadline=$((SECONDS + CT_BOOT_TIMEOUT)) left
        while :; do
                left=$((deadline - SECONDS))
                [ "$left" -gt 0 ] || break
                timeout "$left" nsenter -t "$CT_LEADER" -a \
                        systemctl is-system-running --wait >"$CT_DIR/state" 2>/dev/null &
                wait $!
                st=$(cat "$CT_DIR/state" 2>/dev/null)
                case "$st" in
                running) return 0 ;;
                degraded)
                        ct_log "booted degraded; failed units:"
                        ct_exec systemctl --failed --no-legend --plain >&2
                        return 0 ;;
                # "offline": PID 1 has not created /run/systemd/system yet (early boot)
                initializing|starting|offline|"") sleep 0.5 ;;
                *) break ;;
                esac
        done
        ct_log "boot did not finish within ${CT_BOOT_TIMEOUT}s (state: '${st:-none}')"
        if [ -n "$CT_LEADER" ] && kill -0 "$CT_LEADER" 2>/dev/null; then
                ct_log "jobs still pending:"
                timeout 10 nsenter -t "$CT_LEADER" -a systemctl list-jobs --no-pager >&2
                ct_log "journal of the units involved (last 40 lines):"
                timeout 10 nsenter -t "$CT_LEADER" -a journalctl -b --no-pager -n 40 >&2
        else
                ct_log "console log follows"
                sed 's/^/  | /' "$CT_CONSOLE" | tail -60 >&2
        fi
        return 1
}

# ct_exec CMD...: run CMD inside with a clean environment (the host's, e.g. meson's
# MALLOC_PERTURB_ or a LISTEN_FDS, must not leak in).
ct_exec() {
        nsenter -t "$CT_LEADER" -a \
                env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 SYSTEMD_URLIFY=0 "$@"
}
ct_sh() { ct_exec /bin/sh -c "$1"; }

# SIGCONT to our own nsenter processes that systemd-shutdown's SIGSTOP froze (see above).
ct_unfreeze() {
        local p
        [ -n "$CT_LEADER" ] || return 0
        for p in $(pgrep -x nsenter); do
                if grep -q "^nsenter -t $CT_LEADER " <<<"$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null)" &&
                   grep -q '^State:.*T' "/proc/$p/status" 2>/dev/null; then
                        kill -CONT "$p" 2>/dev/null
                fi
        done
}

# ct_stop: clean poweroff; SIGKILL nspawn and the container's PID 1 after CT_STOP_TIMEOUT.
# Safe to call twice; the state dir is removed unless CT_KEEP=1.
ct_stop() {
        local i
        if [ -n "$CT_NSPAWN_PID" ] && kill -0 "$CT_NSPAWN_PID" 2>/dev/null; then
                if [ -n "$CT_LEADER" ]; then
                        timeout 10 nsenter -t "$CT_LEADER" -a systemctl poweroff --no-block \
                                >/dev/null 2>&1 || kill -TERM "$CT_NSPAWN_PID" 2>/dev/null
                else
                        kill -TERM "$CT_NSPAWN_PID" 2>/dev/null
                fi
                for ((i = 0; i < CT_STOP_TIMEOUT * 5; i++)); do
                        kill -0 "$CT_NSPAWN_PID" 2>/dev/null || break
                        ct_unfreeze
                        sleep 0.2
                done
                if kill -0 "$CT_NSPAWN_PID" 2>/dev/null; then
                        ct_log "no clean shutdown within ${CT_STOP_TIMEOUT}s, killing it"
                        [ -n "$CT_LEADER" ] && kill -KILL "$CT_LEADER" 2>/dev/null
                        kill -KILL "$CT_NSPAWN_PID" 2>/dev/null
                fi
                wait "$CT_NSPAWN_PID" 2>/dev/null
        fi
        CT_NSPAWN_PID=
        CT_LEADER=
        if [ -n "${CT_DIR:-}" ] && [ "${CT_KEEP:-0}" != 1 ]; then
                rm -rf "$CT_DIR"
                CT_DIR=
        fi
        return 0
}

# ct_wait_active UNIT [TIMEOUT]: wait until UNIT's ActiveState is active.
ct_wait_state() {
        local unit="$1" want="$2" t="${3:-20}" i s
        for ((i = 0; i < t * 10; i++)); do
                s=$(ct_exec systemctl show -P ActiveState "$unit" 2>/dev/null)
                [ "$s" = "$want" ] && return 0
                sleep 0.1
        done
        return 1
}
