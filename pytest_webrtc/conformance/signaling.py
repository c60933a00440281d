"""Conformance checks of a signaling server that claims our protocol (docs/signaling.md), as a client.

Each check opens its own WebSocket connections in rooms named uniquely for the run, so it can
run against a shared server.  Used by the scenario step ``signaling-conformance``, the suite
``scenarios/conformance/signaling/`` and ``python -m pytest_webrtc conformance signaling URL``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from websockets.asyncio.client import connect

from ..rules import Finding, Rule, rule
from .outcome import Fail as _Fail
from .outcome import judge
from .wsclient import TIMEOUT, JsonPeer

__all__ = ["CHECKS", "RULES", "run_check"]


class _Client(JsonPeer):
    async def expect(self, kind: str, **fields: Any) -> dict[str, Any]:
        message = await self.recv(f"a {kind!r} message")
        if message.get("type") != kind:
            raise _Fail(f"{self.name} expected {kind!r}, got {json.dumps(message)[:200]}")
        for key, value in fields.items():
            if message.get(key) != value:
                raise _Fail(f"{self.name}'s {kind!r} has {key}={message.get(key)!r}, expected {value!r}")
        return message

    async def quiet(self) -> None:
        """Nothing is pending: a round trip through the server (a bad-json reply) comes back first."""
        await self.send("{not json")
        reply = await self.recv("the reply to a probe")
        if reply.get("type") != "error":
            raise _Fail(f"{self.name} received {json.dumps(reply)[:200]}, which was not for it")


class _Session:
    def __init__(self, url: str, stack: AsyncExitStack) -> None:
        self.url, self.stack = url, stack
        self.room = f"conformance-{uuid.uuid4().hex[:12]}"

    async def client(self, name: str, room: str | None = None, join: bool = True) -> _Client:
        try:
            ws = await asyncio.wait_for(connect(self.url, compression=None, ping_interval=None), TIMEOUT)
        except (OSError, asyncio.TimeoutError) as exc:
            raise _Fail(f"cannot connect to {self.url}: {exc or 'timeout'}") from None
        self.stack.push_async_callback(ws.close)
        client = _Client(ws, name)
        if join:
            await client.send({"type": "join", "room": room or self.room, "peer": name, "version": 1})
            await client.expect("joined", peer=name, room=room or self.room)
        return client


async def join(s: _Session) -> str:
    alice = await s.client("alice")
    bob = await s.client("bob", join=False)
    await bob.send({"type": "join", "room": s.room, "peer": "bob", "version": 1})
    joined = await bob.expect("joined", peer="bob", room=s.room)
    if joined.get("peers") != ["alice"]:
        raise _Fail(f"joined lists peers {joined.get('peers')!r}, expected ['alice']")
    await alice.expect("peer-joined", peer="bob")
    return "joined lists the peers already there; they get peer-joined"


async def relay(s: _Session) -> str:
    alice, bob = await s.client("alice"), await s.client("bob")
    await alice.expect("peer-joined", peer="bob")
    messages: list[dict[str, Any]] = [
        {"type": "offer", "to": "bob", "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n"},
        {
            "type": "candidate",
            "to": "bob",
            "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
        },
        {"type": "end-of-candidates", "to": "bob"},
        {"type": "bye", "to": "bob", "extra": {"kept": True}},
    ]
    for message in messages:
        await alice.send({**message, "from": "mallory"})  # the server must set "from" itself
        got = await bob.recv(f"the relayed {message['type']}")
        if got != {**message, "from": "alice"}:
            raise _Fail(f"relayed {json.dumps(got)[:200]}, expected {json.dumps({**message, 'from': 'alice'})[:200]}")
    await bob.send({"type": "answer", "to": "alice", "sdp": "v=0\r\n"})
    await alice.expect("answer", sdp="v=0\r\n", **{"from": "bob"})
    return "offer, answer, candidate, end-of-candidates, bye relayed intact with the sender's id as from"


async def isolation(s: _Session) -> str:
    other = f"{s.room}-other"
    red_a, red_b = await s.client("a"), await s.client("b")
    blue_a, blue_b = await s.client("a", other), await s.client("b", other)
    await red_a.expect("peer-joined", peer="b")
    await blue_a.expect("peer-joined", peer="b")
    await red_a.send({"type": "offer", "to": "b", "sdp": "red"})
    await red_b.expect("offer", sdp="red")
    await blue_a.send({"type": "offer", "to": "b", "sdp": "blue"})
    await blue_b.expect("offer", sdp="blue")
    for client in (red_a, red_b, blue_a, blue_b):
        await client.quiet()
    return "two rooms with the same peer ids: nothing crossed"


async def errors(s: _Session) -> str:
    stranger = await s.client("stranger", join=False)
    await stranger.send({"type": "offer", "to": "x", "sdp": "v=0"})
    await stranger.expect("error", code="not-joined")
    alice = await s.client("alice")
    cases = [
        ("{not json", "bad-json"),
        (json.dumps({"type": "teleport"}), "unknown-type"),
        (json.dumps({"type": "offer", "sdp": "v=0"}), "bad-message"),
        (json.dumps({"type": "offer", "to": "nobody", "sdp": "v=0"}), "unknown-peer"),
        (json.dumps({"type": "join", "room": s.room, "peer": "again"}), "already-joined"),
    ]
    for frame, code in cases:
        await alice.send(frame)
        reply = await alice.expect("error", code=code)
        if not isinstance(reply.get("reason"), str) or not reply["reason"]:
            raise _Fail(f"the {code} error has no reason")
    twin = await s.client("twin", join=False)
    await twin.send({"type": "join", "room": s.room, "peer": "alice"})
    await twin.expect("error", code="duplicate-peer")
    bob = await s.client("bob")
    await alice.expect("peer-joined", peer="bob")
    await alice.send({"type": "offer", "to": "bob", "sdp": "still usable"})
    await bob.expect("offer", sdp="still usable")
    return "not-joined, bad-json, unknown-type, bad-message, unknown-peer, already-joined, duplicate-peer; still usable"


async def leave(s: _Session) -> str:
    alice, bob, carol = await s.client("alice"), await s.client("bob"), await s.client("carol")
    await alice.expect("peer-joined", peer="bob")
    await alice.expect("peer-joined", peer="carol")
    await bob.expect("peer-joined", peer="carol")
    await bob.send({"type": "leave"})
    await bob.expect("left")
    await alice.expect("peer-left", peer="bob")
    await carol.expect("peer-left", peer="bob")
    await carol.ws.close()
    await alice.expect("peer-left", peer="carol")
    return "leave and disconnect both announce peer-left to the room"


Check = Callable[[_Session], Awaitable[str]]
RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        rule("signaling.join", "signaling v1 §join", "joined lists the peers already there; they get peer-joined"),
        rule("signaling.relay", "signaling v1 §relay", "messages are relayed intact, with the sender's id as from"),
        rule("signaling.isolation", "signaling v1 §rooms", "nothing crosses between rooms"),
        rule("signaling.errors", "signaling v1 §errors", "bad input gets the documented error codes; still usable"),
        rule("signaling.leave", "signaling v1 §leave", "leave and disconnect both announce peer-left to the room"),
    )
}
CHECKS: dict[str, Check] = {
    "signaling.join": join,
    "signaling.relay": relay,
    "signaling.isolation": isolation,
    "signaling.errors": errors,
    "signaling.leave": leave,
}


async def run_check(rule_id: str, url: str) -> Finding:
    """Judge one rule of ``RULES`` against the signaling server at ``url``."""
    async with AsyncExitStack() as stack:
        return await judge(rule_id, CHECKS[rule_id](_Session(url, stack)))
