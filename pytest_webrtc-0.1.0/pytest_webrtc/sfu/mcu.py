"""The MCU actor: a multipoint control unit that mixes audio.

Where the SFU forwards each peer's media untouched, an MCU processes it: every peer sends its
audio to the MCU, which decodes it and sends each peer one mix of everyone else (so nobody hears
themselves), encoded again.  The mix goes back on the peer's own audio m-line, so no
renegotiation is needed as peers come and go.

Video compositing is not done: see docs/sfu.md ("The MCU").
"""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Any

import av
import numpy
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..peer.media import AUDIO_RATE, MonoAudio
from .actor import RoomActor

__all__ = ["AudioMixer", "Mcu", "MixedAudioTrack"]

FRAME = AUDIO_RATE // 50  # 20 ms
BUFFERED = FRAME * 10  # 200 ms


def _empty() -> numpy.ndarray[Any, Any]:
    return numpy.zeros(0, dtype=numpy.int16)


class AudioMixer:
    """Per listener and source, the samples not mixed yet; a listener's mix is every other source.

    Each listener has its own queues, so one that reads slowly (or not yet) delays nobody else;
    a queue keeps at most 200 ms, older samples are dropped and counted."""

    def __init__(self) -> None:
        self.sources: set[str] = set()
        self.queues: dict[str, dict[str, numpy.ndarray[Any, Any]]] = {}  # listener -> source -> samples
        self.mixed_frames: dict[str, int] = {}  # listener -> frames mixed for it
        self.dropped: dict[str, int] = {}  # listener -> samples dropped because it fell behind

    def add_source(self, source: str) -> None:
        self.sources.add(source)
        for listener, queues in self.queues.items():
            if listener != source:
                queues.setdefault(source, _empty())

    def add_listener(self, listener: str) -> None:
        self.queues[listener] = {source: _empty() for source in self.sources if source != listener}

    def remove(self, peer: str) -> None:
        self.sources.discard(peer)
        self.queues.pop(peer, None)
        for queues in self.queues.values():
            queues.pop(peer, None)

    def feed(self, source: str, samples: numpy.ndarray[Any, Any]) -> None:
        for listener, queues in self.queues.items():
            if source not in queues:
                continue
            joined = numpy.concatenate([queues[source], samples])
            if len(joined) > BUFFERED:
                self.dropped[listener] = self.dropped.get(listener, 0) + len(joined) - BUFFERED
                joined = joined[-BUFFERED:]
            queues[source] = joined

    def mix(self, listener: str) -> numpy.ndarray[Any, Any]:
        """The next 20 ms for ``listener``: the sum of every other source's next samples, clipped."""
        total = numpy.zeros(FRAME, dtype=numpy.int32)
        queues = self.queues.get(listener, {})
        for source, chunk in queues.items():
            taken = chunk[:FRAME]
            total[: len(taken)] += taken
            queues[source] = chunk[FRAME:]
        self.mixed_frames[listener] = self.mixed_frames.get(listener, 0) + 1
        return numpy.clip(total, -32768, 32767).astype(numpy.int16)

    def hears(self, listener: str) -> list[str]:
        return sorted(self.queues.get(listener, {}))


class MixedAudioTrack(MediaStreamTrack):
    """What one listener hears: every other source, mixed, at real-time pace."""

    kind = "audio"

    def __init__(self, mcu: Mcu, listener: str) -> None:
        super().__init__()
        self.mcu, self.listener = mcu, listener
        self.sent = 0
        self._start = 0.0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if not self._start:
            self._start = time.time()
        wait = self._start + self.sent * FRAME / AUDIO_RATE - time.time()
        if wait > 0:
            await asyncio.sleep(wait)  # pacing real-time audio, not synchronisation
        samples = self.mcu.mixer.mix(self.listener)
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(samples.tobytes())
        frame.pts, frame.sample_rate = self.sent * FRAME, AUDIO_RATE
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self.sent += 1
        return frame


class Mcu(RoomActor):
    """``await Mcu(url, room).start()`` joins ``room`` as ``peer_id`` and mixes until ``stop()``."""

    kind = "mcu"

    def __init__(
        self, signaling_url: str, room: str, peer_id: str = "mcu", *, candidates: list[str] | None = None
    ) -> None:
        super().__init__(signaling_url, room, peer_id, candidates=candidates)
        self.mixer = AudioMixer()
        self.listeners: dict[str, MixedAudioTrack] = {}
        self.received: dict[str, int] = {}  # source -> audio frames decoded from it
        self.departed: dict[str, dict[str, Any]] = {}
        self._readers: dict[str, asyncio.Task[None]] = {}

    def _prepare(self, peer: str, pc: RTCPeerConnection) -> None:
        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "audio":
                self.mixer.add_source(peer)
                self._readers[peer] = asyncio.ensure_future(self._read(peer, track))

    async def _read(self, peer: str, track: Any) -> None:
        mono = MonoAudio()
        try:
            while True:
                frame = await track.recv()
                self.mixer.feed(peer, mono.samples(frame))
                self.received[peer] = self.received.get(peer, 0) + 1
        except MediaStreamError:
            pass

    def _before_answer(self, peer: str, pc: RTCPeerConnection) -> None:
        if peer in self.listeners:
            return
        audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
        if audio:  # the mix goes back on the peer's own audio m-line (sendrecv in the answer)
            track = MixedAudioTrack(self, peer)
            pc.addTrack(track)
            self.listeners[peer] = track
            self.mixer.add_listener(peer)

    async def _forget(self, peer: str, why: str) -> None:
        if why != "refused offer":
            self.departed[peer] = self._peer_report(peer) | {"ended": why}
        track = self.listeners.pop(peer, None)
        if track is not None:
            track.stop()
        reader = self._readers.pop(peer, None)
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        self.mixer.remove(peer)

    def _peer_report(self, peer: str) -> dict[str, Any]:
        return {
            "frames-received": self.received.get(peer, 0),
            "frames-mixed-for-it": self.mixer.mixed_frames.get(peer, 0),
            "hears": self.mixer.hears(peer),
            "samples-dropped": self.mixer.dropped.get(peer, 0),
        }

    def report(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "mcu",
            "peers": {peer: self._peer_report(peer) for peer in self.pcs},
            "departed": dict(self.departed),
            "errors": list(self.errors),
        }
