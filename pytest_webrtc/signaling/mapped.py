"""A declarative driver for JSON-over-WebSocket signaling protocols: a mapping file, no code.

A mapping (YAML) says how to connect, what to send for each of the harness's messages and how to
recognise each of them in what arrives; ``signaling/mappings/peerjs.yaml`` expresses the PeerJS
server's protocol with it, and runs the same scenarios as the coded driver (:mod:`.peerjs`)::

    url: "{url}/peerjs?key=peerjs&id={peer}&token={token}"   # {url}: the scenario's, without a trailing /
    opened: {type: OPEN}          # the message that says the connection is ready (optional)
    refused: {type: ID-TAKEN}     # the message that says it is not (optional)
    heartbeat: {every: 5, send: {type: HEARTBEAT}}            # optional
    join:                         # optional: a protocol with rooms
      send: {type: join, room: "{room}", id: "{peer}"}
      reply: {match: {type: joined}, peers: peers}            # where the list of peers is
    send:                         # one template per message; "{name}" alone keeps the value's type
      offer: {type: OFFER, dst: "{to}", payload: {sdp: {type: offer, sdp: "{sdp}"}}}
      candidate: {type: CANDIDATE, dst: "{to}", payload: {candidate: "{candidate}", mid: "{sdpMid}"}}
      ...
    receive:                      # the first entry whose match holds names the message
      offer: {match: {type: OFFER}, from: src, sdp: payload.sdp.sdp}
      error: {match: {type: EXPIRE}, code: "=unknown-peer", reason: src}   # "=": a constant
      ...

The harness's messages are protocol v1's: offer, answer, candidate, end-of-candidates, bye (and,
received, error, peer-joined, peer-left).  Field paths are dotted (``payload.sdp.sdp``); a match
compares values.  A mapping file that is wrong is named with what is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ..errors import SignalingError
from .inbox import JsonWebSocket

__all__ = ["Mapping", "MappedClient", "load_mapping"]

SENT = ("offer", "answer", "candidate", "end-of-candidates", "bye")
RECEIVED = (*SENT, "error", "peer-joined", "peer-left")
_WHOLE = re.compile(r"^\{(\w+)\}$")
_MISSING = object()


@dataclass(frozen=True)
class Mapping:
    path: str
    url: str
    send: dict[str, Any]
    receive: dict[str, dict[str, Any]]
    opened: dict[str, Any] | None = None
    refused: dict[str, Any] | None = None
    heartbeat: dict[str, Any] | None = None
    join: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rooms(self) -> bool:
        return self.join is not None


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file; ValueError saying what is wrong, and where."""
    where = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{where}: cannot read the signaling mapping: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a signaling mapping is a YAML mapping with url, send and receive")
    known = {"url", "opened", "refused", "heartbeat", "join", "send", "receive"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; the keys: {', '.join(sorted(known))}")
    for key in ("url", "send", "receive"):
        if key not in data:
            raise ValueError(f"{where}: missing {key!r}")
    if not isinstance(data["url"], str) or "{url}" not in data["url"]:
        raise ValueError(f'{where}: url must be a template containing {{url}}, e.g. "{{url}}/ws?id={{peer}}"')
    for kind in data["send"]:
        if kind not in SENT:
            raise ValueError(f"{where}: send.{kind}: not a message the harness sends; they are: {', '.join(SENT)}")
    for kind, rule in data["receive"].items():
        if kind not in RECEIVED:
            raise ValueError(
                f"{where}: receive.{kind}: not a message the harness knows; they are: {', '.join(RECEIVED)}"
            )
        if not isinstance(rule, dict) or not isinstance(rule.get("match"), dict):
            raise ValueError(f"{where}: receive.{kind}: needs a match: {{field: value, ...}}")
    heartbeat = data.get("heartbeat")
    if heartbeat is not None and (not isinstance(heartbeat.get("every"), (int, float)) or "send" not in heartbeat):
        raise ValueError(f"{where}: heartbeat needs every: SECONDS and send: MESSAGE")
    return Mapping(
        where, data["url"], data["send"], data["receive"], data.get("opened"), data.get("refused"), heartbeat,
        data.get("join"),
    )  # fmt: skip


def render(template: Any, values: dict[str, Any]) -> Any:
    """The template with its placeholders filled: ``"{x}"`` alone keeps the value's type."""
    if isinstance(template, dict):
        return {key: render(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [render(item, values) for item in template]
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        if whole:
            return values.get(whole.group(1))
        return template.format_map({k: "" if v is None else v for k, v in values.items()})
    return template


def at(message: Any, path: str) -> Any:
    """The value at a dotted path (``_MISSING`` when it is not there)."""
    for part in path.split("."):
        if not isinstance(message, dict) or part not in message:
            return _MISSING
        message = message[part]
    return message


def matches(message: Any, pattern: dict[str, Any]) -> bool:
    return all(at(message, path) == value for path, value in pattern.items())


class MappedClient(JsonWebSocket):
    """A signaling channel that speaks what a :class:`Mapping` describes."""

    protocol = "mapped"

    def __init__(self, url: str, room: str, peer: str, mapping: Mapping) -> None:
        super().__init__(peer)
        self.url, self.room, self.mapping = url, room, mapping
        self.peers: list[str] = []

    def _values(self, **more: Any) -> dict[str, Any]:
        return {"url": self.url.rstrip("/"), "peer": self.peer, "room": self.room, **more}

    async def join(self, timeout: float = 5.0) -> list[str]:
        address = render(self.mapping.url, self._values(token=os.urandom(6).hex()))
        try:
            self._connection = await asyncio.wait_for(
                connect(address, compression=None, ping_interval=None, max_size=2**20), timeout
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise SignalingError(f"cannot connect to {address}: {exc or 'timeout'}") from None
        if self.mapping.opened is not None:
            first = await self._recv(timeout, "the message that says the connection is open")
            if self.mapping.refused is not None and matches(first, self.mapping.refused):
                raise SignalingError(f"the server refused {self.peer!r}: {json.dumps(first)[:200]}")
            if not matches(first, self.mapping.opened):
                raise SignalingError(f"expected {self.mapping.opened} on connecting, got {json.dumps(first)[:200]}")
        peers: list[str] = []
        if self.mapping.join is not None:
            await self.send_raw(render(self.mapping.join["send"], self._values()))
            reply = await self._recv(timeout, "the reply to joining")
            expected = self.mapping.join.get("reply", {})
            if not matches(reply, expected.get("match", {})):
                raise SignalingError(f"joining got {json.dumps(reply)[:200]}")
            found = at(reply, expected["peers"]) if "peers" in expected else []
            peers = [str(p) for p in found] if isinstance(found, list) else []
        self.peers = peers
        self.start_reading()
        if self.mapping.heartbeat is not None:
            self._tasks.append(asyncio.create_task(self._heartbeat(), name=f"mapped-heartbeat-{self.peer}"))
        return peers

    async def _recv(self, timeout: float, what: str) -> Any:
        assert self._connection is not None
        try:
            return json.loads(await asyncio.wait_for(self._connection.recv(), timeout))
        except (asyncio.TimeoutError, ConnectionClosed, ValueError) as exc:
            raise SignalingError(f"{self.peer}: no {what}: {exc or 'timeout'}") from None

    async def _heartbeat(self) -> None:
        assert self.mapping.heartbeat is not None
        with contextlib.suppress(SignalingError):
            while not self._closed:
                await asyncio.sleep(float(self.mapping.heartbeat["every"]))  # the protocol's period
                await self.send_raw(render(self.mapping.heartbeat["send"], self._values()))

    def translate(self, message: Any) -> dict[str, Any] | None:
        """A message in the harness's words, by the first receive rule that matches (None: none)."""
        for kind, rule in self.mapping.receive.items():
            if not matches(message, rule["match"]):
                continue
            out: dict[str, Any] = {"type": kind}
            for name, path in rule.items():
                if name == "match":
                    continue
                value = path[1:] if isinstance(path, str) and path.startswith("=") else at(message, str(path))
                out[name] = None if value is _MISSING else value
            return out
        return None

    async def send(self, kind: str, to: str, **fields: Any) -> None:
        template = self.mapping.send.get(kind)
        if template is None:
            raise SignalingError(f"the mapping {self.mapping.path} has no message for {kind!r}")
        pair = "_".join(sorted((self.peer, to)))
        await self.send_raw(render(template, self._values(to=to, pair=pair, **fields)))
