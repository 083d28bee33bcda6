#!/bin/bash
# SPDX-License-Identifier: MIT
# Helpers bench/run runs inside the benchmark container. UNIT may be a comma-separated list
# of units (Dovecot under dovesd: imap-login's unit with auth's, anvil's, config's and
# stats's); MAIN is then the first one's main process.
#   inside.sh pids UNIT       the PIDs in UNIT's cgroup (one per line)
#   inside.sh rss UNIT        sum of VmRSS of those processes, KiB
#   inside.sh count UNIT [COMM]  how many processes (only those named COMM, if given)
#   inside.sh cpu             CPU time so far (ns, from schedstat) of PID 1, systemd-journald
#                             and dbus-daemon: "PID1 JOURNALD DBUS"
#   inside.sh cpu-snap [UNIT] CPU counters, one line: "UNIT PID1 PID1C JOURNALD DBUS MAIN" where
#                             UNIT is utime+stime+cutime+cstime of UNIT's processes (clock ticks;
#                             cutime: children they reaped, e.g. single-use workers), PID1 is
#                             PID 1's own CPU (ns), PID1C the CPU of the children PID 1 reaped
#                             (ticks), JOURNALD and DBUS in ns, MAIN the utime+stime of UNIT's
#                             main process alone (ticks: a supervisor's own CPU; 0 without UNIT)
#   inside.sh wait-port PORT  wait (up to 10 s) until 127.0.0.1:PORT accepts
set -uo pipefail

pids() {
        local units p line u
        IFS=, read -r -a units <<<"$1"
        # (no awk: /etc/alternatives does not exist in the container)
        for p in /proc/[0-9]*; do
                # any hierarchy whose path ends in /UNIT (unified or name=systemd)
                while IFS= read -r line; do
                        for u in "${units[@]}"; do
                                if [[ "$line" == *"/$u" ]]; then
                                        echo "${p#/proc/}"
                                        break 2
                                fi
                        done
                done < "$p/cgroup" 2>/dev/null
        done
}

case "$1" in
pids) pids "$2" ;;
count)
        n=0
        for p in $(pids "$2"); do
                if [ -z "${3:-}" ] || [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$3" ]; then
                        n=$((n + 1))
                fi
        done
        echo "$n" ;;
cpu)
        j=0 d=0
        read -r one _ < /proc/1/schedstat
        for p in /proc/[0-9]*; do
                c=$(cat "$p/comm" 2>/dev/null) || continue
                case "$c" in
                systemd-journal) read -r t _ < "$p/schedstat" && j=$((j + t)) ;;
                dbus-daemon) read -r t _ < "$p/schedstat" && d=$((d + t)) ;;
                esac
        done
        echo "$one $j $d" ;;
rss)
        t=0
        for p in $(pids "$2"); do
                while read -r k v _; do
                        [ "$k" = VmRSS: ] && t=$((t + v))
                done < "/proc/$p/status" 2>/dev/null
        done
        echo "$t" ;;
cpu-snap)
        # fields after "(comm) ": state ppid ... utime(11) stime(12) cutime(13) cstime(14)
        stat_fields() { local l; l=$(cat "$1" 2>/dev/null) || return 1; echo "${l##*) }"; }
        u=0 m=0 main=
        if [ -n "${2:-}" ]; then
                main=$(systemctl show -P MainPID "${2%%,*}" 2>/dev/null)
                for p in $(pids "$2"); do
                        f=($(stat_fields "/proc/$p/stat")) || continue
                        u=$((u + f[11] + f[12] + f[13] + f[14]))
                        [ "$p" = "$main" ] && m=$((f[11] + f[12]))
                done
        fi
        f=($(stat_fields /proc/1/stat))
        read -r one _ < /proc/1/schedstat
        j=0 d=0
        for p in /proc/[0-9]*; do
                c=$(cat "$p/comm" 2>/dev/null) || continue
                case "$c" in
                systemd-journal) read -r t _ < "$p/schedstat" && j=$((j + t)) ;;
                dbus-daemon) read -r t _ < "$p/schedstat" && d=$((d + t)) ;;
                esac
        done
        echo "$u $one $((f[13] + f[14])) $j $d $m" ;;
wait-port)
        for _ in $(seq 200); do
                (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && exit 0
                sleep 0.05
        done
        exit 1 ;;
*) echo "inside.sh: unknown command $1" >&2; exit 2 ;;
esac
