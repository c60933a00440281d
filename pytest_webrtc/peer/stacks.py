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

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["STACKS", "Stack", "pion_directory", "werift_directory"]

_PACKAGE = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, where python3-gi lives


def werift_directory() -> Path:
    """Where werift's program and node_modules are: the source tree's interop/werift."""
    return _PACKAGE.parent / "interop" / "werift"


@cache
def _gstreamer_missing() -> str | None:
    probe = (
        "import gi; gi.require_version('Gst','1.0'); gi.require_version('GstWebRTC','1.0');"
        "from gi.repository import Gst; Gst.init(None); import websockets;"
        "assert Gst.ElementFactory.find('webrtcbin') and Gst.ElementFactory.find('nicesrc')"
        " and Gst.ElementFactory.find('vp8enc')"
    )
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{SYSTEM_PYTHON} cannot run: {exc}"
    if done.returncode != 0:
        return (
            "GStreamer's webrtcbin is not installed (apt-get install gstreamer1.0-plugins-bad gstreamer1.0-nice "
            "gstreamer1.0-plugins-good python3-gi gir1.2-gst-plugins-bad-1.0 python3-websockets)"
        )
    return None


def _browser_missing(engine: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        from .browser import find_browser

        package = "firefox-esr" if engine == "firefox" else "chromium"
        return None if find_browser(engine) else f"{engine} is not installed (apt-get install {package})"

    return missing


def _werift_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs)"
    if not werift_directory().is_dir():  # an installed wheel: the program and its lock file are the checkout's
        return (
            "werift's peer program ships with a checkout of pytest-webrtc, not with the installed package "
            "(interop/werift: npm ci there, then run from the checkout)"
        )
    if not (werift_directory() / "node_modules" / "werift").is_dir():
        return f"werift is not installed (npm ci in {werift_directory()})"
    return None


def pion_directory() -> Path:
    """Where Pion's peer program (src/pion-peer) and its build (bin/pion-peer) are: the source tree's interop/pion."""
    return _PACKAGE.parent / "interop" / "pion"


def _pion_missing() -> str | None:
    directory = pion_directory()
    if not directory.is_dir():  # an installed wheel: the Go program is the checkout's
        return "Pion's peer program ships with a checkout of pytest-webrtc, not with the installed package"
    binary, sources = directory / "bin" / "pion-peer", list((directory / "src" / "pion-peer").rglob("*"))
    if not binary.is_file():
        return (
            f"Pion's peer is not built (setup.sh builds it from Debian's golang-github-pion-* packages into {binary})"
        )
    if any(source.stat().st_mtime > binary.stat().st_mtime for source in sources if source.is_file()):
        return f"Pion's peer is older than its source: run setup.sh again (it rebuilds {binary})"
    return None


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
            _browser_missing("chromium"), restarts_ice=True,
        ),
        Stack(
            "firefox", "headless Firefox ESR (stack: firefox)",
            lambda: [sys.executable, "-m", "pytest_webrtc", "browser-peer", "--engine", "firefox"], True,
            _browser_missing("firefox"), restarts_ice=True,
        ),
        Stack(
            "gstreamer", "GStreamer webrtcbin (stack: gstreamer)",
            lambda: [SYSTEM_PYTHON, str(_PACKAGE / "peer" / "gst_peer.py")], True, _gstreamer_missing,
        ),
        Stack(
            "pion", "Pion (stack: pion)", _pion_argv, True, _pion_missing, restarts_ice=True,
        ),
        Stack(
            "werift", "werift (stack: werift)",
            lambda: ["node", str(werift_directory() / "echo-peer.mjs")], False, _werift_missing,
            lambda: str(werift_directory()),
        ),
    )
}  # fmt: skip
