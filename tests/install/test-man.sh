#!/bin/sh
# Render every built man page as a reader would and fail on any warning (TAP).
# Usage: test-man.sh PAGE...
# groff reports problems on stderr ("troff: <standard input>:12: warning: ...") and still
# exits 0, so the test is that `man --warnings -l` prints nothing on stderr.
set -u

n=0
fail=0
echo "1..$(( $# * 2 ))"
if ! command -v man >/dev/null 2>&1; then
        for p in "$@"; do
                n=$((n + 1)); echo "ok $n - $(basename "$p") renders # SKIP man (man-db) not installed"
                n=$((n + 1)); echo "ok $n - $(basename "$p") has a NAME section # SKIP man not installed"
        done
        exit 0
fi
for p in "$@"; do
        name=$(basename "$p")
        n=$((n + 1))
        warnings=$(MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null)
        rc=$?
        if [ $rc -eq 0 ] && [ -z "$warnings" ]; then
                echo "ok $n - $name renders without warnings"
        else
                echo "not ok $n - $name renders without warnings (rc $rc)"
                printf '%s\n' "$warnings" | sed 's/^/# /'
                fail=1
        fi
        n=$((n + 1))
        text=$(MANWIDTH=80 man -l "$p" 2>/dev/null)
        if printf '%s\n' "$text" | grep -q '^NAME' &&
           [ "$(printf '%s\n' "$text" | wc -l)" -gt 20 ]; then
                echo "ok $n - $name has a NAME section and a body"
        else
                echo "not ok $n - $name has a NAME section and a body"
                fail=1
        fi
done
exit $fail
