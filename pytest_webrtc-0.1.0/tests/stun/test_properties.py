"""Properties of the codec, checked by Hypothesis: what must hold for every input, not just our examples."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_webrtc.errors import StunDecodeError
from pytest_webrtc.stun import Message, MessageClass, Method, check, decode

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Messages built from the parts the codec knows: any method and class, a few typed attributes.
attributes = st.lists(
    st.one_of(
        st.tuples(st.just("SOFTWARE"), st.text(max_size=40)),
        st.tuples(st.just("USERNAME"), st.text(min_size=1, max_size=40)),
        st.tuples(
            st.just("XOR-MAPPED-ADDRESS"),
            st.tuples(st.ip_addresses(v=4).map(str), st.integers(min_value=1, max_value=65535)),
        ),
        st.tuples(st.just("PRIORITY"), st.integers(min_value=0, max_value=2**32 - 1)),
        st.tuples(st.just("ERROR-CODE"), st.tuples(st.integers(min_value=300, max_value=699), st.text(max_size=30))),
    ),
    max_size=5,
    unique_by=lambda pair: pair[0],
)
messages = st.builds(
    lambda method, klass, tid, attrs: (Message(method, klass, tid), attrs),
    st.sampled_from([Method.BINDING, 0x003, 0x004, 0x0FF]),
    st.sampled_from(list(MessageClass)),
    st.binary(min_size=12, max_size=12),
    attributes,
)


def build(pair: tuple[Message, list[tuple[str, object]]]) -> Message:
    message, attrs = pair
    for name, value in attrs:
        message.add(name, value)
    return message


@SETTINGS
@given(st.binary(max_size=600))
def test_decode_raises_only_its_own_error(data: bytes) -> None:
    try:
        decode(data)
    except StunDecodeError:
        pass


@SETTINGS
@given(st.binary(max_size=600), st.binary(max_size=16) | st.none(), st.booleans())
def test_check_never_raises(data: bytes, key: bytes | None, fingerprint: bool) -> None:
    assert isinstance(check(data, key=key, require_fingerprint=fingerprint), list)


@SETTINGS
@given(messages)
def test_encode_then_decode_round_trips(pair: tuple[Message, list[tuple[str, object]]]) -> None:
    message = build(pair)
    data = message.encode(fingerprint=True)
    again = decode(data)
    assert (again.method, again.message_class, again.transaction_id) == (
        message.method, message.message_class, message.transaction_id
    )  # fmt: skip
    for name, value in pair[1]:
        got = again.get(name)
        assert (tuple(got) if isinstance(got, (list, tuple)) else got) == (
            tuple(value) if isinstance(value, (list, tuple)) else value
        ), name
    # Well-formed bytes: no framing, attribute or digest rule broken (what a class demands of its
    # content, e.g. XOR-MAPPED-ADDRESS in a Binding success, depends on what was generated).
    semantic = {"binding.xor-mapped-address", "error-response.error-code", "error-420.unknown-attributes"}
    assert [v for v in check(data, require_fingerprint=True) if v.rule not in semantic] == []
    assert (
        again.encode()
        == Message(message.method, message.message_class, message.transaction_id, attributes=again.attributes).encode()
    )


@SETTINGS
@given(messages, st.data())
def test_every_single_bit_flip_is_caught_by_the_strict_rules(
    pair: tuple[Message, list[tuple[str, object]]], data: st.DataObject
) -> None:
    """The oracle: FINGERPRINT (CRC-32) covers every byte before it, and itself: one flipped bit anywhere
    in a fingerprinted message must give at least one violation."""
    encoded = bytearray(build(pair).encode(fingerprint=True))
    bit = data.draw(st.integers(min_value=0, max_value=len(encoded) * 8 - 1))
    encoded[bit // 8] ^= 1 << (bit % 8)
    assert check(bytes(encoded), require_fingerprint=True) != [], f"bit {bit} flipped, no violation"
