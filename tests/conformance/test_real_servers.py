"""Calibration: the STUN suite's verdicts on real servers, held to what is true of each (tests/data).

Each expected verdict was decided by reading the server's source and the RFC (docs/ci.md says
why); a change that turns a true verdict false fails here.  ``profile`` runs say which claims
change the verdict.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_webrtc.conformance.stun import CHECKS, StunTarget, run_check

from .real_servers import LAUNCHERS, assert_every_verdict_given, assert_verdicts

VERDICTS = json.loads((Path(__file__).parent.parent / "data" / "stun_verdicts.json").read_text())
CASES = [(server, run) for server, runs in VERDICTS.items() for run in runs]


def test_every_server_and_rule_has_an_expected_verdict() -> None:
    assert_every_verdict_given(VERDICTS, LAUNCHERS, CHECKS)


@pytest.mark.parametrize(("server", "run"), CASES, ids=[f"{s}-{r}" for s, r in CASES])
def test_the_suite_tells_the_truth_about_a_real_server(server: str, run: str) -> None:
    expected = VERDICTS[server][run]
    with LAUNCHERS[server]() as address:
        target = StunTarget(address, timeout=0.5, **expected.get("claims", {}))

        async def judge_all() -> dict[str, Any]:
            return {rule: await run_check(rule, target) for rule in CHECKS}

        found = asyncio.run(judge_all())
    assert_verdicts(found, expected)


def test_docs_ci_gives_each_servers_true_counts() -> None:
    text = (Path(__file__).parent.parent.parent / "docs" / "ci.md").read_text().split("### What real servers get")[1]
    names = {"coturn": "coturn", "stund": "stund", "node-turn": "node-turn", "nodertc-stun": "nodertc `stun`",
             "pion-turn": "pion/turn 2.1.0's STUN side"}  # fmt: skip
    words = {"pass": "pass", "fail": "FAIL", "warn": "warn", "info": "info", "skip": "skip"}
    for server, shown in names.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| {shown}"))
        outcomes = list(VERDICTS[server]["default"]["outcomes"].values())
        counts = ", ".join(f"{outcomes.count(o)} {w}" for o, w in words.items() if outcomes.count(o))
        assert f"| {counts}" in row, (server, counts, row)
