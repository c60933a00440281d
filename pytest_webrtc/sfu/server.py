"""The SFU actor: a selective forwarding unit that joins a signaling room like any peer.

Every peer that offers to it gets a session (one RTCPeerConnection).  The tracks a peer sends
are tapped before decoding (:mod:`.forward`) and forwarded, frame by frame and unchanged, to
every other session on a ``sendonly`` transceiver whose msid track id names the source
(``alice.video``).  When a peer arrives, leaves (``peer-left`` or ``bye``) or publishes, the
SFU renegotiates the affected sessions itself: it sends the offer, the peer answers.  Keyframe
requests (PLI) of a subscriber are passed on to the publisher.

It counts, per peer, the media bytes received from it and forwarded to it, which the scenario
report turns into bandwidth numbers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket

from ..errors import PeerError
from ..peer.hosts import host_addresses
from ..peer.sdp import split_candidates
from .actor import RoomActor
from .forward import ForwardedTrack, tap

__all__ = ["Sfu"]


@dataclass
class Publication:
    """One track a peer sends to the SFU, and its copies on the way to the others."""

    source: str
    kind: str
    receiver: Any
    sinks: dict[str, ForwardedTrack] = field(default_factory=dict)  # subscriber -> its copy
    frames: int = 0
    bytes: int = 0

    @classmethod
    def tapped(cls, pc: RTCPeerConnection, track: Any, source: str) -> Publication:
        """The publication of a track arriving on ``pc``, its frames tapped before decoding."""
        receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)
        publication = cls(source, track.kind, receiver)
        tap(receiver, publication.on_frame)
        return publication

    def on_frame(self, codec: Any, frame: Any) -> None:
        self.frames += 1
        self.bytes += len(frame.data)
        for sink in list(self.sinks.values()):
            sink.push(codec, frame)

    def request_keyframe(self) -> None:
        sources = self.receiver.getSynchronizationSources()
        if sources:
            asyncio.ensure_future(self.receiver._send_rtcp_pli(sources[0].source))


@dataclass
class Session:
    """The SFU's connection with one peer."""

    peer: str
    pc: RTCPeerConnection
    started: float = field(default_factory=time.time)
    publications: list[Publication] = field(default_factory=list)
    sending: dict[str, tuple[ForwardedTrack, Any]] = field(default_factory=dict)  # track id -> (track, transceiver)
    sent: list[ForwardedTrack] = field(default_factory=list)  # every track ever forwarded to it, for the totals
    answers: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    dirty: bool = False
    negotiating: asyncio.Task[None] | None = None
    renegotiations: int = 0
    closed: bool = False

    @property
    def settled(self) -> bool:
        return not self.dirty and self.negotiating is None and self.pc.signalingState == "stable"


class Sfu(RoomActor):
    """``await Sfu(url, room).start()`` joins ``room`` as ``peer_id`` and forwards until ``stop()``."""

    kind = "sfu"

    def __init__(
        self,
        signaling_url: str,
        room: str,
        peer_id: str = "sfu",
        *,
        candidates: list[str] | None = None,
        answer_timeout: float = 10.0,
    ) -> None:
        super().__init__(signaling_url, room, peer_id, candidates=candidates)
        self.answer_timeout = answer_timeout
        self.sessions: dict[str, Session] = {}
        self.departed: dict[str, dict[str, Any]] = {}  # reports of sessions that ended
        self.keyframes_relayed = 0

    # -- connections (RoomActor hooks) ----------------------------------------------------

    def _prepare(self, peer: str, pc: RTCPeerConnection) -> None:
        session = Session(peer, pc)
        self.sessions[peer] = session

        @pc.on("track")
        def on_track(track: Any) -> None:
            publication = Publication.tapped(pc, track, peer)
            session.publications.append(publication)
            for other in self.sessions.values():
                if other is not session and not other.closed:
                    self._subscribe(other, publication)
                    self._renegotiate(other)

        @pc.on("connectionstatechange")
        def state_changed() -> None:
            self.changed()

    def _check_reoffer(self, peer: str) -> None:
        if not self.sessions[peer].settled:
            raise PeerError(f"{peer} offered while the SFU was renegotiating with it (glare)")

    def _answered(self, peer: str) -> None:
        session = self.sessions[peer]
        # The newcomer receives what everyone else already publishes.
        added = [
            publication
            for other in self.sessions.values()
            if other is not session
            for publication in other.publications
            if peer not in publication.sinks
        ]
        for publication in added:
            self._subscribe(session, publication)
        if added:
            self._renegotiate(session)

    def _on_answer(self, peer: str, message: dict[str, Any]) -> None:
        self.sessions[peer].answers.put_nowait(message)

    def _subscribe(self, subscriber: Session, publication: Publication) -> None:
        track = ForwardedTrack(publication.kind, publication.source, publication.request_keyframe)
        transceiver = subscriber.pc.addTransceiver(track, direction="sendonly")
        transceiver.sender._stream_id = publication.source  # the msid stream names the source too
        self._relay_keyframe_requests(transceiver.sender, track)
        publication.sinks[subscriber.peer] = track
        subscriber.sending[track.id] = (track, transceiver)
        subscriber.sent.append(track)

    def _relay_keyframe_requests(self, sender: Any, track: ForwardedTrack) -> None:
        """A subscriber's PLI reaches the SFU's sender; aiortc would ask its encoder, but there is
        none: pass the request on to the publisher instead."""
        original = sender._handle_rtcp_packet

        async def handle(packet: Any) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
                self.keyframes_relayed += 1
                track.keyframe()
                self.changed()
            await original(packet)

        sender._handle_rtcp_packet = handle

    async def _forget(self, peer: str, why: str) -> None:
        session = self.sessions.pop(peer, None)
        if session is None:
            return
        session.closed = True
        if why != "refused offer":
            self.departed[peer] = self._session_report(session) | {"ended": why}
        if session.negotiating is not None:
            session.negotiating.cancel()
            await asyncio.gather(session.negotiating, return_exceptions=True)
        for track, _ in session.sending.values():
            track.stop()
        for other in self.sessions.values():
            for publication in other.publications:
                publication.sinks.pop(peer, None)
        for publication in session.publications:
            for subscriber_name, track in publication.sinks.items():
                track.stop()
                subscriber = self.sessions.get(subscriber_name)
                if subscriber is None:
                    continue
                _, transceiver = subscriber.sending.pop(track.id)
                transceiver.sender.replaceTrack(None)
                transceiver.direction = "inactive"
                if not self.stopping:
                    self._renegotiate(subscriber)

    # -- renegotiation ---------------------------------------------------------------------

    def _renegotiate(self, session: Session) -> None:
        session.dirty = True
        if session.negotiating is None:
            session.negotiating = asyncio.create_task(self._negotiate(session))

    async def _negotiate(self, session: Session) -> None:
        try:
            while session.dirty and not session.closed:
                session.dirty = False
                with host_addresses(self.host_addresses):
                    await session.pc.setLocalDescription(await session.pc.createOffer())
                offer, _ = split_candidates(session.pc.localDescription.sdp)
                await self.signaling.send("offer", session.peer, sdp=offer)
                try:
                    reply = await asyncio.wait_for(session.answers.get(), self.answer_timeout)
                except asyncio.TimeoutError:
                    self.errors.append(
                        f"{session.peer} did not answer the SFU's offer within {self.answer_timeout:g} s"
                    )
                    return
                await session.pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
                session.renegotiations += 1
        except Exception as exc:  # recorded for the report; the other sessions go on
            self.errors.append(f"renegotiating with {session.peer}: {type(exc).__name__}: {exc}")
        finally:
            session.negotiating = None
            self.changed()

    # -- observation -----------------------------------------------------------------------------

    def forwarding(self) -> dict[str, list[str]]:
        """Subscriber -> the peers whose media it is being sent now."""
        return {
            name: sorted({track.source for track, _ in session.sending.values() if track.readyState == "live"})
            for name, session in self.sessions.items()
        }

    @property
    def settled(self) -> bool:
        return all(session.settled for session in self.sessions.values())

    def _session_report(self, session: Session) -> dict[str, Any]:
        seconds = max(time.time() - session.started, 1e-3)
        received = sum(p.bytes for p in session.publications)
        forwarded = sum(track.bytes for track in session.sent)
        return {
            "connection": session.pc.connectionState,
            "publishes": sorted(p.kind for p in session.publications),
            "receives-from": sorted({track.source for track, _ in session.sending.values()}),
            "received-from": sorted({track.source for track in session.sent}),
            "bytes-received": received,
            "bytes-forwarded": forwarded,
            "kbps-in": round(received * 8 / seconds / 1000, 1),
            "kbps-out": round(forwarded * 8 / seconds / 1000, 1),
            "frames-forwarded": sum(track.frames for track in session.sent),
            "frames-dropped": sum(track.dropped for track in session.sent),
            "renegotiations": session.renegotiations,
            "seconds": round(seconds, 2),
        }

    def report(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "sfu",
            "sessions": {name: self._session_report(s) for name, s in self.sessions.items()},
            "departed": dict(self.departed),
            "keyframes-relayed": self.keyframes_relayed,
            "errors": list(self.errors),
        }
