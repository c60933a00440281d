"""What a scenario peer is: protocols for the parts of it, and the capabilities a peer kind declares.

Every peer kind (:mod:`pytest_webrtc.peer.kinds`) implements one of these protocols and declares
the :class:`Capability` set that goes with it; the scenario model checks each step's needs
against it before anything runs, so a step never reaches a peer that cannot do it.

    Peer                 every kind: an id, a report, close
    └── SignalingPeer    in a signaling room: joins, takes offers, answers, trickles candidates
        └── CommandablePeer  told what to do: offers, says bye, opens channels, sends data, has states
            └── MediaPeer    sends and receives synthetic tracks, has getStats, talks to SFUs/MCUs
    HttpOfferPeer        answers an offer POSTed to it (the interop suites' /offer convention)

Methods are declared as returning ``Awaitable`` (not ``async def``) so that a generated proxy
(:class:`~pytest_webrtc.peer.process.ProcessPeer`) satisfies them as well as a coroutine does.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Sequence
from enum import Enum
from typing import Any, Protocol

from .report import MediaSummary, PeerReport

__all__ = [
    "CAPABILITIES",
    "Capability",
    "CommandablePeer",
    "HttpOfferPeer",
    "MediaPeer",
    "Peer",
    "SignalingPeer",
    "protocol_methods",
]


class Capability(str, Enum):
    """What a peer kind can be asked to do; steps name the capabilities they need."""

    SIGNALING = "signaling"  # joins a room, takes offers, answers, trickles candidates
    COMMAND = "command"  # can be told to offer, say bye, open channels, send data; has observable states
    ECHO = "echo"  # echoes every data channel message back (the external-peer convention)
    MEDIA = "media"  # adds/removes synthetic tracks, reports media and getStats, connects to SFUs/MCUs
    HTTP_OFFER = "http-offer"  # answers an offer POSTed to it, candidates inside (no trickle)
    CALL = "call"  # calls another peer when started so, and reports each case of the call (docs/interop.md)
    VIDEO = "video"  # sends a test video when it calls
    ICE_RESTART = "ice-restart"  # restarts ICE in a call (RFC 8445 §9), or answers such a re-offer


# What each capability lets a step do, in the words of an error message ("cannot be told to ...").
CAPABILITIES: dict[Capability, str] = {
    Capability.SIGNALING: "exchange offers, answers and candidates through the signaling server",
    Capability.COMMAND: "be told to offer, send data or report its connection states",
    Capability.ECHO: "echo data back",
    Capability.MEDIA: "send or receive media tracks",
    Capability.HTTP_OFFER: "answer an offer POSTed to it over HTTP",
    Capability.CALL: "call another peer by itself (a stack: peer does)",
    Capability.VIDEO: "send video in a call",
    Capability.ICE_RESTART: "restart ICE (aiortc has no ICE restart)",
}


class Peer(Protocol):
    """Every peer kind."""

    id: str

    def get_report(self) -> Awaitable[PeerReport]: ...

    def close(self) -> Awaitable[None]: ...


class SignalingPeer(Peer, Protocol):
    """A peer in a signaling room (our protocol v1)."""

    def join(self, timeout: float = 5.0) -> Awaitable[list[str]]: ...

    def accept(self, kind: str, timeout: float = 5.0) -> Awaitable[str]: ...

    def answer(self, to: str, timeout: float = 10.0) -> Awaitable[str]: ...

    def send_candidates(self, to: str) -> Awaitable[list[str]]: ...

    def receive_candidates(self, timeout: float = 5.0) -> Awaitable[list[str]]: ...

    def wait_bye(self, timeout: float) -> Awaitable[str]: ...


class CommandablePeer(SignalingPeer, Protocol):
    """A peer the harness drives: our aiortc agent, in process or as a child process."""

    def offer(self, to: str, timeout: float = 10.0) -> Awaitable[str]: ...

    def bye(self, to: str) -> Awaitable[None]: ...

    def wait_peer(self, kind: str, timeout: float) -> Awaitable[str]: ...

    def wait_joined(self, peer: str, timeout: float = 10.0) -> Awaitable[None]: ...

    def wait_error(self, timeout: float) -> Awaitable[dict[str, Any]]: ...

    def add_channel(
        self,
        label: str,
        ordered: bool = True,
        max_retransmits: int | None = None,
        max_packet_lifetime: int | None = None,
    ) -> Awaitable[None]: ...

    def wait_state(self, kind: str, states: Sequence[str], timeout: float) -> Awaitable[str]: ...

    def wait_channel_open(self, label: str, timeout: float) -> Awaitable[None]: ...

    def send(self, label: str, data: str | bytes, timeout: float = 5.0) -> Awaitable[None]: ...

    def wait_messages(self, label: str, count: int, timeout: float) -> Awaitable[list[str | bytes]]: ...

    def offer_with_candidates(self, timeout: float = 10.0) -> Awaitable[str]: ...

    def apply_answer(self, sdp: str) -> Awaitable[None]: ...


class MediaPeer(CommandablePeer, Protocol):
    """A commandable peer with synthetic media and getStats, which can also join SFUs and MCUs."""

    def add_track(
        self,
        kind: str,
        codec: str | None = None,
        width: int = 320,
        height: int = 240,
        tone: float = 440.0,
        noise: bool = False,
    ) -> Awaitable[str]: ...

    def remove_track(self, kind: str) -> Awaitable[str]: ...

    def set_direction(self, kind: str, direction: str) -> Awaitable[str]: ...

    def wait_media(
        self, kind: str, frames: int, timeout: float, source: str | None = None
    ) -> Awaitable[MediaSummary]: ...

    def count_media_for(
        self, kind: str, seconds: float, grace: float = 0.2, source: str | None = None
    ) -> Awaitable[int]: ...

    def tone_levels(self, kind: str, frequencies: Sequence[float], source: str | None = None) -> Awaitable[list[float]]:
        """dB relative to the loudest component, one per frequency, in the order asked."""
        ...

    def stats(self, kind: str) -> Awaitable[dict[str, Any]]: ...

    def follow(self, remote: str) -> Awaitable[None]: ...

    def http_offer(self, receive: Sequence[str] = (), timeout: float = 10.0) -> Awaitable[str]:
        """An offer for a WHIP/WHEP endpoint, candidates inside: the tracks it sends, receive-only
        transceivers for ``receive``, no data channel."""
        ...

    def connect_to(self, actor: str, timeout: float = 10.0) -> Awaitable[dict[str, Any]]: ...


class HttpOfferPeer(Peer, Protocol):
    """Another stack's echo server, reached by POSTing the whole offer to its URL."""

    url: str

    def exchange(self, offer_sdp: str, timeout: float) -> Awaitable[str]: ...


def protocol_methods(protocol: type) -> dict[str, inspect.Signature]:
    """The methods a protocol declares (its bases' included), with their signatures."""
    out: dict[str, inspect.Signature] = {}
    for klass in reversed(protocol.__mro__):
        if klass in (object, Protocol) or not getattr(klass, "_is_protocol", False):
            continue
        for name, member in vars(klass).items():
            if not name.startswith("_") and inspect.isfunction(member):
                out[name] = inspect.signature(member)
    return out
