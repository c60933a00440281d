"""Signaling drivers: the protocols the harness's peers can signal through, one registry entry each.

``harness`` is protocol v1 (:mod:`.protocol`, the built-in server's); ``peerjs`` is the PeerJS
server's (:mod:`.peerjs`).  A driver says what its protocol can express: the steps that need
something else (rooms with notices, the built-in server's relay log) are refused when the
scenario is loaded, with the step's line and why — never run with a silent difference.
Adding a protocol is one entry here plus its module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["DEFAULT_PROTOCOL", "DRIVERS", "SignalingChannel", "SignalingDriver", "channel"]


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
    open: Callable[[str, str, str], SignalingChannel]  # (url, room, peer) -> the peer's channel
    rooms: bool = True  # the server lists a room's peers at join and sends peer-joined / peer-left notices
    refuses: dict[str, str] = field(default_factory=dict)  # step kind -> why it cannot run through this protocol


def _harness(url: str, room: str, peer: str) -> SignalingChannel:
    from .client import SignalingClient

    return SignalingClient(url, room, peer)


def _peerjs(url: str, room: str, peer: str) -> SignalingChannel:
    from .peerjs import PeerJsClient

    return PeerJsClient(url, room, peer)


_NO_ROOMS = "PeerJS has no rooms, so no peer-left notices to check"
DRIVERS: dict[str, SignalingDriver] = {
    driver.name: driver
    for driver in (
        SignalingDriver("harness", "protocol v1 (the built-in signaling server's; docs/signaling.md)", _harness),
        SignalingDriver(
            "peerjs",
            "the PeerJS server's (npm peer): ws://HOST:PORT/PATH, key 'peerjs' unless the URL says ?key=",
            _peerjs,
            rooms=False,
            refuses={
                "leave": _NO_ROOMS,
                "expect-signaling": "it judges the built-in server's relay log, and PeerJS is another server",
                "signaling-conformance": "its rules are protocol v1's (conformance signaling --protocol is not built)",
            },
        ),
    )
}
DEFAULT_PROTOCOL = "harness"


def channel(protocol: str, url: str, room: str, peer: str) -> SignalingChannel:
    """A signaling channel of ``protocol`` for ``peer``."""
    try:
        driver = DRIVERS[protocol]
    except KeyError:
        raise ValueError(f"unknown signaling protocol {protocol!r}; known: {', '.join(DRIVERS)}") from None
    return driver.open(url, room, peer)
