"""The `whip_server` fixture (through pytester) and `python -m pytest_webrtc whip-server` with its summary."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from pytest_webrtc.children import run_environment

FIXTURE_TEST = """
import asyncio

import pytest

from pytest_webrtc.conformance.whip import run_check
from pytest_webrtc.conformance.whip_target import WhipTarget


@pytest.mark.webrtc_whip_server(token="t0ken")
def test_it(whip_server):
    finding = asyncio.run(run_check("whip.auth", WhipTarget(whip_server.whip_url("x"), "whip", "t0ken")))
    assert finding.outcome == "pass", finding
    assert whip_server.whep_url("x").endswith("/whep/x")
"""


def test_the_fixture_takes_its_options_from_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:benchmark\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(FIXTURE_TEST)
    pytester.runpytest("-q").assert_outcomes(passed=1)


def test_the_server_prints_a_line_per_session_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_webrtc", "whip-server", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=run_environment(), start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        match = re.search(r"listening: (http://127\.0\.0\.1:\d+)/whip/<stream> \(WHEP: \1/whep/<stream>\)", ready)
        assert match, ready
        base = match.group(1)
        judged = subprocess.run(
            [sys.executable, "-m", "pytest_webrtc", "conformance", "whep", f"{base}/whep/s", "--publish",
             f"{base}/whip/s"], capture_output=True, text=True, timeout=90, env=run_environment(),
        )  # fmt: skip
        assert judged.returncode == 0, judged.stdout + judged.stderr
        assert "judged by draft-ietf-wish-whep-03" in judged.stdout
        assert re.search(r"^8 passed, 0 failed, 0 warned, 3 info, 2 skipped$", judged.stdout, re.M), judged.stdout
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    lines = out.strip().splitlines()
    published = [line for line in lines if line.startswith(f"{base}/whip/s/")]
    played = [line for line in lines if line.startswith(f"{base}/whep/s/")]
    assert published and played, out
    # the published stream (the one --publish kept live): frames received; a played session: forwarded
    assert any(re.search(r"tracks=video received=([1-9]\d*) frames/\d+ packets", line) for line in published), out
    assert any(re.search(r"forwarded=([1-9]\d*) frames/\d+ packets ended=DELETE", line) for line in played), out
    assert re.search(r"^stopped; \d+ session\(s\), 0 malformed request\(s\)$", lines[-1]), lines[-1]
