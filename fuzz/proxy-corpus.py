#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the PROXY parser seed corpus from the header table in tests/lib/test-proxy.c.

fuzz/proxy-corpus.py [OUTDIR]   (default fuzz/corpus/proxy; run from the source root)
The table is run through the C preprocessor so the SIG/V2_* macros expand; every `.data = (...)`
initializer becomes one file named after a hash of its bytes.
"""
import hashlib
import os
import re
import subprocess
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/proxy"
src = subprocess.run(["cpp", "-P", "-D_GNU_SOURCE", "-Ihelper", "tests/lib/test-proxy.c"],
                     capture_output=True, text=True, check=True).stdout
LIT = r'"(?:[^"\\]|\\.)*"'


def decode(lit):
    body = lit[1:-1]
    res = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            res += c.encode("latin-1")
            i += 1
            continue
        e = body[i + 1]
        if e == "x":
            m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
            res.append(int(m.group(0), 16) & 0xff)
            i += 2 + len(m.group(0))
        elif e in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i + 1:])
            res.append(int(m.group(0), 8))
            i += 1 + len(m.group(0))
        else:
            res.append({"r": 13, "n": 10, "t": 9, "\\": 92, '"': 34, "'": 39}[e])
            i += 2
    return bytes(res)


os.makedirs(out, exist_ok=True)
count = 0
for m in re.finditer(r"\.data = \(((?:\s*%s)+)\s*\)" % LIT, src):
    data = b"".join(decode(l) for l in re.findall(LIT, m.group(1)))
    if not data:
        continue
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    count += 1
print(f"{count} seeds in {out}")
