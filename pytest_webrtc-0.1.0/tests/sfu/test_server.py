"""The SFU actor with real aiortc peers over real signaling, on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from pytest_webrtc.peer.agent import PeerAgent
from pytest_webrtc.sfu.forward import FrameTap
from pytest_webrtc.sfu.server import Sfu
from pytest_webrtc.signaling.client import SignalingClient
from pytest_webrtc.signaling.server import SignalingServer

ROOM = "sfu-test"


@pytest.fixture
async def signaling() -> AsyncIterator[SignalingServer]:
    server = await SignalingServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def sfu(signaling: SignalingServer) -> AsyncIterator[Sfu]:
    actor = await Sfu(signaling.url, ROOM).start()
    yield actor
    await actor.stop()


@pytest.fixture
async def peers(signaling: SignalingServer) -> AsyncIterator[dict[str, PeerAgent]]:
    made: dict[str, PeerAgent] = {}
    for name in ("alice", "bob", "carol"):
        made[name] = PeerAgent(name, signaling.url, ROOM)
    yield made
    for peer in made.values():
        await peer.close()


async def _publish_video(*peers: PeerAgent, codec: str | None = None) -> None:
    """Each peer joins, sends numbered video and connects to the SFU, in turn."""
    for peer in peers:
        await peer.join()
        await peer.add_track("video", codec)
    for peer in peers:
        await peer.connect_to("sfu")


def _others(peers: dict[str, PeerAgent], name: str) -> list[str]:
    return sorted(other for other in peers if other != name)


async def test_each_peer_receives_the_others_video_and_the_sfu_never_transcodes(
    sfu: Sfu, peers: dict[str, PeerAgent], monkeypatch: pytest.MonkeyPatch
) -> None:
    import aiortc.codecs.vpx as vpx
    import aiortc.rtcrtpreceiver as receiver_module

    calls: dict[str, int] = {"encode": 0, "pack": 0, "decoders": 0}
    encode, pack, get_decoder = vpx.Vp8Encoder.encode, vpx.Vp8Encoder.pack, receiver_module.get_decoder

    def counting_encode(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["encode"] += 1
        return encode(self, *args, **kwargs)

    def counting_pack(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["pack"] += 1
        return pack(self, *args, **kwargs)

    def counting_get_decoder(*args: Any, **kwargs: Any) -> Any:
        calls["decoders"] += 1
        return get_decoder(*args, **kwargs)

    monkeypatch.setattr(vpx.Vp8Encoder, "encode", counting_encode)
    monkeypatch.setattr(vpx.Vp8Encoder, "pack", counting_pack)
    monkeypatch.setattr(receiver_module, "get_decoder", counting_get_decoder)

    await _publish_video(*peers.values(), codec="VP8")
    for name, peer in peers.items():
        for other in _others(peers, name):
            summary = await peer.wait_media("video", 15, 10, source=other)
            assert summary["in_order"] and summary["max_gap"] == 0, (name, other, summary)
    await sfu.wait_until(lambda: sfu.settled, 5, "renegotiations done")
    assert sfu.forwarding() == {name: _others(peers, name) for name in peers}
    assert [p.remote_tracks() for p in peers.values()] == [
        [f"{other}.video" for other in _others(peers, name)] for name in peers
    ]

    # Nothing decoded at the SFU: every receiver it has is tapped; only the 3 x 2 subscriber
    # streams got a decoder.  Every frame it sent was packed as it came, none encoded again.
    for session in sfu.sessions.values():
        for publication in session.publications:
            assert isinstance(publication.receiver._RTCRtpReceiver__decoder_queue, FrameTap)
    assert calls["decoders"] == 6
    produced = sum(peer.tracks["video"].sent for peer in peers.values())
    assert calls["encode"] <= produced
    forwarded = sum(track.frames for session in sfu.sessions.values() for track in session.sent)
    assert calls["pack"] == forwarded > 0

    report = sfu.report()
    for name in peers:
        numbers = report["sessions"][name]
        assert numbers["bytes-received"] > 0 and numbers["bytes-forwarded"] > 0 and numbers["kbps-out"] > 0


async def test_a_peer_that_leaves_is_removed_from_the_others(sfu: Sfu, peers: dict[str, PeerAgent]) -> None:
    await _publish_video(*peers.values())
    await peers["alice"].wait_media("video", 5, 10, source="carol")
    await peers["carol"].close()
    await sfu.wait_until(lambda: sfu.settled and "carol" not in sfu.sessions, 10, "carol removed")
    assert sfu.forwarding() == {"alice": ["bob"], "bob": ["alice"]}
    assert peers["alice"].remote_tracks() == ["bob.video"]
    assert sfu.report()["departed"]["carol"]["ended"] == "peer-left"
    before = peers["alice"].media_frames("video", "bob")
    await peers["alice"].wait_media("video", before + 5, 10, source="bob")


async def test_keyframe_requests_of_a_subscriber_reach_the_publisher(sfu: Sfu, peers: dict[str, PeerAgent]) -> None:
    alice, bob = peers["alice"], peers["bob"]
    await _publish_video(alice, bob)
    await alice.wait_media("video", 5, 10, source="bob")
    receiver = next(
        t.receiver for t in alice.pc.getTransceivers() if t.receiver.track and t.receiver.track.id == "bob.video"
    )
    ssrc = receiver.getSynchronizationSources()[0].source
    track = sfu.sessions["alice"].sending["bob.video"][0]
    asked = track.keyframe_requests
    await receiver._send_rtcp_pli(ssrc)
    await sfu.wait_until(lambda: track.keyframe_requests > asked, 5, "the PLI relayed")
    assert sfu.keyframes_relayed >= 1


async def test_bad_signaling_input_is_recorded_and_the_sfu_keeps_serving(
    signaling: SignalingServer, sfu: Sfu, peers: dict[str, PeerAgent]
) -> None:
    rogue = SignalingClient(signaling.url, ROOM, "mallory")
    await rogue.join()
    await rogue.send("offer", "sfu", sdp="this is not SDP")
    await rogue.send("answer", "sfu", sdp="v=0")  # an answer nobody asked for: ignored
    await sfu.wait_until(lambda: len(sfu.errors) == 1, 5, "the bad offer recorded")
    assert "offer from mallory" in sfu.errors[0]
    await rogue.close()
    alice, bob = peers["alice"], peers["bob"]
    await _publish_video(alice, bob)
    await bob.wait_media("video", 5, 10, source="alice")
