#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end (issue 18, draft): Debian's own Dovecot 2.3 programs under dovesd with systemd
# as their master, Dovecot's master not running. tests/e2e/dovecot.conf includes
# examples/dovecot-2.3-services.conf; after boot Python's imaplib logs in on
# 127.0.0.1:143, SELECTs INBOX, APPENDs and FETCHes a message; smtplib.LMTP delivers over
# the lmtp socket and the message shows in the mailbox; `doveadm who` lists a held session.
# Needs dovesd-supervisor with the Dovecot worker kind: until it lists "dovecot" in
# `dovesd-supervisor --kinds`, the whole test is skipped.
set -uo pipefail
. "$(dirname "$(realpath "$0")")/lib.sh"

supervisor=$BUILD/helper/dovesd-supervisor
if [ ! -x "$supervisor" ] || ! "$supervisor" --kinds 2>/dev/null | grep -qx dovecot; then
        echo "1..0 # SKIP dovesd-supervisor has no Dovecot kind yet"
        exit 0
fi
[ -x /usr/lib/dovecot/imap-login ] || { echo "1..0 # SKIP dovecot-core is not installed"; exit 0; }

# The users Debian's package would have created (the container's /etc is fresh).
ct_init_hook() {
        ct_bind_ro "$E2E_DIR/dovecot.sysusers" /etc/sysusers.d/dovesd-dovecot.conf
        ct_bind_ro "$(realpath "$E2E_DIR/../../examples")" /opt/dovesd-examples
        # Must be the path the generator writes in ExecStart= (src/units.c
        # DOVESD_SUPERVISOR, to be set from meson's prefix/libexecdir).
        ct_install_exec "$supervisor" /usr/local/libexec/dovesd/dovesd-supervisor
}
[ "$(id -u)" -eq 0 ] || bail "end-to-end tests need root (systemd-nspawn)"
ct_init e2e-dovecot
ct_install_dovesd "$BUILD" "$E2E_DIR/dovecot.conf" || bail "cannot prepare the container"
ct_bind_ro "$E2E_DIR" "$E2E_IN"
ct_init_hook
ct_boot || bail "the container did not boot"
ct_sh 'install -d -o vmail -g vmail /srv/mail' || bail "no /srv/mail"

# --- the units ---
check_eq "Dovecot's services carry the Dovecot kind" dovecot \
        "$(show dovesd-imap-login.service Environment | grep -o 'DOVESD_WORKER_KIND=[a-z]*' | cut -d= -f2)"
check_match "ExecReload= goes through the supervisor, no SIGHUP" 'dovesd-supervisor.*--reload' \
        "$(show dovesd-imap.service ExecReload)"
check_eq "base_dir is Dovecot's default" "srw-------" \
        "$(ct_exec stat -c %A /run/dovecot/config)"
check_eq "Dovecot's own master is not running" "" "$(ct_sh 'pgrep -x dovecot || true')"

# --- IMAP ---
out=$(ct_exec python3 "$E2E_IN/dovecot-client.py" imap alice 2>&1)
check_match "imap-login greets" '^greeting \* OK' "$out"
check_match "LOGIN" '^login OK' "$out"
check_match "SELECT INBOX" '^select OK' "$out"
check_match "APPEND" '^append OK' "$out"
check_match "FETCH reads it back" '^fetch OK Subject: dovesd e2e append' "$out"
check_match "the message is in the maildir under /srv" '[1-9]' \
        "$(ct_sh 'ls /srv/mail/alice/Maildir/new /srv/mail/alice/new 2>/dev/null | wc -l')"

# --- LMTP ---
out=$(ct_exec python3 "$E2E_IN/dovecot-client.py" lmtp bob /run/dovecot/lmtp 2>&1)
check_match "LMTP delivers" '^lmtp delivered' "$out"
check_match "the delivered message shows in the mailbox" '^lmtp found 1' "$out"
if ! grep -q '^lmtp found 1' <<<"$out"; then
        tap_diag "client: $out"
        tap_diag "$(ct_exec journalctl -q --no-pager -o short-monotonic -u dovesd-lmtp.service \
                -u dovesd-lmtp-lmtp.socket -u dovesd-auth.service | tail -30)"
        tap_diag "$(ct_exec systemctl status --no-pager dovesd-lmtp.service 2>&1 | head -20)"
fi

# --- doveadm who: anvil works through the shared FIFO ---
ct_exec python3 -c '
import imaplib, time
m = imaplib.IMAP4("127.0.0.1", 143); m.login("carol", "secret"); m.select("INBOX")
time.sleep(8); m.logout()' >/dev/null 2>&1 &
held=$!
wait_for "doveadm who lists the held session" 20 \
        'ct_exec doveadm who 2>/dev/null | grep -q carol'
wait "$held"

# --- anvil enforces mail_max_userip_connections = 2 ---
out=$(ct_exec python3 "$E2E_IN/dovecot-client.py" userip dave 2>&1)
check_match "mail_max_userip_connections = 2: a third login from one IP is refused" \
        '^userip ok \| ok \| refused: .*[Mm]aximum number of connections' "$out"

# --- high-security mode (Dovecot's default: service_count = 1): one process per client ---
check_eq "imap-login runs in high-security mode (service_count = 1)" 1 \
        "$(show dovesd-imap-login.service Environment | grep -o 'DOVESD_SERVICE_COUNT=[0-9]*' | cut -d= -f2)"
ct_exec python3 "$E2E_IN/dovecot-client.py" hold frank 12 >"$CT_DIR/hold1.out" 2>&1 &
h1=$!
wait_for "a session is held" 20 'grep -q "^logged in" "$CT_DIR/hold1.out"'
login_pids() { ct_sh 'pgrep -x imap-login | sort | paste -sd" "'; }
before=$(login_pids)

# --- reload: high-performance mode and a new greeting, sessions stay ---
python3 - "$CT_CONF" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
s = s.replace("login_greeting = Dovecot under dovesd ready.", "login_greeting = Reloaded dovesd ready.")
s = s.replace("service imap-login {\n", "service imap-login {\n  service_count = 0\n  client_limit = 100\n  process_min_avail = 1\n", 1)
open(p, "w").write(s)
PY
check "daemon-reload && systemctl reload dovesd.target" \
        ct_sh 'systemctl daemon-reload && systemctl reload dovesd.target'
check_eq "imap-login now in high-performance mode (service_count = 0)" 0 \
        "$(show dovesd-imap-login.service Environment | grep -o 'DOVESD_SERVICE_COUNT=[0-9]*' | cut -d= -f2)"
wait_for "a new login sees the new greeting" 20 \
        '[[ "$(ct_exec python3 "$E2E_IN/dovecot-client.py" greeting 2>&1)" == *"Reloaded dovesd ready"* ]]'
out=$(ct_exec python3 "$E2E_IN/dovecot-client.py" imap grace 2>&1)
check_match "after the reload: LOGIN, APPEND and FETCH work" '^fetch OK Subject: dovesd e2e append' "$out"
wait "$h1"; rc=$?
check_eq "the session held across the reload was served to the end" "0 held ok" \
        "$rc $(grep -o '^held ok' "$CT_DIR/hold1.out")"
check_match "the held session had the old greeting" 'Dovecot under dovesd ready' \
        "$(grep '^greeting' "$CT_DIR/hold1.out")"
check "no Dovecot program got SIGHUP (nothing died of it)" \
        sh -c "! ct_exec journalctl -b --no-pager -o cat -u 'dovesd-*' | grep -q 'SIGHUP\|signal 1 '"
tap_diag "imap-login pids before the reload: $before; after: $(login_pids)"

# --- the logs reach journald, by unit ---
check_match "imap-login's log lines are in its unit's journal" 'Login: user=<alice>' \
        "$(ct_exec journalctl -q -o cat -u dovesd-imap-login.service)"

tap_done
