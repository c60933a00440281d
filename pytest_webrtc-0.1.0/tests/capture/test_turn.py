"""TURN allocations followed through captured records: the right flow passes, each broken one is named."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pytest_webrtc.capture.turn import allocations, unbound_channel_data
from pytest_webrtc.stun.message import Message, MessageClass, Method

CLIENT, SERVER = ("198.51.100.6", 40000), ("203.0.113.1", 3478)


def _record(number: int, message: Message, outbound: bool) -> Any:
    src, dst = (CLIENT, SERVER) if outbound else (SERVER, CLIENT)
    return SimpleNamespace(number=number, message=message, datagram=SimpleNamespace(src=src, dst=dst))


def _flow(*, challenge: bool = True, realm_in_401: bool = True, credentials: tuple[str, ...] | None = None,
          relayed: bool = True) -> list[Any]:  # fmt: skip
    records = []
    if challenge:
        first = Message(Method.ALLOCATE, MessageClass.REQUEST)
        error = Message(Method.ALLOCATE, MessageClass.ERROR, transaction_id=first.transaction_id)
        error.add("ERROR-CODE", (401, "Unauthorized"))
        if realm_in_401:
            error.add("REALM", "pytest-webrtc")
        error.add("NONCE", "abc")
        records += [_record(1, first, True), _record(2, error, False)]
    second = Message(Method.ALLOCATE, MessageClass.REQUEST)
    for name in credentials if credentials is not None else ("USERNAME", "REALM", "NONCE", "MESSAGE-INTEGRITY"):
        second.add(name, b"\x00" * 20 if name == "MESSAGE-INTEGRITY" else "x")
    success = Message(Method.ALLOCATE, MessageClass.SUCCESS, transaction_id=second.transaction_id)
    if relayed:
        success.add("XOR-RELAYED-ADDRESS", ("203.0.113.1", 50000))
    return records + [_record(3, second, True), _record(4, success, False)]


def test_the_long_term_credential_flow_passes() -> None:
    (allocation,) = allocations(_flow())
    assert allocation.ok and allocation.relayed == ("203.0.113.1", 50000) and allocation.client == CLIENT


def test_a_relay_granted_without_a_challenge_is_not_ok() -> None:
    (allocation,) = allocations(_flow(challenge=False))
    assert not allocation.ok and not allocation.challenged


def test_a_relay_granted_to_a_request_without_integrity_is_named() -> None:
    (allocation,) = allocations(_flow(credentials=("USERNAME", "REALM", "NONCE")))
    assert not allocation.ok
    assert allocation.problems == ["packet 4: relay granted to a request without MESSAGE-INTEGRITY"]


def test_a_401_without_realm_is_named() -> None:
    (allocation,) = allocations(_flow(realm_in_401=False))
    assert allocation.problems == ["packet 2: 401 without REALM and NONCE"]


def test_a_success_without_relayed_address_is_named() -> None:
    (allocation,) = allocations(_flow(relayed=False))
    assert not allocation.ok and "without XOR-RELAYED-ADDRESS" in allocation.problems[0]


def test_other_messages_are_ignored() -> None:
    binding = Message(Method.BINDING, MessageClass.REQUEST)
    assert allocations([_record(1, binding, True), SimpleNamespace(message=None)]) == []


def _channel_data(number: int, channel: int, src: tuple[str, int] = CLIENT) -> Any:
    payload = channel.to_bytes(2, "big") + (4).to_bytes(2, "big") + b"data"
    return SimpleNamespace(number=number, src=src, dst=SERVER, payload=payload, kind="turn-channel")


def _bind(number: int, channel: int, granted: bool) -> list[Any]:
    request = Message(Method.CHANNEL_BIND, MessageClass.REQUEST)
    request.add("CHANNEL-NUMBER", channel)
    reply = Message(Method.CHANNEL_BIND, MessageClass.SUCCESS if granted else MessageClass.ERROR,
                    transaction_id=request.transaction_id)  # fmt: skip
    if not granted:
        reply.add("ERROR-CODE", (400, "Bad Request"))
    return [_record(number, request, True), _record(number + 1, reply, False)]


def test_channel_data_on_a_bound_channel_is_fine() -> None:
    assert unbound_channel_data([_channel_data(3, 0x4001)], _bind(1, 0x4001, granted=True)) == []


def test_channel_data_before_or_without_a_granted_bind_is_named() -> None:
    early = unbound_channel_data([_channel_data(1, 0x4001)], _bind(2, 0x4001, granted=True))
    refused = unbound_channel_data([_channel_data(3, 0x4002)], _bind(1, 0x4002, granted=False))
    other = unbound_channel_data([_channel_data(3, 0x4003)], _bind(1, 0x4001, granted=True))
    assert early == ["packet 1: ChannelData on channel 0x4001 from 198.51.100.6:40000, never bound"]
    assert len(refused) == 1 and len(other) == 1
