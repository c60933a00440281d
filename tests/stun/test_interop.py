"""Clients we did not write, against our server: aioice, aiortc, coturn's C tools."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator

import aioice
import pytest

from pytest_webrtc.peer.hosts import LOOPBACK, host_addresses
from pytest_webrtc.stun.server import StunServer


@pytest.fixture
async def server() -> AsyncIterator[StunServer]:
    async with StunServer("127.0.0.1", other_host="127.0.0.2") as srv:
        yield srv


async def test_aioice_gathers_srflx_from_our_server(server: StunServer) -> None:
    assert server.udp_address is not None
    connection = aioice.Connection(ice_controlling=True, stun_server=server.udp_address)
    try:
        with host_addresses(LOOPBACK):
            await asyncio.wait_for(connection.gather_candidates(), 5)
        by_type = {c.type: c for c in connection.local_candidates}
        assert set(by_type) == {"host", "srflx"}
        host, srflx = by_type["host"], by_type["srflx"]
        assert (srflx.host, srflx.port) == (host.host, host.port) == server.transactions[-1].client
        assert (srflx.related_address, srflx.related_port) == (host.host, host.port)
    finally:
        await connection.close()


async def test_aiortc_offer_carries_srflx_candidate(server: StunServer) -> None:
    from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

    assert server.udp_address is not None
    host, port = server.udp_address
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer(urls=f"stun:{host}:{port}")]))
    try:
        pc.createDataChannel("probe")
        with host_addresses(LOOPBACK):
            await asyncio.wait_for(pc.setLocalDescription(await pc.createOffer()), 5)
        srflx = [line for line in pc.localDescription.sdp.splitlines() if " typ srflx " in line]
        assert len(srflx) == 1
        fields = srflx[0].split()
        client = server.transactions[-1].client
        assert (fields[4], int(fields[5])) == client
        assert server.stats.requests == server.stats.responses >= 1
    finally:
        await pc.close()


def test_host_addresses_override_is_restored() -> None:
    import aioice.ice

    with host_addresses(["127.0.0.1", "::1"]):
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(False, True) == ["::1"]
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(True, False)  # aioice's own choice again


def test_two_agents_gathering_at_once_keep_their_own_addresses() -> None:
    """The override is per task: interleaved blocks (two agents gathering in one loop) neither see
    the other's choice nor leave one behind (measured before: the second restored the first's for good)."""
    import aioice.ice

    async def gather(addresses: list[str], first: asyncio.Event, second: asyncio.Event) -> list[str]:
        with host_addresses(addresses):
            first.set()
            await second.wait()
            return list(aioice.ice.get_host_addresses(True, False))

    async def main() -> tuple[list[str], list[str]]:
        a_in, b_in = asyncio.Event(), asyncio.Event()
        a = asyncio.ensure_future(gather(["127.0.0.2"], a_in, b_in))
        await a_in.wait()
        b = asyncio.ensure_future(gather(["127.0.0.3"], b_in, a_in))
        return await a, await b

    assert asyncio.run(main()) == (["127.0.0.2"], ["127.0.0.3"])
    assert not {"127.0.0.2", "127.0.0.3"} & set(aioice.ice.get_host_addresses(True, False))


async def _run(*argv: str, timeout: float = 10) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{argv[0]} did not finish within {timeout} s") from None
    return out.decode(errors="replace")


@pytest.mark.skipif(
    shutil.which("turnutils_stunclient") is None, reason="coturn is not installed (apt-get install coturn)"
)
async def test_coturn_stunclient_gets_reflexive_address(server: StunServer) -> None:
    assert server.udp_address is not None
    out = await _run("turnutils_stunclient", "-p", str(server.udp_address[1]), "127.0.0.1")
    assert "UDP reflexive addr: 127.0.0.1:" in out
    port = int(out.split("UDP reflexive addr: 127.0.0.1:")[1].split()[0])
    assert port in {t.client[1] for t in server.transactions}


@pytest.mark.skipif(
    shutil.which("turnutils_natdiscovery") is None, reason="coturn is not installed (apt-get install coturn)"
)
async def test_coturn_natdiscovery_sees_no_nat_through_our_rfc5780_mode(server: StunServer) -> None:
    """An independent RFC 5780 client: on loopback there is no NAT, so both behaviours are endpoint-independent."""
    assert server.udp_address is not None
    port = str(server.udp_address[1])
    mapping = await _run("turnutils_natdiscovery", "-m", "-p", port, "127.0.0.1")
    filtering = await _run("turnutils_natdiscovery", "-f", "-p", port, "127.0.0.1")
    assert "NAT with Endpoint Independent Mapping!" in mapping
    assert "NAT with Endpoint Independent Filtering!" in filtering
    origins = {t.sent_from for t in server.transactions}
    assert any(o is not None and o[0] == "127.0.0.2" for o in origins)  # CHANGE-REQUEST really honoured


def test_a_reimported_hosts_module_still_steers_the_installed_dispatcher() -> None:
    """pytester's in-process runs drop the modules a run imported: a fresh import of peer.hosts must
    set what aioice's dispatcher, installed by the first import, reads (before: every later block was
    ignored, and the seed's loopback peers gathered no candidate)."""
    import importlib

    import aioice.ice

    import pytest_webrtc.peer.hosts as hosts

    with hosts.host_addresses(["127.0.0.2"]):
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.2"]
    fresh = importlib.reload(hosts)
    with fresh.host_addresses(["127.0.0.3"]):
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.3"]
