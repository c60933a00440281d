"""Strict judgement of STUN bytes: every RFC violation, named, with its section.

``check(data)`` never raises on bad input; it returns the list of
:class:`~pytest_webrtc.stun.violations.Violation` found (empty means the bytes
conform).  ``decode_strict`` is ``decode`` that raises :class:`StunCheckError`
on any violation.
"""

from __future__ import annotations

import hmac
from collections import Counter

from ..errors import StunCheckError
from .attributes import ATTRIBUTES
from .message import (
    TYPE_FINGERPRINT,
    TYPE_MESSAGE_INTEGRITY,
    TYPE_MESSAGE_INTEGRITY_SHA256,
    Message,
    MessageClass,
    Method,
    fingerprint_of,
    frame,
    integrity_of,
)
from .violations import Violation

__all__ = ["check", "check_message", "decode_strict"]

_ADDRESS_TYPES = {0x0001, 0x0002, 0x0004, 0x0005, 0x0012, 0x0016, 0x0020, 0x8023, 0x802B, 0x802C}
# Attributes that RFC 8656 lets appear more than once (§7.1 XOR-RELAYED-ADDRESS per family, §9.1 peers).
_REPEATABLE = {0x0012, 0x0016}
# Sender-side limits on text attributes (RFC 8489 §14.3, §14.8-14.10, §14.14): (kind, limit).
_TEXT_LIMITS = {
    0x0006: ("bytes", 509),
    0x0014: ("characters", 128),
    0x0015: ("characters", 128),
    0x8022: ("characters", 128),
}


def check(
    data: bytes,
    *,
    key: bytes | None = None,
    sha256_key: bytes | None = None,
    allow_classic: bool = False,
    require_fingerprint: bool = False,
) -> list[Violation]:
    """All violations in ``data``.

    ``key`` checks MESSAGE-INTEGRITY (and MESSAGE-INTEGRITY-SHA256 unless
    ``sha256_key`` differs); with a key, a message without integrity is a
    violation.  ``allow_classic`` accepts RFC 3489 messages without the magic
    cookie.  ``require_fingerprint`` is for ICE checks (RFC 8445 §7.1.1).
    """
    message, violations = frame(data)
    if message is None:
        return violations
    if message.is_classic and not allow_classic:
        violations.append(
            Violation(
                "header.magic-cookie", f"cookie field is 0x{message.cookie.hex()} (an RFC 3489 message)", offset=4
            )
        )
    violations += _attribute_values(message)
    violations += _duplicates(message)
    violations += _positions(message)
    violations += _digests(data, message, key, sha256_key if sha256_key is not None else key)
    if require_fingerprint and TYPE_FINGERPRINT not in {a.type for a in message.attributes}:
        violations.append(Violation("fingerprint.missing", "no FINGERPRINT attribute"))
    violations += _semantics(message)
    return violations


def check_message(message: Message, **kwargs: object) -> list[Violation]:
    """``check`` applied to an encoded :class:`Message`."""
    return check(message.encode(), **kwargs)  # type: ignore[arg-type]


def decode_strict(data: bytes, **kwargs: object) -> Message:
    """Decode, raising :class:`StunCheckError` listing every violation if there is any."""
    violations = check(data, **kwargs)  # type: ignore[arg-type]
    if violations:
        raise StunCheckError(violations)
    message, _ = frame(data)
    assert message is not None
    return message


def _attribute_values(message: Message) -> list[Violation]:
    out = []
    for attr in message.attributes:
        spec = ATTRIBUTES.get(attr.type)
        if spec is None:
            continue
        if attr.error:
            rule = "address.family" if attr.type in _ADDRESS_TYPES and "family" in attr.error else "attribute.value"
            out.append(Violation(rule, f"{attr.name}: {attr.error}", section=spec.rfc, offset=attr.offset))
            continue
        if attr.type in _ADDRESS_TYPES and attr.raw and attr.raw[0] != 0:
            out.append(
                Violation(
                    "address.reserved",
                    f"{attr.name}: first byte is 0x{attr.raw[0]:02x}",
                    section=spec.rfc,
                    offset=attr.offset,
                )
            )
        limit = _TEXT_LIMITS.get(attr.type)
        if limit is not None and attr.raw is not None:
            kind, maximum = limit
            size = len(attr.raw) if kind == "bytes" else len(attr.value)
            if size >= maximum:
                out.append(
                    Violation(
                        "attribute.text-length",
                        f"{attr.name}: {size} {kind}, must be fewer than {maximum}",
                        section=spec.rfc,
                        offset=attr.offset,
                    )
                )
    return out


def _duplicates(message: Message) -> list[Violation]:
    counts = Counter(a.type for a in message.attributes)
    out = []
    for attr_type, count in counts.items():
        if count > 1 and attr_type in ATTRIBUTES and attr_type not in _REPEATABLE:
            second = [a for a in message.attributes if a.type == attr_type][1]
            out.append(
                Violation(
                    "attribute.duplicate",
                    f"{second.name} appears {count} times; only the first counts",
                    offset=second.offset,
                )
            )
    return out


def _positions(message: Message) -> list[Violation]:
    out = []
    types = [a.type for a in message.attributes]
    if TYPE_MESSAGE_INTEGRITY in types:
        start = types.index(TYPE_MESSAGE_INTEGRITY)
        for attr in message.attributes[start + 1 :]:
            if attr.type not in (TYPE_MESSAGE_INTEGRITY_SHA256, TYPE_FINGERPRINT):
                out.append(
                    Violation("integrity.position", f"{attr.name} follows MESSAGE-INTEGRITY", offset=attr.offset)
                )
    if TYPE_MESSAGE_INTEGRITY_SHA256 in types:
        start = types.index(TYPE_MESSAGE_INTEGRITY_SHA256)
        for attr in message.attributes[start + 1 :]:
            if attr.type != TYPE_FINGERPRINT:
                out.append(
                    Violation(
                        "integrity-sha256.position", f"{attr.name} follows MESSAGE-INTEGRITY-SHA256", offset=attr.offset
                    )
                )
    if TYPE_FINGERPRINT in types:
        start = types.index(TYPE_FINGERPRINT)
        for attr in message.attributes[start + 1 :]:
            out.append(Violation("fingerprint.position", f"{attr.name} follows FINGERPRINT", offset=attr.offset))
    return out


def _digests(data: bytes, message: Message, key: bytes | None, sha256_key: bytes | None) -> list[Violation]:
    out = []
    fp = message.find(TYPE_FINGERPRINT)
    if fp is not None and not fp.error:
        expected = fingerprint_of(data[: fp.offset])
        if fp.value != expected:
            out.append(
                Violation("fingerprint.mismatch", f"0x{fp.value:08x}, computed 0x{expected:08x}", offset=fp.offset)
            )
    mi = message.find(TYPE_MESSAGE_INTEGRITY)
    mi256 = message.find(TYPE_MESSAGE_INTEGRITY_SHA256)
    if key is not None and mi is None and mi256 is None:
        out.append(Violation("integrity.missing", "neither MESSAGE-INTEGRITY nor MESSAGE-INTEGRITY-SHA256 is present"))
    if key is not None and mi is not None and not mi.error:
        if not hmac.compare_digest(mi.value, integrity_of(data[: mi.offset], key)):
            out.append(Violation("integrity.mismatch", "HMAC-SHA1 does not match the key", offset=mi.offset))
    if sha256_key is not None and mi256 is not None and not mi256.error:
        expected256 = integrity_of(data[: mi256.offset], sha256_key, sha256=True)[: len(mi256.value)]
        if not hmac.compare_digest(mi256.value, expected256):
            out.append(
                Violation("integrity-sha256.mismatch", "HMAC-SHA256 does not match the key", offset=mi256.offset)
            )
    return out


def _semantics(message: Message) -> list[Violation]:
    out = []
    if message.message_class == MessageClass.ERROR:
        code = message.error_code
        if code is None:
            out.append(Violation("error-response.error-code", "error response without a valid ERROR-CODE"))
        elif code == 420 and "UNKNOWN-ATTRIBUTES" not in message:
            out.append(Violation("error-420.unknown-attributes", "420 response without UNKNOWN-ATTRIBUTES"))
    if (
        message.method == Method.BINDING
        and message.message_class == MessageClass.SUCCESS
        and not message.is_classic
        and message.get("XOR-MAPPED-ADDRESS") is None
    ):
        out.append(Violation("binding.xor-mapped-address", "Binding success response without XOR-MAPPED-ADDRESS"))
    return out
