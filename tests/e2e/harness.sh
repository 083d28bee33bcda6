#!/bin/bash
# SPDX-License-Identifier: MIT
# The container harness itself, with no dovesd component: a hand-written socket-activated
# service (socket + shell service, Accept=yes) must answer over loopback inside the container,
# systemd must be PID 1 there, and the container must go away cleanly.
set -uo pipefail
here=$(dirname "$(realpath "$0")")
. "$here/tap.sh"
. "$here/../../scripts/lib/container.sh"

ct_init e2e-harness
# A generator (shell) writes the units, as dovesd-generator will: proves that generators in
# /etc/systemd/system-generators run at boot and their output is loaded and started.
cat > "$CT_DIR/echo-generator" <<'GEN'
#!/bin/sh
set -e
cat > "$1/echo.socket" <<UNIT
[Socket]
ListenStream=127.0.0.1:7000
Accept=yes
UNIT
cat > "$1/echo@.service" <<'UNIT'
[Service]
ExecStart=/bin/sh -c 'echo "* OK echo ready"; read -r line; echo "got $line"'
StandardInput=socket
StandardOutput=socket
UNIT
mkdir -p "$1/sockets.target.wants"
ln -s ../echo.socket "$1/sockets.target.wants/echo.socket"
# Where a generator's diagnostics can go in this container (see scripts/lib/container.sh).
{ readlink /proc/$$/fd/2; test -e /dev/kmsg && echo kmsg || echo no-kmsg; } > "$1/echo-generator.facts"
GEN
chmod 0755 "$CT_DIR/echo-generator"
ct_bind_ro "$CT_DIR/echo-generator" /etc/systemd/system-generators/echo-generator

t0=$(date +%s.%N)
ct_boot || bail "container did not boot"
t1=$(date +%s.%N)
tap_diag "boot took $(python3 -c "print('%.1f' % ($t1 - $t0))") s"

check_eq "systemd is PID 1 inside" systemd "$(ct_exec cat /proc/1/comm)"
check_eq "we are in a container of type systemd-nspawn" systemd-nspawn \
        "$(ct_exec systemd-detect-virt --container)"
check_eq "the generator's socket is listening after boot" active "$(ct_exec systemctl show -P ActiveState echo.socket)"
out=$(ct_sh 'printf "hello\n" | nc.openbsd -N 127.0.0.1 7000')
check_eq "a socket-activated shell service answers over loopback" \
        "$(printf '* OK echo ready\ngot hello')" "$out"
check_eq "generators run with stderr on /dev/null and no /dev/kmsg (systemd 252, nspawn)" \
        "$(printf '/dev/null\nno-kmsg')" "$(ct_exec cat /run/systemd/generator/echo-generator.facts)"
check_match "the connection ran as an echo@ instance" 'Accepted: 1' \
        "$(ct_exec systemctl show -p NAccepted -p NConnections echo.socket | sed 's/NAccepted=/Accepted: /')"
check_match "journald records the instance" 'echo@' "$(ct_exec journalctl --no-pager -o cat -u 'echo@*')"
check "private network: no host interface but lo is up" \
        ct_sh 'test "$(ls /sys/class/net)" = lo || { ip -br link; exit 1; }'
check "/usr is read-only inside" ct_sh '! touch /usr/.dovesd-probe 2>/dev/null'
check "/ is a writable tmpfs" ct_sh 'findmnt -n -o FSTYPE / | grep -qx tmpfs && touch /probe'

nspawn=$CT_NSPAWN_PID
ct_stop
check "the container is gone after ct_stop" test ! -d "/proc/$nspawn"
tap_done
