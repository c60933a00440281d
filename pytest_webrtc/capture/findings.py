"""A finding: one rule broken by one packet of a capture."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding"]


@dataclass(frozen=True)
class Finding:
    number: int  # frame number in the capture (0: about the capture as a whole)
    rule: str
    section: str
    detail: str
    severity: str = "error"  # or "warning": reported, fails only when a scenario asks

    def __str__(self) -> str:
        where = f"packet {self.number}" if self.number else "capture"
        return f"{where}: {self.rule} ({self.section}): {self.detail}"
