#!/usr/bin/env python3
"""Idle RSS of `manifold run` after oversized backend responses, with mimalloc's defaults.

The measurement behind the BoundedBody finding in docs/soak.md. It starts backend.py and the
gateway on tests/soak/config.json (as soak.py does, but without the MIMALLOC_* settings soak.py
adds, so RSS includes what the allocator keeps for reuse), then sends sequences of /oversized
requests (17 MiB, half of them chunked, over the 16 MiB backend cap) and 2 000 /ok requests,
and prints the gateway's RSS at idle after each step (the same `settled` idle state as soak.py).
A figure, not a test: nothing is asserted beyond the statuses.

Usage: tests/soak/oversized_rss.py BIN   (e.g. "$CARGO_TARGET_DIR"/release/manifold)
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import soak  # noqa: E402  (the helpers of the soak driver next to this file)

STEPS = [("20 /oversized, one at a time", 20, 1), ("20 more, one at a time", 20, 1),
         ("20 more, 2 at a time", 20, 2), ("20 more, 4 at a time", 20, 4)]


async def one(port: int, path: str) -> int:
    reader, writer = await soak.connect(port)
    try:
        head, _ = soak.request_bytes("GET", path, port)
        writer.write(head)
        status, _, _ = await asyncio.wait_for(soak.read_answer(reader), 30)
        return status
    finally:
        writer.close()


async def ok_requests(port: int, n: int) -> None:
    reader, writer = await soak.connect(port)
    try:
        for _ in range(n):
            head, _ = soak.request_bytes("GET", "/ok", port)
            writer.write(head)
            status, _, _ = await asyncio.wait_for(soak.read_answer(reader), 30)
            assert status == 200, status
    finally:
        writer.close()


async def measure(port: int, pid: int) -> None:
    def show(label: str, s: soak.Sample) -> None:
        print(f"{label:<32} {s.rss_mb:6.1f} MB", flush=True)

    await ok_requests(port, 200)
    show("baseline (after 200 /ok)", await soak.settled(pid))
    for label, n, at_once in STEPS:
        for _ in range(n // at_once):
            statuses = await asyncio.gather(*[one(port, "/oversized") for _ in range(at_once)])
            assert all(s == 500 for s in statuses), statuses
        show(label, await soak.settled(pid))
    await asyncio.gather(*[ok_requests(port, 500) for _ in range(4)])
    show("then 2 000 /ok", await soak.settled(pid))


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMALLOC_")}
    backend = subprocess.Popen([sys.executable, str(HERE / "backend.py"), "--seed", "1"],
                               stdout=subprocess.PIPE, text=True)
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    gateway = None
    try:
        backend_port = int(backend.stdout.readline().split()[1])
        port = soak.free_port()
        env.update(SOAK_BACKEND=f"127.0.0.1:{backend_port}",
                   SOAK_REFUSED=f"127.0.0.1:{refused.getsockname()[1]}", RUST_LOG="warn")
        gateway = subprocess.Popen([sys.argv[1], "run", "-c", str(soak.CONFIG), "-p", str(port)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        async def run() -> None:
            if not await soak.wait_healthy(port, gateway, 15):
                raise SystemExit("the gateway did not become healthy")
            await measure(port, gateway.pid)

        asyncio.run(run())
        return 0
    finally:
        refused.close()
        soak.stop([p for p in (gateway, backend) if p is not None])


if __name__ == "__main__":
    sys.exit(main())
