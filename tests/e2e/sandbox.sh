#!/bin/bash
# SPDX-License-Identifier: MIT
# The generated sandbox under a real systemd (issue 10): services built on libdovesd still
# start, drop privileges (setgroups, setresgid with a privileged gid saved, chroot,
# setresuid, capabilities) and serve with NoNewPrivileges=, the reduced
# CapabilityBoundingSet=, SystemCallFilter= and the rest of the profile on; the live
# `systemd-analyze security` score of each is at most 5.0.
set -uo pipefail
here=$(dirname "$(realpath "$0")")
. "$here/tap.sh"
. "$here/../../scripts/lib/container.sh"

build=$(realpath "${DOVESD_BUILD_ROOT:?DOVESD_BUILD_ROOT is not set}")
[ -x "$build/tests/install/hello" ] || bail "$build/tests/install/hello is not built"
hello=$CT_BUILD/tests/install/hello     # its path inside the container

ct_init e2e-sandbox
cat > "$CT_DIR/dovesd.conf" <<CONF
# user, extra_groups, privileged_group: the in-process drop, no chroot
service hello {
  executable = $hello
  user = sbxuser
  extra_groups = adm
  privileged_group = mail
  process_limit = 1
  inet_listener hello {
    address = 127.0.0.1
    port = 7777
  }
}
# the same with chroot = empty (base_dir/empty, made by dovesd-dirs.service)
service jail {
  executable = $hello
  user = sbxuser
  chroot = empty
  process_limit = 1
  inet_listener jail {
    address = 127.0.0.1
    port = 7778
  }
}
# a pool (dovesd-supervisor, which stays root, starts every worker by fork + exec; each
# worker drops its privileges itself), started at boot
service pool {
  executable = $hello
  user = sbxuser
  process_limit = 3
  process_min_avail = 2
  inet_listener pool {
    address = 127.0.0.1
    port = 7780
  }
}
# no user: stays root, with the root capability set
service rooty {
  executable = $hello
  process_limit = 1
  inet_listener rooty {
    address = 127.0.0.1
    port = 7779
  }
}
CONF
printf 'u sbxuser - "dovesd sandbox test"\n' > "$CT_DIR/sbx.sysusers"
ct_install_dovesd "$build" "$CT_DIR/dovesd.conf" || bail "cannot install dovesd into the container"
ct_bind_ro "$CT_DIR/sbx.sysusers" /etc/sysusers.d/dovesd-sandbox-test.conf
ct_boot || bail "container did not boot"

ct_exec systemctl start dovesd.target
uid=$(ct_exec id -u sbxuser)
mail=$(ct_exec getent group mail | cut -d: -f3)
adm=$(ct_exec getent group adm | cut -d: -f3)
tap_diag "sbxuser uid=$uid, groups mail=$mail adm=$adm"

# The services start on their first client (socket activation). Bounds are generous: the
# machine may be loaded; nothing here measures time.
ports=([7777]=hello [7778]=jail [7779]=rooty [7780]=pool)
for p in 7777 7778 7779 7780; do
        s=${ports[$p]}
        out=$(ct_sh "timeout 60 nc.openbsd -N 127.0.0.1 $p </dev/null" | tr -d '\r')
        check_match "$s: serves a client on 127.0.0.1:$p" "^hello from $s on $s, you are 127\.0\.0\.1:" "$out"
done
for s in hello rooty pool; do
        check "$s: active (READY=1 reached with the sandbox on)" ct_wait_state "dovesd-$s.service" active 60
done

status() { ct_sh "grep -E '^$2:' /proc/\$(systemctl show -P MainPID dovesd-$1.service)/status | cut -f2- | tr '\t' ' '"; }

# What systemd applied (the unit as loaded) ...
check_eq "hello: bounding set from the unit: SETUID, SETGID, SETPCAP" \
        "cap_setgid cap_setuid cap_setpcap" \
        "$(ct_exec systemctl show -P CapabilityBoundingSet dovesd-hello.service)"
check_eq "jail: bounding set from the unit: + SYS_CHROOT" \
        "cap_setgid cap_setuid cap_setpcap cap_sys_chroot" \
        "$(ct_exec systemctl show -P CapabilityBoundingSet dovesd-jail.service)"
check_eq "rooty: bounding set from the unit: the root set" \
        "cap_chown cap_dac_override cap_dac_read_search cap_fowner cap_setgid cap_setuid cap_setpcap cap_sys_chroot" \
        "$(ct_exec systemctl show -P CapabilityBoundingSet dovesd-rooty.service)"

# ... and what the process has after libdovesd's drop.
for s in hello jail rooty; do
        check_eq "$s: NoNewPrivs set" 1 "$(status $s NoNewPrivs)"
        check_eq "$s: seccomp filter mode" 2 "$(status $s Seccomp)"
        check_eq "$s: no capability left (CapEff, CapBnd)" "0000000000000000 0000000000000000" \
                "$(status $s CapEff) $(status $s CapBnd)"
done
check_eq "hello: setresuid to sbxuser" "$uid $uid $uid $uid" "$(status hello Uid)"
check_eq "hello: setresgid with the privileged gid (mail) saved" "$uid $uid $mail $uid" \
        "$(status hello Gid)"
check_eq "hello: setgroups: extra and primary group" "$adm $uid" "$(status hello Groups | xargs)"
check_match "hello: libdovesd logged the drop" "Privileges dropped: uid=$uid euid=$uid .* caps=none" \
        "$(ct_exec journalctl --no-pager -o cat -u dovesd-hello.service)"
check_eq "jail: setresuid to sbxuser" "$uid $uid $uid $uid" "$(status jail Uid)"
check_eq "jail: chroot in effect" /run/dovesd/empty \
        "$(ct_sh 'readlink /proc/$(systemctl show -P MainPID dovesd-jail.service)/root')"
check_eq "rooty: stays root" "0 0 0 0" "$(status rooty Uid)"

# The pool: the supervisor is confined by the unit (bounding set, NoNewPrivs, seccomp) and
# keeps root to start workers; every worker dropped to the user and has no capability left.
sup=$(ct_sh 'm=$(systemctl show -P MainPID dovesd-pool.service)
        printf "%s %s %s %s\n" "$(grep ^Uid: /proc/$m/status | cut -f2)" \
                "$(grep ^CapBnd: /proc/$m/status | cut -f2)" \
                "$(grep ^NoNewPrivs: /proc/$m/status | cut -f2)" "$(grep ^Seccomp: /proc/$m/status | cut -f2)"')
# 0x1e0: SETGID (6) SETUID (7) SETPCAP (8) and KILL (5), which the root supervisor needs to
# signal workers that switched to their user
check_eq "pool supervisor: root, the unit's bounding set (KILL SETGID SETUID SETPCAP), NoNewPrivs, seccomp" \
        "0 00000000000001e0 1 2" "$sup"
procs=$(ct_sh 'm=$(systemctl show -P MainPID dovesd-pool.service); for p in $(pgrep -P $m); do
        printf "%s %s %s %s\n" "$(grep ^Uid: /proc/$p/status | cut -f2)" \
                "$(grep ^CapBnd: /proc/$p/status | cut -f2)" \
                "$(grep ^NoNewPrivs: /proc/$p/status | cut -f2)" "$(grep ^Seccomp: /proc/$p/status | cut -f2)"
done')
check "pool: process_min_avail workers under the supervisor" \
        test "$(printf '%s\n' "$procs" | grep -c .)" -ge 2
check_eq "pool: each worker uid $uid, no bounding set, NoNewPrivs, seccomp" "" \
        "$(printf '%s\n' "$procs" | grep -v "^$uid 0000000000000000 1 2$")"

# libdovesd connects NOTIFY_SOCKET and journald before the chroot: READY=1 still arrives.
check "jail: active (READY=1 reached after the chroot)" ct_wait_state dovesd-jail.service active 60

for s in hello jail rooty pool; do
        score=$(ct_exec systemd-analyze security "dovesd-$s.service" |
                sed -n 's/^→ Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
        check "$s: systemd-analyze security (live) ${score:-none} <= 5.0" \
                awk -v s="${score:-99}" 'BEGIN { exit !(s <= 5.0) }'
done

ct_stop
tap_done
