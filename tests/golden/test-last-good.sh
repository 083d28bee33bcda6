#!/bin/bash
# The generator keeps the last good unit set: a broken config on daemon-reload rewrites it
# unchanged instead of leaving systemd with no units (see generator/snapshot.c). TAP.
# Usage: test-last-good.sh DOVESD_GENERATOR
set -u
gen=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d" "command: $*"; fi; }

echo "1..12"
mkdir -p "$t/etc" "$t/out1" "$t/out2" "$t/out3" "$t/out4" "$t/out5" "$t/out6"
conf=$t/etc/dovesd.conf
cat > "$conf" <<'CONF'
service demo {
  executable = /usr/bin/true
  inet_listener demo {
    address = 127.0.0.1
    port = 7000
  }
  service_count = 1
}
service pool {
  executable = /usr/bin/true
  unix_listener pool {
    mode = 0660
  }
}
CONF
export DOVESD_LAST_GOOD_DIR=$t/keep DOVESD_CONFIG=$conf

"$gen" "$t/out1" 2>"$t/err1"
check "good config: exit 0" [ $? -eq 0 ]
check "good config: the copy equals the output" \
        diff -r --exclude=.dovesd-snapshot --no-dereference "$t/out1" "$t/keep"

sed -i 's/port = 7000/port = 70000/' "$conf"
"$gen" "$t/out2" 2>"$t/err2"
check "broken config: exit 1" [ $? -eq 1 ]
if grep -q "^$conf:5: Invalid port number 70000" "$t/err2"; then
        ok "broken config: the error names FILE:LINE"
else
        nok "broken config: the error names FILE:LINE" "$(cat "$t/err2")"
fi
check "broken config: the last good units are written unchanged" \
        diff -r --no-dereference "$t/out1" "$t/out2"
if grep -q "kept the .* units and links of the last good configuration" "$t/err2"; then
        ok "broken config: says the last good units were kept"
else
        nok "broken config: says the last good units were kept" "$(cat "$t/err2")"
fi

DOVESD_CONFIG=$t/etc/other.conf "$gen" "$t/out3" 2>"$t/err3"
check "another, absent config: exit 0, nothing written" \
        [ $? -eq 0 -a -z "$(ls -A "$t/out3")" ]

cp "$conf" "$t/etc/other.conf"
DOVESD_CONFIG=$t/etc/other.conf "$gen" "$t/out4" 2>"$t/err4"
check "another config file's copy is not used for it" \
        [ $? -eq 1 -a -z "$(ls -A "$t/out4")" ]
check "a stale copy is not removed by another config" [ -e "$t/keep/.dovesd-snapshot" ]

rm "$conf"
"$gen" "$t/out5" 2>"$t/err5"
check "config removed: exit 0, no units, the copy is gone" \
        [ $? -eq 0 -a -z "$(ls -A "$t/out5")" -a ! -e "$t/keep" ]

cp "$t/etc/other.conf" "$conf"
"$gen" "$t/out6" 2>"$t/err6"
check "broken config and no copy: exit 1, nothing written" \
        [ $? -eq 1 -a -z "$(ls -A "$t/out6")" ]

mkdir "$t/out7"
env -u DOVESD_LAST_GOOD_DIR -u SYSTEMD_SCOPE "$gen" "$t/out7" 2>/dev/null
check "run by hand (no SYSTEMD_SCOPE): no copy is consulted or kept" \
        [ $? -eq 1 -a -z "$(ls -A "$t/out7")" -a ! -e /run/dovesd-generator/last-good.new ]
exit $((failed > 0))
