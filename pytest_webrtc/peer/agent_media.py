"""The media half of the peer agent: synthetic tracks it sends, what it receives, getStats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from ..errors import PeerError
from .report import MediaSummary
from .sdp import first_codec

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection

__all__ = ["AgentMedia"]


class AgentMedia:
    """Mixed into :class:`~pytest_webrtc.peer.agent.PeerAgent`: tracks, media logs and stats."""

    id: str
    pc: RTCPeerConnection
    media: dict[str, Any]  # kind -> MediaLog of the first track of that kind
    media_by_track: dict[str, Any]  # remote track id -> MediaLog (several per kind via an SFU)
    tracks: dict[str, Any]  # kind -> the synthetic track we send

    def _event(self, kind: str, detail: str) -> None:
        raise NotImplementedError

    async def _notify(self) -> None:
        raise NotImplementedError

    async def wait_until(self, predicate: Any, timeout: float, what: str) -> None:
        raise NotImplementedError

    async def add_track(
        self,
        kind: str,
        codec: str | None = None,
        width: int = 320,
        height: int = 240,
        tone: float = 440.0,
        noise: bool = False,
    ) -> str:
        """Send a synthetic track (numbered video, or a tone); ``codec`` restricts what is offered."""
        from aiortc import RTCRtpSender

        from .media import NumberedVideoTrack, ToneAudioTrack

        track = NumberedVideoTrack(width, height, noise) if kind == "video" else ToneAudioTrack(tone)
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

    async def wait_media(self, kind: str, frames: int, timeout: float, source: str | None = None) -> MediaSummary:
        what = f"{frames} {kind} frame(s) received" + (f" from {source}" if source else "")
        await self.wait_until(
            lambda: self.media_frames(kind, source) >= frames,
            timeout,
            f"{what} (got {self.media_frames(kind, source)} so far)",
        )
        return cast(MediaSummary, self._log(kind, source).summary())

    async def tone_levels(self, kind: str, frequencies: Sequence[float], source: str | None = None) -> list[float]:
        """dB relative to the loudest component, per frequency (in order), in the last 0.5 s received."""
        log = self._log(kind, source)
        return [log.tone_level(f) if log is not None else 0.0 for f in frequencies]

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
        return first_codec(answer.sdp, kind)
