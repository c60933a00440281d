"""The exceptions pytest-webrtc raises, all under one base.

WebRTCHarnessError              base of everything below
├── StunError                   something is wrong with a STUN message
│   ├── StunDecodeError         bytes that cannot be framed as a STUN message
│   └── StunCheckError          strict checking found violations (``.violations``)
├── StunTransactionError        a client transaction got no (usable) answer
├── HarnessConfigError          bad configuration given by a user (CLI, fixture, marker)
│   └── AddressError            a HOST:PORT that is not one (also a ValueError)
├── SignalingError              the signaling server refused, closed, or did not answer in time
├── PeerError                   a peer could not carry out a command
├── CaptureUnavailable          packets cannot be captured here (privilege, libpcap)
├── Expectation                 a scenario step's check did not hold (what was expected, what happened)
└── ScenarioError               a scenario file is invalid (``.path``, ``.line``, ``.column``)
    └── StepFailure             a step failed at run time (``.result``: the run so far)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .rules import Finding

__all__ = [
    "AddressError",
    "CaptureUnavailable",
    "Expectation",
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

    violations: list[Finding]

    def __init__(self, violations: Sequence[Finding]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(str(v) for v in self.violations))


class StunTransactionError(WebRTCHarnessError):
    """A STUN client transaction timed out or got an unusable answer.

    ``received`` holds what did come back meanwhile (datagram, source): answers with another
    transaction id, datagrams that are not STUN, truncated messages.  Empty: nothing came back.
    """

    received: list[tuple[bytes, tuple[str, int]]]

    def __init__(self, message: str, received: Sequence[tuple[bytes, tuple[str, int]]] = ()) -> None:
        super().__init__(message)
        self.received = list(received)


class HarnessConfigError(WebRTCHarnessError):
    """A user-supplied setting is invalid."""


class AddressError(HarnessConfigError, ValueError):
    """A transport address in text form (``HOST:PORT``) that cannot be parsed."""


class SignalingError(WebRTCHarnessError):
    """The signaling server refused a message, closed, or did not answer in time."""


class PeerError(WebRTCHarnessError):
    """A WebRTC peer could not carry out a command."""


class CaptureUnavailable(WebRTCHarnessError):
    """Packets cannot be captured here; the message says why (privilege, libpcap)."""


class Expectation(WebRTCHarnessError):
    """A step's check did not hold: the message says what was expected and what happened."""


class ScenarioError(WebRTCHarnessError):
    """A scenario file is invalid; says where."""

    message: str
    path: str
    line: int | None
    column: int | None
    problems: list[ScenarioError]  # every problem of the file, in file order (this one first)

    def __init__(self, message: str, path: str = "", line: int | None = None, column: int | None = None) -> None:
        self.message, self.path, self.line, self.column = message, path, line, column
        self.problems = [self]
        super().__init__(self.where() + message)

    def where(self) -> str:
        if not self.path:
            return ""
        if self.line is None:
            return f"{self.path}: "
        return f"{self.path}:{self.line}:{self.column or 1}: "


class StepFailure(ScenarioError):
    """A scenario step did not do what it expected; ``result`` is the run so far (a RunResult)."""

    result: object | None

    def __init__(
        self,
        message: str,
        path: str = "",
        line: int | None = None,
        column: int | None = None,
        result: object | None = None,
    ) -> None:
        super().__init__(message, path, line, column)
        self.result = result
