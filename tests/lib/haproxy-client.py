#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Client for test-haproxy.sh.

haproxy-client.py HOST PORT [--tls CA CERT KEY] [CHUNK|+SECONDS ...]

Connects, prints "self=IP:PORT" (getsockname of its own socket, formatted like proxy-echo),
sends each CHUNK (Python bytes escapes, e.g. 'PROXY TCP4 ...\\r\\n'), sleeping SECONDS
between chunks where "+SECONDS" is given (default: a single chunk "hello world\\r\\n"),
then prints the one reply line.
"""
import socket
import ssl
import sys
import time


def fmt(addr):
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main():
    args = sys.argv[1:]
    host, port = args[0], int(args[1])
    args = args[2:]
    tls = None
    if args[:1] == ["--tls"]:
        tls, args = args[1:4], args[4:]
    chunks = args or ["hello world\\r\\n"]

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_STREAM)
    raw.settimeout(10)
    raw.connect((host, port))
    print("self=" + fmt(raw.getsockname()), flush=True)
    sock = raw
    if tls:
        ctx = ssl.create_default_context(cafile=tls[0])
        ctx.check_hostname = False
        ctx.load_cert_chain(tls[1], tls[2])
        ctx.set_alpn_protocols(["imap"])
        sock = ctx.wrap_socket(raw, server_hostname="imap.example.test")

    for c in chunks:
        if c.startswith("+"):
            time.sleep(float(c[1:]))
            continue
        sock.sendall(c.encode("latin-1").decode("unicode_escape").encode("latin-1"))

    reply = b""
    while not reply.endswith(b"\n"):
        try:
            b = sock.recv(1024)
        except (ConnectionResetError, ssl.SSLError, socket.timeout):
            break
        if not b:
            break
        reply += b
    print(reply.decode("latin-1").rstrip("\r\n"))


if __name__ == "__main__":
    main()
