"""Which files are scenarios: a cheap test the plugin runs on every YAML file pytest collects."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["has_top_level_key", "is_scenario_file"]


def has_top_level_key(path: Path, key: str) -> bool:
    """Whether a ``.yaml``/``.yml`` file has ``key:`` at the top level, in its first 64 KiB."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            head = f.read(64 * 1024)
    except OSError:
        return False
    return re.search(rf"^{re.escape(key)}\s*:", head, re.M) is not None


def is_scenario_file(path: Path) -> bool:
    """The collection rule: a ``.yaml``/``.yml`` file with a top-level ``scenario:`` key."""
    return has_top_level_key(path, "scenario")
