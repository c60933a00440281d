"""The signaling server on real WebSockets: relay, rooms, and every kind of bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from pytest_webrtc.signaling.server import SignalingServer


@pytest.fixture
async def server() -> AsyncIterator[SignalingServer]:
    async with SignalingServer(max_message=4096, hard_limit=65536) as srv:
        yield srv


class Client:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def recv(self, timeout: float = 3.0) -> dict[str, Any]:
        try:
            return dict(json.loads(await asyncio.wait_for(self.ws.recv(), timeout)))
        except asyncio.TimeoutError:
            raise AssertionError(f"no message within {timeout} s") from None

    async def nothing(self) -> None:
        """Assert nothing is pending: a round trip through the server proves it processed everything before."""
        await self.send("not json")
        reply = await self.recv()
        assert reply["code"] == "bad-json", reply


@pytest.fixture
async def connect_client(server: SignalingServer) -> AsyncIterator[Any]:
    opened: list[ClientConnection] = []

    async def make(room: str | None = None, peer: str | None = None) -> Client:
        ws = await connect(server.url)
        opened.append(ws)
        client = Client(ws)
        if room is not None:
            await client.send({"type": "join", "room": room, "peer": peer})
            joined = await client.recv()
            assert joined["type"] == "joined", joined
        return client

    yield make
    for ws in opened:
        await ws.close()


async def test_join_relay_and_notices(server: SignalingServer, connect_client: Any) -> None:
    alice = await connect_client("r", "alice")
    bob = await connect_client()
    await bob.send({"type": "join", "room": "r", "peer": "bob", "version": 1})
    assert await bob.recv() == {"type": "joined", "room": "r", "peer": "bob", "peers": ["alice"], "version": 1}
    assert await alice.recv() == {"type": "peer-joined", "peer": "bob"}
    for message in (
        {"type": "offer", "to": "bob", "sdp": "v=0..."},
        {
            "type": "candidate",
            "to": "bob",
            "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
        },
        {"type": "end-of-candidates", "to": "bob"},
        {"type": "bye", "to": "bob"},
    ):
        await alice.send(message)
        assert await bob.recv() == {**message, "from": "alice"}
    relayed = [(r.sender, r.recipient, r.type) for r in server.relayed]
    assert relayed[-4:] == [("alice", "bob", t) for t in ("offer", "candidate", "end-of-candidates", "bye")]
    assert server.error_count == 0


async def test_leave_and_disconnect_notify_the_room(server: SignalingServer, connect_client: Any) -> None:
    alice = await connect_client("r", "alice")
    bob = await connect_client("r", "bob")
    carol = await connect_client("r", "carol")
    assert (await alice.recv())["peer"] == "bob"
    assert (await alice.recv())["peer"] == "carol"
    assert (await bob.recv())["peer"] == "carol"
    await bob.send({"type": "leave"})
    assert await bob.recv() == {"type": "left"}
    assert await alice.recv() == {"type": "peer-left", "peer": "bob"}
    assert await carol.recv() == {"type": "peer-left", "peer": "bob"}
    await carol.ws.close()
    assert await alice.recv() == {"type": "peer-left", "peer": "carol"}
    assert server.rooms == {"r": {"alice": server.rooms["r"]["alice"]}}


async def test_rooms_are_isolated(server: SignalingServer, connect_client: Any) -> None:
    red_a, red_b = await connect_client("red", "a"), await connect_client("red", "b")
    blue_a, blue_b = await connect_client("blue", "a"), await connect_client("blue", "b")
    assert (await red_a.recv())["peer"] == "b"
    assert (await blue_a.recv())["peer"] == "b"
    await red_a.send({"type": "offer", "to": "b", "sdp": "red"})
    assert (await red_b.recv())["sdp"] == "red"
    await blue_a.send({"type": "offer", "to": "b", "sdp": "blue"})
    assert (await blue_b.recv())["sdp"] == "blue"
    # Nothing of one room reached the other: each inbox holds nothing more.
    for client in (red_a, red_b, blue_a, blue_b):
        await client.nothing()
    assert {r.room for r in server.relayed if r.type == "offer"} == {"red", "blue"}
    assert [r.payload["sdp"] for r in server.relayed if r.type == "offer" and r.room == "red"] == ["red"]


@pytest.mark.parametrize(
    "frame, code, detail",
    [
        ("{not json", "bad-json", "not JSON"),
        ("[1, 2]", "bad-json", "expected a JSON object"),
        ('{"type": "teleport"}', "unknown-type", "unknown message type 'teleport'"),
        ('{"type": "offer", "sdp": "v=0"}', "bad-message", "'to' is a required property"),
        ('{"type": "candidate", "to": "b", "candidate": 5}', "bad-message", "candidate: 5 is not of type 'string'"),
        ('{"type": "offer", "to": "nobody", "sdp": "v=0"}', "unknown-peer", "no peer 'nobody' in room 'r'"),
        ('{"type": "join", "room": "r", "peer": "x"}', "already-joined", "already joined room 'r'"),
        ('{"type": "offer", "to": "b", "sdp": "' + "x" * 5000 + '"}', "too-large", "the limit is 4096"),
    ],
    ids=[
        "malformed-json",
        "not-object",
        "unknown-type",
        "missing-field",
        "wrong-type",
        "unknown-peer",
        "already-joined",
        "oversized",
    ],
)
async def test_bad_input_gets_an_error_and_the_connection_stays_usable(
    server: SignalingServer, connect_client: Any, frame: str, code: str, detail: str
) -> None:
    alice = await connect_client("r", "alice")
    bob = await connect_client("r", "b")
    await alice.recv()  # peer-joined b
    await alice.send(frame)
    error = await alice.recv()
    assert error["type"] == "error" and error["code"] == code
    assert detail in error["reason"]
    assert server.errors[code] == 1
    # Still usable: a valid relay goes through afterwards.
    await alice.send({"type": "offer", "to": "b", "sdp": "after"})
    assert (await bob.recv())["sdp"] == "after"


async def test_messages_before_join_are_refused(connect_client: Any) -> None:
    client = await connect_client()
    await client.send({"type": "offer", "to": "b", "sdp": "x"})
    error = await client.recv()
    assert (error["code"], error["in-reply-to"]) == ("not-joined", "offer")
    await client.send({"type": "join", "room": "r", "peer": "late"})
    assert (await client.recv())["type"] == "joined"


async def test_duplicate_peer_id_is_refused_and_the_original_kept(server: SignalingServer, connect_client: Any) -> None:
    first = await connect_client("r", "alice")
    second = await connect_client()
    await second.send({"type": "join", "room": "r", "peer": "alice"})
    error = await second.recv()
    assert error["code"] == "duplicate-peer"
    await second.send({"type": "join", "room": "r", "peer": "alice2"})  # may retry with another id
    assert (await second.recv())["type"] == "joined"
    assert (await first.recv()) == {"type": "peer-joined", "peer": "alice2"}


async def test_frame_beyond_the_websocket_limit_closes_with_1009(server: SignalingServer, connect_client: Any) -> None:
    client = await connect_client("r", "alice")
    await client.send("x" * 70000)
    with pytest.raises(ConnectionClosed) as info:
        await client.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    other = await connect_client("r", "bob")  # the server itself is fine
    assert other is not None
