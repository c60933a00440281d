"""STUN attribute types and the codecs of their values.

One table row per attribute: its type code, its RFC name, how to pack and
unpack its value, and the RFC section that defines it.  Unpackers raise
``ValueError`` with a short text saying what is wrong; the message codec turns
that into a named violation.  Sources: RFC 8489 §14 and §18.3, RFC 8445
§16.1 (ICE), RFC 5780 §7 (NAT behaviour discovery), RFC 8656 §18 (TURN).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..addresses import Address

__all__ = [
    "ATTRIBUTES",
    "ATTRIBUTES_BY_NAME",
    "AttributeSpec",
    "CHANGE_IP",
    "CHANGE_PORT",
    "attribute_name",
    "is_comprehension_required",
]

FAMILY_IPV4 = 0x01
FAMILY_IPV6 = 0x02
CHANGE_IP = 0x04
CHANGE_PORT = 0x02

# (value, xor_pad) -> bytes, where xor_pad is the 16 header bytes cookie + transaction id.
Packer = Callable[[Any, bytes], bytes]
Unpacker = Callable[[bytes, bytes], Any]


@dataclass(frozen=True)
class AttributeSpec:
    type: int
    name: str
    pack: Packer
    unpack: Unpacker
    rfc: str


def is_comprehension_required(attr_type: int) -> bool:
    """RFC 8489 §14: types 0x0000-0x7FFF must be understood by the receiver."""
    return attr_type < 0x8000


# --- addresses (RFC 8489 §14.1, §14.2) ---------------------------------------


def _pack_address_body(value: Address) -> tuple[int, bytes]:
    # socket.inet_pton is an order of magnitude faster than ipaddress on the server's hot path.
    host = value[0]
    if ":" in host:
        return FAMILY_IPV6, socket.inet_pton(socket.AF_INET6, host)
    return FAMILY_IPV4, socket.inet_pton(socket.AF_INET, host)


def pack_address(value: Address, _pad: bytes = b"") -> bytes:
    family, packed = _pack_address_body(value)
    return struct.pack("!BBH", 0, family, value[1]) + packed


def _xor(data: bytes, pad: bytes) -> bytes:
    n = len(data)
    return (int.from_bytes(data, "big") ^ int.from_bytes(pad[:n], "big")).to_bytes(n, "big")


def pack_xor_address(value: Address, pad: bytes) -> bytes:
    family, packed = _pack_address_body(value)
    port = value[1] ^ (pad[0] << 8 | pad[1])
    return struct.pack("!BBH", 0, family, port) + _xor(packed, pad)


def _split_address(data: bytes) -> tuple[int, int, bytes]:
    if len(data) < 4:
        raise ValueError(f"address value is {len(data)} bytes, expected 8 (IPv4) or 20 (IPv6)")
    reserved, family, port = struct.unpack_from("!BBH", data)
    if family == FAMILY_IPV4:
        expected = 8
    elif family == FAMILY_IPV6:
        expected = 20
    else:
        raise ValueError(f"address family 0x{family:02x} is neither 0x01 (IPv4) nor 0x02 (IPv6)")
    if len(data) != expected:
        raise ValueError(f"address value is {len(data)} bytes, expected {expected} for family 0x{family:02x}")
    return family, port, data[4:]


def _ntop(raw: bytes) -> str:
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    # ipaddress gives the canonical RFC 5952 text for IPv6 (e.g. ::ffff:1.2.3.4 forms).
    return str(ipaddress.IPv6Address(raw))


def unpack_address(data: bytes, _pad: bytes = b"") -> Address:
    _family, port, raw = _split_address(data)
    return _ntop(raw), port


def unpack_xor_address(data: bytes, pad: bytes) -> Address:
    _family, port, raw = _split_address(data)
    port ^= pad[0] << 8 | pad[1]
    return _ntop(_xor(raw, pad)), port


# --- scalar and text values --------------------------------------------------


def _fixed(length: int, what: str) -> Callable[[bytes], None]:
    def check(data: bytes) -> None:
        if len(data) != length:
            raise ValueError(f"{what} value is {len(data)} bytes, expected {length}")

    return check


def _uint32(data: bytes, _pad: bytes = b"") -> int:
    _fixed(4, "32-bit")(data)
    return int(struct.unpack("!I", data)[0])


def _pack_uint32(value: int, _pad: bytes = b"") -> bytes:
    return struct.pack("!I", value)


def _uint64(data: bytes, _pad: bytes = b"") -> int:
    _fixed(8, "64-bit")(data)
    return int(struct.unpack("!Q", data)[0])


def _pack_uint64(value: int, _pad: bytes = b"") -> bytes:
    return struct.pack("!Q", value)


def _empty(data: bytes, _pad: bytes = b"") -> None:
    if data:
        raise ValueError(f"value is {len(data)} bytes, expected 0")


def _pack_empty(_value: Any, _pad: bytes = b"") -> bytes:
    return b""


def _raw(data: bytes, _pad: bytes = b"") -> bytes:
    return bytes(data)


def _pack_raw(value: bytes, _pad: bytes = b"") -> bytes:
    return bytes(value)


def _text(max_bytes: int) -> Unpacker:
    """UTF-8 text with an upper bound on its encoded length (RFC 8489 §14.3, §14.9, §14.10, §14.14)."""

    def unpack(data: bytes, _pad: bytes = b"") -> str:
        if len(data) > max_bytes:
            raise ValueError(f"value is {len(data)} bytes, more than the {max_bytes} allowed")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"value is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None

    return unpack


# RFC 8489 §14.3/14.9/14.10/14.14: text attributes must be parsable up to 763 bytes.
_TEXT_763 = _text(763)


def _pack_text(value: str, _pad: bytes = b"") -> bytes:
    return value.encode("utf-8")


def _fixed_bytes(length: int) -> Unpacker:
    def unpack(data: bytes, _pad: bytes = b"") -> bytes:
        _fixed(length, "")(data)
        return bytes(data)

    return unpack


def _integrity_sha256(data: bytes, _pad: bytes = b"") -> bytes:
    # RFC 8489 §14.6: at least 16 bytes, at most 32, a multiple of 4.
    if not 16 <= len(data) <= 32 or len(data) % 4:
        raise ValueError(f"value is {len(data)} bytes, expected 16 to 32 in steps of 4")
    return bytes(data)


def _error_code(data: bytes, _pad: bytes = b"") -> tuple[int, str]:
    # RFC 8489 §14.8: 21 reserved bits, 3-bit class (3..6), 8-bit number (0..99), reason.
    if len(data) < 4:
        raise ValueError(f"value is {len(data)} bytes, expected at least 4")
    head, klass, number = struct.unpack_from("!HBB", data)
    if head != 0 or klass & 0xF8:
        raise ValueError("reserved bits are not zero")
    klass &= 0x07
    if not 3 <= klass <= 6 or number > 99:
        raise ValueError(f"code {klass}{number:02d} is outside 300-699 (class {klass}, number {number})")
    reason = _TEXT_763(data[4:], b"")
    return klass * 100 + number, reason


def _pack_error_code(value: tuple[int, str], _pad: bytes = b"") -> bytes:
    code, reason = value
    return struct.pack("!HBB", 0, code // 100, code % 100) + reason.encode("utf-8")


def _unknown_attributes(data: bytes, _pad: bytes = b"") -> list[int]:
    if len(data) % 2:
        raise ValueError(f"value is {len(data)} bytes, expected a multiple of 2")
    return [v for (v,) in struct.iter_unpack("!H", data)]


def _pack_unknown_attributes(value: list[int], _pad: bytes = b"") -> bytes:
    return b"".join(struct.pack("!H", v) for v in value)


def _password_algorithms(data: bytes, _pad: bytes = b"") -> list[tuple[int, bytes]]:
    # RFC 8489 §14.11/§14.12: repeated (algorithm u16, params length u16, params padded to 4).
    out: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise ValueError(f"algorithm entry at byte {offset} is truncated")
        alg, plen = struct.unpack_from("!HH", data, offset)
        offset += 4
        if offset + plen > len(data):
            raise ValueError(f"algorithm parameters at byte {offset} overrun the value")
        out.append((alg, bytes(data[offset : offset + plen])))
        offset += plen + (-plen % 4)
    return out


def _pack_password_algorithms(value: list[tuple[int, bytes]], _pad: bytes = b"") -> bytes:
    parts = []
    for alg, params in value:
        parts.append(struct.pack("!HH", alg, len(params)) + params + b"\x00" * (-len(params) % 4))
    return b"".join(parts)


def _password_algorithm(data: bytes, _pad: bytes = b"") -> tuple[int, bytes]:
    algs = _password_algorithms(data)
    if len(algs) != 1:
        raise ValueError(f"holds {len(algs)} algorithms, expected exactly 1")
    return algs[0]


def _pack_password_algorithm(value: tuple[int, bytes], _pad: bytes = b"") -> bytes:
    return _pack_password_algorithms([value])


def _response_port(data: bytes, _pad: bytes = b"") -> int:
    # RFC 5780 §7.5: 16-bit port followed by 2 bytes of padding.
    _fixed(4, "RESPONSE-PORT")(data)
    return int(struct.unpack_from("!H", data)[0])


def _pack_response_port(value: int, _pad: bytes = b"") -> bytes:
    return struct.pack("!HH", value, 0)


def _change_request(data: bytes, _pad: bytes = b"") -> int:
    # RFC 5780 §7.2: only the change-IP (0x4) and change-port (0x2) bits are defined.
    flags = _uint32(data)
    if flags & ~(CHANGE_IP | CHANGE_PORT):
        raise ValueError(f"flags 0x{flags:08x} set bits other than change-IP and change-port")
    return flags


def _requested_transport(data: bytes, _pad: bytes = b"") -> int:
    # RFC 8656 §18.7: protocol number, then 3 reserved bytes.
    _fixed(4, "REQUESTED-TRANSPORT")(data)
    return data[0]


def _pack_requested_transport(value: int, _pad: bytes = b"") -> bytes:
    return struct.pack("!B3x", value)


def _channel_number(data: bytes, _pad: bytes = b"") -> int:
    _fixed(4, "CHANNEL-NUMBER")(data)
    return int(struct.unpack_from("!H", data)[0])


def _pack_channel_number(value: int, _pad: bytes = b"") -> bytes:
    return struct.pack("!HH", value, 0)


def _byte_flag(data: bytes, _pad: bytes = b"") -> int:
    _fixed(1, "")(data)
    return data[0]


def _pack_byte_flag(value: int, _pad: bytes = b"") -> bytes:
    return bytes([value])


def _row(t: int, name: str, pack: Packer, unpack: Unpacker, rfc: str) -> AttributeSpec:
    return AttributeSpec(t, name, pack, unpack, rfc)


ATTRIBUTES: dict[int, AttributeSpec] = {
    spec.type: spec
    for spec in (
        _row(0x0001, "MAPPED-ADDRESS", pack_address, unpack_address, "RFC 8489 §14.1"),
        _row(0x0002, "RESPONSE-ADDRESS", pack_address, unpack_address, "RFC 3489 §11.2.2"),
        _row(0x0003, "CHANGE-REQUEST", _pack_uint32, _change_request, "RFC 5780 §7.2"),
        _row(0x0004, "SOURCE-ADDRESS", pack_address, unpack_address, "RFC 3489 §11.2.5"),
        _row(0x0005, "CHANGED-ADDRESS", pack_address, unpack_address, "RFC 3489 §11.2.3"),
        _row(0x0006, "USERNAME", _pack_text, _TEXT_763, "RFC 8489 §14.3"),
        _row(0x0008, "MESSAGE-INTEGRITY", _pack_raw, _fixed_bytes(20), "RFC 8489 §14.5"),
        _row(0x0009, "ERROR-CODE", _pack_error_code, _error_code, "RFC 8489 §14.8"),
        _row(0x000A, "UNKNOWN-ATTRIBUTES", _pack_unknown_attributes, _unknown_attributes, "RFC 8489 §14.13"),
        _row(0x000C, "CHANNEL-NUMBER", _pack_channel_number, _channel_number, "RFC 8656 §18.1"),
        _row(0x000D, "LIFETIME", _pack_uint32, _uint32, "RFC 8656 §18.2"),
        _row(0x0012, "XOR-PEER-ADDRESS", pack_xor_address, unpack_xor_address, "RFC 8656 §18.3"),
        _row(0x0013, "DATA", _pack_raw, _raw, "RFC 8656 §18.4"),
        _row(0x0014, "REALM", _pack_text, _TEXT_763, "RFC 8489 §14.9"),
        _row(0x0015, "NONCE", _pack_text, _TEXT_763, "RFC 8489 §14.10"),
        _row(0x0016, "XOR-RELAYED-ADDRESS", pack_xor_address, unpack_xor_address, "RFC 8656 §18.5"),
        _row(0x0017, "REQUESTED-ADDRESS-FAMILY", _pack_requested_transport, _requested_transport, "RFC 8656 §18.6"),
        _row(0x0018, "EVEN-PORT", _pack_byte_flag, _byte_flag, "RFC 8656 §18.7"),
        _row(0x0019, "REQUESTED-TRANSPORT", _pack_requested_transport, _requested_transport, "RFC 8656 §18.8"),
        _row(0x001A, "DONT-FRAGMENT", _pack_empty, _empty, "RFC 8656 §18.9"),
        _row(0x001C, "MESSAGE-INTEGRITY-SHA256", _pack_raw, _integrity_sha256, "RFC 8489 §14.6"),
        _row(0x001D, "PASSWORD-ALGORITHM", _pack_password_algorithm, _password_algorithm, "RFC 8489 §14.12"),
        _row(0x001E, "USERHASH", _pack_raw, _fixed_bytes(32), "RFC 8489 §14.4"),
        _row(0x0020, "XOR-MAPPED-ADDRESS", pack_xor_address, unpack_xor_address, "RFC 8489 §14.2"),
        _row(0x0022, "RESERVATION-TOKEN", _pack_raw, _fixed_bytes(8), "RFC 8656 §18.10"),
        _row(0x0024, "PRIORITY", _pack_uint32, _uint32, "RFC 8445 §16.1"),
        _row(0x0025, "USE-CANDIDATE", _pack_empty, _empty, "RFC 8445 §16.1"),
        _row(0x0026, "PADDING", _pack_raw, _raw, "RFC 5780 §7.6"),
        _row(0x0027, "RESPONSE-PORT", _pack_response_port, _response_port, "RFC 5780 §7.5"),
        _row(0x8002, "PASSWORD-ALGORITHMS", _pack_password_algorithms, _password_algorithms, "RFC 8489 §14.11"),
        _row(0x8003, "ALTERNATE-DOMAIN", _pack_text, _TEXT_763, "RFC 8489 §14.16"),
        _row(0x8022, "SOFTWARE", _pack_text, _TEXT_763, "RFC 8489 §14.14"),
        _row(0x8023, "ALTERNATE-SERVER", pack_address, unpack_address, "RFC 8489 §14.15"),
        _row(0x8027, "CACHE-TIMEOUT", _pack_uint32, _uint32, "RFC 5780 §7.7"),
        _row(0x8028, "FINGERPRINT", _pack_uint32, _uint32, "RFC 8489 §14.7"),
        _row(0x8029, "ICE-CONTROLLED", _pack_uint64, _uint64, "RFC 8445 §16.1"),
        _row(0x802A, "ICE-CONTROLLING", _pack_uint64, _uint64, "RFC 8445 §16.1"),
        _row(0x802B, "RESPONSE-ORIGIN", pack_address, unpack_address, "RFC 5780 §7.3"),
        _row(0x802C, "OTHER-ADDRESS", pack_address, unpack_address, "RFC 5780 §7.4"),
    )
}

ATTRIBUTES_BY_NAME: dict[str, AttributeSpec] = {spec.name: spec for spec in ATTRIBUTES.values()}


def attribute_name(attr_type: int) -> str:
    """The RFC name of an attribute type, or ``0xNNNN`` when we do not know it."""
    spec = ATTRIBUTES.get(attr_type)
    return spec.name if spec else f"0x{attr_type:04X}"
