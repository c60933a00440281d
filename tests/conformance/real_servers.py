"""Other projects' STUN servers, started on loopback for the calibration tests (setup.sh installs them).

Each launcher yields the server's UDP address and stops it (and its process group) afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_webrtc.addresses import Address
from pytest_webrtc.children import owned, run_environment
from pytest_webrtc.coturn import coturn_stun_command, free_udp_port, wait_for_stun

STUN_SERVERS = Path(__file__).parent.parent.parent / "interop" / "stun-servers"


@contextlib.contextmanager
def _running(argv: list[str], port: int, cwd: Path | None = None) -> Iterator[Address]:
    # Killed with us (SIGTERM when this process dies) and marked as this run's, for reap_orphans.
    proc = subprocess.Popen(
        owned(argv), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=run_environment(),
    )  # fmt: skip
    try:
        wait_for_stun(port, process=proc)
        yield ("127.0.0.1", port)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _need(tool: str, hint: str) -> str:
    found = shutil.which(tool) or (tool if os.path.exists(tool) else None)
    if found is None:
        pytest.skip(f"{tool} is not installed ({hint})")
    return found


def _need_npm(package: str) -> None:
    if not (STUN_SERVERS / "node_modules" / package).is_dir():
        pytest.skip(f"npm package {package} is not installed (cd interop/stun-servers && npm install)")


@contextlib.contextmanager
def stund() -> Iterator[Address]:
    """Vovida's stund (Debian stun-server): RFC 3489 era, UDP only, two addresses and two ports."""
    binary = _need("stund", "apt-get install stun-server")
    port, other = free_udp_port(), free_udp_port()
    with _running([binary, "-h", "127.0.0.1", "-a", "127.0.0.2", "-p", str(port), "-o", str(other)], port) as a:
        yield a


@contextlib.contextmanager
def _node_server(package: str, script: str) -> Iterator[Address]:
    """A STUN server of an npm package, started by its runner script in interop/stun-servers."""
    _need("node", "apt-get install nodejs")
    _need_npm(package)
    port = free_udp_port()
    with _running(["node", script, "127.0.0.1", str(port)], port, STUN_SERVERS) as address:
        yield address


def node_turn() -> contextlib.AbstractContextManager[Address]:
    return _node_server("node-turn", "node-turn.cjs")


def nodertc_stun() -> contextlib.AbstractContextManager[Address]:
    return _node_server("stun", "nodertc-stun.cjs")


@contextlib.contextmanager
def coturn() -> Iterator[Address]:
    _need("turnserver", "apt-get install coturn")
    port = free_udp_port()
    workdir = tempfile.mkdtemp(prefix="pytest-webrtc-coturn-")
    try:
        with _running(coturn_stun_command(port, workdir), port) as address:
            yield address
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def assert_every_verdict_given(verdicts: dict[str, Any], launchers: dict[str, Any], checks: dict[str, Any]) -> None:
    """Each launched server, each of its runs, has an expected outcome for every rule."""
    assert set(verdicts) == set(launchers)
    for server, runs in verdicts.items():
        for run, expected in runs.items():
            assert set(expected["outcomes"]) == set(checks), (server, run)


def assert_verdicts(found: dict[str, Any], expected: dict[str, Any]) -> None:
    """Findings by rule against an expected verdict: every outcome, and the words each detail must say."""
    outcomes = {rule: finding.outcome for rule, finding in found.items()}
    assert outcomes == expected["outcomes"], "\n".join(f.line() for f in found.values())
    for rule, words in expected.get("details", {}).items():
        assert words in found[rule].detail, (rule, found[rule].detail)


PION_TURN = Path(__file__).parent.parent.parent / "interop" / "pion" / "bin" / "pion-turn"


@contextlib.contextmanager
def pion_turn() -> Iterator[Address]:
    """The STUN side of a TURN server on Pion's pion/turn 2.1.0 (interop/pion/src/pion-turn, setup.sh builds it)."""
    binary = _need(str(PION_TURN), "setup.sh builds it from Debian's golang-github-pion-turn.v2-dev")
    port = free_udp_port()
    with _running([binary, "-listen", f"127.0.0.1:{port}"], port) as address:
        yield address


LAUNCHERS = {
    "stund": stund,
    "node-turn": node_turn,
    "nodertc-stun": nodertc_stun,
    "coturn": coturn,
    "pion-turn": pion_turn,
}
