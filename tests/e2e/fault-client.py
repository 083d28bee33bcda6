#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Clients for tests/e2e/fault.sh and load.sh (run inside the container).

  fault-client.py probe HOST PORT N HOLD
      Open N connections, read each greeting and INFO (prints "pid=P" per connection, then
      "ready"), keep them HOLD seconds, then send INFO on each again: prints
      "alive=A dead=D deadpids=P,P...", where a connection is dead when it got EOF or an error.
  fault-client.py flood HOST PORT N WAIT HOLD
      Open N connections; wait at most WAIT seconds for greetings (prints "greeted=G of N");
      hold HOLD seconds more; close all.
  fault-client.py idle HOST PORT N HOLD
      N idle connections, each greeted (prints "held=N" once all are), held HOLD seconds, then
      closed with LOGOUT; prints "released=N".
"""
import asyncio
import resource
import sys

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def line(r, timeout):
    return (await asyncio.wait_for(r.readline(), timeout)).decode().rstrip("\r\n")


async def open_greeted(host, port, timeout=60):
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    g = await line(r, timeout)
    if not g.startswith("* OK"):
        raise RuntimeError(f"greeting {g!r}")
    return r, w


async def info(r, w, timeout=30):
    w.write(b"INFO\n")
    await w.drain()
    i = await line(r, timeout)
    if not i.startswith("* INFO"):
        raise RuntimeError(f"answer {i!r}")
    await line(r, timeout)          # "OK"
    return i.split("pid=")[1].split()[0]


async def probe(host, port, n, hold):
    conns = [await open_greeted(host, port) for _ in range(n)]
    pids = [await info(r, w) for r, w in conns]
    for p in pids:
        print(f"pid={p}")
    print("ready", flush=True)
    await asyncio.sleep(hold)
    alive, dead = 0, []
    for (r, w), p in zip(conns, pids):
        try:
            await info(r, w, 10)
            alive += 1
        except Exception:  # noqa: BLE001 - any failure means the connection was cut
            dead.append(p)
        w.close()
    print(f"alive={alive} dead={len(dead)} deadpids={','.join(sorted(set(dead)))}")
    return 0


async def flood(host, port, n, wait, hold):
    conns = []
    for _ in range(n):
        conns.append(await asyncio.open_connection(host, port))
    greeted = 0
    end = asyncio.get_running_loop().time() + wait
    for r, _ in conns:
        try:
            left = max(0.01, end - asyncio.get_running_loop().time())
            if (await line(r, left)).startswith("* OK"):
                greeted += 1
        except Exception:  # noqa: BLE001 - not greeted in time
            pass
    print(f"greeted={greeted} of {n}", flush=True)
    await asyncio.sleep(hold)
    for _, w in conns:
        w.close()
    return 0


async def idle(host, port, n, hold):
    sem = asyncio.Semaphore(500)

    async def one():
        async with sem:
            return await open_greeted(host, port, 120)

    conns = await asyncio.gather(*[one() for _ in range(n)])
    print(f"held={len(conns)}", flush=True)
    await asyncio.sleep(hold)
    for r, w in conns:
        w.write(b"LOGOUT\n")
    for r, w in conns:
        try:
            await w.drain()
            await line(r, 30)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        w.close()
    print(f"released={len(conns)}", flush=True)
    return 0


def main():
    a = sys.argv
    if len(a) == 6 and a[1] == "probe":
        return asyncio.run(probe(a[2], int(a[3]), int(a[4]), float(a[5])))
    if len(a) == 7 and a[1] == "flood":
        return asyncio.run(flood(a[2], int(a[3]), int(a[4]), float(a[5]), float(a[6])))
    if len(a) == 6 and a[1] == "idle":
        return asyncio.run(idle(a[2], int(a[3]), int(a[4]), float(a[5])))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
