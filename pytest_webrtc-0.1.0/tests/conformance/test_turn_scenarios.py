"""The TURN suite through pytest: your server by option or in the scenario, the built-in coturn's true defects."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_webrtc.errors import ScenarioError
from pytest_webrtc.scenario.model import parse_scenario

from ..process_helpers import read_line
from .turn_server import REALM

ROOT = Path(__file__).parent.parent.parent
INI = "[pytest]\naddopts = -p no:benchmark\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture
def broken_server() -> Iterator[object]:
    """Start a test TURN server with a fault in its own process: ``start(fault)`` -> its UDP port."""
    procs: list[subprocess.Popen[str]] = []

    def start(fault: str) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.conformance.turn_server", fault],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        procs.append(proc)
        return int(read_line(proc))

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def test_your_server_by_option_fails_the_rule_it_breaks_and_passes_the_others(
    pytester: pytest.Pytester, broken_server: object
) -> None:
    pytester.makeini(INI)
    shutil.copytree(ROOT / "scenarios" / "conformance" / "turn", pytester.path / "suite")
    port = broken_server("wide-channels")  # type: ignore[operator]
    result = pytester.runpytest_subprocess(
        "suite/channel_range.yaml", "suite/allocate.yaml", "suite/send_data.yaml",
        "--webrtc-turn-server", f"127.0.0.1:{port}", "--webrtc-turn-credentials", "u:p",
        "--webrtc-turn-realm", REALM, "--webrtc-turn-peer-address", "127.0.0.2",
    )  # fmt: skip
    result.assert_outcomes(failed=1, passed=2)  # your server: no expected failure, every FAIL counts
    result.stdout.fnmatch_lines(
        [
            "*step 1 (turn-conformance, line 9): turn.channel-range (RFC 8656 §12.2): "
            "ChannelBind with channel number 0x5000 got a success*",
            "FAIL  turn.channel-range *RFC 8656 §12.2*",
        ]
    )


def test_your_server_in_the_scenario_and_the_ini_twins(pytester: pytest.Pytester, broken_server: object) -> None:
    port = broken_server("")  # type: ignore[operator]
    pytester.makeini(INI + f"webrtc_turn_server = 127.0.0.1:{port}\nwebrtc_turn_credentials = u:p\n"
                     "webrtc_turn_peer_address = 127.0.0.2\n")  # fmt: skip
    pytester.makefile(
        ".yaml",
        given=f"scenario: t\nservers:\n  turn: {{address: '127.0.0.1:{port}', user: u, password: p, "
        "peer-address: 127.0.0.2}\nsteps:\n  - turn-conformance: {rule: turn.channel}\n",
        by_ini="scenario: t\nsteps:\n  - turn-conformance: {rule: turn.no-permission}\n",
    )
    result = pytester.runpytest_subprocess("given.yaml", "by_ini.yaml", "-v", "--junitxml=turn.xml")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["PASS  turn.channel *ChannelData relayed both ways*"])
    junit = (pytester.path / "turn.xml").read_text()
    assert '<property name="turn.channel" value="pass: RFC 8656 §12.2: ChannelBind 0x4000 -&gt; success' in junit
    assert '<property name="webrtc.turn-claims" value="long-term credentials" />' in junit


def test_the_built_in_coturns_true_defects_are_expected_failures_with_their_reason(pytester: pytest.Pytester) -> None:
    if shutil.which("turnserver") is None:
        pytest.skip("coturn is not installed (apt-get install coturn)")
    pytester.makeini(INI)
    shutil.copytree(ROOT / "scenarios" / "conformance" / "turn", pytester.path / "suite")
    result = pytester.runpytest_subprocess("suite/channel_range.yaml", "suite/allocate.yaml", "-rx")
    result.assert_outcomes(passed=1, xfailed=1)
    result.stdout.fnmatch_lines(["*the built-in server truly breaks turn.channel-range: coturn 4.6 accepts channel "
                                 "numbers up to 0x7FFF*(found: ChannelBind with channel number 0x5000 got a success)*"])  # fmt: skip


@pytest.mark.parametrize(
    ("servers", "words"),
    [
        ("  turn: {address: 'nowhere'}\n", "servers.turn.address: 'nowhere' is not valid; expected HOST:PORT"),
        ("  turn: {}\n", "servers.turn: without a topology a TURN server is only judged (turn-conformance steps)"),
        ("  turn: {user: u}\n", "servers.turn: user describe your TURN server: give its address too"),
    ],
)
def test_a_wrong_turn_declaration_is_a_load_time_error_that_says_where(
    tmp_path: Path, servers: str, words: str
) -> None:
    steps = "steps:\n  - join: [a]\n" if "{}" in servers else "steps:\n  - turn-conformance: {rule: turn.allocate}\n"
    path = tmp_path / "s.yaml"
    path.write_text(f"scenario: s\npeers:\n  a: {{}}\nservers:\n{servers}{steps}")
    with pytest.raises(ScenarioError) as error:
        parse_scenario(path)
    assert words in str(error.value) and "s.yaml:5" in str(error.value), str(error.value)


def test_a_turn_conformance_step_alone_judges_the_built_in_coturn(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("scenario: s\nsteps:\n  - turn-conformance: {rule: turn.allocate}\n")
    scenario = parse_scenario(path)
    assert scenario.turn is not None and scenario.turn.mode == "builtin"
