"""Conformance of a PeerJS server (npm ``peer``'s protocol), from the client side.

The PeerJS server protocol, as its server and client libraries implement it: a client connects
to ``.../peerjs?key=KEY&id=ID&token=TOKEN`` and is told ``OPEN``, or ``ID-TAKEN`` when another
client holds that id; OFFER, ANSWER, CANDIDATE and LEAVE sent with ``dst`` reach that client with
``src`` set by the server; a message to a client that is not connected comes back as ``EXPIRE``
(after the server's expire timeout, 5 s by default); ``HEARTBEAT`` keeps a connection alive and
is not answered.  Each check uses ids unique to the run.  ``python -m pytest_webrtc conformance
signaling --protocol peerjs URL``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ..rules import Finding, Rule, rule
from ..signaling.peerjs import peerjs_url
from .outcome import Fail, judge
from .wsclient import TIMEOUT, JsonPeer

__all__ = ["CHECKS", "RULES", "run_check"]

QUIET = 0.5  # seconds in which nothing must come back
EXPIRE_WAIT = 12.0  # PeerJS expires an undelivered message after 5 s by default; a margin for its timer


@asynccontextmanager
async def _peers(url: str, *names: str, opened: bool = True) -> AsyncIterator[list[JsonPeer]]:
    """Connections with ids unique to this run (each told OPEN first, when ``opened``)."""
    run = uuid.uuid4().hex[:8]
    peers: list[JsonPeer] = []
    try:
        for name in names:
            try:
                ws = await asyncio.wait_for(connect(peerjs_url(url, f"{name}-{run}"), compression=None), TIMEOUT)
            except (OSError, asyncio.TimeoutError) as exc:
                raise Fail(f"cannot connect to {url} as {name}: {exc or 'timeout'}") from None
            peer = JsonPeer(ws, f"{name}-{run}")
            peers.append(peer)
            if opened:
                first = await peer.recv("OPEN")
                if first.get("type") != "OPEN":
                    raise Fail(f"{peer.name} was told {json.dumps(first)[:160]} on connecting, not OPEN")
        yield peers
    finally:
        for peer in peers:
            await peer.ws.close()


async def open_on_connect(url: str) -> str:
    async with _peers(url, "alice", opened=False) as (alice,):
        first = await alice.recv("OPEN")
        if first.get("type") != "OPEN":
            raise Fail(f"on connecting, {alice.name} was told {json.dumps(first)[:160]}, not OPEN")
    return "a connection with key, id and token is told OPEN"


async def id_taken(url: str) -> str:
    async with _peers(url, "alice") as (alice,):
        try:
            ws = await asyncio.wait_for(connect(peerjs_url(url, alice.name), compression=None), TIMEOUT)
        except (OSError, asyncio.TimeoutError) as exc:
            raise Fail(f"cannot connect a second time as {alice.name}: {exc or 'timeout'}") from None
        second = JsonPeer(ws, f"the second {alice.name}")
        try:
            told = await second.recv("ID-TAKEN")
        finally:
            await ws.close()
        if told.get("type") != "ID-TAKEN":
            raise Fail(f"a second connection with the taken id {alice.name} was told {json.dumps(told)[:160]}")
    return "a second connection with an id in use is told ID-TAKEN"


async def relay(url: str) -> str:
    async with _peers(url, "alice", "bob") as (alice, bob):
        sent = {
            "OFFER": {"sdp": {"type": "offer", "sdp": "v=0\r\n"}, "type": "data", "connectionId": "dc_t"},
            "ANSWER": {"sdp": {"type": "answer", "sdp": "v=0\r\n"}, "type": "data", "connectionId": "dc_t"},
            "CANDIDATE": {"candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}, "type": "data"},
        }
        for kind, payload in sent.items():
            # A sender's own src must not stand: the server says who sent it.
            await alice.send({"type": kind, "dst": bob.name, "src": "forged", "payload": payload})
            got = await bob.recv(f"the {kind} {alice.name} sent")
            if got.get("type") != kind or got.get("payload") != payload:
                raise Fail(f"{bob.name} got {json.dumps(got)[:200]} instead of {alice.name}'s {kind}")
            if got.get("src") != alice.name:
                raise Fail(f"{alice.name}'s {kind} reached {bob.name} with src {got.get('src')!r}, not {alice.name!r}")
    return "OFFER, ANSWER and CANDIDATE reach dst intact, src set by the server (a forged src overwritten)"


async def expire(url: str) -> str:
    async with _peers(url, "alice") as (alice,):
        offline = f"offline-{uuid.uuid4().hex[:8]}"
        await alice.send({"type": "OFFER", "dst": offline, "payload": {"sdp": {"type": "offer", "sdp": "v=0"}}})
        told = await alice.recv(f"EXPIRE for {offline}", timeout=EXPIRE_WAIT)
        if told.get("type") != "EXPIRE" or told.get("src") != offline:
            raise Fail(f"an OFFER to the offline {offline} came back as {json.dumps(told)[:160]}, not EXPIRE from it")
    return "a message to a client that is not connected comes back as EXPIRE, src the absent id"


async def heartbeat(url: str) -> str:
    async with _peers(url, "alice", "bob") as (alice, bob):
        await alice.send({"type": "HEARTBEAT"})
        try:  # taken silently: nothing comes back, and the connection stays
            answer = json.loads(await asyncio.wait_for(alice.ws.recv(), QUIET))
        except asyncio.TimeoutError:
            pass
        except ConnectionClosed as exc:
            raise Fail(f"the server closed {alice.name}'s connection after a HEARTBEAT ({exc})") from None
        else:
            raise Fail(f"the server answered a HEARTBEAT with {json.dumps(answer)[:160]}")
        await alice.send({"type": "LEAVE", "dst": bob.name})  # and it still relays
        got = await bob.recv("a LEAVE after alice's HEARTBEAT")
        if got.get("type") != "LEAVE":
            raise Fail(f"after a HEARTBEAT, {bob.name} got {json.dumps(got)[:160]} (the HEARTBEAT was relayed?)")
    return "HEARTBEAT is taken silently and the connection goes on"


async def leave(url: str) -> str:
    async with _peers(url, "alice", "bob") as (alice, bob):
        await alice.send({"type": "LEAVE", "dst": bob.name})
        got = await bob.recv(f"{alice.name}'s LEAVE")
        if got.get("type") != "LEAVE" or got.get("src") != alice.name:
            raise Fail(f"{alice.name}'s LEAVE reached {bob.name} as {json.dumps(got)[:160]}")
    return "LEAVE reaches dst, src set"


Check = Callable[[str], Awaitable[str]]
_OWN: tuple[tuple[Rule, Check], ...] = (
    (rule("peerjs.open", "peerjs §open", "a connection with key, id and token is told OPEN"), open_on_connect),
    (rule("peerjs.id-taken", "peerjs §open", "a second connection with an id in use is told ID-TAKEN"), id_taken),
    (rule("peerjs.relay", "peerjs §relay", "OFFER, ANSWER, CANDIDATE reach dst intact, with src set by the server"),
     relay),
    (rule("peerjs.expire", "peerjs §expire", "a message to a client that is not connected comes back as EXPIRE"),
     expire),
    (rule("peerjs.heartbeat", "peerjs §heartbeat", "HEARTBEAT is taken silently; the connection goes on"), heartbeat),
    (rule("peerjs.leave", "peerjs §relay", "LEAVE reaches dst with src set"), leave),
)  # fmt: skip
RULES: dict[str, Rule] = {r.id: r for r, _ in _OWN}
CHECKS: dict[str, Check] = {r.id: c for r, c in _OWN}


async def run_check(rule_id: str, url: str) -> Finding:
    return await judge(rule_id, CHECKS[rule_id](url))
