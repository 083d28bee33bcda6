#!/bin/bash
# Regenerate src/known-settings.inc from the installed doveconf (Debian dovecot-core 2.3.19.1):
# every setting doveconf knows outside service sections, with its type, found by asking
# doveconf to parse a deliberately wrong value for each key. doveconf also loads the settings
# of the plugins installed in /usr/lib/dovecot/modules/settings/: run this with every Debian
# package that ships one installed (apt-get install dovecot-managesieved dovecot-sieve), or
# their settings (managesieve_*) go missing from the list. They are not in scripts/packages:
# installed, they add two built-in services (managesieve, managesieve-login) and the "sieve"
# protocol to doveconf, which the differential tests (tests/diff, test-builtin-services.sh)
# do not expect of dovecot-core alone. Purge them again after regenerating. The other dovecot-* packages
# (imapd, pop3d, lmtpd, submissiond, ldap, sql drivers, lua, gssapi, solr, lucene) add no
# settings module: their settings are compiled into doveconf.
# Usage: src/known-settings-update.sh > src/known-settings.inc
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat > "$tmp/all.conf" <<'CONF'
passdb {
  driver = static
}
userdb {
  driver = static
}
namespace n {
  mailbox m {
  }
}
metric m {
  filter = event=x
}
event_exporter e {
  transport = log
  format = json
  format_args = time-rfc3339
}
CONF
for m in libmanagesieve_settings.so libmanagesieve_login_settings.so; do
        if [ ! -e "/usr/lib/dovecot/modules/settings/$m" ]; then
                echo "$0: /usr/lib/dovecot/modules/settings/$m is missing: install" \
                     "dovecot-managesieved and dovecot-sieve first" >&2
                exit 1
        fi
done
doveconf -c "$tmp/all.conf" -a > "$tmp/all.out" 2>/dev/null

# section KEY ... from the -a output
awk '
/^[a-z_0-9]+ = /                { sub(/ = .*/, ""); print "global", $0; next }
/^(passdb|userdb|metric|event_exporter) .*\{$|^(passdb|userdb) \{$/ { sec = $1; next }
/^namespace .*\{$/              { sec = "namespace"; next }
/^  mailbox .*\{$/              { sec = "mailbox"; next }
/^  \}$/                        { if (sec == "mailbox") sec = "namespace"; next }
/^\}$/                          { sec = ""; next }
/^service /                     { sec = "service"; next }
/^  [a-z_0-9]+ = /              { if (sec != "" && sec != "service" && sec != "mailbox") { sub(/^  /, ""); sub(/ = .*/, ""); print sec, $0 }; next }
/^    [a-z_0-9]+ = /            { if (sec == "mailbox") { sub(/^    /, ""); sub(/ = .*/, ""); print sec, $0 }; next }
' "$tmp/all.out" | sort -u > "$tmp/keys"

probe() { # section key value -> doveconf error text
        local sec=$1 key=$2 val=$3
        case $sec in
        global) printf '%s = %s\n' "$key" "$val" ;;
        namespace) printf 'namespace n {\n%s = %s\n}\n' "$key" "$val" ;;
        mailbox) printf 'namespace n {\nmailbox m {\n%s = %s\n}\n}\n' "$key" "$val" ;;
        metric) printf 'metric m {\nfilter = event=x\n%s = %s\n}\n' "$key" "$val" ;;
        event_exporter) printf 'event_exporter e {\ntransport = log\nformat = json\nformat_args = time-rfc3339\n%s = %s\n}\n' "$key" "$val" ;;
        *) printf '%s {\ndriver = static\n%s = %s\n}\n' "$sec" "$key" "$val" ;;
        esac > "$tmp/p.conf"
        doveconf -c "$tmp/p.conf" -n 2>&1 >/dev/null | grep 'line [0-9]*:' | sed 's/.*line [0-9]*: //' || true
}

echo "/* SPDX-License-Identifier: MIT */"
echo "/* Settings Dovecot 2.3.19.1 knows outside service sections, from doveconf -a"
echo " * with Pigeonhole's settings modules (dovecot-managesieved, dovecot-sieve) installed."
echo " * Written by src/known-settings-update.sh; sorted by section, then key. */"
while read -r sec key; do
        err=$(probe "$sec" "$key" "x_x")
        case $err in
        "Invalid boolean value"*) type=BOOL ;;
        "Invalid number x_x"*)
                err2=$(probe "$sec" "$key" "09")
                case $err2 in "Invalid number: 09") type=OCT ;; *) type=UINT ;; esac ;;
        "Invalid time interval"*)
                err2=$(probe "$sec" "$key" "1500ms")
                case $err2 in "") type=MSECS ;; *) type=TIME ;; esac ;;
        "Invalid size"*) type=SIZE ;;
        "Invalid port number"*) type=PORT ;;
        "Invalid value"*) type=ENUM ;;
        *) type=STR ;;
        esac
        printf '{ "%s", "%s", KT_%s },\n' "$sec" "$key" "$type"
done < "$tmp/keys"
