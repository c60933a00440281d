"""RFC 5769 test vectors: parse, check, re-encode byte for byte; any single bit flip is caught."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_webrtc.stun import Attribute, Message, MessageClass, check, decode
from pytest_webrtc.stun.credentials import long_term_key, saslprep, short_term_key

NAMES = ["2.1", "2.2", "2.3", "2.4"]


def key_for(vector: dict[str, Any]) -> bytes:
    if "short_term_password" in vector:
        return short_term_key(vector["short_term_password"])
    lt = vector["long_term"]
    return long_term_key(lt["username"], lt["realm"], lt["password"])


@pytest.fixture(params=range(4), ids=NAMES)
def vector(request: pytest.FixtureRequest, rfc5769_vectors: list[dict[str, Any]]) -> dict[str, Any]:
    return rfc5769_vectors[request.param]


def test_vector_decodes_to_the_documented_values(vector: dict[str, Any]) -> None:
    message = decode(bytes.fromhex(vector["hex"]))
    assert message.method == 1
    assert message.message_class == {"request": MessageClass.REQUEST, "success": MessageClass.SUCCESS}[vector["class"]]
    for name, expected in vector["attributes"].items():
        value = message.get(name)
        if name == "ICE-CONTROLLED":
            value = value.to_bytes(8, "big").hex()
        if isinstance(value, tuple):
            value = list(value)
        assert value == expected, name


def test_vector_passes_strict_checks_with_its_key(vector: dict[str, Any]) -> None:
    assert check(bytes.fromhex(vector["hex"]), key=key_for(vector)) == []


def test_vector_reencodes_byte_for_byte(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    assert decode(data).encode() == data


def test_vector_rebuilt_from_values_matches(vector: dict[str, Any]) -> None:
    """Rebuild from decoded values (recomputing integrity and fingerprint), keeping the received padding."""
    data = bytes.fromhex(vector["hex"])
    parsed = decode(data)
    rebuilt = Message(parsed.method, parsed.message_class, parsed.transaction_id)
    for attr in parsed.attributes:
        if attr.name not in ("MESSAGE-INTEGRITY", "FINGERPRINT"):
            rebuilt.attributes.append(Attribute(attr.type, attr.value, padding=attr.padding))
    encoded = rebuilt.encode(integrity_key=key_for(vector), fingerprint="FINGERPRINT" in parsed)
    assert encoded == data


def test_every_single_bit_flip_is_caught(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    key = key_for(vector)
    missed = []
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        if not check(bytes(flipped), key=key):
            missed.append(bit)
    assert missed == []


def test_rfc5769_password_needs_saslprep() -> None:
    # RFC 5769 §2.4: the password before SASLprep is "The<U+00AD>M<U+00AA>tr<U+2168>".
    assert saslprep("The\u00adM\u00aatr\u2168") == "TheMatrIX"
