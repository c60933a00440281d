"""The RTX and RTCP feedback rules calibrated on real browsers sending video through loss.

Measured (2026-12-02): Chromium sends VP8 inside RED (payload type 118) and, from the first frame
on, retransmissions of what it already sent as bandwidth probes (RTX of RED, 119, with the
originals' timestamps: 12 copies of the first frame) and padding-only RTX packets (97, P bit set,
timestamp 0 or one no packet has — probing, no original); Firefox resends on its own RTX SSRC too.
The verdict: no violation — the padded probes are not judged, every other RTX packet carries an
original's timestamp. Kept as test data: if a browser's retransmissions ever break a rule (or the
rule cries wolf on them), this says so.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pytest_webrtc.nat.netns import cannot_build_namespaces
from pytest_webrtc.peer.browser import find_chromium, find_firefox
from pytest_webrtc.scenario import load_scenario, run_scenario

SCENARIO = """\
scenario: {caller} sends video to {callee} through 5 % loss
topology: {{caller: {{nat: none, link: {{up: {{loss: 5%, seed: 3}}}}}}, callee: none}}
peers:
  caller: {{stack: {caller}}}
  callee: {{stack: {callee}}}
steps:
  - call: {{from: caller, to: callee, cases: [video], timeout: 30}}
  - expect-wire: {{violations: 0}}
"""
FEEDBACK_RULES = ("rtcp.nack-format", "rtcp.pli-format", "rtx.ssrc", "rtx.timestamp")


@pytest.mark.skipif(cannot_build_namespaces() is not None, reason=str(cannot_build_namespaces()))
@pytest.mark.parametrize("caller", ["chromium", "firefox"])
def test_browser_retransmissions_through_loss_break_no_rule(tmp_path: Path, caller: str) -> None:
    if find_chromium() is None or (caller == "firefox" and find_firefox() is None):
        pytest.skip(f"{caller} or chromium is not installed (./setup.sh installs both)")
    path = tmp_path / f"{caller}.yaml"
    path.write_text(SCENARIO.format(caller=caller, callee="chromium"))
    result = asyncio.run(run_scenario(load_scenario(path), {"keep": "never", "capture_dir": tmp_path}))
    assert result.ok and result.wire is not None, result.failure
    sent = sum(f.retransmissions for f in result.wire.feedback.values())
    assert sent >= 1, f"{caller} sent no retransmission this time: the RTX rules judged nothing"
    assert not [f for f in result.wire.findings if f.rule in FEEDBACK_RULES], result.wire.findings
