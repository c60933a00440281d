"""STUN messages: header, attributes, encoding and decoding (RFC 8489 §5, §14).

``decode`` frames bytes into a :class:`Message` and refuses what cannot be
framed; attribute values it cannot understand are kept raw with an error text
instead of failing the message, so a server can still answer 400 and a verifier
can still report every problem (see :mod:`pytest_webrtc.stun.checks`).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import StunDecodeError
from .attributes import ATTRIBUTES, ATTRIBUTES_BY_NAME, attribute_name
from .violations import Violation

__all__ = [
    "FINGERPRINT_XOR",
    "HEADER_LENGTH",
    "MAGIC_COOKIE",
    "Attribute",
    "Message",
    "MessageClass",
    "Method",
    "decode",
    "fingerprint_of",
    "frame",
    "integrity_of",
    "looks_like_stun",
]

MAGIC_COOKIE = 0x2112A442
MAGIC_COOKIE_BYTES = struct.pack("!I", MAGIC_COOKIE)
HEADER_LENGTH = 20
FINGERPRINT_XOR = 0x5354554E
TYPE_MESSAGE_INTEGRITY = 0x0008
TYPE_MESSAGE_INTEGRITY_SHA256 = 0x001C
TYPE_FINGERPRINT = 0x8028


class MessageClass(enum.IntEnum):
    REQUEST = 0
    INDICATION = 1
    SUCCESS = 2
    ERROR = 3


class Method(enum.IntEnum):
    BINDING = 0x001
    SHARED_SECRET = 0x002
    ALLOCATE = 0x003
    REFRESH = 0x004
    SEND = 0x006
    DATA = 0x007
    CREATE_PERMISSION = 0x008
    CHANNEL_BIND = 0x009
    CONNECT = 0x00A
    CONNECTION_BIND = 0x00B
    CONNECTION_ATTEMPT = 0x00C


def encode_type(method: int, message_class: int) -> int:
    """Interleave method bits M0-M11 with class bits C0, C1 (RFC 8489 §5, figure 3)."""
    return (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((message_class & 0x1) << 4)
        | ((message_class & 0x2) << 7)
    )


def decode_type(message_type: int) -> tuple[int, MessageClass]:
    method = (message_type & 0x000F) | ((message_type & 0x00E0) >> 1) | ((message_type & 0x3E00) >> 2)
    klass = ((message_type & 0x0010) >> 4) | ((message_type & 0x0100) >> 7)
    return method, MessageClass(klass)


_METHOD_NAMES = {m.value: m.name.replace("_", "-") for m in Method}


def method_name(method: int) -> str:
    return _METHOD_NAMES.get(method) or f"0x{method:03X}"


def _resolve(name_or_type: str | int) -> int:
    if isinstance(name_or_type, int):
        return name_or_type
    try:
        return ATTRIBUTES_BY_NAME[name_or_type].type
    except KeyError:
        raise KeyError(f"unknown STUN attribute name {name_or_type!r}") from None


@dataclass(frozen=True)
class Attribute:
    """One attribute as it stands in a message.

    ``value`` is the decoded value (raw bytes for unknown types or when
    decoding failed, in which case ``error`` says why).  ``raw`` holds the
    value bytes as received, so re-encoding a parsed message is byte-exact;
    ``padding`` keeps the received padding bytes for the same reason (any
    value is legal, RFC 8489 §14).
    """

    type: int
    value: Any
    raw: bytes | None = None
    padding: bytes | None = None
    offset: int = -1
    error: str | None = None

    @property
    def name(self) -> str:
        return attribute_name(self.type)

    def value_bytes(self, xor_pad: bytes) -> bytes:
        if self.raw is not None:
            return self.raw
        spec = ATTRIBUTES.get(self.type)
        if spec is None:
            return bytes(self.value)
        return spec.pack(self.value, xor_pad)


@dataclass
class Message:
    """A STUN message.  Build one, ``encode()`` it, or get one from :func:`decode`."""

    method: int
    message_class: MessageClass
    transaction_id: bytes = field(default_factory=lambda: os.urandom(12))
    attributes: list[Attribute] = field(default_factory=list)
    cookie: bytes = MAGIC_COOKIE_BYTES

    def __post_init__(self) -> None:
        if len(self.transaction_id) != 12:
            raise ValueError("transaction id must be 12 bytes")
        if len(self.cookie) != 4:
            raise ValueError("cookie must be 4 bytes")
        self.message_class = MessageClass(self.message_class)

    # -- reading ---------------------------------------------------------------

    @property
    def is_classic(self) -> bool:
        """True for an RFC 3489 message (no magic cookie)."""
        return self.cookie != MAGIC_COOKIE_BYTES

    @property
    def xor_pad(self) -> bytes:
        return self.cookie + self.transaction_id

    def find(self, name_or_type: str | int) -> Attribute | None:
        """The first attribute of that type (the only one a receiver processes, RFC 8489 §14)."""
        attr_type = _resolve(name_or_type)
        for attr in self.attributes:
            if attr.type == attr_type:
                return attr
        return None

    def get(self, name_or_type: str | int, default: Any = None) -> Any:
        attr = self.find(name_or_type)
        return default if attr is None or attr.error else attr.value

    def __contains__(self, name_or_type: object) -> bool:
        if not isinstance(name_or_type, (str, int)):
            return False
        return self.find(name_or_type) is not None

    def __iter__(self) -> Iterator[Attribute]:
        return iter(self.attributes)

    @property
    def error_code(self) -> int | None:
        value = self.get("ERROR-CODE")
        return None if value is None else int(value[0])

    # -- building --------------------------------------------------------------

    def add(self, name_or_type: str | int, value: Any = None) -> Message:
        """Append an attribute (value packed at encode time); returns self for chaining."""
        self.attributes.append(Attribute(_resolve(name_or_type), value))
        return self

    def add_raw(self, attr_type: int, raw: bytes) -> Message:
        """Append an attribute with exact value bytes, e.g. an unknown or a deliberately broken one."""
        self.attributes.append(Attribute(attr_type, raw, raw=raw))
        return self

    def encode(
        self,
        *,
        integrity_key: bytes | None = None,
        integrity_sha256_key: bytes | None = None,
        fingerprint: bool = False,
    ) -> bytes:
        """Serialize; append MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT if asked.

        Attributes already present are written as they are, so a parsed
        message re-encodes byte for byte.
        """
        pad = self.xor_pad
        parts = []
        for attr in self.attributes:
            value = attr.value_bytes(pad)
            padding = attr.padding if attr.padding is not None else b"\x00" * (-len(value) % 4)
            parts.append(struct.pack("!HH", attr.type, len(value)) + value + padding)
        body = b"".join(parts)
        message_type = encode_type(self.method, self.message_class)
        head = struct.pack("!HH", message_type, 0) + self.cookie + self.transaction_id
        data = head + body
        if integrity_key is not None:
            data += struct.pack("!HH", TYPE_MESSAGE_INTEGRITY, 20) + integrity_of(data, integrity_key)
        if integrity_sha256_key is not None:
            data += struct.pack("!HH", TYPE_MESSAGE_INTEGRITY_SHA256, 32) + integrity_of(
                data, integrity_sha256_key, sha256=True
            )
        if fingerprint:
            data += struct.pack("!HHI", TYPE_FINGERPRINT, 4, fingerprint_of(data))
        return _with_length(data, len(data) - HEADER_LENGTH)

    def __bytes__(self) -> bytes:
        return self.encode()

    def __repr__(self) -> str:
        attrs = ", ".join(f"{a.name}={a.value!r}" for a in self.attributes)
        return (
            f"Message({method_name(self.method)} {self.message_class.name}, tid={self.transaction_id.hex()}, [{attrs}])"
        )


def _with_length(data: bytes, length: int) -> bytes:
    return data[:2] + struct.pack("!H", length) + data[4:]


def integrity_of(data_before: bytes, key: bytes, *, sha256: bool = False) -> bytes:
    """HMAC over ``data_before`` (the message up to the integrity attribute).

    The length field is set as if the integrity attribute were the last one
    (RFC 8489 §14.5, §14.6).
    """
    size = 32 if sha256 else 20
    adjusted = _with_length(data_before, len(data_before) - HEADER_LENGTH + 4 + size)
    return hmac.new(key, adjusted, hashlib.sha256 if sha256 else hashlib.sha1).digest()


def fingerprint_of(data_before: bytes) -> int:
    """CRC-32 of the message up to FINGERPRINT, XOR 0x5354554E (RFC 8489 §14.7)."""
    adjusted = _with_length(data_before, len(data_before) - HEADER_LENGTH + 8)
    return (zlib.crc32(adjusted) ^ FINGERPRINT_XOR) & 0xFFFFFFFF


def looks_like_stun(data: bytes) -> bool:
    """Cheap demultiplexing test (RFC 7983 §7, RFC 8489 §5): a header with top bits zero and the cookie."""
    return len(data) >= HEADER_LENGTH and data[0] < 4 and data[4:8] == MAGIC_COOKIE_BYTES


def frame(data: bytes) -> tuple[Message | None, list[Violation]]:
    """Walk the header and attributes of ``data``, collecting framing violations.

    Returns the message (``None`` when not even a header could be read) and
    every framing problem found; attribute-value problems are recorded on the
    attributes themselves (``Attribute.error``).
    """
    problems: list[Violation] = []
    if len(data) < HEADER_LENGTH:
        return None, [Violation("header.short", f"{len(data)} bytes, a STUN header needs 20")]
    message_type, length = struct.unpack_from("!HH", data)
    cookie = bytes(data[4:8])
    if message_type & 0xC000:
        problems.append(Violation("header.top-bits", f"first byte is 0x{data[0]:02x}", offset=0))
    if length % 4:
        problems.append(Violation("header.length-alignment", f"length {length} is not a multiple of 4", offset=2))
    if length != len(data) - HEADER_LENGTH:
        problems.append(
            Violation(
                "header.length-mismatch",
                f"header says {length} bytes of attributes, the datagram carries {len(data) - HEADER_LENGTH}",
                offset=2,
            )
        )
    method, klass = decode_type(message_type & 0x3FFF)
    message = Message(method, klass, bytes(data[8:20]), cookie=cookie)
    end = min(len(data), HEADER_LENGTH + length)
    pad = message.xor_pad
    offset = HEADER_LENGTH
    while offset < end:
        if offset + 4 > end:
            problems.append(
                Violation(
                    "attribute.truncated",
                    f"{end - offset} stray bytes where an attribute header should be",
                    offset=offset,
                )
            )
            break
        attr_type, attr_len = struct.unpack_from("!HH", data, offset)
        value_start = offset + 4
        value_end = value_start + attr_len
        padded_end = value_end + (-attr_len % 4)
        if padded_end > end:
            problems.append(
                Violation(
                    "attribute.truncated",
                    f"{attribute_name(attr_type)} claims {attr_len} bytes (padded to {padded_end - value_start}), "
                    f"only {end - value_start} remain",
                    offset=offset,
                )
            )
            break
        raw = bytes(data[value_start:value_end])
        padding = bytes(data[value_end:padded_end])
        spec = ATTRIBUTES.get(attr_type)
        value: Any = raw
        error = None
        if spec is not None:
            try:
                value = spec.unpack(raw, pad)
            except ValueError as exc:
                error = str(exc)
        message.attributes.append(Attribute(attr_type, value, raw=raw, padding=padding, offset=offset, error=error))
        offset = padded_end
    return message, problems


# Framing problems after which the bytes cannot be trusted as one message.
_FATAL = {"header.short", "header.top-bits", "header.length-alignment", "header.length-mismatch", "attribute.truncated"}


def decode(data: bytes) -> Message:
    """Frame ``data`` as one STUN message; raise :class:`StunDecodeError` if impossible.

    Lenient on purpose: unknown attributes, undecodable values, any padding
    bytes and a missing magic cookie (RFC 3489) are accepted.  Use
    :func:`pytest_webrtc.stun.checks.check` for a strict judgement.
    """
    message, problems = frame(data)
    fatal = [p for p in problems if p.rule in _FATAL]
    if message is None or fatal:
        raise StunDecodeError("; ".join(str(p) for p in fatal or problems))
    return message
