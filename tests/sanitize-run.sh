#!/bin/bash
# exe_wrapper of the test setups 'asan' and 'valgrind' (tests/meson.build):
#   meson test -C build-asan --setup asan --suite unit      (a -Db_sanitize=address,undefined build)
#   meson test -C build --setup valgrind --suite unit       (a plain build, under memcheck)
# Criterion runs every test in a child process whose stderr it discards, so reports are written
# to files in a private directory (ASan/UBSan log_path, valgrind --log-file=%p, one per
# process). Any report fails the test and is printed to stderr. Scripts run unwrapped.
set -u
mode=$1
shift
if [ "$(head -c4 "$1" 2>/dev/null | tail -c3)" != ELF ]; then
        exec "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
logs=$(mktemp -d /tmp/dovesd-sanitize.XXXXXX)
trap 'rm -rf "$logs"' EXIT
case $mode in
asan)
        export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:log_path=$logs/asan"
        export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$here/lsan.supp:print_suppressions=0"
        export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
        "$@"
        rc=$?
        ;;
valgrind)
        # --vgdb=no: no gdbserver pipes in /tmp, which a process that dropped to another user
        # cannot unlink (valgrind reports that as an error of its own)
        valgrind -q --vgdb=no --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect \
                --errors-for-leak-kinds=definite,indirect --trace-children=yes \
                --suppressions="$here/sanitize.supp" \
                --log-file="$logs/valgrind.%p" "$@"
        rc=$?
        ;;
*)
        echo "sanitize-run: unknown mode $mode" >&2
        exit 2
        ;;
esac

reports=0
for f in "$logs"/*; do
        [ -s "$f" ] || continue
        # valgrind's own notes ("--PID-- WARNING: unhandled syscall: 434", i.e. pidfd_open,
        # which libdovesd then does without) are not findings; memcheck's lines are "==PID=="
        if [ "$mode" = valgrind ] && ! grep -q '^==[0-9]*== ' "$f"; then
                continue
        fi
        reports=$((reports + 1))
        echo "=== $mode report ($(basename "$f")) ===" >&2
        cat "$f" >&2
done
if [ $reports -gt 0 ]; then
        echo "sanitize-run: $reports $mode report(s) from $*" >&2
        exit 1
fi
exit $rc
