"""RTP header rules: each fails on a deliberately misbehaving sender's packets, correct streams pass."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_webrtc.capture.packets import datagrams
from pytest_webrtc.capture.rtp import RTP_RULES, payload_types_from_sdp, verify_rtp

from ..wire_helpers import Frames, udp_frame

ALICE, BOB = ("127.0.0.1", 40001), ("127.0.0.1", 40002)
NEGOTIATED = {96: 90000, 111: 48000}


def rtp(seq: int, ts: int, ssrc: int = 0x1234, pt: int = 96, version: int = 2) -> bytes:
    return struct.pack("!BBHII", version << 6, pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + b"\x00" * 20


def rtcp_sender_report(ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHI", 0x80, 200, 6, ssrc) + b"\x00" * 20


def judge(frames: Frames) -> tuple[list, set[tuple[int, str]]]:  # type: ignore[type-arg]
    streams, findings = verify_rtp(datagrams(frames.frames), NEGOTIATED)
    return streams, {(f.packet, f.rule) for f in findings}


def video(frames: Frames, count: int, start_seq: int = 65530, ssrc: int = 0x1234, src: tuple[str, int] = ALICE) -> None:
    for i in range(count):  # 30 fps, 3000 ticks of 90 kHz per frame; the sequence wraps at 65535
        frames.add(src, BOB, rtp(start_seq + i, 1000 + 3000 * i, ssrc), after=1 / 30)


def test_a_correct_stream_passes(frames: Frames) -> None:
    video(frames, 40)
    frames.add(ALICE, BOB, rtcp_sender_report())
    streams, found = judge(frames)
    assert found == set()
    assert len(streams) == 1 and streams[0].rtcp == 1 and len(streams[0].numbers) == 40


def test_every_rule_is_exercised() -> None:
    source = Path(__file__).read_text()
    assert all(f'"{rule}"' in source for rule in RTP_RULES)


def test_wrong_version_on_a_media_flow(frames: Frames) -> None:
    video(frames, 2)
    frames.add(ALICE, BOB, rtp(65532, 7000, version=3))  # first byte 0xC0: outside every RFC 7983 range
    assert judge(frames)[1] == {(3, "rtp.version")}


def test_payload_type_not_negotiated(frames: Frames) -> None:
    video(frames, 2)
    frames.add(ALICE, BOB, rtp(65532, 7000, pt=100))
    assert judge(frames)[1] == {(3, "rtp.payload-type")}


def test_sequence_jumps_and_repeats(frames: Frames) -> None:
    video(frames, 3, start_seq=10)
    frames.add(ALICE, BOB, rtp(5000, 10000))  # a jump of ~5000
    frames.add(ALICE, BOB, rtp(5000, 13000))  # a repeat
    assert judge(frames)[1] == {(4, "rtp.sequence"), (5, "rtp.sequence")}


def test_a_copy_of_the_same_packet_is_the_networks_not_the_senders(frames: Frames) -> None:
    """A router's capture on both its sides (or a duplicating link) shows each packet twice: byte for
    byte the same, no sequence rule broken; a different packet with the same number still is."""
    for i in range(3):
        frames.add(ALICE, BOB, rtp(10 + i, 1000 + 3000 * i))
        frames.add(ALICE, BOB, rtp(10 + i, 1000 + 3000 * i))
    frames.add(ALICE, BOB, rtp(12, 99999))  # the sender's: number 12 again, for another packet
    streams, found = judge(frames)
    assert found == {(7, "rtp.sequence")} and streams[0].numbers == [1, 3, 5, 7]  # the copies not counted


def test_ssrc_reused_by_another_source(frames: Frames) -> None:
    video(frames, 2)
    frames.add(BOB, ALICE, rtp(20000, 123456789))  # Bob reuses Alice's SSRC, with numbering of his own
    assert judge(frames)[1] == {(3, "rtp.ssrc-collision")}


def test_a_sender_that_moves_or_is_seen_on_both_sides_of_a_router_keeps_its_ssrc(frames: Frames) -> None:
    """Measured: a NAT router's capture shows each packet from the inside address and, translated,
    from the outside one; a new ICE pair or a NAT rebinding moves a stream to another address. Both
    carry on the numbering: no collision. A second sender hidden after such a move still is one."""
    outside, moved = ("198.51.100.6", 34383), ("127.0.0.1", 40009)
    for i in range(4):  # both sides of a router
        frames.add(ALICE, BOB, rtp(100 + i, 3000 * i))
        frames.add(outside, BOB, rtp(100 + i, 3000 * i))
    for i in range(4, 8):  # then the stream moves to another port
        frames.add(moved, BOB, rtp(100 + i, 3000 * i))
    assert judge(frames)[1] == set()
    culprit = frames.add(BOB, ALICE, rtp(41000, 987654321))
    assert judge(frames)[1] == {(culprit, "rtp.ssrc-collision")}


def test_timestamps_that_do_not_follow_the_clock(frames: Frames) -> None:
    for i in range(45):  # 1.5 s of packets whose timestamps advance 10x too fast
        frames.add(ALICE, BOB, rtp(i, 30000 * i), after=1 / 30)
    _, found = judge(frames)
    assert {rule for _, rule in found} == {"rtp.timestamp"}


def jittered(frames: Frames, count: int, ticks_per_frame: int, delay: Callable[[int], float]) -> None:
    """``count`` frames at 30 fps, each arriving ``delay(i)`` seconds late (jitter only delays)."""
    start = frames.now
    packets = sorted((start + i / 30 + delay(i), i) for i in range(count))
    for arrival, i in packets:
        frames.now = arrival
        frames.frames.append((arrival, udp_frame(ALICE, BOB, rtp(i, 1000 + ticks_per_frame * i))))


def test_a_correct_clock_passes_under_heavy_jitter(frames: Frames) -> None:
    generator = random.Random(7)
    jittered(frames, 90, 3000, lambda i: generator.uniform(0, 0.15))  # 3 s, up to 150 ms late
    assert judge(frames)[1] == set()


def test_a_correct_clock_passes_when_the_start_is_bunched(frames: Frames) -> None:
    # The first 40 % of 1.5 s of frames stall and arrive together at 0.6 s: RTP time then spans
    # 1.47 s in 0.87 s of capture (the old whole-stream rule said so, falsely, on a busy machine).
    jittered(frames, 45, 3000, lambda i: (18 - i) / 30 if i < 18 else 0.0)
    assert judge(frames)[1] == set()


def test_a_fast_clock_fails_under_jitter_too(frames: Frames) -> None:
    generator = random.Random(11)
    jittered(frames, 60, 6000, lambda i: generator.uniform(0, 0.1))  # 2 s at twice the clock rate
    assert {rule for _, rule in judge(frames)[1]} == {"rtp.timestamp"}


def test_a_slow_clock_fails(frames: Frames) -> None:
    jittered(frames, 60, 1500, lambda i: 0.0)  # half the clock rate
    assert {rule for _, rule in judge(frames)[1]} == {"rtp.timestamp"}


def test_timestamps_wrap_around_without_a_finding(frames: Frames) -> None:
    start = 0xFFFFFFFF - 3000 * 10
    for i in range(45):
        frames.add(ALICE, BOB, rtp(i, start + 3000 * i), after=1 / 30)
    assert judge(frames)[1] == set()


def test_payload_types_from_sdp() -> None:
    sdp = "m=audio 9 X 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 X 96 97\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n"
    assert payload_types_from_sdp(sdp) == {111: 48000, 96: 90000, 97: 90000}


class _Side:
    """A finished capture beside a link element: its frames, as Capture.snapshot gives them."""

    def __init__(self, frames: Frames) -> None:
        self.frames, self.linktype = frames.frames, 1

    def snapshot(self) -> list[tuple[float, bytes]]:
        return self.frames


def _stream(ssrc: int, rate: float, queue_growth: float = 0.0) -> Frames:
    """100 packets of a 90 kHz stream sent every 20 ms whose timestamps advance ``rate`` times as fast,
    captured after a queue that adds ``queue_growth`` seconds of delay per second (a rate cap's)."""
    frames = Frames()
    for n in range(100):
        frames.add(("10.0.1.2", 5000), ("10.0.2.2", 6000), rtp(n, int(n * 0.02 * 90000 * rate), ssrc),
                   after=0.02 * (1 + queue_growth))  # fmt: skip
    return frames


@pytest.mark.parametrize(
    ("sender_rate", "caught"),
    [(1.0, False), (0.5, True)],
    ids=["a-true-clock-behind-a-rate-cap", "a-broken-clock-hidden-behind-the-cap"],
)
def test_the_clock_of_a_linked_peer_is_judged_where_it_was_sent(sender_rate: float, caught: bool) -> None:
    """Measured at 300 kbit/s: the cap's queue delays each packet more than the last, so the public
    capture would see a true 90 kHz clock run 40 % slow.  The clock is judged beside the element,
    where the peer sent it: a true one passes, a broken one (half rate) is still caught there."""
    from pytest_webrtc.capture.rtp import verify_rtp
    from pytest_webrtc.scenario.wire import WireRecorder

    public = _stream(0x1234, sender_rate, queue_growth=0.6)  # what the capture after the cap sees
    _, public_findings = verify_rtp(datagrams(public.frames), NEGOTIATED)
    assert [f.rule for f in public_findings] == ["rtp.timestamp"]  # the public side alone would cry wolf
    recorder = WireRecorder(sides={"alice-link-peer": ("ns", "p0", "10.0.1.2")})
    recorder.side_captures = {"alice-link-peer": _Side(_stream(0x1234, sender_rate))}  # type: ignore[dict-item]
    findings = recorder._before_the_links(public_findings, NEGOTIATED)
    if caught:
        assert [f.rule for f in findings] == ["rtp.timestamp"] and "the alice-link-peer capture" in findings[0].detail
    else:
        assert findings == []


@pytest.mark.parametrize(
    ("rate", "caught"),
    [(1.0, False), (0.5, True), (10.0, True)],
    ids=["true-clock-after-a-backlog", "half-rate-after-a-backlog", "ten-times-fast-is-no-backlog"],
)
def test_a_backlog_sent_at_once_at_the_start_is_not_a_fast_clock(rate: float, caught: bool) -> None:
    """Measured (GStreamer calling Firefox): 2.2 s of video queued before the connection was up went out
    in 47 ms, then the stream was paced exactly — true timestamps. A wrong clock after such a burst,
    or one so fast that it looks like a burst throughout, is still caught."""
    frames = Frames()
    sequence = 0
    for n in range(60):  # the backlog: 2.4 s of 40 ms frames, in about 60 ms
        frames.add(ALICE, BOB, rtp(sequence, int(n * 0.04 * 90000)), after=0.001)
        sequence += 1
    for n in range(60, 160):  # then paced for 4 s, at ``rate`` times the true clock
        frames.add(ALICE, BOB, rtp(sequence, int((2.4 + (n - 60) * 0.04 * rate) * 90000)), after=0.04)
        sequence += 1
    found = {rule for _, rule in judge(frames)[1]}
    assert ("rtp.timestamp" in found) is caught, found
