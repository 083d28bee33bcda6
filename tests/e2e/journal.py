#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Filter `journalctl -o json` (stdin) without journalctl's own matches (run inside the
container). journalctl 252 combined with --after-cursor and a match (-u, -t) can skip the first
matching entry after the cursor; reading every entry after the cursor and filtering here
does not.

  journal.py [--unit PREFIX] [--ident NAME] [--systemd | --not-systemd]
      Print the MESSAGE of each entry that belongs to a unit whose name starts with PREFIX
      (its _SYSTEMD_UNIT, or UNIT= of PID 1's records about it, as journalctl -u does), whose
      SYSLOG_IDENTIFIER is NAME; --systemd: only PID 1's records, --not-systemd: none of them.
"""
import json
import sys


def main():
    args = sys.argv[1:]
    unit = ident = None
    pid1 = None
    while args:
        a = args.pop(0)
        if a == "--unit":
            unit = args.pop(0)
        elif a == "--ident":
            ident = args.pop(0)
        elif a == "--systemd":
            pid1 = True
        elif a == "--not-systemd":
            pid1 = False
        else:
            print(__doc__, file=sys.stderr)
            return 2
    for line in sys.stdin:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        is_pid1 = e.get("_PID") == "1"
        if pid1 is not None and is_pid1 != pid1:
            continue
        if unit is not None:
            u = e.get("UNIT", "") if is_pid1 else e.get("_SYSTEMD_UNIT", "")
            if not u.startswith(unit):
                continue
        if ident is not None and e.get("SYSLOG_IDENTIFIER") != ident:
            continue
        msg = e.get("MESSAGE")
        if isinstance(msg, list):
            msg = bytes(msg).decode(errors="replace")
        print(msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
