"""Real interop with a browser: headless Chromium answers aiortc, echoes data both ways, and its
STUN and ICE traffic is captured and verified."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pytest_webrtc.peer.browser import find_chromium
from pytest_webrtc.scenario import load_scenario, run_scenario

SCENARIO = Path(__file__).parent.parent.parent / "interop" / "chromium" / "echo.yaml"


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
def test_chromium_answers_aiortc_with_its_wire_verified(tmp_path: Path, can_capture: None) -> None:
    result = asyncio.run(run_scenario(load_scenario(SCENARIO), {"keep": "always", "capture_dir": tmp_path}))
    assert "echoed back by bob" in result.text()
    assert result.wire is not None and result.wire.ok
    checks = [r for r in result.wire.records if r.role == "ice-check"]
    assert checks and all(r.valid for r in checks)  # Chromium's checks, integrity verified with its SDP password
    assert all(d.src[0] == "127.0.0.1" and d.dst[0] == "127.0.0.1" for d in (r.datagram for r in result.wire.records))
    ignored = [e for e in result.reports["alice"]["events"] if e[2].startswith("ignored")]
    assert ignored  # Chromium's host candidates on real interfaces were offered, and not used


CONTAINED = SCENARIO.with_name("echo_contained.yaml")


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
def test_chromium_sealed_in_a_namespace_still_calls(tmp_path: Path, can_capture: None) -> None:
    from pytest_webrtc.nat.netns import cannot_build_namespaces

    if cannot_build_namespaces():
        pytest.skip(str(cannot_build_namespaces()))
    result = asyncio.run(run_scenario(load_scenario(CONTAINED), {"keep": "always", "capture_dir": tmp_path}))
    assert result.ok and "echoed back by bob" in result.text()
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
