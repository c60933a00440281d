"""Scenario files: valid ones load with their lines; every class of error names file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_webrtc.errors import ScenarioError
from pytest_webrtc.scenario import load_scenario
from pytest_webrtc.scenario.model import count_matches, is_scenario_file, parse_count

GOOD = """\
scenario: minimal
peers:
  alice: {}
  bob: {process: true}
steps:
  - join: [alice, bob]
  - offer: {from: alice, to: bob, timeout: 3}
  - wait: {peers: alice, connection: connected, expect-failure: "timeout"}
"""


def test_valid_scenario_loads_with_step_lines_and_defaults() -> None:
    scenario = load_scenario("s/minimal.yaml", GOOD)
    assert scenario.name == "minimal" and scenario.room == "minimal"
    assert [(s.index, s.kind, s.line, s.timeout) for s in scenario.steps] == [
        (1, "join", 6, 5.0),
        (2, "offer", 7, 3.0),
        (3, "wait", 8, 10.0),
    ]
    assert scenario.steps[0].args == {"peers": ["alice", "bob"]}
    assert scenario.steps[2].expect_failure == "timeout"
    assert scenario.peers["bob"].process and not scenario.peers["alice"].process
    assert scenario.stun.mode == "builtin" and scenario.peers["bob"].kind.name == "process"


ERRORS = {
    "yaml-syntax": (
        "scenario: x\npeers: {alice: {}\nsteps: []\n",
        "f.yaml:3:1: YAML syntax error: expected ',' or '}', but got '<scalar>' (while parsing a flow mapping that opened at line 2, column 8)",
    ),
    "duplicate-key": ("scenario: x\nscenario: y\n", "f.yaml:2:1: duplicate key 'scenario'"),
    "not-a-mapping": ("- 1\n- 2\n", "f.yaml:1:1: a scenario is a YAML mapping with scenario, peers and steps"),
    "missing-steps": ("scenario: x\npeers: {alice: {}}\n", "f.yaml:1:1: 'steps' is a required property"),
    "unknown-step": (
        "scenario: x\npeers: {alice: {}}\nsteps:\n  - join: alice\n  - ofer: {from: alice, to: alice}\n",
        "f.yaml:5:11: step 2: unknown step kind 'ofer' — did you mean 'offer'?; the kinds: join, channel, offer",
    ),
    "missing-field": (
        "scenario: x\npeers: {alice: {}}\nsteps:\n  - offer: {from: alice}\n",
        "f.yaml:4:12: step 1 (offer): 'to' is a required property",
    ),
    "wrong-type": (
        "scenario: x\npeers: {alice: {}}\nsteps:\n  - wait:\n      peers: alice\n      timeout: soon\n",
        "f.yaml:6:16: step 1 (wait): 'soon' is not of type 'number'",
    ),
    "bad-state": (
        "scenario: x\npeers: {alice: {}}\nsteps:\n  - wait: {peers: alice, connection: happy}\n",
        "f.yaml:4:38: step 1 (wait): 'happy' is not of type 'array'; or 'happy' is not one of ['new', 'connecting'",
    ),
    "unknown-peer": (
        "scenario: x\npeers: {alice: {}}\nsteps:\n  - offer: {from: alice, to: bob}\n",
        "f.yaml:4:30: step 1 (offer): unknown peer 'bob'; declared peers: alice",
    ),
    "connect-to-a-peer": (
        "scenario: x\nservers: {sfu: {}}\npeers: {alice: {}, bob: {}}\nsteps:\n  - connect: {peers: alice, to: bob}\n",
        "f.yaml:5:33: step 1 (connect): 'bob' is not a server actor; servers: sfu",
    ),
    "connect-without-servers": (
        "scenario: x\nservers: {}\npeers: {alice: {}}\nsteps:\n  - connect: {peers: alice, to: mcu}\n",
        "f.yaml:5:33: step 1 (connect): 'mcu' is not a server actor; servers: none (declare one",
    ),
    "sfu-named-like-a-peer": (
        "scenario: x\nservers: {sfu: {id: alice}}\npeers: {alice: {}}\nsteps: [{join: alice}]\n",
        "f.yaml:2:16: servers.sfu: the SFU's id 'alice' is already taken",
    ),
    "forwarding-names-a-stranger": (
        "scenario: x\nservers: {sfu: {}}\npeers: {alice: {}}\nsteps:\n  - expect-sfu: {forwarding: {alice: [zed]}}\n",
        "f.yaml:5:30: step 1 (expect-sfu): unknown peer 'zed'; declared peers: alice",
    ),
    "topology-stranger": (
        "scenario: x\ntopology: {zed: symmetric}\npeers: {alice: {}}\nsteps: [{join: alice}]\n",
        "f.yaml:2:17: topology: 'zed' is not a declared peer",
    ),
    "topology-incomplete": (
        "scenario: x\ntopology: {alice: symmetric}\npeers: {alice: {}, bob: {}}\nsteps: [{join: alice}]\n",
        "topology: every peer needs a NAT type (or none); missing: bob",
    ),
    "topology-unknown-nat": (
        "scenario: x\ntopology: {alice: cone}\npeers: {alice: {}}\nsteps: [{join: alice}]\n",
        "topology.alice: 'cone' is not one of ['none', 'full-cone'",
    ),
    "bad-count": (
        "scenario: x\npeers: {alice: {}}\nsteps:\n  - expect-stun: {requests: many}\n",
        "f.yaml:4:29: step 1 (expect-stun): 'many' is not valid; expected an exact count, or a comparison such as \">=1\"",
    ),
    "unknown-top-level": (
        "scenario: x\npeers: {a: {}}\nsteps: [{join: a}]\ncolour: red\n",
        "f.yaml:4:9: unknown key 'colour'; the keys here: scenario, description",
    ),
    "misspelled-key": (
        "scenario: x\npeers: {alice: {}, bob: {}}\nsteps:\n  - offer: {form: alice, to: bob}\n",
        "step 1 (offer): unknown key 'form' — did you mean 'from'?",
    ),
    "misspelled-peer": (
        "scenario: x\npeers: {alice: {}, bob: {}}\nsteps:\n  - offer: {from: alice, to: bobb}\n",
        "f.yaml:4:30: step 1 (offer): unknown peer 'bobb' — did you mean 'bob'?; declared peers: alice, bob",
    ),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_name_file_line_column_and_what_was_expected(case: str) -> None:
    text, expected = ERRORS[case]
    with pytest.raises(ScenarioError) as info:
        load_scenario("f.yaml", text)
    assert expected in str(info.value)
    assert info.value.path == "f.yaml" and info.value.line is not None


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "absent.yaml")


def test_collection_rule(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("# comment\nscenario: yes\n")
    (tmp_path / "b.yml").write_text("scenario: yes\n")
    (tmp_path / "c.yaml").write_text("name: ci config\nscenario_count: 3\n  scenario: nested\n")
    (tmp_path / "d.json").write_text('{"scenario": 1}')
    assert [p.name for p in sorted(tmp_path.iterdir()) if is_scenario_file(p)] == ["a.yaml", "b.yml"]


@pytest.mark.parametrize(
    "expected, actual, ok",
    [
        (2, 2, True),
        (2, 3, False),
        (">=1", 1, True),
        (">=1", 0, False),
        ("<3", 2, True),
        ("==0", 1, False),
        (" > 4 ", 5, True),
        ("<=0", 0, True),
    ],
)
def test_counts(expected: int | str, actual: int, ok: bool) -> None:
    assert count_matches(expected, actual) is ok


def test_bad_count_text() -> None:
    with pytest.raises(ValueError):
        parse_count("lots")


def test_shipped_scenarios_are_valid() -> None:
    root = Path(__file__).parent.parent.parent / "scenarios"
    files = [p for p in root.rglob("*.yaml") if is_scenario_file(p)]
    assert len(files) >= 9
    for path in files:
        load_scenario(path)


def test_every_mistake_of_a_file_is_reported_at_once_in_file_order() -> None:
    text = (
        "scenario: x\npeers: {alice: {}, bob: {}}\nsteps:\n  - join: [alice, bob]\n"
        "  - ofer: {from: alice, to: bob}\n  - wait: {peers: alice, connection: happy}\n"
        "  - data: {form: alice, to: bob}\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario("f.yaml", text)
    lines = str(info.value).splitlines()
    assert [line.split(": ", 2)[1] for line in lines] == [
        "step 2",
        "step 3 (wait)",
        "step 4 (data)",
        "step 4 (data)",
    ], lines
    assert [p.line for p in info.value.problems] == [5, 6, 7, 7] and info.value.line == 5
    assert "unknown key 'form' — did you mean 'from'?" in lines[3] or "unknown key 'form'" in lines[2]


def test_a_yaml_syntax_error_says_where_the_mapping_opened() -> None:
    text = "scenario: x\npeers:\n  alice: {}\nsteps:\n  - join: [alice\n  - offer: {from: alice, to: alice}\n"
    with pytest.raises(ScenarioError) as info:
        load_scenario("f.yaml", text)
    assert "(while parsing a flow sequence that opened at line 5, column 11)" in str(info.value)


def test_checks_succeeded_takes_true_or_the_peers_to_check() -> None:
    base = "scenario: x\npeers: {alice: {}, bob: {}}\nsteps:\n  - expect-wire: {checks-succeeded: %s}\n"
    for value in ("true", "[alice]"):
        assert load_scenario("f.yaml", base % value).steps[0].args["checks-succeeded"] in (True, ["alice"])
    with pytest.raises(ScenarioError, match="step 1 \\(expect-wire\\)"):
        load_scenario("f.yaml", base % "[]")


def test_a_network_step_needs_a_link_element() -> None:
    from pytest_webrtc.errors import ScenarioError
    from pytest_webrtc.scenario import load_scenario

    text = "scenario: x\ntopology: {alice: none}\npeers: {alice: {}}\nsteps:\n  - network: {peer: alice, down: 3s}\n"
    with pytest.raises(ScenarioError, match=r"f.yaml:5:\d+: step 1 \(network\): alice has no link element to change; "
                                            r"give it one in topology \(alice: \{nat: none, link: \{\}\}\)"):  # fmt: skip
        load_scenario("f.yaml", text)
