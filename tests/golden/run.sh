#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Generator golden tests and systemd-analyze verify, as TAP.
#
#   run.sh golden GENERATOR CASEDIR
#       For every CASEDIR/CASE.conf: copy it (and CASE.d/, if any) to TMP/etc/dovesd/, run
#       GENERATOR -c TMP/etc/dovesd/dovesd.conf TMP/out as systemd would (one directory),
#       strip TMP from the output, then compare:
#         - the exit status: 0 when CASE.expected/ exists, 1 (and no file at all) otherwise;
#         - the file list, symlink targets included, with CASE.expected/;
#         - every unit with diff -u;
#         - the log (stderr) with CASE.log.
#       When CASE.check exists, also run GENERATOR -c ... --check and compare its stdout and
#       stderr with it (the warnings only --check gives, e.g. about executables).
#       UPDATE=1 rewrites CASE.expected/ and CASE.log (and an existing CASE.check) from the
#       output instead (review them: they are the spec).
#
#   run.sh verify GENERATOR CASEDIR STATICUNITDIR [EXTRA.conf...]
#       For every case with CASE.expected/ (and every EXTRA.conf): generate the units into a
#       temporary root's /etc/systemd/system, with systemd's own units, the static dovesd
#       units and a stub for every executable the units name, and run
#       `systemd-analyze verify --root=ROOT` on all of them (templates also as an
#       instance). Any output is a failure. A deliberately broken unit checks that verify
#       does report problems in this setup.
#
#   run.sh corpus GENERATOR STATICUNITDIR MAX SEEDDIR...
#       The property behind --check: every input of the config fuzzer's corpus (the files
#       under the SEEDDIRs, as fuzz/meson.build lists them) that `--check` accepts must give
#       units that `systemd-analyze verify` accepts without a word. Each input is split as
#       fuzz/conf.c splits it (dovesd.conf, a.conf, b.conf at "#--file--" lines) into a
#       private directory. With more than MAX inputs, a deterministic sample (every k-th in
#       sorted order) is taken; the TAP output says how many.
#
#   run.sh security GENERATOR CASEDIR STATICUNITDIR [EXTRA.conf...]
#       In the same root: `systemd-analyze security --offline=yes` on every service unit of
#       every case and of every EXTRA.conf (generated in place; a missing one is a SKIP).
#       Prints each score; a score above 5.0 fails. A unit without the sandbox must score
#       above 5.0. Debian's dovecot.service score is printed as a comment, for comparison.
set -uo pipefail

mode=$1 gen=$(realpath "$2") casedir=$(realpath "$3")
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

# The tree under $1: "path/", "path", "path -> target", sorted.
tree_list() {
        (cd "$1" && find . -mindepth 1 \( -type l -printf '%P -> %l\n' \) -o \
                \( -type d -printf '%P/\n' \) -o \( -type f -printf '%P\n' \)) | LC_ALL=C sort
}

# Runs case $1 (a .conf path) into $tmp/$name; prints nothing.
run_case() {
        local conf=$1 name work
        name=$(basename "$conf" .conf)
        work=$tmp/$name
        rm -rf "$work"
        mkdir -p "$work/etc/dovesd" "$work/out"
        cp "$conf" "$work/etc/dovesd/dovesd.conf"
        if [ -d "${conf%.conf}.d" ]; then
                cp -r "${conf%.conf}.d/." "$work/etc/dovesd/"
        fi
        (cd "$work" && env -u SYSTEMD_SCOPE DOVESD_LOG_LEVEL=info \
                "$gen" -c "$work/etc/dovesd/dovesd.conf" "$work/out" \
                >"$work/stdout" 2>"$work/log"; echo $? >"$work/rc")
        # Paths under the temporary directory read as on a real system.
        find "$work/out" -type f -exec sed -i "s|$work||g" {} +
        sed -i "s|$work||g" "$work/log"
}

golden() {
        local conf name work exp
        for conf in "$casedir"/*.conf; do
                name=$(basename "$conf" .conf)
                work=$tmp/$name
                exp=$casedir/$name.expected
                run_case "$conf"

                if [ -n "${UPDATE:-}" ]; then
                        rm -rf "$exp"
                        if [ "$(cat "$work/rc")" = 0 ]; then
                                cp -a "$work/out" "$exp"
                        fi
                        cp "$work/log" "$casedir/$name.log"
                fi

                if [ -d "$exp" ]; then
                        check "$name: exit status 0" [ "$(cat "$work/rc")" = 0 ]
                        if diff -u <(tree_list "$exp") <(tree_list "$work/out") >"$work/list.diff"; then
                                ok "$name: file list"
                                local bad=0 f
                                while read -r f; do
                                        if ! diff -u "$exp/$f" "$work/out/$f" >"$work/unit.diff"; then
                                                sed 's/^/# /' "$work/unit.diff"
                                                bad=1
                                        fi
                                done < <(cd "$exp" && find . -type f -printf '%P\n' | LC_ALL=C sort)
                                check "$name: units" [ $bad = 0 ]
                        else
                                sed 's/^/# /' "$work/list.diff"
                                not_ok "$name: file list"
                                not_ok "$name: units # not compared, file list differs"
                        fi
                else
                        check "$name: exit status 1" [ "$(cat "$work/rc")" = 1 ]
                        check "$name: nothing written" [ -z "$(tree_list "$work/out")" ]
                fi
                check "$name: stdout empty" [ ! -s "$work/stdout" ]
                if diff -u "$casedir/$name.log" "$work/log" >"$work/log.diff"; then
                        ok "$name: log"
                else
                        sed 's/^/# /' "$work/log.diff"
                        not_ok "$name: log"
                fi
                if [ -f "$casedir/$name.check" ]; then
                        # DOVESD_SYSTEMD_ROOT: whether this host enables dovecot.service is not
                        # part of the case
                        (cd "$work" && env -u SYSTEMD_SCOPE DOVESD_SYSTEMD_ROOT="$work/sysroot" \
                                "$gen" -c "$work/etc/dovesd/dovesd.conf" --check >"$work/check" 2>&1)
                        sed -i "s|$work||g" "$work/check"
                        [ -n "${UPDATE:-}" ] && cp "$work/check" "$casedir/$name.check"
                        if diff -u "$casedir/$name.check" "$work/check" >"$work/check.diff"; then
                                ok "$name: --check output"
                        else
                                sed 's/^/# /' "$work/check.diff"
                                not_ok "$name: --check output"
                        fi
                fi
        done
}

# Conventions that no case file shows.
conventions() {
        local work=$tmp/conventions
        mkdir -p "$work/out"
        env -u SYSTEMD_SCOPE "$gen" -c "$work/none.conf" "$work/out" >"$work/stdout" 2>"$work/log"
        check "no config file: exit status 0" [ $? = 0 ]
        check "no config file: nothing written" [ -z "$(tree_list "$work/out")" ]
        check "no config file: one info line" \
                [ "$(cat "$work/log")" = "$work/none.conf does not exist: no units." ]

        cp "$casedir/pool-inet.conf" "$work/dovesd.conf"
        env -u SYSTEMD_SCOPE "$gen" -c "$work/dovesd.conf" "$work/out" 2>"$work/log"
        check "first run into a directory: exit status 0" [ $? = 0 ]
        env -u SYSTEMD_SCOPE "$gen" -c "$work/dovesd.conf" "$work/out" 2>"$work/log"
        check "second run into the same directory: exit status 1 (exclusive create)" [ $? = 1 ]
        check "second run: says which file exists" \
                grep -q "^Failed to create $work/out/.*, it already exists: File exists$" "$work/log"

        env -u SYSTEMD_SCOPE "$gen" -c "$work/dovesd.conf" --dry-run >"$work/dry" 2>"$work/log"
        check "--dry-run: exit status 0" [ $? = 0 ]
        check "--dry-run: a '# FILE' line per unit and link" \
                [ "$(grep -c '^# dovesd' "$work/dry")" = "$(tree_list "$work/out" | grep -vc '/$')" ]
        check "--dry-run: the units as written" \
                grep -qx 'Service=dovesd-imap.service' "$work/dry"

        cp "$casedir/type-log.conf" "$work/log.conf"
        mkdir -p "$work/l1" "$work/l2" "$work/l3"
        env -u SYSTEMD_SCOPE DOVESD_LOG_LEVEL=err "$gen" -c "$work/log.conf" "$work/l1" 2>"$work/log"
        check "DOVESD_LOG_LEVEL=err: no info line" [ ! -s "$work/log" ]
        env -u SYSTEMD_SCOPE DOVESD_LOG_LEVEL=debug "$gen" -c "$work/log.conf" "$work/l2" 2>"$work/log"
        check "DOVESD_LOG_LEVEL=debug: says what it wrote" \
                grep -q "^Wrote 8 units and links from $work/log.conf to $work/l2.$" "$work/log"
        env -u SYSTEMD_SCOPE DOVESD_LOG_LEVEL=loud "$gen" -c "$work/log.conf" "$work/l3" 2>"$work/log"
        check "DOVESD_LOG_LEVEL=loud: warned about and ignored" \
                grep -q "^DOVESD_LOG_LEVEL=loud is not one of err, warning, notice, info, debug, ignoring$" "$work/log"

        env -u SYSTEMD_SCOPE "$gen" -c "$work/dovesd.conf" "$work/a" "$work/b" >/dev/null 2>&1
        check "two directories: refused" [ $? = 1 ]
}

# A root for systemd-analyze verify --root: systemd's units, the static dovesd units, stubs.
make_root() {
        local root=$1 static=$2
        mkdir -p "$root/usr/lib/systemd" "$root/usr/bin" "$root/etc/systemd/system" "$root/dev"
        cp -a /lib/systemd/system "$root/usr/lib/systemd/"
        cp "$static"/dovesd.target "$static"/dovesd.slice "$root/usr/lib/systemd/system/"
        ln -s usr/bin "$root/bin"
        ln -s usr/sbin "$root/sbin"
        mkdir -p "$root/usr/sbin"
}

# Verifies the units in $1 (a directory) inside a fresh copy of $root. Prints verify output.
verify_units() {
        local units=$1 root=$2 exe unitdir=$root/etc/systemd/system
        rm -rf "$unitdir"
        cp -a "$units" "$unitdir"
        # Stubs for every executable an Exec*= line names.
        for exe in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!|]*\([^ ]*\).*/\1/p' "$unitdir"/*.service | sort -u); do
                if [ ! -e "$root$exe" ]; then
                        mkdir -p "$root$(dirname "$exe")"
                        printf '#!/bin/sh\nexit 0\n' >"$root$exe"
                        chmod +x "$root$exe"
                fi
        done
        local names=()
        local f
        for f in "$unitdir"/*.service "$unitdir"/*.socket "$unitdir"/*.slice "$unitdir"/*.target; do
                [ -f "$f" ] || continue
                f=$(basename "$f")
                names+=("$f")
                case $f in *@.service) names+=("${f%@.service}@0.service") ;; esac
        done
        (cd "$unitdir" && systemd-analyze verify --man=no --root="$root" "${names[@]}" 2>&1)
}

verify() {
        local static=$1
        shift
        local root=$tmp/root conf name out
        make_root "$root" "$static"

        for conf in "$casedir"/*.conf "$@"; do
                name=$(basename "$conf" .conf)
                if [ "$(dirname "$conf")" = "$casedir" ] && [ ! -d "$casedir/$name.expected" ]; then
                        continue
                fi
                run_case "$conf"
                if [ "$(cat "$tmp/$name/rc")" != 0 ]; then
                        sed 's/^/# /' "$tmp/$name/log"
                        not_ok "verify $name # generator failed"
                        continue
                fi
                check "verify $name: units written" [ -n "$(ls "$tmp/$name/out")" ]
                out=$(verify_units "$tmp/$name/out" "$root")
                if [ -z "$out" ]; then
                        ok "verify $name: no warnings"
                else
                        echo "$out" | sed 's/^/# /'
                        not_ok "verify $name: no warnings"
                fi
        done

        # The setup must be able to fail: a unit with a bad key and a missing executable.
        mkdir -p "$tmp/broken"
        printf '[Unit]\nDescription=x\nPartOf=dovesd.target\nBogusKey=1\n[Service]\nExecStart=/nonexistent/x\n' \
                >"$tmp/broken/dovesd-broken.service"
        out=$(verify_units "$tmp/broken" "$root")
        if grep -q "Unknown key 'BogusKey'" <<<"$out"; then
                ok "verify reports an unknown key"
        else
                not_ok "verify reports an unknown key"
        fi
}

corpus() {
        local static=$1 max=$2
        shift 2
        local root=$tmp/root inputs=() f i step=1 sampled=0 accepted=0 work out rc
        make_root "$root" "$static"
        while IFS= read -r -d '' f; do
                inputs+=("$f")
        done < <(find "$@" -type f -print0 | LC_ALL=C sort -z)
        if [ "${#inputs[@]}" -gt "$max" ]; then
                step=$(( (${#inputs[@]} + max - 1) / max ))
        fi
        for ((i = 0; i < ${#inputs[@]}; i += step)); do
                f=${inputs[$i]}
                sampled=$((sampled + 1))
                work=$tmp/corpus
                rm -rf "$work"
                mkdir -p "$work/etc" "$work/out"
                # fuzz/conf.c: up to three files separated by a line "#--file--"
                awk -v d="$work/etc" 'BEGIN { split("dovesd.conf a.conf b.conf", n, " "); k = 1 }
                        $0 == "#--file--" && k < 3 { k++; next }
                        { print > (d "/" n[k]) }' "$f"
                touch "$work/etc/dovesd.conf"
                (cd "$work/etc" && timeout -k 5 30 env -u SYSTEMD_SCOPE "$gen" \
                        -c "$work/etc/dovesd.conf" --check >"$work/check" 2>/dev/null)
                rc=$?
                [ $rc = 0 ] && grep -qx "configuration OK" "$work/check" || continue
                accepted=$((accepted + 1))
                (cd "$work/etc" && timeout -k 5 30 env -u SYSTEMD_SCOPE "$gen" \
                        -c "$work/etc/dovesd.conf" "$work/out" >/dev/null 2>"$work/log")
                rc=$?
                if [ $rc != 0 ]; then
                        sed 's/^/# /' "$work/log" | head -n 5
                        not_ok "corpus ${f#"$casedir"/}: --check OK, but the generator exited $rc"
                        continue
                fi
                if [ -z "$(ls "$work/out")" ]; then
                        ok "corpus ${f#"$casedir"/}: no units"
                        continue
                fi
                out=$(verify_units "$work/out" "$root")
                if [ -z "$out" ]; then
                        ok "corpus ${f#"$casedir"/}: verify: no warnings"
                else
                        echo "$out" | head -n 20 | sed 's/^/# /'
                        not_ok "corpus ${f#"$casedir"/}: verify: no warnings"
                fi
        done
        echo "# corpus: ${#inputs[@]} inputs, $sampled checked (every ${step}th), $accepted accepted by --check and verified"
        check "corpus: some inputs are accepted by --check ($accepted)" [ "$accepted" -gt 0 ]
        # The setup must be able to fail: a unit systemd refuses the way it refused
        # `executable = "a\"b"` before --check knew.
        mkdir -p "$tmp/broken"
        printf '[Unit]\nDescription=x\n[Service]\nExecStart=\047/usr/lib/a"b\047\n' \
                >"$tmp/broken/dovesd-broken.service"
        out=$(verify_units "$tmp/broken" "$root")
        check "corpus: verify reports a program path with a quote" \
                grep -q "Executable name contains special characters" <<<"$out"
}

# Prints the exposure score of unit $2 in root $1 ("" when systemd-analyze gives none).
score_of() {
        systemd-analyze security --offline=yes --root="$1" "$2" 2>&1 |
                sed -n 's/^→ Overall exposure level for .*: \([0-9][0-9.]*\) .*/\1/p'
}

# Scores every service unit in $2 (a generated tree), named "$1: UNIT" in the output.
score_units() {
        local name=$1 units=$2 root=$tmp/root f u score
        verify_units "$units" "$root" >/dev/null
        for f in "$units"/*.service; do
                [ -f "$f" ] || continue
                u=$(basename "$f")
                score=$(score_of "$root" "$u")
                if [ -z "$score" ]; then
                        systemd-analyze security --offline=yes --root="$root" "$u" 2>&1 | sed 's/^/# /'
                        not_ok "security $name: $u: no score"
                elif awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }'; then
                        ok "security $name: $u: $score"
                else
                        systemd-analyze security --offline=yes --root="$root" "$u" 2>&1 |
                                grep '✗' | sed 's/^/# /'
                        not_ok "security $name: $u: $score > $max"
                fi
        done
}

# systemd-analyze security --offline=yes on every generated service unit (templates too: it
# scores an instance), inside the same root as verify. Fails above $max.
security() {
        local static=$1
        shift
        local root=$tmp/root conf name score max=5.0
        make_root "$root" "$static"

        for conf in "$casedir"/*.conf; do
                name=$(basename "$conf" .conf)
                [ -d "$casedir/$name.expected" ] || continue
                run_case "$conf"
                if [ "$(cat "$tmp/$name/rc")" != 0 ]; then
                        sed 's/^/# /' "$tmp/$name/log"
                        not_ok "security $name # generator failed"
                        continue
                fi
                score_units "$name" "$tmp/$name/out"
        done

        # Other configs, generated where they are (their includes are relative to them).
        for conf in "$@"; do
                name=$(basename "$conf" .conf)
                if [ ! -f "$conf" ]; then
                        ok "security $name # SKIP $conf does not exist"
                        continue
                fi
                rm -rf "$tmp/extra-$name"
                mkdir -p "$tmp/extra-$name"
                if ! env -u SYSTEMD_SCOPE "$gen" -c "$conf" "$tmp/extra-$name" 2>"$tmp/extra.log"; then
                        sed 's/^/# /' "$tmp/extra.log"
                        not_ok "security $name # generator failed"
                        continue
                fi
                score_units "$name" "$tmp/extra-$name"
        done

        # The check must be able to fail: a unit without the sandbox scores above $max.
        mkdir -p "$tmp/bare"
        printf '[Unit]\nDescription=x\n[Service]\nExecStart=/usr/bin/true\n' \
                >"$tmp/bare/dovesd-bare.service"
        verify_units "$tmp/bare" "$root" >/dev/null
        score=$(score_of "$root" dovesd-bare.service)
        check "security: a unit without the sandbox scores above $max (${score:-none})" \
                awk -v s="${score:-0}" -v m="$max" 'BEGIN { exit !(s > m) }'

        # For comparison only: Debian's hand-written unit.
        if [ -f /lib/systemd/system/dovecot.service ]; then
                echo "# dovecot.service (Debian, /lib/systemd/system): $(score_of / dovecot.service)"
        else
                echo "# dovecot.service: not installed, no comparison"
        fi
}

case $mode in
golden) golden; conventions ;;
verify) verify "$@" ;;
security) security "$@" ;;
corpus) corpus "$@" ;;
*) echo "usage: $0 golden|verify|security|corpus GENERATOR CASEDIR [STATICUNITDIR EXTRA.conf...]" >&2; exit 2 ;;
esac

echo "1..$n"
exit $failed
