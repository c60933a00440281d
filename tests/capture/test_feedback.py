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


def test_the_original_stream_is_found_by_any_of_its_payload_types(frames: Frames) -> None:
    """A stream that began with another format (a codec switch) still has its retransmissions judged."""
    frames.add(ALICE, BOB, rtp(65529, 1, MEDIA, pt=99), after=1 / 30)
    video(frames, 20)
    frames.add(ALICE, BOB, rtp(600, timestamp(4) + 1, REPAIR, 98))
    found = datagrams(frames.frames)
    streams, _ = verify_rtp(found, {**NEGOTIATED, 99: 90000})
    _, findings = verify_feedback(found, streams, RTX)
    assert [f.rule for f in findings] == ["rtx.timestamp"]


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


NACKING_THE_NEXT = """\
import aiortc.rtcrtpreceiver as receiver

_send = receiver.RTCRtpReceiver._send_rtcp_nack


async def _send_rtcp_nack(self, media_ssrc, lost):  # the fault: it names the packet after each lost one
    await _send(self, media_ssrc, [(s + 1) & 0xFFFF for s in lost])


receiver.RTCRtpReceiver._send_rtcp_nack = _send_rtcp_nack
"""


@pytest.mark.parametrize(
    ("fault", "failure"),
    [
        (None, None),
        (BROKEN_RTX, "rtx.timestamp (RFC 4588 §4)"),
        (NACKING_THE_NEXT, "packets lost on their way to bob that none of its NACKs named"),
    ],
    ids=["aiortc", "aiortc-stamping-its-own-timestamps", "aiortc-nacking-the-packet-after-each-lost-one"],
)
def test_the_video_through_loss_scenario_judges_real_retransmissions(
    can_capture: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str | None, failure: str | None
) -> None:
    """aiortc through 5 % loss: bob's NACKs name the packets alice's link element dropped, alice's RTX
    bring them with the originals' timestamps — the shipped scenario passes. The same run with a
    fault every peer process loads at start fails: retransmissions stamped off by one tick on
    ``rtx.timestamp`` (judged before the link element); NACKs naming the packet after each lost one
    — still NACKs, so counting them passes — on ``unnacked-loss`` (read with the peers' SRTP keys)."""
    import asyncio

    from pytest_webrtc.errors import StepFailure
    from pytest_webrtc.nat.netns import cannot_build_namespaces
    from pytest_webrtc.scenario import load_scenario, run_scenario

    if cannot_build_namespaces() is not None:
        pytest.skip(str(cannot_build_namespaces()))
    if fault is not None:
        (tmp_path / "sitecustomize.py").write_text(fault)
        monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{Path(__file__).parent.parent.parent}")
    path = Path(__file__).parent.parent.parent / "scenarios" / "network" / "video_through_loss.yaml"
    text = path.read_text()
    if fault is NACKING_THE_NEXT:  # nothing is repaired, so bob decodes nothing in order: 4 s of media, then judge
        media = 'expect-media: {peer: bob, kind: video, frames: ">=60", in-order: true, timeout: 15}'
        assert media in text
        text = text.replace(media, media.replace("timeout: 15", "timeout: 4, expect-failure: true"))
    run = run_scenario(load_scenario(path, text), {"keep": "never", "capture_dir": tmp_path})
    if failure is None:
        result = asyncio.run(run)
        assert result.ok
        return
    with pytest.raises(StepFailure) as info:
        asyncio.run(run)
    message = str(info.value)
    assert "step 8 (expect-wire" in message and failure in message, message
    if fault is BROKEN_RTX:
        assert "the alice-link-peer capture" in message


KEY = bytes(range(30))  # AES_CM_128 key (16) + salt (14)
PROFILE = 1  # pylibsrtp Policy.SRTP_PROFILE_AES128_CM_SHA1_80


def protected(packets: list[bytes], rtcp: bool, key: bytes = KEY) -> list[bytes]:
    from pylibsrtp import Policy, Session

    session = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILE))
    return [session.protect_rtcp(p) if rtcp else session.protect(p) for p in packets]


def plain_nack(media: int, *fci: tuple[int, int]) -> bytes:
    """A compound packet led by a receiver report, then a Generic NACK (the NACK not in clear in SRTCP)."""
    report = struct.pack("!BBHI", 0x80, 201, 1, 0x3333)
    body = b"".join(struct.pack("!HH", pid, blp) for pid, blp in fci)
    return report + struct.pack("!BBHII", 0x81, 205, 2 + len(fci), 0x3333, media) + body


def rtx_packet(seq: int, ts: int, osn: int, extension: bool = False) -> bytes:
    first = 0x90 if extension else 0x80
    header = struct.pack("!BBHII", first, 98, seq, ts, REPAIR)
    if extension:  # a one-byte-header extension of one word, as browsers send
        header += struct.pack("!HH", 0xBEDE, 1) + b"\x10\xff\x00\x00"
    return header + struct.pack("!H", osn) + b"\x00" * 20


@pytest.mark.parametrize("key", [KEY, bytes(30)], ids=["its-key", "another-key"])
def test_with_the_harness_keys_nacks_and_osns_are_read(frames: Frames, key: bytes) -> None:
    """A NACK behind a receiver report (only the report's header is in clear) names 65535 and, by its
    bitmask, 1 and 16 after (the sequence wraps); an RTX packet, with a header extension, carries its
    original's number. With another key nothing is read, and nothing is claimed."""
    video(frames, 20, lose={5, 6})
    for packet in protected([plain_nack(MEDIA, (65535, 0b1000000000000001))], rtcp=True, key=key):
        frames.add(BOB, ALICE, packet)
    for packet in protected(
        [rtx_packet(1, timestamp(5), 65535, extension=True), rtx_packet(2, timestamp(6), 0)], False, key
    ):
        frames.add(ALICE, BOB, packet)
    found = datagrams(frames.frames)
    streams, _ = verify_rtp(found, NEGOTIATED)
    feedback, findings = verify_feedback(found, streams, RTX, [(KEY, PROFILE)])
    assert findings == []
    assert feedback[BOB].first == {"rr": 1}  # what is in clear: the leading report
    if key == KEY:
        assert feedback[BOB].read == 1 and feedback[BOB].nacked == {MEDIA: {65535, 0, 15}}
        assert feedback[ALICE].resent == {MEDIA: {65535, 0}}
    else:
        assert feedback[BOB].read == 0 and feedback[BOB].nacked == {} and feedback[ALICE].resent == {}


def test_what_a_link_element_dropped_is_on_one_side_only(frames: Frames) -> None:
    """Both directions; retransmissions and RTCP are not media; the last second (packets still in the
    element when the captures stopped) is not judged."""
    from pytest_webrtc.capture.feedback import dropped

    before, after = Frames(), Frames()
    after.now = before.now
    for i in range(60):  # 2 s of alice's video; the element drops 10 and 55 (55: in the last second)
        before.add(ALICE, BOB, rtp(i, timestamp(i)), after=1 / 30)
        if i not in (10, 55):
            after.add(ALICE, BOB, rtp(i, timestamp(i)), after=1 / 30)
        else:
            after.now += 1 / 30
        if i == 20:  # bob's packet towards alice, dropped on its way in; and a resend, dropped too
            after.add(BOB, ALICE, rtp(7, 1, ssrc=0x4444))
            before.now += 0.001
            after.add(ALICE, BOB, rtp(900, timestamp(10), REPAIR, 98))
            before.now += 0.001
    drops = dropped(datagrams(before.frames), datagrams(after.frames), RTX)
    assert {(d.ssrc, d.sequence, d.destination) for d in drops} == {(MEDIA, 10, BOB), (0x4444, 7, ALICE)}
