"""The SFU's data path: tapping a receiver before decoding, keyframe gating, bounded queues."""

from __future__ import annotations

import asyncio
import fractions
import queue
from types import SimpleNamespace

import av
import pytest
from aiortc.mediastreams import MediaStreamError

from pytest_webrtc.errors import PeerError
from pytest_webrtc.sfu.forward import ForwardedTrack, FrameTap, is_keyframe, tap, track_id, track_source

VP8 = SimpleNamespace(name="VP8", clockRate=90000)


def _vp8_frames(count: int) -> list[bytes]:
    """Real VP8 frames from aiortc's encoder: the first is a keyframe, the others are not."""
    from aiortc.codecs import get_encoder
    from aiortc.codecs.vpx import VpxPayloadDescriptor
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    encoder = get_encoder(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96))
    out = []
    for number in range(count):
        frame = av.VideoFrame(160, 120, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(number * 40 + 16) % 256]) * plane.buffer_size)
        frame.pts, frame.time_base = number * 3000, fractions.Fraction(1, 90000)
        payloads, _ = encoder.encode(frame)
        out.append(b"".join(VpxPayloadDescriptor.parse(p)[1] for p in payloads))
    return out


def _frame(data: bytes, timestamp: int = 0) -> SimpleNamespace:
    return SimpleNamespace(data=data, timestamp=timestamp)


def test_vp8_keyframes_are_told_apart() -> None:
    first, second, third = _vp8_frames(3)
    assert is_keyframe("VP8", first)
    assert not is_keyframe("VP8", second) and not is_keyframe("vp8", third)
    assert not is_keyframe("VP8", b"")


def test_h264_keyframes_are_idr_or_parameter_sets() -> None:
    sps_then_idr = b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x01\x65\x88"
    slice_only = b"\x00\x00\x00\x01\x41\x9a"
    assert is_keyframe("H264", sps_then_idr)
    assert not is_keyframe("H264", slice_only)
    assert is_keyframe("opus", b"\xfc")  # audio frames stand alone


def test_track_ids_name_their_source() -> None:
    assert track_id("alice", "video") == "alice.video"
    assert track_source("a.b.audio") == "a.b"
    assert track_source("8d3f5c2e-uuid") is None


def test_tap_replaces_the_decoder_queue_of_aiortc_receivers() -> None:
    """Fails if a new aiortc renames the receiver's decoder queue: the SFU would then decode."""
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    async def run() -> None:
        receiver = RTCRtpReceiver("video", SimpleNamespace(state="new", _register_rtp_receiver=None))
        seen: list[object] = []
        tap(receiver, lambda codec, frame: seen.append((codec, frame)))
        inner = receiver._RTCRtpReceiver__decoder_queue  # type: ignore[attr-defined]
        assert isinstance(inner, FrameTap)
        inner.put(("codec", "frame"))
        inner.put(None)  # end of stream reaches the (idle) decoder thread
        assert seen == [("codec", "frame")] and inner.get_nowait() is None

    asyncio.run(run())


def test_tap_refuses_what_it_cannot_tap() -> None:
    with pytest.raises(PeerError, match="no receiver decoder queue"):
        tap(SimpleNamespace(), lambda codec, frame: None)
    started = SimpleNamespace(_RTCRtpReceiver__decoder_queue=queue.Queue(), _RTCRtpReceiver__started=True)
    with pytest.raises(PeerError, match="already started"):
        tap(started, lambda codec, frame: None)


async def test_video_starts_at_a_keyframe_asked_for_when_the_subscriber_starts() -> None:
    key, delta, delta2 = _vp8_frames(3)
    requests: list[int] = []
    track = ForwardedTrack("video", "bob", lambda: requests.append(1))
    track.push(VP8, _frame(key))  # before anyone reads: dropped, a fresh keyframe will be asked for
    assert track._queue.qsize() == 0
    reading = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)  # let recv() start (ordering in one loop, not timing)
    assert requests == [1]
    track.push(VP8, _frame(delta, 3000))  # not decodable alone: skipped
    track.push(VP8, _frame(key, 6000))
    track.push(VP8, _frame(delta2, 9000))
    packet = await asyncio.wait_for(reading, 2)
    assert isinstance(packet, av.Packet) and bytes(packet) == key and packet.pts == 6000
    assert packet.time_base.denominator == 90000
    assert bytes(await asyncio.wait_for(track.recv(), 2)) == delta2
    assert track.frames == 2 and track.bytes == len(key) + len(delta2)


async def test_a_stalled_subscriber_drops_and_restarts_at_a_keyframe() -> None:
    key, delta = _vp8_frames(2)
    requests: list[int] = []
    track = ForwardedTrack("video", "bob", lambda: requests.append(1), capacity=3)
    track._reading = True
    track.push(VP8, _frame(key))
    for _ in range(3):
        track.push(VP8, _frame(delta))
    assert track.dropped == 3 and requests == [1] and track._queue.empty()
    track.push(VP8, _frame(delta))  # still waiting for the keyframe asked for
    assert track._queue.empty()
    track.push(VP8, _frame(key))
    assert bytes(await asyncio.wait_for(track.recv(), 2)) == key


async def test_audio_needs_no_keyframe_and_stopping_ends_the_track() -> None:
    track = ForwardedTrack("audio", "bob", lambda: None)
    opus = SimpleNamespace(name="opus", clockRate=48000)
    reading = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    track.push(opus, _frame(b"\xfc\x01\x02", 960))
    packet = await asyncio.wait_for(reading, 2)
    assert packet.time_base.denominator == 48000
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    track.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(waiting, 2)
