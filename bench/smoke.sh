#!/bin/bash
# SPDX-License-Identifier: MIT
# Smoke test of bench/'s tools (TAP): the limit server answers the dialogue, loadgen's load,
# cold and idle modes complete against it with no failed connection, and spawn-floor counts
# its spawns and their failures.
# Usage: smoke.sh LOADGEN LIMIT_SERVER SPAWN_FLOOR
set -uo pipefail
loadgen=$1
server=$2
floor=$3
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$server" -p "$port" -P 2 > /dev/null &
spid=$!
trap 'kill $spid 2>/dev/null; wait $spid 2>/dev/null' EXIT
for _ in $(seq 50); do
        nc.openbsd -z 127.0.0.1 "$port" 2>/dev/null && break
        sleep 0.05
done

out=$(printf 'NOOP\r\nLOGOUT\r\n' | timeout 5 nc.openbsd 127.0.0.1 "$port" | tr -d '\r')
want=$(printf '* OK limit-server ready\nBAD unknown command\n* BYE')
if [ "$out" = "$want" ]; then ok "the limit server speaks the dialogue"; else
        not_ok "the limit server speaks the dialogue"; printf '# got: %s\n' "$out"; fi

out=$(timeout 10 "$loadgen" -p "$port" -c 8 -n 400 -w 0)
if [[ "$out" =~ ^conns=([0-9]+)\ .*refused=0\ reset=0\ timeout=0\ other=0\ total=[0-9]+$ ]] &&
   [ "${BASH_REMATCH[1]}" -ge 400 ]; then ok "load mode: 400 connections, none failed"; else
        not_ok "load mode: 400 connections, none failed"; printf '# got: %s\n' "$out"; fi

out=$(timeout 5 "$loadgen" -p "$port" -m cold)
if [[ "$out" =~ ^greeting_us=[1-9][0-9]*\ total_us=[1-9][0-9]*$ ]]; then ok "cold mode"; else
        not_ok "cold mode"; printf '# got: %s\n' "$out"; fi

out=$(timeout 10 "$loadgen" -p "$port" -m idle -k 100 -c 20 < /dev/null)
if [ "$out" = "idle 100 opened failed=0 refused=0 reset=0 timeout=0 other=0" ]; then
        ok "idle mode holds 100 connections"; else
        not_ok "idle mode holds 100 connections"; printf '# got: %s\n' "$out"; fi

out=$(timeout 5 "$loadgen" -p "$port" -n 10 -w 0 -g '* NOPE')
if [[ "$out" =~ other=([0-9]+)\ total=0$ ]] && [ "${BASH_REMATCH[1]}" -ge 10 ]; then
        ok "a wrong greeting counts as a failed connection"; else
        not_ok "a wrong greeting counts as a failed connection"; printf '# got: %s\n' "$out"; fi

out=$(timeout 20 "$floor" -n 50 -j 2 -w 2 /bin/sh -c 'exit 2')
if [[ "$out" =~ ^spawns=50\ secs=[0-9.]+\ rate=([0-9]+)\ cpu_us=[0-9]+\ failed=0$ ]] &&
   [ "${BASH_REMATCH[1]}" -gt 0 ]; then ok "spawn-floor: 50 spawns, an exit status 2 is no failure"; else
        not_ok "spawn-floor: 50 spawns, an exit status 2 is no failure"; printf '# got: %s\n' "$out"; fi

out=$(timeout 10 "$floor" -n 5 /nonexistent/program 2>&1)
rc=$?
if [ $rc -eq 1 ] && [[ "$out" == *"cannot run it"* ]]; then ok "spawn-floor: a program that cannot run fails"; else
        not_ok "spawn-floor: a program that cannot run fails"; printf '# rc=%s got: %s\n' "$rc" "$out"; fi

echo "1..$n"
[ $failed -eq 0 ]
