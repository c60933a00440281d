"""NAT rebinding: after ``Topology.rebind`` the same inside socket shows a new public port, in the
rebinding's range, and the NAT keeps its mapping behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_webrtc.errors import HarnessConfigError
from pytest_webrtc.nat.behaviour import _exchange, _udp, measure
from pytest_webrtc.nat.netns import cannot_build_namespaces, in_thread
from pytest_webrtc.nat.topology import SERVER_ADDRESSES, Topology

SCENARIOS = Path(__file__).parent.parent.parent / "scenarios"
pytestmark = pytest.mark.skipif(cannot_build_namespaces() is not None, reason=str(cannot_build_namespaces()))


@pytest.mark.parametrize("nat", ["port-restricted-cone", "symmetric"])
def test_a_rebinding_gives_the_same_socket_a_new_port_twice(nat: str) -> None:
    with Topology({"alice": nat}) as topology:
        assert topology.public is not None
        site = topology.sites["alice"]
        endpoint = (SERVER_ADDRESSES[0], 3478)
        server = in_thread(topology.public.name, _udp, endpoint)
        client = in_thread(site.peer.name, _udp, (site.private_address, 0))
        try:
            ports = []
            for rebinding in range(3):
                mapped = _exchange(client, server, endpoint, 0.5)
                assert mapped is not None and mapped[0] == site.public_address, mapped
                ports.append(mapped[1])
                if rebinding < 2:
                    topology.rebind("alice")
            assert 20000 <= ports[1] <= 32767 and 61000 <= ports[2] <= 65535, ports
            assert len(set(ports)) == 3
        finally:
            client.close()
            server.close()
        after = measure(topology, "alice", timeout=0.3)  # still the NAT it was
        assert after.mapping == ("address-and-port-dependent" if nat == "symmetric" else "endpoint-independent")
        assert all(20000 <= port <= 65535 and not 32768 <= port <= 60999 for _, port in after.mappings)


def test_a_router_without_translation_cannot_be_rebound() -> None:
    with Topology({"bob": "none"}) as topology, pytest.raises(HarnessConfigError, match="nothing to rebind"):
        topology.rebind("bob")


def test_the_rebinding_scenario_shows_alice_on_a_new_port_and_bob_still_on_the_old(tmp_path: Path) -> None:
    """On the public wire: alice's datagrams leave from an ephemeral port, then (after the step) from
    one of the rebinding's range; bob keeps sending to the old one (aiortc follows no rebinding)."""
    import asyncio

    from pytest_webrtc.capture.packets import datagrams
    from pytest_webrtc.capture.sniffer import read_pcap
    from pytest_webrtc.scenario import load_scenario, run_scenario

    scenario = load_scenario(SCENARIOS / "network" / "nat_rebinding.yaml")
    result = asyncio.run(run_scenario(scenario, {"keep": "always", "capture_dir": tmp_path}))
    assert result.ok and result.pcap is not None
    linktype, frames = read_pcap(result.pcap)
    public = "198.51.100."
    sent = [d.src[1] for d in datagrams(frames, linktype) if d.src[0].startswith(public)]
    received = {d.dst[1] for d in datagrams(frames, linktype) if d.dst[0].startswith(public)}
    assert 32768 <= sent[0] <= 60999 and 20000 <= sent[-1] <= 32767, sent
    assert sent[0] in received  # bob's datagrams still go to the old mapping
