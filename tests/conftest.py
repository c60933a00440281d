from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def rfc5769_vectors() -> list[dict[str, Any]]:
    """The four RFC 5769 test vectors (copied from shared/vectors, verified there)."""
    return list(json.loads((DATA / "rfc5769.json").read_text())["vectors"])
