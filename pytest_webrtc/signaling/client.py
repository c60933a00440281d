"""A signaling client of protocol v1: one WebSocket, a reader task, the messages by type (:class:`.inbox.Inbox`)."""

from __future__ import annotations

import asyncio
from typing import Any

from websockets.asyncio.client import connect

from ..errors import SignalingError
from .inbox import JsonWebSocket

__all__ = ["SignalingClient"]


class SignalingClient(JsonWebSocket):
    def __init__(self, url: str, room: str, peer: str) -> None:
        super().__init__(peer)
        self.url, self.room = url, room
        self.peers: list[str] = []

    async def connect(self, timeout: float = 5.0) -> None:
        try:
            self._connection = await asyncio.wait_for(
                connect(self.url, compression=None, ping_interval=None, max_size=2**20), timeout
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise SignalingError(f"cannot connect to signaling server {self.url}: {exc or 'timeout'}") from None
        self.start_reading()

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

    async def send(self, kind: str, to: str, **fields: Any) -> None:
        await self.send_raw({"type": kind, "to": to, **fields})
