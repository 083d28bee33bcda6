# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Common set-up of the end-to-end tests: TAP helpers, the container harness, and a few
# ways to talk to dovesd-demo inside the container. Each test file boots one container.
E2E_DIR=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
. "$E2E_DIR/tap.sh"
. "$E2E_DIR/../../scripts/lib/container.sh"
BUILD=${DOVESD_BUILD_ROOT:-$E2E_DIR/../../build}
E2E_IN=/opt/dovesd-e2e          # tests/e2e inside the container (client.py, configs)

# e2e_boot NAME CONF: a container with dovesd installed and CONF as /etc/dovesd/dovesd.conf.
e2e_boot() {
        [ "$(id -u)" -eq 0 ] || bail "end-to-end tests need root (systemd-nspawn)"
        command -v systemd-nspawn >/dev/null || bail "systemd-nspawn missing (systemd-container)"
        ct_init "$1"
        ct_install_dovesd "$BUILD" "$2" || bail "cannot prepare the container (build first)"
        ct_bind_ro "$E2E_DIR" "$E2E_IN"
        ct_boot || bail "the container did not boot (see the log above)"
}

# demo NC-ARGS LINE...: send the lines with nc.openbsd -N; prints the answer, \r removed.
demo() {
        local target="$1"
        shift
        # shellcheck disable=SC2086
        printf '%s\n' "$@" | ct_exec timeout 30 nc.openbsd -N $target | tr -d '\r'
}

# field NAME TEXT: the value of NAME= in an INFO line.
field() { printf '%s\n' "$2" | grep -o "\\b$1=[^ ]*" | head -1 | cut -d= -f2-; }

# show UNIT PROPERTY: one property as systemctl show -P prints it.
show() { ct_exec systemctl show -P "$2" "$1"; }

# status_field PID KEY: a /proc/PID/status line's values, tabs as spaces.
status_field() { ct_sh "grep '^$2:' /proc/$1/status | cut -f2- | tr '\t' ' ' | sed 's/ *\$//'"; }

# wait_for TEXT TIMEOUT 'SHELL CONDITION': evaluate the condition every 0.2 s until it holds
# (then ok), at most TIMEOUT seconds (then not ok).
wait_for() {
        local text="$1" t="$2" cond="$3" i
        for ((i = 0; i < t * 5; i++)); do
                if eval "$cond" >/dev/null 2>&1; then
                        tap_ok "$text"
                        return 0
                fi
                sleep 0.2
        done
        tap_not_ok "$text"
        tap_diag "  condition never held within ${t}s: $cond"
        return 1
}

# count_lines FILE REGEX: how many lines of FILE match.
count_lines() { grep -c -- "$2" "$1" 2>/dev/null || true; }

# map_base PID [FILE-REGEX]: the start address of the first mapping in /proc/PID/maps of the
# process's executable (default) or of the first file whose path matches FILE-REGEX.
map_base() {
        if [ -n "${2:-}" ]; then
                ct_sh "grep -m1 -E ' $2\$' /proc/$1/maps | cut -d- -f1"
        else
                ct_sh "e=\$(readlink /proc/$1/exe) && grep -m1 -F \" \$e\" /proc/$1/maps | cut -d- -f1"
        fi
}

# ppid PID: the parent of PID inside the container.
ppid() { ct_sh "cut -d')' -f2 /proc/$1/stat | cut -d' ' -f3"; }

# journal_cursor: where the journal ends now (for journalctl --after-cursor).
journal_cursor() { ct_exec journalctl -q -n1 -o export --no-pager | sed -n 's/^__CURSOR=//p'; }
# journal_after CURSOR [journal.py ARGS...]: the messages logged after CURSOR, filtered by
# tests/e2e/journal.py (not by journalctl's matches: see there why).
journal_after() {
        local c="$1"
        shift
        ct_sh "journalctl --no-pager -o json --after-cursor='$c' | python3 $E2E_IN/journal.py $*"
}
