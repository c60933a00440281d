"""Peers in separate processes: RPC over JSON lines, concurrency, cancellation, a dying child."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest

from pytest_webrtc.errors import PeerError
from pytest_webrtc.peer.process import ProcessPeer, _decode, _encode
from pytest_webrtc.signaling.server import SignalingServer


def test_bytes_survive_the_json_encoding() -> None:
    value = {"a": [b"\x00\xff", "text", {"b": b""}], "n": 1}
    assert _decode(_encode(value)) == value


@pytest.fixture
async def signaling() -> AsyncIterator[SignalingServer]:
    async with SignalingServer() as server:
        yield server


async def test_process_peer_joins_and_reports(signaling: SignalingServer) -> None:
    peer = ProcessPeer("bob", signaling.url, "r", ice_servers=[])
    await peer.start()
    try:
        assert await peer.join() == []
        report = await peer.get_report()
        assert report["id"] == "bob" and report["process"] is True
        with pytest.raises(PeerError, match="unknown method 'explode'"):
            await peer.call("explode")
    finally:
        await peer.close()
    assert peer._proc is None


async def test_calls_run_concurrently_and_can_be_cancelled(signaling: SignalingServer) -> None:
    peer = ProcessPeer("bob", signaling.url, "r", ice_servers=[])
    await peer.start()
    try:
        await peer.join()
        slow = asyncio.create_task(peer.wait_bye(timeout=30))  # nothing will come: it must not block the rest
        report = await asyncio.wait_for(peer.get_report(), 5)
        assert report["id"] == "bob"
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert await asyncio.wait_for(peer.get_report(), 5)  # still answering after the cancel
    finally:
        await peer.close()


async def test_a_child_that_dies_fails_the_call_clearly(signaling: SignalingServer) -> None:
    crash = [sys.executable, "-c", "import sys; sys.stderr.write('boom: simulated crash\\n'); sys.exit(3)"]
    peer = ProcessPeer("bob", signaling.url, "r", ice_servers=[], command=crash)
    await peer.start()
    try:
        with pytest.raises(PeerError, match="bob \\(process\\) exited during join: boom: simulated crash"):
            await peer.join()
    finally:
        await peer.close()


async def test_a_peer_closed_before_it_started_leaves_no_open_file() -> None:
    """CI once failed a later test on a ResourceWarning: the output file of a process peer that was
    made but never started stayed open until the garbage collector found it."""
    peer = ProcessPeer("bob", "ws://127.0.0.1:9", "r", ice_servers=[])
    output = peer._stderr
    await peer.close()
    assert output.closed
