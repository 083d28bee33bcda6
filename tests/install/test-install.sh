#!/bin/bash
# SPDX-License-Identifier: MIT
# TAP: `meson install` into a DESTDIR installs exactly tests/install/install-files.txt, and programs
# build against the installed libdovesd through pkg-config and run.
# Usage: test-install.sh BUILD-ROOT INSTALL-FILES.TXT HELLO.C README.md NAME=DIR...
#   NAME=DIR pairs name the install directories as the list spells them (LIBDIR=/usr/lib/…);
#   the installed paths are rewritten with them, longest directory first.
set -uo pipefail

build=$1 expected=$2 hello=$3 readme=$4
shift 4

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
diag() { sed 's/^/# /'; }

tmp=$(mktemp -d)
pid=
cleanup() {
        [ -n "$pid" ] && kill "$pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
dest=$tmp/dest

echo "1..16"

# 1. Install. --no-rebuild: meson test has built everything already, and a rebuild would
#    race with the tests running next to this one.
if meson install -C "$build" --no-rebuild --quiet --destdir "$dest" >"$tmp/install.log" 2>&1; then
        ok "meson install --destdir"
else
        not_ok "meson install --destdir"
        diag <"$tmp/install.log"
fi

# 2. The file list, directories spelled by name.
declare -a pairs
for p in "$@"; do
        pairs+=("${#p} $p")
done
sed_args=()
while read -r _ p; do
        name=${p%%=*} dir=${p#*=}
        sed_args+=(-e "s|^${dir}/|${name}/|")
done < <(printf '%s\n' "${pairs[@]}" | sort -rn)
(cd "$dest" && find . \( -type f -o -type l \) -printf '/%P\n') | sed "${sed_args[@]}" | sort \
        >"$tmp/got"
grep -v '^#' "$expected" | sed '/^$/d' | sort >"$tmp/want"
if diff -u "$tmp/want" "$tmp/got" >"$tmp/diff"; then
        ok "installed files equal $(basename "$expected") ($(wc -l <"$tmp/got") files)"
else
        not_ok "installed files differ from $(basename "$expected")"
        diag <"$tmp/diff"
fi

# Where the installed library is.
pc=$(find "$dest" -name libdovesd.pc | head -n1)
libdir=$(dirname "$(dirname "$pc")")
# PKG_CONFIG_SYSROOT_DIR, not --define-prefix: the latter guesses the prefix from the .pc
# location and gets multiarch libdirs (lib/x86_64-linux-gnu) wrong.
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest

# 3. pkg-config resolves into the DESTDIR.
cflags=$(pkg-config --cflags libdovesd 2>"$tmp/pc.err")
libs=$(pkg-config --libs libdovesd 2>>"$tmp/pc.err")
if [ -n "$pc" ] && [[ "$cflags" == *"-I$dest/"* ]] && [[ "$libs" == *"-L$dest/"*"-ldovesd"* ]]; then
        ok "pkg-config --cflags --libs libdovesd: $(echo $cflags $libs | sed "s|$dest|DESTDIR|g")"
else
        not_ok "pkg-config --cflags --libs libdovesd: '$cflags' '$libs'"
        diag <"$tmp/pc.err"
fi

# 4. A program against the shared library: a bad environment is an error with a message.
cat >"$tmp/badenv.c" <<'PROG'
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dovesd.h>

int main(void) {
        dovesd_service *s = NULL;
        char *error = NULL;
        int r;

        unsetenv("DOVESD_SERVICE");
        r = dovesd_service_new(&s, &error);
        printf("%d %s %s\n", r, s ? "service" : "NULL", error ?: "(no message)");
        free(error);
        return r == -EINVAL && !s ? 0 : 1;
}
PROG
if cc -Wall -Werror -o "$tmp/badenv" "$tmp/badenv.c" $cflags $libs 2>"$tmp/cc.log"; then
        out=$(LD_LIBRARY_PATH=$libdir "$tmp/badenv" 2>&1)
        if [ "$out" = "-22 NULL DOVESD_SERVICE is not set" ]; then
                ok "linked against the installed libdovesd.so: dovesd_service_new() says '$out'"
        else
                not_ok "installed libdovesd.so: dovesd_service_new() said '$out'"
        fi
else
        not_ok "compile and link against the installed libdovesd.so"
        diag <"$tmp/cc.log"
fi

# 5. It really used the installed copy.
# (ldd's output is captured first: grep -q in a pipe under pipefail can fail by SIGPIPE.)
deps=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/badenv" 2>&1)
if [[ "$deps" == *"libdovesd.so.0 => $libdir/"* ]]; then
        ok "the program loads libdovesd.so.0 from the DESTDIR"
else
        not_ok "the program does not load libdovesd.so.0 from the DESTDIR"
        echo "$deps" | diag
fi

# 6. The same program against the static library (pkg-config --static adds libcap).
static_libs=$(pkg-config --static --libs libdovesd | sed 's/-ldovesd//')
if cc -Wall -Werror -o "$tmp/badenv-static" "$tmp/badenv.c" $cflags "$libdir/libdovesd.a" \
        $static_libs 2>"$tmp/cc.log" &&
   out=$("$tmp/badenv-static" 2>&1) && [[ "$(ldd "$tmp/badenv-static")" != *libdovesd* ]]; then
        ok "linked against the installed libdovesd.a: '$out'"
else
        not_ok "static link against the installed libdovesd.a: '${out:-}'"
        diag <"$tmp/cc.log"
fi

# 7. examples/hello.c (the README's program) builds with the README's command line.
if cc -Wall -Werror -o "$tmp/hello" "$hello" $cflags $libs 2>"$tmp/cc.log"; then
        ok "examples/hello.c builds against the installed library"
else
        not_ok "examples/hello.c does not build against the installed library"
        diag <"$tmp/cc.log"
fi

# 8. ... and greets a client when socket-activated the way the generator's units do it.
if [ -x "$tmp/hello" ] && command -v systemd-socket-activate >/dev/null; then
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        LD_LIBRARY_PATH=$libdir systemd-socket-activate -l "127.0.0.1:$port" --fdname=greet \
                -E DOVESD_SERVICE=hello -E DOVESD_CLIENT_LIMIT=10 -E DOVESD_LISTENERS=greet \
                -E LD_LIBRARY_PATH="$libdir" "$tmp/hello" >"$tmp/hello.log" 2>&1 &
        pid=$!
        line=
        for _ in $(seq 50); do
                line=$(python3 - "$port" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
print(s.makefile("rb").readline().decode().strip())
PY
) && [ -n "$line" ] && break
                sleep 0.1
        done
        if [[ "$line" =~ ^"hello from hello on greet, you are 127.0.0.1:"[0-9]+$ ]]; then
                ok "hello under systemd-socket-activate: '$line'"
        else
                not_ok "hello under systemd-socket-activate said '$line'"
                diag <"$tmp/hello.log"
        fi
else
        not_ok "hello not built or systemd-socket-activate missing"
fi

# 9. The C program in README.md builds too (it is hello.c without the comments).
awk '/^```c$/ { on = 1; next } /^```$/ { on = 0 } on' "$readme" >"$tmp/readme.c"
if [ -s "$tmp/readme.c" ] &&
   cc -Wall -Werror -o "$tmp/readme" "$tmp/readme.c" $cflags $libs 2>"$tmp/cc.log"; then
        ok "the C program in README.md builds against the installed library"
else
        not_ok "the C program in README.md does not build ($(wc -l <"$tmp/readme.c") lines)"
        diag <"$tmp/cc.log"
fi

# 10-14. The admin commands of README.md and the man pages, as written, on the installed
# tree: the command on PATH (SBINDIR), the generator directory's link to it, and the modes.
sbin=$(find "$dest" -path '*/sbin/dovesd-generator' | head -n1)
gen_link=$(find "$dest" -path '*/system-generators/dovesd-generator' | head -n1)
examples=$(find "$dest" -type d -path '*/doc/dovesd/examples' | head -n1)
if [ -x "$sbin" ] && [ -L "$gen_link" ] && [ "$dest$(readlink "$gen_link")" = "$sbin" ]; then
        ok "dovesd-generator on PATH ($(echo "$sbin" | sed "s|$dest||")), linked from the generator directory"
else
        not_ok "dovesd-generator in sbin and linked: sbin='$sbin' link='$gen_link' -> '$(readlink "$gen_link" 2>/dev/null)'"
fi
printf '!include %s/dovecot-2.3-services.conf\nprotocols = imap\n' "$examples" >"$tmp/d.conf"
export PATH="$(dirname "${sbin:-/nonexistent/x}"):$PATH"
out=$(dovesd-generator -c "$tmp/d.conf" --check 2>"$tmp/check.err"); rc=$?
if [ $rc = 0 ] && [ "$out" = "configuration OK" ] &&
   ! grep -q "warning: service(imap-login)" "$tmp/check.err"; then
        ok "dovesd-generator --check: 'configuration OK', no warning about Dovecot's programs"
else
        not_ok "dovesd-generator --check: rc $rc, '$out'"
        diag <"$tmp/check.err"
fi
mkdir -p "$tmp/sysroot/etc/systemd/system/multi-user.target.wants"
ln -s /lib/systemd/system/dovecot.service "$tmp/sysroot/etc/systemd/system/multi-user.target.wants/"
if DOVESD_SYSTEMD_ROOT="$tmp/sysroot" dovesd-generator -c "$tmp/d.conf" --check >/dev/null 2>"$tmp/check2.err" &&
   grep -q "warning: dovecot.service is enabled: Dovecot's own master takes the same ports" "$tmp/check2.err" &&
   mkdir -p "$tmp/emptyroot" &&
   DOVESD_SYSTEMD_ROOT="$tmp/emptyroot" dovesd-generator -c "$tmp/d.conf" --check >/dev/null 2>"$tmp/check3.err" &&
   ! grep -q "dovecot.service is enabled" "$tmp/check3.err"; then
        ok "dovesd-generator --check warns when dovecot.service is enabled, not otherwise"
else
        not_ok "dovesd-generator --check and an enabled dovecot.service"
        diag <"$tmp/check2.err"
fi
if dovesd-generator -c "$tmp/d.conf" -n >"$tmp/dump-n" 2>&1 &&
   head -n1 "$tmp/dump-n" | grep -q "^# dovesd [^ ]*: $tmp/d.conf\$" &&
   grep -qx 'protocols = imap' "$tmp/dump-n" && grep -qx '  executable = imap-login' "$tmp/dump-n" &&
   ! grep -q '^  client_limit = 0$' "$tmp/dump-n"; then
        ok "dovesd-generator -n: header, the non-default global and service settings only"
else
        not_ok "dovesd-generator -n"
        diag <"$tmp/dump-n"
fi
if dovesd-generator -c "$tmp/d.conf" --dump >"$tmp/dump" 2>&1 && grep -q '^service imap-login {$' "$tmp/dump" &&
   dovesd-generator -c "$tmp/d.conf" --dry-run >"$tmp/dry" 2>&1 && grep -q '^# dovesd-imap-login-imap.socket$' "$tmp/dry"; then
        ok "dovesd-generator --dump and --dry-run"
else
        not_ok "dovesd-generator --dump / --dry-run"
        diag <"$tmp/dry"
fi
out=$(dovesd-generator -c "$tmp/missing.conf" --check 2>&1); rc=$?
if [ $rc = 0 ] && [ "$out" = "$tmp/missing.conf does not exist: no units." ]; then
        ok "dovesd-generator --check on a missing config: exit 0, as --dry-run and the man page say"
else
        not_ok "dovesd-generator --check on a missing config: rc $rc, '$out'"
fi
# The static units installed (dovesd.target wants dovesd-config-error.path) verify cleanly.
unitdir=$(dirname "$(find "$dest" -name dovesd.target | head -n1)")
if out=$(cd "$unitdir" && systemd-analyze verify --man=no dovesd-config-error.path \
                dovesd-config-error.service 2>&1) && [ -z "$out" ]; then
        ok "systemd-analyze verify dovesd-config-error.path and .service"
else
        not_ok "systemd-analyze verify dovesd-config-error.*"
        echo "$out" | diag
fi

exit 0
