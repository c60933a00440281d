"""Docs that users script against stay true: every strict rule documented, README example runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_webrtc.stun import RULES

ROOT = Path(__file__).parent.parent


def test_every_strict_rule_is_documented_with_its_section() -> None:
    text = (ROOT / "docs" / "stun.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z0-9.\-]+)` \| ([^|]+) \|", text, re.M))
    assert set(rows) == set(RULES)
    for rule, (section, _) in RULES.items():
        assert rows[rule].strip() in (section, "the attribute's section"), rule


def test_readme_fixture_example_runs(pytester: pytest.Pytester) -> None:
    readme = (ROOT / "README.md").read_text()
    example = readme.split("### The STUN server as a fixture", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n")
    pytester.makepyfile(test_readme=example)
    pytester.runpytest().assert_outcomes(passed=2)


def test_readme_gives_the_two_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./setup.sh && python -m pytest --webrtc-scenario scenarios/p2p_datachannel.yaml" in readme
    assert "./setup.sh && python -m pytest -n 2" in readme
    assert "./setup.sh && python -m pytest -n 2" in ci
