#!/usr/bin/env python3
"""Bad environments for libdovesd: broken DOVESD_* values and LISTEN_* variables that do not
match the fds passed. Each case runs tests/bad/env-probe (dovesd_service_new() only) with the
fds at 3, 4, ... and LISTEN_PID set to the probe's own pid (as systemd does), and asserts the
exact error, no crash and no hang. tests/lib/test-libdovesd.c covers the common cases; these are
the rest. Prints TAP.

Usage: env.py PATH/TO/env-probe
"""
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time

probe = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="dovesd-bad-env.")

BASE = {
    "DOVESD_SERVICE": "imap",
    "DOVESD_TYPE": "",
    "DOVESD_CLIENT_LIMIT": "10",
    "DOVESD_LISTENERS": "imap",
}


def make_fd(kind, i):
    """Returns an fd of the given kind; keeps Python objects alive in `keep`."""
    if kind == "tcp":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(4)
    elif kind == "tcp-bound":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
    elif kind == "unix-dgram":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    elif kind == "seqpacket":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(tempfile.mktemp(prefix="seq", dir=tmp))
        s.listen(4)
    elif kind == "devnull":
        return os.open("/dev/null", os.O_RDWR)
    elif kind == "dir":
        return os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
    elif kind == "eventfd":
        return os.eventfd(0)
    elif kind == "fifo":
        path = tempfile.mktemp(prefix="fifo", dir=tmp)
        os.mkfifo(path)
        return os.open(path, os.O_RDWR | os.O_NONBLOCK)
    else:
        raise ValueError(kind)
    keep.append(s)
    return s.fileno()


def run(env_over, kinds, listen=None):
    """Starts the probe with fds of KINDS at 3... Returns (status, stdout)."""
    fds = [make_fd(k, i) for i, k in enumerate(kinds)]
    env = dict(BASE)
    for k, v in env_over.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    listen = dict(listen or {})
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(w, 1)
            # move the fds to 3, 4, ... (first out of the way, then into place)
            high = [os.dup(fd) for fd in fds]
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i)
            for fd in range(3 + len(high), 256):
                try:
                    os.close(fd)
                except OSError:
                    pass
            e = {k: v for k, v in os.environ.items()
                 if not k.startswith(("DOVESD_", "LISTEN_", "NOTIFY_SOCKET", "WATCHDOG_"))}
            e.update(env)
            e.setdefault("LISTEN_PID", str(os.getpid()))
            if kinds:
                e.setdefault("LISTEN_FDS", str(len(kinds)))
            for k, v in listen.items():
                if v is None:
                    e.pop(k, None)
                else:
                    e[k] = v.replace("$PID", str(os.getpid()))
            os.execve(probe, [probe], e)
        finally:
            os._exit(127)
    os.close(w)
    for fd in fds:
        if not any(s.fileno() == fd for s in keep):
            os.close(fd)
    out = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rl, _, _ = select.select([r], [], [], max(0.0, deadline - time.monotonic()))
        if not rl:
            break
        chunk = os.read(r, 65536)
        if not chunk:
            break
        out += chunk
    os.close(r)
    for _ in range(200):
        p, status = os.waitpid(pid, os.WNOHANG)
        if p:
            return status, out.decode(errors="replace")
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None, out.decode(errors="replace")


big = ";".join(f"l{i}" for i in range(10000))
cases = [
    # (name, DOVESD_* overrides, fd kinds, LISTEN_* overrides, expected error; "" = accepted)
    ("client_limit one above UINT_MAX", {"DOVESD_CLIENT_LIMIT": "4294967296"}, [], {},
     "DOVESD_CLIENT_LIMIT: number too large '4294967296'"),
    ("client_limit with a plus sign", {"DOVESD_CLIENT_LIMIT": "+5"}, [], {},
     "DOVESD_CLIENT_LIMIT: invalid number '+5'"),
    ("client_limit in hex", {"DOVESD_CLIENT_LIMIT": "0x10"}, [], {},
     "DOVESD_CLIENT_LIMIT: invalid number '0x10'"),
    ("idle_kill beyond 64 bits", {"DOVESD_IDLE_KILL": "18446744073709551616"}, [], {},
     "DOVESD_IDLE_KILL: number too large '18446744073709551616'"),
    ("haproxy_timeout too large", {"DOVESD_HAPROXY_TIMEOUT": "99999999999"}, [], {},
     "DOVESD_HAPROXY_TIMEOUT: number too large '99999999999'"),
    ("process_limit with trailing newline", {"DOVESD_PROCESS_LIMIT": "4\n"}, [], {},
     "DOVESD_PROCESS_LIMIT: invalid number '4\n'"),
    ("empty service name", {"DOVESD_SERVICE": ""}, [], {}, "DOVESD_SERVICE is not set"),
    ("type in upper case", {"DOVESD_TYPE": "LOGIN"}, [], {},
     "DOVESD_TYPE: unknown service type 'LOGIN'"),
    ("listener with an empty flag", {"DOVESD_LISTENERS": "imap:"}, [], {},
     "DOVESD_LISTENERS: unknown flag '' for listener 'imap'"),
    ("listeners ending in ';'", {"DOVESD_LISTENERS": "imap;"}, [], {},
     "DOVESD_LISTENERS: empty listener name in 'imap;'"),
    ("10,000 listeners, no fds", {"DOVESD_LISTENERS": big}, [], {},
     "listener 'l0': no file descriptor named 'l0' in LISTEN_FDNAMES"),
    ("trusted networks garbage", {"DOVESD_HAPROXY_TRUSTED_NETWORKS": "not-a-net"}, [], {},
     "DOVESD_HAPROXY_TRUSTED_NETWORKS: Invalid network 'not-a-net'"),
    ("relative chroot with dots", {"DOVESD_CHROOT": "../x"}, [], {},
     "DOVESD_CHROOT: not an absolute path: '../x'"),
    # LISTEN_* that do not match the fds
    ("LISTEN_FDS=2 with one name", {}, ["tcp", "tcp"], {"LISTEN_FDNAMES": "imap"},
     "LISTEN_FDS: cannot read the passed file descriptors: Invalid argument"),
    ("LISTEN_FDS=1 with two names", {}, ["tcp"], {"LISTEN_FDNAMES": "imap:pop3"},
     "LISTEN_FDS: cannot read the passed file descriptors: Invalid argument"),
    ("LISTEN_FDS=3 but only fd 3 open", {}, ["tcp"],
     {"LISTEN_FDS": "3", "LISTEN_FDNAMES": "imap:imap:imap"},
     "LISTEN_FDS: cannot read the passed file descriptors: Bad file descriptor"),
    ("LISTEN_FDS=100000", {}, ["tcp"], {"LISTEN_FDS": "100000", "LISTEN_FDNAMES": None},
     "LISTEN_FDS: cannot read the passed file descriptors: Bad file descriptor"),
    ("LISTEN_FDS not a number", {}, ["tcp"], {"LISTEN_FDS": "abc", "LISTEN_FDNAMES": "imap"},
     "LISTEN_FDS: cannot read the passed file descriptors: Invalid argument"),
    ("LISTEN_FDS negative", {}, ["tcp"], {"LISTEN_FDS": "-1", "LISTEN_FDNAMES": "imap"},
     "LISTEN_FDS: cannot read the passed file descriptors: Invalid argument"),
    ("LISTEN_PID of another process", {}, ["tcp"], {"LISTEN_PID": "1", "LISTEN_FDNAMES": "imap"},
     "listener 'imap': no file descriptor named 'imap' in LISTEN_FDNAMES"),
    ("LISTEN_PID not a number", {}, ["tcp"], {"LISTEN_PID": "me", "LISTEN_FDNAMES": "imap"},
     "LISTEN_FDS: cannot read the passed file descriptors: Invalid argument"),
    ("LISTEN_FDNAMES unset", {}, ["tcp"], {"LISTEN_FDNAMES": None},
     "fd 3 named 'unknown' matches no listener in DOVESD_LISTENERS"),
    ("LISTEN_FDNAMES empty name", {}, ["tcp"], {"LISTEN_FDNAMES": ""},
     "fd 3 named '' matches no listener in DOVESD_LISTENERS"),
    # fds of the wrong kind
    ("fd is /dev/null", {}, ["devnull"], {"LISTEN_FDNAMES": "imap"},
     "listener 'imap' (fd 3): expected a listening stream socket or a FIFO, got a character device"),
    ("fd is a directory", {}, ["dir"], {"LISTEN_FDNAMES": "imap"},
     "listener 'imap' (fd 3): expected a listening stream socket or a FIFO, got a directory"),
    ("fd is an eventfd", {}, ["eventfd"], {"LISTEN_FDNAMES": "imap"},
     "listener 'imap' (fd 3): expected a listening stream socket or a FIFO, got not a socket"),
    ("fd is a unix datagram socket", {}, ["unix-dgram"], {"LISTEN_FDNAMES": "imap"},
     "listener 'imap' (fd 3): expected a listening stream socket or a FIFO, got a datagram socket"),
    ("fd is a seqpacket socket", {}, ["seqpacket"], {"LISTEN_FDNAMES": "imap"},
     "listener 'imap' (fd 3): expected a listening stream socket or a FIFO, got a seqpacket socket"),
    ("fd is a bound TCP socket that does not listen", {}, ["tcp-bound"], {"LISTEN_FDNAMES": "imap"},
     "listener 'imap' (fd 3): expected a listening stream socket or a FIFO, got a connected stream socket"),
    ("an fd named 'connection' (the gone Accept=yes contract)", {}, ["fifo"],
     {"LISTEN_FDNAMES": "connection"},
     "fd 3 named 'connection' matches no listener in DOVESD_LISTENERS"),
    ("FIFO and socket under one name", {"DOVESD_LISTENERS": "log"}, ["fifo", "tcp"],
     {"LISTEN_FDNAMES": "log:log"}, "listener 'log' (fd 4): mixes FIFOs and sockets"),
    # sanity: the harness itself passes good fds
    ("two TCP fds for one listener (accepted)", {}, ["tcp", "tcp"],
     {"LISTEN_FDNAMES": "imap:imap"}, ""),
]

n = 0
failed = 0
for name, env_over, kinds, listen, want in cases:
    keep = []
    n += 1
    status, out = run(env_over, kinds, listen)
    for s in keep:
        s.close()
    fields = {}
    for line in out.split("\n"):
        if "=" in line and line.split("=", 1)[0] in ("new", "error") and line.split("=", 1)[0] not in fields:
            fields[line.split("=", 1)[0]] = line.split("=", 1)[1]
    # error texts may hold a newline of their own: take everything after "error="
    if "error=" in out:
        fields["error"] = out.split("error=", 1)[1][:-1]
    problems = []
    if status is None:
        problems.append("hung (killed after 20 s)")
    elif not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        problems.append(f"crashed or failed: wait status {status}")
    if want:
        if fields.get("new") != "-22":
            problems.append(f"new={fields.get('new')}, want -22")
        if fields.get("error") != want:
            problems.append(f"error {fields.get('error')!r}, want {want!r}")
    elif fields.get("new") != "0" or fields.get("error") != "":
        problems.append(f"not accepted: new={fields.get('new')} error={fields.get('error')!r}")
    if problems:
        failed += 1
        print(f"not ok {n} - libdovesd env: {name}: " + "; ".join(problems).replace("\n", "\\n"))
    else:
        print(f"ok {n} - libdovesd env: {name}")
print(f"1..{n}")
shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if failed else 0)
