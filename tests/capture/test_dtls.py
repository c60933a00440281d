"""DTLS on the wire: certificates match SDP fingerprints in a real capture; a wrong one is caught."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pytest_webrtc.capture.dtls import fingerprints_from_sdp, verify_dtls
from pytest_webrtc.capture.packets import datagrams
from pytest_webrtc.capture.sniffer import read_pcap
from pytest_webrtc.scenario import load_scenario, run_scenario

SEED = Path(__file__).parent.parent.parent / "scenarios" / "p2p_datachannel.yaml"


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory, can_capture: None) -> tuple[list, dict]:  # type: ignore[type-arg]
    directory = tmp_path_factory.mktemp("dtls")
    result = asyncio.run(run_scenario(load_scenario(SEED), {"keep": "always", "capture_dir": directory}))
    assert result.pcap is not None and result.wire is not None
    linktype, frames = read_pcap(result.pcap)
    import json

    sidecar = json.loads(Path(str(result.pcap) + ".json").read_text())
    announced = {int(port): [tuple(v) for v in values] for port, values in sidecar["fingerprints"].items()}
    return datagrams(frames, linktype), announced


def test_certificates_match_the_sdp_fingerprints(capture: tuple[list, dict]) -> None:  # type: ignore[type-arg]
    found, announced = capture
    flows, findings = verify_dtls(found, announced)
    assert findings == []
    assert len(flows) == 2 and all(flow.certificate for flow in flows)
    assert {1, 11} <= set(flows[0].messages) or {2, 11} <= set(
        flows[0].messages
    )  # ClientHello/ServerHello + Certificate
    for flow in flows:
        assert ("sha-256", flow.fingerprint()) in announced[flow.source[1]]


def test_a_certificate_that_does_not_match_its_fingerprint_is_caught(capture: tuple[list, dict]) -> None:  # type: ignore[type-arg]
    found, announced = capture
    forged = {port: [("sha-256", "00:" * 31 + "00")] for port in announced}
    _, findings = verify_dtls(found, forged)
    assert {f.rule for f in findings} == {"dtls.fingerprint"} and len(findings) == 2
    assert "its SDP announced sha-256 00:00" in findings[0].detail


def test_a_client_hello_without_answer_is_noted(capture: tuple[list, dict]) -> None:  # type: ignore[type-arg]
    found, announced = capture
    first_dtls = [d for d in found if d.kind == "dtls"][:1]
    _, findings = verify_dtls(first_dtls, announced)
    assert [(f.rule, f.outcome) for f in findings] == [("dtls.handshake", "warn")]


def test_fingerprints_from_sdp_are_unique() -> None:
    sdp = "a=fingerprint:sha-256 aa:bb\r\nm=video\r\na=fingerprint:sha-256 AA:BB\r\na=fingerprint:sha-384 cc\r\n"
    assert fingerprints_from_sdp(sdp) == [("sha-256", "AA:BB"), ("sha-384", "CC")]


def _hello(number: int, time: float, message_seq: int = 0) -> object:
    from pytest_webrtc.capture.packets import Datagram

    body = bytes(38)
    handshake = bytes([1]) + len(body).to_bytes(3, "big") + message_seq.to_bytes(2, "big") + bytes(3)
    handshake += len(body).to_bytes(3, "big") + body
    record = bytes([22, 0xFE, 0xFD, 0, 0]) + number.to_bytes(6, "big") + len(handshake).to_bytes(2, "big")
    return Datagram(number, time, ("10.0.1.2", 5000), ("10.0.2.2", 6000), record + handshake)


@pytest.mark.parametrize(
    ("times", "said"),
    [
        ((0.0, 1.0, 3.0, 7.0), None),  # 1 s, then doubling: as RFC 6347 §4.2.4.1 says
        ((0.0, 0.2), "its first resend came 200 ms after it"),  # too early
        ((0.0, 1.0, 2.0), "resend 2 came 1000 ms after the one before, which had waited 1000 ms"),  # not doubled
    ],
    ids=["doubling", "first-too-early", "hidden-in-the-second-resend"],
)
def test_client_hello_retransmissions_follow_the_timer(times: tuple[float, ...], said: str | None) -> None:
    found = [_hello(n + 1, t) for n, t in enumerate(times)]
    found.append(_hello(len(times) + 1, times[-1] + 0.01, message_seq=1))  # after a HelloVerifyRequest: not a resend
    _, findings = verify_dtls(found)  # type: ignore[arg-type]
    timing = [f for f in findings if f.rule == "dtls.retransmit-timing"]
    if said is None:
        assert timing == []
    else:
        assert [(f.outcome, said in f.detail) for f in timing] == [("warn", True)], timing


# -- dtls.mti-suite: RFC 8827 §6.5's mandatory suite cannot be refused ------------------------

CLIENT, SERVER = ("10.0.2.2", 6000), ("10.0.1.2", 5000)


def _client_hello_body(suites: tuple[int, ...], groups: tuple[int, ...] | None = (29, 23), srtp: bool = True) -> bytes:
    body = b"\xfe\xfd" + bytes(32) + b"\x00" + b"\x00"  # version, random, no session id, no cookie
    body += (2 * len(suites)).to_bytes(2, "big") + b"".join(s.to_bytes(2, "big") for s in suites) + b"\x01\x00"
    extensions = b""
    if groups is not None:
        listed = b"".join(g.to_bytes(2, "big") for g in groups)
        data = len(listed).to_bytes(2, "big") + listed
        extensions += (10).to_bytes(2, "big") + len(data).to_bytes(2, "big") + data
    if srtp:
        data = b"\x00\x04\x00\x07\x00\x01\x00"  # SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_HMAC_SHA1_80, no MKI
        extensions += (14).to_bytes(2, "big") + len(data).to_bytes(2, "big") + data
    return body + len(extensions).to_bytes(2, "big") + extensions


def _records(number: int, time: float, src: object, dst: object, *records: bytes) -> object:
    from pytest_webrtc.capture.packets import Datagram

    return Datagram(number, time, src, dst, b"".join(records))  # type: ignore[arg-type]


def _handshake(kind: int, body: bytes, seq: int = 0, offset: int = 0, length: int | None = None) -> bytes:
    """One handshake record carrying body[offset:offset+length] of a message of len(body)."""
    part = body[offset : offset + (len(body) - offset if length is None else length)]
    message = bytes([kind]) + len(body).to_bytes(3, "big") + seq.to_bytes(2, "big") + offset.to_bytes(3, "big")
    message += len(part).to_bytes(3, "big") + part
    return bytes([22, 0xFE, 0xFD, 0, 0]) + bytes(6) + len(message).to_bytes(2, "big") + message


def _alert(description: int, level: int = 2) -> bytes:
    return bytes([21, 0xFE, 0xFD, 0, 0]) + bytes(6) + b"\x00\x02" + bytes([level, description])


MTI = _client_hello_body((0x1301, 0xC02B, 0xC02F))


@pytest.mark.parametrize(
    ("found", "refused"),
    [
        (
            [
                _records(1, 0.0, CLIENT, SERVER, _handshake(1, MTI)),
                _records(2, 0.01, SERVER, CLIENT, _handshake(2, bytes(38))),
            ],
            False,
        ),  # answered: a ServerHello
        ([_records(1, 0.0, CLIENT, SERVER, _handshake(1, MTI)), _records(2, 0.01, SERVER, CLIENT, _alert(40))], True),
        # the lazy place not to look: a ClientHello fragmented over two datagrams (Firefox's is 1461 bytes),
        # sent twice, and refused only the second time
        (
            [
                _records(1, 0.0, CLIENT, SERVER, _handshake(1, MTI, length=40)),
                _records(2, 0.0, CLIENT, SERVER, _handshake(1, MTI, offset=40)),
                _records(3, 1.0, CLIENT, SERVER, _handshake(1, MTI, length=40)),
                _records(4, 1.0, CLIENT, SERVER, _handshake(1, MTI, offset=40)),
                _records(5, 1.01, SERVER, CLIENT, _alert(71)),
            ],
            True,
        ),
        # not the server's fault: the ClientHello did not offer the mandatory suite, or not P-256
        (
            [
                _records(1, 0.0, CLIENT, SERVER, _handshake(1, _client_hello_body((0xC02F,)))),
                _records(2, 0.01, SERVER, CLIENT, _alert(40)),
            ],
            False,
        ),
        (
            [
                _records(1, 0.0, CLIENT, SERVER, _handshake(1, _client_hello_body((0xC02B,), groups=(29,)))),
                _records(2, 0.01, SERVER, CLIENT, _alert(40)),
            ],
            False,
        ),
        # a warning-level alert, or another fatal one (bad_certificate), is not a refusal of the suite
        (
            [
                _records(1, 0.0, CLIENT, SERVER, _handshake(1, MTI)),
                _records(2, 0.01, SERVER, CLIENT, _alert(40, level=1)),
            ],
            False,
        ),
        ([_records(1, 0.0, CLIENT, SERVER, _handshake(1, MTI)), _records(2, 0.01, SERVER, CLIENT, _alert(42))], False),
    ],
    ids=[
        "served",
        "refused",
        "refused-after-a-fragmented-resend",
        "no-mti-offered",
        "no-p256",
        "warning",
        "other-alert",
    ],
)
def test_a_server_refusing_the_mandatory_suite_is_caught(found: list[object], refused: bool) -> None:
    """Measured: GStreamer 1.22's webrtcbin (RSA certificate) answers aiortc's ECDSA-only ClientHello with
    handshake_failure, so that pair never connects when GStreamer is the DTLS server."""
    _, findings = verify_dtls(found)  # type: ignore[arg-type]
    mti = [f for f in findings if f.rule == "dtls.mti-suite"]
    if refused:
        assert [(f.outcome, f.packet) for f in mti] == [("fail", found[-1].number)], findings  # type: ignore[attr-defined]
        assert "10.0.1.2:5000 refused the ClientHello of 10.0.2.2:6000" in mti[0].detail
    else:
        assert mti == [], mti
