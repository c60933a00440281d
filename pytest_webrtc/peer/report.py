"""What a peer reports, for peers we cannot ask (external programs, HTTP echo servers)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["candidate_type", "external_report"]


def candidate_type(candidate: str) -> str:
    """``host``, ``srflx``, ``prflx`` or ``relay`` from a candidate line (``?`` if it has none)."""
    fields = candidate.split()
    return fields[fields.index("typ") + 1] if "typ" in fields and fields.index("typ") + 1 < len(fields) else "?"


def external_report(peer_id: str, candidates: Iterable[str]) -> dict[str, Any]:
    """The report of a peer seen only through the candidates it offered."""
    by_type: dict[str, list[str]] = {}
    for line in candidates:
        by_type.setdefault(candidate_type(line), []).append(line)
    return {
        "id": peer_id,
        "external": True,
        "candidates": by_type,
        "messages": {},
        "states": {},
        "selected_pair": None,
        "events": [],
        "remote_candidates": [],
    }
