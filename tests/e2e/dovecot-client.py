#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# Client of tests/e2e/dovecot.sh, run inside the container. Prints one line per step.
#   imap USER          LOGIN, SELECT INBOX, APPEND a message, FETCH it back
#   lmtp USER SOCKET   deliver one message over LMTP, then find it over IMAP
import imaplib
import smtplib
import sys
import time

PASSWORD = "secret"


def imap(user, subject="dovesd e2e append"):
    m = imaplib.IMAP4("127.0.0.1", 143)
    print("greeting", m.welcome.decode(errors="replace"))
    print("login", m.login(user, PASSWORD)[0])
    print("select", m.select("INBOX")[0])
    msg = f"From: a@example.org\r\nSubject: {subject}\r\n\r\nhello\r\n".encode()
    print("append", m.append("INBOX", None, None, msg)[0])
    typ, data = m.search(None, "SUBJECT", f'"{subject}"')
    uid = data[0].split()[-1]
    typ, data = m.fetch(uid, "(BODY[HEADER.FIELDS (SUBJECT)])")
    print("fetch", typ, data[0][1].decode().strip())
    m.logout()


def lmtp(user, socket):
    s = smtplib.LMTP(socket, timeout=20)
    subject = f"dovesd lmtp {time.time()}"
    s.sendmail("a@example.org", [user],
               f"From: a@example.org\r\nSubject: {subject}\r\n\r\nvia lmtp\r\n")
    s.quit()
    print("lmtp delivered")
    m = imaplib.IMAP4("127.0.0.1", 143)
    m.login(user, PASSWORD)
    m.select("INBOX")
    typ, data = m.search(None, "SUBJECT", f'"{subject}"')
    print("lmtp found", len(data[0].split()))
    m.logout()


def userip(user):
    """Three IMAP sessions of one user from one IP: the third must be refused."""
    sessions, results = [], []
    for i in range(3):
        m = imaplib.IMAP4("127.0.0.1", 143)
        try:
            m.login(user, PASSWORD)
            m.select("INBOX")
            results.append("ok")
            sessions.append(m)
        except imaplib.IMAP4.error as e:
            results.append("refused: " + str(e))
    print("userip", " | ".join(results))
    for m in sessions:
        m.logout()


def hold(user, seconds):
    """One IMAP session: greeting, LOGIN, then NOOP every second for SECONDS (so a reload in
    between must keep it), then LOGOUT. Prints the greeting and 'held ok' at the end."""
    m = imaplib.IMAP4("127.0.0.1", 143)
    print("greeting", m.welcome.decode(errors="replace"), flush=True)
    m.login(user, PASSWORD)
    m.select("INBOX")
    print("logged in", flush=True)
    for _ in range(seconds):
        time.sleep(1)
        m.noop()
    m.logout()
    print("held ok", flush=True)


def greeting():
    m = imaplib.IMAP4("127.0.0.1", 143)
    print("greeting", m.welcome.decode(errors="replace"))
    m.logout()


if __name__ == "__main__":
    if sys.argv[1] == "imap":
        imap(sys.argv[2])
    elif sys.argv[1] == "lmtp":
        lmtp(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "userip":
        userip(sys.argv[2])
    elif sys.argv[1] == "hold":
        hold(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "greeting":
        greeting()
