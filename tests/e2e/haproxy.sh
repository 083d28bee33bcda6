#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end: a real haproxy (send-proxy-v2) in front of a haproxy=yes listener. The demo
# sees the real client's address; a direct connection without a PROXY header is closed and
# logged with MESSAGE_ID, DOVESD_LISTENER and DOVESD_CLIENT; the catalog explains it.
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"

command -v haproxy >/dev/null || bail "haproxy is not installed (scripts/packages)"
e2e_boot e2e-haproxy "$E2E_DIR/haproxy.conf"

# haproxy as a transient unit inside the container: systemd owns it, nothing leaks.
check "haproxy starts in the container" \
        ct_exec systemd-run --quiet --unit=e2e-haproxy --property=Type=notify \
                haproxy -Ws -f "$E2E_IN/haproxy.cfg"

# Through haproxy, from a client address of our choosing on the loopback net.
out=$(ct_exec timeout 30 sh -c 'printf "INFO\nLOGOUT\n" | nc.openbsd -N -s 127.0.0.5 -p 40123 127.0.0.1 8301' | tr -d '\r')
check_match "through haproxy: greeted" '^\* OK dovesd-demo ready' "$out"
info=$(printf '%s\n' "$out" | grep '^\* INFO')
check_eq "INFO: proxied=1 on the haproxy=yes listener" "1 proxied" \
        "$(field proxied "$info") $(field listener "$info")"
check_eq "INFO: remote is the real client, not haproxy" 127.0.0.5:40123 "$(field remote "$info")"
check_eq "INFO: local is the address the client connected to (haproxy's)" 127.0.0.1:8301 \
        "$(field local "$info")"

# Directly, without a header: the program never sees the client.
out=$(demo "127.0.0.1 7301" INFO LOGOUT)
check_eq "direct connection without a PROXY header: closed, no greeting" "" "$out"

# The plain listener of the same service is not affected.
info=$(demo "-s 127.0.0.6 127.0.0.1 7302" INFO LOGOUT | grep '^\* INFO')
check_eq "plain listener: proxied=0, the peer's own address" "0 127.0.0.6" \
        "$(field proxied "$info") $(field remote "$info" | cut -d: -f1)"

json=$(ct_exec journalctl -b -o json --no-pager MESSAGE_ID=7795facd39b1412d93724e15f49f0df5)
check_match "journal: PROXY rejected, MESSAGE_ID, DOVESD_SERVICE, DOVESD_LISTENER" \
        '"DOVESD_SERVICE":"proxied"' "$json"
check_match "journal: ... with DOVESD_LISTENER=proxied" '"DOVESD_LISTENER":"proxied"' "$json"
check_match "journal: ... with DOVESD_CLIENT, the direct peer" '"DOVESD_CLIENT":"127[.]0[.]0[.]1:[0-9]+"' "$json"
ct_exec journalctl --update-catalog
check_match "journalctl -x: the catalog explains the rejection" \
        'PROXY protocol header rejected on proxied' \
        "$(ct_exec journalctl -b -x --no-pager MESSAGE_ID=7795facd39b1412d93724e15f49f0df5)"

ct_exec systemctl stop e2e-haproxy.service
ct_stop
tap_done
