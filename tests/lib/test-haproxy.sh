#!/bin/bash
# SPDX-License-Identifier: MIT
# Real haproxy in front of proxy-echo (a server built on helper/proxy.[ch]): for send-proxy,
# send-proxy-v2 (with and without extra TLVs) and send-proxy-v2-ssl-cn (TLS with a client
# certificate), the source address the server parses must be the client's own socket address.
# With DOVESD-PROXY-ECHO, the same haproxy cases run once more against a libdovesd service with
# a haproxy=yes listener, socket-activated by systemd-socket-activate.
# Usage: test-haproxy.sh PROXY-ECHO HAPROXY-CLIENT.PY [DOVESD-PROXY-ECHO]        Output: TAP.
set -u

ECHO=$1
CLIENT=$2
DOVESD_ECHO=${3:-}
HAPROXY=${HAPROXY:-haproxy}

tmp=$(mktemp -d /tmp/dovesd-haproxy.XXXXXX)
pids=()
cleanup() {
        local p
        for p in "${pids[@]}"; do
                kill "$p" 2>/dev/null
        done
        for p in "${pids[@]}"; do
                wait "$p" 2>/dev/null
        done
        rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

n=0
failed=0
ok() {
        n=$((n + 1))
        echo "ok $n - $1"
}
not_ok() {
        n=$((n + 1))
        failed=$((failed + 1))
        echo "not ok $n - $1"
        shift
        local l
        for l in "$@"; do
                echo "#   $l"
        done
}
bail() {
        echo "Bail out! $*"
        exit 1
}

if ! command -v "$HAPROXY" >/dev/null; then
        echo "1..0 # SKIP haproxy not installed (Debian package haproxy)"
        exit 0
fi

# A free TCP port on an address (another process may take it before haproxy binds it; the
# haproxy start below then fails loudly rather than testing something else).
free_port() {
        python3 -c 'import socket,sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1"
}

# start_echo NAME ADDRESS TRUSTED: runs proxy-echo, sets ${NAME}_port.
start_echo() {
        local name=$1 i
        "$ECHO" "$2" "$3" >"$tmp/$name.port" 2>"$tmp/$name.err" &
        pids+=($!)
        for i in $(seq 50); do
                [ -s "$tmp/$name.port" ] && break
                sleep 0.1
        done
        [ -s "$tmp/$name.port" ] || bail "proxy-echo $name did not start: $(cat "$tmp/$name.err")"
        printf -v "${name}_port" '%s' "$(head -n1 "$tmp/$name.port")"
}

start_echo echo4 127.0.0.1 "127.0.0.0/8"
start_echo echo6 ::1 "::1/128"
start_echo untrusted 127.0.0.1 "10.0.0.0/8, 2001:db8::/32"

# The libdovesd service: one listener "imap" (haproxy=yes) with an IPv4 and an IPv6 socket.
dovesd=no
if [ -n "$DOVESD_ECHO" ] && command -v systemd-socket-activate >/dev/null; then
        d4_port=$(free_port 127.0.0.1)
        d6_port=$(free_port ::1)
        systemd-socket-activate -l "127.0.0.1:$d4_port" -l "[::1]:$d6_port" --fdname=imap:imap \
                -E DOVESD_SERVICE=proxy-echo -E DOVESD_CLIENT_LIMIT=10 \
                -E DOVESD_LISTENERS=imap:haproxy \
                -E DOVESD_HAPROXY_TRUSTED_NETWORKS="127.0.0.0/8 ::1" -E DOVESD_HAPROXY_TIMEOUT=3 \
                "$DOVESD_ECHO" >"$tmp/dovesd.log" 2>&1 &
        pids+=($!)
        dovesd=yes
fi

# TLS material for the send-proxy-v2-ssl-cn case: a CA, a server and a client certificate.
tls=no
if command -v openssl >/dev/null; then
        (
                set -e
                cd "$tmp"
                k='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
                openssl req -x509 $k -keyout ca.key -out ca.pem -subj /CN=dovesd-test-ca -days 2
                for who in server:imap.example.test client:client.example.test; do
                        f=${who%%:*}
                        openssl req $k -keyout "$f.key" -out "$f.csr" -subj "/CN=${who#*:}"
                        openssl x509 -req -in "$f.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
                                -out "$f.crt" -days 2
                done
                cat server.crt server.key >server.pem
        ) >"$tmp/openssl.log" 2>&1 && tls=yes
fi

p_v1=$(free_port 127.0.0.1)
p_v2=$(free_port 127.0.0.1)
p_v2crc=$(free_port 127.0.0.1)
p_v2ssl=$(free_port 127.0.0.1)
p6_v1=$(free_port ::1)
p6_v2=$(free_port ::1)
p_untrusted=$(free_port 127.0.0.1)
p_tls=$(free_port 127.0.0.1)

cat >"$tmp/haproxy.cfg" <<EOF
global
        log stderr format raw local0 notice
defaults
        mode tcp
        log global
        timeout connect 5s
        timeout client 10s
        timeout server 10s
listen v1
        bind 127.0.0.1:$p_v1
        server echo 127.0.0.1:$echo4_port send-proxy
listen v2
        bind 127.0.0.1:$p_v2
        server echo 127.0.0.1:$echo4_port send-proxy-v2
listen v2crc
        bind 127.0.0.1:$p_v2crc
        server echo 127.0.0.1:$echo4_port send-proxy-v2 proxy-v2-options crc32c
listen v2ssl
        bind 127.0.0.1:$p_v2ssl
        server echo 127.0.0.1:$echo4_port send-proxy-v2-ssl
listen v6v1
        bind [::1]:$p6_v1
        server echo [::1]:$echo6_port send-proxy
listen v6v2
        bind [::1]:$p6_v2
        server echo [::1]:$echo6_port send-proxy-v2
listen untrusted
        bind 127.0.0.1:$p_untrusted
        server echo 127.0.0.1:$untrusted_port send-proxy-v2
EOF
if [ $dovesd = yes ]; then
        pd_v1=$(free_port 127.0.0.1)
        pd_v2=$(free_port 127.0.0.1)
        pd6_v1=$(free_port ::1)
        pd6_v2=$(free_port ::1)
        pd_tls=$(free_port 127.0.0.1)
        cat >>"$tmp/haproxy.cfg" <<EOF
listen d_v1
        bind 127.0.0.1:$pd_v1
        server dovesd 127.0.0.1:$d4_port send-proxy
listen d_v2
        bind 127.0.0.1:$pd_v2
        server dovesd 127.0.0.1:$d4_port send-proxy-v2
listen d6_v1
        bind [::1]:$pd6_v1
        server dovesd [::1]:$d6_port send-proxy
listen d6_v2
        bind [::1]:$pd6_v2
        server dovesd [::1]:$d6_port send-proxy-v2
EOF
        if [ $tls = yes ]; then
                cat >>"$tmp/haproxy.cfg" <<EOF
listen d_tls
        bind 127.0.0.1:$pd_tls ssl crt $tmp/server.pem ca-file $tmp/ca.pem verify required alpn imap
        server dovesd 127.0.0.1:$d4_port send-proxy-v2-ssl-cn proxy-v2-options authority
EOF
        fi
fi
if [ $tls = yes ]; then
        cat >>"$tmp/haproxy.cfg" <<EOF
listen tls
        bind 127.0.0.1:$p_tls ssl crt $tmp/server.pem ca-file $tmp/ca.pem verify required alpn imap
        server echo 127.0.0.1:$echo4_port send-proxy-v2-ssl-cn proxy-v2-options authority
EOF
fi

"$HAPROXY" -c -q -f "$tmp/haproxy.cfg" >"$tmp/haproxy.check" 2>&1 ||
        bail "haproxy rejects the config: $(cat "$tmp/haproxy.check")"
"$HAPROXY" -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
pids+=($!)
haproxy_pid=$!

# Wait until every frontend listens.
want="$p_v1 $p_v2 $p_v2crc $p_v2ssl $p6_v1 $p6_v2 $p_untrusted"
[ $tls = yes ] && want="$want $p_tls"
[ $dovesd = yes ] && want="$want $pd_v1 $pd_v2 $pd6_v1 $pd6_v2"
[ $dovesd = yes ] && [ $tls = yes ] && want="$want $pd_tls"
for i in $(seq 100); do
        missing=0
        listening=$(ss -Hltn 2>/dev/null)
        for p in $want; do
                grep -q ":$p " <<<"$listening" || missing=1
        done
        [ $missing = 0 ] && break
        kill -0 $haproxy_pid 2>/dev/null || bail "haproxy exited: $(cat "$tmp/haproxy.log")"
        sleep 0.1
done
[ $missing = 0 ] || bail "haproxy frontends not listening: $(cat "$tmp/haproxy.log")"

# check NAME HOST PORT EXPECT-REGEX [client args]: the reply must carry src=<our own address>,
# the frontend address as dst, the data line we sent, and match EXPECT-REGEX.
check() {
        local name=$1 host=$2 port=$3 expect=$4 out self reply dst
        shift 4
        out=$(python3 "$CLIENT" "$host" "$port" "$@" 2>&1)
        self=$(sed -n 's/^self=//p' <<<"$out" | head -n1)
        reply=$(sed -n '2p' <<<"$out")
        if [[ $host == *:* ]]; then dst="[$host]:$port"; else dst="$host:$port"; fi
        if [ -n "$self" ] && [[ $reply == *" src=$self dst=$dst "* ]] &&
           [[ $reply == *" data=hello world" ]] && [[ $reply =~ $expect ]]; then
                ok "$name: server saw src=$self dst=$dst"
        else
                not_ok "$name" "client: self=$self" "reply: $reply" "want: src=$self dst=$dst, $expect"
        fi
}

# expect NAME HOST PORT REPLY-REGEX [client args]: only the reply line is checked.
expect() {
        local name=$1 host=$2 port=$3 want=$4 reply
        shift 4
        reply=$(python3 "$CLIENT" "$host" "$port" "$@" 2>&1 | sed -n '2p')
        if [[ $reply =~ $want ]]; then
                ok "$name: $reply"
        else
                not_ok "$name" "reply: $reply" "want: $want"
        fi
}

echo "1..17"
check "send-proxy (v1 TCP4)" 127.0.0.1 "$p_v1" '^version=1 local=0 .* ssl=0 cn=- alpn=- authority=-'
check "send-proxy-v2 (TCP4)" 127.0.0.1 "$p_v2" '^version=2 local=0 .* ssl=0 cn=- alpn=- authority=-'
check "send-proxy-v2 + CRC32C TLV" 127.0.0.1 "$p_v2crc" '^version=2 local=0 .* ssl=0 cn=-'
check "send-proxy-v2-ssl over plain TCP (SSL TLV, client bit clear)" 127.0.0.1 "$p_v2ssl" \
        '^version=2 local=0 .* ssl=0 cn=-'
check "send-proxy (v1 TCP6)" ::1 "$p6_v1" '^version=1 local=0 src=\[::1\]:'
check "send-proxy-v2 (TCP6)" ::1 "$p6_v2" '^version=2 local=0 src=\[::1\]:'
if [ $tls = yes ]; then
        check "send-proxy-v2-ssl-cn over TLS with client certificate" 127.0.0.1 "$p_tls" \
                '^version=2 local=0 .* ssl=1 cn=client\.example\.test alpn=imap authority=imap\.example\.test ' \
                --tls "$tmp/ca.pem" "$tmp/client.crt" "$tmp/client.key"
else
        ok "send-proxy-v2-ssl-cn # SKIP openssl could not make test certificates: $(tail -n1 "$tmp/openssl.log" 2>/dev/null)"
fi
expect "haproxy peer outside haproxy_trusted_networks is refused" 127.0.0.1 "$p_untrusted" \
        '^error=Client not trusted$'

# Directly to proxy-echo, no haproxy: the incremental read and the rejection path.
expect "v1 header split over three TCP segments (incremental read)" 127.0.0.1 "$echo4_port" \
        '^version=1 local=0 src=192\.0\.2\.1:5555 dst=198\.51\.100\.2:143 .* data=after header$' \
        'PROXY TCP4 192.0.2' +0.3 '.1 198.51.100.2 5555 1' +0.3 '43\r\nafter header\r\n'
expect "v2 LOCAL keeps the real addresses" 127.0.0.1 "$echo4_port" \
        '^version=2 local=1 src=- dst=- .* data=hi$' '\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00hi\r\n'
expect "no PROXY header is refused" 127.0.0.1 "$echo4_port" \
        '^error=Failed to read valid HAproxy data$' 'A1 LOGIN user pass\r\n'

# Through libdovesd: the program sees the client's address via dovesd_conn_get_remote().
if [ $dovesd = yes ]; then
        check "libdovesd haproxy=yes, send-proxy (v1 TCP4)" 127.0.0.1 "$pd_v1" \
                '^version=- local=0 .* ssl=0 cn=-'
        check "libdovesd haproxy=yes, send-proxy-v2 (TCP4)" 127.0.0.1 "$pd_v2" \
                '^version=- local=0 .* ssl=0 cn=-'
        check "libdovesd haproxy=yes, send-proxy (v1 TCP6)" ::1 "$pd6_v1" \
                '^version=- local=0 src=\[::1\]:'
        check "libdovesd haproxy=yes, send-proxy-v2 (TCP6)" ::1 "$pd6_v2" \
                '^version=- local=0 src=\[::1\]:'
        if [ $tls = yes ]; then
                check "libdovesd haproxy=yes, send-proxy-v2-ssl-cn over TLS" 127.0.0.1 "$pd_tls" \
                        '^version=- local=0 .* ssl=1 cn=client\.example\.test alpn=imap authority=imap\.example\.test ' \
                        --tls "$tmp/ca.pem" "$tmp/client.crt" "$tmp/client.key"
        else
                ok "libdovesd send-proxy-v2-ssl-cn # SKIP openssl could not make test certificates"
        fi
        expect "libdovesd: client without PROXY header is closed unanswered" 127.0.0.1 "$d4_port" \
                '^$' 'A1 LOGIN user pass\r\n'
else
        for i in 1 2 3 4 5 6; do
                ok "libdovesd case $i # SKIP no dovesd-proxy-echo given or systemd-socket-activate missing"
        done
fi
[ $failed = 0 ] || [ $dovesd = no ] || sed 's/^/# dovesd: /' "$tmp/dovesd.log"

if ! kill -0 $haproxy_pid 2>/dev/null; then
        echo "# haproxy died during the test:"
        sed 's/^/#   /' "$tmp/haproxy.log"
        exit 1
fi
[ $failed = 0 ] || sed 's/^/# haproxy: /' "$tmp/haproxy.log"
exit 0
