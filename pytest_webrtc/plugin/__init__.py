"""The pytest plugin (entry point ``pytest11: webrtc``): options and fixtures.

This package is the only place that imports pytest; nothing imports it.
"""

from .collection import pytest_collect_file, pytest_runtest_makereport, pytest_terminal_summary
from .fixtures import (
    external_peer,  # noqa: F401  (without pytest-asyncio: a fixture that says what to install)
    pytest_pyfunc_call,
    signaling_server,
    stun_server,
    stun_server_factory,
    stun_server_session,
    webrtc_background_loop,
    webrtc_peer,  # noqa: F401  (without pytest-asyncio: a fixture that says what to install)
    whip_server,
)
from .options import pytest_addoption, pytest_configure

try:
    from .fixtures import mcu, sfu  # noqa: F401  (defined when pytest-asyncio is installed)
except ImportError:  # pragma: no cover
    pass

__all__ = [
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_pyfunc_call",
    "pytest_runtest_makereport",
    "pytest_terminal_summary",
    "signaling_server",
    "pytest_configure",
    "stun_server",
    "stun_server_factory",
    "stun_server_session",
    "webrtc_background_loop",
    "whip_server",
]
