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
