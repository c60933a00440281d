"""Which files are scenarios: a cheap test the plugin runs on every YAML file pytest collects."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["is_scenario_file"]

_SCENARIO_KEY = re.compile(r"^scenario\s*:", re.M)


def is_scenario_file(path: Path) -> bool:
    """The collection rule: a ``.yaml``/``.yml`` file with a top-level ``scenario:`` key."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            head = f.read(64 * 1024)
    except OSError:
        return False
    return _SCENARIO_KEY.search(head) is not None
