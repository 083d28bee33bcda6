#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end: the prefork pool inside one service unit. process_min_avail workers from
# boot (each a fresh fork + exec with its own address-space layout), client_limit per worker,
# process_limit (clients wait, nobody is refused), service_count, idle_kill (workers exit, the
# supervisor stays; without a supervisor the service exits and its socket re-activates it),
# and systemctl restart / reload of a busy pool refusing no connection. Limits are checked by
# behaviour; timing never is.
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"

e2e_boot e2e-pool "$E2E_DIR/pool.conf"

workers() { ct_exec pgrep -P "$(show "dovesd-$1.service" MainPID)" | wc -l; }
client() { ct_exec python3 "$E2E_IN/client.py" "$@"; }

# --- process_min_avail: started at boot, two workers ready before any client ---
check_eq "process_min_avail = 2: the service runs from boot" "active running" \
        "$(show dovesd-pool.service ActiveState) $(show dovesd-pool.service SubState)"
wait_for "process_min_avail = 2: two workers under the supervisor" 20 '[ "$(workers pool)" -eq 2 ]'
check_match "STATUS= tells workers, clients, free slots" '^2 workers, 0 clients, 4 free slots' \
        "$(show dovesd-pool.service StatusText)"
main=$(show dovesd-pool.service MainPID)
mapfile -t wp < <(ct_exec pgrep -P "$main")
b0=$(map_base "${wp[0]}")
b1=$(map_base "${wp[1]}")
bs=$(map_base "$main")
tap_diag "executable mapped at: worker ${wp[0]} $b0, worker ${wp[1]} $b1, supervisor $main $bs"
check "pool workers (fork + exec): each maps the executable at its own address" \
        test -n "$b0" -a -n "$b1" -a -n "$bs" -a "$b0" != "$b1"
check "... and neither at the supervisor's address" test "$b0" != "$bs" -a "$b1" != "$bs"

# --- client_limit = 2 per worker, process_limit = 3 ---
client hold 127.0.0.1 7401 6 6 >"$CT_DIR/full.out" 2>&1 &
hold=$!
wait_for "six clients held (3 workers x client_limit 2)" 30 \
        '[ "$(count_lines "$CT_DIR/full.out" "^[*] INFO")" -eq 6 ]'
check_eq "each worker holds at most client_limit = 2 clients" "2 2 2" \
        "$(grep -o 'pid=[0-9]*' "$CT_DIR/full.out" | sort | uniq -c | tr -s ' ' | cut -d' ' -f2 | xargs)"
check_eq "process_limit = 3 workers" 3 "$(workers pool)"
out=$(ct_exec timeout 2 nc.openbsd 127.0.0.1 7401 </dev/null | tr -d '\r')
check_eq "a seventh client is not served while all are full (it waits)" "" "$out"
check_eq "... and systemd refused nothing" 0 "$(show dovesd-pool-tcp.socket NRefused)"
ct_exec python3 "$E2E_IN/client.py" burst 127.0.0.1 7401 1 1 >"$CT_DIR/waiter.out" 2>&1 &
waiter=$!
wait "$hold"
wait "$waiter"
check_match "a client that waited in the backlog is served once a slot frees" \
        '^started=1 served=1 failed=0' "$(cat "$CT_DIR/waiter.out")"
check_match "journal: process_limit reached (MESSAGE_ID, DOVESD_SERVICE=pool)" '"DOVESD_SERVICE":"pool"' \
        "$(ct_exec journalctl -b -o json --no-pager MESSAGE_ID=9f3375dd514e42e2b2102b1acdeb9f31)"

# --- a worker that dies is replaced and logged ---
victim=$(ct_exec pgrep -P "$(show dovesd-pool.service MainPID)" | head -n1)
ct_exec kill -KILL "$victim"
wait_for "a killed worker is replaced (process_min_avail = 2 again)" 30 \
        '[ "$(workers pool)" -eq 2 ] && ! grep -qx "$victim" <<<"$(ct_exec pgrep -P "$(show dovesd-pool.service MainPID)")"'
check_eq "... the service itself stays up" active "$(show dovesd-pool.service ActiveState)"
check_match "journal: worker crashed (MESSAGE_ID, DOVESD_SERVICE=pool, the signal)" \
        "Worker $victim killed by signal 9" \
        "$(ct_exec journalctl -b -o cat --no-pager MESSAGE_ID=cc39a3364c1b4a8385b4458936b056b4 DOVESD_SERVICE=pool)"

# --- service_count = 2: a worker serves two clients, then a new one takes over ---
p=()
for i in 1 2 3; do
        p+=("$(field pid "$(demo "127.0.0.1 7402" INFO LOGOUT | grep '^\* INFO')")")
done
check "service_count = 2: clients 1 and 2 share a worker" test "${p[0]}" = "${p[1]}" -a -n "${p[0]}"
check "... client 3 gets a fresh worker" test "${p[2]}" != "${p[1]}" -a -n "${p[2]}"
sc=MESSAGE_ID=a167ae4c9c07469b916a783746831426
check_eq "quiet default: a worker's service_count exit is not in the journal (debug level)" "" \
        "$(ct_exec journalctl -b -o cat --no-pager -q $sc DOVESD_SERVICE=counted)"
ct_sh 'mkdir -p /run/systemd/system/dovesd-counted.service.d &&
       printf "[Service]\nEnvironment=DOVESD_LOG_LEVEL=debug\n" >/run/systemd/system/dovesd-counted.service.d/debug.conf'
check "DOVESD_LOG_LEVEL=debug drop-in: daemon-reload" ct_exec systemctl daemon-reload
check "... systemctl reload dovesd-counted.service (rc 0)" ct_exec systemctl reload dovesd-counted.service
for i in 1 2; do demo "127.0.0.1 7402" LOGOUT >/dev/null; done
wait_for "journal (debug): the worker's service_count exit (MESSAGE_ID, DOVESD_SERVICE=counted)" 10 \
        'ct_exec journalctl -b -o cat --no-pager $sc DOVESD_SERVICE=counted | grep -q "service_count (2) reached"'

# --- idle_kill with a supervisor: the worker exits when idle, the supervisor stays ---
first=$(field pid "$(demo "127.0.0.1 7403" INFO LOGOUT | grep '^\* INFO')")
check "a client starts the on-demand service" test -n "$first"
main=$(show dovesd-ondemand.service MainPID)
check_eq "... its worker is a child of the supervisor" "$main" "$(ppid "$first")"
wait_for "idle_kill = 2 s: the idle worker exits" 30 \
        '[ "$(ct_exec pgrep -P "$main" | wc -l)" -eq 0 ]'
check_eq "... the supervisor stays (same MainPID, active)" "$main active" \
        "$(show dovesd-ondemand.service MainPID) $(show dovesd-ondemand.service ActiveState)"
check_match "... STATUS= says no workers" '^0 workers, 0 clients, 0 free slots, 1 served$' \
        "$(show dovesd-ondemand.service StatusText)"
again=$(field pid "$(demo "127.0.0.1 7403" INFO LOGOUT | grep '^\* INFO')")
check "the next client gets a fresh worker" test -n "$again" -a "$again" != "$first"
check_eq "... from the same supervisor" "$main" "$(show dovesd-ondemand.service MainPID)"

# --- idle_kill without a supervisor: the service exits, the socket brings it back ---
first=$(field pid "$(demo "127.0.0.1 7405" INFO LOGOUT | grep '^\* INFO')")
check "a client starts the process_limit = 1 service" test -n "$first"
check_eq "... which serves in its main process" "$first" "$(show dovesd-solo.service MainPID)"
wait_for "idle_kill = 2 s: the service exits by itself" 30 \
        '[ "$(show dovesd-solo.service ActiveState)" = inactive ]'
check_eq "... its socket keeps listening" "active listening" \
        "$(show dovesd-solo-tcp.socket ActiveState) $(show dovesd-solo-tcp.socket SubState)"
check_eq "... and the exit was clean" success "$(show dovesd-solo.service Result)"
again=$(field pid "$(demo "127.0.0.1 7405" INFO LOGOUT | grep '^\* INFO')")
check "the next client re-activates it (a new process)" test -n "$again" -a "$again" != "$first"
check_match "journal: idle exit (MESSAGE_ID, DOVESD_SERVICE=solo)" '"DOVESD_SERVICE":"solo"' \
        "$(ct_exec journalctl -b -o json --no-pager MESSAGE_ID=bb396e3a2ec54ca3b2071cf19646ec8c)"

# --- restart and reload of a busy pool: no connection refused ---
client burst 127.0.0.1 7404 20 8 >"$CT_DIR/busy.out" 2>&1 &
load=$!
sleep 2
main1=$(show dovesd-busy.service MainPID)
check "systemctl restart while clients keep coming" ct_exec systemctl restart dovesd-busy.service
main2=$(show dovesd-busy.service MainPID)
check "... a new supervisor runs" test "$main1" != "$main2" -a "$main2" != 0
sleep 2
check "systemctl reload while clients keep coming" ct_exec systemctl reload dovesd-busy.service
check_eq "... the supervisor stays" "$main2" "$(show dovesd-busy.service MainPID)"
wait "$load"
tap_diag "$(cat "$CT_DIR/busy.out")"
check_match "every client during restart and reload was greeted and answered" \
        '^started=160 served=160 failed=0 ' "$(cat "$CT_DIR/busy.out")"
check_eq "the socket refused nothing" "0 active" \
        "$(show dovesd-busy-tcp.socket NRefused) $(show dovesd-busy.service ActiveState)"

ct_stop
tap_done
