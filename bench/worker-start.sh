#!/bin/bash
# SPDX-License-Identifier: MIT
# worker-start.sh: the CPU cost of one libdovesd worker start against the bare exec of the same
# program, side by side in one invocation, on this machine (no container, no systemd).
#
#     bench/worker-start.sh [-n N] [-c C] [-r ROUNDS] [-u USER] [-s] BUILD [BUILD...]
#
#   BUILD   a meson build directory (two or more: an old and a new build, run in turns)
#   -n N    connections per round (default 2000); the floor runs N spawns
#   -c C    concurrent clients (default 16, as bench/run)
#   -r R    rounds (default 3): the builds alternate within each round; the median is printed
#   -u USER the service's user (default nobody): the worker drops to it as the bench does
#   -s      steps instead: bench/spawn-floor -n N of BUILD/bench/start-steps STEP for the steps
#           exit, new, restrict, run (see start-steps.c): the CPU µs of each step of the
#           library's start-up, without the client and the supervisor
#
# For each build, a round runs:
#   floor   BUILD/bench/spawn-floor -n N: fork + exec + wait of the demo exiting at once
#           (dovesd-demo x: ld.so, libdovesd, libsystemd, libc init, exit 2), cpu µs per spawn;
#   worker  dovesd-supervisor (service_count 1, process_min_avail 0, process_limit 100, USER)
#           on a loopback socket passed as systemd does (systemd-socket-activate), running
#           BUILD's demo per client, with the units' bounding set (setpriv, when there); BUILD/bench/loadgen -c C -n N: connect, greeting, LOGOUT,
#           close. cpu µs per connection of the supervisor (its own) and of the workers it
#           reaped (/proc/PID/stat utime+stime and cutime+cstime; 100 Hz ticks).
# and prints
#   BUILD floor_us=… worker_us=… sup_us=… total_us=… ratio=… (floor / total, the issue's
#   "worker start ≥ 0.67 of the bare exec"), worker_ratio=… (floor / worker, without the
#   supervisor).
set -euo pipefail

N=2000 C=16 R=3 USER_NAME=nobody STEPS=
while getopts "n:c:r:u:s" o; do
        case "$o" in
        n) N=$OPTARG ;;
        c) C=$OPTARG ;;
        r) R=$OPTARG ;;
        u) USER_NAME=$OPTARG ;;
        s) STEPS=1 ;;
        *) sed -n '4,12p' "$0" >&2; exit 2 ;;
        esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '4,12p' "$0" >&2; exit 2; }
builds=()
for b in "$@"; do
        b=$(cd "$b" && pwd)
        for f in bench/spawn-floor bench/loadgen helper/dovesd-supervisor examples/demo/dovesd-demo; do
                [ -x "$b/$f" ] || { echo "worker-start.sh: $b/$f is missing (ninja -C $b)" >&2; exit 1; }
        done
        builds+=("$b")
done
command -v systemd-socket-activate > /dev/null ||
        { echo "worker-start.sh: needs systemd-socket-activate" >&2; exit 1; }
TICK=$(getconf CLK_TCK)
# The bounding set the generated units give the supervisor and its workers
# (CapabilityBoundingSet=): restrict drops what is left of it.
BOUNDING=
command -v setpriv > /dev/null && BOUNDING="setpriv --bounding-set -all,+setuid,+setgid,+setpcap,+kill"
PORT=$((20000 + RANDOM % 20000))

# ticks from /proc/PID/stat: "UTIME+STIME CUTIME+CSTIME"
stat_ticks() {
        local l f
        l=$(cat "/proc/$1/stat")
        f=(${l##*) })
        echo "$((f[11] + f[12])) $((f[13] + f[14]))"
}

# worker BUILD: prints "SUP_US WORKER_US CONNS"
worker_round() {
        local b=$1 pid line conns self kids self2 kids2 i
        PORT=$((PORT + 1))
        systemd-socket-activate -l "127.0.0.1:$PORT" --fdname=bench \
                -E DOVESD_SERVICE=bench-single -E DOVESD_TYPE= -E DOVESD_LISTENERS=bench \
                -E DOVESD_CLIENT_LIMIT=1 -E DOVESD_SERVICE_COUNT=1 -E DOVESD_PROCESS_LIMIT=100 \
                -E DOVESD_PROCESS_MIN_AVAIL=0 -E DOVESD_IDLE_KILL=60 -E DOVESD_USER="$USER_NAME" \
                $BOUNDING "$b/helper/dovesd-supervisor" "$b/examples/demo/dovesd-demo" \
                > /dev/null 2> "$TMP/sup.log" &
        pid=$!
        for i in $(seq 100); do
                kill -0 "$pid" 2>/dev/null ||
                        { echo "worker-start.sh: the supervisor exited:" >&2; cat "$TMP/sup.log" >&2; exit 1; }
                (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
                sleep 0.05
        done
        # warm up: page cache, the first workers
        "$b/bench/loadgen" -p "$PORT" -s LOGOUT -c "$C" -n 100 -w 0 -t 20 > /dev/null
        read -r self kids < <(stat_ticks "$pid")
        line=$("$b/bench/loadgen" -p "$PORT" -s LOGOUT -c "$C" -n "$N" -w 0 -t 20)
        # every worker of the run has been reaped once the supervisor has no children left
        for i in $(seq 100); do
                [ -z "$(cat /proc/$pid/task/*/children 2>/dev/null)" ] && break
                sleep 0.02
        done
        read -r self2 kids2 < <(stat_ticks "$pid")
        kill -TERM "$pid"
        wait "$pid" || true
        conns=$(sed -n 's/.*total=\([0-9]*\).*/\1/p' <<< "$line")
        case "$line" in
        *" refused=0 reset=0 timeout=0 other=0"*) ;;
        *) echo "worker-start.sh: failed connections: $line" >&2; tail -5 "$TMP/sup.log" >&2 ;;
        esac
        echo "$(( (self2 - self) * 1000000 / TICK / conns )) $(( (kids2 - kids) * 1000000 / TICK / conns )) $conns"
}

floor_round() {
        "$1/bench/spawn-floor" -n "$N" -j "$(nproc)" "$1/examples/demo/dovesd-demo" x |
                sed -n 's/.*cpu_us=\([0-9]*\).*/\1/p'
}

# steps BUILD: prints "EXIT NEW RESTRICT RUN" (cpu µs per spawn of each)
steps_round() {
        local st out=
        for st in exit new restrict run; do
                out+=" $(env DOVESD_SERVICE=bench-single DOVESD_TYPE= DOVESD_CLIENT_LIMIT=1 \
                        DOVESD_SERVICE_COUNT=1 DOVESD_PROCESS_LIMIT=100 DOVESD_PROCESS_MIN_AVAIL=0 \
                        DOVESD_IDLE_KILL=60 DOVESD_USER="$USER_NAME" DOVESD_LOG_LEVEL=notice \
                        "$1/bench/spawn-floor" -n "$N" -j "$(nproc)" "$1/bench/start-steps" "$st" |
                        sed -n 's/.*cpu_us=\([0-9]*\).*/\1/p')"
        done
        echo "$out"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if [ -n "$STEPS" ]; then
        for round in $(seq "$R"); do
                for i in "${!builds[@]}"; do
                        read -r e n r u < <(steps_round "${builds[$i]}")
                        for k in e n r u; do echo "${!k}" >> "$TMP/$k.$i"; done
                        echo "round $round ${builds[$i]}: exit=$e new=$n restrict=$r run=$u" >&2
                done
        done
        for i in "${!builds[@]}"; do
                e=$(median < "$TMP/e.$i") n=$(median < "$TMP/n.$i")
                r=$(median < "$TMP/r.$i") u=$(median < "$TMP/u.$i")
                echo "${builds[$i]} exit_us=$e new_us=+$((n - e)) restrict_us=+$((r - n))" \
                        "run_us=+$((u - r)) total_us=$u"
        done
        exit 0
fi
for round in $(seq "$R"); do
        for i in "${!builds[@]}"; do
                b=${builds[$i]}
                f=$(floor_round "$b")
                read -r sup wrk _ < <(worker_round "$b")
                echo "$f" >> "$TMP/floor.$i"
                echo "$sup" >> "$TMP/sup.$i"
                echo "$wrk" >> "$TMP/wrk.$i"
                echo "round $round $b: floor_us=$f worker_us=$wrk sup_us=$sup" >&2
        done
done
for i in "${!builds[@]}"; do
        f=$(median < "$TMP/floor.$i") w=$(median < "$TMP/wrk.$i") s=$(median < "$TMP/sup.$i")
        awk -v b="${builds[$i]}" -v f="$f" -v w="$w" -v s="$s" 'BEGIN {
                printf "%s floor_us=%d worker_us=%d sup_us=%d total_us=%d ratio=%.2f worker_ratio=%.2f\n",
                       b, f, w, s, w + s, f / (w + s), f / w }'
done
