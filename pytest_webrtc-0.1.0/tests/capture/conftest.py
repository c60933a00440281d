from __future__ import annotations

import pytest

from ..wire_helpers import Frames

try:  # keep scapy's modules loaded across pytester's in-process runs
    import scapy.all  # noqa: F401
except ImportError:  # pragma: no cover
    pass


@pytest.fixture
def frames() -> Frames:
    return Frames()
