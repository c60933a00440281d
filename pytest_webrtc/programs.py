"""The programs of other projects the harness drives: one registry entry each, in one place.

Each :class:`Program` says what it is, how it gets onto a machine (what ``setup.sh`` does), why it
cannot run here when it cannot (:meth:`Program.missing`), which module starts it, how it is kept off
the network (sealed) and how it is stopped with whatever it started (reaped). The code that starts
each one lives with what it serves (the TURN relay, the Janus driver, the interop stacks); the facts
about the program — where it is, what it needs — live here, and nowhere else.

This module imports nothing of the package: everything may ask it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = [
    "JANUS_CONFIG",
    "PROGRAMS",
    "SYSTEM_PYTHON",
    "Program",
    "find_chromium",
    "find_firefox",
    "interop_directory",
    "janus_missing",
    "pion_directory",
    "werift_directory",
]

_PACKAGE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, where python3-gi (GStreamer's bindings) lives
JANUS_CONFIG = "/etc/janus"


def interop_directory() -> Path:
    """A checkout's ``interop/``: the programs and npm/Go projects only a checkout has (not the wheel)."""
    return _PACKAGE.parent / "interop"


def werift_directory() -> Path:
    """Where werift's program and node_modules are: the source tree's interop/werift."""
    return interop_directory() / "werift"


def pion_directory() -> Path:
    """Where Pion's programs (src/) and their builds (bin/) are: the source tree's interop/pion."""
    return interop_directory() / "pion"


def find_chromium() -> str | None:
    """The Chromium binary: Debian's real one beside its libraries first (the launcher script is noisy)."""
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_firefox() -> str | None:
    """The Firefox binary (Debian's firefox-esr)."""
    for candidate in ("/usr/lib/firefox-esr/firefox-esr", shutil.which("firefox-esr"), shutil.which("firefox")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def janus_missing() -> str | None:
    """Why Janus cannot run here (not installed, not root), or None."""
    if shutil.which("janus") is None or not os.path.isdir(JANUS_CONFIG):
        return "Janus is not installed (Debian package janus; setup.sh installs it)"
    if os.geteuid() != 0:
        return "Janus runs in a network namespace of its own, which needs root"
    return None


def _command(name: str, package: str) -> Callable[[], str | None]:
    return lambda: None if shutil.which(name) else f"{name} is not installed (Debian package {package})"


def _browser(engine: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        found = find_firefox() if engine == "firefox" else find_chromium()
        package = "firefox-esr" if engine == "firefox" else "chromium"
        return None if found else f"{engine} is not installed (apt-get install {package})"

    return missing


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


def _npm(folder: str, package: str, what: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        directory = interop_directory() / folder
        if not directory.is_dir():  # an installed wheel
            return f"{what} ships with a checkout of pytest-webrtc, not with the installed package"
        if shutil.which("node") is None:
            return "node is not installed (apt-get install nodejs)"
        if not (directory / "node_modules" / package).is_dir():
            return f"{what} is not installed (npm ci in {directory})"
        return None

    return missing


def _go(program: str, sources: str | None) -> Callable[[], str | None]:
    """A program setup.sh builds from Debian's Go sources into interop/pion/bin (``sources``: its folder under
    interop/pion/src, whose files must not be newer than the build; None: a tool of Debian's own sources)."""

    def missing() -> str | None:
        directory = pion_directory()
        if not directory.is_dir():
            return f"{program} ships with a checkout of pytest-webrtc, not with the installed package"
        binary = directory / "bin" / program
        if not binary.is_file():
            return (
                f"{program} is not built (setup.sh builds it from Debian's golang-github-pion-* packages into {binary})"
            )
        if sources is not None:
            newer = [p for p in (directory / "src" / sources).rglob("*") if p.is_file()]
            if any(p.stat().st_mtime > binary.stat().st_mtime for p in newer):
                return f"{program} is older than its source: run setup.sh again (it rebuilds {binary})"
        return None

    return missing


def _simple_whip_server() -> str | None:
    server = interop_directory() / "whip" / "simple-whip-server" / "usr" / "share" / "simple-whip-server" / "src"
    if not (server / "server.js").is_file():
        return "simple-whip-server is not unpacked (setup.sh: apt-get download simple-whip-server, dpkg-deb -x)"
    return _npm("whip", "express", "simple-whip-server's dependencies")()


@dataclass(frozen=True)
class Program:
    name: str
    what: str  # what it is, for people
    install: str  # how it gets onto a machine (setup.sh does it)
    started_by: str  # the module (or test) that starts it
    sealed: str  # how it is kept off the machine's network
    reaped: str  # how it is stopped, with what it started
    missing: Callable[[], str | None]  # why it cannot run here, or None


_GROUP = "its own process group: SIGTERM, then SIGKILL after a bound, every member reaped"
_TOPOLOGY = "a topology's namespace (the interop matrix always; a scenario with a topology or sealed)"
PROGRAMS: dict[str, Program] = {
    program.name: program
    for program in (
        Program(
            "coturn",
            "coturn 4.6 TURN/STUN server",
            "Debian coturn",
            "pytest_webrtc.coturn, pytest_webrtc.nat.turn",
            "loopback, a topology's public namespace, or a decoy namespace",
            _GROUP,
            _command("turnserver", "coturn"),
        ),
        Program(
            "janus",
            "Janus 1.1 media server (echotest, videoroom)",
            "Debian janus",
            "pytest_webrtc.janus.server",
            "a namespace of its own behind a veth, no default route",
            _GROUP,
            janus_missing,
        ),
        Program(
            "chromium",
            "headless Chromium",
            "Debian chromium",
            "pytest_webrtc.peer.browser (browser-peer)",
            _TOPOLOGY + "; never mDNS",
            _GROUP + " (its renderer children too)",
            _browser("chromium"),
        ),
        Program(
            "firefox",
            "headless Firefox ESR",
            "Debian firefox-esr",
            "pytest_webrtc.peer.browser (--engine firefox)",
            _TOPOLOGY + " (with a veth and default route: it gathers nothing on lo)",
            _GROUP,
            _browser("firefox"),
        ),
        Program(
            "gstreamer",
            "GStreamer 1.22 webrtcbin + libnice on the system Python",
            "Debian gstreamer1.0-plugins-bad/-good/-base, gstreamer1.0-nice, python3-gi, python3-websockets",
            "pytest_webrtc.peer.gst_peer",
            _TOPOLOGY,
            _GROUP,
            _gstreamer_missing,
        ),
        Program(
            "werift",
            "werift 0.24 (TypeScript WebRTC)",
            "npm ci in interop/werift",
            "interop/werift/echo-peer.mjs",
            _TOPOLOGY,
            _GROUP,
            _npm("werift", "werift", "werift's peer program"),
        ),
        Program(
            "pion-peer",
            "Pion 3.1.56 (Go WebRTC)",
            "Debian golang-go + golang-github-pion-*; setup.sh's go build",
            "interop/pion/src/pion-peer",
            _TOPOLOGY,
            _GROUP,
            _go("pion-peer", "pion-peer"),
        ),
        Program(
            "pion-turn",
            "a TURN server on pion/turn 2.1.0",
            "setup.sh's go build (Debian's pion/turn sources)",
            "tests/conformance (calibration), tests/nat/test_external_turn.py",
            "loopback, or a veth of the test's own with -deny for the peers' ranges",
            _GROUP,
            _go("pion-turn", "pion-turn"),
        ),
        Program(
            "pion-stun-tools",
            "pion/stun's stun-client and stun-nat-behaviour",
            "setup.sh's go build (Debian's pion/stun sources)",
            "tests/stun/test_pion_clients.py, tests/nat",
            "loopback, or a NATed peer's namespace",
            "runs to its end (bounded by a timeout)",
            _go("stun-nat-behaviour", None),
        ),
        Program(
            "stund",
            "Vovida stund 0.97 (RFC 3489-era STUN)",
            "Debian stun-server",
            "tests/conformance/real_servers.py",
            "loopback",
            _GROUP,
            _command("stund", "stun-server"),
        ),
        Program(
            "node-turn",
            "node-turn 0.0.6",
            "npm ci in interop/stun-servers",
            "tests/conformance",
            "loopback",
            _GROUP,
            _npm("stun-servers", "node-turn", "node-turn"),
        ),
        Program(
            "nodertc-stun",
            "nodertc stun 2.1.0",
            "npm ci in interop/stun-servers",
            "tests/conformance",
            "loopback",
            _GROUP,
            _npm("stun-servers", "stun", "nodertc's stun"),
        ),
        Program(
            "peerjs-server",
            "PeerJS server 1.0.2",
            "npm ci in interop/signaling-servers",
            "tests/signaling",
            "loopback",
            _GROUP,
            _npm("signaling-servers", "peer", "the PeerJS server"),
        ),
        Program(
            "simple-whip-server",
            "Meetecho's simple-whip-server (with Janus behind it)",
            "apt-get download + dpkg-deb -x, npm ci in interop/whip",
            "tests/whip/simple_whip_server.py",
            "loopback, Janus in its namespace",
            _GROUP,
            _simple_whip_server,
        ),
    )  # fmt: skip
}
