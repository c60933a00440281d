"""One WebSocket of a signaling conformance check: JSON out, JSON objects in, failures said in words."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from .outcome import Fail

__all__ = ["TIMEOUT", "JsonPeer"]

TIMEOUT = 3.0  # seconds a check waits for a connection or a message


class JsonPeer:
    def __init__(self, ws: ClientConnection, name: str) -> None:
        self.ws, self.name = ws, name

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def recv(self, what: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next JSON object; Fail saying what came instead (nothing, a closed connection, not JSON)."""
        try:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        except asyncio.TimeoutError:
            raise Fail(f"{self.name} waited {timeout:g} s for {what}; nothing came") from None
        except ConnectionClosed as exc:
            raise Fail(f"the server closed {self.name}'s connection while it waited for {what} ({exc})") from None
        except ValueError:
            raise Fail(f"{self.name} got a frame that is not JSON while waiting for {what}") from None
        if not isinstance(message, dict):
            raise Fail(f"{self.name} got {message!r} instead of a JSON object")
        return message
