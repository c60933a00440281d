"""The aiortc peer agent: candidates stripped and trickled, loopback-only gathering, report."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pytest_webrtc.errors import PeerError
from pytest_webrtc.peer.agent import PeerAgent
from pytest_webrtc.peer.report import candidate_type
from pytest_webrtc.peer.sdp import split_candidates
from pytest_webrtc.signaling.server import SignalingServer
from pytest_webrtc.stun.server import StunServer

SDP = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "m=application 9 DTLS/SCTP 5000\r\nc=IN IP4 0.0.0.0\r\n"
    "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n"
    "a=mid:0\r\n"
    "a=candidate:2 1 udp 1694498815 127.0.0.1 5000 typ srflx raddr 127.0.0.1 rport 5000\r\n"
    "a=end-of-candidates\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:audio\r\n"
    "a=candidate:3 1 udp 2130706431 ::1 6000 typ host\r\n"
)


def test_split_candidates_strips_every_candidate_and_keeps_the_rest() -> None:
    sdp, found = split_candidates(SDP)
    assert "a=candidate" not in sdp and "a=end-of-candidates" not in sdp
    assert "a=mid:0" in sdp and "m=audio" in sdp
    assert [(c.sdp_mid, c.sdp_mline_index, candidate_type(c.candidate)) for c in found] == [
        ("0", 0, "host"),  # before a=mid in its section: the mid is filled in from the section
        ("0", 0, "srflx"),
        ("audio", 1, "host"),
    ]
    assert found[0].candidate == "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"


@pytest.fixture
async def servers() -> AsyncIterator[tuple[SignalingServer, StunServer]]:
    async with SignalingServer() as signaling, StunServer() as stun:
        yield signaling, stun


async def test_two_agents_connect_over_loopback_with_trickled_candidates(
    servers: tuple[SignalingServer, StunServer],
) -> None:
    signaling, stun = servers
    assert stun.udp_address is not None
    ice = [{"urls": f"stun:127.0.0.1:{stun.udp_address[1]}"}]
    alice = PeerAgent("alice", signaling.url, "r", ice_servers=ice)
    bob = PeerAgent("bob", signaling.url, "r", ice_servers=ice)
    try:
        assert await alice.join() == []
        assert await bob.join() == ["alice"]
        offer = await alice.offer("bob")
        assert "a=candidate" not in offer
        assert await bob.accept("offer") == "alice"
        await bob.answer("alice")
        assert await alice.accept("answer") == "bob"
        sent = await alice.send_candidates("bob")
        await bob.send_candidates("alice")
        assert await bob.receive_candidates() == sent
        await alice.receive_candidates()
        # Loopback only: one host candidate on 127.0.0.1 and its srflx twin from our STUN server.
        assert sorted(candidate_type(c) for c in sent) == ["host", "srflx"]
        assert all(" 127.0.0.1 " in c for c in sent)
        await alice.wait_state("connection", ["connected"], 5)
        await alice.send("data", b"\x00\x01")
        assert await bob.wait_messages("data", 1, 5) == [b"\x00\x01"]
        report = alice.report()
        assert report["selected_pair"][0].startswith("host 127.0.0.1:")
        assert report["states"]["connection"] == "connected"
        kinds = {kind for _, kind, _ in report["events"]}
        assert {"state", "signaling-out", "signaling-in", "candidate", "message"} <= kinds
    finally:
        await alice.close()
        await bob.close()


async def test_waiting_too_long_names_what_did_not_happen(servers: tuple[SignalingServer, StunServer]) -> None:
    signaling, _ = servers
    alice = PeerAgent("alice", signaling.url, "r")
    try:
        with pytest.raises(PeerError, match="alice: connection state connected did not happen within 0.1 s"):
            await alice.wait_state("connection", ["connected"], 0.1)
    finally:
        await alice.close()


async def test_a_loopback_peer_ignores_remote_candidates_outside_loopback(
    servers: tuple[SignalingServer, StunServer],
) -> None:
    signaling, _ = servers
    alice = PeerAgent("alice", signaling.url, "r")
    mallory = PeerAgent("mallory", signaling.url, "r")
    try:
        await alice.join()
        await mallory.join()
        await alice.offer("mallory")
        await mallory.accept("offer")
        await mallory.answer("alice")
        await alice.accept("answer")
        for candidate in (
            "candidate:1 1 udp 2130706431 192.0.2.2 5000 typ host",
            "candidate:2 1 udp 2130706431 abcd.local 5001 typ host",
            "candidate:3 1 udp 2130706431 127.0.0.1 5002 typ host",
        ):
            await mallory.signaling.send("candidate", "alice", candidate=candidate, sdpMid="0", sdpMLineIndex=0)
        await mallory.signaling.send("end-of-candidates", "alice")
        received = await alice.receive_candidates()
        assert len(received) == 3 and alice.remote_candidates == [received[2]]
        ignored = [e.detail for e in alice.events if e.detail.startswith("ignored")]
        assert len(ignored) == 2 and "192.0.2.2" in ignored[0] and "abcd.local" in ignored[1]
    finally:
        await alice.close()
        await mallory.close()


def test_a_bundled_candidate_in_two_m_sections_is_trickled_once() -> None:
    line = "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"
    sdp = "\r\n".join(
        ["v=0", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:0", line, "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:1", line]
    )
    _, found = split_candidates(sdp + "\r\n")
    assert [(c.candidate, c.sdp_mid, c.sdp_mline_index) for c in found] == [(line[2:], "0", 0)]
