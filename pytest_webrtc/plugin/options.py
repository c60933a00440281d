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
    config.stash[OVERRIDES_KEY] = {}
    given = config.getoption("webrtc_scenario")
    if given:
        # Collect exactly these files, whatever testpaths or positional arguments say.
        config.args[:] = scenario_paths(config, given)


def stun_host(config: pytest.Config) -> str:
    return str(config.getoption("webrtc_stun_host") or config.getini("webrtc_stun_host"))
