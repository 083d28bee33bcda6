#!/bin/bash
# examples/dovecot-2.3-services.conf must be exactly Dovecot's built-in services: doveconf
# prints the same 30 service sections for a config including it as for an empty config, and
# dovesd-generator --dump prints those sections too. TAP on stdout.
# Usage: test-builtin-services.sh GENERATOR EXAMPLES_DIR
set -u
gen=$1
examples=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; }
sections() { awk '/^service .*\{$/ { p = 1 } p { print } /^}$/ { p = 0 }'; }

echo "1..5"
if ! command -v doveconf >/dev/null; then
        for i in 1 2 3 4 5; do echo "ok $i - builtin services # SKIP doveconf not installed"; done
        exit 0
fi

: > "$tmp/empty.conf"
printf '!include %s/dovecot-2.3-services.conf\n' "$examples" > "$tmp/inc.conf"

doveconf -c "$tmp/empty.conf" -a 2>/dev/null | sections > "$tmp/empty.out"
doveconf -c "$tmp/inc.conf" -a 2>/dev/null | sections > "$tmp/inc.out"

count=$(grep -c '^service ' "$tmp/empty.out")
[ "$count" = 30 ] && ok "doveconf knows 30 built-in services" || notok "doveconf knows 30 built-in services (got $count)"
count=$(grep -c '^service ' "$examples/dovecot-2.3-services.conf")
[ "$count" = 30 ] && ok "the example declares 30 services" || notok "the example declares 30 services (got $count)"

if cmp -s "$tmp/empty.out" "$tmp/inc.out"; then
        ok "doveconf: including the example changes no built-in service"
else
        notok "doveconf: including the example changes no built-in service"
        diff -u "$tmp/empty.out" "$tmp/inc.out" | sed 's/^/# /' | head -40
fi

if "$gen" -c "$tmp/inc.conf" --check > "$tmp/check.out" 2>&1 && grep -qx 'configuration OK' "$tmp/check.out"; then
        ok "dovesd-generator --check accepts the example"
else
        notok "dovesd-generator --check accepts the example"
        sed 's/^/# /' "$tmp/check.out"
fi

"$gen" -c "$tmp/inc.conf" --dump > "$tmp/dump.out" 2>&1
if cmp -s "$tmp/empty.out" "$tmp/dump.out"; then
        ok "dovesd-generator --dump equals doveconf -a's service sections"
else
        notok "dovesd-generator --dump equals doveconf -a's service sections"
        diff -u "$tmp/empty.out" "$tmp/dump.out" | sed 's/^/# /' | head -40
fi
