#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end load test (issue 8, item 5): 10,000 concurrent idle clients on one pool service
# (20 workers x client_limit 600), held, then all released; three rounds. After each round the
# open fds of the supervisor and its workers are back at their baseline exactly, and their
# memory (RSS) has stopped growing: round 3 within 5 % + 1 MiB of round 2.
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"

N=${LOAD_CLIENTS:-10000}
e2e_boot e2e-load "$E2E_DIR/load.conf"
main=$(show dovesd-idle.service MainPID)
pids() { echo "$main"; ct_exec pgrep -P "$main"; }
# total open fds / RSS (KiB) of the supervisor and every worker
fds() { ct_sh "for p in $(pids | xargs); do ls /proc/\$p/fd | wc -l; done" | paste -sd+ | bc; }
rss() { ct_sh "for p in $(pids | xargs); do grep VmRSS /proc/\$p/status | tr -s ' ' | cut -d' ' -f2; done" | paste -sd+ | bc; }

wait_for "20 workers from boot" 60 '[ "$(ct_exec pgrep -P "$main" | wc -l)" -eq 20 ]'
base_fds=$(fds)
base_rss=$(rss)
tap_diag "baseline: $base_fds fds, $base_rss KiB RSS in 21 processes"

declare -a after_rss
for round in 1 2 3; do
        ct_exec python3 "$E2E_IN/fault-client.py" idle 127.0.0.1 7601 "$N" 5 \
                >"$CT_DIR/round$round.out" 2>&1 &
        client=$!
        wait_for "round $round: $N clients connected and greeted" 300 \
                "grep -qx 'held=$N' '$CT_DIR/round$round.out'"
        held_fds=$(fds)
        held_rss=$(rss)
        check "round $round: the pool holds them ($held_fds fds open, baseline $base_fds)" \
                test "$held_fds" -ge $((base_fds + N))
        wait "$client"
        check_eq "round $round: all released" "released=$N" "$(tail -n1 "$CT_DIR/round$round.out")"
        wait_for "round $round: the fds are back at the baseline ($base_fds)" 120 \
                '[ "$(fds)" -eq "$base_fds" ]'
        after_rss[$round]=$(rss)
        tap_diag "round $round: held $held_fds fds, $held_rss KiB; after: $(fds) fds, ${after_rss[$round]} KiB"
        check_eq "round $round: the same 20 workers, the same supervisor" "$main 20" \
                "$(show dovesd-idle.service MainPID) $(ct_exec pgrep -P "$main" | wc -l)"
done
# glibc keeps freed heap, so RSS rises over the first rounds and then levels off; a leak keeps
# it climbing by the same amount every round
limit=$(( after_rss[2] + after_rss[2] / 20 + 1024 ))
check "no memory growth: RSS after round 3 (${after_rss[3]} KiB) <= round 2 (${after_rss[2]} KiB) + 5 % + 1 MiB" \
        test "${after_rss[3]}" -le "$limit"
check_eq "the socket refused nothing" 0 "$(show dovesd-idle-tcp.socket NRefused)"

ct_stop
tap_done
