#!/bin/bash
# SPDX-License-Identifier: MIT
# TAP: the libdovesd man pages cover the public API exactly. Every symbol of libdovesd.sym
# is named in the NAME section and declared in the SYNOPSIS of one section-3 page, every
# function a page names exists, and `man SYMBOL` opens a page: the page itself or an alias
# from man/meson.build.
# Usage: test-man-api.sh libdovesd.sym MAN-DIR PAGE:ALIAS...
set -uo pipefail
sym=$1 mandir=$2
shift 2

n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }

symbols=$(sed -n 's/^[[:space:]]*\(dovesd_[a-z0-9_]*\);.*/\1/p' "$sym" | sort)
pages=$(cd "$mandir" && ls *.3.scd)

# NAME line(s) of a page: from "# NAME" to the " - " that ends the names.
names_of() {
        awk '/^# NAME/ { on = 1; next } on && /^# / { exit } on' "$mandir/$1" |
                tr '\n' ' ' | sed 's/ - .*//' | tr ', ' '\n\n' | sed '/^$/d'
}

# Each page's names and SYNOPSIS once (the checks below would otherwise fork per pair).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for p in $pages; do
        names_of "$p" > "$tmp/$p.names"
        awk '/^# SYNOPSIS/ { on = 1; next } on && /^# / { exit } on' "$mandir/$p" > "$tmp/$p.syn"
done
names_of() { cat "$tmp/$1.names" 2>/dev/null; }

echo "1..5"

# 1. Each symbol is in the NAME section of exactly one page.
bad=
for s in $symbols; do
        c=0
        for p in $pages; do
                grep -qx "$s" "$tmp/$p.names" && c=$((c + 1))
        done
        [ $c = 1 ] || bad="$bad $s($c)"
done
if [ -z "$bad" ]; then
        ok "each of the $(echo "$symbols" | wc -l) symbols of $(basename "$sym") is named by one page"
else
        not_ok "symbols named by no page or several:$bad"
fi

# 2. ... and declared in that page's SYNOPSIS as "NAME(".
bad=
for s in $symbols; do
        found=
        for p in $pages; do
                grep -q "[ *]$s(" "$tmp/$p.syn" && found=yes
        done
        [ -n "$found" ] || bad="$bad $s"
done
if [ -z "$bad" ]; then
        ok "every symbol has a prototype in a SYNOPSIS"
else
        not_ok "symbols without a prototype in any SYNOPSIS:$bad"
fi

# 3. No page names a dovesd_ function that does not exist (types are allowed).
bad=
for p in $pages; do
        for name in $(names_of "$p"); do
                case "$name" in
                libdovesd|dovesd_conn|dovesd_callbacks) continue ;;
                esac
                grep -qx "$name" <<<"$symbols" || bad="$bad $p:$name"
        done
done
if [ -z "$bad" ]; then
        ok "every name in a NAME section is a symbol or a documented type"
else
        not_ok "NAME sections name unknown functions:$bad"
fi

# 4. man SYMBOL works: SYMBOL.3 is a page, or an alias to the page that names it.
bad=
for s in $symbols; do
        if [ -e "$mandir/$s.3.scd" ]; then
                continue
        fi
        page=
        for a in "$@"; do
                [ "${a#*:}" = "$s" ] && page=${a%%:*}
        done
        if [ -z "$page" ] || ! grep -qx "$s" "$tmp/$page.scd.names" 2>/dev/null; then
                bad="$bad $s"
        fi
done
for a in "$@"; do
        page=${a%%:*} name=${a#*:}
        [ -e "$mandir/$page.scd" ] && grep -qx "$name" "$tmp/$page.scd.names" || bad="$bad $a"
done
if [ -z "$bad" ]; then
        ok "every symbol has a page or an alias, and every alias points to the page naming it"
else
        not_ok "missing or wrong man aliases:$bad"
fi

# 5. The notes for programs of libdovesd(3) are on the function page each concerns too, each
#    with its line of example: PAGE|TEXT OF THE NOTE|THE EXAMPLE LINE (fixed strings).
bad=
while IFS='|' read -r page text example; do
        [ -n "$page" ] || continue
        f="$mandir/$page.3.scd"
        if ! grep -qF -- "$text" "$f" 2>/dev/null || ! grep -qF -- "$example" "$f"; then
                bad="$bad $page:'$text'"
        fi
done <<'NOTES'
dovesd_conn|fail with *EAGAIN*: keep the rest, add an *EPOLLOUT* source|if (n < 0 && errno == EAGAIN) n = 0;
dovesd_service_run|A source added with a NULL slot|sd_event_add_io(e, &st->io, fd, EPOLLIN, on_read, st);
dovesd_service_run|so it may still write a last line|static void on_disconnect(dovesd_conn *c, void *u) { send(
dovesd_service_run|Without a *stop* callback the library cannot ask an idle client to leave|callbacks.stop = on_stop;
dovesd_service_new|*meson install --destdir* _DIR_|PKG_CONFIG_SYSROOT_DIR=DIR
NOTES
if [ -z "$bad" ]; then
        ok "each note for programs is on its function page, with an example line"
else
        not_ok "notes missing from their function pages:$bad"
fi
