"""The exceptions pytest-webrtc raises.

WebRTCHarnessError            base of everything below
├── StunError
│   ├── StunDecodeError       bytes that cannot be framed as a STUN message
│   └── StunCheckError        strict checking found violations (``.violations``)
├── StunTransactionError      a client transaction got no (usable) answer
└── HarnessConfigError        bad configuration given by a user (CLI, fixture, marker)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .stun.violations import Violation

__all__ = [
    "HarnessConfigError",
    "StunCheckError",
    "StunDecodeError",
    "StunError",
    "StunTransactionError",
    "WebRTCHarnessError",
]


class WebRTCHarnessError(Exception):
    """Base class of every error raised by pytest-webrtc."""


class StunError(WebRTCHarnessError):
    """Something is wrong with a STUN message."""


class StunDecodeError(StunError):
    """The bytes cannot be framed as a STUN message at all."""


class StunCheckError(StunError):
    """Strict checking found one or more RFC violations."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(str(v) for v in self.violations))


class StunTransactionError(WebRTCHarnessError):
    """A STUN client transaction timed out or got an unusable answer."""


class HarnessConfigError(WebRTCHarnessError):
    """A user-supplied setting is invalid."""
