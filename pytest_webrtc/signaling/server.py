"""The signaling server: WebSocket rooms relaying offer/answer/candidates between named peers.

    server = SignalingServer()              # 127.0.0.1, port 0
    await server.start(); server.url        # 'ws://127.0.0.1:40411'
    server.relayed                          # every relayed message, in order
    await server.stop()

Bad input gets an ``error`` reply and the connection stays usable; a frame
beyond the WebSocket limit (``hard_limit``) closes it with 1009, as
WebSocket says.  Nothing crosses from one room to another.

Bounded (docs/reliability.md): each connection has its own outgoing queue of ``send_queue``
messages, drained by its own task, so a peer that never reads delays nobody — when its queue is
full its connection is cut (``slow_consumers``: it reads nothing, not even a close frame); the relay log keeps the last ``relay_log``
records; a connection that has not joined within ``join_timeout`` is closed with 1008; WebSocket
pings find dead peers (``ping_interval``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, deque
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
    queue: deque[str] = field(default_factory=deque)  # frames waiting for this connection's writer
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # the queue has frames
    writer: asyncio.Task[None] | None = None
    closing: bool = False  # closed for not reading: nothing more is queued

    async def drain(self) -> None:
        """The connection's own writer: a slow reader waits here, and nowhere else."""
        try:
            while True:
                await self.ready.wait()
                while self.queue:
                    await self.connection.send(self.queue.popleft())
                self.ready.clear()
        except ConnectionClosed:
            pass


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass
class SignalingServer:
    host: str = "127.0.0.1"
    port: int = 0
    max_message: int = 64 * 1024  # protocol limit, in UTF-8 bytes: larger messages get "too-large"
    hard_limit: int = 1024 * 1024  # WebSocket frame limit: larger frames close the connection
    send_queue: int = 10_000  # frames queued for one connection; beyond, it is cut (it reads nothing, no close frame)
    relay_log: int = 100_000  # relay records kept (the oldest go first)
    join_timeout: float | None = 30.0  # a connection must join a room within this (else 1008)
    ping_interval: float | None = 20.0  # WebSocket pings; a peer that answers none in ping_timeout is closed
    ping_timeout: float | None = 20.0
    close_timeout: float = 2.0  # how long a closing handshake may take before the connection is cut
    relayed: deque[RelayRecord] = field(init=False)
    errors: Counter[str] = field(default_factory=Counter)
    slow_consumers: int = 0  # connections closed because they did not read their queue
    join_timeouts: int = 0  # connections closed because they never joined
    rooms: dict[str, dict[str, _Client]] = field(default_factory=dict)
    _server: Server | None = None
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)
    _closing: set[asyncio.Future[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.relayed = deque(maxlen=self.relay_log)

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
            self._handle,
            self.host,
            self.port,
            max_size=self.hard_limit,
            compression=None,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            close_timeout=self.close_timeout,
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
        client.writer = asyncio.create_task(client.drain())
        deadline = asyncio.get_running_loop().call_later(
            self.join_timeout, self._unjoined, client
        ) if self.join_timeout is not None else None  # fmt: skip
        try:
            async for frame in connection:
                await self._on_frame(client, frame)
                if deadline is not None and client.room is not None:
                    deadline.cancel()
                    deadline = None
        except ConnectionClosed:
            pass
        finally:
            if deadline is not None:
                deadline.cancel()
            await self._leave(client)
            client.writer.cancel()
            await asyncio.gather(client.writer, return_exceptions=True)

    def _unjoined(self, client: _Client) -> None:
        if client.room is None:
            self.join_timeouts += 1
            closing = asyncio.ensure_future(
                client.connection.close(1008, f"join a room within {self.join_timeout:g} s")
            )
            self._closing.add(closing)  # the loop keeps only a weak reference to a task
            closing.add_done_callback(self._closing.discard)

    async def _on_frame(self, client: _Client, frame: str | bytes) -> None:
        try:
            size = len(frame) if isinstance(frame, bytes) else len(frame.encode("utf-8", "surrogatepass"))
            if size > self.max_message:
                raise ProtocolError("too-large", f"{size} bytes, the limit is {self.max_message}")
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
        notice = {"type": kind, "peer": peer}
        text = json.dumps(notice)  # one encoding for the whole room
        for other_id, other in list(self.rooms.get(room_name, {}).items()):
            if other_id != peer:
                self._record(room_name, "server", other_id, kind, notice)
                self._enqueue(other, text)

    def _record(self, room: str, sender: str, recipient: str, kind: str, payload: dict[str, Any]) -> None:
        self.relayed.append(RelayRecord(time.time(), room, sender, recipient, kind, payload))
        log.info("%s %s -> %s %s", room, sender, recipient, kind)
        self.wake_waiters()

    def wake_waiters(self) -> None:
        """Make ``wait_until`` re-check its predicate (after a record, or when something else changed).

        A waiter may belong to another loop in another thread: with a NAT topology the server runs
        on the public network's loop while a scenario's steps wait on it (an external peer in its
        namespace); its future is resolved in its own loop, or it would only wake at its timeout."""
        waiters, self._waiters = self._waiters, []
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        for waiter in waiters:
            loop = waiter.get_loop()
            if loop is here:
                _release(waiter)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(_release, waiter)

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

    async def _send(self, client: _Client, message: dict[str, Any]) -> None:
        self._enqueue(client, json.dumps(message))

    def _enqueue(self, client: _Client, text: str) -> None:
        """Queue a frame for ``client``'s writer; a client whose queue is full is cut (its transport aborted)."""
        if client.closing:
            return
        if len(client.queue) >= self.send_queue:
            client.closing = True
            self.slow_consumers += 1
            log.info("closing %s: %d frames unread", client.peer or "?", len(client.queue))
            client.queue.clear()
            # It does not read, so it would not read a close frame either: cut the connection.
            client.connection.transport.abort()
            return
        client.queue.append(text)
        client.ready.set()
