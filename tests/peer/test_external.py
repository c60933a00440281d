"""External peer programs: the echo convention works, and broken programs fail with a clear message."""

from __future__ import annotations

import sys

import pytest

from pytest_webrtc.errors import StepFailure
from pytest_webrtc.scenario import load_scenario, run_scenario

SCENARIO = """\
scenario: external
capture: false
peers:
  alice: {{}}
  bob: {{command: "{command}"}}
steps:
  - join: [alice, bob]
  - offer: {{from: alice, to: bob}}
  - answer: {{from: bob, to: alice}}
  - candidates: {{between: [alice, bob]}}
  - data: {{from: alice, to: bob, send: ping, timeout: 2}}
"""


async def run(command: str) -> None:
    await run_scenario(load_scenario("external.yaml", SCENARIO.format(command=command)))


async def test_the_reference_echo_peer_passes() -> None:
    await run(f"{sys.executable} -m pytest_webrtc echo-peer")


async def test_a_program_that_exits_names_its_exit_and_output(tmp_path: object) -> None:
    with pytest.raises(StepFailure) as info:
        await run(f"{sys.executable} -c \\\"import sys; print('cannot start: no camera'); sys.exit(3)\\\"")
    message = str(info.value)
    assert "step 1 (join, line 7): bob (external) exited with 3 before joining the room" in message
    report = info.value.result.text()  # its output, as the lines it wrote (not one escaped string)
    assert "  output of bob (1 line; all of it: " in report and "\n    | cannot start: no camera" in report


async def test_its_exit_status_is_named_when_asyncio_reaped_it_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The race CI met once ("exited with None"): asyncio's watcher thread reaps the program between
    its pidfd waking us and our look at its status; the status asyncio then hands over is the one named."""
    import asyncio
    import os
    from asyncio import base_subprocess

    def reaped_already(*args: object) -> None:
        raise ChildProcessError(10, "No child processes")

    handed_over = base_subprocess.BaseSubprocessTransport._process_exited

    def late(transport: object, returncode: int) -> None:  # the watcher thread's hand-over, slow
        asyncio.get_running_loop().call_later(0.3, handed_over, transport, returncode)

    monkeypatch.setattr(os, "waitid", reaped_already)
    monkeypatch.setattr(base_subprocess.BaseSubprocessTransport, "_process_exited", late)
    with pytest.raises(StepFailure) as info:
        await run(f'{sys.executable} -c \\"import sys; sys.exit(3)\\"')
    assert "bob (external) exited with 3 before joining the room" in str(info.value)


async def test_a_program_that_does_not_echo_fails_the_data_step(tmp_path: object) -> None:
    script = tmp_path / "no_echo.py"  # type: ignore[operator]
    script.write_text(
        "import asyncio, json, os\n"
        "from pytest_webrtc.peer.agent import PeerAgent\n"
        "from pytest_webrtc.peer.echo import run_echo_peer\n"
        "e = os.environ\n"
        "agent = PeerAgent(e['WEBRTC_PEER_ID'], e['WEBRTC_SIGNALING_URL'], e['WEBRTC_ROOM'],\n"
        "                  ice_servers=json.loads(e['WEBRTC_ICE_SERVERS']), protocol=e['WEBRTC_SIGNALING_PROTOCOL'],\n"
        "                  candidates=e['WEBRTC_HOST_ADDRESSES'].split(','))\n"
        "async def main():\n"
        "    task = asyncio.create_task(run_echo_peer(agent, 20))\n"
        "    await asyncio.sleep(0)\n"
        "    agent.echo = False  # the fault: it answers, but never echoes\n"
        "    await task\n"
        "asyncio.run(main())\n"
    )
    with pytest.raises(StepFailure) as info:
        await run(f"{sys.executable} {script}")
    assert (
        "step 5 (data, line 11): bob echoed back 0 of 1 message(s) on 'data' within 2 s; the first missing: "
        "alice's 'ping'" in str(info.value)
    )


def test_external_peers_need_the_builtin_signaling_server() -> None:
    import asyncio

    text = SCENARIO.format(command="true").replace("peers:", "servers: {signaling: {url: 'ws://127.0.0.1:9'}}\npeers:")
    with pytest.raises(Exception, match="an external peer needs the built-in signaling server"):
        asyncio.run(run_scenario(load_scenario("external.yaml", text)))


async def test_a_program_that_cannot_start_is_a_failure_at_its_declaration() -> None:
    with pytest.raises(StepFailure) as info:
        await run("./build/my-peer")  # the docs' own example, not built here
    assert str(info.value) == (
        "external.yaml:5:8: peers.bob: cannot start an external program (command:): "
        "bob: cannot start './build/my-peer': No such file or directory"
    )
    assert info.value.result is not None and info.value.result.steps == []  # type: ignore[attr-defined]


def test_through_pytest_it_is_one_failure_without_a_traceback(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n")
    pytester.makefile(".yaml", external=SCENARIO.format(command="./build/my-peer"))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*external.yaml:5:8: peers.bob: cannot start an external program (command:)*"])
    assert "Traceback" not in result.stdout.str() and len(result.stdout.lines) < 80


def test_a_scenario_outside_the_rootdir_runs_its_program_in_the_files_directory(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "peer.sh").write_text(f'#!/bin/sh\nexec {sys.executable} -m pytest_webrtc echo-peer "$@"\n')
    (elsewhere / "peer.sh").chmod(0o755)
    (elsewhere / "external.yaml").write_text(SCENARIO.format(command="./peer.sh"))
    ini = pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n")
    scenario = str(elsewhere / "external.yaml")
    result = pytester.runpytest("-p", "no:cacheprovider", "-c", str(ini), "--webrtc-scenario", scenario)
    result.assert_outcomes(passed=1)


def test_run_from_another_directory_the_program_still_runs_in_the_files_directory(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest names the file relative to its rootdir; the program must not run relative to the cwd."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = -p no:benchmark\n")
    suite = pytester.mkdir("suite")
    (suite / "peer.sh").write_text(f'#!/bin/sh\nexec {sys.executable} -m pytest_webrtc echo-peer "$@"\n')
    (suite / "peer.sh").chmod(0o755)
    (suite / "external.yaml").write_text(SCENARIO.format(command="./peer.sh"))
    monkeypatch.chdir(pytester.mkdir("elsewhere"))
    result = pytester.runpytest("-p", "no:cacheprovider", "--rootdir", str(pytester.path), "../suite/external.yaml")
    result.assert_outcomes(passed=1)
