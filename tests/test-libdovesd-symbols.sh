#!/bin/bash
# TAP: the dynamic symbols libdovesd.so exports equal the version script, all at DOVESD_0.1.
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

if [ -n "$exported" ] && ! echo "$exported" | grep -v '@@DOVESD_0\.1$' >&2; then
        echo "ok 2 - every exported symbol has version DOVESD_0.1"
else
        echo "not ok 2 - symbols without version DOVESD_0.1"
fi

soname=$(objdump -p "$so" | awk '$1 == "SONAME" {print $2}')
if [ "$soname" = libdovesd.so.0 ]; then
        echo "ok 3 - SONAME is libdovesd.so.0"
else
        echo "not ok 3 - SONAME is '$soname'"
fi
