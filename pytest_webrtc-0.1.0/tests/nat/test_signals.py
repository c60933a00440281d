"""A run stopped by SIGINT, SIGTERM or SIGKILL in the middle of a NAT + TURN scenario leaves nothing.

After SIGINT and SIGTERM the run's own teardown removes everything; after SIGKILL its children die
with it (PR_SET_PDEATHSIG) and the next run's sweep removes the namespaces left named.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_webrtc.children import RUN_MARKER, runs_children
from pytest_webrtc.nat import netns

SCENARIO = """\
scenario: stopped mid-run
topology: {alice: symmetric, bob: symmetric}
servers:
  turn: {}
peers:
  alice: {}
  bob: {}
steps:
  - join: [alice, bob]
  - offer: {from: alice, to: bob}
  - answer: {from: bob, to: alice}
  - candidates: {between: [alice, bob]}
  - wait: {peers: alice, connection: closed, timeout: 60}
"""


def names_of(run: int) -> list[str]:
    return [n for n in netns.leftover_namespaces() if n.startswith(f"{netns.PREFIX}{run}-")]


def poll(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll a condition on the machine's state (processes, namespaces), bounded in time."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} within {seconds:g} s")


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"]
)
def test_a_stopped_run_leaves_nothing_behind(netns_capable: None, tmp_path: Path, signum: int) -> None:
    (tmp_path / "stopped.yaml").write_text(SCENARIO)
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    env = {k: v for k, v in os.environ.items() if k != RUN_MARKER}  # the run marks its own children
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "stopped.yaml"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:

        def started() -> bool:
            commands = [command_of(p) for p in runs_children(run.pid)]
            peers = sum("pytest_webrtc peer" in c for c in commands)
            return any("turnserver" in c for c in commands) and peers == 2 and len(names_of(run.pid)) == 5

        poll(started, 60, "the scenario did not get as far as coturn, both peers and its 5 namespaces")
        os.kill(run.pid, signum)
        run.wait(60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
    poll(lambda: not runs_children(run.pid), 15, f"processes of the run outlived it: {runs_children(run.pid)}")
    if signum == signal.SIGKILL:  # no teardown ran: the names stay until the next run sweeps them
        assert names_of(run.pid)
        netns.remove_orphans()
    assert names_of(run.pid) == []


QUICK = """\
scenario: quick nat
topology: {alice: full-cone, bob: full-cone}
peers:
  alice: {}
  bob: {}
steps:
  - join: [alice, bob]
"""


@pytest.mark.slow
async def test_each_nat_run_is_gone_the_moment_it_returns(netns_capable: None) -> None:
    from pytest_webrtc.scenario import load_scenario, run_scenario

    scenario = load_scenario("quick.yaml", QUICK)
    for _ in range(4):
        await run_scenario(scenario, {"keep": "never"})
        assert names_of(os.getpid()) == []


def test_the_sweep_terminates_processes_of_a_dead_run(tmp_path: Path) -> None:
    from pytest_webrtc.children import reap_orphans

    # A "run" that is gone at once, and a child of it that carries its marker and sleeps on.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(10)
    env = {**os.environ, RUN_MARKER: str(dead.pid)}
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    try:
        poll(lambda: orphan.pid in runs_children(dead.pid), 10, "the orphan did not start")
        assert orphan.pid in reap_orphans()
        assert orphan.wait(10) == -signal.SIGTERM
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait(10)
