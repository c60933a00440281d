"""Pion as a stack: the numbered video it sends, and why it cannot run where it cannot (told truly)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import av
import pytest

import pytest_webrtc.programs as programs
from pytest_webrtc.peer.ivf import numbered_ivf
from pytest_webrtc.peer.media import decode_number
from pytest_webrtc.peer.stacks import STACKS


def test_the_ivf_file_carries_the_harness_numbered_frames_with_a_keyframe_each_second() -> None:
    path = numbered_ivf()  # the one the matrix sends (made once per machine)
    assert path.read_bytes()[:4] == b"DKIF" and path.read_bytes()[8:12] == b"VP80"
    with av.open(str(path)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    assert [i for i, p in enumerate(packets) if p.is_keyframe] == [0, 30, 60, 90, 120]
    with av.open(str(path)) as container:
        numbers = [decode_number(frame) for frame in container.decode(video=0)]
    assert numbers == list(range(150))  # read after VP8 as from any other stack's frames
    assert numbered_ivf() == path  # made once, then reused


def test_pion_cannot_run_from_an_installed_package_unbuilt_or_stale_and_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = programs.PROGRAMS["pion-peer"].missing
    monkeypatch.setattr(programs, "interop_directory", lambda: tmp_path / "site-packages" / "interop")
    assert "pion-peer ships with a checkout of pytest-webrtc, not with the installed package" in str(missing())
    monkeypatch.setattr(programs, "interop_directory", lambda: tmp_path / "interop")
    (tmp_path / "interop" / "pion" / "src" / "pion-peer").mkdir(parents=True)
    source = tmp_path / "interop" / "pion" / "src" / "pion-peer" / "main.go"
    source.write_text("package main\n")
    assert "pion-peer is not built (setup.sh builds it" in str(missing())
    binary = tmp_path / "interop" / "pion" / "bin" / "pion-peer"
    binary.parent.mkdir()
    binary.write_text("")
    old = time.time() - 60
    os.utime(binary, (old, old))
    assert "pion-peer is older than its source: run setup.sh again" in str(missing())
    os.utime(source, (old - 60, old - 60))
    assert missing() is None
    (tmp_path / "interop" / "pion" / "src" / "pion-turn").mkdir()
    (tmp_path / "interop" / "pion" / "src" / "pion-turn" / "main.go").write_text("package main\n")
    assert missing() is None  # another program's newer source does not make this one stale


def test_the_checkouts_pion_peer_is_built_and_current() -> None:
    """setup.sh builds it (CI runs setup.sh): a stale or missing build would make the matrix's Pion
    cells unavailable, which CI does not allow."""
    assert STACKS["pion"].missing() is None
