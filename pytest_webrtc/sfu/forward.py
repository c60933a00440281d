"""Forwarding encoded media without decoding it: the data path of the SFU.

An aiortc receiver reassembles RTP packets into encoded frames and hands each one to its
decoder thread through a ``queue.Queue``; aiortc has no public hook between the two.
:func:`tap` replaces that queue, before the receiver starts, by a :class:`FrameTap` that gives
every frame to a callback instead, so nothing is decoded, and lets the end-of-stream marker
(``None``) through so the idle decoder thread still stops.  ``tests/sfu/test_forward.py``
fails if a new aiortc renames the attribute.

A :class:`ForwardedTrack` is what an SFU sends to one subscriber: it yields ``av.Packet``
objects, which aiortc's sender packetizes as they are (``Encoder.pack``) instead of encoding.
Video starts at a keyframe (the subscriber's decoder needs one), asked for with a PLI when
the subscriber starts reading and again whenever frames had to be dropped; while one is awaited,
the request is repeated (at most every :data:`KEYFRAME_RETRY` seconds): a first request made
before the publisher's media arrived has no SSRC to go to, and a PLI can be lost.
"""

from __future__ import annotations

import asyncio
import fractions
import queue
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..errors import PeerError
from ..peer.media import track_id, track_source

__all__ = ["FrameTap", "ForwardedTrack", "is_keyframe", "tap", "track_id", "track_source"]

_QUEUE_ATTRIBUTE = "_RTCRtpReceiver__decoder_queue"
KEYFRAME_RETRY = 0.5  # seconds between keyframe requests while one is awaited
FrameCallback = Callable[[Any, Any], None]  # (RTCRtpCodecParameters, JitterFrame)


class FrameTap(queue.Queue):  # type: ignore[type-arg]
    """Stands in for a receiver's decoder queue: frames go to ``on_frame``, not to a decoder."""

    def __init__(self, on_frame: FrameCallback) -> None:
        super().__init__()
        self.on_frame = on_frame

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver is stopping: let the decoder thread end
            super().put(None, block, timeout)
            return
        codec, frame = item
        self.on_frame(codec, frame)


def tap(receiver: Any, on_frame: FrameCallback) -> None:
    """Route the encoded frames of ``receiver`` (an RTCRtpReceiver not started yet) to ``on_frame``."""
    if not isinstance(getattr(receiver, _QUEUE_ATTRIBUTE, None), queue.Queue):
        raise PeerError("this aiortc version has no receiver decoder queue to tap: the SFU cannot forward")
    if getattr(receiver, "_RTCRtpReceiver__started", False):
        raise PeerError("the receiver already started decoding: tap it before the connection is set up")
    setattr(receiver, _QUEUE_ATTRIBUTE, FrameTap(on_frame))


def is_keyframe(codec_name: str, data: bytes) -> bool:
    """Whether an encoded frame can be decoded on its own (VP8 and H.264; audio always can)."""
    name = codec_name.lower()
    if name == "vp8":
        return bool(data) and data[0] & 0x01 == 0  # RFC 6386 §9.1: P bit clear on key frames
    if name == "h264":
        # Annex B NAL units: an IDR slice (type 5) or parameter sets (7, 8) before one.
        return any(byte & 0x1F in (5, 7) for byte in _nal_headers(data))
    return True


def _nal_headers(data: bytes) -> list[int]:
    headers: list[int] = []
    start = 0
    while True:
        index = data.find(b"\x00\x00\x01", start)
        if index < 0 or index + 3 >= len(data):
            return headers
        headers.append(data[index + 3])
        start = index + 3


class ForwardedTrack(MediaStreamTrack):
    """One publisher's track as sent to one subscriber: encoded frames, passed on unchanged."""

    def __init__(self, kind: str, source: str, request_keyframe: Callable[[], None], capacity: int = 64) -> None:
        super().__init__()
        self.kind = kind
        self._id = track_id(source, kind)
        self.source = source
        self._request_keyframe = request_keyframe
        self._capacity = capacity
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._reading = False
        self._need_keyframe = kind == "video"
        self.frames = 0
        self.bytes = 0
        self.dropped = 0
        self.keyframe_requests = 0
        self._requested = 0.0  # time.monotonic() of the last request

    def keyframe(self) -> None:
        """Ask the publisher for a keyframe (a PLI on its stream)."""
        self.keyframe_requests += 1
        self._requested = time.monotonic()
        self._request_keyframe()

    def push(self, codec: Any, frame: Any) -> None:
        """Offer one encoded frame (``JitterFrame``) of the publisher's stream."""
        if not self._reading or self.readyState != "live":
            return  # nobody sends yet: the first frame sent will be a fresh keyframe
        if self._need_keyframe:
            if not is_keyframe(codec.name, frame.data):
                if time.monotonic() - self._requested >= KEYFRAME_RETRY:
                    self.keyframe()  # the first request may have found no SSRC yet, or been lost
                return
            self._need_keyframe = False
        if self._queue.qsize() >= self._capacity:  # the subscriber's sender is stalled
            while not self._queue.empty():
                self._queue.get_nowait()
                self.dropped += 1
            self._need_keyframe = self.kind == "video"
            self.keyframe()
            return
        packet = av.Packet(frame.data)
        packet.pts = frame.timestamp
        packet.time_base = fractions.Fraction(1, codec.clockRate)
        self._queue.put_nowait(packet)

    async def recv(self) -> Any:  # an av.Packet, which aiortc packs as it is
        if self.readyState != "live":
            raise MediaStreamError
        if not self._reading:
            self._reading = True
            if self.kind == "video":
                self.keyframe()
        packet = await self._queue.get()
        if packet is None:
            raise MediaStreamError
        self.frames += 1
        self.bytes += packet.size
        return packet

    def stop(self) -> None:
        super().stop()
        self._queue.put_nowait(None)
