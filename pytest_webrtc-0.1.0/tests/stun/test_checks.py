"""Strict mode: every rule is caught on a deliberately broken message and silent on a good one."""

from __future__ import annotations

import struct

import pytest

from pytest_webrtc.errors import StunCheckError
from pytest_webrtc.stun import RULES, Message, MessageClass, Method, Violation, check, decode_strict

TID = bytes(range(12))
KEY = b"VOkJxbRl1RmTxUk/WvJxBt"


def request() -> Message:
    return Message(Method.BINDING, MessageClass.REQUEST, TID).add("SOFTWARE", "x").add("PRIORITY", 7)


def success() -> Message:
    return Message(Method.BINDING, MessageClass.SUCCESS, TID).add("XOR-MAPPED-ADDRESS", ("192.0.2.1", 5000))


def with_length(data: bytes, length: int) -> bytes:
    return data[:2] + struct.pack("!H", length) + data[4:]


def corrupt_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def raw_attr(attr_type: int, value: bytes) -> bytes:
    return struct.pack("!HH", attr_type, len(value)) + value + b"\x00" * (-len(value) % 4)


def appended(data: bytes, attr: bytes) -> bytes:
    return with_length(data + attr, len(data) - 20 + len(attr))


# rule -> (broken bytes, check() keyword arguments)
BROKEN = {
    "header.short": (request().encode()[:19], {}),
    "header.top-bits": (b"\xc0" + request().encode()[1:], {}),
    "header.length-alignment": (with_length(request().encode() + b"\x00\x00", 18), {}),
    "header.length-mismatch": (request().encode() + b"\x00\x00\x00\x00", {}),
    "header.magic-cookie": (request().encode()[:4] + b"\x00\x00\x00\x00" + request().encode()[8:], {}),
    "attribute.truncated": (with_length(request().encode()[:-4], 12), {}),
    "attribute.value": (request().add_raw(0x0024, b"\x00\x00\x01").encode(), {}),
    "attribute.text-length": (request().add("USERNAME", "u" * 509).encode(), {}),
    "attribute.duplicate": (request().add("PRIORITY", 8).encode(), {}),
    "address.family": (success().add_raw(0x0001, b"\x00\x03\x00\x50\xc0\x00\x02\x01").encode(), {}),
    "address.reserved": (success().add_raw(0x0001, b"\x01\x01\x00\x50\xc0\x00\x02\x01").encode(), {}),
    "integrity.position": (appended(request().encode(integrity_key=KEY), raw_attr(0x8022, b"late")), {}),
    "integrity.missing": (request().encode(), {"key": KEY}),
    "integrity.mismatch": (request().encode(integrity_key=b"wrong key"), {"key": KEY}),
    "integrity-sha256.position": (appended(request().encode(integrity_sha256_key=KEY), raw_attr(0x8022, b"late")), {}),
    "integrity-sha256.mismatch": (request().encode(integrity_sha256_key=b"wrong key"), {"key": KEY}),
    "fingerprint.mismatch": (corrupt_last_byte(request().encode(fingerprint=True)), {}),
    "fingerprint.position": (appended(request().encode(fingerprint=True), raw_attr(0x8022, b"late")), {}),
    "fingerprint.missing": (request().encode(), {"require_fingerprint": True}),
    "error-response.error-code": (Message(Method.BINDING, MessageClass.ERROR, TID).encode(), {}),
    "error-420.unknown-attributes": (
        Message(Method.BINDING, MessageClass.ERROR, TID).add("ERROR-CODE", (420, "Unknown")).encode(),
        {},
    ),
    "binding.xor-mapped-address": (Message(Method.BINDING, MessageClass.SUCCESS, TID).encode(), {}),
}


def test_every_rule_has_a_broken_example() -> None:
    assert set(BROKEN) == set(RULES)


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_rule_fails_on_broken_message(rule: str) -> None:
    data, kwargs = BROKEN[rule]
    found = check(data, **kwargs)  # type: ignore[arg-type]
    assert rule in {v.rule for v in found}, found
    violation = next(v for v in found if v.rule == rule)
    assert violation.section.startswith("RFC ")


GOOD = {
    "request": (request().encode(), {}),
    "signed request": (
        request().encode(integrity_key=KEY, fingerprint=True),
        {"key": KEY, "require_fingerprint": True},
    ),
    "sha256-signed request": (request().encode(integrity_sha256_key=KEY), {"key": KEY}),
    "both integrities": (request().encode(integrity_key=KEY, integrity_sha256_key=KEY, fingerprint=True), {"key": KEY}),
    "success v4": (success().encode(fingerprint=True), {}),
    "success v6": (
        Message(Method.BINDING, MessageClass.SUCCESS, TID).add("XOR-MAPPED-ADDRESS", ("2001:db8::1", 1)).encode(),
        {},
    ),
    "420 error": (
        Message(Method.BINDING, MessageClass.ERROR, TID)
        .add("ERROR-CODE", (420, "Unknown Attribute"))
        .add("UNKNOWN-ATTRIBUTES", [0x7FF0])
        .encode(fingerprint=True),
        {},
    ),
    "classic allowed": (request().encode()[:4] + b"\x01\x02\x03\x04" + request().encode()[8:], {"allow_classic": True}),
    "unknown attribute with odd padding": (request().add_raw(0xC001, b"\x01").encode(), {}),
    "repeatable TURN attribute": (
        Message(Method.CREATE_PERMISSION, MessageClass.REQUEST, TID)
        .add("XOR-PEER-ADDRESS", ("192.0.2.1", 0))
        .add("XOR-PEER-ADDRESS", ("192.0.2.2", 0))
        .encode(),
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_conforming_message_has_no_violation(name: str) -> None:
    data, kwargs = GOOD[name]
    assert check(data, **kwargs) == []  # type: ignore[arg-type]


def test_violation_text_names_rule_section_and_offset() -> None:
    data, _ = BROKEN["fingerprint.mismatch"]
    (violation,) = check(data)
    assert str(violation).startswith("fingerprint.mismatch (RFC 8489 §14.7) at byte 36: 0x")


def test_address_family_cites_the_attribute_section() -> None:
    data = success().add_raw(0x0020, b"\x00\x05\x00\x50\xc0\x00\x02\x01").encode()
    found = [v for v in check(data) if v.rule == "address.family"]
    assert found and found[0].section == "RFC 8489 §14.2"
    assert "XOR-MAPPED-ADDRESS: address family 0x05" in found[0].detail


def test_decode_strict_raises_with_all_violations() -> None:
    data = request().add("PRIORITY", 1).encode(integrity_key=b"bad")
    with pytest.raises(StunCheckError) as info:
        decode_strict(data, key=KEY)
    assert {v.rule for v in info.value.violations} == {"attribute.duplicate", "integrity.mismatch"}


def test_unknown_rule_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown rule"):
        Violation("no.such.rule", "x")
