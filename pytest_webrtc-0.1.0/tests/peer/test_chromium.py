"""Real interop with a browser: headless Chromium answers aiortc, echoes data both ways, and its
STUN and ICE traffic is captured and verified."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pytest_webrtc.peer.browser import find_chromium
from pytest_webrtc.scenario import load_scenario, run_scenario

SCENARIO = Path(__file__).parent.parent.parent / "interop" / "chromium" / "echo.yaml"


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
def test_chromium_answers_aiortc_with_its_wire_verified(tmp_path: Path, can_capture: None) -> None:
    result = asyncio.run(run_scenario(load_scenario(SCENARIO), {"keep": "always", "capture_dir": tmp_path}))
    assert "echoed back by bob" in result.text()
    assert result.wire is not None and result.wire.ok
    checks = [r for r in result.wire.records if r.role == "ice-check"]
    assert checks and all(r.valid for r in checks)  # Chromium's checks, integrity verified with its SDP password
    assert all(d.src[0] == "127.0.0.1" and d.dst[0] == "127.0.0.1" for d in (r.datagram for r in result.wire.records))
    ignored = [e for e in result.reports["alice"]["events"] if e[2].startswith("ignored")]
    assert ignored  # Chromium's host candidates on real interfaces were offered, and not used
