"""Signaling fan-out: N peers joining one room, side by side with the PeerJS server (npm ``peer``).

    python bench/signaling.py [--peers 500] [--batch 50] [--rounds 2] [--peerjs DIR]

Ours: each peer connects (``batch`` opening handshakes at a time, each within 5 s), joins one room
and must receive ``peer-joined`` for every later peer — N*(N-1)/2 notices, all counted; then a new
pair must join and exchange an offer (the server is healthy after). PeerJS has no rooms and sends no
notices: its row is the connect-and-OPEN time of the same N clients, the anchor for the handshakes.
Both servers run as processes of their own on loopback; printed: seconds, notices, RSS of the
server before/after (kB), alternating rounds in one run. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect


def rss_kb(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1))  # type: ignore[union-attr]


def start(argv: list[str], pattern: str, cwd: str | None = None) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=cwd)
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(pattern, line)
        if match:
            return proc, match.group(1)
    proc.kill()
    raise RuntimeError(f"{argv[0]} did not say where it listens")


async def ours(url: str, peers: int, batch: int) -> tuple[float, int, int]:
    clients: list[ClientConnection] = []
    started = time.perf_counter()
    for first in range(0, peers, batch):
        opened = await asyncio.gather(
            *(asyncio.wait_for(connect(url, compression=None, max_queue=None, open_timeout=5), 5)
              for _ in range(first, min(first + batch, peers)))
        )  # fmt: skip
        for offset, ws in enumerate(opened):
            await ws.send(json.dumps({"type": "join", "room": "bench", "peer": f"p{first + offset}"}))
        clients += opened
    expected = peers * (peers - 1) // 2

    async def notices(ws: ClientConnection, want: int) -> int:
        seen = 0
        while seen < want:
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            seen += message["type"] == "peer-joined"
        return seen

    counts = await asyncio.gather(*(notices(ws, peers - 1 - i) for i, ws in enumerate(clients)))
    seconds = time.perf_counter() - started
    await asyncio.gather(*(ws.close() for ws in clients))
    healthy = 0
    a = await connect(url, compression=None)
    b = await connect(url, compression=None)
    await a.send(json.dumps({"type": "join", "room": "after", "peer": "a"}))
    await b.send(json.dumps({"type": "join", "room": "after", "peer": "b"}))
    await asyncio.wait_for(b.recv(), 5)
    await a.send(json.dumps({"type": "offer", "to": "b", "sdp": "v=0"}))
    while json.loads(await asyncio.wait_for(b.recv(), 5))["type"] != "offer":
        pass
    healthy = 1
    await a.close()
    await b.close()
    assert sum(counts) == expected, (sum(counts), expected)
    return seconds, sum(counts), healthy


async def peerjs(base: str, peers: int, batch: int) -> float:
    clients = []
    started = time.perf_counter()
    for first in range(0, peers, batch):
        opened = await asyncio.gather(
            *(asyncio.wait_for(connect(f"{base}?key=peerjs&id=p{i}&token=t{i}", compression=None), 5)
              for i in range(first, min(first + batch, peers)))
        )  # fmt: skip
        for ws in opened:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "OPEN"
        clients += opened
    seconds = time.perf_counter() - started
    await asyncio.gather(*(ws.close() for ws in clients))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--peerjs", help="a directory with node_modules/peer (npm install peer@1.0.2)")
    args = parser.parse_args()
    for round_ in range(1, args.rounds + 1):
        server, url = start(
            [sys.executable, "-m", "pytest_webrtc", "signaling-server", "--port", "0", "--quiet"], r"(ws://\S+)"
        )
        before = rss_kb(server.pid)
        seconds, notices, healthy = asyncio.run(ours(url, args.peers, args.batch))
        after = rss_kb(server.pid)
        server.terminate()
        server.wait(10)
        print(
            f"round {round_} ours:   {args.peers} joins, {notices} notices in {seconds:.2f} s "
            f"(RSS {before} -> {after} kB), healthy after: {bool(healthy)}",
            flush=True,
        )
        if args.peerjs:
            port = 0
            import socket

            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            script = os.path.join(args.peerjs, "node_modules", "peer", "dist", "bin", "peerjs.js")
            node = subprocess.Popen(
                ["node", script, "--host", "127.0.0.1", "--port", str(port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                time.sleep(1.0)  # the PeerJS server prints nothing parseable; a bench, not a test
                before = rss_kb(node.pid)
                opened = asyncio.run(peerjs(f"ws://127.0.0.1:{port}/peerjs", args.peers, args.batch))
                after = rss_kb(node.pid)
            finally:
                node.terminate()
                node.wait(10)
            print(
                f"round {round_} peerjs: {args.peers} connections OPEN in {opened:.2f} s (RSS {before} -> {after} kB)"
            )


if __name__ == "__main__":
    main()
