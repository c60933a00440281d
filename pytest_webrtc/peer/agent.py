"""A WebRTC peer: one aiortc RTCPeerConnection driven step by step, over real signaling.

The agent never shortcuts: SDP and ICE candidates travel through the signaling
server over a WebSocket.  Candidates are stripped from the SDP it sends and
trickled as separate ``candidate`` messages (step 6 of the seed flow).  It keeps
a report: gathered candidates by type, the selected pair, every state change
with its time, and the data channel messages.  This is the only module that
imports aiortc.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCIceCandidate, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.rtcdatachannel import RTCDataChannel
from aiortc.sdp import candidate_from_sdp

from ..errors import PeerError, SignalingError
from ..signaling.client import SignalingClient
from ..wakeup import Wakeup
from .hosts import host_addresses, may_reach
from .report import candidate_type

__all__ = ["CANDIDATE_SETS", "PeerAgent", "PeerEvent", "split_candidates", "trickled_candidate"]

# Named host-candidate sets: loopback by default (tests only talk to loopback or their own namespaces).
CANDIDATE_SETS: dict[str, list[str] | None] = {
    "loopback": ["127.0.0.1"],
    "loopback6": ["::1"],
    "loopback-dual": ["127.0.0.1", "::1"],
    "all": None,  # aioice's own choice: every interface
}


@dataclass(frozen=True)
class PeerEvent:
    time: float
    kind: str  # "state", "signaling-in", "signaling-out", "candidate", "message", ...
    detail: str


@dataclass(frozen=True)
class TrickledCandidate:
    candidate: str  # "candidate:..." without "a="
    sdp_mid: str | None
    sdp_mline_index: int


def _codecs(sdp: str, kind: str) -> list[str]:
    """Encoding names offered in the first ``m=kind`` section."""
    names: list[str] = []
    inside = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            if inside:
                break
            inside = line.startswith(f"m={kind} ")
        elif inside and line.startswith("a=rtpmap:"):
            names.append(line.split()[1].split("/")[0])
    return names


def _first_codec(sdp: str, kind: str) -> str | None:
    """The encoding name of the first payload type of the first active ``m=kind`` line."""
    lines = sdp.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"m={kind} "):
            fields = line.split()
            if fields[1] == "0" or len(fields) < 4:
                return None  # rejected m-line: no codec in common
            payload = fields[3]
            for rtpmap in lines[i + 1 :]:
                if rtpmap.startswith("m="):
                    break
                if rtpmap.startswith(f"a=rtpmap:{payload} "):
                    return rtpmap.split()[1].split("/")[0]
    return None


def split_candidates(sdp: str) -> tuple[str, list[TrickledCandidate]]:
    """Remove ``a=candidate`` and ``a=end-of-candidates`` lines; return the rest and the candidates."""
    kept: list[str] = []
    found: list[TrickledCandidate] = []
    mline, mid = -1, None
    for line in sdp.splitlines():
        if line.startswith("m="):
            mline, mid = mline + 1, None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:") :]
        if line.startswith("a=candidate:"):
            found.append(TrickledCandidate(line[2:], mid, mline))
            continue
        if line.startswith("a=end-of-candidates"):
            continue
        kept.append(line)
    # A candidate line precedes a=mid in some stacks: fill in mids from the m-section index.
    mids = _mids(sdp)
    found = [TrickledCandidate(c.candidate, c.sdp_mid or mids.get(c.sdp_mline_index), c.sdp_mline_index) for c in found]
    return "\r\n".join(kept) + "\r\n", found


def trickled_candidate(message: dict[str, Any]) -> RTCIceCandidate:
    """The aiortc candidate of a signaling ``candidate`` message."""
    candidate = candidate_from_sdp(str(message["candidate"]).removeprefix("candidate:"))
    candidate.sdpMid = message.get("sdpMid")
    candidate.sdpMLineIndex = message.get("sdpMLineIndex")
    return candidate


def _mids(sdp: str) -> dict[int, str]:
    out, mline = {}, -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            mline += 1
        elif line.startswith("a=mid:"):
            out[mline] = line[len("a=mid:") :]
    return out


class PeerAgent:
    """One peer of a scenario."""

    def __init__(
        self,
        peer_id: str,
        signaling_url: str,
        room: str,
        *,
        ice_servers: Sequence[dict[str, Any]] = (),
        candidates: str | list[str] = "loopback",
    ) -> None:
        self.id = peer_id
        self.signaling = SignalingClient(signaling_url, room, peer_id)
        # Never aiortc's default public STUN server: an explicit (possibly empty) list.
        servers = [RTCIceServer(**server) for server in ice_servers]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.host_addresses = CANDIDATE_SETS[candidates] if isinstance(candidates, str) else list(candidates)
        self.events: list[PeerEvent] = []
        self.channels: dict[str, RTCDataChannel] = {}
        self.messages: defaultdict[str, list[str | bytes]] = defaultdict(list)
        self.local_candidates: list[TrickledCandidate] = []
        self.remote_candidates: list[str] = []
        self._changed = Wakeup()
        self.echo = False  # echo every received message back on its channel (the echo-peer convention)
        self.media: dict[str, Any] = {}  # kind -> MediaLog of the first track of that kind
        self.media_by_track: dict[str, Any] = {}  # remote track id -> MediaLog (several per kind via an SFU)
        self.renegotiations = 0  # offers answered by follow()
        self._follower: asyncio.Task[None] | None = None
        self.tracks: dict[str, Any] = {}  # kind -> the synthetic track we send
        self._consumers: list[asyncio.Future[None]] = []
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

    def _watch_dtls(self) -> None:
        sctp = self.pc.sctp
        if sctp is None or getattr(self, "_dtls_watched", False):
            return
        self._dtls_watched = True

        @sctp.transport.on("statechange")
        async def dtls_changed() -> None:
            self._event("state", f"dtls={sctp.transport.state}")
            await self._notify()

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
        return peers

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
        return str(message["peer"])

    # -- SDP -------------------------------------------------------------------------

    def open_channel(
        self,
        label: str,
        *,
        ordered: bool = True,
        max_retransmits: int | None = None,
        max_packet_lifetime: int | None = None,
    ) -> None:
        channel = self.pc.createDataChannel(
            label, ordered=ordered, maxRetransmits=max_retransmits, maxPacketLifeTime=max_packet_lifetime
        )
        self._adopt(channel)

    async def _set_local(self, description: RTCSessionDescription) -> str:
        with host_addresses(self.host_addresses):
            await self.pc.setLocalDescription(description)
        self._watch_dtls()
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
            self.open_channel("data")
        return await asyncio.wait_for(self._set_local(await self.pc.createOffer()), timeout)

    async def offer_with_candidates(self, timeout: float = 10.0) -> str:
        """An offer with its candidates inside (no trickle), for peers reached over HTTP."""
        await self._local_offer(timeout)
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
            offered = set(_codecs(remote_sdp, kind)) - {"rtx"}
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
                self._event(
                    "candidate", f"ignored {message['candidate']}: not loopback, and tests talk to loopback only"
                )
                continue
            await self.pc.addIceCandidate(trickled_candidate(message))
            received.append(message["candidate"])
            self.remote_candidates.append(message["candidate"])
            self._event("signaling-in", f"candidate <- {message['from']}: {message['candidate']}")

    # -- states and data -----------------------------------------------------------

    def state(self, kind: str) -> str:
        if kind == "dtls":
            return self.pc.sctp.transport.state if self.pc.sctp is not None else "new"
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
        await self.wait_until(
            lambda: len(self.messages[label]) >= count,
            timeout,
            f"{count} message(s) on {label!r} (got {len(self.messages[label])})",
        )
        return list(self.messages[label])

    async def bye(self, to: str) -> None:
        await self._send("bye", to)

    async def wait_bye(self, timeout: float) -> str:
        return str((await self._receive("bye", timeout))["from"])

    async def add_channel(self, label: str, **options: Any) -> None:
        """``open_channel`` for callers that drive the peer asynchronously (the process RPC, the engine)."""
        self.open_channel(label, **options)

    async def add_track(
        self, kind: str, codec: str | None = None, width: int = 320, height: int = 240, tone: float = 440.0
    ) -> str:
        """Send a synthetic track (numbered video, or a tone); ``codec`` restricts what is offered."""
        from aiortc import RTCRtpSender

        from .media import NumberedVideoTrack, ToneAudioTrack

        track = NumberedVideoTrack(width, height) if kind == "video" else ToneAudioTrack(tone)
        self.tracks[kind] = track
        sender = self.pc.addTrack(track)
        if codec:
            wanted = f"{kind}/{codec}".lower()
            capabilities = [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() == wanted]
            if not capabilities:
                known = sorted({c.mimeType for c in RTCRtpSender.getCapabilities(kind).codecs})
                raise PeerError(f"{self.id}: aiortc has no {kind} codec {codec!r}; it has {', '.join(known)}")
            transceiver = next(t for t in self.pc.getTransceivers() if t.sender is sender)
            transceiver.setCodecPreferences(capabilities)
        self._event("media", f"sending {kind}" + (f" ({codec})" if codec else ""))
        return kind

    async def _consume(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        from .media import MediaLog

        log = MediaLog(track.kind)
        self.media.setdefault(track.kind, log)
        self.media_by_track[track.id] = log
        try:
            while True:
                frame = await track.recv()
                log.add(frame)
                await self._notify()
        except MediaStreamError:
            self._event("media", f"{track.kind} track ended")

    async def set_direction(self, kind: str, direction: str) -> str:
        """Set the direction of the first transceiver of ``kind``; applies at the next offer/answer."""
        transceiver = next((t for t in self.pc.getTransceivers() if t.kind == kind), None)
        if transceiver is None:
            raise PeerError(f"{self.id} has no {kind} transceiver")
        transceiver.direction = direction
        self._event("media", f"{kind} direction {direction}")
        return direction

    def _log(self, kind: str, source: str | None) -> Any:
        """The MediaLog of ``kind``: of the first such track, or of the track forwarded from ``source``."""
        if source is None:
            return self.media.get(kind)
        from .media import track_id

        return self.media_by_track.get(track_id(source, kind))

    def media_frames(self, kind: str, source: str | None = None) -> int:
        log = self._log(kind, source)
        return len(log.times) if log is not None else 0

    async def count_media_for(self, kind: str, seconds: float, grace: float = 0.2, source: str | None = None) -> int:
        """How many ``kind`` frames arrive within the next ``seconds``, not counting the first
        ``grace`` seconds (frames already in flight when the sender stopped)."""
        start = time.time()
        await asyncio.sleep(seconds)  # observing absence over a period, not synchronising
        log = self._log(kind, source)
        return sum(1 for t in (log.times if log is not None else []) if t >= start + grace)

    async def wait_media(self, kind: str, frames: int, timeout: float, source: str | None = None) -> dict[str, Any]:
        what = f"{frames} {kind} frame(s) received" + (f" from {source}" if source else "")
        await self.wait_until(
            lambda: self.media_frames(kind, source) >= frames,
            timeout,
            f"{what} (got {self.media_frames(kind, source)} so far)",
        )
        return dict(self._log(kind, source).summary())

    async def tone_levels(
        self, kind: str, frequencies: Sequence[float], source: str | None = None
    ) -> dict[float, float]:
        """dB above the noise floor, per frequency, in the last 0.5 s of received audio."""
        log = self._log(kind, source)
        return {f: (log.tone_level(f) if log is not None else 0.0) for f in frequencies}

    def remote_tracks(self) -> list[str]:
        """Ids of the remote tracks currently being received (negotiated to send to us)."""
        return sorted(
            t.receiver.track.id
            for t in self.pc.getTransceivers()
            if t.receiver.track is not None and t.currentDirection in ("recvonly", "sendrecv")
        )

    async def remove_track(self, kind: str) -> str:
        """Stop sending our ``kind`` track, as W3C removeTrack does; applies at the next offer/answer."""
        transceiver = next(
            (t for t in self.pc.getTransceivers() if t.kind == kind and t.sender.track is not None), None
        )
        if transceiver is None:
            raise PeerError(f"{self.id} sends no {kind} track")
        transceiver.sender.track.stop()
        transceiver.sender.replaceTrack(None)
        transceiver.direction = {"sendrecv": "recvonly", "sendonly": "inactive"}.get(
            transceiver.direction, transceiver.direction
        )
        self.tracks.pop(kind, None)
        self._event("media", f"removed its {kind} track")
        return kind

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
                await self._apply_remote(message["sdp"], "offer", origin)
                await self.answer(str(origin))
            except SignalingError:
                return  # closing: the answer cannot go out any more
            except PeerError as exc:
                self._event("error", str(exc))
                continue
            self.renegotiations += 1
            await self._notify()

    async def stats(self, kind: str) -> dict[str, Any]:
        """getStats-style numbers of ``kind``: inbound and outbound RTP, summed over streams."""
        report = await self.pc.getStats()
        # aiortc reports no bytes received; jitter is in RTP timestamp units (RFC 3550 §6.4.1).
        out: dict[str, Any] = {
            "packets-received": 0,
            "packets-lost": 0,
            "jitter": 0,
            "packets-sent": 0,
            "bytes-sent": 0,
        }
        for entry in report.values():
            if getattr(entry, "kind", None) != kind:
                continue
            if entry.type == "inbound-rtp":
                out["packets-received"] += entry.packetsReceived
                out["packets-lost"] += entry.packetsLost
                out["jitter"] = max(out["jitter"], int(entry.jitter))
            elif entry.type == "outbound-rtp":
                out["packets-sent"] += entry.packetsSent
                out["bytes-sent"] += entry.bytesSent
        if kind in self.media:
            out["frames-decoded"] = len(self.media[kind].times)
        return out

    def negotiated_codec(self, kind: str) -> str | None:
        """The codec the answer chose for ``kind`` (the first payload type of its first m-line)."""
        local, remote = self.pc.localDescription, self.pc.remoteDescription
        answer = local if local is not None and local.type == "answer" else remote
        if answer is None or answer.type != "answer":
            return None
        return _first_codec(answer.sdp, kind)

    async def get_report(self) -> dict[str, Any]:
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
        for consumer in self._consumers:
            consumer.cancel()
        await asyncio.gather(*self._consumers, return_exceptions=True)

    # -- report ------------------------------------------------------------------------

    def selected_pair(self) -> tuple[str, str] | None:
        """(local candidate type + address, remote ...) of the nominated pair, if any."""
        sctp = self.pc.sctp
        if sctp is None:
            return None
        connection = getattr(sctp.transport.transport, "_connection", None)
        nominated = getattr(connection, "_nominated", {}) or {}
        pair = nominated.get(1)
        if pair is None:
            return None
        local, remote = pair.local_candidate, pair.remote_candidate
        return f"{local.type} {local.host}:{local.port}", f"{remote.type} {remote.host}:{remote.port}"

    def report(self) -> dict[str, Any]:
        by_type: defaultdict[str, list[str]] = defaultdict(list)
        for candidate in self.local_candidates:
            by_type[candidate_type(candidate.candidate)].append(candidate.candidate)
        return {
            "id": self.id,
            "candidates": dict(by_type),
            "remote_candidates": list(self.remote_candidates),
            "selected_pair": self.selected_pair(),
            "states": {kind: self.state(kind) for kind in ("signaling", "gathering", "ice", "dtls", "connection")},
            "messages": {label: len(msgs) for label, msgs in self.messages.items()},
            "media": {kind: log.summary() for kind, log in self.media.items()},
            "media_by_track": {track: log.summary() for track, log in self.media_by_track.items()},
            "remote_tracks": self.remote_tracks(),
            "renegotiations": self.renegotiations,
            "codecs": {kind: self.negotiated_codec(kind) for kind in ("audio", "video")},
            "events": [(e.time, e.kind, e.detail) for e in self.events],
        }
