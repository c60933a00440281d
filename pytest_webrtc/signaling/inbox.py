"""What a signaling connection received, read by message type in arrival order (every driver's)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ..errors import SignalingError
from ..wakeup import Wakeup

__all__ = ["INBOX_LIMIT", "Inbox", "JsonWebSocket"]

INBOX_LIMIT = 10_000  # messages kept unread, at most: a flood must not grow a client


class Inbox:
    """The received messages of one peer's signaling connection; ``next_of`` takes them by type."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.received: list[dict[str, Any]] = []
        self._inbox: list[dict[str, Any]] = []
        self._arrived = Wakeup()  # woken when a message arrives or the connection ends
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []

    def deliver(self, message: dict[str, Any]) -> None:
        if len(self._inbox) < INBOX_LIMIT:
            self.received.append(message)
            self._inbox.append(message)
            self._arrived.wake()

    def ended(self) -> None:
        """The connection is gone: waiters learn it at once."""
        self._closed = True
        self._arrived.wake()

    async def next_of(self, *kinds: str, timeout: float) -> dict[str, Any]:
        """The earliest unread message of any of ``kinds``; arrival order is kept across kinds."""

        def found() -> dict[str, Any] | None:
            for i, message in enumerate(self._inbox):
                if message.get("type") in kinds:
                    del self._inbox[i]
                    return message
            if self._closed:
                raise SignalingError(f"{self.peer}: signaling connection closed while waiting for {'/'.join(kinds)}")
            return None

        try:
            return await self._arrived.until(found, timeout)
        except TimeoutError:
            raise SignalingError(f"{self.peer}: no {'/'.join(kinds)} message within {timeout:g} s") from None

    def pending(self, kind: str) -> int:
        return sum(1 for m in self._inbox if m.get("type") == kind)

    async def stop_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class JsonWebSocket(Inbox):
    """An :class:`Inbox` fed by one WebSocket of JSON frames, each put in the harness's words by
    :meth:`translate` (protocol v1's frames are already); a frame it cannot read is dropped."""

    def __init__(self, peer: str) -> None:
        super().__init__(peer)
        self._connection: ClientConnection | None = None

    def translate(self, message: Any) -> dict[str, Any] | None:
        return message if isinstance(message, dict) else None

    def start_reading(self) -> None:
        self._tasks.append(asyncio.create_task(self._read(), name=f"signaling-reader-{self.peer}"))

    async def _read(self) -> None:
        assert self._connection is not None
        try:
            async for frame in self._connection:
                try:
                    message = self.translate(json.loads(frame))
                except (ValueError, TypeError, KeyError, AttributeError):
                    continue  # not a message of the protocol: dropped
                if message is not None:
                    self.deliver(message)
        except ConnectionClosed:
            pass
        finally:
            self.ended()

    async def send_raw(self, message: Any) -> None:
        if self._connection is None:
            raise SignalingError("not connected")
        try:
            await self._connection.send(message if isinstance(message, str) else json.dumps(message))
        except ConnectionClosed as exc:
            raise SignalingError(f"signaling connection closed: {exc}") from None

    async def close(self) -> None:
        self._closed = True
        if self._connection is not None:
            await self._connection.close()
        await self.stop_tasks()
        self._connection = None
