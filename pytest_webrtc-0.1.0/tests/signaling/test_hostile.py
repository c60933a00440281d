"""The signaling server against hostile or slow clients: nobody blocks a room, every limit is counted.

Each test holds a defect measured on the old server (issue 18) and fails on that code.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from pytest_webrtc.signaling.server import SignalingServer


async def joined(url: str, room: str, peer: str) -> ClientConnection:
    # max_queue=None: a test client keeps everything it has not read yet, so closing never waits on it.
    ws = await connect(url, compression=None, ping_interval=None, max_queue=None)
    await ws.send(json.dumps({"type": "join", "room": room, "peer": peer}))
    reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert reply["type"] == "joined", reply
    return ws


async def next_of(ws: ClientConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), max(end - time.monotonic(), 0.01)))
        if message["type"] == kind:
            return dict(message)


class RawClient:
    """A WebSocket client that does the opening handshake and then never reads: the slow consumer.

    (asyncio's stream stops reading from the socket once ``limit`` bytes wait unread.)
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, address: tuple[str, int]) -> RawClient:
        reader, writer = await asyncio.open_connection(*address, limit=1024)
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET / HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b" 101 " in head.split(b"\r\n")[0], head
        return cls(reader, writer)

    def send_text(self, text: str) -> None:
        payload, mask = text.encode(), os.urandom(4)
        if len(payload) > 125:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
        else:
            header = struct.pack("!BB", 0x81, 0x80 | len(payload))
        self.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def server() -> AsyncIterator[SignalingServer]:
    async with SignalingServer(send_queue=200, relay_log=1000) as srv:
        yield srv


async def test_a_peer_that_never_reads_is_cut_off_and_stalls_nobody(server: SignalingServer) -> None:
    hog = await RawClient.open(server.address)
    hog.send_text(json.dumps({"type": "join", "room": "r", "peer": "hog"}))
    alice = await joined(server.url, "r", "alice")
    bob = await joined(server.url, "r", "bob")
    big = "v=0\r\n" + "a" * 8000
    for _ in range(2000):  # far more than the hog's queue and its TCP buffers hold
        await alice.send(json.dumps({"type": "offer", "to": "hog", "sdp": big}))
    started = time.monotonic()
    await alice.send(json.dumps({"type": "offer", "to": "bob", "sdp": "v=0\r\n"}))
    offer = await next_of(bob, "offer")
    assert offer["from"] == "alice" and time.monotonic() - started < 2.0
    for _ in range(500):
        if server.slow_consumers:
            break
        await asyncio.sleep(0.01)  # polling the server's counter, bounded
    assert server.slow_consumers == 1
    left = await next_of(alice, "peer-left", timeout=10)
    assert left["peer"] == "hog"
    hog.close()
    await alice.close()
    await bob.close()


async def test_every_join_notice_is_delivered_to_everyone(server: SignalingServer) -> None:
    clients = [await joined(server.url, "many", f"p{i}") for i in range(60)]
    for i, ws in enumerate(clients[:-1]):
        notices = [await next_of(ws, "peer-joined") for _ in range(len(clients) - 1 - i)]
        assert [n["peer"] for n in notices] == [f"p{j}" for j in range(i + 1, len(clients))]
    await asyncio.gather(*(ws.close() for ws in clients))


async def test_the_relay_log_is_bounded_and_keeps_the_latest() -> None:
    async with SignalingServer(relay_log=50) as server:
        alice, bob = await joined(server.url, "r", "alice"), await joined(server.url, "r", "bob")
        for i in range(200):
            await alice.send(json.dumps({"type": "offer", "to": "bob", "sdp": f"v=0 #{i}"}))
        await next_of(bob, "offer")
        for _ in range(199):
            await next_of(bob, "offer")
        assert len(server.relayed) == 50 and server.relayed[-1].payload["sdp"] == "v=0 #199"
        await alice.close()
        await bob.close()


async def error_for(ws: ClientConnection, frame: str | bytes) -> dict[str, Any]:
    await ws.send(frame)
    return await next_of(ws, "error")


async def test_the_size_limit_is_counted_in_bytes(server: SignalingServer) -> None:
    alice, bob = await joined(server.url, "r", "alice"), await joined(server.url, "r", "bob")
    reply = await error_for(alice, json.dumps({"type": "offer", "to": "bob", "sdp": "é" * 40_000}, ensure_ascii=False))
    assert reply["code"] == "too-large" and "bytes" in reply["reason"]
    await alice.close()
    await bob.close()


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        ('{"a":' * 12_000, "nested too deeply"),
        ("[" * 60_000, "nested too deeply"),
        ('{"type": "offer", "to": "bob", "sdp": "v=0", "x": NaN}', "NaN is not JSON"),
        ('{"type": "offer", "to": "bob", "sdp": "v=0", "x": -Infinity}', "-Infinity is not JSON"),
        (b'{"type": "offer", "to": "bob", "sdp": "v=0"}', "a binary frame"),
    ],
    ids=["deep-object", "deep-array", "nan", "infinity", "binary"],
)
async def test_bad_json_of_every_kind_is_answered_and_the_connection_stays(
    server: SignalingServer, frame: str | bytes, words: str
) -> None:
    alice, bob = await joined(server.url, "r", "alice"), await joined(server.url, "r", "bob")
    reply = await error_for(alice, frame)
    assert reply["code"] == "bad-json" and words in reply["reason"], reply
    await alice.send(json.dumps({"type": "offer", "to": "bob", "sdp": "v=0"}))
    assert (await next_of(bob, "offer"))["from"] == "alice"  # still usable
    await alice.close()
    await bob.close()


async def test_room_names_follow_the_rule_of_peer_ids(server: SignalingServer) -> None:
    ws = await connect(server.url, compression=None, ping_interval=None)
    reply = await error_for(ws, json.dumps({"type": "join", "room": "\u0000", "peer": "alice"}))
    assert reply["code"] == "bad-message" and "room" in reply["reason"]
    await ws.close()


async def test_a_connection_that_never_joins_is_closed() -> None:
    async with SignalingServer(join_timeout=0.3) as server:
        ws = await connect(server.url, compression=None, ping_interval=None)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert server.join_timeouts == 1


async def test_a_peer_that_answers_no_ping_is_closed() -> None:
    async with SignalingServer(ping_interval=0.2, ping_timeout=0.2) as server:
        mute = await RawClient.open(server.address)  # never reads, so never answers a ping
        mute.send_text(json.dumps({"type": "join", "room": "r", "peer": "mute"}))
        alice = await joined(server.url, "r", "alice")
        left = await next_of(alice, "peer-left", timeout=5)
        assert left["peer"] == "mute"
        mute.close()
        await alice.close()
