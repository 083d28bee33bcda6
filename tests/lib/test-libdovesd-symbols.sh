#!/bin/bash
# TAP: the dynamic symbols libdovesd.so exports equal the version script, each at its version.
# Usage: test-libdovesd-symbols.sh LIBDOVESD.so libdovesd.sym
set -uo pipefail
so=$1 sym=$2

echo "1..3"
exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort)
listed=$(sed -n 's/^[[:space:]]*\(dovesd_[a-z0-9_]*\);.*/\1/p' "$sym" | sort)

if [ -n "$listed" ] && diff -u <(echo "$listed") <(echo "$exported" | sed 's/@.*//') >&2; then
        echo "ok 1 - exported symbols equal $(basename "$sym") ($(echo "$listed" | wc -l) symbols)"
else
        echo "not ok 1 - exported symbols differ from $(basename "$sym")"
fi

# every symbol at the version node the script gives it: DOVESD_0.1, and the 0.2 additions
want_versions=$(awk '/^DOVESD_[0-9.]+ \{/ { v = $1 } /^[[:space:]]*dovesd_[a-z0-9_]*;/ {
        gsub(/[[:space:];]/, ""); print $0 "@@" v }' "$sym" | sort)
if [ -n "$exported" ] && [ "$(echo "$exported")" = "$want_versions" ]; then
        echo "ok 2 - every exported symbol has the version the script gives it (DOVESD_0.1, DOVESD_0.2)"
else
        echo "not ok 2 - symbol versions differ from the script"
        diff <(echo "$want_versions") <(echo "$exported") >&2
fi

soname=$(objdump -p "$so" | awk '$1 == "SONAME" {print $2}')
if [ "$soname" = libdovesd.so.0 ]; then
        echo "ok 3 - SONAME is libdovesd.so.0"
else
        echo "not ok 3 - SONAME is '$soname'"
fi
