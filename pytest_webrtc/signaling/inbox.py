"""What a signaling connection received, read by message type in arrival order (every driver's)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import SignalingError
from ..wakeup import Wakeup

__all__ = ["INBOX_LIMIT", "Inbox"]

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
