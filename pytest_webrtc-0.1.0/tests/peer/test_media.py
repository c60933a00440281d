"""Synthetic media: frames carry their number through coding; the log sees order, gaps and sizes."""

from __future__ import annotations

import asyncio

import pytest

from pytest_webrtc.peer.media import MediaLog, NumberedVideoTrack, ToneAudioTrack, decode_number
from pytest_webrtc.peer.sdp import codecs_offered as _codecs
from pytest_webrtc.peer.sdp import first_codec as _first_codec


@pytest.mark.parametrize("number", [0, 1, 2, 255, 256, 12345, 65535])
def test_frames_show_their_number(number: int) -> None:
    async def frame() -> object:
        track = NumberedVideoTrack(160, 120)
        track.sent = number
        return await track.recv()

    assert decode_number(asyncio.run(frame())) == number  # type: ignore[arg-type]


def test_numbers_survive_vp8_coding() -> None:
    from aiortc.codecs import get_decoder, get_encoder
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    codec = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
    encoder, decoder = get_encoder(codec), get_decoder(codec)

    async def run() -> list[int]:
        track = NumberedVideoTrack(320, 240)
        seen = []
        for _ in range(5):
            payloads, _ = encoder.encode(await track.recv())
            from aiortc.codecs.vpx import VpxPayloadDescriptor  # noqa: F401  (payload framing)
            from aiortc.jitterbuffer import JitterFrame

            data = b"".join(VpxPayloadDescriptor.parse(p)[1] for p in payloads)
            for decoded in decoder.decode(JitterFrame(data=data, timestamp=0)):
                seen.append(decode_number(decoded))
        return seen

    assert asyncio.run(run()) == [0, 1, 2, 3, 4]


def test_media_log_summary_sees_gaps_and_order() -> None:
    log = MediaLog("video")
    for number in (0, 1, 2, 6, 5):

        class Frame:
            width, height = 320, 240

        log.times.append(1.0)
        log.numbers.append(number)
        log.sizes.append((Frame.width, Frame.height))
    summary = log.summary()
    assert summary["frames"] == 5 and summary["max_gap"] == 3 and summary["in_order"] is False
    assert summary["resolution"] == "320x240"


def test_tone_frames_are_20_ms_of_48_khz() -> None:
    async def frame() -> object:
        return await ToneAudioTrack().recv()

    audio = asyncio.run(frame())
    assert audio.samples == 960 and audio.sample_rate == 48000  # type: ignore[attr-defined]


SDP = (
    "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"
    "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
)


def test_codecs_from_sdp() -> None:
    assert _codecs(SDP, "audio") == ["opus", "PCMU"]
    assert _first_codec(SDP, "audio") == "opus"
    assert _first_codec(SDP, "video") is None  # port 0: rejected, nothing in common
