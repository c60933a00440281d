"""The harness's peers wait 2 s, not aioice's 5 s, for STUN and TURN answers while gathering."""

from __future__ import annotations

import asyncio
import socket
import time

import aioice.ice

from pytest_webrtc.peer.hosts import LOOPBACK, gather_timeout, host_addresses


def test_the_patch_is_installed_while_a_block_is_open_and_removed_after() -> None:
    original = aioice.ice.Connection.get_component_candidates
    with gather_timeout(1):
        patched = aioice.ice.Connection.get_component_candidates
        assert patched is not original
        with gather_timeout(1):  # nested (two peers gathering at once): one patch
            assert aioice.ice.Connection.get_component_candidates is patched
        assert aioice.ice.Connection.get_component_candidates is patched
    assert aioice.ice.Connection.get_component_candidates is original


def test_gathering_against_a_silent_stun_server_ends_after_the_bound() -> None:
    from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]

        async def gather() -> tuple[float, str]:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer(urls=f"stun:127.0.0.1:{port}")]))
            pc.createDataChannel("x")
            started = time.perf_counter()
            with host_addresses(LOOPBACK), gather_timeout(1):
                await pc.setLocalDescription(await pc.createOffer())
            took = time.perf_counter() - started
            sdp = pc.localDescription.sdp
            await pc.close()
            return took, sdp

        took, sdp = asyncio.run(gather())
    assert 0.9 <= took < 3.0, took  # aioice alone waits 5 s
    assert "typ host" in sdp and "typ srflx" not in sdp
