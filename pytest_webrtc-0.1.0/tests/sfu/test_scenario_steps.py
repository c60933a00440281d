"""The SFU steps fail on SFUs broken in the ways they are meant to catch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_webrtc.errors import StepFailure
from pytest_webrtc.scenario import load_scenario, run_scenario
from pytest_webrtc.sfu.server import Publication, Sfu

SCENARIO = """\
scenario: sfu steps
servers: {sfu: {}}
capture: false
peers: {alice: {}, bob: {}, carol: {}}
steps:
  - join: [alice, bob, carol]
  - track: {peer: alice, kind: video}
  - track: {peer: bob, kind: video}
  - track: {peer: carol, kind: video}
  - connect: {peers: [alice, bob, carol], to: sfu}
  - expect-media: {peer: alice, kind: video, from: bob, frames: ">=5", timeout: 3}
  - leave: {peers: carol}
  - expect-sfu: {forwarding: {alice: [bob], bob: [alice]}, timeout: 2}
"""


async def _run(tmp_path: Path) -> Any:
    path = tmp_path / "sfu.yaml"
    path.write_text(SCENARIO)
    return await run_scenario(load_scenario(path))


async def test_the_steps_pass_on_the_real_sfu(tmp_path: Path) -> None:
    result = await _run(tmp_path)
    assert result.ok
    text = result.text()
    assert "sfu (sfu):" in text and "carol: in " in text and "left (peer-left)" in text


async def test_an_sfu_that_forwards_nothing_fails_expect_media(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Publication, "on_frame", lambda self, codec, frame: None)
    with pytest.raises(StepFailure, match=r"step 6 \(expect-media.*5 video frame\(s\) received from bob \(got 0"):
        await _run(tmp_path)


async def test_an_sfu_that_does_not_tell_the_others_fails_expect_sfu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It stops forwarding a departed peer's media but never renegotiates: the others still list the
    track as received, which the peers' side of expect-sfu catches."""
    forget = Sfu._forget

    async def forget_silently(self: Sfu, peer: str, why: str) -> None:
        self.stopping = True  # the SFU renegotiates nobody while it believes it is stopping
        try:
            await forget(self, peer, why)
        finally:
            self.stopping = False

    monkeypatch.setattr(Sfu, "_forget", forget_silently)
    with pytest.raises(StepFailure, match=r"step 8 \(expect-sfu.*alice receives tracks \['bob.video', 'carol.video'\]"):
        await _run(tmp_path)
