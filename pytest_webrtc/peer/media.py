"""Deterministic synthetic media: video frames that carry their own number, a numbered tone.

No camera, no microphone, no file: a video frame shows its sequence number as 16 large black or
white blocks (4x4), large enough to survive lossy coding, so the receiver can tell order, gaps
and losses; audio is a 440 Hz tone in 20 ms frames.
"""

from __future__ import annotations

import fractions
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import av
import numpy
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

__all__ = [
    "MediaLog",
    "NumberedVideoTrack",
    "ToneAudioTrack",
    "MonoAudio",
    "decode_number",
    "tone_level",
    "track_id",
    "track_source",
]

BITS = 16
GRID = 4  # 4x4 blocks
BLACK, WHITE = 16, 235
AUDIO_RATE = 48000
AUDIO_KEPT = AUDIO_RATE // 2  # the last 0.5 s of received audio, for tone_level


def _luma(number: int, width: int, height: int) -> bytes:
    rows = []
    for y in range(height):
        by = min(y * GRID // height, GRID - 1)
        row = bytearray(width)
        for bx in range(GRID):
            bit = (number >> (by * GRID + bx)) & 1
            x0, x1 = bx * width // GRID, (bx + 1) * width // GRID
            row[x0:x1] = bytes([WHITE if bit else BLACK]) * (x1 - x0)
        rows.append(bytes(row))
    return b"".join(rows)


def track_id(source: str, kind: str) -> str:
    """The msid track id an SFU gives a forwarded track: which peer it comes from, and its kind."""
    return f"{source}.{kind}"


def track_source(identifier: str) -> str | None:
    """The peer a forwarded track comes from (``None`` for a track not named by an SFU)."""
    source, dot, kind = identifier.rpartition(".")
    return source if dot and kind in ("audio", "video") else None


class MonoAudio:
    """Audio frames of any format, as 48 kHz mono signed 16-bit samples."""

    def __init__(self) -> None:
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)

    def samples(self, frame: av.AudioFrame) -> numpy.ndarray[Any, Any]:
        parts = [converted.to_ndarray().reshape(-1) for converted in self._resampler.resample(frame)]
        return numpy.concatenate(parts) if parts else numpy.zeros(0, dtype=numpy.int16)


def decode_number(frame: av.VideoFrame) -> int:
    """The number a NumberedVideoTrack frame shows (read from the centre of each block)."""
    plane = frame.planes[0]
    data = bytes(plane)
    number = 0
    for index in range(BITS):
        by, bx = divmod(index, GRID)
        x = (2 * bx + 1) * frame.width // (2 * GRID)
        y = (2 * by + 1) * frame.height // (2 * GRID)
        if data[y * plane.line_size + x] > (BLACK + WHITE) // 2:
            number |= 1 << index
    return number


class NumberedVideoTrack(VideoStreamTrack):
    """30 fps video whose frame n shows n (mod 65536); with ``noise``, the top eighth of its colour
    planes is fresh noise in every frame (the number, in the brightness, still reads): the encoder
    needs about the bitrate it targets (470 kbit/s at 320x240, measured), so a rate cap bites."""

    def __init__(self, width: int = 320, height: int = 240, noise: bool = False) -> None:
        super().__init__()
        self.width, self.height = width - width % 2, height - height % 2
        self.noise = noise
        self.sent = 0
        self.sent_at: dict[int, float] = {}  # frame number -> when it was produced (for latency)

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        frame.planes[0].update(_luma(self.sent % (1 << BITS), self.width, self.height))
        size = frame.planes[1].buffer_size
        noisy = size // 8 if self.noise else 0  # a band of fresh noise: ~470 kbit/s of VP8 at 320x240
        for plane in frame.planes[1:]:
            plane.update(os.urandom(noisy) + bytes([128]) * (size - noisy))
        frame.pts, frame.time_base = pts, time_base
        self.sent_at[self.sent % (1 << BITS)] = time.time()
        self.sent += 1
        return frame


class ToneAudioTrack(AudioStreamTrack):
    """A sine tone (440 Hz unless told), 48 kHz mono, 20 ms frames."""

    rate, samples = 48000, 960

    def __init__(self, frequency: float = 440.0) -> None:
        super().__init__()
        self.frequency = frequency
        self.sent = 0
        self._tone_start = 0.0

    async def recv(self) -> av.AudioFrame:
        import asyncio

        if not self._tone_start:
            self._tone_start = time.time()
        due = self._tone_start + self.sent * self.samples / self.rate
        wait = due - time.time()
        if wait > 0:
            await asyncio.sleep(wait)  # pacing real-time audio, not synchronisation
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.samples)
        base = self.sent * self.samples
        phase = 2 * math.pi * self.frequency * (base + numpy.arange(self.samples)) / self.rate
        frame.planes[0].update((8000 * numpy.sin(phase)).astype("<i2").tobytes())
        frame.pts, frame.sample_rate = base, self.rate
        frame.time_base = fractions.Fraction(1, self.rate)
        self.sent += 1
        return frame


SILENT = -200.0  # dB: what tone_level says of silence or too little audio


def tone_level(samples: numpy.ndarray[Any, Any], rate: int, frequency: float) -> float:
    """The level (dB) of ``frequency`` relative to the loudest component of the spectrum: 0 for the
    loudest tone, very negative for a tone that is not there.  (The noise floor of a clean Opus
    stream is so low that levels above it say little; relative to the loudest tone they do.)"""
    if len(samples) < rate // 10 or not samples.any():
        return SILENT
    windowed = samples.astype(float) * numpy.hanning(len(samples))
    spectrum = numpy.abs(numpy.fft.rfft(windowed))
    centre = round(frequency * len(samples) / rate)
    peak = float(spectrum[max(centre - 2, 0) : centre + 3].max())
    return 20 * math.log10(max(peak, 1e-12) / float(spectrum.max()))


@dataclass
class MediaLog:
    """What a peer received on one track."""

    kind: str
    started: float = field(default_factory=time.time)
    times: list[float] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)  # video: the number each frame showed
    sizes: list[tuple[int, int]] = field(default_factory=list)
    audio: numpy.ndarray[Any, Any] = field(default_factory=lambda: numpy.zeros(0, dtype=numpy.int16))
    _mono: MonoAudio | None = None

    def add(self, frame: Any) -> None:
        self.times.append(time.time())
        if self.kind == "video":
            self.numbers.append(decode_number(frame))
            self.sizes.append((frame.width, frame.height))
        else:
            self._mono = self._mono or MonoAudio()
            self.audio = numpy.concatenate([self.audio, self._mono.samples(frame)])[-AUDIO_KEPT:]

    def tone_level(self, frequency: float) -> float:
        return tone_level(self.audio, AUDIO_RATE, frequency)

    def summary(self) -> dict[str, Any]:
        numbers = self.numbers
        gaps = [b - a - 1 for a, b in zip(numbers, numbers[1:], strict=False) if b > a + 1]
        return {
            "frames": len(self.times),
            "first_frame_latency": (self.times[0] - self.started) if self.times else None,
            "in_order": all(b > a for a, b in zip(numbers, numbers[1:], strict=False)),
            "max_gap": max(gaps, default=0),
            "resolution": f"{self.sizes[-1][0]}x{self.sizes[-1][1]}" if self.sizes else None,
            "first_number": numbers[0] if numbers else None,
            "last_number": numbers[-1] if numbers else None,
        }
