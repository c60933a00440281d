"""The STUN server under judgement: what the user claims of it, and asking it with exact bytes.

:class:`StunTarget` says where the server is and what it claims: TCP, an IPv6 address, RFC 5780,
credentials, FINGERPRINT, and the profile that judges it.  An optional feature the user does not
claim is probed and reported as information, never failed.

:func:`ask` sends one request and returns the answer to it, or raises :class:`Silent` (nothing
came back at all) or :class:`Unmatched` (answers came, never with the request's transaction id),
each saying what really happened.  :func:`no_answer` decides whose fault a missing answer is:
this rule's probe, or the baseline (a plain Binding request) that every other rule stands on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from ..addresses import Address
from ..errors import StunDecodeError, StunTransactionError
from ..stun.client import StunResponse, binding_request, request
from ..stun.credentials import short_term_key
from ..stun.message import Message
from .outcome import Fail, Silent, Skip
from .profiles import DEFAULT_PROFILE, PROFILES

__all__ = ["PROFILES", "Silent", "StunTarget", "Unmatched", "ask", "encode", "no_answer", "plain_binding"]


@dataclass(frozen=True)
class StunTarget:
    udp: Address
    tcp: Address | None = None  # its TCP address; given, TCP is claimed (default: probe the UDP address)
    ipv6: Address | None = None  # an IPv6 address of the same server, if it claims one
    username: str | None = None  # short-term credentials, when the server requires them
    password: str | None = None
    rfc5780: bool = False  # the server claims RFC 5780 behaviour discovery
    timeout: float = 2.0
    profile: str = DEFAULT_PROFILE
    claims_tcp: bool = False  # --tcp: a stand-alone server (RFC 8489 §12 "MUST support UDP and TCP")
    claims_fingerprint: bool = False  # --fingerprint: it uses the FINGERPRINT mechanism

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; expected one of {', '.join(PROFILES)}")

    @property
    def tcp_claimed(self) -> bool:
        return self.claims_tcp or self.tcp is not None

    @property
    def fingerprint_claimed(self) -> bool:
        return self.claims_fingerprint or self.profile == "webrtc"

    def claims(self) -> list[str]:
        """What is claimed of the server, in the words the summary prints."""
        return [
            name
            for name, claimed in (
                ("tcp", self.tcp_claimed),
                ("ipv6", self.ipv6 is not None),
                ("fingerprint", self.fingerprint_claimed),
                ("rfc5780", self.rfc5780),
                ("short-term credentials", self.username is not None),
            )
            if claimed
        ]


UNMATCHED = "cannot be judged: the server answers, never with the request's transaction id (see stun.transaction-id)"


class Unmatched(Fail):
    """Something came back, never an answer with the request's transaction id (the detail says what)."""


def encode(target: StunTarget, message: Message, fingerprint: bool = False) -> tuple[bytes, bytes | None]:
    """The request's bytes, signed with the target's short-term credentials when it has them."""
    if target.username is None or target.password is None:
        return message.encode(fingerprint=fingerprint), None
    key = short_term_key(target.password)
    message.add("USERNAME", target.username)
    return message.encode(integrity_key=key, fingerprint=fingerprint), key


async def ask(
    target: StunTarget, data: bytes, address: Address | None = None, transport: str = "udp", transmissions: int = 3
) -> StunResponse:
    server = address or (target.tcp or target.udp if transport == "tcp" else target.udp)
    try:
        return await request(
            data, server, transport=transport, rto=target.timeout / 4, transmissions=transmissions, final_wait=2
        )
    except StunDecodeError as exc:
        raise Fail(f"the answer is not a STUN message: {exc}") from None
    except StunTransactionError as exc:
        raise (Unmatched if exc.received else Silent)(str(exc)) from None


async def plain_binding(target: StunTarget) -> StunResponse:
    """The baseline: a Binding request with nothing optional in it (signed only if credentials are needed)."""
    data, _ = encode(target, binding_request())
    return await ask(target, data)


async def no_answer(target: StunTarget, failure: Fail, what: str) -> NoReturn:
    """A probe got no usable answer: fail the rule only if a plain Binding request still gets one.

    One cause, one rule: a server that answers nothing, or answers with the wrong transaction id,
    fails ``stun.binding-udp`` or ``stun.transaction-id``; every other rule then cannot be judged.
    """
    if isinstance(failure, Unmatched):
        raise Skip(UNMATCHED)
    try:
        await plain_binding(target)
    except Unmatched:
        raise Skip(UNMATCHED) from None
    except Fail:
        raise Skip("cannot be judged: the server does not answer a plain Binding request either "
                   "(see stun.binding-udp)") from None  # fmt: skip
    raise Fail(f"{what}: {failure}; a plain Binding request is answered")
