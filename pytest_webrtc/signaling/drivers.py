"""Signaling drivers: the protocols the harness's peers can signal through, one registry entry each.

``harness`` is protocol v1 (:mod:`.protocol`, the built-in server's); ``peerjs`` is the PeerJS
server's (:mod:`.peerjs`); ``janus`` is Janus's WebSocket API (:mod:`.janus`; the remotes are its
plugins); ``whip`` and ``whep`` have no channel at all (offers go over HTTP,
:mod:`pytest_webrtc.whip`, in the ``publish``/``play`` steps); ``mapped`` is any JSON-over-WebSocket protocol a mapping file
describes (:mod:`.mapped`; a protocol is then named ``mapped:PATH``).  Other packages add drivers
through the entry point group ``pytest_webrtc.signaling`` (each entry point loads a
:class:`SignalingDriver`).  A driver says what its protocol can express: the steps that need
something else (rooms with notices, the built-in server's relay log) are refused before the run
sends anything, with the step's line and why — never run with a silent difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "DEFAULT_PROTOCOL",
    "DRIVERS",
    "HTTP_PROTOCOLS",
    "NoChannel",
    "SignalingChannel",
    "SignalingDriver",
    "channel",
    "driver",
]


class SignalingChannel(Protocol):
    """One peer's signaling connection, in the harness's words (protocol v1's message types)."""

    room: str
    peer: str
    received: list[dict[str, Any]]

    async def join(self, timeout: float = 5.0) -> list[str]: ...

    async def send(self, kind: str, to: str, **fields: Any) -> None: ...

    async def next_of(self, *kinds: str, timeout: float) -> dict[str, Any]: ...

    def pending(self, kind: str) -> int: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class SignalingDriver:
    name: str
    description: str
    open: Callable[[str, str, str, str], SignalingChannel]  # (url, room, peer, argument) -> the peer's channel
    rooms: bool = True  # the server lists a room's peers at join and sends peer-joined / peer-left notices
    refuses: dict[str, str] = field(default_factory=dict)  # step kind -> why it cannot run through this protocol
    remotes: tuple[str, ...] = ()  # what the server itself offers to connect to (connect: {to: ...}): Janus's plugins


def _harness(url: str, room: str, peer: str, argument: str = "") -> SignalingChannel:
    from .client import SignalingClient

    return SignalingClient(url, room, peer)


def _peerjs(url: str, room: str, peer: str, argument: str = "") -> SignalingChannel:
    from .peerjs import PeerJsClient

    return PeerJsClient(url, room, peer)


def _janus(url: str, room: str, peer: str, argument: str = "") -> SignalingChannel:
    from .janus import JanusChannel

    return JanusChannel(url, room, peer)


def _mapped(url: str, room: str, peer: str, argument: str = "") -> SignalingChannel:
    from .mapped import MappedClient, load_mapping

    return MappedClient(url, room, peer, load_mapping(argument))


class NoChannel:
    """WHIP and WHEP have no signaling channel: offers go over HTTP (the ``publish``/``play`` steps)."""

    def __init__(self, url: str, room: str, peer: str, protocol: str) -> None:
        self.room, self.peer, self.protocol = room, peer, protocol
        self.received: list[dict[str, Any]] = []

    def _refuse(self) -> Any:
        from ..errors import SignalingError

        raise SignalingError(f"{self.peer}: {self.protocol} has no signaling channel; publish/play over HTTP")

    async def join(self, timeout: float = 5.0) -> list[str]:
        return self._refuse()  # type: ignore[no-any-return]

    async def send(self, kind: str, to: str, **fields: Any) -> None:
        self._refuse()

    async def next_of(self, *kinds: str, timeout: float) -> dict[str, Any]:
        return self._refuse()  # type: ignore[no-any-return]

    def pending(self, kind: str) -> int:
        return 0

    async def close(self) -> None:
        return None


def _http_only(name: str) -> Callable[[str, str, str, str], SignalingChannel]:
    def open_channel(url: str, room: str, peer: str, argument: str = "") -> SignalingChannel:
        return NoChannel(url, room, peer, name)

    return open_channel


_HTTP = "WHIP/WHEP has no rooms and no signaling channel: a peer publishes (publish) or plays (play) over HTTP"
_HTTP_REFUSES = {kind: _HTTP for kind in ("join", "offer", "answer", "candidates", "bye", "leave", "expect-signaling",
                                           "signaling-conformance", "connect", "expect-sfu")}  # fmt: skip
_NO_ROOMS = "PeerJS has no rooms, so no peer-left notices to check"
_NOT_V1 = {
    "expect-signaling": "it judges the built-in server's relay log, and this is another server",
    "signaling-conformance": "its rules are protocol v1's (conformance signaling --protocol judges others)",
}
DRIVERS: dict[str, SignalingDriver] = {
    driver.name: driver
    for driver in (
        SignalingDriver("harness", "protocol v1 (the built-in signaling server's; docs/signaling.md)", _harness),
        SignalingDriver(
            "peerjs",
            "the PeerJS server's (npm peer): ws://HOST:PORT/PATH, key 'peerjs' unless the URL says ?key=",
            _peerjs,
            rooms=False,
            refuses={"leave": _NO_ROOMS, **_NOT_V1},
        ),
        SignalingDriver(
            "mapped",
            "a JSON-over-WebSocket protocol a mapping file describes (mapped:PATH; pytest_webrtc/signaling/mapped.py)",
            _mapped,
            rooms=False,
            refuses={"leave": "the mapping has no rooms, so no peer-left notices to check", **_NOT_V1},
        ),
        SignalingDriver(
            "janus",
            "Janus's WebSocket API (janus-protocol): peers connect to its plugins (echotest, videoroom)",
            _janus,
            rooms=False,
            refuses={
                kind: "through Janus a peer talks to a plugin (connect: {to: echotest}), not to another peer"
                for kind in ("offer", "answer", "candidates")
            }
            | _NOT_V1,
            remotes=("echotest", "videoroom"),
        ),
        SignalingDriver(
            "whip",
            "WHIP, RFC 9725: url is the endpoint publish steps POST to (http://HOST:PORT/whip/STREAM)",
            _http_only("whip"),
            rooms=False,
            refuses=_HTTP_REFUSES,
        ),
        SignalingDriver(
            "whep",
            "WHEP, draft-ietf-wish-whep: url is the endpoint play steps POST to (http://HOST:PORT/whep/STREAM)",
            _http_only("whep"),
            rooms=False,
            refuses=_HTTP_REFUSES,
        ),
    )
}
HTTP_PROTOCOLS = ("whip", "whep")  # no server of theirs is needed: without a url, the built-in whip-server
BUILT_IN = ("harness", "janus", *HTTP_PROTOCOLS)  # protocols whose server the harness starts when no url is given
DEFAULT_PROTOCOL = "harness"


def driver(protocol: str) -> SignalingDriver:
    """The driver of ``protocol`` (``NAME`` or ``NAME:ARGUMENT``): built in, or an entry point's."""
    name = protocol.split(":", 1)[0]
    if name in DRIVERS:
        return DRIVERS[name]
    plugins = _plugins()
    if name not in plugins:
        raise ValueError(f"unknown signaling protocol {name!r}; known: {', '.join([*DRIVERS, *plugins])}")
    return plugins[name]


def _plugins() -> dict[str, SignalingDriver]:
    """Drivers other packages registered under the entry point group ``pytest_webrtc.signaling``."""
    from importlib.metadata import entry_points

    out = {}
    for point in entry_points(group="pytest_webrtc.signaling"):
        loaded = point.load()
        if isinstance(loaded, SignalingDriver):
            out[point.name] = loaded
    return out


def channel(protocol: str, url: str, room: str, peer: str) -> SignalingChannel:
    """A signaling channel of ``protocol`` (``NAME`` or ``NAME:ARGUMENT``) for ``peer``."""
    argument = protocol.split(":", 1)[1] if ":" in protocol else ""
    return driver(protocol).open(url, room, peer, argument)
