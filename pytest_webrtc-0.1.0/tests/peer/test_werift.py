"""Interop with a non-Python WebRTC stack: werift (npm) as an external peer, answering aiortc."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from pytest_webrtc.scenario import load_scenario, run_scenario

WERIFT = Path(__file__).parent.parent.parent / "interop" / "werift"


@pytest.mark.skipif(
    shutil.which("node") is None or not (WERIFT / "node_modules" / "werift").is_dir(),
    reason="werift is not installed (setup.sh runs npm install in interop/werift)",
)
def test_werift_answers_aiortc_and_echoes_data(tmp_path: Path) -> None:
    result = asyncio.run(run_scenario(load_scenario(WERIFT / "echo.yaml"), {"keep": "always", "capture_dir": tmp_path}))
    lines = result.text()
    assert "echoed back by bob" in lines
    if result.wire is not None:  # where we can capture, werift's ICE checks are judged too
        checks = [r for r in result.wire.records if r.role == "ice-check"]
        assert checks and all(r.valid for r in result.wire.records)
