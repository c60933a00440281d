"""ICE restart (RFC 8445 §9) with Chromium on both sides: new credentials on the wire, judged with
the re-offer's and re-answer's SDPs; stacks that cannot restart are refused before anything runs."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from pytest_webrtc.errors import ScenarioError
from pytest_webrtc.nat.netns import cannot_build_namespaces
from pytest_webrtc.peer.browser import find_chromium
from pytest_webrtc.scenario import load_scenario, run_scenario

SCENARIO = Path(__file__).parent.parent.parent / "scenarios" / "network" / "ice_restart.yaml"
# Measured, about one run in eight: a Binding success from one Chromium to the other whose request is
# in none of the three captures (public, both routers) — only around the restart (a data-only call
# between the same two: 0 in 12). The rule says it, as a warning (SHOULD): the run passes.
CHROMIUM_DURING_RESTART = "wire.response-unmatched"


@pytest.mark.slow
@pytest.mark.skipif(cannot_build_namespaces() is not None, reason=str(cannot_build_namespaces()))
@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
def test_after_the_restart_the_checks_carry_both_new_ufrags_and_verify(tmp_path: Path) -> None:
    result = asyncio.run(run_scenario(load_scenario(SCENARIO), {"keep": "always", "capture_dir": tmp_path}))
    assert result.ok and result.wire is not None and result.pcap is not None
    assert not result.wire.errors, result.wire.errors
    assert all(f.outcome == "warn" for f in result.wire.findings if f.rule == CHROMIUM_DURING_RESTART)
    assert [r.step.kind for r in result.steps] == ["call", "restart-ice", "expect-wire"]
    said = result.calls[-1]["cases"]["restart-ice"]["detail"]  # the restart-ice step's record of the call
    old, new = re.match(r"ufrag (\S+) -> (\S+);", said).groups()  # type: ignore[union-attr]
    peers = json.loads(Path(str(result.pcap) + ".json").read_text())["peers"]
    ufrags = {p["name"]: p["ufrag"] for p in peers}
    assert ufrags["alice"] == old and ufrags["alice~2"] == new and ufrags["bob~2"] != ufrags["bob"]
    checks = [r for r in result.wire.records if r.role == "ice-check"]
    restarted = [r for r in checks if new in str(r.message.get("USERNAME")).split(":")]
    # alice's new ufrag on the wire, each check verified (with bob's old or new password: Chromium
    # checks with the remote's old credentials until the re-answer, measured)
    assert restarted and all(r.valid for r in restarted), [r.message.get("USERNAME") for r in restarted]
    assert all(r.valid for r in checks)


def test_a_stack_without_ice_restart_is_refused_at_load_time(tmp_path: Path) -> None:
    path = tmp_path / "restart.yaml"
    path.write_text(SCENARIO.read_text().replace("bob: {stack: chromium, stun: false}", "bob: {stack: aiortc}"))
    with pytest.raises(ScenarioError, match="bob is aiortc .* and cannot restart ICE .aiortc has no ICE restart."):
        load_scenario(path)


def test_the_restart_ice_step_tells_the_caller_at_start_and_runs_alone_too(tmp_path: Path) -> None:
    """The stack programs learn their cases at start: a restart-ice step adds its case to the pair's
    call (after a call step's own cases, once each); without a call step it makes the call itself."""
    from pytest_webrtc.scenario.world import _calls

    scenario = load_scenario(SCENARIO)
    assert _calls(scenario) == ({"alice": "bob"}, {"alice": ("data", "restart-ice"), "bob": ("data", "restart-ice")})
    alone = tmp_path / "alone.yaml"
    alone.write_text(SCENARIO.read_text().replace("  - call: {from: alice, to: bob, cases: [data]}\n", ""))
    assert _calls(load_scenario(alone))[1]["alice"] == ("data", "restart-ice")
