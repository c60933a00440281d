"""RTCP feedback and RTX rules: correct feedback and retransmissions pass, each broken sender is caught —
also where a lazy check would not look (a second retransmission, one whose original was lost)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pytest_webrtc.capture.feedback import FEEDBACK_RULES, rtx_payload_types_from_sdp, verify_feedback
from pytest_webrtc.capture.packets import datagrams
from pytest_webrtc.capture.rtp import verify_rtp

from ..wire_helpers import Frames

ALICE, BOB = ("10.0.1.2", 40001), ("10.0.2.2", 40002)
NEGOTIATED = {97: 90000, 98: 90000}
RTX = {98: 97}  # a=rtpmap:98 rtx/90000, a=fmtp:98 apt=97
MEDIA, REPAIR = 0x1111, 0x2222


def rtp(seq: int, ts: int, ssrc: int = MEDIA, pt: int = 97, padded: bool = False) -> bytes:
    first = 0x80 | (0x20 if padded else 0)
    return struct.pack("!BBHII", first, pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + b"\x00" * 20


def rtcp(packet_type: int, fmt: int, length: int, sender: int = 0x3333) -> bytes:
    """The first RTCP header as SRTCP leaves it in clear, then what is encrypted (here: zeros)."""
    return struct.pack("!BBHI", 0x80 | fmt, packet_type, length, sender) + b"\x00" * (4 * length - 4 + 14)


def nack(length: int = 3) -> bytes:
    return rtcp(205, 1, length)


def pli(length: int = 2) -> bytes:
    return rtcp(206, 1, length)


def video(frames: Frames, count: int, lose: set[int] = frozenset(), src: tuple[str, int] = ALICE) -> None:  # type: ignore[assignment]
    """``count`` one-packet frames at 30 fps from 65530 (the sequence wraps); ``lose`` never arrive."""
    for i in range(count):
        if i not in lose:
            frames.add(src, BOB, rtp(65530 + i, 1000 + 3000 * i), after=1 / 30)


def timestamp(i: int) -> int:
    return 1000 + 3000 * i


def judge(frames: Frames, rtx: dict[int, int] = RTX) -> tuple[dict, set[tuple[int, str]]]:  # type: ignore[type-arg]
    found = datagrams(frames.frames)
    streams, _ = verify_rtp(found, NEGOTIATED)
    feedback, findings = verify_feedback(found, streams, rtx)
    return feedback, {(f.packet or 0, f.rule) for f in findings}


def test_every_rule_is_exercised() -> None:
    source = Path(__file__).read_text()
    assert all(f'"{rule}"' in source for rule in FEEDBACK_RULES)


def test_rtx_payload_types_come_from_rtpmap_and_apt() -> None:
    sdp = (
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99\r\n"
        "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n"
        "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
        "a=rtpmap:98 H264/90000\r\na=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1\r\n"
        "a=rtpmap:99 RTX/90000\r\na=fmtp:99 apt=98;rtx-time=3000\r\n"
    )
    assert rtx_payload_types_from_sdp(sdp) == {97: 96, 99: 98}


def test_loss_repaired_by_nack_and_rtx_passes_and_is_counted(frames: Frames) -> None:
    """Measured shape (aiortc through 5 % loss): a standalone NACK from the receiver, the packet resent
    on its own SSRC and payload type with the original's timestamp (here the original was lost before
    this capture: its timestamp lies in the gap it left), a PLI."""
    video(frames, 40, lose={10})
    frames.add(BOB, ALICE, nack())
    frames.add(ALICE, BOB, rtp(500, timestamp(10), REPAIR, 98))
    frames.add(ALICE, BOB, rtp(501, timestamp(12), REPAIR, 98))  # one that was not lost: seen, same timestamp
    frames.add(BOB, ALICE, pli())
    frames.add(ALICE, BOB, rtp(502, 777, REPAIR, 98, padded=True))  # padding only (probing): no original
    feedback, found = judge(frames)
    assert found == set()
    assert feedback[BOB].first == {"nack": 1, "pli": 1}
    assert feedback[ALICE].retransmissions == 2  # padding is no retransmission


@pytest.mark.parametrize(
    ("where", "caught"),
    [("first", True), ("second-of-the-same-packet", True), ("in-the-gap", False), ("padded", False)],
)
def test_a_retransmission_with_another_timestamp_is_caught(frames: Frames, where: str, caught: bool) -> None:
    """The broken sender stamps a retransmission with a timestamp of its own (the original's + 1).
    Hidden in the second retransmission of a packet, it is still caught; inside the gap a lost original
    left, this capture cannot tell (the link element's capture before the loss can: next test)."""
    video(frames, 40, lose={10, 11, 12})
    frames.add(BOB, ALICE, nack())
    wrong = {"first": 0, "second-of-the-same-packet": 1}.get(where, -1)
    for n, i in enumerate((20, 20)):  # packet 20 resent twice (the first answer was late)
        frames.add(ALICE, BOB, rtp(600 + n, timestamp(i) + (1 if n == wrong else 0), REPAIR, 98))
    if where == "in-the-gap":
        frames.add(ALICE, BOB, rtp(602, timestamp(11) + 1, REPAIR, 98))
    if where == "padded":
        frames.add(ALICE, BOB, rtp(602, timestamp(20) + 1, REPAIR, 98, padded=True))
    _, found = judge(frames)
    assert {rule for _, rule in found} == ({"rtx.timestamp"} if caught else set())
    if caught:
        assert found == {(39 + wrong, "rtx.timestamp")}  # 38 video packets, the NACK, then the culprit


def test_the_broken_retransmission_is_named_once_with_its_count(frames: Frames) -> None:
    video(frames, 30)
    for n in range(5):
        frames.add(ALICE, BOB, rtp(700 + n, timestamp(n + 3) + 90, REPAIR, 98))
    found = datagrams(frames.frames)
    streams, _ = verify_rtp(found, NEGOTIATED)
    _, findings = verify_feedback(found, streams, RTX)
    assert [f.rule for f in findings] == ["rtx.timestamp"]
    assert "5 of 5 retransmissions so" in findings[0].detail and f"0x{REPAIR:08x}" in findings[0].detail


def test_retransmissions_on_the_original_ssrc_are_caught_once(frames: Frames) -> None:
    """RFC 4588 under SSRC multiplexing: the repair stream needs an SSRC of its own. The broken sender
    resends on the media SSRC only after 30 correct packets (twice: still one finding)."""
    video(frames, 30)
    frames.add(ALICE, BOB, rtp(65530 + 30, timestamp(5), MEDIA, 98))
    frames.add(ALICE, BOB, rtp(65530 + 31, timestamp(6), MEDIA, 98))
    assert judge(frames)[1] == {(31, "rtx.ssrc")}


def test_without_rtx_negotiated_nothing_is_a_retransmission(frames: Frames) -> None:
    video(frames, 10)
    frames.add(ALICE, BOB, rtp(900, 5, REPAIR, 98))
    feedback, found = judge(frames, rtx={})
    assert found == set() and all(f.retransmissions == 0 for f in feedback.values())


@pytest.mark.parametrize(
    ("message", "rule", "bad"),
    [(nack, "rtcp.nack-format", 2), (pli, "rtcp.pli-format", 3), (pli, "rtcp.pli-format", 4)],
    ids=["nack-without-fci", "pli-with-fci", "pli-with-two-words"],
)
def test_feedback_of_the_wrong_length_is_caught_after_correct_ones(
    frames: Frames, message, rule: str, bad: int
) -> None:  # type: ignore[no-untyped-def]
    video(frames, 5)
    for _ in range(3):
        frames.add(BOB, ALICE, message())
    frames.add(BOB, ALICE, nack(5))  # a NACK of three FCI entries: correct
    culprit = frames.add(BOB, ALICE, message(bad))
    feedback, found = judge(frames)
    assert found == {(culprit, rule)}
    assert sum(feedback[BOB].first.values()) == 5


def test_the_public_side_cannot_tell_inside_a_gap_the_link_element_side_can() -> None:
    """A retransmission wrongly stamped with a timestamp inside the gap its lost original left: the
    public capture cannot tell; the capture before the link element, where the original still is,
    catches it — and the defect is named once."""
    from pytest_webrtc.scenario.wire import WireRecorder

    from .test_rtp import _Side

    def run(lose: set[int]) -> Frames:
        frames = Frames()
        video(frames, 40, lose=lose)
        frames.add(ALICE, BOB, rtp(800, timestamp(11) + 1, REPAIR, 98))  # wrong: no packet has it
        return frames

    public = run(lose={10, 11, 12})
    found = datagrams(public.frames)
    streams, _ = verify_rtp(found, NEGOTIATED)
    _, public_findings = verify_feedback(found, streams, RTX)
    assert public_findings == []
    recorder = WireRecorder(sides={"alice-link-peer": ("ns", "p0", ALICE[0])})
    recorder.side_captures = {"alice-link-peer": _Side(run(lose=set()))}  # type: ignore[dict-item]
    findings = recorder._before_the_links(public_findings, NEGOTIATED, RTX)
    assert [f.rule for f in findings] == ["rtx.timestamp"] and "the alice-link-peer capture" in findings[0].detail


BROKEN_RTX = """\
import aiortc.rtcrtpsender as sender

_wrap = sender.wrap_rtx


def wrap_rtx(packet, payload_type, sequence_number, ssrc):  # the fault: a timestamp of its own
    rtx = _wrap(packet, payload_type, sequence_number, ssrc)
    rtx.timestamp = (rtx.timestamp + 1) & 0xFFFFFFFF
    return rtx


sender.wrap_rtx = wrap_rtx
"""


@pytest.mark.parametrize("broken", [False, True], ids=["aiortc", "aiortc-stamping-its-own-timestamps"])
def test_the_video_through_loss_scenario_judges_real_retransmissions(
    can_capture: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: bool
) -> None:
    """aiortc through 5 % loss: bob's NACKs, alice's RTX with the originals' timestamps — the shipped
    scenario passes. The same run with alice's retransmissions stamped off by one tick (every peer
    process loads the fault at start) fails on ``rtx.timestamp``, judged before the link element."""
    import asyncio

    from pytest_webrtc.errors import StepFailure
    from pytest_webrtc.nat.netns import cannot_build_namespaces
    from pytest_webrtc.scenario import load_scenario, run_scenario

    if cannot_build_namespaces() is not None:
        pytest.skip(str(cannot_build_namespaces()))
    if broken:
        (tmp_path / "sitecustomize.py").write_text(BROKEN_RTX)
        monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{Path(__file__).parent.parent.parent}")
    scenario = load_scenario(Path(__file__).parent.parent.parent / "scenarios" / "network" / "video_through_loss.yaml")
    run = run_scenario(scenario, {"keep": "never", "capture_dir": tmp_path})
    if not broken:
        assert asyncio.run(run).ok
        return
    with pytest.raises(StepFailure) as info:
        asyncio.run(run)
    message = str(info.value)
    assert "step 8 (expect-wire" in message and "rtx.timestamp (RFC 4588 §4)" in message, message
    assert "the alice-link-peer capture" in message
