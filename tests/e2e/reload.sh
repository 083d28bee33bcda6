#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end: `systemctl daemon-reload` after editing /etc/dovesd/dovesd.conf.
# * A good edit is applied: a new service gets its units, a changed setting is loaded, and
#   `systemctl reload dovesd.target` hands it to the running supervisor (exit status 0).
# * A broken edit changes nothing (the generator writes its last good unit set again): every
#   socket keeps listening, held clients keep being served, new clients are served, and the
#   errors are in the journal with FILE:LINE (journalctl -t dovesd-generator). Fixing the
#   config and reloading again just works.
# * A broken config at boot: no dovesd units at all (there is no last good set yet).
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"

e2e_boot e2e-reload "$E2E_DIR/reload.conf"
served() { grep -q '^\* BYE$' <<<"$(demo "127.0.0.1 $1" LOGOUT)"; }

check "before any edit: service_count = 1 service serves" served 7501
check "before any edit: pool serves" served 7502

# --- a good edit: a new service and a changed setting ---
sed -i 's/client_limit = 5/client_limit = 7/' "$CT_CONF"
cat >>"$CT_CONF" <<'CONF'

service added {
  executable = dovesd-demo
  process_limit = 1
  inet_listener tcp {
    port = 7503
  }
}
CONF
check "daemon-reload after a good edit" ct_exec systemctl daemon-reload
check_eq "the new service's socket unit is loaded" loaded "$(show dovesd-added-tcp.socket LoadState)"
check "systemctl start dovesd.target starts what is new" ct_exec systemctl start dovesd.target
check_eq "... its socket listens" "active listening" \
        "$(show dovesd-added-tcp.socket ActiveState) $(show dovesd-added-tcp.socket SubState)"
check "... and the new service serves" served 7503
check_match "the changed client_limit is in the loaded unit" 'DOVESD_CLIENT_LIMIT=7( |$)' \
        "$(show dovesd-pool.service Environment)"
main=$(show dovesd-pool.service MainPID)
check "systemctl reload dovesd.target (exit status 0)" ct_exec systemctl reload dovesd.target
check_eq "... the pool's supervisor stays" "$main" "$(show dovesd-pool.service MainPID)"
wait_for "... and applies client_limit 7 to new workers (its journal record)" 10 \
        '[[ "$(ct_exec journalctl -b --no-pager -o cat -u dovesd-pool.service)" == *"Reloaded: new workers get the new settings (client_limit 7,"* ]]'

# --- a broken edit while clients are connected ---
client() { ct_exec python3 "$E2E_IN/client.py" "$@"; }
client hold 127.0.0.1 7501 1 8 >"$CT_DIR/h1.out" 2>&1 &
h1=$!
client hold 127.0.0.1 7502 2 8 >"$CT_DIR/h2.out" 2>&1 &
h2=$!
wait_for "clients held on both services" 30 \
        '[ "$(count_lines "$CT_DIR/h1.out" "^[*] INFO")" -eq 1 ] && [ "$(count_lines "$CT_DIR/h2.out" "^[*] INFO")" -eq 2 ]'
good=$(cat "$CT_CONF")
bad_line=$(($(wc -l <"$CT_CONF") + 3))
printf '\nservice broken {\n  client_limit = lots\n  executable = dovesd-demo\n}\n' >>"$CT_CONF"
check_eq "the edit is really broken (--check, FILE:LINE)" \
        "/etc/dovesd/dovesd.conf:$bad_line: Invalid number lots: Not a valid number" \
        "$(ct_exec /etc/systemd/system-generators/dovesd-generator --check 2>&1)"
since=$(ct_exec date '+%Y-%m-%d %H:%M:%S')
check "daemon-reload after the broken edit" ct_exec systemctl daemon-reload
for u in dovesd-single-tcp.socket dovesd-pool-tcp.socket dovesd-added-tcp.socket; do
        # SubState: "listening", or "running" while its Accept=no service runs
        check_match "$u: still loaded and active" '^loaded active (listening|running)$' \
                "$(show $u LoadState) $(show $u ActiveState) $(show $u SubState)"
done
check_eq "no unit of the broken service appeared" not-found "$(show dovesd-broken.service LoadState)"
check "new clients: service_count = 1 still served" served 7501
check "new clients: pool still served" served 7502
check "new clients: the service added before still served" served 7503
wait "$h1"
wait "$h2"
check_match "held service_count = 1 client served to the end" '^held=1 bye=1$' "$(cat "$CT_DIR/h1.out")"
check_match "held pool clients served to the end" '^held=2 bye=2$' "$(cat "$CT_DIR/h2.out")"
log=$(ct_exec journalctl --no-pager -o cat -t dovesd-generator --since "$since")
tap_diag "journalctl -t dovesd-generator:" "$log"
check_match "journal: the error with FILE:LINE" \
        "/etc/dovesd/dovesd.conf:$bad_line: Invalid number lots: Not a valid number" "$log"
check_match "journal: the generator says it kept the last good units" '[Ll]ast good|kept|previous' "$log"

# --- fixed again ---
printf '%s\n' "$good" >"$CT_CONF"
check "daemon-reload after fixing the config" ct_exec systemctl daemon-reload
check_eq "units loaded, sockets listening" "loaded active loaded active" \
        "$(show dovesd-single-tcp.socket LoadState) $(show dovesd-single-tcp.socket ActiveState) $(show dovesd-pool-tcp.socket LoadState) $(show dovesd-pool-tcp.socket ActiveState)"
check "service_count = 1 serves" served 7501
check "pool serves" served 7502
ct_stop

# --- a broken config at boot ---
# (ct_stop has emptied $CT_DIR: the file goes to a temp dir of its own, never the cwd)
broken_dir=$(mktemp -d /tmp/dovesd-broken.XXXXXX)
printf 'service broken {\n  client_limit = lots\n}\n' >"$broken_dir/dovesd.conf"
e2e_boot e2e-reload-boot "$broken_dir/dovesd.conf"
rm -rf "$broken_dir"
check_eq "broken config at boot: the generator wrote no dovesd unit" "" \
        "$(ct_sh 'ls /run/systemd/generator | grep "^dovesd" || true')"
check_eq "... so systemd has none loaded (but the static config-error units)" "" \
        "$(ct_exec systemctl list-units --all --plain --no-legend 'dovesd-*' |
           grep -v '^dovesd[.]' | grep -v '^dovesd-config-error[.]' || true)"
ct_stop
tap_done
