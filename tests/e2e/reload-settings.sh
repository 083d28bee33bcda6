#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end: reload as Dovecot's `doveadm reload` does it (issues 14 and 16 item 1).
# * `systemctl reload` succeeds (exit status 0) for every service shape: the services of
#   examples/dovesd.conf and a process_limit = 1 service with `user =` (its main process is
#   no longer root; ExecReload= runs outside the sandbox).
# * `systemctl daemon-reload && systemctl reload dovesd.target` reaches every running dovesd
#   service, and the edited settings apply to new workers only: client_limit 3 -> 5 greets 8
#   simultaneous clients where the old limits allowed 6; `user` changed: new workers run as
#   the new user, the old worker keeps the old one and its client until the client leaves;
#   STATUS= shows the old generation draining; a client connected before the reload is
#   still served by the same process.
# * A closed loop of clients during the reloads: no connection refused, none reset.
# * A broken edit changes nothing: errors in the journal, every client served.
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"

[ "$(id -u)" -eq 0 ] || bail "end-to-end tests need root (systemd-nspawn)"
ct_init e2e-reload-settings
ct_install_dovesd "$BUILD" "$E2E_DIR/reload-settings.conf" || bail "cannot prepare the container"
cp "$E2E_DIR/../../examples/dovesd.conf" "$CT_DIR/etc-dovesd/examples.conf"
ct_bind_ro "$E2E_DIR" "$E2E_IN"
ct_boot || bail "the container did not boot (see the log above)"

client() { ct_exec python3 "$E2E_IN/client.py" "$@"; }
services=(demo-single demo-pool demo-login demo-startup grow loopy who solo)
supervised=(demo-single demo-pool demo-login grow loopy who)

# --- every service shape: systemctl reload exits 0 ---
for s in "${services[@]}"; do
        ct_exec systemctl start "dovesd-$s.service"
done
check_eq "every service is running" "$(printf 'active %.0s' "${services[@]}" | xargs)" \
        "$(for s in "${services[@]}"; do show "dovesd-$s.service" ActiveState; done | xargs)"
for s in "${supervised[@]}"; do
        check_eq "dovesd-$s.service: ExecReload= is dovesd-supervisor --reload, outside the sandbox" \
                'ExecReload=+/usr/local/libexec/dovesd/dovesd-supervisor --reload $MAINPID' \
                "$(ct_exec systemctl cat "dovesd-$s.service" | grep '^ExecReload=')"
done
for s in demo-startup solo; do
        check_eq "dovesd-$s.service (process_limit = 1): ExecReload= is kill -HUP, outside the sandbox" \
                'ExecReload=+/bin/kill -HUP $MAINPID' \
                "$(ct_exec systemctl cat "dovesd-$s.service" | grep '^ExecReload=')"
done
check_eq "solo: its main process runs as dovesd-login (not root)" "$(ct_exec id -u dovesd-login)" \
        "$(status_field "$(show dovesd-solo.service MainPID)" Uid | cut -d' ' -f1)"
for s in "${services[@]}"; do
        out=$(ct_exec systemctl reload "dovesd-$s.service" 2>&1)
        rc=$?
        check_eq "systemctl reload dovesd-$s.service: exit status 0" "0" "$rc" ||
                tap_diag "$out" "$(ct_exec journalctl -b --no-pager -n 10 -u "dovesd-$s.service")"
done
check_eq "... and every service is still running" "$(printf 'active %.0s' "${services[@]}" | xargs)" \
        "$(for s in "${services[@]}"; do show "dovesd-$s.service" ActiveState; done | xargs)"
check_match "journal: the supervisor of demo-pool logged its reload" '^Reloaded: new workers get' \
        "$(ct_exec journalctl -b --no-pager -o cat -u dovesd-demo-pool.service | grep '^Reloaded')"

# --- before the edit: the old limits ---
check_match "grow (process_limit 2, client_limit 3): 6 of 8 simultaneous clients greeted" \
        '^greeted=6 of 8$' "$(client greet 127.0.0.1 7701 8 3)"
uid_demo=$(ct_exec id -u dovesd-demo)
uid_login=$(ct_exec id -u dovesd-login)
# A (grow) and B (who) connect before the reload and stay for the whole of it.
client keep 127.0.0.1 7701 1 25 >"$CT_DIR/a.out" 2>&1 &
a=$!
client keep 127.0.0.1 7703 1 25 >"$CT_DIR/b.out" 2>&1 &
b=$!
wait_for "clients A (grow) and B (who) connected" 30 \
        'grep -q "^[*] INFO" "$CT_DIR/a.out" && grep -q "^[*] INFO" "$CT_DIR/b.out"'
pa=$(field pid "$(grep '^\* INFO' "$CT_DIR/a.out")")
pb=$(field pid "$(grep '^\* INFO' "$CT_DIR/b.out")")
check_eq "B's worker runs as dovesd-demo" "$uid_demo $uid_demo $uid_demo $uid_demo" \
        "$(status_field "$pb" Uid)"
declare -A before
for s in "${supervised[@]}"; do
        before[$s]=$(ct_exec pgrep -P "$(show "dovesd-$s.service" MainPID)" | sort | xargs)
done

# --- the edit, applied by daemon-reload && reload dovesd.target, under a closed loop ---
client loop 127.0.0.1 7702 8 14 >"$CT_DIR/loop.out" 2>&1 &
loop=$!
sleep 2
sed -i -e '/^service grow {/,/^}/s/client_limit = 3/client_limit = 5/' \
       -e '/^service who {/,/^}/s/user = dovesd-demo/user = dovesd-login/' "$CT_CONF"
cursor=$(journal_cursor)
check "daemon-reload after the edit" ct_exec systemctl daemon-reload
out=$(ct_exec systemctl reload dovesd.target 2>&1)
rc=$?
if ! check_eq "systemctl reload dovesd.target: exit status 0" 0 "$rc"; then
        tap_diag "systemctl reload dovesd.target said: $out"
        tap_diag "reloading each service on its own instead, so that the rest can be checked"
        for s in "${services[@]}"; do ct_exec systemctl reload "dovesd-$s.service"; done
fi
sleep 2
log=$(journal_after "$cursor" --unit dovesd- --systemd)
for s in "${services[@]}"; do
        check_match "reload dovesd.target reached dovesd-$s.service (systemd: Reloaded)" \
                "^Reloaded dovesd-$s.service" "$log"
done
for s in "${supervised[@]}"; do
        check_match "dovesd-$s.service: the supervisor logged 'Reloaded'" '^Reloaded: new workers get' \
                "$(journal_after "$cursor" --unit "dovesd-$s.service" --not-systemd | grep '^Reloaded')"
done
wait_for "demo-pool: its process_min_avail = 2 idle workers were replaced by new ones" 20 \
        '[ "$(ct_exec pgrep -P "$(show dovesd-demo-pool.service MainPID)" | sort | xargs)" != "${before[demo-pool]}" ] &&
         [ "$(ct_exec pgrep -P "$(show dovesd-demo-pool.service MainPID)" | wc -l)" -eq 2 ] &&
         [ -z "$(comm -12 <(tr " " "\n" <<<"${before[demo-pool]}" | sort) <(ct_exec pgrep -P "$(show dovesd-demo-pool.service MainPID)" | sort))" ]'
tap_diag "demo-pool workers: before ${before[demo-pool]}, after $(ct_exec pgrep -P "$(show dovesd-demo-pool.service MainPID)" | sort | xargs)"

# --- client_limit 3 -> 5 ---
check_match "grow: the reloaded unit has DOVESD_CLIENT_LIMIT=5" 'DOVESD_CLIENT_LIMIT=5( |$)' \
        "$(show dovesd-grow.service Environment)"
check_match "grow: STATUS= shows the old generation draining (A in 1 old worker)" \
        '\(1 in 1 old worker\)' "$(show dovesd-grow.service StatusText)"
tap_diag "grow StatusText: $(show dovesd-grow.service StatusText)"
check_match "systemctl status shows it too" 'Status: ".*\(1 in 1 old worker\)' \
        "$(ct_exec systemctl status --no-pager dovesd-grow.service)"
check_match "grow after the reload: 8 of 8 simultaneous new clients greeted" \
        '^greeted=8 of 8$' "$(client greet 127.0.0.1 7701 8 5)"

# --- user dovesd-demo -> dovesd-login ---
info=$(demo "127.0.0.1 7703" INFO LOGOUT | grep '^\* INFO')
check_eq "who: a new client is served by a new worker as dovesd-login" "$uid_login $uid_login" \
        "$(field uid "$info") $(field euid "$info")"
check "... not by B's old worker" test "$(field pid "$info")" != "$pb"
client keep 127.0.0.1 7703 1 3 >"$CT_DIR/c.out" 2>&1 &
c=$!
wait_for "who: a client C held on a new worker" 20 'grep -q "^[*] INFO" "$CT_DIR/c.out"'
pc=$(field pid "$(grep '^\* INFO' "$CT_DIR/c.out")")
check_eq "who: /proc/PID/status Uid of the new worker: dovesd-login" \
        "$uid_login $uid_login $uid_login $uid_login" "$(status_field "$pc" Uid)"
check_eq "who: /proc/PID/status Uid of B's old worker: still dovesd-demo" \
        "$uid_demo $uid_demo $uid_demo $uid_demo" "$(status_field "$pb" Uid)"
check_match "who: STATUS= shows B in 1 old worker" '\(1 in 1 old worker\)' \
        "$(show dovesd-who.service StatusText)"
wait "$c"

# --- the clients of before the reload ---
wait "$a"
wait "$b"
check_eq "A was served after the reload by the same process ($pa)" "$pa" \
        "$(field pid "$(sed -n 's/^after: //p' "$CT_DIR/a.out")")"
check_eq "B was served after the reload by the same process ($pb), still as dovesd-demo" \
        "$pb $uid_demo" \
        "$(field pid "$(sed -n 's/^after: //p' "$CT_DIR/b.out")") $(field uid "$(sed -n 's/^after: //p' "$CT_DIR/b.out")")"
check_match "A and B said goodbye normally" '^held=1 bye=1$' "$(tail -n1 "$CT_DIR/a.out")
$(tail -n1 "$CT_DIR/b.out")"
wait_for "the old workers exit once their last client left" 20 \
        '! ct_exec kill -0 "$pa" && ! ct_exec kill -0 "$pb"'
wait_for "STATUS= no longer mentions an old worker" 10 \
        '! grep -q "old worker" <<<"$(show dovesd-grow.service StatusText)$(show dovesd-who.service StatusText)"'

wait "$loop"
tap_diag "closed loop during the reload: $(cat "$CT_DIR/loop.out")"
check_match "closed loop of 8 clients during the reload: 0 refused, 0 reset, all served" \
        '^sessions=[1-9][0-9]* ok=[1-9][0-9]* refused=0 reset=0 other=0$' "$(head -n1 "$CT_DIR/loop.out")"
check_eq "the socket refused nothing" 0 "$(show dovesd-loopy-tcp.socket NRefused)"

# --- a broken edit changes nothing ---
good=$(cat "$CT_CONF")
bad_line=$(($(wc -l <"$CT_CONF") + 3))
printf '\nservice broken {\n  process_limit = many\n  executable = dovesd-demo\n}\n' >>"$CT_CONF"
sed -i '/^service grow {/,/^}/s/client_limit = 5/client_limit = 9/' "$CT_CONF"
client keep 127.0.0.1 7701 2 12 >"$CT_DIR/d.out" 2>&1 &
d=$!
client loop 127.0.0.1 7702 8 8 >"$CT_DIR/loop2.out" 2>&1 &
loop=$!
wait_for "two clients held on grow" 20 '[ "$(count_lines "$CT_DIR/d.out" "^[*] INFO")" -eq 2 ]'
cursor=$(journal_cursor)
check "broken edit: daemon-reload" ct_exec systemctl daemon-reload
check "broken edit: systemctl reload dovesd.target (exit status 0: the last good units)" \
        ct_exec systemctl reload dovesd.target
log=$(journal_after "$cursor" --ident dovesd-generator)
check_match "journal: the error with FILE:LINE" "^/etc/dovesd/dovesd.conf:$bad_line: " "$log"
tap_diag "$log"
check_match "grow keeps client_limit 5 (the edit to 9 next to the error is not applied)" \
        'DOVESD_CLIENT_LIMIT=5( |$)' "$(show dovesd-grow.service Environment)"
check_eq "no unit of the broken service" not-found "$(show dovesd-broken.service LoadState)"
check_eq "every service is still running" "$(printf 'active %.0s' "${services[@]}" | xargs)" \
        "$(for s in "${services[@]}"; do show "dovesd-$s.service" ActiveState; done | xargs)"
for p in 7001 7002 7003 7005 7701 7702 7703 7704; do
        check_match "new clients are served on 127.0.0.1:$p" '^\* BYE$' "$(demo "127.0.0.1 $p" LOGOUT | tail -n1)"
done
wait "$d"
check_match "the clients held through the broken edit were served to the end" '^held=2 bye=2$' \
        "$(tail -n1 "$CT_DIR/d.out")"
wait "$loop"
tap_diag "closed loop during the broken edit: $(cat "$CT_DIR/loop2.out")"
check_match "closed loop during the broken edit: 0 refused, 0 reset, all served" \
        '^sessions=[1-9][0-9]* ok=[1-9][0-9]* refused=0 reset=0 other=0$' "$(head -n1 "$CT_DIR/loop2.out")"
printf '%s\n' "$good" >"$CT_CONF"

ct_stop
tap_done
