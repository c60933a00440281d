"""A NAT scenario's captures: the public side judged, each router's two sides kept beside it."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_webrtc.capture.packets import datagrams
from pytest_webrtc.capture.sniffer import read_pcap
from pytest_webrtc.scenario import load_scenario, run_scenario
from pytest_webrtc.stun import decode

SCENARIO = Path(__file__).parents[2] / "scenarios" / "nat" / "full_cone_both.yaml"


async def test_router_captures_show_private_and_translated_addresses(netns_capable: None, tmp_path: Path) -> None:
    result = await run_scenario(load_scenario(SCENARIO), {"keep": "always", "capture_dir": tmp_path})
    assert result.pcap is not None and result.wire is not None and not result.wire.errors
    sidecar = json.loads(result.pcap.with_name(result.pcap.name + ".json").read_text())
    assert set(sidecar["nat_captures"]) == {"alice", "bob"}

    linktype, frames = read_pcap(tmp_path / sidecar["nat_captures"]["alice"])
    seen = datagrams(frames, linktype)
    stun = [(d, decode(d.payload)) for d in seen if d.payload[:1] in (b"\x00", b"\x01") and len(d.payload) >= 20]
    # The Binding request to the STUN server, once from the private address, once translated.
    to_server = [(d, m) for d, m in stun if d.dst[0] == "203.0.113.1" and m.message_class.name == "REQUEST"]
    sources = {d.src for d, _ in to_server}
    private = {s for s in sources if s[0] == "10.0.1.2"}
    translated = {s for s in sources if s[0] == "198.51.100.6"}
    assert private and translated, sources
    ids = [m.transaction_id for d, m in to_server]
    assert any(ids.count(i) == 2 for i in ids)  # the same request on both sides of the NAT
    # Its answer names the translated address, which is what left the router.
    answers = [m for d, m in stun if d.src[0] == "203.0.113.1" and m.message_class.name == "SUCCESS"]
    assert {tuple(m.get("XOR-MAPPED-ADDRESS")) for m in answers} <= translated
