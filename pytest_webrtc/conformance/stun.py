"""Conformance checks of a STUN server, from the client side.

Each check is a named rule with its RFC section; it sends crafted requests with our client and
judges the raw answers with the strict codec.  The same checks back the scenario step
``stun-conformance``, the shipped suite ``scenarios/conformance/stun/`` and
``python -m pytest_webrtc conformance stun HOST:PORT``.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..addresses import Address, format_hostport
from ..errors import StunDecodeError, StunTransactionError
from ..rules import Finding, Level, Rule, rule
from ..stun.checks import check
from ..stun.client import StunResponse, binding_request, request
from ..stun.credentials import short_term_key
from ..stun.message import MAGIC_COOKIE_BYTES, Message, MessageClass
from .outcome import Fail as _Fail
from .outcome import Skip as _Skip
from .outcome import judge

__all__ = ["CHECKS", "RULES", "StunTarget", "run_check"]

UNKNOWN_REQUIRED = 0x7FF0  # comprehension-required, unassigned (RFC 8489 §18.3)


@dataclass(frozen=True)
class StunTarget:
    udp: Address
    tcp: Address | None = None  # default: the UDP address
    ipv6: Address | None = None  # an IPv6 address of the same server, if it has one
    username: str | None = None  # short-term credentials, when the server requires them
    password: str | None = None
    rfc5780: bool = False  # the server claims RFC 5780 behaviour discovery
    timeout: float = 2.0


async def _ask(
    target: StunTarget, data: bytes, address: Address | None = None, transport: str = "udp", transmissions: int = 3
) -> StunResponse:
    server = address or (target.tcp or target.udp if transport == "tcp" else target.udp)
    try:
        return await request(
            data, server, transport=transport, rto=target.timeout / 4, transmissions=transmissions, final_wait=2
        )
    except StunDecodeError as exc:
        raise _Fail(f"the answer is not a STUN message: {exc}") from None
    except StunTransactionError as exc:
        raise _Fail(str(exc)) from None


def _strict(response: StunResponse, key: bytes | None = None) -> None:
    violations = check(response.data, key=key)
    if violations:
        raise _Fail("; ".join(str(v) for v in violations))


def _signed(target: StunTarget, message: Message) -> tuple[bytes, bytes | None]:
    if target.username is None or target.password is None:
        return message.encode(fingerprint=True), None
    key = short_term_key(target.password)
    message.add("USERNAME", target.username)
    return message.encode(integrity_key=key, fingerprint=True), key


async def _binding(target: StunTarget, transport: str, address: Address | None = None) -> str:
    sent = binding_request(SOFTWARE="pytest-webrtc conformance")
    data, key = _signed(target, sent)
    response = await _ask(target, data, address, transport)
    message = response.message
    if message.message_class != MessageClass.SUCCESS:
        raise _Fail(f"answer is {message.message_class.name} {message.error_code or ''}".strip())
    _strict(response, key)
    mapped = message.get("XOR-MAPPED-ADDRESS")
    if mapped is None:
        raise _Fail("no XOR-MAPPED-ADDRESS")
    server = address or response.source
    if ipaddress.ip_address(server[0]).is_loopback and tuple(mapped) != response.local:
        raise _Fail(f"XOR-MAPPED-ADDRESS {format_hostport(mapped)} is not our source {format_hostport(response.local)}")
    return f"mapped {format_hostport(mapped)} in {response.rtt * 1000:.1f} ms"


async def binding_udp(target: StunTarget) -> str:
    return await _binding(target, "udp")


async def binding_tcp(target: StunTarget) -> str:
    return await _binding(target, "tcp")


async def binding_ipv6(target: StunTarget) -> str:
    address = target.ipv6 or (target.udp if ":" in target.udp[0] else None)
    if address is None:
        raise _Skip("no IPv6 address given for this server")
    return await _binding(target, "udp", address)


async def transaction_id(target: StunTarget) -> str:
    sent = binding_request()
    data, _ = _signed(target, sent)
    response = await _ask(target, data)
    if response.data[4:8] != MAGIC_COOKIE_BYTES or response.message.transaction_id != sent.transaction_id:
        raise _Fail("the response does not echo the magic cookie and transaction id")
    return f"transaction id {sent.transaction_id.hex()} echoed"


async def fingerprint(target: StunTarget) -> str:
    data, _ = _signed(target, binding_request())
    response = await _ask(target, data)
    fp = response.message.find("FINGERPRINT")
    if fp is None:
        raise _Fail("no FINGERPRINT in the response to a request that carried one")
    _strict(response)
    return "FINGERPRINT present and valid"


async def unknown_attribute(target: StunTarget) -> str:
    sent = binding_request().add_raw(UNKNOWN_REQUIRED, b"\x00\x00\x00\x00")
    data, _ = _signed(target, sent)
    response = await _ask(target, data)
    message = response.message
    if message.error_code != 420:
        raise _Fail(f"answer is {message.message_class.name} {message.error_code or ''}; expected 420".strip())
    if UNKNOWN_REQUIRED not in (message.get("UNKNOWN-ATTRIBUTES") or []):
        raise _Fail(f"UNKNOWN-ATTRIBUTES does not list 0x{UNKNOWN_REQUIRED:04X}")
    _strict(response)
    return f"420 listing 0x{UNKNOWN_REQUIRED:04X}"


async def _refused_then_alive(target: StunTarget, data: bytes, what: str) -> str:
    """A bad request must not get a success; the server must still answer a good one afterwards."""
    try:
        response = await _ask(target, data, transmissions=2)
    except _Fail:
        outcome = "dropped"
    else:
        if response.message.message_class == MessageClass.SUCCESS:
            raise _Fail(f"{what} got a success response")
        outcome = f"answered {response.message.error_code}"
    await binding_udp(target)
    return f"{what}: {outcome}; the server still answers"


async def malformed_length(target: StunTarget) -> str:
    tid = os.urandom(12)
    data = struct.pack("!HH", 0x0001, 8) + MAGIC_COOKIE_BYTES + tid  # says 8 bytes of attributes, carries none
    return await _refused_then_alive(target, data, "a request whose length exceeds the datagram")


async def bad_fingerprint(target: StunTarget) -> str:
    data = bytearray(binding_request().encode(fingerprint=True))
    data[-1] ^= 0xFF
    return await _refused_then_alive(target, bytes(data), "a request with a wrong FINGERPRINT")


async def malformed_attribute(target: StunTarget) -> str:
    tid = os.urandom(12)
    data = struct.pack("!HH", 0x0001, 8) + MAGIC_COOKIE_BYTES + tid + struct.pack("!HH", 0x8022, 100) + b"abcd"
    return await _refused_then_alive(target, data, "a request whose attribute overruns the message")


async def integrity(target: StunTarget) -> str:
    if target.username is None or target.password is None:
        raise _Skip("no credentials configured for this server")
    sent = binding_request(USERNAME=target.username)
    response = await _ask(target, sent.encode(integrity_key=b"certainly not the password", fingerprint=True))
    if response.message.error_code != 401:
        raise _Fail(
            f"a request with a wrong MESSAGE-INTEGRITY got {response.message.message_class.name} "
            f"{response.message.error_code or ''}; expected 401".strip()
        )
    good = await binding_udp(target)
    return f"wrong integrity -> 401; right integrity -> success ({good})"


async def rfc5780(target: StunTarget) -> str:
    if not target.rfc5780:
        raise _Skip("the server does not claim RFC 5780 support")
    response = await _ask(target, _signed(target, binding_request())[0])
    other, origin = response.message.get("OTHER-ADDRESS"), response.message.get("RESPONSE-ORIGIN")
    if other is None or origin is None:
        raise _Fail("no OTHER-ADDRESS or RESPONSE-ORIGIN in a Binding response")
    changed = await _ask(target, _signed(target, binding_request(CHANGE_REQUEST=0x6))[0])
    if changed.source != tuple(other):
        raise _Fail(f"CHANGE-REQUEST (IP and port) answered from {changed.source}, OTHER-ADDRESS says {other}")
    _strict(changed)
    return f"OTHER-ADDRESS {format_hostport(other)}; CHANGE-REQUEST answered from it"


async def retransmission(target: StunTarget) -> str:
    """The same request twice (a retransmission) gets two consistent answers with its transaction id."""
    data, _ = _signed(target, binding_request())
    first = await _ask(target, data)
    second = await _ask(target, data)  # same bytes, same transaction id
    if second.message.transaction_id != first.message.transaction_id:
        raise _Fail("the retransmission's answer has another transaction id")
    if first.message.get("XOR-MAPPED-ADDRESS") is None or second.message.message_class != first.message.message_class:
        raise _Fail("the retransmission got a different kind of answer")
    return "a retransmitted request is answered again, consistently"


Check = Callable[[StunTarget], Awaitable[str]]
RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        rule(
            "stun.binding-udp", "RFC 8489 §7.3.1", "a Binding request over UDP gets a success with XOR-MAPPED-ADDRESS"
        ),
        rule(
            "stun.binding-tcp", "RFC 8489 §6.2.2", "a Binding request over TCP gets a success with XOR-MAPPED-ADDRESS"
        ),
        rule("stun.binding-ipv6", "RFC 8489 §14.2", "a Binding request over IPv6 gets an IPv6 XOR-MAPPED-ADDRESS"),
        rule("stun.transaction-id", "RFC 8489 §6.3.1", "a response echoes the magic cookie and the transaction id"),
        rule("stun.fingerprint", "RFC 8489 §14.7", "a response to a request with FINGERPRINT carries a valid one"),
        rule(
            "stun.unknown-attribute",
            "RFC 8489 §6.3.1.1",
            "an unknown comprehension-required attribute gets a 420 listing it",
        ),
        rule("stun.malformed-length", "RFC 8489 §6.3", "a request whose length overruns the datagram gets no success"),
        rule("stun.bad-fingerprint", "RFC 8489 §7.3", "a request with a wrong FINGERPRINT gets no success"),
        # Attribute overruns are answered with a success by coturn 4.6.1; RFC 8489 §6.3 asks to
        # discard such messages, but many servers are lenient in what they accept.
        rule(
            "stun.malformed-attribute",
            "RFC 8489 §6.3",
            "a request whose attribute overruns the message gets no success",
            Level.SHOULD,
        ),
        rule("stun.integrity", "RFC 8489 §9.1.3", "a wrong MESSAGE-INTEGRITY gets 401; the right one a success"),
        rule("stun.rfc5780", "RFC 5780 §7", "OTHER-ADDRESS and RESPONSE-ORIGIN; CHANGE-REQUEST answered from it"),
        rule("stun.retransmission", "RFC 8489 §6.3.1", "a retransmitted request is answered again, consistently"),
    )
}
CHECKS: dict[str, Check] = {
    "stun.binding-udp": binding_udp,
    "stun.binding-tcp": binding_tcp,
    "stun.binding-ipv6": binding_ipv6,
    "stun.transaction-id": transaction_id,
    "stun.fingerprint": fingerprint,
    "stun.unknown-attribute": unknown_attribute,
    "stun.malformed-length": malformed_length,
    "stun.bad-fingerprint": bad_fingerprint,
    "stun.malformed-attribute": malformed_attribute,
    "stun.integrity": integrity,
    "stun.rfc5780": rfc5780,
    "stun.retransmission": retransmission,
}


async def run_check(rule_id: str, target: StunTarget) -> Finding:
    """Judge one rule of ``RULES`` against ``target``."""
    return await judge(rule_id, CHECKS[rule_id](target))
