"""Janus in its namespace, and the janus signaling driver's words (the scenarios in scenarios/interop/janus/)."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import subprocess
from collections.abc import Iterator

import pytest

from pytest_webrtc.errors import ScenarioError, SignalingError
from pytest_webrtc.janus.server import JanusServer, janus_missing
from pytest_webrtc.nat.netns import run
from pytest_webrtc.scenario import load_scenario
from pytest_webrtc.signaling.janus import JanusChannel


@pytest.fixture(scope="module")
def janus() -> Iterator[JanusServer]:
    why = janus_missing()
    if why:
        pytest.skip(why)
    with JanusServer() as running:
        yield running


def test_janus_is_sealed_in_its_namespace_and_leaves_nothing_behind() -> None:
    if janus_missing():
        pytest.skip(str(janus_missing()))
    with JanusServer() as janus:
        assert janus.namespace is not None and janus.process is not None
        name, pid = janus.namespace.name, janus.process.pid
        routes = run("ip", "route", "show", namespace=name)
        network = ipaddress.ip_network(f"{janus.janus_side}/30", strict=False)
        assert routes.strip().splitlines() == [f"{network} dev eth0 proto kernel scope link src {janus.janus_side}"]
        dns = subprocess.run(["ip", "netns", "exec", name, "getent", "hosts", "example.com"], capture_output=True,
                             timeout=10)  # fmt: skip
        assert dns.returncode != 0  # no resolver reachable: nothing beyond the link
    assert name not in run("ip", "netns", "list")
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_a_refusal_is_said_in_janus_words(janus: JanusServer) -> None:
    async def run_it() -> None:
        channel = JanusChannel(janus.ws_url, "999999", "alice")  # a room the videoroom does not have
        await channel.join()
        try:
            await channel.send("offer", "videoroom", sdp="v=0\r\n")
        finally:
            await channel.close()

    with pytest.raises(SignalingError, match=r"alice: videoroom refused join: 426 No such room \(999999\)"):
        asyncio.run(run_it())


def test_subscribed_tracks_are_named_after_their_publishers() -> None:
    offer = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=VideoRoom 1234\r\nt=0 0\r\na=msid-semantic: WMS janus\r\n"
             "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=msid:janus janus0\r\na=ssrc:1 msid:janus janus0\r\n"
             "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=msid:janus janus1\r\n")  # fmt: skip
    streams = [{"mid": "0", "type": "video", "feed_id": 7, "feed_display": "bob"},
               {"mid": "1", "type": "video", "feed_id": 8, "feed_display": "carol"}]  # fmt: skip
    named = JanusChannel("ws://x", "r", "alice")._named(offer, streams).splitlines()
    assert "a=msid-semantic: WMS *" in named and "a=msid-semantic: WMS janus" not in named
    assert named[named.index("a=mid:0") + 1 :][:1] == ["a=msid:bob bob.video"]
    assert "a=msid:carol carol.video" in named and not any("janus0" in line for line in named)


def test_what_janus_offers_is_checked_at_load_time() -> None:
    text = """\
scenario: a plugin Janus does not offer here
servers: {signaling: {protocol: janus}}
peers: {alice: {}}
steps:
  - connect: {peers: [alice], to: streaming}
"""
    with pytest.raises(ScenarioError, match=r"step 1 \(connect\): 'streaming' is not a server actor; servers: "
                                            r"echotest, videoroom"):  # fmt: skip
        load_scenario("janus.yaml", text)
