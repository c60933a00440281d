"""A signaling client of protocol v1: one WebSocket, a reader task, the messages by type (:class:`.inbox.Inbox`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ..errors import SignalingError
from .inbox import Inbox

__all__ = ["SignalingClient"]


class SignalingClient(Inbox):
    def __init__(self, url: str, room: str, peer: str) -> None:
        super().__init__(peer)
        self.url, self.room = url, room
        self.peers: list[str] = []
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
                self.deliver(json.loads(frame))
        except ConnectionClosed:
            pass
        finally:
            self.ended()

    async def send_raw(self, message: dict[str, Any] | str) -> None:
        if self._connection is None:
            raise SignalingError("not connected")
        try:
            await self._connection.send(message if isinstance(message, str) else json.dumps(message))
        except ConnectionClosed as exc:
            raise SignalingError(f"signaling connection closed: {exc}") from None

    async def send(self, kind: str, to: str, **fields: Any) -> None:
        await self.send_raw({"type": kind, "to": to, **fields})

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        if self._reader is not None:
            await asyncio.wait_for(asyncio.gather(self._reader, return_exceptions=True), 5)
        self._connection = None
