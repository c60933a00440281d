"""ICE consent freshness on the wire (RFC 7675): checks 4-6 s apart, silence 30 s after consent is lost."""

from __future__ import annotations

import os

import pytest

from pytest_webrtc.capture.packets import Datagram
from pytest_webrtc.capture.verify import verify
from pytest_webrtc.stun import Message, MessageClass, Method

A, B = ("10.0.1.2", 5000), ("10.0.2.2", 6000)


def _check(number: int, time: float, nominate: bool = False) -> tuple[Datagram, bytes]:
    tid = os.urandom(12)
    m = Message(Method.BINDING, MessageClass.REQUEST, tid).add("USERNAME", "rb:ra").add("PRIORITY", 1)
    m.add("ICE-CONTROLLING", 1)
    if nominate:
        m.add("USE-CANDIDATE")
    return Datagram(number, time, A, B, m.encode(fingerprint=True)), tid


def _answer(number: int, time: float, tid: bytes) -> Datagram:
    m = Message(Method.BINDING, MessageClass.SUCCESS, tid).add("XOR-MAPPED-ADDRESS", A)
    return Datagram(number, time, B, A, m.encode(fingerprint=True))


def _call(consent: list[float], answered_until: float = 1e9, media: tuple[float, ...] = (), kind: bytes = b"\x17"):
    found: list[Datagram] = []
    nomination, tid = _check(1, 0.0, nominate=True)
    found += [nomination, _answer(2, 0.01, tid)]
    for t in consent:
        check, tid = _check(len(found) + 1, t)
        found.append(check)
        if t <= answered_until:
            found.append(_answer(len(found) + 1, t + 0.01, tid))
    for t in media:  # DTLS application data (0x17) or RTP (0x80) from A to B
        found.append(Datagram(len(found) + 1, t, A, B, kind + bytes(40)))
    found.sort(key=lambda d: d.time)
    return [f for f in verify(found).findings if f.rule.startswith("ice.consent")]


@pytest.mark.parametrize(
    ("consent", "said"),
    [
        ([5.0, 10.0, 14.5, 19.8], None),  # 4-6 s apart
        ([2.5, 5.0, 7.5, 10.0], None),  # more often is allowed (libwebrtc pings a stable connection every 2.5 s)
        ([5.0, 12.0], "7.00 s apart"),  # too long
        ([5.0, 10.0, 19.0], "9.00 s apart"),  # the second interval too long: hidden behind a good first
    ],
    ids=["every-5s", "more-often", "too-long", "a-late-one-after-a-good-one"],
)
def test_consent_checks_are_judged_on_their_intervals(consent: list[float], said: str | None) -> None:
    findings = _call(consent)
    if said is None:
        assert findings == []
    else:
        assert [(f.rule, f.outcome, said in f.detail) for f in findings] == [("ice.consent-interval", "warn", True)]


@pytest.mark.parametrize(
    ("media", "kind", "late"),
    [((20.0, 34.0), b"\x17", False), ((20.0, 36.5), b"\x17", True), ((20.0, 36.5), b"\x80", True)],
    ids=["stopped-in-time", "data-after-expiry", "rtp-after-expiry"],
)
def test_sending_after_consent_expired_is_caught(media: tuple[float, ...], kind: bytes, late: bool) -> None:
    # consent answered at 5 s, then every check unanswered: it expires at 35 s
    findings = _call([5.0, 10.0, 15.0, 20.0, 25.0, 30.0], answered_until=5.0, media=media, kind=kind)
    expired = [f for f in findings if f.rule == "ice.consent-expired"]
    assert bool(expired) is late
    if late:
        assert expired[0].outcome == "fail" and "31.5 s after the pair's last consent" in expired[0].detail
