"""RFC 5780 discovery (ours) against our STUN server in the public namespace, per NAT type;
cross-checked with coturn's turnutils_natdiscovery."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_webrtc.background import BackgroundLoop
from pytest_webrtc.nat.netns import in_thread
from pytest_webrtc.nat.topology import SERVER_ADDRESSES, Topology
from pytest_webrtc.stun.discovery import Discovery, discover
from pytest_webrtc.stun.server import StunServer

from .test_behaviour import EXPECTED


@pytest.fixture(scope="module")
def rfc5780_server(every_nat: Topology) -> Iterator[StunServer]:
    assert every_nat.public is not None
    loop = BackgroundLoop("stun-in-public", netns=every_nat.public.name)
    server = loop.run(StunServer(SERVER_ADDRESSES[0], other_host=SERVER_ADDRESSES[1]).start())
    yield server
    loop.run(server.stop())
    loop.close()


def _discover(topology: Topology, nat: str, server: StunServer) -> Discovery:
    site = topology.sites[nat]
    assert server.udp_address is not None
    result = in_thread(site.peer.name, asyncio.run, discover(server.udp_address, site.private_address))
    assert isinstance(result, Discovery)
    return result


@pytest.mark.parametrize("nat", [n for n in EXPECTED if n != "udp-blocked"])
def test_discovery_classifies_each_nat_type(every_nat: Topology, rfc5780_server: StunServer, nat: str) -> None:
    found = _discover(every_nat, nat, rfc5780_server)
    mapping, filtering, translated = EXPECTED[nat]
    assert (found.mapping, found.filtering, found.behind_nat) == (mapping, filtering, translated), found.steps
    if translated:
        assert found.mapped[0] == every_nat.sites[nat].public_address


def test_discovery_behind_a_udp_blocking_firewall_fails_clearly(
    every_nat: Topology, rfc5780_server: StunServer
) -> None:
    from pytest_webrtc.errors import StunTransactionError

    with pytest.raises(StunTransactionError, match="no answer from udp 203.0.113.1"):
        _discover(every_nat, "udp-blocked", rfc5780_server)


@pytest.mark.skipif(shutil.which("turnutils_natdiscovery") is None, reason="coturn is not installed")
@pytest.mark.parametrize("nat", ["full-cone", "symmetric"])
def test_coturn_natdiscovery_agrees(every_nat: Topology, rfc5780_server: StunServer, nat: str) -> None:
    assert rfc5780_server.udp_address is not None
    site = every_nat.sites[nat]
    result = subprocess.run(
        ["ip", "netns", "exec", site.peer.name, "timeout", "20", "turnutils_natdiscovery", "-m", "-f",
         "-p", str(rfc5780_server.udp_address[1]), SERVER_ADDRESSES[0]],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    out = result.stdout + result.stderr
    mapping = "Endpoint Independent" if EXPECTED[nat][0] == "endpoint-independent" else "Address and Port Dependent"
    filtering = {
        "endpoint-independent": "Endpoint Independent",
        "address-and-port-dependent": "Address and Port Dependent",
    }[EXPECTED[nat][1]]
    assert f"{mapping} Mapping" in out, out
    assert f"{filtering} Filtering" in out, out


async def test_the_discovery_step_fails_on_a_wrong_classification(netns_capable: None, tmp_path: Path) -> None:
    from pytest_webrtc.errors import StepFailure
    from pytest_webrtc.scenario import load_scenario, run_scenario

    path = tmp_path / "wrong.yaml"
    path.write_text(
        "scenario: wrong\ntopology: {alice: full-cone}\npeers: {alice: {}}\ncapture: false\n"
        "steps:\n  - nat-discovery: {peer: alice, mapping: address-and-port-dependent}\n"
    )
    with pytest.raises(
        StepFailure, match="full-cone.*classified mapping endpoint-independent, expected address-and-port"
    ):
        await run_scenario(load_scenario(path))


PION_NAT_BEHAVIOUR = Path(__file__).parent.parent.parent / "interop" / "pion" / "bin" / "stun-nat-behaviour"


@pytest.mark.skipif(not PION_NAT_BEHAVIOUR.is_file(), reason="pion's stun-nat-behaviour is not built (setup.sh)")
@pytest.mark.parametrize("nat", [n for n in EXPECTED if n != "udp-blocked"])
def test_pions_stun_nat_behaviour_agrees(every_nat: Topology, rfc5780_server: StunServer, nat: str) -> None:
    """pion/stun's RFC 5780 client (Debian's source, built by setup.sh), behind each NAT type, against our
    server: the same mapping and filtering as ours and the NAT's own configuration. (It compares the
    mapped address with its socket's, bound to 0.0.0.0: behind no NAT it says 'endpoint independent',
    not 'endpoint independent (no NAT)'.)"""
    assert rfc5780_server.udp_address is not None
    result = subprocess.run(
        ["ip", "netns", "exec", every_nat.sites[nat].peer.name, str(PION_NAT_BEHAVIOUR),
         "-server", f"{SERVER_ADDRESSES[0]}:{rfc5780_server.udp_address[1]}", "-timeout", "1"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    out = result.stdout + result.stderr
    mapping, filtering, _ = EXPECTED[nat]
    assert f"NAT mapping behavior: {mapping.replace('-', ' ')}" in out, out
    assert f"NAT filtering behavior: {filtering.replace('-', ' ')}" in out, out
    assert "inconclusive" not in out, out
