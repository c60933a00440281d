from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_webrtc.capture.sniffer import capture_available

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def rfc5769_vectors() -> list[dict[str, Any]]:
    """The four RFC 5769 test vectors (copied from shared/vectors, verified there)."""
    return list(json.loads((DATA / "rfc5769.json").read_text())["vectors"])


@pytest.fixture(scope="session")
def can_capture() -> None:
    """Skip, with the reason, where packets cannot be captured (no root or CAP_NET_RAW, no libpcap)."""
    reason = capture_available("lo")
    if reason is not None:
        pytest.skip(f"packet capture unavailable: {reason}")
