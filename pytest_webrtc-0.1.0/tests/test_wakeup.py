"""Wakeup: waits that see every change, time out, and cancel cleanly."""

from __future__ import annotations

import asyncio

import pytest

from pytest_webrtc.wakeup import Wakeup


async def test_until_returns_the_first_value_after_a_wake() -> None:
    wakeup, box = Wakeup(), []
    waiting = asyncio.ensure_future(wakeup.until(lambda: box[0] if box else None, 5))
    await asyncio.sleep(0)
    assert not waiting.done()
    box.append("value")
    wakeup.wake()
    assert await asyncio.wait_for(waiting, 2) == "value"


async def test_until_times_out() -> None:
    with pytest.raises(TimeoutError):
        await Wakeup().until(lambda: None, 0.05)


async def test_cancelling_while_being_woken_ends_the_wait() -> None:
    """The case a Condition under wait_for could hang on: cancelled in the same turn as woken."""
    wakeup = Wakeup()
    for _ in range(50):
        waiting = asyncio.ensure_future(wakeup.until(lambda: None, 5))
        await asyncio.sleep(0)
        wakeup.wake()
        waiting.cancel()
        done, _ = await asyncio.wait({waiting}, timeout=2)
        assert done and waiting.cancelled()
    assert not wakeup._waiters
