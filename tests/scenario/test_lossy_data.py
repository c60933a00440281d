"""The data step's `arrive:` for unreliable channels: some of those sent, once each, in order when ordered."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pytest_webrtc.errors import Expectation, PeerError
from pytest_webrtc.scenario.model import Step
from pytest_webrtc.scenario.steps.data import _lossy


class Listener:
    def __init__(self, messages: list[str | bytes]) -> None:
        self.messages = messages

    async def wait_messages(self, label: str, count: int, timeout: float) -> list[str | bytes]:
        if len(self.messages) < count:
            raise PeerError(f"bob: {count} message(s) on {label!r} did not happen within {timeout:g} s")
        return list(self.messages)


SENT: list[str | bytes] = [f"m #{i}" for i in range(5)]


def _judge(received: list[str | bytes], arrive: str = "<5", ordered: bool = True) -> str:
    step = Step(1, "data", {"from": "alice", "to": "bob", "arrive": arrive}, 1, 0.1)
    ctx: Any = None
    return asyncio.run(_lossy(ctx, step, Listener(received), "lossy", 0, SENT, ordered))


def test_some_in_order_pass_and_all_of_them_fail_an_arrive_that_expects_losses() -> None:
    assert "3 of 5 message(s) arrived, in the order sent" in _judge(["m #0", "m #2", "m #4"])
    with pytest.raises(Expectation, match=r"expected <5 of 5 messages to arrive on 'lossy', got 5"):
        _judge(list(SENT))


@pytest.mark.parametrize(
    ("received", "ordered", "said"),
    [
        (["m #0", "m #3", "m #2"], True, "delivered message #2 after #3"),
        (["m #0", "m #0"], True, "received a message twice"),
        (["m #0", "forged"], False, "a message alice never sent"),
    ],
    ids=["reordered", "duplicated", "never-sent"],
)
def test_what_an_unreliable_channel_must_not_do_fails(received: list[str | bytes], ordered: bool, said: str) -> None:
    with pytest.raises(Expectation, match=said):
        _judge(received, ordered=ordered)
    if not ordered:
        return
    assert _judge(["m #3", "m #2"], ordered=False)  # an unordered channel may reorder
