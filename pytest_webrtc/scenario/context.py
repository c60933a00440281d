"""What a running scenario is made of, at the bottom of the engine: the world and the run's state.

:class:`World` is what :mod:`~pytest_webrtc.scenario.world` builds and tears down: servers,
peers (each behind its kind's protocol), server actors, the NAT topology and the capture.
:class:`RunContext` is what steps share while they run: the world plus what the steps so far
did (who joined, the SDPs sent, reports of peers that left, conformance findings).  Steps get
their peers through typed accessors (:meth:`RunContext.commanded`, :meth:`RunContext.media`, ...),
which the load-time capability check makes safe.

Nothing in this module imports the step registry, the steps or the runner.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ..addresses import Address
from ..candidates import addresses_of, sdp_candidates
from ..errors import Expectation, PeerError
from ..peer.interface import (
    CAPABILITIES,
    Capability,
    CommandablePeer,
    HttpOfferPeer,
    MediaPeer,
    Peer,
    SignalingPeer,
)
from ..peer.report import PeerReport
from ..rules import Finding
from .model import Scenario
from .wire import WireRecorder, WireScope

if TYPE_CHECKING:
    from ..background import BackgroundLoop
    from ..conformance.stun import StunTarget
    from ..conformance.turn_target import TurnTarget
    from ..coturn import CoturnTurn
    from ..janus.server import JanusServer
    from ..nat.decoy import Decoy
    from ..nat.topology import Topology
    from ..nat.turn import CoturnRelay
    from ..sfu.actor import RoomActor
    from ..signaling.server import SignalingServer
    from ..stun.server import StunServer
    from ..whip.client import WhipSession
    from ..whip.server import WhipServer

__all__ = ["RunContext", "World"]


@dataclass
class World:
    """The running actors of one scenario."""

    scenario: Scenario
    peers: dict[str, Peer] = field(default_factory=dict)
    stun_server: StunServer | None = None  # the built-in one
    stun_address: Address | None = None  # where peers ask STUN (built-in or the user's)
    stun_target: StunTarget | None = None  # what STUN conformance steps judge
    signaling_server: SignalingServer | None = None  # the built-in one
    signaling_url: str = ""
    signaling_protocol: str = "harness"  # the driver the peers speak (pytest_webrtc.signaling.drivers)
    actors: dict[str, RoomActor] = field(default_factory=dict)  # server actors in the room (SFU, MCU), by id
    topology: Topology | None = None  # peers behind NATs
    public_loop: BackgroundLoop | None = None  # runs the servers inside the topology's public namespace
    turn: CoturnRelay | None = None  # coturn as the topology's relay
    turn_ice: dict[str, Any] | None = None  # the relay in the peers' iceServers (coturn's, or the user's)
    turn_address: Address | None = None  # another project's TURN server the topology's peers relay through
    turn_target: TurnTarget | None = None  # what TURN conformance steps judge
    turn_server: CoturnTurn | None = None  # coturn started to be judged (no topology)
    turn_decoy: Decoy | None = None  # the relay rules' peer host, in a namespace of its own
    wire: WireRecorder | None = None  # the capture, when the scenario captures
    janus: JanusServer | None = None  # the built-in Janus (servers.signaling protocol janus, no url)
    whip_server: WhipServer | None = None  # the built-in WHIP/WHEP endpoint (publish/play steps without a url)
    whip_sessions: dict[str, WhipSession] = field(default_factory=dict)  # peer -> its WHIP/WHEP session
    whip_deleted: dict[str, str] = field(default_factory=dict)  # peer -> what its session's DELETE got

    def stun_servers(self) -> set[Address]:
        """Every address a STUN (or TURN) server of the run answers on."""
        servers: set[Address] = set()
        if self.stun_server is not None and self.stun_server.udp_address is not None:
            servers.add(self.stun_server.udp_address)
            for row in self.stun_server.responder.endpoints or []:
                servers.update(row)
        elif self.stun_address is not None:
            servers.add(self.stun_address)
        if self.turn is not None:  # a TURN server is a STUN server too (RFC 8656 extends RFC 8489)
            servers.add((self.turn.address, self.turn.port))
        if self.turn_target is not None:
            servers.add(self.turn_target.server)
        if self.turn_address is not None:
            servers.add(self.turn_address)
        return servers


@dataclass
class RunContext:
    """The world and what the steps so far did."""

    world: World
    joined: dict[str, list[str]] = field(default_factory=dict)  # room -> members, in join order
    listed: dict[str, list[str]] = field(default_factory=dict)  # peer -> whom the server listed when it joined
    closed: set[str] = field(default_factory=set)
    sdp: dict[str, str] = field(default_factory=dict)  # peer -> the last offer/answer it sent
    channel_ordered: dict[str, bool] = field(default_factory=dict)
    final_reports: dict[str, PeerReport] = field(default_factory=dict)  # of peers that left
    http_answered: dict[str, str] = field(default_factory=dict)  # HTTP peer -> whom it answered
    conformance: list[Finding] = field(default_factory=list)
    sending: dict[str, set[str]] = field(default_factory=dict)  # peer -> the kinds its track steps added
    background: list[asyncio.Future[None]] = field(default_factory=list)  # steps' work that goes on (an outage)
    calls: list[dict[str, Any]] = field(default_factory=list)  # call steps: from, to, and each case's report

    @property
    def scenario(self) -> Scenario:
        return self.world.scenario

    # -- peers, typed by what they can do ------------------------------------------------

    def can(self, name: str, capability: Capability) -> bool:
        return capability in self.scenario.peers[name].kind.capabilities

    def _peer(self, name: str, capability: Capability) -> Peer:
        if not self.can(name, capability):  # the model refuses such scenarios at load time
            kind = self.scenario.peers[name].kind
            raise Expectation(f"{name} is {kind.description} and cannot {CAPABILITIES[capability]}")
        return self.world.peers[name]

    def peer(self, name: str) -> Peer:
        return self.world.peers[name]

    def signaling_peer(self, name: str) -> SignalingPeer:
        return cast(SignalingPeer, self._peer(name, Capability.SIGNALING))

    def commanded(self, name: str) -> CommandablePeer:
        return cast(CommandablePeer, self._peer(name, Capability.COMMAND))

    def media(self, name: str) -> MediaPeer:
        return cast(MediaPeer, self._peer(name, Capability.MEDIA))

    def http(self, name: str) -> HttpOfferPeer:
        return cast(HttpOfferPeer, self._peer(name, Capability.HTTP_OFFER))

    def room_of(self, peer: str) -> str:
        return self.scenario.peers[peer].room or self.scenario.room

    async def reports(self) -> dict[str, PeerReport]:
        """Every peer's report: final ones for peers that left, fresh ones for the others."""
        out = dict(self.final_reports)
        for name, peer in self.world.peers.items():
            if name not in self.closed:
                try:
                    out[name] = await asyncio.wait_for(peer.get_report(), 10)
                except (PeerError, asyncio.TimeoutError):
                    pass
        return out

    def wire_scope(self, reports: dict[str, PeerReport]) -> WireScope:
        """What the wire verdict needs: each side's SDP and candidate addresses, the servers."""
        sdps = dict(self.sdp)
        endpoints = {  # "alice~2": alice's second description (an ICE restart), her candidates all the same
            name: addresses_of(
                line for lines in reports.get(name.split("~")[0], {}).get("candidates", {}).values() for line in lines
            )
            for name in sdps
        }
        for actor in self.world.actors.values():  # an SFU: one ICE agent, one DTLS certificate per session
            for name, (sdp, candidates) in actor.wire_endpoints().items():
                sdps[name] = sdp
                endpoints[name] = addresses_of(candidates)
        for name, session in self.world.whip_sessions.items():  # the endpoint's side of each WHIP/WHEP session
            sdps[f"{name}@endpoint"] = session.answer
            endpoints[f"{name}@endpoint"] = addresses_of(sdp_candidates(session.answer))
        signaling = self.world.signaling_server
        return WireScope(
            sdps,
            endpoints,
            self.world.stun_servers(),
            self.scenario.path,
            list(signaling.relayed) if signaling is not None else [],
            [(bytes.fromhex(k["tx"]), int(k["profile"])) for r in reports.values() for k in r.get("srtp", [])],
            # your TURN server beside a topology is reached through its uplink's masquerade (nat.topology)
            frozenset({self.world.turn_address}) if self.world.turn_address and self.world.topology else frozenset(),
        )
