#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end: type = login (overflow drops the oldest client that has not logged in) and
# type = startup (running from boot without a client, restarted by systemd when it dies).
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"

e2e_boot e2e-types "$E2E_DIR/types.conf"

# --- type = startup ---
check_eq "type=startup: running from boot, no client needed" "active running" \
        "$(show dovesd-startup.service ActiveState) $(show dovesd-startup.service SubState)"
check_eq "type=startup: Restart=always" always "$(show dovesd-startup.service Restart)"
pid=$(show dovesd-startup.service MainPID)
ct_exec kill -KILL "$pid"
wait_for "killed, systemd starts it again" 30 \
        '[ "$(show dovesd-startup.service NRestarts)" = 1 ] && [ "$(show dovesd-startup.service ActiveState)" = active ]'
check "... with a new process" test "$(show dovesd-startup.service MainPID)" != "$pid"
check_match "... which serves" '^\* BYE$' "$(demo "127.0.0.1 7602" LOGOUT)"

# --- type = login ---
check_eq "type=login: DOVESD_TYPE in the unit" 1 \
        "$(show dovesd-login.service Environment | grep -c 'DOVESD_TYPE=login')"
out=$(ct_exec python3 "$E2E_IN/client.py" overflow 127.0.0.1 7601)
tap_diag "$out"
check_match "overflow: the logged-in client B stays" '^B LOGIN: OK$' "$out"
check_match "overflow: the new client C is greeted" '^C greeting: \* OK dovesd-demo ready$' "$out"
check_match "overflow: the oldest not logged-in client A is told and closed" \
        $'^A got: \\* BYE too many clients, try again later\nA then: closed$' "$out"
check_match "overflow: B still answers" '^B INFO: \* INFO$' "$out"
check_match "overflow: C answers" '^C INFO: \* INFO$' "$out"
json=$(ct_exec journalctl -b -o json --no-pager MESSAGE_ID=be6e7742e19540c7aacedeac6e2892ba)
check_match "journal: login overflow with DOVESD_SERVICE and DOVESD_CLIENT" \
        '"DOVESD_SERVICE":"login".*"DOVESD_CLIENT":"127[.]0[.]0[.]1:[0-9]+"|"DOVESD_CLIENT":"127[.]0[.]0[.]1:[0-9]+".*"DOVESD_SERVICE":"login"' "$json"

ct_stop
tap_done
