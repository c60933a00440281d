"""STUN Binding throughput and latency: our server vs coturn, side by side in one run.

    python bench/stun_throughput.py [--requests 20000] [--inflight 64] [--rounds 3] [--fingerprint] [--ipv6] [--auth]

``--ipv6``: servers and generator on ::1.  ``--auth``: long-term credentials — our server with
``--user/--password/--realm``, coturn with ``--lt-cred-mech --secure-stun`` (which makes it
authenticate Binding requests); the generator gets a NONCE from the first 401 and signs every
request (USERNAME, REALM, NONCE, MESSAGE-INTEGRITY), all built before the clock starts.

Our server (with uvloop, and with asyncio's own loop as "ours-asyncio") and coturn run as separate processes on 127.0.0.1; the load generator is a
uvloop client in this process (an asyncio one tops out near 20k req/s here and
would measure itself).  Rounds alternate between the servers so that machine
noise hits both alike; the medians and their ratio are printed.  Every loop is
bounded in count and time; traffic goes to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from typing import Any

from pytest_webrtc.coturn import coturn_stun_command, free_udp_port, wait_for_stun

MAGIC = b"\x21\x12\xa4\x42"


def plain_request(tid: bytes) -> bytes:
    return b"\x00\x01\x00\x00" + MAGIC + tid


def fingerprinted_request(tid: bytes) -> bytes:
    head = b"\x00\x01\x00\x08" + MAGIC + tid
    return head + struct.pack("!HHI", 0x8028, 4, (zlib.crc32(head) ^ 0x5354554E) & 0xFFFFFFFF)


REQUEST = plain_request
HOST = "127.0.0.1"
AUTH = ("bench", "bench-password", "bench.example")  # user, password, realm


@dataclass
class Result:
    name: str
    rate: float
    p50_ms: float
    p99_ms: float
    lost: int


class LoadProtocol(asyncio.DatagramProtocol):
    def __init__(
        self,
        total: int,
        inflight: int,
        target: tuple[str, int],
        done: asyncio.Future[None],
        prepared: list[bytes] | None = None,
    ) -> None:
        self.total, self.inflight, self.target, self.done = total, inflight, target, done
        self.prepared = prepared  # signed requests, built before the clock starts
        self.sent_at: dict[bytes, float] = {}
        self.latencies: list[float] = []
        self.refused = 0  # answers that are not a Binding success (a 401 or 438 is cheap: not the work measured)
        self.next_id = 0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def send_one(self) -> None:
        if self.next_id >= self.total:
            return
        if self.prepared is not None:
            data = self.prepared[self.next_id]
            tid = data[8:20]
        else:
            tid = struct.pack("!4xQ", self.next_id)
            data = REQUEST(tid)
        self.next_id += 1
        self.sent_at[tid] = time.perf_counter()
        self.transport.sendto(data, self.target)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        started = self.sent_at.pop(data[8:20], None)
        if started is None:
            return
        if data[:2] != b"\x01\x01":
            self.refused += 1
        self.latencies.append(time.perf_counter() - started)
        if len(self.latencies) == self.total and not self.done.done():
            self.done.set_result(None)
        else:
            self.send_one()


def signed_requests(sock: socket.socket, target: tuple[str, int], total: int, fingerprint: bool) -> list[bytes]:
    """Ask once (the 401 names REALM and NONCE), then sign ``total`` Binding requests with that NONCE.

    The challenge is asked from the load's own socket: coturn ties a nonce to the client's address,
    and answers a request signed with another address's nonce 438 (Stale Nonce) — cheaply."""
    from pytest_webrtc.stun import Message, MessageClass, Method, decode
    from pytest_webrtc.stun.credentials import long_term_key

    sock.settimeout(2)
    sock.sendto(plain_request(os.urandom(12)), target)
    challenge = decode(sock.recvfrom(2048)[0])
    sock.setblocking(False)
    if challenge.error_code != 401:
        raise SystemExit(f"expected a 401 with REALM and NONCE, got {challenge}")
    user, password, realm = AUTH
    key = long_term_key(user, realm, password)
    nonce = challenge.get("NONCE")
    out = []
    for n in range(total):
        message = Message(Method.BINDING, MessageClass.REQUEST, struct.pack("!4xQ", n))
        message.add("USERNAME", user).add("REALM", realm).add("NONCE", nonce)
        out.append(message.encode(integrity_key=key, fingerprint=fingerprint))
    return out


async def load(
    sock: socket.socket,
    target: tuple[str, int],
    total: int,
    inflight: int,
    limit: float,
    prepared: list[bytes] | None = None,
) -> tuple[float, list[float], int, int]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    transport, proto = await loop.create_datagram_endpoint(
        lambda: LoadProtocol(total, inflight, target, done, prepared), sock=sock
    )
    started = time.perf_counter()
    for _ in range(inflight):
        proto.send_one()
    try:
        await asyncio.wait_for(done, limit)
    except asyncio.TimeoutError:
        pass  # lost datagrams shrink the window; whatever came back within the limit counts
    elapsed = time.perf_counter() - started
    transport.close()
    return elapsed, proto.latencies, total - len(proto.latencies), proto.refused


def start_ours(port: int, uvloop: bool = True, auth: bool = False) -> subprocess.Popen[bytes]:
    extra = [] if uvloop else ["--no-uvloop"]
    if auth:
        extra += ["--user", AUTH[0], "--password", AUTH[1], "--realm", AUTH[2]]
    command = ["stun-server", "--host", HOST, "--port", str(port), "--no-tcp", "--quiet"]
    return subprocess.Popen(
        [sys.executable, "-m", "pytest_webrtc", *command, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_coturn(port: int, workdir: str, auth: bool = False, threads: int = 0) -> subprocess.Popen[bytes]:
    command = [
        f"--listening-ip={HOST}" if a.startswith("--listening-ip=") else a for a in coturn_stun_command(port, workdir)
    ]
    if auth:
        command += ["--lt-cred-mech", "--secure-stun", f"--user={AUTH[0]}:{AUTH[1]}", f"--realm={AUTH[2]}"]
    if threads:
        command.append(f"--relay-threads={threads}")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process and its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def run_round(name: str, proc: subprocess.Popen[bytes], port: int, args: argparse.Namespace) -> tuple[Result, float]:
    import uvloop

    wait_for_stun(port, process=proc, host=HOST)
    sock = socket.socket(socket.AF_INET6 if ":" in HOST else socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    prepared = signed_requests(sock, (HOST, port), args.requests, args.fingerprint) if args.auth else None
    sock.setblocking(False)
    cpu_before = cpu_seconds(proc.pid)
    elapsed, latencies, lost, refused = uvloop.run(
        load(sock, (HOST, port), args.requests, args.inflight, args.limit, prepared)
    )
    if refused:
        print(f"    {name}: {refused} answers were not a Binding success: this round does not measure the work asked")
    cpu_after = cpu_seconds(proc.pid)
    user, system = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
    cpu = user + system
    latencies.sort()
    answered = max(len(latencies), 1)
    result = Result(
        name,
        len(latencies) / elapsed,
        latencies[answered // 2] * 1000 if latencies else float("nan"),
        latencies[min(answered - 1, int(answered * 0.99))] * 1000 if latencies else float("nan"),
        lost,
    )
    print(f"    {name}: user {user / answered * 1e6:.1f} us/req, system {system / answered * 1e6:.1f} us/req")
    return result, cpu / answered * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit", type=float, default=20.0, help="seconds per round at most")
    parser.add_argument(
        "--fingerprint",
        action="store_true",
        help="requests carry FINGERPRINT (takes the server's generic path, not the plain fast path)",
    )
    parser.add_argument("--ipv6", action="store_true", help="servers and generator on ::1")
    parser.add_argument(
        "--coturn-threads", type=int, default=0, help="coturn's --relay-threads (default: its own choice, one per CPU)"
    )
    parser.add_argument(
        "--auth", action="store_true", help="long-term credentials (coturn: --lt-cred-mech --secure-stun)"
    )
    args = parser.parse_args()
    global REQUEST, HOST
    if args.fingerprint:
        REQUEST = fingerprinted_request
    if args.ipv6:
        HOST = "::1"

    servers = ["pytest-webrtc", "ours-asyncio"]
    if shutil.which("turnserver"):
        servers.append("coturn")
    else:
        print("coturn not installed (apt-get install coturn): measuring our server alone")
    results: dict[str, list[tuple[Result, float]]] = {name: [] for name in servers}
    with tempfile.TemporaryDirectory() as workdir:
        for round_no in range(args.rounds):
            for name in servers if round_no % 2 == 0 else reversed(servers):
                port = free_udp_port()
                if name == "coturn":
                    proc = start_coturn(port, workdir, args.auth, args.coturn_threads)
                else:
                    proc = start_ours(port, uvloop=name == "pytest-webrtc", auth=args.auth)
                try:
                    result, cpu_us = run_round(name, proc, port, args)
                finally:
                    proc.terminate()
                    try:
                        proc.wait(5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                results[name].append((result, cpu_us))
                print(
                    f"round {round_no + 1} {name:14s} {result.rate:9.0f} req/s  p50 {result.p50_ms:.3f} ms  "
                    f"p99 {result.p99_ms:.3f} ms  lost {result.lost}  server CPU {cpu_us:.1f} us/req",
                    flush=True,
                )

    kind = (
        " ".join(
            word
            for word, on in (
                ("IPv6", args.ipv6),
                ("long-term-signed", args.auth),
                ("with FINGERPRINT", args.fingerprint),
            )
            if on
        )
        or "plain"
    )
    print(
        f"\n{args.requests} {kind} Binding requests per round, {args.inflight} in flight, "
        f"{args.rounds} rounds (median):"
    )
    summary = {}
    for name, rows in results.items():
        summary[name] = (
            statistics.median(r.rate for r, _ in rows),
            statistics.median(r.p50_ms for r, _ in rows),
            statistics.median(r.p99_ms for r, _ in rows),
            statistics.median(c for _, c in rows),
        )
        rate, p50, p99, cpu = summary[name]
        print(f"  {name:14s} {rate:9.0f} req/s  p50 {p50:.3f} ms  p99 {p99:.3f} ms  CPU {cpu:.1f} us/req")
    if "coturn" in summary:
        ours, theirs = summary["pytest-webrtc"], summary["coturn"]
        for name in ("pytest-webrtc", "ours-asyncio"):
            ours = summary[name]
            print(
                f"  ratio {name}/coturn: throughput {ours[0] / theirs[0]:.2f}x, "
                f"p99 latency {ours[2] / theirs[2]:.2f}x, CPU per request {ours[3] / theirs[3]:.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
