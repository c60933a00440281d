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
    for rule, record in RULES.items():
        assert rows[rule].strip() in (record.section, "the attribute's section"), rule


def test_readme_fixture_example_runs(pytester: pytest.Pytester) -> None:
    readme = (ROOT / "README.md").read_text()
    example = readme.split("### The STUN server as a fixture", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n")
    pytester.makepyfile(test_readme=example)
    pytester.runpytest().assert_outcomes(passed=2)


def test_api_docs_python_test_against_a_program_runs(pytester: pytest.Pytester) -> None:
    """docs/api.md's worked example, with the two ini lines it says a user needs: passes, no warning."""
    api = (ROOT / "docs" / "api.md").read_text()
    example = api.split("### A Python test against your program", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    ini = api.split("```ini\n", 1)[1].split("```", 1)[0]
    assert ini == "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    pytester.makeini(ini + "addopts = -p no:benchmark\nfilterwarnings = error\n")
    pytester.makepyfile(test_api_example=example)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "warning" not in result.stdout.str().lower()


def test_readme_gives_the_two_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./setup.sh && python -m pytest --webrtc-scenario scenarios/p2p_datachannel.yaml" in readme
    assert "./setup.sh && python -m pytest -n 2" in readme
    assert "./setup.sh && python -m pytest -n 2" in ci


def test_nat_outcome_table_matches_the_scenarios() -> None:
    """docs/nat.md's table of outcomes and scenarios/nat/ say the same (the scenarios themselves run
    in the suite and assert their outcome)."""
    from pytest_webrtc.scenario import load_scenario

    root = ROOT
    rows = re.findall(r"^\| `(\w+\.yaml)`(?: \([^)]*\))? \| ([\w-]+) \| ([\w-]+) \| (connect|fail) \| (.+?) \|$",
                      (root / "docs" / "nat.md").read_text(), re.M)  # fmt: skip
    files = sorted(p.name for p in (root / "scenarios" / "nat").glob("*.yaml"))
    assert sorted(row[0] for row in rows) == files
    for name, alice, bob, outcome, pairs in rows:
        scenario = load_scenario(root / "scenarios" / "nat" / name)
        assert scenario.topology == {"alice": alice, "bob": bob}, name
        waits = [s for s in scenario.steps if s.kind == "wait" and s.args.get("connection") == "connected"]
        assert len(waits) == 1, name
        assert bool(waits[0].expect_failure) == (outcome == "fail"), name
        expected_pairs = set()
        if outcome == "connect":
            for part in pairs.split("; "):
                expected_pairs.add(re.fullmatch(r"(\w+): (local|remote|any) (\w+)", part).groups())  # type: ignore[union-attr]
        found = {
            (s.args["peer"], side, kind)
            for s in scenario.steps
            if s.kind == "expect-peer" and "selected-pair" in s.args
            for side, kind in s.args["selected-pair"].items()
        }
        assert found == expected_pairs, name


DOCUMENTED_MISTAKES = {
    "'to' is a required property": "scenario: x\npeers: {alice: {}}\nsteps:\n  - offer: {from: alice}\n",
    "unknown step kind 'ofer'": "scenario: x\npeers: {alice: {}}\nsteps:\n  - join: alice\n  - ofer: {from: alice, to: alice}\n",
    "unknown key 'form'": "scenario: x\npeers: {alice: {}, bob: {}}\nsteps:\n  - offer: {form: alice, to: bob}\n",
    "unknown peer 'bobb'": "scenario: x\npeers: {alice: {}, bob: {}}\nsteps:\n  - offer: {from: alice, to: bobb}\n",
    "bob answers alice": "scenario: x\npeers: {alice: {}, bob: {}}\nsteps:\n  - join: [alice, bob]\n  - answer: {from: bob, to: alice}\n",
    "cannot be told to add a track": (
        "scenario: x\npeers: {alice: {}, bob: {command: ./my-peer}}\nsteps:\n  - join: [alice, bob]\n"
        "  - track: {peer: bob, kind: video}\n"
    ),
    "YAML syntax error": "scenario: x\npeers: {alice: {}\nsteps: []\n",
}


def test_the_documented_mistakes_give_the_documented_messages() -> None:
    from pytest_webrtc.errors import ScenarioError
    from pytest_webrtc.scenario import load_scenario

    text = (ROOT / "docs" / "scenarios.md").read_text().split("## When something is wrong", 1)[1]
    shown = [line.removeprefix("invalid scenario: ") for line in text.split("```")[1].strip().splitlines()]
    assert len(shown) == len(DOCUMENTED_MISTAKES)
    for line in shown:
        key = next(k for k in DOCUMENTED_MISTAKES if k in line)
        with pytest.raises(ScenarioError) as error:
            load_scenario("f.yaml", DOCUMENTED_MISTAKES[key])
        expected = line.split(" ...")[0]
        assert any(given.startswith(expected) for given in str(error.value).splitlines()), (str(error.value), expected)


CHECKOUT_NOTE = (
    "> In a checkout: paths in `tests/`, `bench/`, `interop/` and `setup.sh` are a checkout's (a clone, or the "
    "sdist); an installed package has none of them, and runs a checkout's `scenarios/NAME` as `--webrtc-suite NAME`."
)


def test_every_documented_command_is_run_from_a_wheel_or_marked_as_needing_a_checkout() -> None:
    """tests/doc_commands.RUNS says how tests/test_packaging.py runs each command of docs/ from a wheel;
    a command that is neither there nor in a '# in a checkout' block fails here (and one that left the
    docs must leave RUNS)."""
    from tests.doc_commands import RUNS, documented

    shown = {command for commands in documented().values() for command in commands}
    assert not shown - set(RUNS), f"documented but run by no test, nor marked '# in a checkout': {shown - set(RUNS)}"
    assert not set(RUNS) - shown, f"no longer documented: {set(RUNS) - shown}"


def test_docs_pointing_at_checkout_files_say_so() -> None:
    pattern = re.compile(r"`(tests|bench|interop)/|setup\.sh|`scenarios/")
    for page in sorted((ROOT / "docs").glob("*.md")):
        text = page.read_text()
        if pattern.search(text):
            assert CHECKOUT_NOTE in text, f"{page.name} names a checkout's files without the note"


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", markdown, re.M):
        out.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return out


def test_every_link_between_pages_and_to_an_anchor_exists() -> None:
    """capture.md linked performance.md#capture-loss, an anchor that page never had."""
    pages = {p.name: p.read_text() for p in (ROOT / "docs").glob("*.md")}
    broken = []
    for name, text in pages.items():
        for target, anchor in re.findall(r"\]\(([\w.-]+\.md)?(?:#([\w-]+))?\)", text):
            page = target or name
            if page not in pages:
                broken.append(f"{name}: {target} does not exist")
            elif anchor and anchor not in _anchors(pages[page]):
                broken.append(f"{name}: {page}#{anchor} is no heading there")
    assert not broken, broken
