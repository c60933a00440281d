from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pytest_webrtc.errors import SignalingError
from pytest_webrtc.signaling.client import SignalingClient
from pytest_webrtc.signaling.server import SignalingServer


@pytest.fixture
async def server() -> AsyncIterator[SignalingServer]:
    async with SignalingServer() as srv:
        yield srv


async def test_next_of_keeps_arrival_order_across_kinds(server: SignalingServer) -> None:
    a, b = SignalingClient(server.url, "r", "a"), SignalingClient(server.url, "r", "b")
    try:
        await a.join()
        await b.join()
        await a.send("candidate", "b", candidate="candidate:1 1 udp 1 127.0.0.1 1 typ host")
        await a.send("candidate", "b", candidate="candidate:2 1 udp 1 127.0.0.1 2 typ host")
        await a.send("end-of-candidates", "b")
        await a.send("offer", "b", sdp="later")  # another kind in between does not disturb the order
        kinds = ("candidate", "end-of-candidates")
        seen = [await b.next_of(*kinds, timeout=3) for _ in range(3)]
        assert [m["type"] for m in seen] == ["candidate", "candidate", "end-of-candidates"]
        assert (await b.next_of("offer", timeout=3))["sdp"] == "later"
        assert b.pending("candidate") == 0
    finally:
        await a.close()
        await b.close()


async def test_timeouts_and_refusals_are_signaling_errors(server: SignalingServer) -> None:
    a, twin = SignalingClient(server.url, "r", "a"), SignalingClient(server.url, "r", "a")
    try:
        await a.join()
        with pytest.raises(SignalingError, match="join refused: duplicate-peer"):
            await twin.join()
        with pytest.raises(SignalingError, match="no offer message within 0.1 s"):
            await a.next_of("offer", timeout=0.1)
    finally:
        await a.close()
        await twin.close()


async def test_unreachable_server_is_a_clear_error() -> None:
    async with SignalingServer() as srv:
        url = srv.url
    client = SignalingClient(url, "r", "a")
    with pytest.raises(SignalingError, match="cannot connect to signaling server ws://127.0.0.1:"):
        await client.connect(timeout=2)


async def test_waiters_learn_that_the_connection_closed(server: SignalingServer) -> None:
    client = SignalingClient(server.url, "r", "a")
    await client.join()
    waiter = asyncio.create_task(client.next_of("offer", timeout=5))
    await server.stop()
    with pytest.raises(SignalingError, match="connection closed while waiting for offer"):
        await waiter
    await client.close()
