#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end: a broken config is visible as a failed unit (issue 17).
# * At boot with a typo, no dovesd service exists, but dovesd-config-error.service has failed:
#   `systemctl --failed` names it, the system is "degraded", and `systemctl status` of it
#   shows FILE:LINE: MESSAGE. (Generators have no /dev/kmsg and a /dev/null stderr in this
#   container, so the unit is the way the errors become visible.)
# * Fixed and reloaded: the service runs; after reset-failed the system is "running".
# * Broken again on daemon-reload: the last good units stay (the socket keeps serving) and
#   the error unit fails again with the new FILE:LINE.
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"

e2e_boot e2e-boot-error "$E2E_DIR/boot-error.conf"
served() { grep -q '^\* BYE$' <<<"$(demo "127.0.0.1 $1" LOGOUT)"; }
conf=/etc/dovesd/dovesd.conf

# --- the typo at boot ---
check_eq "no unit for the broken service" "" \
        "$(ct_sh 'ls /run/systemd/generator | grep "^dovesd" || true')"
wait_for "systemctl --failed names dovesd-config-error.service" 30 \
        'ct_exec systemctl --failed --plain --no-legend | grep -q "^dovesd-config-error[.]service "'
check_eq "systemctl is-system-running: degraded" degraded \
        "$(ct_exec systemctl is-system-running)"
status=$(ct_exec systemctl status --no-pager --lines=20 dovesd-config-error.service 2>&1)
check_match "systemctl status shows FILE:LINE: MESSAGE" \
        "$conf:8: Unknown setting: service \\{ clinet_limit" "$status"
check_match "... and that the config has errors" "$conf: configuration has errors" "$status"
check_match "journalctl -t dovesd-generator finds the errors" "$conf:8: Unknown setting" \
        "$(ct_exec journalctl -b --no-pager -t dovesd-generator)"
check_eq "the errors file is consumed" no \
        "$(ct_sh '[ -e /run/dovesd-generator/config-errors ] && echo yes || echo no')"

# --- fixed ---
ct_exec sed -i 's/clinet_limit/client_limit/' "$conf"
check "dovesd-generator --check: the fix is good" ct_exec /etc/systemd/system-generators/dovesd-generator --check
check "daemon-reload after the fix" ct_exec systemctl daemon-reload
check "systemctl start dovesd.target" ct_exec systemctl start dovesd.target
check "the service serves" served 7601
check "systemctl reset-failed dovesd-config-error.service" \
        ct_exec systemctl reset-failed dovesd-config-error.service
check_eq "systemctl is-system-running: running" running "$(ct_exec systemctl is-system-running)"

# --- broken again, on daemon-reload: last good kept, error visible ---
ct_sh "printf 'service other {\n  process_limit = many\n}\n' >>$conf"
bad_line=$(ct_sh "grep -n 'process_limit = many' $conf | cut -d: -f1")
check "daemon-reload after the broken edit" ct_exec systemctl daemon-reload
check_match "the socket is still loaded and active" '^loaded active (listening|running)$' \
        "$(show dovesd-typo-tcp.socket LoadState) $(show dovesd-typo-tcp.socket ActiveState) $(show dovesd-typo-tcp.socket SubState)"
check "... and the service still serves" served 7601
wait_for "systemctl --failed names dovesd-config-error.service again" 30 \
        'ct_exec systemctl --failed --plain --no-legend | grep -q "^dovesd-config-error[.]service "'
check_eq "systemctl is-system-running: degraded again" degraded \
        "$(ct_exec systemctl is-system-running)"
check_match "systemctl status shows the new FILE:LINE" \
        "$conf:$bad_line: Invalid number many: Not a valid number" \
        "$(ct_exec systemctl status --no-pager --lines=20 dovesd-config-error.service 2>&1)"
check_match "... and that the last good units were kept" "kept the [0-9]+ units and links" \
        "$(ct_exec systemctl status --no-pager --lines=20 dovesd-config-error.service 2>&1)"
ct_stop
tap_done
