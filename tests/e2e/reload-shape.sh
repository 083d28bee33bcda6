#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end: what `systemctl daemon-reload && systemctl reload dovesd.target` does with the
# shape of the config (dovesd.units(7), RELOAD), through the generated dovesd-apply.service:
# * an added service starts listening at once;
# * a removed service stops taking clients, keeps the one it has, and exits after it;
# * a changed port of a service that is not running takes effect;
# * a changed port of a running service is reported (journal, apply unit), never silently
#   kept, and the service keeps serving on its old port;
# * a running service moved to another chroot: new workers run in it (the apply unit made
#   the directory first), the old worker keeps the old root until its client leaves;
# * a running service whose unit changed beyond its settings (LimitAS=) is reported;
# * no other client is dropped.
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"

e2e_boot e2e-reload-shape "$E2E_DIR/reload-shape.conf"
served() { grep -q '^\* BYE$' <<<"$(demo "127.0.0.1 $1" LOGOUT)"; }
client() { ct_exec python3 "$E2E_IN/client.py" "$@"; }

check_eq "the apply unit is active" active "$(show dovesd-apply.service ActiveState)"
check_match "... reloads with dovesd.target" 'dovesd.target' \
        "$(show dovesd-apply.service ReloadPropagatedFrom)"
check "keep serves" served 7601
check "gone serves" served 7602
check "busy serves" served 7604
check_eq "idle is not running" inactive "$(show dovesd-idle.service ActiveState)"

# clients held across the reload on keep and on gone
client hold 127.0.0.1 7601 1 12 >"$CT_DIR/keep.out" 2>&1 &
hk=$!
client hold 127.0.0.1 7602 1 12 >"$CT_DIR/gone.out" 2>&1 &
hg=$!
wait_for "a client held on keep and on gone" 30 \
        '[ "$(count_lines "$CT_DIR/keep.out" "^[*] INFO")" -eq 1 ] && [ "$(count_lines "$CT_DIR/gone.out" "^[*] INFO")" -eq 1 ]'
gone_main=$(show dovesd-gone.service MainPID)

# the edit: gone removed, added new, idle and busy on other ports
python3 - "$CT_CONF" <<'PY'
import re, sys
p = sys.argv[1]; s = open(p).read()
s, n = re.subn(r"# removed by the edit.*?\n  }\n}\n", "", s, flags=re.S)
assert n == 1, "the service gone was not removed"
s = s.replace("port = 7603", "port = 7613").replace("port = 7604", "port = 7614")
s = s.replace("chroot = keepjail1", "chroot = keepjail2")
# busy's unit changes beyond its settings too (LimitAS=): a restart applies that
s = s.replace("port = 7614\n", "port = 7614\n  }\n  vsz_limit = 300M\n  inet_listener none {\n    port = 0\n", 1)
s += "\nservice added {\n  executable = dovesd-demo\n  process_limit = 2\n  inet_listener tcp {\n    port = 7605\n  }\n}\n"
open(p, "w").write(s)
PY
check "the edit removed gone" sh -c "! grep -q 'service gone' '$CT_CONF'"
check "dovesd-generator --check on the edit" ct_exec /usr/local/sbin/dovesd-generator --check
check "daemon-reload" ct_exec systemctl daemon-reload
check "systemctl reload dovesd.target (exit status 0)" ct_exec systemctl reload dovesd.target
wait_for "the added service listens" 20 'served 7605'
wait_for "idle listens on its new port" 20 'served 7613'
check "... and no longer on its old one" sh -c '! served 7603'
check "busy still serves on its old port" served 7604
check_eq "the apply unit's reload failed, for busy's changed port" exit-code \
        "$(show dovesd-apply.service ReloadResult 2>/dev/null || echo n/a)"
check_match "busy's changed limit is reported: its unit changed beyond its settings" \
        'dovesd-busy.service changed beyond its settings .*systemctl restart dovesd-busy.service' \
        "$(ct_exec journalctl -b --no-pager -o cat -u dovesd-apply.service)"
check_match "busy's changed port is reported, with what to run" \
        'dovesd-busy-tcp.socket changed, but dovesd-busy.service is running.*systemctl stop dovesd-busy.service && systemctl reload dovesd.target' \
        "$(ct_exec journalctl -b --no-pager -o cat -u dovesd-apply.service)"
wait_for "gone's socket is stopped" 20 '[ "$(show dovesd-gone-tcp.socket ActiveState)" = inactive ]'
check_eq "gone's supervisor still runs for its client" "$gone_main" "$(show dovesd-gone.service MainPID)"
check "keep serves new clients" served 7601
new_info=$(demo "127.0.0.1 7601" INFO LOGOUT | grep '^\* INFO')
new_pid=$(field pid "$new_info")
old_pid=$(field pid "$(grep '^\* INFO' "$CT_DIR/keep.out" | head -1)")
check_eq "keep's new worker runs in the new chroot (INFO)" /run/dovesd/keepjail2 "$(field chroot "$new_info")"
check_eq "... and /proc/PID/root says so (the apply unit made the directory)" /run/dovesd/keepjail2 \
        "$(ct_exec readlink "/proc/$new_pid/root")"
check_eq "keep's old worker, holding its client, keeps the old root" /run/dovesd/keepjail1 \
        "$(ct_exec readlink "/proc/$old_pid/root")"
check_eq "... and the old user and the new one are the same service user" "$(status_field "$old_pid" Uid)" \
        "$(status_field "$new_pid" Uid)"

wait "$hk"; rk=$?
wait "$hg"; rg=$?
check_eq "keep's held client was served to the end" "0 1" \
        "$rk $(count_lines "$CT_DIR/keep.out" '^held=1 bye=1$')"
check_eq "gone's held client was served to the end" "0 1" \
        "$rg $(count_lines "$CT_DIR/gone.out" '^held=1 bye=1$')"
wait_for "gone exits after its last client" 30 \
        '[ "$(show dovesd-gone.service ActiveState)" = inactive ]'
check "stopping busy and reloading applies its port" \
        ct_sh 'systemctl stop dovesd-busy.service && systemctl reload dovesd.target'
wait_for "busy serves on its new port" 20 'served 7614'
tap_done
