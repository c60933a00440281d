"""Janus's WebSocket API (subprotocol ``janus-protocol``), spoken by the harness's peers.

``join`` opens the connection and creates a Janus session (kept alive every 25 s; Janus drops an
idle one after its ``session_timeout``).  The remote a peer offers to is a Janus plugin, named as
the scenario names it: ``echotest`` (``janus.plugin.echotest``) or ``videoroom``
(``janus.plugin.videoroom``, room 1234 unless the scenario's ``room`` is a number).  The
harness's vocabulary maps onto Janus's requests:

- ``offer`` to a plugin: ``attach`` (once), then ``message`` with the plugin's body and the jsep
  offer (echotest: audio/video/data on; videoroom: ``join`` as a publisher, then ``configure``);
  the asynchronous ``event`` that carries the jsep answer becomes an ``answer`` from the plugin.
  Janus puts its candidates inside that answer (half trickle), so an ``end-of-candidates`` from the
  plugin follows it — said here, not hidden;
- ``candidate`` / ``end-of-candidates``: ``trickle`` (``completed: true`` for the end);
- ``bye``: ``hangup`` and ``detach``; Janus's own ``hangup`` event becomes a ``bye``;
- Janus's ``webrtcup``, ``media`` and ``slowlink`` events are kept as ``janus-webrtcup`` ... and an
  ``error`` reply as a signaling ``error`` (code, reason).

A frame that is not Janus JSON is dropped, as every driver does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from ..errors import SignalingError
from .inbox import JsonWebSocket

__all__ = ["KEEPALIVE", "PLUGINS", "JanusChannel"]

KEEPALIVE = 25.0  # seconds between keepalives (Janus's default session_timeout is 60 s)
PLUGINS = {"echotest": "janus.plugin.echotest", "videoroom": "janus.plugin.videoroom"}
DEFAULT_ROOM = 1234  # in the videoroom's shipped configuration
_transactions = itertools.count(1)


class JanusChannel(JsonWebSocket):
    """One peer's Janus session over the WebSocket API, with the harness's signaling interface."""

    def __init__(self, url: str, room: str, peer: str) -> None:
        super().__init__(peer)
        self.url, self.room, self.peer = url, room, peer
        self.session: int | None = None
        self.handles: dict[str, int] = {}  # plugin name (as the scenario says it) -> handle id
        self._waiting: dict[str, tuple[asyncio.Future[dict[str, Any]], bool]] = {}  # transaction -> (reply, event?)
        self.publishing: set[str] = set()  # videoroom plugins it joined as a publisher
        self.subscriber: int | None = None  # the videoroom subscriber handle (one, multistream)
        self.subscribed: set[int] = set()  # feeds (publisher ids) asked for
        self.feeds: dict[int, str] = {}  # feed id -> its display name (the peer that publishes it)
        self._subscribing = asyncio.Lock()

    @property
    def videoroom(self) -> int:
        return int(self.room) if self.room.isdigit() else DEFAULT_ROOM

    # -- the connection ------------------------------------------------------------------

    async def join(self, timeout: float = 5.0) -> list[str]:
        try:
            self._connection = await asyncio.wait_for(
                connect(self.url, subprotocols=[Subprotocol("janus-protocol")], compression=None), timeout
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise SignalingError(f"{self.peer}: cannot connect to Janus at {self.url}: {exc or 'timeout'}") from None
        self.start_reading()
        reply = await self._call({"janus": "create"}, timeout)
        self.session = int(reply["data"]["id"])
        self._tasks.append(asyncio.create_task(self._keepalive(), name=f"janus-keepalive-{self.peer}"))
        return []  # Janus lists no peers: the remotes are its plugins

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE)
            with contextlib.suppress(SignalingError):
                await self.send_raw({"janus": "keepalive", "session_id": self.session, "transaction": "keepalive"})

    async def _call(self, request: dict[str, Any], timeout: float, event: bool = False) -> dict[str, Any]:
        """Send a request; its reply (``success``), or with ``event`` the plugin's asynchronous event."""
        transaction = f"{self.peer}-{next(_transactions)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = (future, event)
        body = {**request, "transaction": transaction}
        if self.session is not None:
            body.setdefault("session_id", self.session)
        try:
            await self.send_raw(body)
            reply = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise SignalingError(f"{self.peer}: Janus did not answer {request['janus']} within {timeout:g} s") from None
        finally:
            self._waiting.pop(transaction, None)
        if reply.get("janus") == "error":
            error = reply.get("error", {})
            raise SignalingError(
                f"{self.peer}: Janus refused {request['janus']}: {error.get('code')} {error.get('reason')}"
            )
        return reply

    def translate(self, message: Any) -> dict[str, Any] | None:
        if not isinstance(message, dict):
            return None
        waiting = self._waiting.get(str(message.get("transaction")))
        kind = message.get("janus")
        if waiting is not None:
            future, event = waiting
            if kind == "ack" and event:
                return None  # the event with this transaction follows
            if not future.done():
                future.set_result(message)
            return None
        remote = self._remote(message.get("sender"))
        if kind == "hangup":
            return {"type": "bye", "from": remote, "reason": message.get("reason", "")}
        if kind in ("webrtcup", "media", "slowlink", "detached"):
            return {**{k: v for k, v in message.items() if k != "janus"}, "type": f"janus-{kind}", "from": remote}
        if kind == "event":
            data = message.get("plugindata", {}).get("data", {})
            jsep = message.get("jsep")
            if message.get("sender") == self.subscriber and jsep and jsep.get("type") == "offer":
                return {"type": "offer", "from": "videoroom", "connection": "subscriber",
                        "sdp": self._named(jsep["sdp"], data.get("streams", []))}  # fmt: skip
            if remote == "videoroom" and data.get("publishers"):
                self._later(self._subscribe(data["publishers"]))
            return {"type": "janus-event", "from": remote, "data": data}
        return None

    def _later(self, work: Any) -> None:
        self._tasks.append(asyncio.ensure_future(work))

    def _named(self, sdp: str, streams: list[dict[str, Any]]) -> str:
        """The subscriber offer with each m-section's msid naming its publisher: ``bob bob.video``
        (the harness's track ids, as its SFU names them), where Janus says ``janus janusN``."""
        displays = {str(s.get("mid")): (str(s.get("feed_display") or s.get("feed_id")), str(s.get("type")))
                    for s in streams if s.get("feed_id") is not None}  # fmt: skip
        out: list[str] = []
        section: list[str] = []
        mid: str | None = None
        for line in [*sdp.splitlines(), "m=end"]:
            if line.startswith("m="):
                if section:
                    named = displays.get(str(mid))
                    kept = [x for x in section if not (named and (x.startswith("a=msid:") or " msid:" in x))]
                    out += kept + ([f"a=msid:{named[0]} {named[0]}.{named[1]}"] if named else [])
                section, mid = [line], None
                continue
            if line.startswith("a=mid:"):
                mid = line[6:]
            if not section:
                if not line.startswith("a=msid-semantic"):
                    out.append(line)
                if line.startswith("t="):
                    out.append("a=msid-semantic: WMS *")
                continue
            section.append(line)
        return "\r\n".join(out) + "\r\n"

    async def _subscribe(self, publishers: list[dict[str, Any]]) -> None:
        """Subscribe to the feeds of publishers not asked for yet (one subscriber handle for all)."""
        async with self._subscribing:
            fresh = [p for p in publishers if int(p["id"]) not in self.subscribed]
            if not fresh:
                return
            for publisher in fresh:
                self.subscribed.add(int(publisher["id"]))
                self.feeds[int(publisher["id"])] = str(publisher.get("display", publisher["id"]))
            streams = [{"feed": int(p["id"])} for p in fresh]
            try:
                if self.subscriber is None:
                    reply = await self._call({"janus": "attach", "plugin": PLUGINS["videoroom"]}, 10.0)
                    self.subscriber = int(reply["data"]["id"])
                    body = {"request": "join", "ptype": "subscriber", "room": self.videoroom, "streams": streams}
                else:
                    body = {"request": "subscribe", "streams": streams}
                reply = await self._call(
                    {"janus": "message", "handle_id": self.subscriber, "body": body}, 10.0, event=True
                )
            except SignalingError as exc:
                self.deliver({"type": "error", "code": "janus", "reason": str(exc)})
                return
            offer = self.translate({**reply, "transaction": None})  # the offer it carries, as any other
            if offer is not None:
                self.deliver(offer)

    def _remote(self, handle: Any) -> str:
        return next((name for name, h in self.handles.items() if h == handle), str(handle))

    # -- the harness's vocabulary -----------------------------------------------------------

    async def _handle(self, remote: str, timeout: float) -> int:
        if remote not in self.handles:
            plugin = PLUGINS.get(remote)
            if plugin is None:
                raise SignalingError(f"{self.peer}: Janus has no plugin {remote!r} here; known: {', '.join(PLUGINS)}")
            reply = await self._call({"janus": "attach", "plugin": plugin}, timeout)
            self.handles[remote] = int(reply["data"]["id"])
        return self.handles[remote]

    async def _message(
        self, remote: str, body: dict[str, Any], jsep: dict[str, Any] | None, timeout: float
    ) -> dict[str, Any]:
        handle = await self._handle(remote, timeout)
        request: dict[str, Any] = {"janus": "message", "handle_id": handle, "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        reply = await self._call(request, timeout, event=True)
        data = reply.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise SignalingError(f"{self.peer}: {remote} refused {body.get('request', 'the message')}: "
                                 f"{data.get('error_code')} {data['error']}")  # fmt: skip
        return reply

    async def send(self, kind: str, to: str, **fields: Any) -> None:
        timeout = 10.0
        if kind == "answer" and fields.get("connection") == "subscriber" and self.subscriber is not None:
            request = {"janus": "message", "handle_id": self.subscriber, "body": {"request": "start"},
                       "jsep": {"type": "answer", "sdp": fields["sdp"]}}  # fmt: skip
            await self._call(request, timeout, event=True)
        elif kind == "offer":
            jsep = {"type": "offer", "sdp": fields["sdp"]}
            if to == "videoroom":
                if to not in self.publishing:
                    joined = await self._message(to, {"request": "join", "ptype": "publisher", "room": self.videoroom,
                                                      "display": self.peer}, None, timeout)  # fmt: skip
                    self.publishing.add(to)
                    publishers = joined.get("plugindata", {}).get("data", {}).get("publishers", [])
                    if publishers:  # the room's feeds so far: subscribed to on a connection of their own
                        self._later(self._subscribe(publishers))
                body: dict[str, Any] = {"request": "configure", "audio": True, "video": True}
            else:
                body = {"audio": True, "video": True, "data": True}
            reply = await self._message(to, body, jsep, timeout)
            answer = reply.get("jsep")
            if not answer or answer.get("type") != "answer":
                raise SignalingError(f"{self.peer}: {to} took the offer but sent no answer: {reply.get('plugindata')}")
            self.deliver({"type": "answer", "from": to, "sdp": answer["sdp"]})
            self.deliver({"type": "end-of-candidates", "from": to})  # Janus's candidates are inside its answer
        elif kind in ("candidate", "end-of-candidates"):
            handle = await self._handle(to, timeout)
            candidate = {"completed": True} if kind == "end-of-candidates" else {
                "candidate": fields["candidate"], "sdpMid": fields.get("sdpMid"),
                "sdpMLineIndex": fields.get("sdpMLineIndex")}  # fmt: skip
            await self._call({"janus": "trickle", "handle_id": handle, "candidate": candidate}, timeout)
        elif kind == "bye":
            if to in self.handles:
                handle = self.handles.pop(to)
                with contextlib.suppress(SignalingError):
                    await self._call({"janus": "hangup", "handle_id": handle}, timeout)
                    await self._call({"janus": "detach", "handle_id": handle}, timeout)
        else:
            raise SignalingError(f"{self.peer}: Janus has no {kind!r} message to a plugin")

    async def close(self) -> None:
        if self._connection is not None and self.session is not None:
            with contextlib.suppress(SignalingError, asyncio.TimeoutError):
                await asyncio.wait_for(self._call({"janus": "destroy"}, 2.0), 2.5)
        await super().close()
