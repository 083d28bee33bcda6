#!/bin/bash
# SPDX-License-Identifier: MIT
# rate-ab.sh: connections/s, CPU per connection and idle CPU of dovesd-supervisor with the demo,
# several builds side by side in one invocation, on this machine (no container, no systemd).
# Where bench/worker-start.sh prices a worker's start in CPU, this shows what the CPU cannot:
# time the machine sits idle while clients wait (a supervisor that starts workers too slowly).
#
#     bench/rate-ab.sh [-m single|pool] [-c C] [-d SECS] [-r ROUNDS] BUILD [BUILD...]
#
#   -m single  service_count 1, process_min_avail 0, process_limit 100 (default)
#   -m pool    service_count 0, client_limit 1000, 2 workers, and the limit server first
#   -c C       concurrent clients (default 50, as bench/run); -d SECS per run (default 4)
#   -r R       rounds (default 3); the builds alternate within each round
#
# Prints per run: BUILD cps=… cpu_us=… (the service's processes, supervisor and workers, per
# connection) idle=…% (of all CPUs, /proc/stat, over the run).
set -euo pipefail

MODE=single C=50 D=4 R=3
while getopts "m:c:d:r:" o; do
        case "$o" in
        m) MODE=$OPTARG ;;
        c) C=$OPTARG ;;
        d) D=$OPTARG ;;
        r) R=$OPTARG ;;
        *) sed -n '4,15p' "$0" >&2; exit 2 ;;
        esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '4,15p' "$0" >&2; exit 2; }
command -v systemd-socket-activate > /dev/null ||
        { echo "rate-ab.sh: needs systemd-socket-activate" >&2; exit 1; }
case "$MODE" in
single) ENV=(-E DOVESD_CLIENT_LIMIT=1 -E DOVESD_SERVICE_COUNT=1 -E DOVESD_PROCESS_LIMIT=100
             -E DOVESD_PROCESS_MIN_AVAIL=0) ;;
pool)   ENV=(-E DOVESD_CLIENT_LIMIT=1000 -E DOVESD_SERVICE_COUNT=0 -E DOVESD_PROCESS_LIMIT=2
             -E DOVESD_PROCESS_MIN_AVAIL=2) ;;
*)      echo "rate-ab.sh: -m single or pool" >&2; exit 2 ;;
esac
# The units' bounding set, as bench/worker-start.sh gives it.
BOUNDING=()
command -v setpriv > /dev/null &&
        BOUNDING=(setpriv --bounding-set -all,+setuid,+setgid,+setpcap,+kill)
TICK=$(getconf CLK_TCK)
PORT=$((20000 + RANDOM % 20000))

# CPU ticks of PID, of the children it reaped, and of its children alive now
tree_ticks() {
        local t p f
        f=($(sed 's/.*) //' /proc/"$1"/stat))
        t=$((f[11] + f[12] + f[13] + f[14]))
        for p in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
                f=($(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null)) || continue
                t=$((t + f[11] + f[12]))
        done
        echo "$t"
}

# measure LABEL PID BUILD: one loadgen run against PORT
measure() {
        local a b i0 i1 line n
        "$3/bench/loadgen" -p "$PORT" -s LOGOUT -c "$C" -n 300 -w 0 -t 20 > /dev/null
        a=$(tree_ticks "$2")
        read -r -a i0 < /proc/stat
        line=$("$3/bench/loadgen" -p "$PORT" -s LOGOUT -c "$C" -d "$D" -w 0 -t 20)
        read -r -a i1 < /proc/stat
        b=$(tree_ticks "$2")
        n=$(sed -n 's/.*total=\([0-9]*\).*/\1/p' <<<"$line")
        awk -v l="$1" -v line="$line" -v d=$((b - a)) -v t="$TICK" -v n="$n" \
            -v idle=$((i1[4] - i0[4])) \
            -v all=$((i1[1] + i1[2] + i1[3] + i1[4] + i1[5] + i1[6] + i1[7] - i0[1] - i0[2] - i0[3] - i0[4] - i0[5] - i0[6] - i0[7])) '
            BEGIN { match(line, /cps=[0-9.]+/); cps = substr(line, RSTART + 4, RLENGTH - 4)
                    printf "%s cps=%s cpu_us=%.1f idle=%.1f%%\n", l, cps, d * 1e6 / t / n, 100 * idle / all }'
}

for round in $(seq "$R"); do
        if [ "$MODE" = pool ]; then
                PORT=$((PORT + 1))
                "$1/bench/limit-server" -p "$PORT" -P 2 > /dev/null 2>&1 &
                pid=$!
                sleep 0.3
                measure "limit-server" "$pid" "$1"
                kill "$pid"; wait "$pid" 2>/dev/null || true
        fi
        for b in "$@"; do
                b=$(cd "$b" && pwd)
                PORT=$((PORT + 1))
                systemd-socket-activate -l "127.0.0.1:$PORT" --fdname=bench \
                        -E DOVESD_SERVICE=bench -E DOVESD_TYPE= -E DOVESD_LISTENERS=bench \
                        -E DOVESD_IDLE_KILL=60 -E DOVESD_USER=nobody "${ENV[@]}" \
                        "${BOUNDING[@]}" "$b/helper/dovesd-supervisor" "$b/examples/demo/dovesd-demo" \
                        > /dev/null 2>&1 &
                pid=$!
                sleep 0.4
                measure "$b" "$pid" "$b"
                kill "$pid"; wait "$pid" 2>/dev/null || true
        done
done
