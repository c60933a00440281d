"""Real interop with a browser: headless Chromium answers aiortc, echoes data both ways, and its
STUN and ICE traffic is captured and verified — Chromium sealed in a namespace of the harness
(interop/chromium/echo_contained.yaml); echo.yaml, the same call with Chromium on the machine, is
for where namespaces cannot be built (not root) and is not run here: it reaches out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pytest_webrtc.peer.browser import find_chromium
from pytest_webrtc.scenario import load_scenario, run_scenario

SCENARIO = Path(__file__).parent.parent.parent / "interop" / "chromium" / "echo.yaml"


CONTAINED = SCENARIO.with_name("echo_contained.yaml")
WATCHED = ("google", "gstatic", "gvt1", "chromium", "doubleclick")  # what Chromium was measured to look up


def dns_names(frame: bytes, linktype: int) -> list[str]:
    """The names a DNS query (UDP port 53) in a captured frame asks for."""
    from pytest_webrtc.capture.packets import ip_payload, udp_of

    packet = ip_payload(linktype, frame)
    parsed = udp_of(packet) if packet is not None else None
    if parsed is None or parsed[1][1] != 53 or len(parsed[2]) < 13:
        return []
    payload, offset, labels = parsed[2], 12, []
    while offset < len(payload) and payload[offset] and len(labels) < 64:
        length = payload[offset]
        labels.append(payload[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    return [".".join(labels)] if labels else []


def test_dns_names_are_read_from_a_query_frame() -> None:
    query = b"\x12\x34\x01\x00\x00\x01" + bytes(6) + b"\x08clients2\x06google\x03com\x00\x00\x01\x00\x01"
    udp = (40000).to_bytes(2, "big") + (53).to_bytes(2, "big") + (8 + len(query)).to_bytes(2, "big") + bytes(2)
    ip = b"\x45" + bytes(1) + (20 + len(udp) + len(query)).to_bytes(2, "big") + bytes(5) + b"\x11" + bytes(2)
    ip += bytes([10, 0, 0, 1, 10, 255, 255, 53])
    frame = bytes(12) + b"\x08\x00" + ip + udp + query  # Ethernet
    assert dns_names(frame, 1) == ["clients2.google.com"]


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
def test_chromium_sealed_in_a_namespace_still_calls_and_looks_nothing_up_outside(
    tmp_path: Path, can_capture: None
) -> None:
    """The call through a sealed Chromium, while the machine's own default interface is watched
    (passively): no DNS query for the names Chromium is known to look up leaves the machine."""
    import subprocess

    from pytest_webrtc.capture.libpcap import Pcap
    from pytest_webrtc.nat.netns import cannot_build_namespaces

    if cannot_build_namespaces():
        pytest.skip(str(cannot_build_namespaces()))
    default = subprocess.run(["ip", "route", "show", "default"], capture_output=True, text=True).stdout.split()
    watched = Pcap(default[default.index("dev") + 1], "udp port 53") if "dev" in default else None
    try:
        result = asyncio.run(run_scenario(load_scenario(CONTAINED), {"keep": "always", "capture_dir": tmp_path}))
        names: list[str] = []
        while watched is not None and (frame := watched.next()) is not None:
            names += dns_names(frame[1], watched.datalink())
    finally:
        if watched is not None:
            watched.close()
    assert result.ok and "echoed back by bob" in result.text()
    assert result.wire is not None and result.wire.ok
    checks = [r for r in result.wire.records if r.role == "ice-check"]
    assert checks and all(r.valid for r in checks)  # Chromium's checks, integrity verified with its SDP password
    assert not [n for n in names if any(word in n for word in WATCHED)], names
    # on the public side, only the topology's addresses: Chromium never showed the machine's own
    addresses = {a for r in result.wire.records for a in (r.datagram.src[0], r.datagram.dst[0])}  # type: ignore[union-attr]
    assert addresses and all(a.startswith(("198.51.100.", "203.0.113.", "10.0.")) for a in addresses), addresses


def test_a_topology_peer_reaches_nothing_beyond_the_harness_and_resolves_nothing() -> None:
    """What a sealed program (Chromium in bob's namespace) can reach: the topology, and no further."""
    import subprocess
    import time

    from pytest_webrtc.nat.netns import cannot_build_namespaces, run
    from pytest_webrtc.nat.topology import Topology

    if cannot_build_namespaces():
        pytest.skip(str(cannot_build_namespaces()))
    with Topology({"bob": "none"}) as topology:
        peer, public = topology.sites["bob"].peer.name, topology.public
        assert public is not None
        for beyond in ("1.1.1.1", "8.8.8.8"):  # the public network has no way out
            routed = subprocess.run(["ip", "netns", "exec", public.name, "ip", "route", "get", beyond],
                                    capture_output=True, text=True, timeout=10)  # fmt: skip
            assert routed.returncode != 0 and "no route to host" in routed.stderr.lower(), routed
        started = time.monotonic()
        lookup = subprocess.run(["ip", "netns", "exec", peer, "getent", "hosts", "clients2.google.com"],
                                capture_output=True, timeout=30)  # fmt: skip
        assert lookup.returncode != 0 and time.monotonic() - started < 3  # fails, and at once
        assert "unreachable default" in run("ip", "route", "show", namespace=public.name)
