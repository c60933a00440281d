"""The PeerJS server's protocol (npm ``peer``), spoken by the harness's peers.

A client connects to ``ws://HOST:PORT/PATH/peerjs?key=KEY&id=ID&token=TOKEN`` and gets
``{"type": "OPEN"}`` (or ``ID-TAKEN``); then it sends ``{"type": "OFFER|ANSWER|CANDIDATE|LEAVE",
"dst": ID, "payload": ...}``, which the server forwards with ``src`` set, and ``HEARTBEAT``
every few seconds.  A message to a peer that is not connected comes back as ``EXPIRE``.

The harness's vocabulary (protocol v1: offer, answer, candidate, end-of-candidates, bye, error)
maps onto it as a PeerJS data connection does (``payload.type: "data"``, one ``connectionId``
per pair of peers).  What PeerJS does not have is said, not hidden:

- no rooms: joining opens the connection; the server lists no peers and sends no
  ``peer-joined``/``peer-left`` notices (steps that check them cannot run through PeerJS);
- no end-of-candidates message: it travels as a CANDIDATE whose candidate is the empty string,
  as browsers signal the end of gathering;
- ``bye`` is PeerJS's LEAVE; EXPIRE becomes an ``unknown-peer`` error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ..errors import SignalingError
from .inbox import JsonWebSocket

__all__ = ["HEARTBEAT_INTERVAL", "PeerJsClient", "peerjs_url"]

HEARTBEAT_INTERVAL = 5.0  # seconds, as the PeerJS client library sends them
_OUT = {
    "offer": "OFFER",
    "answer": "ANSWER",
    "candidate": "CANDIDATE",
    "end-of-candidates": "CANDIDATE",
    "bye": "LEAVE",
}


def peerjs_url(url: str, peer: str) -> str:
    """The connection URL: ``url``'s path ending in ``/peerjs``, its ``key`` (default "peerjs"), our id."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith("/peerjs"):
        path += "/peerjs"
    query = dict(parse_qsl(parts.query))
    query.setdefault("key", "peerjs")
    query.update(id=peer, token=os.urandom(6).hex())
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


class PeerJsClient(JsonWebSocket):
    """A signaling channel over a PeerJS server, with the interface of :class:`.client.SignalingClient`."""

    protocol = "peerjs"

    def __init__(self, url: str, room: str, peer: str) -> None:
        super().__init__(peer)
        self.url, self.room = url, room
        self.peers: list[str] = []

    async def join(self, timeout: float = 5.0) -> list[str]:
        """Open the PeerJS connection (PeerJS has no rooms: nobody is listed)."""
        address = peerjs_url(self.url, self.peer)
        try:
            self._connection = await asyncio.wait_for(
                connect(address, compression=None, ping_interval=None, max_size=2**20), timeout
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise SignalingError(f"cannot connect to the PeerJS server {self.url}: {exc or 'timeout'}") from None
        try:
            first = json.loads(await asyncio.wait_for(self._connection.recv(), timeout))
        except (asyncio.TimeoutError, ConnectionClosed, ValueError) as exc:
            raise SignalingError(f"the PeerJS server {self.url} did not say OPEN: {exc or 'timeout'}") from None
        if first.get("type") != "OPEN":
            raise SignalingError(
                f"the PeerJS server refused id {self.peer!r}: {first.get('type')} {first.get('payload')}"
            )
        self.start_reading()
        self._tasks.append(asyncio.create_task(self._heartbeat(), name=f"peerjs-heartbeat-{self.peer}"))
        return []

    async def _heartbeat(self) -> None:
        with contextlib.suppress(SignalingError):
            while not self._closed:
                await asyncio.sleep(HEARTBEAT_INTERVAL)  # the protocol's own period, not synchronisation
                await self.send_raw({"type": "HEARTBEAT"})

    def translate(self, message: Any) -> dict[str, Any] | None:
        """A PeerJS message in the harness's words (None: nothing the harness's peers act on)."""
        kind, source, payload = message.get("type"), message.get("src"), message.get("payload") or {}
        if kind in ("OFFER", "ANSWER"):
            return {"type": kind.lower(), "from": source, "sdp": payload["sdp"]["sdp"]}
        if kind == "CANDIDATE":
            candidate = payload["candidate"]
            if not candidate.get("candidate"):
                return {"type": "end-of-candidates", "from": source}
            return {
                "type": "candidate",
                "from": source,
                "candidate": candidate["candidate"],
                "sdpMid": candidate.get("sdpMid"),
                "sdpMLineIndex": candidate.get("sdpMLineIndex"),
            }
        if kind == "LEAVE":
            return {"type": "bye", "from": source}
        if kind == "EXPIRE":
            return {"type": "error", "code": "unknown-peer", "reason": f"EXPIRE: {source} is not connected"}
        if kind in ("ERROR", "ID-TAKEN", "INVALID-KEY"):
            reason = payload.get("msg", "") if isinstance(payload, dict) else str(payload)
            return {"type": "error", "code": kind.lower(), "reason": reason}
        return None

    async def send(self, kind: str, to: str, **fields: Any) -> None:
        if kind not in _OUT:
            raise SignalingError(f"PeerJS has no message for {kind!r}")
        payload: dict[str, Any] = {"type": "data", "connectionId": f"dc_{'_'.join(sorted((self.peer, to)))}"}
        if kind in ("offer", "answer"):
            payload["sdp"] = {"type": kind, "sdp": fields["sdp"]}
        elif kind == "candidate":
            payload["candidate"] = {
                "candidate": fields["candidate"],
                "sdpMid": fields.get("sdpMid"),
                "sdpMLineIndex": fields.get("sdpMLineIndex"),
            }
        elif kind == "end-of-candidates":
            payload["candidate"] = {"candidate": "", "sdpMid": None, "sdpMLineIndex": None}
        await self.send_raw({"type": _OUT[kind], "dst": to, "payload": payload})
