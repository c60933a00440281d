"""Bounded live fuzzers for the harness's own servers: mutated traffic, then a health check.

``fuzz_stun(server, count, seed)`` sends ``count`` mutated datagrams (bit flips, truncations,
bad lengths, attribute-header overruns, duplicates, random bytes, empty and maximal datagrams) and as
many mutated TCP frames to a running :class:`~pytest_webrtc.stun.server.StunServer`;
``fuzz_signaling(url, count, seed)`` sends mutated JSON frames to a signaling server.  Both end
with a health check (a correct request must still be answered) and return what happened.  Every
loop is bounded by ``count``; traffic goes only to the address given (tests use loopback).
``bench/fuzz.py`` runs them for a million inputs; the test suite for a few thousand.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import socket
import struct
from dataclasses import dataclass

from .addresses import Address
from .stun.client import binding_request, request
from .stun.message import Message, MessageClass

__all__ = ["FuzzReport", "fuzz_signaling", "fuzz_stun", "mutate", "rss_kb"]


def rss_kb() -> int:
    """This process's current resident set size, in kB (Linux)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() // 1024
    except OSError:
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


@dataclass
class FuzzReport:
    sent: int = 0
    answered: int = 0
    healthy: bool = False  # a correct request was answered afterwards (UDP, and TCP when given)
    health: str = ""  # what that answer was: "success", "error 401", ...
    rss_before_kb: int = 0
    rss_after_kb: int = 0

    @property
    def rss_growth_kb(self) -> int:
        return self.rss_after_kb - self.rss_before_kb


def _seeds() -> list[bytes]:
    return [
        binding_request().encode(),
        binding_request().encode(fingerprint=True),
        binding_request(SOFTWARE="fuzz", USERNAME="u:v").encode(integrity_key=b"k", fingerprint=True),
        binding_request(CHANGE_REQUEST=6, RESPONSE_PORT=5000, PADDING=bytes(9)).encode(fingerprint=True),
        Message(1, MessageClass.INDICATION).encode(),
        Message(1, MessageClass.SUCCESS).add("XOR-MAPPED-ADDRESS", ("127.0.0.1", 1)).encode(),
    ]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One mutation: bit flips, truncation, insertion, a bad length, an attribute header overrun,
    a duplicated attribute, random bytes, the empty datagram or a maximal one."""
    buf = bytearray(data)
    op = rng.randrange(10)
    if op == 0 and buf:
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif op == 1 and buf:
        del buf[rng.randrange(len(buf)) :]
    elif op == 2:
        pos = rng.randrange(len(buf) + 1)
        buf[pos:pos] = rng.randbytes(rng.randint(1, 64))
    elif op == 3 and len(buf) >= 4:
        buf[2:4] = rng.randrange(0x10000).to_bytes(2, "big")
    elif op == 4 and len(buf) > 24:
        pos = 20 + 4 * rng.randrange((len(buf) - 20) // 4)
        buf[pos : pos + 4] = struct.pack("!HH", rng.randrange(0x10000), rng.randrange(0x10000))
    elif op == 5 and len(buf) > 24:
        buf += buf[20:]  # every attribute twice
        buf[2:4] = (len(buf) - 20).to_bytes(2, "big")
    elif op == 6:
        return rng.randbytes(rng.randint(0, 200))
    elif op == 7:
        return b""
    elif op == 8:
        body = rng.randbytes(rng.randint(0, 60_000) & ~3)
        return data[:2] + len(body).to_bytes(2, "big") + data[4:20] + body
    else:
        count = rng.randint(1, 2000)  # many unknown attributes in one message
        body = b"".join(struct.pack("!HH", rng.randrange(0x10000), 0) for _ in range(count))
        return data[:2] + len(body).to_bytes(2, "big") + data[4:20] + body
    return bytes(buf)


async def fuzz_stun(udp: Address, tcp: Address | None, count: int, seed: int = 8489) -> FuzzReport:
    rng = random.Random(seed)
    seeds = _seeds()
    report = FuzzReport(rss_before_kb=rss_kb())
    with socket.socket(socket.AF_INET6 if ":" in udp[0] else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for i in range(count):
            data = mutate(rng, rng.choice(seeds))[:65_507]
            try:
                sock.sendto(data, udp)
            except OSError:
                continue
            report.sent += 1
            if i % 64 == 0:  # drain answers now and then: the socket buffer must not fill
                await asyncio.sleep(0)
                while True:
                    try:
                        sock.recv(65_535)
                        report.answered += 1
                    except BlockingIOError:
                        break
    if tcp is not None:
        for _ in range(max(1, count // 100)):  # a connection per batch of frames, each closed after
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(*tcp), 5)
            except (OSError, asyncio.TimeoutError):
                continue
            writer.write(b"".join(mutate(rng, rng.choice(seeds)) for _ in range(100)))
            try:
                await asyncio.wait_for(writer.drain(), 5)
            except (OSError, asyncio.TimeoutError):
                pass
            writer.close()
            report.sent += 100
    report.healthy, report.health = await _healthy_stun(udp, tcp)
    report.rss_after_kb = rss_kb()
    return report


async def _healthy_stun(udp: Address, tcp: Address | None) -> tuple[bool, str]:
    """A plain Binding request is answered (a success, or the 401 of a server that needs credentials)."""
    answers = []
    try:
        answers.append(await request(binding_request().encode(), udp, rto=0.2, transmissions=5, final_wait=4))
        if tcp is not None:
            answers.append(await request(binding_request().encode(), tcp, transport="tcp", rto=0.5, final_wait=10))
    except Exception as exc:
        return False, f"no answer: {exc}"
    kinds = {
        "success" if a.message.message_class == MessageClass.SUCCESS else f"error {a.message.error_code}"
        for a in answers
    }
    return len(kinds) == 1, ", ".join(sorted(kinds))


def _mutate_json(rng: random.Random) -> str | bytes:
    base: dict[str, object] = rng.choice(
        [
            {"type": "join", "room": "fuzz", "peer": "p"},
            {"type": "offer", "to": "p", "sdp": "v=0"},
            {"type": "candidate", "to": "p", "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"},
            {"type": "bye", "to": "p"},
            {"type": "leave"},
        ]
    )
    op = rng.randrange(8)
    text = json.dumps(base)
    if op == 0:
        chars = list(text)
        for _ in range(rng.randint(1, 5)):
            chars[rng.randrange(len(chars))] = chr(rng.randrange(0x20, 0x3000))
        return "".join(chars)
    if op == 1:
        return text[: rng.randrange(len(text))]
    if op == 2:
        key = rng.choice(list(base))
        return json.dumps({**base, key: rng.choice([None, 1, [], {}, "x" * rng.randint(0, 70_000), True])})
    if op == 3:
        return rng.choice(["[", '{"a":']) * rng.randint(1, 12_000)
    if op == 4:
        return text.encode()  # a binary frame
    if op == 5:
        return '{"type": "offer", "to": "p", "sdp": NaN}'
    if op == 6:
        return json.dumps({**base, "room": "\u0000" * rng.randint(1, 3), "peer": rng.choice(["", "a b", "é"])})
    return "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randint(0, 200)))


async def fuzz_signaling(url: str, count: int, seed: int = 1) -> FuzzReport:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake

    rng = random.Random(seed)
    report = FuzzReport(rss_before_kb=rss_kb())
    ws = None
    for _ in range(count):
        if ws is None:
            try:
                ws = await asyncio.wait_for(connect(url, compression=None, max_queue=None), 5)
            except (OSError, asyncio.TimeoutError, InvalidHandshake):
                continue
        try:
            await ws.send(_mutate_json(rng))
            report.sent += 1
        except ConnectionClosed:
            ws = None
    if ws is not None:
        await ws.close()
    report.healthy = await _healthy_signaling(url)
    report.rss_after_kb = rss_kb()
    return report


async def _healthy_signaling(url: str) -> bool:
    from websockets.asyncio.client import connect

    try:
        async with connect(url, compression=None) as a, connect(url, compression=None) as b:
            await a.send(json.dumps({"type": "join", "room": "health", "peer": "a"}))
            await b.send(json.dumps({"type": "join", "room": "health", "peer": "b"}))
            for ws in (a, b):
                assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "joined"
            await a.send(json.dumps({"type": "offer", "to": "b", "sdp": "v=0"}))
            while json.loads(await asyncio.wait_for(b.recv(), 5))["type"] != "offer":
                pass
        return True
    except Exception:
        return False
