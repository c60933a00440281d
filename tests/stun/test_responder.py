"""The server's decisions, without sockets: what each datagram gets back (RFC 8489 §6.3, §9)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_webrtc.stun import Message, MessageClass, Method, check, decode
from pytest_webrtc.stun.auth import LongTermAuth, ShortTermAuth
from pytest_webrtc.stun.credentials import PASSWORD_ALGORITHM_SHA256, long_term_key, short_term_key, userhash
from pytest_webrtc.stun.responder import Responder

CLIENT = ("192.0.2.10", 40000)
LOCAL = ("192.0.2.1", 3478)


def binding() -> Message:
    return Message(Method.BINDING, MessageClass.REQUEST)


def answer(responder: Responder, data: bytes, **kwargs: object) -> Message:
    reply = responder.respond(data, CLIENT, LOCAL, **kwargs)  # type: ignore[arg-type]
    assert reply is not None
    assert check(reply.data, allow_classic=True) == []
    return decode(reply.data)


def test_binding_success_has_xor_mapped_software_fingerprint() -> None:
    responder = Responder(software="test-server")
    request = binding()
    response = answer(responder, request.encode())
    assert response.message_class == MessageClass.SUCCESS
    assert response.transaction_id == request.transaction_id
    assert response.get("XOR-MAPPED-ADDRESS") == CLIENT
    assert response.get("SOFTWARE") == "test-server"
    assert "FINGERPRINT" in response and "MAPPED-ADDRESS" not in response
    assert responder.stats.requests == responder.stats.responses == 1
    record = responder.transactions[-1]
    assert (record.client, record.outcome, record.mapped) == (CLIENT, "success", CLIENT)


def test_ipv4_mapped_client_is_reported_as_ipv4() -> None:
    reply = Responder(software="t").respond(binding().encode(), ("::ffff:192.0.2.10", 5), LOCAL)
    assert reply is not None and decode(reply.data).get("XOR-MAPPED-ADDRESS") == ("192.0.2.10", 5)


def test_classic_rfc3489_client_gets_mapped_address_without_fingerprint() -> None:
    data = struct.pack("!HH", 0x0001, 0) + bytes(range(16))
    response = answer(Responder(software="t"), data)
    assert response.is_classic and response.cookie == bytes(range(4))
    assert response.get("MAPPED-ADDRESS") == CLIENT
    assert "XOR-MAPPED-ADDRESS" not in response and "FINGERPRINT" not in response


def test_indication_is_accepted_silently() -> None:
    responder = Responder(software="t")
    data = Message(Method.BINDING, MessageClass.INDICATION).encode(fingerprint=True)
    assert responder.respond(data, CLIENT, LOCAL) is None
    assert responder.stats.indications == 1 and responder.stats.dropped == 0


def test_unknown_comprehension_required_attribute_gets_420() -> None:
    responder = Responder(software="t")
    data = binding().add_raw(0x7FF0, b"abcd").add_raw(0xC0DE, b"opt!").add_raw(0x0031, b"").encode()
    response = answer(responder, data)
    assert response.error_code == 420
    assert response.get("UNKNOWN-ATTRIBUTES") == [0x7FF0, 0x0031]  # not the optional 0xC0DE


def test_rfc5780_attributes_are_unknown_without_an_alternate_address() -> None:
    response = answer(Responder(software="t"), binding().add("CHANGE-REQUEST", 6).encode())
    assert response.error_code == 420 and response.get("UNKNOWN-ATTRIBUTES") == [0x0003]


@pytest.mark.parametrize(
    "data",
    [
        binding().encode() + b"\x00\x00\x00\x00",  # length does not match the datagram
        binding().add_raw(0x0024, b"\x01").encode(),  # PRIORITY of 1 byte
        binding().add_raw(0x0006, b"\xff\xfe").encode(),  # USERNAME not UTF-8
    ],
    ids=["length-mismatch", "bad-priority", "bad-utf8"],
)
def test_malformed_request_with_parsable_header_gets_400(data: bytes) -> None:
    responder = Responder(software="t")
    response = answer(responder, data)
    assert response.error_code == 400
    assert responder.stats.malformed == 1


def test_unsupported_method_gets_400() -> None:
    response = answer(Responder(software="t"), Message(Method.ALLOCATE, MessageClass.REQUEST).encode())
    assert response.error_code == 400 and response.method == Method.ALLOCATE


@pytest.mark.parametrize(
    "data, why",
    [
        (b"hello, not stun at all........", "not STUN"),
        (b"\x16\xfe\xfd" + bytes(30), "not STUN"),  # DTLS
        (b"\x00\x01", "not STUN"),
        (Message(Method.BINDING, MessageClass.SUCCESS).encode(), "a response sent to a server"),
        (struct.pack("!HH", 1, 4) + bytes(16), "header.length-mismatch"),  # no cookie: not surely STUN
    ],
    ids=["text", "dtls", "short", "response", "classic-bad-length"],
)
def test_non_stun_is_dropped_and_counted(data: bytes, why: str) -> None:
    responder = Responder(software="t")
    assert responder.respond(data, CLIENT, LOCAL) is None
    assert responder.stats.dropped == 1
    assert responder.transactions[-1].outcome == f"dropped: {why}"


def test_bad_fingerprint_is_dropped() -> None:
    data = bytearray(binding().encode(fingerprint=True))
    data[-1] ^= 0xFF
    responder = Responder(software="t")
    assert responder.respond(bytes(data), CLIENT, LOCAL) is None
    assert responder.transactions[-1].outcome == "dropped: FINGERPRINT mismatch"


# --- short-term credentials (RFC 8489 §9.1.3) ------------------------------------


def short_term() -> Responder:
    return Responder(software="t", auth=ShortTermAuth("user", "pass"))


def test_short_term_valid_request_gets_signed_success() -> None:
    key = short_term_key("pass")
    response = answer(short_term(), binding().add("USERNAME", "user").encode(integrity_key=key))
    assert response.message_class == MessageClass.SUCCESS
    assert check(response.encode(), key=key) == []
    assert "MESSAGE-INTEGRITY" in response


def test_short_term_sha256_request_gets_sha256_signed_success() -> None:
    key = short_term_key("pass")
    response = answer(short_term(), binding().add("USERNAME", "user").encode(integrity_sha256_key=key))
    assert "MESSAGE-INTEGRITY-SHA256" in response and "MESSAGE-INTEGRITY" not in response
    assert check(response.encode(), key=key) == []


@pytest.mark.parametrize(
    "data, code",
    [
        (binding().encode(), 400),
        (binding().add("USERNAME", "user").encode(), 400),
        (binding().add("USERNAME", "user").encode(integrity_key=b"wrong"), 401),
        (binding().add("USERNAME", "user").encode(integrity_sha256_key=b"wrong"), 401),
        (binding().add("USERNAME", "someone").encode(integrity_key=short_term_key("pass")), 401),
    ],
    ids=["no-credentials", "no-integrity", "wrong-sha1", "wrong-sha256", "unknown-user"],
)
def test_short_term_rejections(data: bytes, code: int) -> None:
    response = answer(short_term(), data)
    assert response.error_code == code
    assert "MESSAGE-INTEGRITY" not in response


# --- long-term credentials (RFC 8489 §9.2.4) -------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def long_term(clock: FakeClock) -> Responder:
    auth = LongTermAuth("example.org", {"alice": "secret"}, nonce_lifetime=60, clock=clock)
    return Responder(software="t", auth=auth)


def challenge(responder: Responder) -> Message:
    response = answer(responder, binding().encode())
    assert response.error_code == 401
    return response


def signed(nonce: str, key: bytes, user: str = "alice", **extra: object) -> bytes:
    message = binding().add("USERNAME", user).add("REALM", "example.org").add("NONCE", nonce)
    for name, value in extra.items():
        message.add(name.replace("_", "-").upper(), value)
    return message.encode(integrity_key=key)


def test_long_term_challenge_then_success() -> None:
    clock = FakeClock()
    responder = long_term(clock)
    first = challenge(responder)
    assert first.get("REALM") == "example.org"
    nonce = first.get("NONCE")
    assert nonce.startswith("obMatJos2")
    assert first.get("PASSWORD-ALGORITHMS") == [(1, b""), (2, b"")]
    key = long_term_key("alice", "example.org", "secret")
    response = answer(responder, signed(nonce, key))
    assert response.message_class == MessageClass.SUCCESS
    assert check(response.encode(), key=key) == []


def test_long_term_stale_nonce_gets_438_with_a_fresh_nonce() -> None:
    clock = FakeClock()
    responder = long_term(clock)
    nonce = challenge(responder).get("NONCE")
    clock.now += 61
    response = answer(responder, signed(nonce, long_term_key("alice", "example.org", "secret")))
    assert response.error_code == 438
    assert response.get("NONCE") != nonce and response.get("REALM") == "example.org"


def test_a_nonce_that_expires_after_the_fast_path_cached_the_request_gets_438() -> None:
    """The fast path caches a valid request's attributes with its NONCE's expiry: the same bytes
    again after that expiry must not be answered from the cache."""
    clock = FakeClock()
    responder = long_term(clock)
    nonce = challenge(responder).get("NONCE")
    data = signed(nonce, long_term_key("alice", "example.org", "secret"))
    assert answer(responder, data).message_class == MessageClass.SUCCESS  # now cached
    assert answer(responder, data).message_class == MessageClass.SUCCESS  # from the cache
    clock.now += 61
    stale = answer(responder, data)
    assert stale.error_code == 438 and stale.get("NONCE") != nonce


def test_long_term_forged_nonce_gets_438() -> None:
    responder = long_term(FakeClock())
    response = answer(responder, signed("obMatJos2AAAAforged.0000", long_term_key("alice", "example.org", "secret")))
    assert response.error_code == 438


@pytest.mark.parametrize("case", ["wrong-password", "unknown-user", "missing-realm"])
def test_long_term_rejections(case: str) -> None:
    responder = long_term(FakeClock())
    nonce = challenge(responder).get("NONCE")
    if case == "wrong-password":
        data, code = signed(nonce, long_term_key("alice", "example.org", "nope")), 401
    elif case == "unknown-user":
        data, code = signed(nonce, long_term_key("bob", "example.org", "secret"), user="bob"), 401
    else:
        data = binding().add("USERNAME", "alice").add("NONCE", nonce).encode(integrity_key=b"k")
        code = 400
    assert answer(responder, data).error_code == code


def test_long_term_sha256_password_algorithm_and_userhash() -> None:
    responder = long_term(FakeClock())
    nonce = challenge(responder).get("NONCE")
    key = long_term_key("alice", "example.org", "secret", PASSWORD_ALGORITHM_SHA256)
    message = (
        binding()
        .add("USERHASH", userhash("alice", "example.org"))
        .add("REALM", "example.org")
        .add("NONCE", nonce)
        .add("PASSWORD-ALGORITHMS", [(1, b""), (2, b"")])
        .add("PASSWORD-ALGORITHM", (2, b""))
    )
    response = answer(responder, message.encode(integrity_sha256_key=key))
    assert response.message_class == MessageClass.SUCCESS
    assert check(response.encode(), key=key) == []


def test_long_term_password_algorithm_not_offered_gets_400() -> None:
    responder = long_term(FakeClock())
    nonce = challenge(responder).get("NONCE")
    key = long_term_key("alice", "example.org", "secret", PASSWORD_ALGORITHM_SHA256)
    data = signed(nonce, key, password_algorithm=(2, b""))  # PASSWORD-ALGORITHMS missing
    assert answer(responder, data).error_code == 400


@pytest.mark.parametrize("client", [("192.0.2.10", 40000), ("203.0.113.255", 65535), ("2001:db8::7", 3479)])
@pytest.mark.parametrize("fingerprint", [False, True])
def test_plain_binding_fast_path_matches_the_generic_encoder(
    client: tuple[str, int], fingerprint: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_webrtc.stun.auth import AuthResult

    responder = Responder(software="pytest-webrtc")
    request = binding()
    generic = responder._success(request, client, LOCAL, "udp", (0, 0), AuthResult())
    assert generic is not None

    def not_taken(*args: object) -> None:
        raise AssertionError("the fast path was not taken")

    monkeypatch.setattr(responder, "_success", not_taken)
    fast = responder.respond(request.encode(fingerprint=fingerprint), client, LOCAL)
    assert fast is not None and fast.data == generic.data
    assert responder.transactions[-1].transaction_id == request.transaction_id.hex()


@pytest.mark.parametrize("client", [("192.0.2.10", 40000), ("2001:db8::7", 3479)])
@pytest.mark.parametrize("fingerprint", [False, True])
def test_long_term_fast_path_matches_the_generic_encoder(
    client: tuple[str, int], fingerprint: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request signed with long-term credentials, answered from its bytes: the generic path's bytes."""
    clock = FakeClock()
    generic_side, fast_side = long_term(clock), long_term(clock)
    nonce = challenge(fast_side).get("NONCE")
    key = long_term_key("alice", "example.org", "secret")
    request = binding().add("USERNAME", "alice").add("REALM", "example.org").add("NONCE", nonce)
    data = request.encode(integrity_key=key, fingerprint=fingerprint)
    generic_side.auth.secret = fast_side.auth.secret  # type: ignore[union-attr]  (the same nonces are valid)
    monkeypatch.setattr(generic_side, "plain_binding", lambda *args: None)  # the generic path only
    generic = generic_side.respond(data, client, LOCAL)

    def not_taken(*args: object) -> None:
        raise AssertionError("the fast path was not taken")

    monkeypatch.setattr(fast_side, "_success", not_taken)
    fast = fast_side.respond(data, client, LOCAL)
    assert generic is not None and fast is not None and fast.data == generic.data
    assert check(fast.data, key=key) == []


@pytest.mark.parametrize(
    ("case", "code"),
    [("stale nonce", 438), ("wrong password", 401), ("unknown user", 401), ("other realm", 401), ("software", 0)],
)
def test_long_term_requests_the_fast_path_does_not_know_go_the_generic_way(case: str, code: int) -> None:
    """The fast path recognises one shape and only valid requests; the rest get the generic answer."""
    clock = FakeClock()
    responder = long_term(clock)
    nonce = challenge(responder).get("NONCE")
    key = long_term_key("alice", "example.org", "secret")
    assert answer(responder, signed(nonce, key)).message_class == MessageClass.SUCCESS  # cached now
    if case == "stale nonce":
        clock.now += 61
        data = signed(nonce, key)
    elif case == "wrong password":
        data = signed(nonce, long_term_key("alice", "example.org", "guess"))
    elif case == "unknown user":
        data = signed(nonce, long_term_key("mallory", "example.org", "secret"), user="mallory")
    elif case == "other realm":
        data = (
            binding().add("USERNAME", "alice").add("REALM", "elsewhere").add("NONCE", nonce).encode(integrity_key=key)
        )
    else:  # an attribute besides the four: the generic path, which answers it all the same
        data = signed(nonce, key, software="client")
    assert responder.plain_binding(data, CLIENT, LOCAL) is None
    response = answer(responder, data)
    assert (response.error_code or 0) == code


@given(position=st.integers(min_value=0, max_value=200), flip=st.integers(min_value=1, max_value=255))
@settings(max_examples=300, deadline=None)
@pytest.mark.parametrize("fingerprint", [False, True])
def test_a_signed_request_changed_anywhere_is_answered_as_the_generic_path_answers_it(
    fingerprint: bool, position: int, flip: int
) -> None:
    """The fast path and its per-client cache never accept what the generic path refuses (nor the reverse)."""
    clock = FakeClock()
    fast, generic = long_term(clock), long_term(clock)
    generic.auth.secret = fast.auth.secret  # type: ignore[union-attr]  (the same nonces are valid)
    generic.plain_binding = lambda *args: None  # type: ignore[method-assign]
    nonce = challenge(fast).get("NONCE")
    key = long_term_key("alice", "example.org", "secret")
    message = binding().add("USERNAME", "alice").add("REALM", "example.org").add("NONCE", nonce)
    good = message.encode(integrity_key=key, fingerprint=fingerprint)
    assert answer(fast, good).message_class == MessageClass.SUCCESS  # its shape is cached now
    bad = bytearray(good)
    bad[position % len(good)] ^= flip
    ours, theirs = fast.respond(bytes(bad), CLIENT, LOCAL), generic.respond(bytes(bad), CLIENT, LOCAL)
    if ours is None or theirs is None:
        assert ours is theirs is None
        return
    mine, reference = decode(ours.data), decode(theirs.data)
    assert (mine.message_class, mine.error_code) == (reference.message_class, reference.error_code)
    if mine.message_class == MessageClass.SUCCESS:
        assert ours.data == theirs.data
