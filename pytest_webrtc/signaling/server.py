"""The signaling server: WebSocket rooms relaying offer/answer/candidates between named peers.

    server = SignalingServer()              # 127.0.0.1, port 0
    await server.start(); server.url        # 'ws://127.0.0.1:40411'
    server.relayed                          # every relayed message, in order
    await server.stop()

Bad input gets an ``error`` reply and the connection stays usable; a frame
beyond the WebSocket limit (``hard_limit``) closes it with 1009, as
WebSocket says.  Nothing crosses from one room to another.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from ..addresses import format_hostport
from .protocol import PROTOCOL_VERSION, RELAYED, ProtocolError, RelayRecord, parse_client_message

__all__ = ["RelayRecord", "SignalingServer"]

log = logging.getLogger("pytest_webrtc.signaling")


@dataclass
class _Client:
    connection: ServerConnection
    room: str | None = None
    peer: str | None = None


@dataclass
class SignalingServer:
    host: str = "127.0.0.1"
    port: int = 0
    max_message: int = 64 * 1024  # protocol limit: larger messages get "too-large"
    hard_limit: int = 1024 * 1024  # WebSocket frame limit: larger frames close the connection
    relayed: list[RelayRecord] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    rooms: dict[str, dict[str, _Client]] = field(default_factory=dict)
    _server: Server | None = None
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the signaling server is not started")
        host, port = self.address
        return f"ws://{format_hostport((host, port))}"

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the signaling server is not started")
        sockname = next(iter(self._server.sockets)).getsockname()
        return sockname[0], sockname[1]

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    async def start(self) -> SignalingServer:
        self._server = await serve(
            self._handle, self.host, self.port, max_size=self.hard_limit, compression=None, ping_interval=None
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), 10)
            self._server = None

    async def __aenter__(self) -> SignalingServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- connections -------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        client = _Client(connection)
        try:
            async for frame in connection:
                await self._on_frame(client, frame)
        except ConnectionClosed:
            pass
        finally:
            await self._leave(client)

    async def _on_frame(self, client: _Client, frame: str | bytes) -> None:
        try:
            if len(frame) > self.max_message:
                raise ProtocolError("too-large", f"{len(frame)} bytes, the limit is {self.max_message}")
            message = parse_client_message(frame)
            await self._dispatch(client, message)
        except ProtocolError as exc:
            self.errors[exc.code] += 1
            log.info("error to %s: %s %s", client.peer or "?", exc.code, exc.reason)
            await self._send(client, exc.as_message())

    async def _dispatch(self, client: _Client, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "join":
            await self._join(client, message["room"], message["peer"])
            return
        if client.room is None or client.peer is None:
            raise ProtocolError("not-joined", "join a room first", kind)
        if kind == "leave":
            await self._leave(client)
            await self._send(client, {"type": "left"})
            return
        assert kind in RELAYED
        room = self.rooms.get(client.room, {})
        target = room.get(message["to"])
        if target is None:
            raise ProtocolError("unknown-peer", f"no peer {message['to']!r} in room {client.room!r}", kind)
        relayed = {**message, "from": client.peer}
        self._record(client.room, client.peer, message["to"], kind, relayed)
        await self._send(target, relayed)

    async def _join(self, client: _Client, room_name: str, peer: str) -> None:
        if client.room is not None:
            raise ProtocolError("already-joined", f"already joined room {client.room!r} as {client.peer!r}", "join")
        room = self.rooms.setdefault(room_name, {})
        if peer in room:
            raise ProtocolError("duplicate-peer", f"peer id {peer!r} is taken in room {room_name!r}", "join")
        others = sorted(room)
        room[peer] = client
        client.room, client.peer = room_name, peer
        self._record(room_name, peer, "server", "join", {"type": "join", "room": room_name, "peer": peer})
        await self._send(
            client, {"type": "joined", "room": room_name, "peer": peer, "peers": others, "version": PROTOCOL_VERSION}
        )
        await self._notify(room_name, peer, "peer-joined")

    async def _leave(self, client: _Client) -> None:
        if client.room is None or client.peer is None:
            return
        room_name, peer = client.room, client.peer
        room = self.rooms.get(room_name, {})
        if room.get(peer) is client:
            del room[peer]
            if not room:
                del self.rooms[room_name]
        client.room = client.peer = None
        self._record(room_name, peer, "server", "leave", {"type": "leave"})
        await self._notify(room_name, peer, "peer-left")

    async def _notify(self, room_name: str, peer: str, kind: str) -> None:
        for other_id, other in list(self.rooms.get(room_name, {}).items()):
            if other_id != peer:
                notice = {"type": kind, "peer": peer}
                self._record(room_name, "server", other_id, kind, notice)
                await self._send(other, notice)

    def _record(self, room: str, sender: str, recipient: str, kind: str, payload: dict[str, Any]) -> None:
        self.relayed.append(RelayRecord(time.time(), room, sender, recipient, kind, payload))
        log.info("%s %s -> %s %s", room, sender, recipient, kind)
        self.wake_waiters()

    def wake_waiters(self) -> None:
        """Make ``wait_until`` re-check its predicate (after a record, or when something else changed)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait (in the server's own loop) until ``predicate()`` holds after some record; bounded by ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            left = deadline - loop.time()
            try:
                await asyncio.wait_for(waiter, max(left, 0))
            except asyncio.TimeoutError:
                raise TimeoutError(f"{what} did not happen within {timeout:g} s") from None

    @staticmethod
    async def _send(client: _Client, message: dict[str, Any]) -> None:
        try:
            await client.connection.send(json.dumps(message))
        except ConnectionClosed:
            pass
