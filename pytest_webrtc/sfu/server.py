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

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket

from ..errors import PeerError, SignalingError
from ..peer.agent import split_candidates, trickled_candidate
from ..peer.hosts import host_addresses, may_reach
from ..signaling.client import SignalingClient
from .forward import ForwardedTrack, tap

__all__ = ["Sfu"]

_MESSAGES = ("offer", "answer", "candidate", "end-of-candidates", "peer-left", "bye", "peer-joined", "error")


@dataclass
class Publication:
    """One track a peer sends to the SFU, and its copies on the way to the others."""

    source: str
    kind: str
    receiver: Any
    sinks: dict[str, ForwardedTrack] = field(default_factory=dict)  # subscriber -> its copy
    frames: int = 0
    bytes: int = 0

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
    local_candidates: list[str] = field(default_factory=list)
    local_sdp: str = ""
    dirty: bool = False
    negotiating: asyncio.Task[None] | None = None
    renegotiations: int = 0
    closed: bool = False

    @property
    def settled(self) -> bool:
        return not self.dirty and self.negotiating is None and self.pc.signalingState == "stable"


class Sfu:
    """``await Sfu(url, room).start()`` joins ``room`` as ``peer_id`` and forwards until ``stop()``."""

    def __init__(
        self,
        signaling_url: str,
        room: str,
        peer_id: str = "sfu",
        *,
        candidates: list[str] | None = None,
        answer_timeout: float = 10.0,
    ) -> None:
        self.id = peer_id
        self.signaling = SignalingClient(signaling_url, room, peer_id)
        self.host_addresses = candidates if candidates is not None else ["127.0.0.1"]
        self.answer_timeout = answer_timeout
        self.sessions: dict[str, Session] = {}
        self.departed: dict[str, dict[str, Any]] = {}  # reports of sessions that ended
        self.errors: list[str] = []
        self.keyframes_relayed = 0
        self.endpoints: dict[str, tuple[str, list[str]]] = {}  # "sfu/alice" -> (SDP sent, candidates)
        self._changed = asyncio.Condition()
        self._loop_task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Future[None]] = set()

    # -- life cycle --------------------------------------------------------------------

    async def start(self, timeout: float = 5.0) -> Sfu:
        await self.signaling.join(timeout)
        self._loop_task = asyncio.create_task(self._serve(), name=f"sfu-{self.id}")
        return self

    async def stop(self) -> None:
        # Closing signaling ends the message loop by itself (next_of raises); cancelling is the fallback.
        await self.signaling.close()
        if self._loop_task is not None:
            done, _ = await asyncio.wait({self._loop_task}, timeout=5)
            if not done:
                self._loop_task.cancel()
                await asyncio.wait({self._loop_task}, timeout=5)
        for peer in list(self.sessions):
            await self._end(peer, "SFU stopped", renegotiate=False)
        if self._closing:  # connections still closing
            await asyncio.wait(self._closing, timeout=5)

    async def _serve(self) -> None:
        while True:
            try:
                message = await self.signaling.next_of(*_MESSAGES, timeout=3600)
            except SignalingError:
                return  # the signaling connection closed: nothing more will arrive
            try:
                await self._handle(message)
            except Exception as exc:  # one peer's bad message must not stop the SFU for the others
                self.errors.append(f"{message.get('type')} from {message.get('from')}: {type(exc).__name__}: {exc}")
            await self._notify()

    async def _handle(self, message: dict[str, Any]) -> None:
        kind, peer = message["type"], message.get("from") or message.get("peer")
        if kind == "offer":
            await self._accept_offer(str(peer), message["sdp"])
        elif kind == "answer" and peer in self.sessions:
            self.sessions[peer].answers.put_nowait(message)
        elif kind == "candidate" and peer in self.sessions:
            if may_reach(message["candidate"], self.host_addresses):
                await self.sessions[peer].pc.addIceCandidate(trickled_candidate(message))
        elif kind == "end-of-candidates" and peer in self.sessions:
            await self.sessions[peer].pc.addIceCandidate(None)
        elif kind in ("peer-left", "bye") and peer in self.sessions:
            await self._end(str(peer), kind)
        elif kind == "error":
            self.errors.append(f"signaling error {message.get('code')}: {message.get('reason')}")

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Any, timeout: float, what: str) -> None:
        async def waiter() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        try:
            await asyncio.wait_for(waiter(), timeout)
        except asyncio.TimeoutError:
            raise PeerError(f"{self.id}: {what} did not happen within {timeout:g} s") from None

    # -- sessions ------------------------------------------------------------------------

    async def _accept_offer(self, peer: str, sdp: str) -> None:
        if not any(line.startswith("m=") for line in sdp.splitlines()):
            raise PeerError("the offer has no media section (m=): nothing to forward")
        session = self.sessions.get(peer)
        if session is None:
            session = Session(peer, RTCPeerConnection(RTCConfiguration(iceServers=[])))
            self._watch(session)
            try:
                await session.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except Exception:
                await session.pc.close()
                raise
            self.sessions[peer] = session
        elif not session.settled:
            raise PeerError(f"{peer} offered while the SFU was renegotiating with it (glare)")
        else:
            await session.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        with host_addresses(self.host_addresses):
            await session.pc.setLocalDescription(await session.pc.createAnswer())
        answer, candidates = split_candidates(session.pc.localDescription.sdp)
        session.local_sdp = answer
        session.local_candidates = [c.candidate for c in candidates]
        self.endpoints[f"{self.id}/{peer}"] = (answer, session.local_candidates)
        await self.signaling.send("answer", peer, sdp=answer)
        for candidate in candidates:
            await self.signaling.send(
                "candidate",
                peer,
                candidate=candidate.candidate,
                sdpMid=candidate.sdp_mid,
                sdpMLineIndex=candidate.sdp_mline_index,
            )
        await self.signaling.send("end-of-candidates", peer)
        # The newcomer receives what everyone else already publishes.
        added = [
            publication
            for other in self.sessions.values()
            if other is not session
            for publication in other.publications
            if session.peer not in publication.sinks
        ]
        for publication in added:
            self._subscribe(session, publication)
        if added:
            self._renegotiate(session)

    def _watch(self, session: Session) -> None:
        @session.pc.on("track")
        def on_track(track: Any) -> None:
            receiver = next(t.receiver for t in session.pc.getTransceivers() if t.receiver.track is track)
            publication = Publication(session.peer, track.kind, receiver)
            tap(receiver, publication.on_frame)
            session.publications.append(publication)
            for other in self.sessions.values():
                if other is not session and not other.closed:
                    self._subscribe(other, publication)
                    self._renegotiate(other)

        @session.pc.on("connectionstatechange")
        async def changed() -> None:
            await self._notify()

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
                await self._notify()
            await original(packet)

        sender._handle_rtcp_packet = handle

    async def _end(self, peer: str, why: str, *, renegotiate: bool = True) -> None:
        session = self.sessions.pop(peer)
        session.closed = True
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
                if renegotiate:
                    self._renegotiate(subscriber)
        # aiortc's close does not survive being cancelled half-way (stop() cancels the message loop):
        # it runs as its own task, which stop() waits for.
        closing = asyncio.ensure_future(session.pc.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        await asyncio.wait({closing}, timeout=5)

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
            await self._notify()

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

    def wire_endpoints(self) -> dict[str, tuple[str, list[str]]]:
        """Per session (ended ones too), the SDP the SFU answered with and its candidates: what the
        wire verifier needs to check ICE and DTLS on the SFU's side."""
        return dict(self.endpoints)
