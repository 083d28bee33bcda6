#!/bin/bash
# Bad-input corpus for the config dialect: every case must make dovesd-generator (systemd
# mode, into an empty directory) exit 1 with a clear "FILE:LINE: MESSAGE", write no unit,
# print few lines, and finish within a bound (no hang). Prints TAP.
# Usage: tests/bad/run.sh PATH/TO/dovesd-generator
# Static cases live in tests/bad/cases/ (expectations in tests/bad/cases/EXPECTED); large,
# deep, special-file and include-graph cases are made here at run time.
set -u
gen=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/dovesd-bad.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export DOVESD_LAST_GOOD_DIR=    # never fall back to a kept unit set
unset SYSTEMD_SCOPE DOVESD_CONFIG
n=0

# check NAME CONFIG MAX_LINES EXPECTED_TEXT...: run, then assert.
check() {
        local name=$1 conf=$2 max=$3 out rc problems="" lines
        shift 3
        n=$((n + 1))
        out=$tmp/out-$n
        mkdir "$out"
        timeout -k 5 60 "$gen" -c "$conf" "$out" >"$tmp/stdout" 2>"$tmp/stderr" </dev/null
        rc=$?
        [ $rc -eq 124 ] && problems+="hung (killed after 60 s); "
        [ $rc -ne 1 ] && [ $rc -ne 124 ] && problems+="exit status $rc, want 1; "
        [ -z "$(ls -A "$out")" ] || problems+="units written: $(ls -A "$out" | head -3 | tr '\n' ' '); "
        lines=$(wc -l <"$tmp/stderr")
        [ "$lines" -le "$max" ] || problems+="$lines lines on stderr, want at most $max; "
        for e in "$@"; do
                grep -qF -- "$e" "$tmp/stderr" || problems+="no '$e' on stderr; "
        done
        if [ -z "$problems" ]; then
                echo "ok $n - $name"
        else
                echo "not ok $n - $name: $problems"
                head -n 5 "$tmp/stderr" | cut -c1-200 | sed 's/^/# /'
        fi
        rm -rf "$out"
}

# check_ok NAME CONFIG: a config right at a limit is accepted (--check).
check_ok() {
        local name=$1 conf=$2 rc
        n=$((n + 1))
        timeout -k 5 60 "$gen" -c "$conf" --check >"$tmp/stdout" 2>"$tmp/stderr" </dev/null
        rc=$?
        if [ $rc -eq 0 ] && grep -qx "configuration OK" "$tmp/stdout"; then
                echo "ok $n - $name"
        else
                echo "not ok $n - $name: exit status $rc"
                head -n 5 "$tmp/stderr" | cut -c1-200 | sed 's/^/# /'
        fi
}

cd "$tmp" || exit 1

# --- static cases: tests/bad/cases/NAME.conf, "NAME<TAB>expected text" in EXPECTED -------------
cp -r "$here/cases" "$tmp/cases"
while IFS=$'\t' read -r -a f; do
        case ${f[0]:-} in ''|'#'*) continue ;; esac
        check "${f[0]}" "cases/${f[0]}.conf" 5 "cases/${f[0]}.conf:${f[1]}" "${f[@]:2}"
done <"$here/cases/EXPECTED"

# --- generated at run time --------------------------------------------------------------------
# truncated: every prefix of a valid config that cuts a section open
printf 'service imap {\n  inet_listener imap {\n    port = 143\n  }\n}\n' >full.conf
head -c 10 full.conf >trunc-10.conf
check "truncated in a section header" trunc-10.conf 5 "trunc-10.conf:1: Expecting '{'"
head -c 30 full.conf >trunc-30.conf
check "truncated in a nested section header" trunc-30.conf 5 "trunc-30.conf:2: Expecting '{'" \
        "trunc-30.conf:1: Missing '}' (section started at trunc-30.conf:1)"
head -c 50 full.conf >trunc-50.conf
check "truncated in a value" trunc-50.conf 5 \
        "trunc-50.conf:2: Missing '}' (section started at trunc-50.conf:2)"
head -c 57 full.conf >trunc-57.conf
check "truncated before the last '}'" trunc-57.conf 5 \
        "trunc-57.conf:1: Missing '}' (section started at trunc-57.conf:1)"

# binary: an ELF file, and random bytes without NUL
check "binary: an ELF executable" "$gen" 5 "$gen:1: Line contains a NUL byte, not reading further"
head -c 4096 /dev/urandom | tr -d '\000' | tr '\n' 'x' >random.conf
printf '\n' >>random.conf
check "binary: 4 KiB of random bytes" random.conf 5 "random.conf:1: "

# NUL bytes: in a value (doveconf would cut "imap\0 evil" to "imap"), alone on a line
printf 'service imap {\n  executable = imap\000 --evil\n}\n' >nul-value.conf
check "NUL byte in a value" nul-value.conf 5 "nul-value.conf:2: Line contains a NUL byte, not reading further"
printf 'protocols = imap\n\000\000\nservice imap {\n}\n' >nul-line.conf
check "NUL bytes alone on a line" nul-line.conf 5 "nul-line.conf:2: Line contains a NUL byte, not reading further"

# deeply nested: 10,000 levels, balanced and unbalanced; one error for the depth, not 10,000
python3 -c "
import sys
sys.stdout.write('service imap {\n' + 'x {\n' * 10000 + '}\n' * 10001)" >deep.conf
check "10,000 nested sections" deep.conf 5 "deep.conf:65: Too deeply nested sections (more than 64 levels)"
python3 -c "
import sys
sys.stdout.write('a {\n' * 10000 + '}\n' * 9990)" >deep-open.conf
check "10,000 nested sections, 10 left open" deep-open.conf 5 \
        "deep-open.conf:65: Too deeply nested sections (more than 64 levels)" \
        "deep-open.conf:10: Missing '}' (section started at deep-open.conf:10)"

# huge: a 100 MB value (file limit 16 MiB), made here, never committed
{ printf 'protocols = '; head -c 100000000 /dev/zero | tr '\0' a; printf '\n'; } >huge.conf
check "100 MB value" huge.conf 5 "huge.conf: huge.conf: file is larger than 16777216 bytes"
printf '!include huge.conf\n' >inc-huge.conf
check "100 MB included file" inc-huge.conf 5 "inc-huge.conf:1: huge.conf: file is larger than 16777216 bytes"
rm -f huge.conf

# long lines: no limit per line (doveconf has none; the 16 MiB file limit bounds them)
python3 -c "
print('# ' + 'x' * (1024 * 1024))
print('mail_location = ' + 'a' * 70000)" >long.conf
check_ok "a 1 MiB comment line and a 70,000-byte value line accepted" long.conf
python3 -c "
for i in range(40): print('mail_location = ' + 'a' * 2000 + ' \\\\')
print('x')" >long-cont.conf
check_ok "continuation lines adding up to 80 KB accepted" long-cont.conf

# include loops
printf '!include self.conf\n' >self.conf
check "include of itself" self.conf 5 "self.conf:1: Recursive include file: self.conf"
printf '!include loop-b.conf\n' >loop-a.conf
printf 'mail_location = maildir:~/Maildir\n!include loop-a.conf\n' >loop-b.conf
check "include loop a -> b -> a" loop-a.conf 5 "loop-b.conf:2: Recursive include file: loop-a.conf"
mkdir -p glob
printf 'mail_location = maildir:~/Maildir\n' >glob/other.conf
printf '!include *.conf\n' >glob/self.conf
check "include glob matching the including file" glob/self.conf 5 \
        "glob/self.conf:1: Recursive include file: glob/self.conf"
mkdir -p chain
for i in $(seq 0 40); do printf '!include c%d.conf\n' $((i + 1)) >chain/c$i.conf; done
printf 'mail_location = maildir:~/Maildir\n' >chain/c41.conf
check "include chain 41 deep" chain/c0.conf 5 "chain/c32.conf:1: Includes nested too deeply (more than 32)"
mkdir -p many
for i in $(seq 1 1001); do : >many/f$i.inc; done
printf '!include many/*.inc\n' >many.conf
check "1,001 included files" many.conf 5 "many.conf:1: Too many included files (more than 1000)"

# unreadable includes (tests run as root, so no chmod 000): a directory, a FIFO (must not
# block), a socket, /proc/self/mem (EIO), a dangling symlink, a symlink loop
mkdir -p adir
printf '!include adir\n' >inc-dir.conf
check "include of a directory" inc-dir.conf 5 "inc-dir.conf:1: Couldn't open include file adir: Is a directory"
mkfifo fifo.inc
printf '!include fifo.inc\n' >inc-fifo.conf
check "include of a FIFO" inc-fifo.conf 5 "inc-fifo.conf:1: fifo.inc: not a regular file"
printf '!include_try fifo.inc\n' >inc-try-fifo.conf
check "include_try of a FIFO" inc-try-fifo.conf 5 "inc-try-fifo.conf:1: fifo.inc: not a regular file"
check "config is a FIFO" fifo.inc 5 "fifo.inc: fifo.inc: not a regular file"
printf 'base_dir = <fifo.inc\n' >value-fifo.conf
check "key = <FIFO" value-fifo.conf 5 "value-fifo.conf:1: base_dir: fifo.inc: not a regular file"
python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.bind('sock.inc')"
printf '!include sock.inc\n' >inc-sock.conf
check "include of a unix socket" inc-sock.conf 5 "inc-sock.conf:1: Couldn't open include file sock.inc: No such device or address"
printf '!include /proc/self/mem\n' >inc-mem.conf
check "include of /proc/self/mem" inc-mem.conf 5 "inc-mem.conf:1: Couldn't open include file /proc/self/mem: Input/output error"
ln -sf nowhere.conf dangling.inc
printf '!include dangling.inc\n' >inc-dangling.conf
check "include of a dangling symlink" inc-dangling.conf 5 "inc-dangling.conf:1: Couldn't open include file dangling.inc: No such file or directory"
ln -sf sl2.inc sl1.inc
ln -sf sl1.inc sl2.inc
printf '!include sl1.inc\n' >inc-symloop.conf
check "include of a symlink loop" inc-symloop.conf 5 "inc-symloop.conf:1: Couldn't open include file sl1.inc: Too many levels of symbolic links"
check "config is a directory" adir 5 "adir: open(adir) failed: Is a directory"

# many services: no limit (doveconf has none); 20,000 must check fast (the time is reported,
# not asserted: the machine may be loaded). Listeners: 1,000 per service.
python3 -c "
for i in range(20000): print('service s%d {\n  executable = /bin/true\n  unix_listener l%d {\n  }\n}' % (i, i))" >services.conf
start=$(date +%s%N)
check_ok "20,000 services accepted" services.conf
echo "# --check on 20,000 services: $(( ($(date +%s%N) - start) / 1000000 )) ms"
# and each with its own chroot and listener directory: the dirs unit stays linear
python3 -c "
for i in range(20000): print('service s%d {\n  executable = /bin/true\n  chroot = c%d\n  unix_listener d%d/l {\n  }\n}' % (i, i, i))" >services-dirs.conf
start=$(date +%s%N)
check_ok "20,000 services with 20,000 chroots and listener directories accepted" services-dirs.conf
echo "# --check on 20,000 services with chroots: $(( ($(date +%s%N) - start) / 1000000 )) ms"
python3 -c "
print('service s {\n  executable = /bin/true')
for i in range(1001): print('  unix_listener l%d {\n  }' % i)
print('}')" >listeners.conf
check "1,001 listeners in one service" listeners.conf 5 "listeners.conf:2003: Too many listeners in service s (more than 1000)"

# right at the limits: accepted
python3 -c "
print('service s {\n  executable = /bin/true')
for i in range(1000): print('  unix_listener l%d {\n  }' % i)
print('}')" >listeners-max.conf
check_ok "1,000 listeners in one service (the limit) accepted" listeners-max.conf
printf '!include c10.conf\n' >chain/start.conf
check_ok "includes nested 32 deep (the limit) accepted" chain/start.conf
rm -f many/f1001.inc
check_ok "1,000 included files (the limit) accepted" many.conf

echo "1..$n"
