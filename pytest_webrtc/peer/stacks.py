"""The WebRTC stacks a scenario can name (``peers: {alice: {stack: firefox}}``): one entry each.

Every stack is a program following the external-peer convention (docs/ci.md) and its caller
extension (docs/interop.md): started with ``WEBRTC_CALL`` it calls, otherwise it answers; it
prints a ``RESULT {json}`` line per case of the call.  Each entry says how to start it, what it
can do (send a test video or not), and why it cannot run here when it cannot (a package to
install) — the interop matrix (:mod:`pytest_webrtc.matrix`) runs every ordered pair of them.

==========  ==============================================  ==========  ==================
stack       the program                                     sends video  receives video
==========  ==============================================  ==========  ==================
aiortc      ``python -m pytest_webrtc echo-peer``             VP8          decodes frames
chromium    ``python -m pytest_webrtc browser-peer``          canvas VP8   decodes (getStats)
firefox     ``... browser-peer --engine firefox``             canvas VP8   decodes (getStats)
gstreamer   ``/usr/bin/python3 peer/gst_peer.py`` (webrtcbin) VP8          decodes (decodebin)
pion        ``interop/pion/bin/pion-peer`` (Go, pion/webrtc)  IVF of VP8   counts RTP frames
werift      ``node interop/werift/echo-peer.mjs``             no encoder   counts RTP frames
==========  ==============================================  ==========  ==================
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..programs import PROGRAMS, SYSTEM_PYTHON, pion_directory, werift_directory

__all__ = ["STACKS", "Stack"]


def _pion_argv() -> list[str]:
    from .ivf import numbered_ivf

    return [str(pion_directory() / "bin" / "pion-peer"), "-video", str(numbered_ivf())]


@dataclass(frozen=True)
class Stack:
    name: str
    description: str  # as error messages name it: "bob is {description} and cannot ..."
    argv: Callable[[], list[str]]  # the program (the convention's arguments are appended)
    sends_video: bool
    missing: Callable[[], str | None]  # why it cannot run here, or None
    cwd: Callable[[], str | None] = lambda: None
    restarts_ice: bool = False  # its program restarts ICE in a call (case restart-ice) and answers a restart


STACKS: dict[str, Stack] = {
    stack.name: stack
    for stack in (
        Stack(
            "aiortc", "aiortc (stack: aiortc, the echo-peer program)",
            lambda: [sys.executable, "-m", "pytest_webrtc", "echo-peer"], True, lambda: None,
        ),
        Stack(
            "chromium", "headless Chromium (stack: chromium)",
            lambda: [sys.executable, "-m", "pytest_webrtc", "browser-peer"], True,
            PROGRAMS["chromium"].missing, restarts_ice=True,
        ),
        Stack(
            "firefox", "headless Firefox ESR (stack: firefox)",
            lambda: [sys.executable, "-m", "pytest_webrtc", "browser-peer", "--engine", "firefox"], True,
            PROGRAMS["firefox"].missing, restarts_ice=True,
        ),
        Stack(
            "gstreamer", "GStreamer webrtcbin (stack: gstreamer)",
            lambda: [SYSTEM_PYTHON, str(Path(__file__).resolve().parent / "gst_peer.py")], True,
            PROGRAMS["gstreamer"].missing,
        ),
        Stack(
            "pion", "Pion (stack: pion)", _pion_argv, True, PROGRAMS["pion-peer"].missing, restarts_ice=True,
        ),
        Stack(
            "werift", "werift (stack: werift)",
            lambda: ["node", str(werift_directory() / "echo-peer.mjs")], False, PROGRAMS["werift"].missing,
            lambda: str(werift_directory()),
        ),
    )
}  # fmt: skip
