"""Step checks against stub peers: each one fails when what it checks does not hold."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_webrtc.scenario import load_scenario
from pytest_webrtc.scenario.context import RunContext, World
from pytest_webrtc.scenario.model import Step
from pytest_webrtc.scenario.steps import STEPS, Expectation

ONE_PEER = "scenario: stub\npeers: {alice: {}}\nsteps:\n  - join: [alice]\n"


class StubPeer:
    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report

    async def get_report(self) -> dict[str, Any]:
        return self.report


def _report(pair: tuple[str, str], tracks: list[str]) -> dict[str, Any]:
    states = {"connection": "connected"}
    return {"selected_pair": pair, "candidates": {}, "messages": {}, "states": states, "remote_tracks": tracks}


async def _expect_peer(args: dict[str, Any], report: dict[str, Any]) -> str:
    world = World(load_scenario("stub.yaml", ONE_PEER), peers={"alice": StubPeer(report)})  # type: ignore[dict-item]
    return await STEPS["expect-peer"].run(RunContext(world), Step(1, "expect-peer", {"peer": "alice", **args}, 1, 5.0))


RELAYED = ("relay 203.0.113.1:5000", "prflx 198.51.100.10:6000")
DIRECT = ("host 10.0.1.2:5000", "srflx 198.51.100.10:6000")


async def test_selected_pair_any_accepts_either_end() -> None:
    assert "relay 203.0.113.1:5000" in await _expect_peer({"selected-pair": {"any": "relay"}}, _report(RELAYED, []))
    flipped = (RELAYED[1], RELAYED[0])  # the relay at the remote end
    assert "-> relay" in await _expect_peer({"selected-pair": {"any": "relay"}}, _report(flipped, []))


async def test_selected_pair_any_fails_without_that_type() -> None:
    with pytest.raises(Expectation, match="expected a relay candidate at either end"):
        await _expect_peer({"selected-pair": {"any": "relay"}}, _report(DIRECT, []))


async def test_remote_tracks_must_match_exactly() -> None:
    report = _report(DIRECT, ["bob.video", "carol.video"])
    assert "receives bob.video, carol.video" in await _expect_peer(
        {"remote-tracks": ["carol.video", "bob.video"]}, report
    )
    with pytest.raises(Expectation, match=r"receives tracks \['bob.video', 'carol.video'\], expected \['bob.video'\]"):
        await _expect_peer({"remote-tracks": ["bob.video"]}, report)
