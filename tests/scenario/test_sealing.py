"""Sealing a scenario with another project's program: when, when not, and what the run says of it."""

from __future__ import annotations

import pytest

from pytest_webrtc.errors import ScenarioError
from pytest_webrtc.nat.netns import cannot_build_namespaces
from pytest_webrtc.scenario import RunOptions, load_scenario
from pytest_webrtc.scenario.world import seal

BASE = """\
scenario: x
{top}peers:
  alice: {{}}
  bot: {{{bot}}}
steps:
  - join: [alice, bot]
"""
root = pytest.mark.skipif(cannot_build_namespaces() is not None, reason=str(cannot_build_namespaces()))


def scenario(bot: str = 'command: "./bot"', top: str = "") -> object:
    return load_scenario("s.yaml", BASE.format(bot=bot, top=top))


@root
def test_a_program_seals_every_peer_behind_no_nat() -> None:
    sealed, notes = seal(scenario(), RunOptions())  # type: ignore[arg-type]
    assert sealed.topology == {"alice": "none", "bot": "none"}
    assert all(spec.behind_nat for spec in sealed.peers.values())  # so alice runs in her namespace too
    assert notes == [
        "sealed: alice, bot each in a network namespace of its own, no NAT (as topology {alice: none, bot: none}), "
        "because bot is a program (command:); sealed: false runs them on this machine's loopback instead"
    ]


def test_no_program_or_sealed_false_leaves_the_scenario_alone() -> None:
    for plain in (scenario(bot=""), scenario(top="sealed: false\n")):
        same, notes = seal(plain, RunOptions())  # type: ignore[arg-type]
        assert same is plain and notes == []


@root
def test_what_needs_the_machines_loopback_is_not_sealed_and_says_why() -> None:
    with_sfu = scenario(top="servers: {sfu: {}}\n")
    same, notes = seal(with_sfu, RunOptions())  # type: ignore[arg-type]
    assert same is with_sfu and not same.topology  # type: ignore[attr-defined]
    assert notes[0].startswith(
        "containment: OFF — bot (command:) ran on this machine's own network (the SFU and MCU actors run on "
        "this machine's loopback): the harness's peers use only remote candidates on 127.0.0.1"
    )
    with pytest.raises(ScenarioError, match="sealed: true, but the scenario cannot be sealed: its STUN server is"):
        seal(scenario(top="sealed: true\nservers: {stun: {address: '127.0.0.1:3478'}}\n"), RunOptions())  # type: ignore[arg-type]


def test_sealed_beside_a_topology_and_env_without_a_program_are_refused_at_load_time() -> None:
    with pytest.raises(ScenarioError, match="s.yaml:2:9: sealed: a topology already puts every peer"):
        scenario(top="sealed: true\ntopology: {alice: none, bot: none}\n")
    with pytest.raises(
        ScenarioError, match=r"peers.bot.env: an environment is for a program \(command:\); bot is an aiortc peer"
    ):
        scenario(bot="env: {A: b}")
