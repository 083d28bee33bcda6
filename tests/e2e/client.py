#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Clients of dovesd-demo for the end-to-end tests (run inside the container).

  client.py burst HOST PORT RATE SECONDS
      Open RATE connections per second for SECONDS; each reads the greeting, sends LOGOUT
      and reads "* BYE". Prints "started=N served=N failed=N" and, for failures, one line
      each "fail: REASON" (at most 10). Exit status 0 when every client was served.
  client.py hold HOST PORT N SECONDS [--src IP]
      Open N connections at once, send INFO and hold them SECONDS, then LOGOUT. Prints the
      INFO line of each connection, then "held=N".
  client.py keep HOST PORT N SECONDS
      As hold, but each connection sends INFO again before LOGOUT; that line is printed as
      "after: * INFO ..." (is the client still served, and by the same process?).
  client.py greet HOST PORT N SECONDS
      Open N connections at once and count those greeted within SECONDS; then close all.
      Prints "greeted=K of N".
  client.py loop HOST PORT CONCURRENCY SECONDS
      A closed loop: CONCURRENCY clients, each connecting again as soon as its session
      (greeting, LOGOUT, "* BYE") ends, for SECONDS. Prints "sessions=N ok=N refused=N
      reset=N other=N" and up to 10 "fail: REASON" lines. Exit status 0 when all were ok.
"""
import asyncio
import sys
import time

TIMEOUT = 120.0


async def talk(host, port, lines, src=None):
    kw = {"local_addr": (src, 0)} if src else {}
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port, **kw), TIMEOUT)
    try:
        out = [(await asyncio.wait_for(r.readline(), TIMEOUT)).decode().rstrip("\r\n")]
        if not out[0].startswith("* OK"):
            raise RuntimeError(f"greeting {out[0]!r}")
        for line in lines:
            w.write((line + "\n").encode())
            await w.drain()
            while True:
                got = (await asyncio.wait_for(r.readline(), TIMEOUT)).decode().rstrip("\r\n")
                if not got:
                    raise RuntimeError(f"closed after {line!r}")
                out.append(got)
                if not got.startswith("* ") or got.startswith("* BYE"):
                    break
        return out
    finally:
        w.close()


async def burst(host, port, rate, seconds):
    results = []
    byes = []

    async def one():
        try:
            out = await talk(host, port, ["LOGOUT"])
            # "* BYE server shutting down": greeted and said goodbye during a restart
            if out[-1].startswith("* BYE server"):
                byes.append(1)
            results.append(None if out[-1].startswith("* BYE") else f"answer {out[-1]!r}")
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            results.append(f"{type(e).__name__}: {e}")

    tasks = []
    start = time.monotonic()
    total = int(rate * seconds)
    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one()))
    await asyncio.gather(*tasks)
    fails = [r for r in results if r]
    print(f"started={total} served={total - len(fails)} failed={len(fails)} "
          f"elapsed={time.monotonic() - start:.1f} shutdown_byes={len(byes)}")
    for f in fails[:10]:
        print(f"fail: {f}")
    return 0 if not fails else 1


async def hold(host, port, n, seconds, src, again=False):
    async def one():
        kw = {"local_addr": (src, 0)} if src else {}
        r, w = await asyncio.open_connection(host, port, **kw)
        greet = (await r.readline()).decode().rstrip("\r\n")
        w.write(b"INFO\n")
        info = (await r.readline()).decode().rstrip("\r\n")
        await r.readline()
        return greet, info, r, w

    conns = await asyncio.gather(*[one() for _ in range(n)])
    for greet, info, _, _ in conns:
        print(info)
    sys.stdout.flush()
    await asyncio.sleep(seconds)
    byes = 0
    for _, _, r, w in conns:
        try:
            if again:
                w.write(b"INFO\n")
                await w.drain()
                info = (await asyncio.wait_for(r.readline(), TIMEOUT)).decode().rstrip("\r\n")
                await asyncio.wait_for(r.readline(), TIMEOUT)
                print(f"after: {info}")
            w.write(b"LOGOUT\n")
            await w.drain()
            if (await asyncio.wait_for(r.readline(), TIMEOUT)).startswith(b"* BYE"):
                byes += 1
        except (OSError, asyncio.TimeoutError):
            pass
        w.close()
    print(f"held={n} bye={byes}")
    return 0 if byes == n else 1


async def greet(host, port, n, seconds):
    async def one():
        r, w = await asyncio.open_connection(host, port)
        try:
            line = await asyncio.wait_for(r.readline(), seconds)
            return r, w, line.startswith(b"* OK")
        except asyncio.TimeoutError:
            return r, w, False

    conns = await asyncio.gather(*[one() for _ in range(n)])
    print(f"greeted={sum(1 for c in conns if c[2])} of {n}")
    for _, w, _ in conns:
        w.close()
    return 0


async def loop(host, port, concurrency, seconds):
    counts = {"ok": 0, "refused": 0, "reset": 0, "other": 0}
    fails = []
    end = time.monotonic() + seconds

    async def client():
        while time.monotonic() < end:
            try:
                out = await talk(host, port, ["LOGOUT"])
                if out[-1] == "* BYE":
                    counts["ok"] += 1
                    continue
                kind = "other"
                fails.append(f"answer {out[-1]!r}")
            except ConnectionRefusedError as e:
                kind, why = "refused", e
            except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError) as e:
                kind, why = "reset", e
            except RuntimeError as e:
                # "greeting ''" or "closed after": the server closed the connection on us
                kind, why = "reset", e
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                kind, why = "other", e
            else:
                why = None
            counts[kind] += 1
            if why is not None:
                fails.append(f"{kind}: {type(why).__name__}: {why}")

    await asyncio.gather(*[client() for _ in range(concurrency)])
    print(f"sessions={sum(counts.values())} " + " ".join(f"{k}={v}" for k, v in counts.items()))
    for f in fails[:10]:
        print(f"fail: {f}")
    return 0 if counts["ok"] == sum(counts.values()) else 1


async def overflow(host, port):
    """type=login at its limit: A (not logged in) and B (logged in) fill the only process;
    C arrives. Prints what each of them saw."""
    async def conn():
        r, w = await asyncio.open_connection(host, port)
        greet = (await asyncio.wait_for(r.readline(), TIMEOUT)).decode().rstrip("\r\n")
        return r, w, greet

    async def cmd(r, w, line):
        w.write((line + "\n").encode())
        await w.drain()
        return (await asyncio.wait_for(r.readline(), TIMEOUT)).decode().rstrip("\r\n")

    ra, wa, _ = await conn()
    rb, wb, _ = await conn()
    print("B LOGIN:", await cmd(rb, wb, "LOGIN"))
    rc, wc, greet_c = await conn()
    print("C greeting:", greet_c)
    a = (await asyncio.wait_for(ra.readline(), TIMEOUT)).decode().rstrip("\r\n")
    print("A got:", a)
    print("A then:", "closed" if not await asyncio.wait_for(ra.read(), TIMEOUT) else "open")
    print("B INFO:", (await cmd(rb, wb, "INFO"))[:6])
    print("C INFO:", (await cmd(rc, wc, "INFO"))[:6])
    for w in (wa, wb, wc):
        w.close()
    return 0


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "overflow":
        return asyncio.run(overflow(sys.argv[2], int(sys.argv[3])))
    if len(sys.argv) >= 6 and sys.argv[1] == "burst":
        return asyncio.run(burst(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]),
                                 float(sys.argv[5])))
    if len(sys.argv) >= 6 and sys.argv[1] == "keep":
        return asyncio.run(hold(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                                float(sys.argv[5]), None, again=True))
    if len(sys.argv) >= 6 and sys.argv[1] == "greet":
        return asyncio.run(greet(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                                 float(sys.argv[5])))
    if len(sys.argv) >= 6 and sys.argv[1] == "loop":
        return asyncio.run(loop(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                                float(sys.argv[5])))
    if len(sys.argv) >= 6 and sys.argv[1] == "hold":
        src = sys.argv[7] if len(sys.argv) > 7 and sys.argv[6] == "--src" else None
        return asyncio.run(hold(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                                float(sys.argv[5]), src))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
