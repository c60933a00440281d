"""Scenario files as pytest items, seen from a user's shell (pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n"

SEED = """\
scenario: tiny seed
marks: [seed]
peers:
  alice: {}
  bob: {}
steps:
  - join: [alice, bob]
  - offer: {from: alice, to: bob}
  - answer: {from: bob, to: alice}
  - candidates: {between: [alice, bob]}
  - wait: {peers: [alice, bob], connection: connected}
  - data: {from: alice, to: bob, send: hi}
"""

NO_CANDIDATES = """\
scenario: never connects
peers:
  alice: {}
  bob: {}
steps:
  - join: [alice, bob]
  - offer: {from: alice, to: bob}
  - answer: {from: bob, to: alice}
  - wait: {peers: alice, connection: connected, timeout: 0.5}
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.mkdir("scenarios")
    (pytester.path / "scenarios" / "seed.yaml").write_text(SEED)
    (pytester.path / "scenarios" / "ci.yml").write_text("name: not a scenario\non: push\n")
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    return pytester


def test_directory_collects_scenarios_and_leaves_other_yaml_alone(project: pytest.Pytester) -> None:
    result = project.runpytest("scenarios", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["scenarios/seed.yaml::seed", "1 test collected*"])
    assert "ci.yml" not in result.stdout.str()


def test_webrtc_scenario_runs_exactly_that_file(project: pytest.Pytester) -> None:
    result = project.runpytest("--webrtc-scenario", "scenarios/seed.yaml")
    result.assert_outcomes(passed=1)  # test_plain.py is not run
    result.stdout.fnmatch_lines(
        [
            "*WebRTC scenarios*",
            "scenarios/seed.yaml: tiny seed",
            "  PASS step 1 (join, line 7): alice joined room 'seed'; bob joined room 'seed' (notified: alice)",
            "  PASS step 6 (data, line 12): alice -> bob over 'data': 1 text message(s), 2 bytes, intact",
        ]
    )


def test_webrtc_scenario_directory_and_repeats(project: pytest.Pytester) -> None:
    (project.path / "scenarios" / "second.yaml").write_text(SEED.replace("tiny seed", "second"))
    project.runpytest("--webrtc-scenario", "scenarios").assert_outcomes(passed=2)
    result = project.runpytest(
        "--webrtc-scenario", "scenarios/seed.yaml", "--webrtc-scenario", "scenarios/second.yaml", "--collect-only", "-q"
    )
    result.stdout.fnmatch_lines(["*2 tests collected*"])


@pytest.mark.parametrize(
    "argument, message",
    [
        (
            "scenarios/ci.yml",
            "--webrtc-scenario scenarios/ci.yml: not a scenario (a .yaml/.yml file with a top-level 'scenario:' key)",
        ),
        ("scenarios/absent.yaml", "--webrtc-scenario scenarios/absent.yaml: no such file or directory"),
    ],
)
def test_webrtc_scenario_refuses_what_is_not_a_scenario(project: pytest.Pytester, argument: str, message: str) -> None:
    result = project.runpytest("--webrtc-scenario", argument)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_markers_and_keywords_select_scenarios(project: pytest.Pytester) -> None:
    (project.path / "scenarios" / "other.yaml").write_text(SEED.replace("marks: [seed]\n", ""))
    project.runpytest("scenarios", "-m", "seed", "--collect-only", "-q").stdout.fnmatch_lines(
        ["scenarios/seed.yaml::seed", "1/2 tests collected*"]
    )
    project.runpytest("scenarios", "-k", "other", "--collect-only", "-q").stdout.fnmatch_lines(
        ["scenarios/other.yaml::other", "1/2 tests collected*"]
    )


def test_invalid_scenario_is_reported_with_file_line_and_no_traceback(project: pytest.Pytester) -> None:
    (project.path / "scenarios" / "broken.yaml").write_text(
        "scenario: broken\npeers: {alice: {}}\nsteps:\n  - offer: {from: alice}\n"
    )
    result = project.runpytest("scenarios")
    result.assert_outcomes(errors=1)  # pytest stops at collection errors unless --continue-on-collection-errors
    result.stdout.fnmatch_lines(
        ["*invalid scenario: scenarios/broken.yaml:4:12: step 1 (offer): 'to' is a required property*"]
    )
    assert "Traceback" not in result.stdout.str() and "pytest_webrtc/" not in result.stdout.str()


def test_yaml_syntax_error_is_reported_with_file_line(project: pytest.Pytester) -> None:
    (project.path / "scenarios" / "syntax.yaml").write_text("scenario: x\npeers: {alice: {}\nsteps: []\n")
    result = project.runpytest("scenarios/syntax.yaml")
    result.stdout.fnmatch_lines(
        ["*invalid scenario: scenarios/syntax.yaml:3:1: YAML syntax error: expected ',' or '}'*"]
    )
    assert "Traceback" not in result.stdout.str()


def test_failing_step_reports_file_line_step_log_and_ladder(project: pytest.Pytester) -> None:
    (project.path / "scenarios" / "fails.yaml").write_text(NO_CANDIDATES)
    result = project.runpytest("scenarios/fails.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "scenarios/fails.yaml:9:1: step 4 (wait, line 9): alice: connection state connected did not happen "
            "within 0.5 s",
            "*PASS step 3 (answer, line 8): bob -> alice: answer (application; no candidates inside) applied by alice",
            "*FAIL step 4 (wait, line 9): alice: connection state connected did not happen within 0.5 s",
            "ladder:",
            "*alice*signaling*STUN*bob*",
            "*offer*",
        ]
    )
    assert "Traceback" not in result.stdout.str() and "pytest_webrtc/" not in result.stdout.str()


def test_expected_failure_must_fail(project: pytest.Pytester) -> None:
    passing = SEED.replace("send: hi}", "send: hi, expect-failure: true}")
    (project.path / "scenarios" / "xpass.yaml").write_text(passing)
    result = project.runpytest("scenarios/xpass.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*step 6 (data, line 12): expected this step to fail, but it passed*"])


def test_expected_failure_that_fails_passes(project: pytest.Pytester) -> None:
    (project.path / "scenarios" / "xfail.yaml").write_text(
        NO_CANDIDATES.replace("timeout: 0.5}", "timeout: 0.5, expect-failure: 'did not happen within 0.5 s'}")
    )
    project.runpytest("scenarios/xfail.yaml").assert_outcomes(passed=1)


def test_scenarios_run_under_xdist(project: pytest.Pytester) -> None:
    for i in range(3):
        (project.path / "scenarios" / f"copy{i}.yaml").write_text(SEED.replace("tiny seed", f"copy {i}"))
    project.runpytest_subprocess("scenarios", "-n", "2").assert_outcomes(passed=4)


def test_failed_scenario_keeps_its_capture_and_names_it(project: pytest.Pytester, can_capture: None) -> None:
    (project.path / "scenarios" / "fails.yaml").write_text(NO_CANDIDATES)
    captures = project.path / "caps"
    result = project.runpytest("scenarios/fails.yaml", "--webrtc-capture-dir", str(captures))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*capture: {captures}/scenarios_fails.yaml_fails.pcap"])
    assert (captures / "scenarios_fails.yaml_fails.pcap").stat().st_size > 24
    assert (captures / "scenarios_fails.yaml_fails.pcap.json").exists()


def test_a_relative_capture_dir_is_taken_from_where_pytest_started(project: pytest.Pytester, can_capture: None) -> None:
    """A relative ``--webrtc-capture-dir`` once ended the run in an INTERNALERROR (a relative path has no
    ``file:`` URI for the report's link); it is read from the invocation directory."""
    result = project.runpytest(
        "scenarios/seed.yaml", "--webrtc-capture-dir", "caps", "--webrtc-keep-captures", "always"
    )
    result.assert_outcomes(passed=1)
    assert (project.path / "caps" / "scenarios_seed.yaml_seed.pcap").exists()


@pytest.mark.parametrize("keep, kept", [("never", False), ("always", True), ("failed", False)])
def test_keep_captures_policy_for_a_passing_scenario(
    project: pytest.Pytester, can_capture: None, keep: str, kept: bool
) -> None:
    captures = project.path / "caps"
    project.runpytest(
        "scenarios/seed.yaml", "--webrtc-capture-dir", str(captures), "--webrtc-keep-captures", keep
    ).assert_outcomes(passed=1)
    assert (captures / "scenarios_seed.yaml_seed.pcap").exists() is kept


def test_wire_expectation_failure_lists_the_findings(project: pytest.Pytester, can_capture: None) -> None:
    (project.path / "scenarios" / "wire.yaml").write_text(SEED + "  - expect-wire: {stun-requests: {alice: 5}}\n")
    result = project.runpytest("scenarios/wire.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*step 7 (expect-wire, line 13): expected Binding requests from alice to the STUN server on the wire: 5, got 1*"
        ]
    )


def test_without_capture_the_wire_step_is_skipped_and_the_rest_runs(project: pytest.Pytester) -> None:
    project.makeconftest(
        """
        from pytest_webrtc.capture import sniffer
        from pytest_webrtc.errors import CaptureUnavailable

        def refuse(self, timeout=5.0):
            raise CaptureUnavailable("cannot capture on lo: simulated lack of CAP_NET_RAW")

        sniffer.Capture.start = refuse
        """
    )
    (project.path / "scenarios" / "wire.yaml").write_text(SEED + "  - expect-wire: {violations: 0}\n")
    # In a subprocess: the conftest patches the capture class, which must not leak into this process.
    result = project.runpytest_subprocess("--webrtc-scenario", "scenarios/wire.yaml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*PASS step 7 (expect-wire, line 13): SKIPPED: cannot capture here (cannot capture on lo: simulated lack of "
            "CAP_NET_RAW)",
            "*wire: not verified (cannot capture on lo: simulated lack of CAP_NET_RAW)",
        ]
    )
