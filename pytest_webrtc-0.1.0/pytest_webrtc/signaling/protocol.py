"""The signaling protocol, version 1: message kinds, error codes, validation.

Clients send JSON objects (``schema.json`` describes them); the server relays
``offer``, ``answer``, ``candidate``, ``end-of-candidates`` and ``bye`` to the
named peer of the same room, adding ``"from"``.  docs/signaling.md documents it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema

__all__ = [
    "ERROR_CODES",
    "PROTOCOL_VERSION",
    "RELAYED",
    "ProtocolError",
    "RelayRecord",
    "parse_client_message",
    "schema",
]


@dataclass(frozen=True)
class RelayRecord:
    """One message the server relayed (or a notice it sent), for tests and ladder diagrams."""

    time: float
    room: str
    sender: str  # "server" for notices
    recipient: str
    type: str
    payload: dict[str, Any]


PROTOCOL_VERSION = 1
RELAYED = ("offer", "answer", "candidate", "end-of-candidates", "bye")
CLIENT_TYPES = ("join", "leave", *RELAYED)

ERROR_CODES = {
    "bad-json": "the frame is not a JSON object",
    "unknown-type": "the message type is not one of the protocol's",
    "bad-message": "a field is missing or has the wrong type",
    "too-large": "the message is larger than the server accepts",
    "not-joined": "join a room before sending anything else",
    "already-joined": "this connection has joined a room already",
    "duplicate-peer": "another connection in the room uses this peer id",
    "unknown-peer": "no peer of that id is in your room",
}


class ProtocolError(Exception):
    def __init__(self, code: str, reason: str, in_reply_to: str | None = None) -> None:
        assert code in ERROR_CODES, code
        super().__init__(reason)
        self.code, self.reason, self.in_reply_to = code, reason, in_reply_to

    def as_message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "error", "code": self.code, "reason": self.reason}
        if self.in_reply_to:
            message["in-reply-to"] = self.in_reply_to
        return message


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema of client messages (package data)."""
    text = resources.files("pytest_webrtc.signaling").joinpath("schema.json").read_text()
    return dict(json.loads(text))


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema())
    return cls(schema())


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def parse_client_message(frame: str | bytes) -> dict[str, Any]:
    """Decode and validate one frame; raise :class:`ProtocolError` with the code to reply.

    Only text frames carry the protocol: a binary frame is refused (``bad-json``), as are
    ``NaN``/``Infinity`` and nesting too deep to decode.
    """
    if isinstance(frame, bytes):
        raise ProtocolError("bad-json", "a binary frame: the protocol's messages are JSON text frames")
    try:
        message = json.loads(frame, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("bad-json", f"not JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError("bad-json", "not JSON the server accepts: nested too deeply") from None
    if not isinstance(message, dict):
        raise ProtocolError("bad-json", f"expected a JSON object, got {type(message).__name__}")
    kind = message.get("type")
    if kind not in CLIENT_TYPES:
        raise ProtocolError("unknown-type", f"unknown message type {kind!r}; expected one of {', '.join(CLIENT_TYPES)}")
    # Validate against the branch of this type only, for a precise message.
    branch = next(b for b in schema()["oneOf"] if _branch_accepts(b, kind))
    errors = sorted(
        _validator().evolve(schema={**branch, "$defs": schema()["$defs"]}).iter_errors(message),
        key=lambda e: list(e.path),
    )
    if errors:
        error = errors[0]
        where = ".".join(str(p) for p in error.path)
        raise ProtocolError("bad-message", f"{where + ': ' if where else ''}{error.message}", kind)
    return message


def _branch_accepts(branch: dict[str, Any], kind: str) -> bool:
    rule = branch["properties"]["type"]
    return bool(rule.get("const") == kind or kind in rule.get("enum", ()))
