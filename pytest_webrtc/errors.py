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
    "CaptureUnavailable",
    "HarnessConfigError",
    "PeerError",
    "ScenarioError",
    "SignalingError",
    "StepFailure",
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


class SignalingError(WebRTCHarnessError):
    """The signaling server refused a message, closed, or did not answer in time."""


class PeerError(WebRTCHarnessError):
    """A WebRTC peer could not carry out a command."""


class ScenarioError(WebRTCHarnessError):
    """A scenario file is invalid; says where."""

    def __init__(self, message: str, path: str = "", line: int | None = None, column: int | None = None) -> None:
        self.message, self.path, self.line, self.column = message, path, line, column
        super().__init__(self.where() + message)

    def where(self) -> str:
        if not self.path:
            return ""
        if self.line is None:
            return f"{self.path}: "
        return f"{self.path}:{self.line}:{self.column or 1}: "


class StepFailure(ScenarioError):
    """A scenario step did not do what it expected."""


class CaptureUnavailable(WebRTCHarnessError):
    """Packets cannot be captured here; the message says why (privilege, libpcap)."""
