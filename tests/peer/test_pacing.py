"""Trickled candidates are checked on arrival, and checks stay at least Ta apart (pytest_webrtc.peer.pacing)."""

from __future__ import annotations

import asyncio
import time

import aioice
import pytest

from pytest_webrtc.peer.hosts import host_addresses
from pytest_webrtc.peer.pacing import TA, check_on_arrival


async def _pair(paced: bool) -> tuple[bool, list[float], bool]:
    """Two aioice agents on loopback; bob's candidate trickles in after alice's connect() started
    (bob connects after it: his checks must not reach alice first).  Whether alice's check of it
    started at once, when alice's checks started, and whether ICE completed on both sides."""
    with host_addresses(["127.0.0.1"]):
        alice, bob = aioice.Connection(ice_controlling=True), aioice.Connection(ice_controlling=False)
        await alice.gather_candidates()
        await bob.gather_candidates()
    starts: list[float] = []
    four = asyncio.Event()  # alice started the checks of her four pairs
    if paced:
        check_on_arrival(alice)
    start = alice.check_start_task

    def recorded(pair: object) -> None:
        starts.append(time.monotonic())
        if len(starts) == 4:
            four.set()
        start(pair)

    alice.check_start_task = recorded  # type: ignore[method-assign]
    alice.remote_username, alice.remote_password = bob.local_username, bob.local_password
    bob.remote_username, bob.remote_password = alice.local_username, alice.local_password
    for candidate in alice.local_candidates:
        await bob.add_remote_candidate(candidate)
    await bob.add_remote_candidate(None)
    connecting = [asyncio.create_task(alice.connect())]
    try:
        await asyncio.sleep(TA * 1.5)  # alice's loop has turned with nothing to check: the candidate is late
        before = len(starts)
        # First pairs that take time (loopback ports nobody listens on, checked first: the highest
        # priority), then bob's: the loop must pace the checks after the one started on arrival.
        for port in (9, 11, 13):
            await alice.add_remote_candidate(aioice.Candidate("9", 1, "udp", 2**31 - port, "127.0.0.1", port, "host"))
            if port == 9:
                at_once = len(starts) > before  # started inside add_remote_candidate, not at the loop's next turn
        for candidate in bob.local_candidates:
            await alice.add_remote_candidate(candidate)
        await alice.add_remote_candidate(None)
        await asyncio.wait_for(four.wait(), 5)  # the loop's turns start the other three pairs' checks
        paced = list(starts)  # bob's checks, once he connects, trigger checks (aioice sends those at once)
        connecting.append(asyncio.create_task(bob.connect()))
        done, _ = await asyncio.wait(connecting, timeout=10)
        return at_once, paced, len(done) == 2 and all(t.exception() is None for t in done)
    finally:
        for task in connecting:
            task.cancel()
        await asyncio.gather(*connecting, return_exceptions=True)
        await alice.close()
        await bob.close()


@pytest.mark.parametrize("paced", [True, False], ids=["on-arrival", "aioice-as-is"])
def test_a_trickled_candidate_is_checked_on_arrival_and_checks_stay_ta_apart(paced: bool) -> None:
    at_once, starts, completed = asyncio.run(_pair(paced))
    assert completed
    assert at_once is paced  # aioice alone waits for its loop's next turn
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert len(starts) == 4 and all(gap >= TA * 0.999 for gap in gaps), gaps  # RFC 8445 §14.2: never closer than Ta


def test_the_patch_is_per_connection_and_idempotent() -> None:
    connection, other = aioice.Connection(ice_controlling=True), aioice.Connection(ice_controlling=True)
    check_on_arrival(connection)
    patched = connection.add_remote_candidate
    check_on_arrival(connection)
    assert connection.add_remote_candidate is patched  # not wrapped twice
    assert "add_remote_candidate" not in vars(other)  # aioice's class is left alone
    check_on_arrival(None)  # a peer without an ICE transport yet
