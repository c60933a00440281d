"""Command-line options, ini keys and markers of the plugin."""

from __future__ import annotations

import pytest

MARKERS = {
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


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", text if text.startswith(name) else f"{name}: {text}")


def stun_host(config: pytest.Config) -> str:
    return str(config.getoption("webrtc_stun_host") or config.getini("webrtc_stun_host"))
