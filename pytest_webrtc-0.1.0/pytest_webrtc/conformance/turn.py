"""Conformance of a TURN server (RFC 8656), from the client side: one cause, one rule.

The baseline is an authenticated Allocate over UDP (``turn.allocate``); every other rule adds one
thing to it (a wrong password, a stale NONCE, a second Allocate, a Refresh, a permission, a
channel, TCP, TLS, IPv6) and, when the baseline itself fails, says it cannot be judged and names
``turn.allocate`` instead of failing too.  The relay rules (:mod:`.turn_relay`) need a peer the
server may reach (:meth:`.TurnTarget.peer_host`); without one they say why, as information.

The same checks back the scenario step ``turn-conformance``, the shipped suite
``scenarios/conformance/turn/`` and ``python -m pytest_webrtc conformance turn HOST:PORT``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

from ..addresses import format_hostport
from ..rules import Finding, Rule, rule
from ..stun.message import Message, MessageClass, Method
from . import turn_relay
from .outcome import Accepted, Fail, Info, Skip, judge
from .turn_session import (
    TCP,
    Silent,
    allocate_request,
    allocated,
    authenticated,
    need_credentials,
    session,
    strict,
)
from .turn_target import TurnTarget, describe

__all__ = ["CHECKS", "RULES", "TurnTarget", "run_check"]

UNKNOWN_REQUIRED = 0x7FF0  # comprehension-required, unassigned (RFC 8489 §18.3)
UNSUPPORTED_TRANSPORT = 132  # SCTP: no TURN server relays it
DELETE_GRACE = 1.5  # seconds a deleted allocation may linger (the server's timer tick), then 437


def refresh(lifetime: int) -> Callable[[], Message]:
    return lambda: Message(Method.REFRESH, MessageClass.REQUEST).add("LIFETIME", lifetime)


async def allocate_challenge(target: TurnTarget) -> str:
    async with session(target) as opened:
        answer = await opened.exchange(allocate_request().encode())
        if answer.message_class == MessageClass.SUCCESS:
            relayed = answer.get("XOR-RELAYED-ADDRESS")
            where = f" (relayed address {format_hostport(relayed)})" if relayed else ""
            raise Accepted(f"an Allocate without credentials got a success{where}: an open relay")
        if answer.error_code != 401:
            raise Fail(f"an Allocate without credentials got {describe(answer)}; expected 401 with REALM and NONCE")
        missing = [name for name in ("REALM", "NONCE") if not isinstance(answer.get(name), str)]
        if missing:
            raise Fail(f"the 401 carries no {' and no '.join(missing)}")
        strict(opened, answer, signed=False)
        realm = answer.get("REALM")
        if target.realm is not None and realm != target.realm:
            raise Fail(f"the 401 names REALM {realm!r}; the server's realm is {target.realm!r}")
        return f"401 with REALM {realm!r} and a NONCE of {len(answer.get('NONCE'))} characters"


async def allocate(target: TurnTarget) -> str:
    need_credentials(target)
    async with session(target) as opened:
        answer = await opened.allocate()
        if answer.message_class != MessageClass.SUCCESS:
            raise Fail(f"an authenticated Allocate got {describe(answer)}")
        missing = [n for n in ("XOR-RELAYED-ADDRESS", "XOR-MAPPED-ADDRESS", "LIFETIME") if answer.get(n) is None]
        if missing:
            raise Fail(f"the Allocate success has no {', no '.join(missing)}")
        strict(opened, answer)
        mapped, relayed = answer.get("XOR-MAPPED-ADDRESS"), answer.get("XOR-RELAYED-ADDRESS")
        if target.on_loopback and tuple(mapped) != opened.local:
            raise Fail(
                f"XOR-MAPPED-ADDRESS {format_hostport(mapped)} is not our source {format_hostport(opened.local)}"
            )
        return (
            f"relayed {format_hostport(relayed)}, mapped {format_hostport(mapped)}, lifetime {answer.get('LIFETIME')} s"
        )


async def wrong_password(target: TurnTarget) -> str:
    need_credentials(target)
    wrong = dataclasses.replace(target, password=f"{target.password}-not")
    async with session(wrong) as opened:
        await authenticated(opened)
        answer = await opened.exchange(opened.sign(allocate_request()))
        if answer.message_class == MessageClass.SUCCESS:
            raise Accepted("an Allocate signed with a wrong password got a success")
        if answer.error_code != 401:
            raise Fail(f"an Allocate signed with a wrong password got {describe(answer)}; expected 401")
        return "an Allocate signed with a wrong password -> 401"


async def stale_nonce(target: TurnTarget) -> str:
    async with session(target) as opened:
        await authenticated(opened)
        stale = opened.nonce = "pytest-webrtc-stale-nonce-0123456789"  # a NONCE the server never issued
        answer = await opened.exchange(opened.sign(allocate_request()))
        if answer.message_class == MessageClass.SUCCESS:
            raise Accepted("an Allocate with a NONCE the server never issued got a success")
        if answer.error_code != 438:
            raise Fail(f"an Allocate with a NONCE the server never issued got {describe(answer)}; expected 438")
        fresh = answer.get("NONCE")
        if not isinstance(fresh, str) or fresh == stale:
            raise Fail("the 438 carries no new NONCE" if not isinstance(fresh, str) else "the 438 repeats our NONCE")
        if (
            opened.learn(answer)
            and (again := await opened.request(allocate_request)).message_class != MessageClass.SUCCESS
        ):
            raise Fail(f"438 with a new NONCE, but the Allocate signed with it got {describe(again)}")
        return "438 (Stale Nonce) with a new NONCE; the Allocate retried with it succeeded"


async def allocation_mismatch(target: TurnTarget) -> str:
    async with session(target) as opened:
        await allocated(opened)
        answer = await opened.request(allocate_request)  # a new transaction on the same 5-tuple
        if answer.message_class == MessageClass.SUCCESS:
            raise Accepted("a second Allocate (a new transaction) on the same 5-tuple got a success")
        if answer.error_code != 437:
            raise Fail(f"a second Allocate on the same 5-tuple got {describe(answer)}; expected 437")
        return "a second Allocate on the same 5-tuple -> 437 (Allocation Mismatch)"


async def _refused(target: TurnTarget, build: Callable[[], Message], what: str, code: int) -> Message:
    async with session(target) as opened:
        await authenticated(opened)
        answer = await opened.request(build)
        if answer.message_class == MessageClass.SUCCESS:
            raise Accepted(f"{what} got a success")
        if answer.error_code != code:
            raise Fail(f"{what} got {describe(answer)}; expected {code}")
        return answer


async def requested_transport(target: TurnTarget) -> str:
    await _refused(target, lambda: allocate_request(transport=None), "an Allocate without REQUESTED-TRANSPORT", 400)
    return "an Allocate without REQUESTED-TRANSPORT -> 400"


async def unsupported_transport(target: TurnTarget) -> str:
    what = f"an Allocate with REQUESTED-TRANSPORT {UNSUPPORTED_TRANSPORT} (SCTP)"
    await _refused(target, lambda: allocate_request(transport=UNSUPPORTED_TRANSPORT), what, 442)
    return f"{what} -> 442 (Unsupported Transport Protocol)"


async def unknown_attribute(target: TurnTarget) -> str:
    what = f"an authenticated Allocate with the comprehension-required 0x{UNKNOWN_REQUIRED:04X}"
    try:
        answer = await _refused(target, lambda: allocate_request().add_raw(UNKNOWN_REQUIRED, bytes(4)), what, 420)
    except Silent as failure:
        raise Fail(f"{what} got no answer ({failure}); expected 420") from None
    if UNKNOWN_REQUIRED not in (answer.get("UNKNOWN-ATTRIBUTES") or []):
        raise Fail(f"the 420 does not list 0x{UNKNOWN_REQUIRED:04X} in UNKNOWN-ATTRIBUTES")
    return f"420 listing 0x{UNKNOWN_REQUIRED:04X}"


async def refresh_lifetime(target: TurnTarget) -> str:
    async with session(target) as opened:
        await allocated(opened)
        answer = await opened.request(refresh(600))
        if answer.message_class != MessageClass.SUCCESS:
            raise Fail(f"a Refresh with LIFETIME 600 got {describe(answer)}")
        lifetime = answer.get("LIFETIME")
        if not isinstance(lifetime, int) or lifetime <= 0:
            carries = "no LIFETIME" if lifetime is None else f"LIFETIME {lifetime}"
            raise Fail(f"the success to a Refresh asking for LIFETIME 600 carries {carries}")
        strict(opened, answer)
        return f"Refresh -> success, LIFETIME {lifetime} s"


async def refresh_delete(target: TurnTarget) -> str:
    async with session(target) as opened:
        await allocated(opened)
        answer = await opened.request(refresh(0))
        if answer.message_class != MessageClass.SUCCESS:
            raise Fail(f"a Refresh with LIFETIME 0 got {describe(answer)}")
        await asyncio.sleep(DELETE_GRACE)  # coturn deletes at its next timer tick (measured: < 1 s)
        after = await opened.request(refresh(600))
        if after.message_class == MessageClass.SUCCESS:
            raise Fail(f"{DELETE_GRACE:g} s after a Refresh with LIFETIME 0 the allocation still answers: "
                       "a Refresh on it got a success")  # fmt: skip
        if after.error_code != 437:
            raise Fail(
                f"{DELETE_GRACE:g} s after a Refresh with LIFETIME 0, a Refresh got {describe(after)}; expected 437"
            )
        return f"Refresh LIFETIME 0 -> success; a Refresh {DELETE_GRACE:g} s later -> 437"


async def over_tcp(target: TurnTarget) -> str:
    need_credentials(target)
    try:
        async with session(target, "tcp") as opened:
            answer = await opened.allocate()
    except Silent as failure:
        if target.tcp_claimed:
            raise
        raise Info(f"{failure}: no TURN over TCP here (claim it with --tcp to have it judged)") from None
    if answer.message_class != MessageClass.SUCCESS:
        raise Fail(f"an authenticated Allocate over TCP got {describe(answer)}")
    return f"Allocate over TCP -> relayed {format_hostport(answer.get('XOR-RELAYED-ADDRESS'))}"


async def over_tls(target: TurnTarget) -> str:
    if target.tls is None:
        raise Skip("not claimed: no TLS address given for this server (--tls HOST:PORT)")
    need_credentials(target)
    async with session(target, "tls") as opened:
        answer = await opened.allocate()
        version = opened.tls_version
    if answer.message_class != MessageClass.SUCCESS:
        raise Fail(f"an authenticated Allocate over TLS got {describe(answer)}")
    return f"Allocate over {version} -> relayed {format_hostport(answer.get('XOR-RELAYED-ADDRESS'))}"


async def tcp_allocation(target: TurnTarget) -> str:
    need_credentials(target)
    try:
        async with session(target, "tcp") as opened:
            answer = await opened.allocate(transport=TCP)
    except Silent as failure:
        if target.tcp_relay:
            raise
        raise Info(f"{failure}: no TURN over TCP, so no RFC 6062 TCP allocations") from None
    if answer.message_class == MessageClass.SUCCESS:
        return f"a TCP allocation (RFC 6062): relayed {format_hostport(answer.get('XOR-RELAYED-ADDRESS'))}"
    if not target.tcp_relay:
        raise Info(f"no RFC 6062 TCP allocations (REQUESTED-TRANSPORT TCP got {describe(answer)}); "
                   "claim them with --tcp-relay to have them judged")  # fmt: skip
    raise Fail(f"an Allocate with REQUESTED-TRANSPORT TCP over TCP got {describe(answer)}")


async def ipv6_relay(target: TurnTarget) -> str:
    async with session(target) as opened:
        await authenticated(opened)
        try:
            answer = await opened.request(lambda: allocate_request(REQUESTED_ADDRESS_FAMILY=0x02))
        except Silent as failure:
            if target.ipv6_relay:
                raise
            raise Info(f"no IPv6 relayed addresses: an Allocate with REQUESTED-ADDRESS-FAMILY IPv6 got no answer "
                       f"({failure}); a server that does not know the attribute should answer 420 "
                       "(see turn.unknown-attribute)") from None  # fmt: skip
    relayed = answer.get("XOR-RELAYED-ADDRESS")
    if answer.message_class == MessageClass.SUCCESS and relayed is not None and ":" in str(relayed[0]):
        return f"an IPv6 relayed address: {format_hostport(relayed)}"
    seen = describe(answer) if answer.message_class != MessageClass.SUCCESS else f"a success relaying {relayed}"
    if not target.ipv6_relay:
        raise Info(f"no IPv6 relayed addresses (REQUESTED-ADDRESS-FAMILY IPv6 got {seen}); "
                   "claim them with --ipv6-relay to have them judged")  # fmt: skip
    raise Fail(f"an Allocate with REQUESTED-ADDRESS-FAMILY IPv6 got {seen}")


Check = Callable[[TurnTarget], Awaitable[str]]
_OWN: tuple[tuple[Rule, Check], ...] = (
    (rule("turn.allocate-challenge", "RFC 8489 §9.2.4",
          "an Allocate without credentials gets a 401 with REALM and NONCE"), allocate_challenge),
    (rule("turn.allocate", "RFC 8656 §7.2",
          "an authenticated Allocate gets a signed success with XOR-RELAYED-ADDRESS, XOR-MAPPED-ADDRESS, LIFETIME"),
     allocate),
    (rule("turn.wrong-password", "RFC 8489 §9.2.4", "an Allocate signed with a wrong password gets 401"),
     wrong_password),
    (rule("turn.stale-nonce", "RFC 8489 §9.2.4", "a NONCE that is not valid gets 438 with a new NONCE"), stale_nonce),
    (rule("turn.allocation-mismatch", "RFC 8656 §7.2", "a second Allocate on the same 5-tuple gets 437"),
     allocation_mismatch),
    (rule("turn.requested-transport", "RFC 8656 §7.2", "an Allocate without REQUESTED-TRANSPORT gets 400"),
     requested_transport),
    (rule("turn.unsupported-transport", "RFC 8656 §7.2", "an unsupported REQUESTED-TRANSPORT gets 442"),
     unsupported_transport),
    (rule("turn.unknown-attribute", "RFC 8489 §6.3.1.1",
          "an unknown comprehension-required attribute gets a 420 listing it"), unknown_attribute),
    (rule("turn.refresh", "RFC 8656 §8.2", "a Refresh gets a success with LIFETIME"), refresh_lifetime),
    (rule("turn.refresh-delete", "RFC 8656 §8.2",
          "a Refresh with LIFETIME 0 deletes the allocation: later requests on it get 437"), refresh_delete),
    (rule("turn.tcp", "RFC 8656 §3.1", "an Allocate over TCP succeeds (when TCP is claimed)"), over_tcp),
    (rule("turn.tls", "RFC 8656 §3.1", "an Allocate over TLS succeeds (when TLS is claimed)"), over_tls),
    (rule("turn.tcp-allocation", "RFC 6062 §5.1", "a TCP allocation succeeds (when RFC 6062 is claimed)"),
     tcp_allocation),
    (rule("turn.ipv6-relay", "RFC 8656 §7.2",
          "REQUESTED-ADDRESS-FAMILY IPv6 gets an IPv6 relayed address (when claimed; RFC 6156)"), ipv6_relay),
)  # fmt: skip
RULES: dict[str, Rule] = {r.id: r for r, _ in _OWN} | turn_relay.RULES
CHECKS: dict[str, Check] = {r.id: c for r, c in _OWN} | turn_relay.CHECKS


async def run_check(rule_id: str, target: TurnTarget) -> Finding:
    """Judge one rule of ``RULES`` against ``target``."""
    return await judge(rule_id, CHECKS[rule_id](target))
