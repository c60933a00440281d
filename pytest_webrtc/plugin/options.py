"""Command-line options, ini keys and markers of the plugin."""

from __future__ import annotations

import pytest

MARKERS = {
    "seed": "seed: the seed flow of the project (scenario mark)",
    "webrtc_stun_server": (
        "webrtc_stun_server(**kwargs): configure the `stun_server` fixture "
        "(host, port, udp, tcp, other_host, auth, software)"
    ),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("webrtc", "WebRTC conformance harness (pytest-webrtc)")
    group.addoption(
        "--webrtc-stun-host",
        dest="webrtc_stun_host",
        default=None,
        help="address the built-in STUN server fixtures bind to (default: 127.0.0.1)",
    )
    parser.addini("webrtc_stun_host", "address the built-in STUN server fixtures bind to", default="127.0.0.1")
    group.addoption(
        "--webrtc-capture-dir",
        dest="webrtc_capture_dir",
        default=None,
        metavar="DIR",
        help="where scenario captures (pcap + .pcap.json) are written (default: <basetemp>/webrtc-captures)",
    )
    parser.addini("webrtc_capture_dir", "where scenario captures are written", default="")
    group.addoption(
        "--webrtc-keep-captures",
        dest="webrtc_keep_captures",
        default=None,
        choices=["always", "failed", "never"],
        help="which scenario captures to keep (default: failed)",
    )
    parser.addini("webrtc_keep_captures", "which scenario captures to keep: always, failed, never", default="failed")
    group.addoption(
        "--webrtc-scenario",
        dest="webrtc_scenario",
        action="append",
        default=[],
        metavar="PATH",
        help="run exactly these scenario files (a file or a directory; repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    from .collection import OVERRIDES_KEY, scenario_paths

    for name, text in MARKERS.items():
        config.addinivalue_line("markers", text if text.startswith(name) else f"{name}: {text}")
    keep = config.getoption("webrtc_keep_captures") or config.getini("webrtc_keep_captures")
    if keep not in ("always", "failed", "never"):
        raise pytest.UsageError(f"webrtc_keep_captures must be always, failed or never, not {keep!r}")
    capture_dir = config.getoption("webrtc_capture_dir") or config.getini("webrtc_capture_dir") or None
    config.stash[OVERRIDES_KEY] = {"keep": keep, "capture_dir": capture_dir}
    given = config.getoption("webrtc_scenario")
    if given:
        # Collect exactly these files, whatever testpaths or positional arguments say.
        config.args[:] = scenario_paths(config, given)


def stun_host(config: pytest.Config) -> str:
    return str(config.getoption("webrtc_stun_host") or config.getini("webrtc_stun_host"))
