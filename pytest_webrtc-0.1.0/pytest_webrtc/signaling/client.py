"""A signaling client: one WebSocket, a reader task, and a queue per message type."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ..errors import SignalingError
from ..wakeup import Wakeup

__all__ = ["SignalingClient"]


class SignalingClient:
    def __init__(self, url: str, room: str, peer: str) -> None:
        self.url, self.room, self.peer = url, room, peer
        self.peers: list[str] = []
        self.received: list[dict[str, Any]] = []
        self._inbox: list[dict[str, Any]] = []
        self._arrived = Wakeup()  # woken when a message arrives or the connection ends
        self._closed = False
        self._connection: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, timeout: float = 5.0) -> None:
        try:
            self._connection = await asyncio.wait_for(
                connect(self.url, compression=None, ping_interval=None, max_size=2**20), timeout
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise SignalingError(f"cannot connect to signaling server {self.url}: {exc or 'timeout'}") from None
        self._reader = asyncio.create_task(self._read(), name=f"signaling-reader-{self.peer}")

    async def join(self, timeout: float = 5.0) -> list[str]:
        """Join the room; returns the peers already in it."""
        if self._connection is None:
            await self.connect(timeout)
        await self.send_raw({"type": "join", "room": self.room, "peer": self.peer, "version": 1})
        reply = await self.next_of("joined", "error", timeout=timeout)
        if reply["type"] == "error":
            raise SignalingError(f"join refused: {reply['code']}: {reply['reason']}")
        self.peers = list(reply["peers"])
        return self.peers

    async def _read(self) -> None:
        assert self._connection is not None
        try:
            async for frame in self._connection:
                message = json.loads(frame)
                self.received.append(message)
                self._inbox.append(message)
                self._arrived.wake()
        except ConnectionClosed:
            pass
        finally:
            self._closed = True
            self._arrived.wake()

    async def send_raw(self, message: dict[str, Any] | str) -> None:
        if self._connection is None:
            raise SignalingError("not connected")
        try:
            await self._connection.send(message if isinstance(message, str) else json.dumps(message))
        except ConnectionClosed as exc:
            raise SignalingError(f"signaling connection closed: {exc}") from None

    async def send(self, kind: str, to: str, **fields: Any) -> None:
        await self.send_raw({"type": kind, "to": to, **fields})

    async def next_of(self, *kinds: str, timeout: float) -> dict[str, Any]:
        """The earliest unread message of any of ``kinds``; arrival order is kept across kinds."""

        def take() -> dict[str, Any] | None:
            for i, message in enumerate(self._inbox):
                if message.get("type") in kinds:
                    del self._inbox[i]
                    return message
            return None

        def found() -> dict[str, Any] | None:
            message = take()
            if message is None and self._closed:
                raise SignalingError(f"{self.peer}: signaling connection closed while waiting for {'/'.join(kinds)}")
            return message

        try:
            return await self._arrived.until(found, timeout)
        except TimeoutError:
            raise SignalingError(f"{self.peer}: no {'/'.join(kinds)} message within {timeout:g} s") from None

    def pending(self, kind: str) -> int:
        return sum(1 for m in self._inbox if m.get("type") == kind)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        if self._reader is not None:
            await asyncio.wait_for(asyncio.gather(self._reader, return_exceptions=True), 5)
        self._connection = None
