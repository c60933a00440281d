"""The STUN codec: header bits, every attribute's round trip, unknown attributes, classic messages."""

from __future__ import annotations

import struct

import aioice.stun
import pytest

from pytest_webrtc.errors import StunDecodeError
from pytest_webrtc.stun import Message, MessageClass, Method, decode, looks_like_stun
from pytest_webrtc.stun.attributes import ATTRIBUTES_BY_NAME, attribute_name
from pytest_webrtc.stun.message import decode_type, encode_type

TID = bytes(range(12))

# One representative value per attribute in the table: every row must round-trip.
VALUES = {
    "MAPPED-ADDRESS": ("192.0.2.1", 32853),
    "RESPONSE-ADDRESS": ("192.0.2.2", 1),
    "CHANGE-REQUEST": 6,
    "SOURCE-ADDRESS": ("192.0.2.3", 2),
    "CHANGED-ADDRESS": ("2001:db8::1", 3),
    "USERNAME": "evtj:h6vY",
    "MESSAGE-INTEGRITY": bytes(range(20)),
    "ERROR-CODE": (420, "Unknown Attribute"),
    "UNKNOWN-ATTRIBUTES": [0x7FF0, 0x0031],
    "CHANNEL-NUMBER": 0x4001,
    "LIFETIME": 600,
    "XOR-PEER-ADDRESS": ("2001:db8:1234:5678:11:2233:4455:6677", 32853),
    "DATA": b"\x01\x02\x03",
    "REALM": "example.org",
    "NONCE": "f//499k954d6OL34oL9FSTvy64sA",
    "XOR-RELAYED-ADDRESS": ("198.51.100.7", 49152),
    "REQUESTED-ADDRESS-FAMILY": 2,
    "EVEN-PORT": 0x80,
    "REQUESTED-TRANSPORT": 17,
    "DONT-FRAGMENT": None,
    "MESSAGE-INTEGRITY-SHA256": bytes(range(32)),
    "PASSWORD-ALGORITHM": (2, b""),
    "USERHASH": bytes(range(32)),
    "XOR-MAPPED-ADDRESS": ("192.0.2.1", 32853),
    "RESERVATION-TOKEN": bytes(8),
    "PRIORITY": 1845494271,
    "USE-CANDIDATE": None,
    "PADDING": bytes(5),
    "RESPONSE-PORT": 40000,
    "PASSWORD-ALGORITHMS": [(1, b""), (2, b"")],
    "ALTERNATE-DOMAIN": "stun.example.org",
    "SOFTWARE": "STUN test client",
    "ALTERNATE-SERVER": ("203.0.113.9", 3478),
    "CACHE-TIMEOUT": 60,
    "FINGERPRINT": 0xE57A3BCF,
    "ICE-CONTROLLED": 0x932FF9B151263B36,
    "ICE-CONTROLLING": 1,
    "RESPONSE-ORIGIN": ("192.0.2.4", 3479),
    "OTHER-ADDRESS": ("192.0.2.5", 3480),
}


def test_every_table_row_has_a_test_value() -> None:
    assert set(VALUES) == set(ATTRIBUTES_BY_NAME)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_attribute_round_trip(name: str) -> None:
    message = Message(Method.BINDING, MessageClass.REQUEST, TID).add(name, VALUES[name])
    data = message.encode()
    decoded = decode(data)
    (attr,) = decoded.attributes
    assert attr.name == name and attr.error is None
    assert attr.value == VALUES[name]
    assert len(data) % 4 == 0
    assert decoded.encode() == data


@pytest.mark.parametrize("method", [1, 3, 0x00A, 0xFFF])
@pytest.mark.parametrize("klass", list(MessageClass))
def test_message_type_interleaving(method: int, klass: MessageClass) -> None:
    assert decode_type(encode_type(method, klass)) == (method, klass)


def test_known_type_values() -> None:
    # RFC 8489 §5: Binding request 0x0001, success 0x0101, error 0x0111, indication 0x0011.
    assert [encode_type(1, k) for k in MessageClass] == [0x0001, 0x0011, 0x0101, 0x0111]


def test_xor_mapped_address_bytes_rfc8489() -> None:
    # RFC 5769 §2.2: 192.0.2.1:32853 XORed with the cookie is 0xa147 / 0xe112a643.
    data = Message(Method.BINDING, MessageClass.SUCCESS, TID).add("XOR-MAPPED-ADDRESS", ("192.0.2.1", 32853)).encode()
    assert data[20:32].hex() == "002000080001a147e112a643"


def test_unknown_attributes_survive_round_trip() -> None:
    message = Message(Method.BINDING, MessageClass.REQUEST, TID)
    message.add_raw(0xC057, b"\x00\x01\x00\x0a\x00")  # comprehension-optional, odd length
    message.add_raw(0x7FF0, b"xyz")
    data = message.encode()
    decoded = decode(data)
    assert [(a.type, a.value) for a in decoded] == [(0xC057, b"\x00\x01\x00\x0a\x00"), (0x7FF0, b"xyz")]
    assert attribute_name(0xC057) == "0xC057"
    assert decoded.encode() == data


def test_any_padding_value_is_accepted_and_kept() -> None:
    data = bytearray(Message(Method.BINDING, MessageClass.REQUEST, TID).add("SOFTWARE", "abcde").encode())
    data[-3:] = b"\xff\x20\x7e"
    decoded = decode(bytes(data))
    assert decoded.get("SOFTWARE") == "abcde"
    assert decoded.encode() == bytes(data)


def test_classic_rfc3489_message_without_cookie() -> None:
    data = struct.pack("!HH", 0x0001, 0) + bytes(range(16))
    message = decode(data)
    assert message.is_classic and message.cookie == bytes(range(4)) and message.transaction_id == bytes(range(4, 16))
    assert not looks_like_stun(data)


@pytest.mark.parametrize(
    "data, text",
    [
        (b"\x00\x01\x00", "header.short"),
        (b"\x80\x01\x00\x00\x21\x12\xa4\x42" + TID, "header.top-bits"),
        (b"\x00\x01\x00\x04\x21\x12\xa4\x42" + TID, "header.length-mismatch"),
        (b"\x00\x01\x00\x02\x21\x12\xa4\x42" + TID + b"\x00\x00", "header.length-alignment"),
        (b"\x00\x01\x00\x04\x21\x12\xa4\x42" + TID + b"\x80\x22\x00\x08", "attribute.truncated"),
    ],
)
def test_unframeable_bytes_raise(data: bytes, text: str) -> None:
    with pytest.raises(StunDecodeError, match=text):
        decode(data)


def test_undecodable_value_is_kept_raw_with_error() -> None:
    message = Message(Method.BINDING, MessageClass.REQUEST, TID).add_raw(0x0024, b"\x00\x01")  # PRIORITY needs 4
    decoded = decode(message.encode())
    attr = decoded.find("PRIORITY")
    assert attr is not None and attr.value == b"\x00\x01" and "expected 4" in (attr.error or "")
    assert decoded.get("PRIORITY") is None


def test_aioice_reads_what_we_write() -> None:
    """Differential check against an independent codec (aioice) on a signed, fingerprinted message."""
    key = b"secret-password"
    ours = (
        Message(Method.BINDING, MessageClass.REQUEST, TID)
        .add("USERNAME", "a:b")
        .add("PRIORITY", 1234)
        .add("ICE-CONTROLLING", 99)
        .add("USE-CANDIDATE")
        .encode(integrity_key=key, fingerprint=True)
    )
    theirs = aioice.stun.parse_message(ours)  # raises if our FINGERPRINT were wrong
    assert theirs.check_message_integrity(key)
    assert theirs.transaction_id == TID
    assert theirs.attributes["USERNAME"] == "a:b"
    assert theirs.attributes["PRIORITY"] == 1234
    assert theirs.attributes["ICE-CONTROLLING"] == 99
    assert "USE-CANDIDATE" in theirs.attributes


def test_we_read_what_aioice_writes() -> None:
    theirs = aioice.stun.Message(
        message_method=aioice.stun.Method.BINDING, message_class=aioice.stun.Class.RESPONSE, transaction_id=TID
    )
    theirs.attributes["XOR-MAPPED-ADDRESS"] = ("2001:db8::7", 4242)
    theirs.add_message_integrity(b"k")
    theirs.add_fingerprint()
    ours = decode(bytes(theirs))
    assert ours.get("XOR-MAPPED-ADDRESS") == ("2001:db8::7", 4242)
    assert ours.message_class == MessageClass.SUCCESS
