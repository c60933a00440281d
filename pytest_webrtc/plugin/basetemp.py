"""Where the plugin's items keep their files: pytest's base temporary directory."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

__all__ = ["basetemp"]


def basetemp(config: pytest.Config) -> Path:
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is not None:
        return Path(factory.getbasetemp())
    return Path(tempfile.gettempdir())
