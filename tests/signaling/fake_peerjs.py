"""A PeerJS server in Python for the tests: correct unless told one fault (one per conformance rule)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class FakePeerJs:
    def __init__(self, fault: str = "") -> None:
        self.fault = fault
        self.clients: dict[str, ServerConnection] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def handle(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        me = query.get("id", [""])[0]
        if self.fault == "no-open":
            await ws.send(json.dumps({"type": "HELLO"}))
        elif me in self.clients and self.fault != "dup-allowed":
            await ws.send(json.dumps({"type": "ID-TAKEN", "payload": {"msg": "ID is taken"}}))
            await ws.close()
            return
        else:
            await ws.send(json.dumps({"type": "OPEN"}))
        self.clients[me] = ws
        try:
            async for frame in ws:
                message = json.loads(frame)
                if message.get("type") == "HEARTBEAT":
                    if self.fault == "heartbeat-closes":
                        await ws.close()
                    continue
                if message.get("type") == "LEAVE" and self.fault == "drops-leave":
                    continue
                dst = message.get("dst")
                target = self.clients.get(dst)
                if target is not None:
                    if self.fault != "keeps-src":
                        message["src"] = me
                    await target.send(json.dumps(message))
                elif self.fault != "no-expire":
                    self._later(ws, {"type": "EXPIRE", "src": dst, "dst": me})
        except ConnectionClosed:
            pass
        finally:
            if self.clients.get(me) is ws:
                del self.clients[me]

    def _later(self, ws: ServerConnection, message: dict[str, Any]) -> None:
        async def send() -> None:
            await asyncio.sleep(0.2)  # the expire timer, shortened
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps(message))

        task = asyncio.create_task(send())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


@contextlib.asynccontextmanager
async def fake_peerjs(fault: str = "") -> AsyncIterator[str]:
    server = FakePeerJs(fault)
    async with serve(server.handle, "127.0.0.1", 0) as ws_server:
        port = list(ws_server.sockets)[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/"
    for task in list(server.tasks):
        task.cancel()
