"""A WebRTC peer: one aiortc RTCPeerConnection driven step by step, over real signaling.

The agent never shortcuts: SDP and ICE candidates travel through the signaling
server over a WebSocket.  Candidates are stripped from the SDP it sends and
trickled as separate ``candidate`` messages (step 6 of the seed flow).  It keeps
a report: gathered candidates by type, the selected pair, every state change
with its time, and the data channel messages.  Its media half is
:mod:`~pytest_webrtc.peer.agent_media`; the SDP text it handles, :mod:`~pytest_webrtc.peer.sdp`.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcdatachannel import RTCDataChannel

from ..errors import PeerError, SignalingError
from ..signaling.drivers import DEFAULT_PROTOCOL, channel
from ..wakeup import Wakeup
from .agent_media import AgentMedia
from .hosts import CANDIDATE_SETS, gather_timeout, host_addresses, may_reach
from .keying import srtp_keying
from .pacing import check_on_arrival
from .report import PeerReport, candidate_type, selected_pair
from .sdp import TrickledCandidate, codecs_offered, split_candidates, trickled_candidate

__all__ = ["PeerAgent", "PeerEvent"]


@dataclass(frozen=True)
class PeerEvent:
    time: float
    kind: str  # "state", "signaling-in", "signaling-out", "candidate", "message", ...
    detail: str


class PeerAgent(AgentMedia):
    """One peer of a scenario: the MediaPeer protocol (:mod:`pytest_webrtc.peer.interface`) over aiortc."""

    def __init__(
        self,
        peer_id: str,
        signaling_url: str,
        room: str,
        *,
        ice_servers: Sequence[dict[str, Any]] = (),
        candidates: str | list[str] = "loopback",
        protocol: str = DEFAULT_PROTOCOL,
    ) -> None:
        self.id = peer_id
        self.signaling = channel(protocol, signaling_url, room, peer_id)
        # Never aiortc's default public STUN server: an explicit (possibly empty) list.
        servers = [RTCIceServer(**server) for server in ice_servers]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.host_addresses = CANDIDATE_SETS[candidates] if isinstance(candidates, str) else list(candidates)
        self.events: list[PeerEvent] = []
        self.channels: dict[str, RTCDataChannel] = {}
        self.messages: defaultdict[str, list[str | bytes]] = defaultdict(list)
        self.local_candidates: list[TrickledCandidate] = []
        self.remote_candidates: list[str] = []
        self.ignored_candidates: list[tuple[float, str]] = []  # (when, line): delivered, deliberately not used
        self.present: set[str] = set()  # the room's peers as far as this peer knows (join list, peer-joined)
        self._changed = Wakeup()
        self.echo = False  # echo every received message back on its channel (the echo-peer convention)
        self.media: dict[str, Any] = {}  # kind -> MediaLog of the first track of that kind
        self.media_by_track: dict[str, Any] = {}  # remote track id -> MediaLog (several per kind via an SFU)
        self.renegotiations = 0  # offers answered by follow()
        self._follower: asyncio.Task[None] | None = None
        self.tracks: dict[str, Any] = {}  # kind -> the synthetic track we send
        self._consumers: list[asyncio.Future[None]] = []
        self._ice_servers = servers
        # A second connection, for what a server sends on a connection of its own (Janus's videoroom
        # subscriptions): created by the first offer that says {"connection": "subscriber"}.
        self.subscriber_pc: RTCPeerConnection | None = None
        self._watch_pc()

    # -- bookkeeping -------------------------------------------------------------

    def _event(self, kind: str, detail: str) -> None:
        self.events.append(PeerEvent(time.time(), kind, detail))

    async def _notify(self) -> None:
        self._changed.wake()

    def _watch_pc(self) -> None:
        for name, attr in (
            ("connectionstatechange", "connectionState"),
            ("iceconnectionstatechange", "iceConnectionState"),
            ("icegatheringstatechange", "iceGatheringState"),
            ("signalingstatechange", "signalingState"),
        ):
            self._on_state(name, attr)

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self._event("media", f"{track.kind} track arriving")
            self._consumers.append(asyncio.ensure_future(self._consume(track)))

        @self.pc.on("datachannel")
        async def on_datachannel(channel: RTCDataChannel) -> None:
            # A channel the remote opened arrives already open (no "open" event): wake waiters now.
            self._adopt(channel)
            await self._notify()

    def _on_state(self, event: str, attr: str) -> None:
        kind = attr.replace("State", "")

        @self.pc.on(event)
        async def changed() -> None:
            self._event("state", f"{kind}={getattr(self.pc, attr)}")
            await self._notify()

    def _dtls(self) -> Any:
        """The (BUNDLEd) DTLS transport: the data channel's, else the first media transceiver's."""
        if self.pc.sctp is not None:
            return self.pc.sctp.transport
        return next((t.sender.transport for t in self.pc.getTransceivers() if t.sender.transport), None)

    def _watch_dtls(self) -> None:
        transport = self._dtls()
        if transport is None or getattr(self, "_dtls_watched", False):
            return
        self._dtls_watched = True

        async def dtls_changed() -> None:
            self._event("state", f"dtls={transport.state}")
            await self._notify()

        transport.on("statechange", dtls_changed)

    def _adopt(self, channel: RTCDataChannel) -> None:
        self.channels[channel.label] = channel
        self._event("channel", f"{channel.label} announced")

        @channel.on("open")
        async def opened() -> None:
            self._event("channel", f"{channel.label} open")
            await self._notify()

        @channel.on("close")
        async def closed() -> None:
            self._event("channel", f"{channel.label} closed")
            await self._notify()

        @channel.on("message")
        async def received(message: str | bytes) -> None:
            self.messages[channel.label].append(message)
            if self.echo and channel.readyState == "open":
                channel.send(message)
            size = len(message)
            self._event("message", f"{channel.label} <- {size} {'chars' if isinstance(message, str) else 'bytes'}")
            await self._notify()

    async def wait_until(self, predicate: Any, timeout: float, what: str) -> None:
        """Wait until ``predicate()`` is true; raise PeerError naming ``what`` on timeout."""

        try:
            await self._changed.until(lambda: True if predicate() else None, timeout)
        except TimeoutError:
            raise PeerError(f"{self.id}: {what} did not happen within {timeout:g} s") from None

    # -- signaling ---------------------------------------------------------------

    async def join(self, timeout: float = 5.0) -> list[str]:
        peers = await self.signaling.join(timeout)
        self._event("signaling-out", f"join {self.signaling.room}")
        self.present.update(peers)
        return peers

    async def wait_joined(self, peer: str, timeout: float = 10.0) -> None:
        """Until ``peer`` is in the room: listed when this peer joined, or announced since (a program joins
        when it starts, before or after us). Notices of others that come meanwhile are remembered."""
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            while peer not in self.present:
                await self.wait_peer("peer-joined", max(deadline - asyncio.get_running_loop().time(), 0))
        except SignalingError:
            raise PeerError(
                f"{self.id}: {peer} did not join room {self.signaling.room!r} within {timeout:g} s"
            ) from None

    async def _send(self, kind: str, to: str, **fields: Any) -> None:
        await self.signaling.send(kind, to, **fields)
        self._event("signaling-out", f"{kind} -> {to}")

    async def _receive(self, kind: str, timeout: float) -> dict[str, Any]:
        message = await self.signaling.next_of(kind, "error", timeout=timeout)
        if message["type"] == "error":
            raise PeerError(f"{self.id}: signaling error {message['code']}: {message['reason']}")
        self._event("signaling-in", f"{kind} <- {message.get('from', 'server')}")
        return message

    async def wait_error(self, timeout: float) -> dict[str, Any]:
        """The next error the signaling server sent this peer (e.g. a refused relay)."""
        return await self.signaling.next_of("error", timeout=timeout)

    async def wait_peer(self, kind: str, timeout: float) -> str:
        """Wait for a ``peer-joined`` or ``peer-left`` notice; returns the peer id."""
        message = await self._receive(kind, timeout)
        peer = str(message["peer"])
        (self.present.add if kind == "peer-joined" else self.present.discard)(peer)
        return peer

    # -- SDP -------------------------------------------------------------------------

    async def _set_local(self, description: RTCSessionDescription) -> str:
        with host_addresses(self.host_addresses), gather_timeout():
            await self.pc.setLocalDescription(description)
        self._watch_dtls()
        dtls = self._dtls()
        if dtls is not None:  # trickled candidates are checked on arrival (paced by Ta): peer/pacing.py
            check_on_arrival(getattr(dtls.transport, "_connection", None))
        sdp, self.local_candidates = split_candidates(self.pc.localDescription.sdp)
        for candidate in self.local_candidates:
            self._event("candidate", f"gathered {candidate.candidate}")
        return sdp

    async def offer(self, to: str, timeout: float = 10.0) -> str:
        if self.pc.connectionState == "closed":
            raise PeerError(f"{self.id}: cannot offer, its connection is closed")
        sdp = await self._local_offer(timeout)
        await self._send("offer", to, sdp=sdp)
        return sdp

    async def _local_offer(self, timeout: float) -> str:
        """Create and apply an offer (gathering candidates); the SDP without its candidates."""
        if not self.channels:
            await self.add_channel("data")
        return await asyncio.wait_for(self._set_local(await self.pc.createOffer()), timeout)

    async def offer_with_candidates(self, timeout: float = 10.0) -> str:
        """An offer with its candidates inside (no trickle), for peers reached over HTTP."""
        await self._local_offer(timeout)
        self._event("signaling-out", "offer (with candidates) over HTTP")
        return str(self.pc.localDescription.sdp)

    async def http_offer(self, receive: Sequence[str] = (), timeout: float = 10.0) -> str:
        """An offer for WHIP (the tracks it sends) or WHEP (receive-only ``receive`` kinds), no data channel."""
        if self.pc.connectionState == "closed":
            raise PeerError(f"{self.id}: cannot offer, its connection is closed")
        for kind in receive:
            self.pc.addTransceiver(kind, direction="recvonly")
        await asyncio.wait_for(self._set_local(await self.pc.createOffer()), timeout)
        self._event("signaling-out", "offer (with candidates) over HTTP")
        return str(self.pc.localDescription.sdp)

    async def apply_answer(self, sdp: str) -> None:
        await self._apply_remote(sdp, "answer", "HTTP")
        self._event("signaling-in", "answer over HTTP")

    async def accept(self, kind: str, timeout: float = 5.0) -> str:
        """Wait for an offer or answer and apply it; returns who sent it."""
        message = await self._receive(kind, timeout)
        await self._apply_remote(message["sdp"], kind, message.get("from"))
        return str(message["from"])

    async def _apply_remote(self, sdp: str, kind: str, origin: Any) -> None:
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        except Exception as exc:  # aiortc's own words, with what the two sides offered
            raise PeerError(
                f"{self.id} cannot apply the {kind} from {origin}: {type(exc).__name__}: {exc}{self._codec_clash(sdp)}"
            ) from None
        self._watch_dtls()
        self.remote_sdp = sdp

    def _codec_clash(self, remote_sdp: str) -> str:
        """Say which codecs each side wanted, when a media kind has none in common."""
        notes = []
        for transceiver in self.pc.getTransceivers():
            kind = transceiver.kind
            preferred = {c.mimeType.split("/")[1].lower() for c in getattr(transceiver, "_preferred_codecs", [])}
            offered = set(codecs_offered(remote_sdp, kind)) - {"rtx"}
            if preferred and offered and not preferred & {c.lower() for c in offered}:
                notes.append(
                    f"no {kind} codec in common: the remote side offers {', '.join(sorted(offered))}, "
                    f"{self.id} accepts {', '.join(sorted(preferred))}"
                )
        return "; " + "; ".join(notes) if notes else ""

    async def answer(self, to: str, timeout: float = 10.0) -> str:
        sdp = await asyncio.wait_for(self._set_local(await self.pc.createAnswer()), timeout)
        await self._send("answer", to, sdp=sdp)
        return sdp

    # -- trickle ICE ------------------------------------------------------------------

    async def send_candidates(self, to: str) -> list[str]:
        for candidate in self.local_candidates:
            await self._send(
                "candidate",
                to,
                candidate=candidate.candidate,
                sdpMid=candidate.sdp_mid,
                sdpMLineIndex=candidate.sdp_mline_index,
            )
        await self._send("end-of-candidates", to)
        return [c.candidate for c in self.local_candidates]

    async def receive_candidates(self, timeout: float = 5.0) -> list[str]:
        """Add every trickled candidate until end-of-candidates."""
        deadline = asyncio.get_running_loop().time() + timeout
        received: list[str] = []
        while True:
            left = deadline - asyncio.get_running_loop().time()
            message = await self.signaling.next_of("candidate", "end-of-candidates", "error", timeout=max(left, 0))
            if message["type"] == "error":
                raise PeerError(f"{self.id}: signaling error {message['code']}: {message['reason']}")
            if message["type"] == "end-of-candidates":
                self._event("signaling-in", f"end-of-candidates <- {message['from']}")
                await self.pc.addIceCandidate(None)
                return received
            if not may_reach(message["candidate"], self.host_addresses):
                received.append(message["candidate"])  # delivered by signaling, deliberately not used
                self.ignored_candidates.append((time.time(), message["candidate"]))
                self._event("candidate", f"ignored {message['candidate']}: tests talk to loopback only")
                continue
            await self.pc.addIceCandidate(trickled_candidate(message))
            received.append(message["candidate"])
            self.remote_candidates.append(message["candidate"])
            self._event("signaling-in", f"candidate <- {message['from']}: {message['candidate']}")

    # -- states and data -----------------------------------------------------------

    def state(self, kind: str) -> str:
        if kind == "dtls":
            transport = self._dtls()
            return str(transport.state) if transport is not None else "new"
        return str(
            getattr(
                self.pc,
                {"ice": "iceConnectionState", "gathering": "iceGatheringState", "signaling": "signalingState"}.get(
                    kind, "connectionState"
                ),
            )
        )

    async def wait_state(self, kind: str, states: Sequence[str], timeout: float) -> str:
        await self.wait_until(lambda: self.state(kind) in states, timeout, f"{kind} state {'/'.join(states)}")
        return self.state(kind)

    async def wait_channel_open(self, label: str, timeout: float) -> None:
        await self.wait_until(
            lambda: label in self.channels and self.channels[label].readyState == "open",
            timeout,
            f"data channel {label!r} open",
        )

    async def send(self, label: str, data: str | bytes, timeout: float = 5.0) -> None:
        await self.wait_channel_open(label, timeout)
        self.channels[label].send(data)
        self._event("message", f"{label} -> {len(data)} {'chars' if isinstance(data, str) else 'bytes'}")

    async def wait_messages(self, label: str, count: int, timeout: float) -> list[str | bytes]:
        """Every message received on ``label``, once there are ``count``; PeerError when the channel
        closed before (the other side reset it: nothing more can come)."""

        def arrived() -> bool:
            got = len(self.messages[label])
            channel = self.channels.get(label)
            if got < count and channel is not None and channel.readyState == "closed":
                raise PeerError(f"{self.id}: data channel {label!r} closed after {got} of {count} message(s)")
            return got >= count

        await self.wait_until(arrived, timeout, f"{count} message(s) on {label!r} (got {len(self.messages[label])})")
        return list(self.messages[label])

    async def bye(self, to: str) -> None:
        await self._send("bye", to)

    async def wait_bye(self, timeout: float) -> str:
        return str((await self._receive("bye", timeout))["from"])

    async def add_channel(
        self,
        label: str,
        ordered: bool = True,
        max_retransmits: int | None = None,
        max_packet_lifetime: int | None = None,
    ) -> None:
        """Open a data channel (before the offer; the offer opens ``data`` itself if none was)."""
        channel = self.pc.createDataChannel(
            label, ordered=ordered, maxRetransmits=max_retransmits, maxPacketLifeTime=max_packet_lifetime
        )
        self._adopt(channel)

    async def connect_to(self, actor: str, timeout: float = 10.0) -> dict[str, Any]:
        """Connect to a server actor (an SFU, an MCU): offer, apply its answer, trickle candidates
        both ways, answer its later offers (:meth:`follow`), wait until connected.  Returns what
        happened: the offer sent, who answered, the candidates sent and received.  An answer from
        anyone else is a PeerError."""
        sdp = await self.offer(actor, timeout=timeout)
        answered_by = await self.accept("answer", timeout=timeout)
        if answered_by != actor:
            raise PeerError(f"{self.id} expected the answer from {actor}, got one from {answered_by}")
        sent = await self.send_candidates(actor)
        received = await self.receive_candidates(timeout=timeout)
        await self.follow(actor)
        await self.wait_state("connection", ["connected"], timeout)
        return {"offer": sdp, "answered_by": answered_by, "sent": sent, "received": received}

    async def follow(self, remote: str) -> None:
        """From now on, answer every offer ``remote`` sends (an SFU renegotiating), in the background."""
        if self._follower is None:
            self._follower = asyncio.create_task(self._follow(remote), name=f"follow-{self.id}")

    async def _follow(self, remote: str) -> None:
        while True:
            try:
                message = await self.signaling.next_of("offer", timeout=3600)
            except SignalingError:
                return  # signaling closed: nothing more to answer
            origin = message.get("from")
            self._event("signaling-in", f"offer <- {origin} (renegotiation)")
            try:
                if message.get("connection") == "subscriber":
                    await self._answer_subscription(str(origin), message["sdp"])
                    continue
                await self._apply_remote(message["sdp"], "offer", origin)
                await self.answer(str(origin))
            except SignalingError:
                return  # closing: the answer cannot go out any more
            except PeerError as exc:
                self._event("error", str(exc))
                continue
            self.renegotiations += 1
            await self._notify()

    async def _answer_subscription(self, origin: str, sdp: str) -> None:
        """Answer a server's offer on the subscriber connection (candidates inside the answer)."""
        if self.subscriber_pc is None:
            self.subscriber_pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers))

            @self.subscriber_pc.on("track")
            def on_track(track: Any) -> None:
                self._event("media", f"{track.kind} track {track.id} arriving (subscriber connection)")
                self._consumers.append(asyncio.ensure_future(self._consume(track)))

        pc = self.subscriber_pc
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            with host_addresses(self.host_addresses), gather_timeout():
                await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc's words
            raise PeerError(
                f"{self.id} cannot answer {origin}'s subscription offer: {type(exc).__name__}: {exc}"
            ) from None
        await self._send("answer", origin, sdp=pc.localDescription.sdp, connection="subscriber")
        self._event("signaling-out", f"answer -> {origin} (subscriber connection, candidates inside)")
        self.renegotiations += 1
        await self._notify()

    async def get_report(self) -> PeerReport:
        return self.report()

    async def close(self) -> None:
        # Signaling first: the follower then ends by itself; cancelling is the fallback.
        await self.signaling.close()
        if self._follower is not None:
            done, _ = await asyncio.wait({self._follower}, timeout=5)
            if not done:
                self._follower.cancel()
        for track in self.tracks.values():
            track.stop()
        await self.pc.close()
        if self.subscriber_pc is not None:
            await self.subscriber_pc.close()
        for consumer in self._consumers:
            consumer.cancel()
        await asyncio.gather(*self._consumers, return_exceptions=True)

    # -- report ------------------------------------------------------------------------

    def report(self) -> PeerReport:
        by_type: defaultdict[str, list[str]] = defaultdict(list)
        for candidate in self.local_candidates:
            by_type[candidate_type(candidate.candidate)].append(candidate.candidate)
        return {
            "id": self.id,
            "candidates": dict(by_type),
            "remote_candidates": list(self.remote_candidates),
            "ignored_candidates": list(self.ignored_candidates),
            "selected_pair": selected_pair(self._dtls()),
            "states": {kind: self.state(kind) for kind in ("signaling", "gathering", "ice", "dtls", "connection")},
            "messages": {label: len(msgs) for label, msgs in self.messages.items()},
            "media": {kind: log.summary() for kind, log in self.media.items()},
            "media_by_track": {track: log.summary() for track, log in self.media_by_track.items()},
            "remote_tracks": self.remote_tracks(),
            "renegotiations": self.renegotiations,
            "codecs": {kind: self.negotiated_codec(kind) for kind in ("audio", "video")},
            "events": [(e.time, e.kind, e.detail) for e in self.events],
            "srtp": srtp_keying(self._dtls()),
        }
