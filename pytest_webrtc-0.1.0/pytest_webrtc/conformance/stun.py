"""Conformance of a STUN server, from the client side: one cause, one rule.

Each check is a rule of the catalogue with its RFC section and requirement level.  The baseline
is a plain Binding request (nothing optional in it); everything a request adds to probe a
behaviour (SOFTWARE, odd-length attributes and their padding, unknown attributes, FINGERPRINT,
an RFC 3489 header) is its own rule, so a server with one defect fails one rule and the others
still say what they measured.  A missing answer fails a rule only when a plain Binding request is
answered; otherwise the rule says it cannot be judged and names the rule that failed.

The same checks back the scenario step ``stun-conformance``, the shipped suite
``scenarios/conformance/stun/``, ``python -m pytest_webrtc conformance stun HOST:PORT`` and
``stun-probe``.  Profiles and claims: :mod:`.stun_target`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import struct
from collections.abc import Awaitable, Callable

from ..addresses import Address, format_hostport
from ..rules import Finding, Level, Rule, rule
from ..stun.checks import check
from ..stun.client import StunResponse, binding_request
from ..stun.message import MAGIC_COOKIE_BYTES, Message, MessageClass, Method, method_name
from .outcome import Accepted, Fail, Info, Skip, judge
from .stun_target import PROFILES, UNMATCHED, Silent, StunTarget, Unmatched, ask, encode, no_answer, plain_binding

__all__ = ["CHECKS", "PROFILES", "RULES", "StunTarget", "run_check"]

UNKNOWN_REQUIRED = 0x7FF0  # comprehension-required, unassigned (RFC 8489 §18.3)
UNKNOWN_OPTIONAL = 0xBFF0  # comprehension-optional, unassigned
ODD_SOFTWARE = "pytest-webrtc conformance"  # 25 bytes: 3 bytes of padding follow
EVEN_SOFTWARE = "pytest-webrtc conformanc"  # 24 bytes: no padding (stun.software judges SOFTWARE alone)


def _what(message: Message) -> str:
    code = f" {message.error_code}" if message.error_code else ""
    return f"{method_name(message.method)} {message.message_class.name.lower()}{code}"


def _strict(response: StunResponse, key: bytes | None = None) -> None:
    violations = check(response.data, key=key)
    if violations:
        raise Fail("; ".join(str(v) for v in violations))


def _success(response: StunResponse, target: StunTarget, key: bytes | None, address: Address | None = None) -> str:
    """A Binding success, from where the request went, naming our real source; strictly well-formed."""
    message = response.message
    if message.method != Method.BINDING or message.message_class != MessageClass.SUCCESS:
        raise Fail(f"answered with a {_what(message)}, expected a Binding success")
    server = address or target.udp
    if response.source != server:
        raise Fail(f"answered from {format_hostport(response.source)}, the request went to {format_hostport(server)}")
    _strict(response, key)
    mapped = message.get("XOR-MAPPED-ADDRESS")
    if mapped is None:
        names = ", ".join(a.name for a in message.attributes) or "nothing"
        raise Fail(f"a Binding success without XOR-MAPPED-ADDRESS (it has {names})")
    if ipaddress.ip_address(response.source[0]).is_loopback and tuple(mapped) != response.local:
        raise Fail(f"XOR-MAPPED-ADDRESS {format_hostport(mapped)} is not our source {format_hostport(response.local)}")
    return f"mapped {format_hostport(mapped)} in {response.rtt * 1000:.1f} ms"


async def _probe(target: StunTarget, message: Message, what: str, fingerprint: bool = False) -> str:
    """A request that adds one thing to the baseline must be answered like the baseline."""
    data, key = encode(target, message, fingerprint)
    try:
        response = await ask(target, data)
    except (Silent, Unmatched) as failure:
        await no_answer(target, failure, f"no answer to {what}")
    return _success(response, target, key)


async def binding_udp(target: StunTarget) -> str:
    data, key = encode(target, binding_request())
    try:
        response = await ask(target, data)
    except Unmatched:
        raise Skip(UNMATCHED) from None
    return _success(response, target, key)


async def binding_tcp(target: StunTarget) -> str:
    data, key = encode(target, binding_request())
    server = target.tcp or target.udp
    try:
        response = await ask(target, data, server, "tcp")
    except Silent as failure:
        if target.tcp_claimed:
            raise
        raise Info(
            f"{failure}: no TCP listener (RFC 8489 §12 asks it of a stand-alone STUN server; "
            f"claim it with --tcp to have it judged)"
        ) from None
    return _success(response, target, key, server)


async def binding_ipv6(target: StunTarget) -> str:
    address = target.ipv6 or (target.udp if ":" in target.udp[0] else None)
    if address is None:
        raise Skip("not claimed: no IPv6 address given for this server (--ipv6-address)")
    data, key = encode(target, binding_request())
    response = await ask(target, data, address)
    detail = _success(response, target, key, address)
    mapped = response.message.get("XOR-MAPPED-ADDRESS")
    if ":" not in str(mapped[0]):
        raise Fail(f"XOR-MAPPED-ADDRESS {format_hostport(mapped)} is not an IPv6 address")
    return detail


async def transaction_id(target: StunTarget) -> str:
    sent = binding_request()
    data, _ = encode(target, sent)
    try:
        response = await ask(target, data)
    except Silent:
        raise Skip(
            "cannot be judged: the server does not answer a plain Binding request (see stun.binding-udp)"
        ) from None
    if response.data[4:8] != MAGIC_COOKIE_BYTES:
        raise Fail(f"the answer's cookie field is 0x{response.data[4:8].hex()}, not the magic cookie")
    return f"transaction id {sent.transaction_id.hex()} and the magic cookie echoed"


async def fingerprint(target: StunTarget) -> str:
    data, _ = encode(target, binding_request(), fingerprint=True)
    try:
        response = await ask(target, data)
    except (Silent, Unmatched) as failure:
        await no_answer(target, failure, "no answer to a request carrying FINGERPRINT")
    if response.message.find("FINGERPRINT") is None:
        if target.fingerprint_claimed:
            raise Fail("no FINGERPRINT in the response to a request that carried one", "fail")
        raise Info(
            "the server does not use the FINGERPRINT mechanism (it MAY, RFC 8489 §14.7); "
            "claim it with --fingerprint or --profile webrtc to require it"
        )
    try:
        _strict(response)
    except Fail as failure:  # present, so it must be right, claimed or not
        raise Fail(str(failure), "fail") from None
    return "FINGERPRINT present and valid"


async def _uses_fingerprint(target: StunTarget) -> bool:
    data, _ = encode(target, binding_request(), fingerprint=True)
    try:
        return (await ask(target, data)).message.find("FINGERPRINT") is not None
    except Fail:
        return False


async def _refused_then_alive(target: StunTarget, data: bytes, what: str) -> str:
    """A bad request must not get a success; the server must still answer a plain one afterwards."""
    try:
        await plain_binding(target)
    except (Silent, Unmatched) as failure:  # the baseline is broken: another rule's defect
        await no_answer(target, failure, "")
    try:
        response = await ask(target, data, transmissions=2)
    except (Silent, Unmatched):
        outcome = "dropped"
    else:
        if response.message.message_class == MessageClass.SUCCESS:
            raise Accepted(f"{what} got a success response")
        outcome = f"answered {response.message.error_code}"
    try:
        await plain_binding(target)
    except Fail as failure:
        raise Fail(f"{what}: {outcome}; then the server stopped answering plain Binding requests: {failure}") from None
    return f"{what}: {outcome}; the server still answers"


async def bad_fingerprint(target: StunTarget) -> str:
    data = bytearray(encode(target, binding_request(), fingerprint=True)[0])
    data[-1] ^= 0xFF
    try:
        return await _refused_then_alive(target, bytes(data), "a request with a wrong FINGERPRINT")
    except Accepted:
        if target.fingerprint_claimed or await _uses_fingerprint(target):
            raise
        raise Info(
            "a wrong FINGERPRINT got a success: the server does not use the FINGERPRINT mechanism, "
            "so it need not check it (RFC 8489 §7.3: only 'if the FINGERPRINT extension is being used')"
        ) from None


async def attribute_padding(target: StunTarget) -> str:
    zero = await _probe(target, binding_request(SOFTWARE=ODD_SOFTWARE), "a request whose SOFTWARE is 25 bytes long")
    message = binding_request(SOFTWARE=ODD_SOFTWARE)
    # "The padding bits MUST be ignored, and may be any value" (RFC 8489 §14); RFC 5769 pads with spaces.
    message.attributes = [dataclasses.replace(a, padding=b"\x20\x20\x20") for a in message.attributes]
    await _probe(target, message, "a 25-byte SOFTWARE padded with non-zero bytes")
    return f"odd-length attribute padded with zeros and with spaces: both answered ({zero})"


async def software(target: StunTarget) -> str:
    return await _probe(target, binding_request(SOFTWARE=EVEN_SOFTWARE), "a request with SOFTWARE")


async def unknown_attribute(target: StunTarget) -> str:
    data, _ = encode(target, binding_request().add_raw(UNKNOWN_REQUIRED, b"\x00\x00\x00\x00"))
    try:
        response = await ask(target, data)
    except (Silent, Unmatched) as failure:
        await no_answer(target, failure, f"dropped a request with attribute 0x{UNKNOWN_REQUIRED:04X}, no 420")
    message = response.message
    if message.error_code != 420:
        raise Fail(f"answered with a {_what(message)}; expected 420")
    if UNKNOWN_REQUIRED not in (message.get("UNKNOWN-ATTRIBUTES") or []):
        raise Fail(f"UNKNOWN-ATTRIBUTES does not list 0x{UNKNOWN_REQUIRED:04X}")
    _strict(response)
    return f"420 listing 0x{UNKNOWN_REQUIRED:04X}"


async def unknown_optional_attribute(target: StunTarget) -> str:
    message = binding_request().add_raw(UNKNOWN_OPTIONAL, b"\x00\x00\x00\x00")
    detail = await _probe(target, message, f"a request with the comprehension-optional 0x{UNKNOWN_OPTIONAL:04X}")
    return f"0x{UNKNOWN_OPTIONAL:04X} ignored: {detail}"


async def malformed_length(target: StunTarget) -> str:
    data = struct.pack("!HH", 0x0001, 8) + MAGIC_COOKIE_BYTES + os.urandom(12)  # says 8 bytes, carries none
    return await _refused_then_alive(target, data, "a request whose length exceeds the datagram")


async def malformed_attribute(target: StunTarget) -> str:
    data = struct.pack("!HH", 0x0001, 8) + MAGIC_COOKIE_BYTES + os.urandom(12) + struct.pack("!HH", 0x8022, 100)
    return await _refused_then_alive(target, data + b"abcd", "a request whose attribute overruns the message")


async def integrity(target: StunTarget) -> str:
    if target.username is None or target.password is None:
        raise Skip("not claimed: no credentials given for this server")
    sent = binding_request(USERNAME=target.username)
    response = await ask(target, sent.encode(integrity_key=b"certainly not the password"))
    if response.message.error_code != 401:
        raise Fail(f"a request with a wrong MESSAGE-INTEGRITY got a {_what(response.message)}; expected 401")
    data, key = encode(target, binding_request())
    good = _success(await ask(target, data), target, key)  # the answer signed with the right key
    return f"wrong integrity -> 401; right integrity -> success ({good})"


async def rfc5780(target: StunTarget) -> str:
    if not target.rfc5780:
        raise Skip("not claimed: the server does not claim RFC 5780 support (--rfc5780)")
    response = await plain_binding(target)
    other, origin = response.message.get("OTHER-ADDRESS"), response.message.get("RESPONSE-ORIGIN")
    if other is None or origin is None:
        raise Fail("no OTHER-ADDRESS or RESPONSE-ORIGIN in a Binding response")
    changed = await ask(target, encode(target, binding_request(CHANGE_REQUEST=0x6))[0])
    if changed.source != tuple(other):
        raise Fail(f"CHANGE-REQUEST (IP and port) answered from {changed.source}, OTHER-ADDRESS says {other}")
    _strict(changed)
    return f"OTHER-ADDRESS {format_hostport(other)}; CHANGE-REQUEST answered from it"


async def retransmission(target: StunTarget) -> str:
    """The same request twice (a retransmission) gets two consistent answers with its transaction id."""
    data, _ = encode(target, binding_request())
    try:
        first = await ask(target, data)
    except (Silent, Unmatched) as failure:
        await no_answer(target, failure, "")
    try:
        second = await ask(target, data)  # same bytes, same transaction id
    except (Silent, Unmatched) as failure:
        raise Fail(f"the retransmission got no answer: {failure}") from None
    if second.message.message_class != first.message.message_class:
        raise Fail(f"the first transmission got a {_what(first.message)}, the retransmission a {_what(second.message)}")
    return "a retransmitted request is answered again, consistently"


async def classic_client(target: StunTarget) -> str:
    """An RFC 3489 client: no magic cookie, a 128-bit transaction id (RFC 8489 §11.2)."""
    cookie = os.urandom(4)
    data = struct.pack("!HH", 0x0001, 0) + cookie + os.urandom(12)
    try:
        response = await ask(target, data)
    except (Silent, Unmatched) as failure:
        await no_answer(target, failure, "does not answer an RFC 3489 client (a request without the magic cookie)")
    if response.message.message_class == MessageClass.ERROR:
        if target.username is not None:  # it requires credentials, which an RFC 3489 client does not send
            raise Info(f"an RFC 3489 client without credentials got a {_what(response.message)}")
        raise Fail(f"answered an RFC 3489 client with a {_what(response.message)}")
    problems = []
    if response.data[4:8] != cookie:
        problems.append("the cookie field is not the client's (RFC 8489 §11.2: copy it)")
    if response.message.get("MAPPED-ADDRESS") is None:
        problems.append("no MAPPED-ADDRESS (an RFC 3489 client knows no XOR-MAPPED-ADDRESS)")
    if problems:
        raise Fail("answered an RFC 3489 client, but " + "; ".join(problems))
    return f"RFC 3489 client answered with MAPPED-ADDRESS {format_hostport(response.message.get('MAPPED-ADDRESS'))}"


Check = Callable[[StunTarget], Awaitable[str]]
RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        rule(
            "stun.binding-udp",
            "RFC 8489 §12",
            "a plain Binding request over UDP gets a success with XOR-MAPPED-ADDRESS",
        ),
        rule("stun.binding-tcp", "RFC 8489 §12", "a Binding request over TCP gets a success (when TCP is claimed)"),
        rule("stun.binding-ipv6", "RFC 8489 §14.2", "a Binding request over IPv6 gets an IPv6 XOR-MAPPED-ADDRESS"),
        rule(
            "stun.transaction-id", "RFC 8489 §5", "a response carries the request's transaction id and the magic cookie"
        ),
        rule(
            "stun.fingerprint", "RFC 8489 §14.7", "FINGERPRINT in a response is valid; required when claimed", Level.MAY
        ),
        rule("stun.bad-fingerprint", "RFC 8489 §7.3", "a server using FINGERPRINT discards a request with a wrong one"),
        rule(
            "stun.attribute-padding", "RFC 8489 §14", "an odd-length attribute is accepted, whatever its padding bytes"
        ),
        rule("stun.software", "RFC 8489 §14.14", "a request carrying SOFTWARE is answered like any other"),
        rule(
            "stun.unknown-attribute",
            "RFC 8489 §6.3.1.1",
            "an unknown comprehension-required attribute gets a 420 listing it",
        ),
        rule(
            "stun.unknown-optional-attribute", "RFC 8489 §6.3", "an unknown comprehension-optional attribute is ignored"
        ),
        rule("stun.malformed-length", "RFC 8489 §6.3", "a request whose length overruns the datagram gets no success"),
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
        rule(
            "stun.classic-client",
            "RFC 8489 §12",
            "a stand-alone server answers RFC 3489 clients: their cookie field copied, MAPPED-ADDRESS",
            Level.SHOULD,
        ),
    )
}
CHECKS: dict[str, Check] = {
    "stun.binding-udp": binding_udp,
    "stun.binding-tcp": binding_tcp,
    "stun.binding-ipv6": binding_ipv6,
    "stun.transaction-id": transaction_id,
    "stun.fingerprint": fingerprint,
    "stun.bad-fingerprint": bad_fingerprint,
    "stun.attribute-padding": attribute_padding,
    "stun.software": software,
    "stun.unknown-attribute": unknown_attribute,
    "stun.unknown-optional-attribute": unknown_optional_attribute,
    "stun.malformed-length": malformed_length,
    "stun.malformed-attribute": malformed_attribute,
    "stun.integrity": integrity,
    "stun.rfc5780": rfc5780,
    "stun.retransmission": retransmission,
    "stun.classic-client": classic_client,
}


async def run_check(rule_id: str, target: StunTarget) -> Finding:
    """Judge one rule of ``RULES`` against ``target``."""
    return await judge(rule_id, CHECKS[rule_id](target))
