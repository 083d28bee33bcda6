#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end (issue 16, item 2): workers that cannot be started must not make the supervisor
# spin or flood the journal. A failed fork or exec stops start-ups for 2 s, doubling up to
# 60 s, with one "not starting workers for N s" line per step; clients wait in the backlog
# meanwhile and are served once workers can start again.
# * LimitNPROC=3 (drop-in) on a service whose workers switch to a user: what really happens is
#   reported (measured: nothing fails. The supervisor is root, which the kernel exempts from
#   RLIMIT_NPROC at fork, and a worker's setresuid() to the user does not fail on it either:
#   the kernel only flags the process, and the worker never execs again). Whatever happens,
#   the supervisor stays quiet and cheap.
# * A program that cannot be executed (every worker's exec fails): 10 s with 25 clients
#   waiting cost the supervisor well under 1 s of CPU, the journal holds one back-off line
#   per step (at most a handful), and the waiting clients are served after the program is
#   fixed.
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"

e2e_boot e2e-backoff "$E2E_DIR/backoff.conf"
cpu_ticks() { ct_sh "cut -d')' -f2 /proc/$1/stat | cut -d' ' -f13,14 | tr ' ' '+'" | { read -r e; echo $((e)); }; }
hz=$(getconf CLK_TCK)
backoff_re='not starting workers for [0-9]+ s'

# --- LimitNPROC=3 ---
ct_sh 'mkdir -p /run/systemd/system/dovesd-nproc.service.d &&
       printf "[Service]\nLimitNPROC=3\n" >/run/systemd/system/dovesd-nproc.service.d/nproc.conf'
check "LimitNPROC=3 drop-in: daemon-reload" ct_exec systemctl daemon-reload
check "dovesd-nproc.service starts" ct_exec systemctl start dovesd-nproc.service
main=$(show dovesd-nproc.service MainPID)
check_eq "the limit is in force on the supervisor" 3 \
        "$(ct_sh "grep 'Max processes' /proc/$main/limits" | awk '{print $3}')"
cursor=$(journal_cursor)
before=$(cpu_ticks "$main")
ct_exec python3 "$E2E_IN/client.py" greet 127.0.0.1 7801 25 10 >"$CT_DIR/nproc.out" 2>&1
after=$(cpu_ticks "$main")
log=$(journal_after "$cursor" --unit dovesd-nproc.service --not-systemd)
n_backoff=$(printf '%s\n' "$log" | grep -Ec "$backoff_re")
workers=$(ct_exec pgrep -P "$main" | xargs)
tap_diag "LimitNPROC=3, 25 clients on client_limit 2: $(cat "$CT_DIR/nproc.out"); workers: $workers" \
        "supervisor CPU in those 10 s: $((after - before)) ticks (CLK_TCK $hz); back-off lines: $n_backoff" \
        "worker uids: $(for p in $workers; do status_field "$p" Uid | cut -d' ' -f1; done | sort | uniq -c | xargs)" \
        "journal of the service during the test:" "$(printf '%s\n' "$log" | head -n 20)"
check "LimitNPROC=3: the supervisor does not spin (under 1 s of CPU in 10 s: $((after - before)) ticks)" \
        test $((after - before)) -lt "$hz"
check "LimitNPROC=3: at most a handful of back-off lines ($n_backoff)" test "$n_backoff" -le 5
check "LimitNPROC=3: the journal holds no flood ($(printf '%s\n' "$log" | grep -c .) lines)" \
        test "$(printf '%s\n' "$log" | grep -c .)" -le 20
check_eq "the socket refused nothing" 0 "$(show dovesd-nproc-tcp.socket NRefused)"

# --- exec fails: back-off, clients wait in the backlog ---
cursor=$(journal_cursor)
ct_exec python3 "$E2E_IN/client.py" burst 127.0.0.1 7802 25 1 >"$CT_DIR/noexec.out" 2>&1 &
waiting=$!
wait_for "the first client started the service" 20 '[ "$(show dovesd-noexec.service ActiveState)" = active ]'
main=$(show dovesd-noexec.service MainPID)
before=$(cpu_ticks "$main")
sleep 10
after=$(cpu_ticks "$main")
log=$(journal_after "$cursor" --unit dovesd-noexec.service --not-systemd)
n_backoff=$(printf '%s\n' "$log" | grep -Ec "$backoff_re")
n_lines=$(printf '%s\n' "$log" | grep -c .)
tap_diag "exec failing, 25 clients waiting, 10 s: supervisor CPU $((after - before)) ticks; $n_lines journal lines, $n_backoff back-off lines:" \
        "$(printf '%s\n' "$log" | head -n 30)"
check "exec failing: the supervisor does not spin (under 1 s of CPU in 10 s: $((after - before)) ticks)" \
        test $((after - before)) -lt "$hz"
check "exec failing: it backs off and tries again (2 to 5 back-off lines in 10 s: $n_backoff)" \
        test "$n_backoff" -ge 2 -a "$n_backoff" -le 5
check_eq "... doubling: 2 s, then 4 s" "for 2 s for 4 s" \
        "$(printf '%s\n' "$log" | grep -Eo 'not starting workers for [0-9]+ s' | head -n2 | cut -d' ' -f4- | xargs)"
check "... no flood: at most 5 lines per back-off step ($n_lines lines)" \
        test "$n_lines" -le $((5 * n_backoff))
check_eq "the supervisor stays, the socket refused nothing" "$main active 0" \
        "$(show dovesd-noexec.service MainPID) $(show dovesd-noexec.service ActiveState) $(show dovesd-noexec-tcp.socket NRefused)"
check "the 25 clients are still waiting (none was closed)" kill -0 "$waiting"

# The program is fixed (a drop-in points ExecStart at the demo): the waiting clients are served.
ct_sh 'mkdir -p /run/systemd/system/dovesd-noexec.service.d &&
       printf "[Service]\nExecStart=\nExecStart=/usr/local/libexec/dovesd/dovesd-supervisor /usr/local/libexec/dovesd/dovesd-demo\n" \
               >/run/systemd/system/dovesd-noexec.service.d/fixed.conf'
check "fixed: daemon-reload" ct_exec systemctl daemon-reload
check "fixed: systemctl restart dovesd-noexec.service" ct_exec systemctl restart dovesd-noexec.service
wait "$waiting"
tap_diag "$(cat "$CT_DIR/noexec.out")"
check_match "every client that waited through the back-off was served" '^started=25 served=25 failed=0 ' \
        "$(cat "$CT_DIR/noexec.out")"

ct_stop
tap_done
