# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# TAP output for the end-to-end tests: every check prints one "ok N - text" or "not ok N - text";
# the plan line "1..N" comes at the end (tap_done), so a test that dies early still shows
# every check it ran, and meson counts the missing ones as a failure of the whole file.

TAP_N=0
TAP_FAILED=0

tap_ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
tap_not_ok() { TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1)); echo "not ok $TAP_N - $*"; }
tap_skip() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1 # SKIP $2"; }
tap_diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# check TEXT CMD...: one case, passes when CMD exits 0; CMD's output goes to the log as #.
check() {
        local text="$1" out rc
        shift
        out=$("$@" 2>&1)
        rc=$?
        if [ $rc -eq 0 ]; then
                tap_ok "$text"
        else
                tap_not_ok "$text"
                [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/#   /'
                tap_diag "  (exit status $rc)"
        fi
        return $rc
}

# check_eq TEXT EXPECTED ACTUAL
check_eq() {
        if [ "$2" = "$3" ]; then
                tap_ok "$1"
        else
                tap_not_ok "$1"
                tap_diag "  expected: $2" "  actual:   $3"
                return 1
        fi
}

# check_match TEXT REGEX ACTUAL (grep -E on the whole text)
check_match() {
        # a here-string, not printf | grep: grep -q exits at the first match, and printf's
        # SIGPIPE would fail the pipeline under pipefail
        if grep -Eq -- "$2" <<<"$3"; then
                tap_ok "$1"
        else
                tap_not_ok "$1"
                tap_diag "  expected to match: $2"
                printf '%s\n' "$3" | head -20 | sed 's/^/#   actual: /'
                return 1
        fi
}

# bail TEXT: the rest cannot run (e.g. the container did not boot); fail loudly.
bail() { echo "Bail out! $*"; exit 1; }

tap_done() {
        echo "1..$TAP_N"
        [ "$TAP_FAILED" -eq 0 ]
}
