"""The peer kinds a scenario can declare: one registry entry each, with its capabilities.

A scenario peer's kind follows from its declaration (``offer-url:`` -> ``offer-url``,
``command:`` -> ``command``, ``stack: firefox`` -> ``stack:firefox`` (one kind per stack of
:data:`~pytest_webrtc.peer.stacks.STACKS`), ``process: true`` or a NAT topology -> ``process``, else
``aiortc``).  The scenario model checks every step against the kind's capabilities at load
time; the world builder calls the kind's ``start`` with a :class:`PeerSetup`.  Adding a kind
(Firefox, GStreamer, a peer behind another signaling protocol) is one entry here plus its module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import PeerError
from .interface import Capability, HttpOfferPeer, MediaPeer, Peer, SignalingPeer
from .stacks import STACKS

if TYPE_CHECKING:
    from ..signaling.server import SignalingServer

__all__ = ["PEER_KINDS", "PeerKind", "PeerSetup"]


@dataclass(frozen=True)
class PeerSetup:
    """Everything a peer kind may need to start one peer of a scenario."""

    name: str
    room: str
    signaling_url: str
    ice_servers: list[dict[str, Any]]
    candidates: str | list[str] = "loopback"
    signaling_server: SignalingServer | None = None  # the built-in one, when it runs (external peers need it)
    netns: str | None = None  # run inside this network namespace (behind a NAT)
    command: str | None = None
    offer_url: str | None = None
    cwd: str | None = None  # where a command runs: the scenario file's directory
    signaling_protocol: str = "harness"  # the signaling driver (pytest_webrtc.signaling.drivers)
    stack: str | None = None  # a stack of pytest_webrtc.peer.stacks: its program is the peer
    call: str | None = None  # the peer this one calls (a call step's from)
    cases: tuple[str, ...] = ()  # what the call it takes part in covers
    host_addresses: tuple[str, ...] = ("127.0.0.1",)  # the only addresses its ICE may use
    env: dict[str, str] | None = None  # a program's extra environment (command: peers)


@dataclass(frozen=True)
class PeerKind:
    name: str
    description: str  # as error messages name it: "bob is {description} and cannot ..."
    capabilities: frozenset[Capability]
    start: Callable[[PeerSetup], Awaitable[Peer]]


async def _aiortc(setup: PeerSetup) -> MediaPeer:
    from .agent import PeerAgent

    return PeerAgent(
        setup.name,
        setup.signaling_url,
        setup.room,
        ice_servers=setup.ice_servers,
        candidates=setup.candidates,
        protocol=setup.signaling_protocol,
    )


async def _process(setup: PeerSetup) -> MediaPeer:
    from .process import ProcessPeer

    peer = ProcessPeer(
        setup.name,
        setup.signaling_url,
        setup.room,
        ice_servers=setup.ice_servers,
        candidates=setup.candidates,
        netns=setup.netns,
        protocol=setup.signaling_protocol,
    )
    await peer.start()
    return peer


async def _command(setup: PeerSetup) -> SignalingPeer:
    from .external import ExternalPeer

    assert setup.command is not None
    env = {"WEBRTC_HOST_ADDRESSES": ",".join(setup.host_addresses), **(setup.env or {})}
    peer = ExternalPeer(
        setup.name, setup.command, setup.signaling_server, setup.room, setup.ice_servers, setup.cwd, setup.netns, env
    )
    await peer.start()
    return peer


async def _stack(setup: PeerSetup) -> SignalingPeer:
    from .external import ExternalPeer
    from .stacks import STACKS

    assert setup.stack is not None
    stack = STACKS[setup.stack]
    missing = stack.missing()
    if missing:
        raise PeerError(missing)
    env = {"WEBRTC_CASES": ",".join(setup.cases), "WEBRTC_HOST_ADDRESSES": ",".join(setup.host_addresses)}
    if setup.call:
        env["WEBRTC_CALL"] = setup.call
    peer = ExternalPeer(
        setup.name, stack.argv(), setup.signaling_server, setup.room, setup.ice_servers, stack.cwd(), setup.netns, env
    )
    await peer.start()
    return peer


async def _offer_url(setup: PeerSetup) -> HttpOfferPeer:
    from .http_offer import HttpOfferPeer as Http

    assert setup.offer_url is not None
    return Http(setup.name, setup.offer_url)


_COMMANDED = frozenset({Capability.SIGNALING, Capability.COMMAND, Capability.MEDIA})
PEER_KINDS: dict[str, PeerKind] = {
    kind.name: kind
    for kind in (
        PeerKind("aiortc", "an aiortc peer", _COMMANDED, _aiortc),
        PeerKind("process", "an aiortc peer in its own process", _COMMANDED, _process),
        PeerKind(
            "command",
            "an external program (command:)",
            frozenset({Capability.SIGNALING, Capability.ECHO}),
            _command,
        ),
        *(
            PeerKind(
                f"stack:{stack.name}",
                stack.description,
                frozenset({Capability.SIGNALING, Capability.ECHO, Capability.CALL})
                | ({Capability.VIDEO} if stack.sends_video else set())
                | ({Capability.ICE_RESTART} if stack.restarts_ice else set()),
                _stack,
            )
            for stack in STACKS.values()
        ),
        PeerKind(
            "offer-url",
            "an echo server reached over HTTP (offer-url:)",
            frozenset({Capability.HTTP_OFFER, Capability.ECHO}),
            _offer_url,
        ),
    )
}
