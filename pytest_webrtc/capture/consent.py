"""ICE consent freshness on the wire (RFC 7675): a check at least every ~6 s, silence after expiry.

Once a pair is nominated (a check with USE-CANDIDATE answered with a success), every further
connectivity check its agent sends on that pair refreshes consent.  RFC 7675 §5.1: implementations
"SHOULD set a default interval of 5 seconds", each interval randomised "between 0.8 and 1.2 times
the basic period"; consent expires 30 s after the last success, and then the agent "MUST cease
transmission" on that pair.  Only a gap longer than 1.2 times 5 s is judged: checks more often
are allowed (another basic period, ICE keepalives — libwebrtc pings a stable connection every
2.5 s), and the wire cannot tell a consent check from a keepalive.  Judged from the exchanges the wire verifier paired
(:mod:`.verify`); a capture shorter than two intervals has nothing to judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..addresses import Address, format_hostport
from ..rules import Finding, Level, Rule, rule
from ..stun.message import MessageClass
from .packets import Datagram

Exchange = Any  # a verify.Exchange (request, responses): not imported, verify imports this module

__all__ = ["CONSENT_RULES", "EXPIRY", "verify_consent"]

CONSENT_RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        rule("ice.consent-interval", "RFC 7675 §5.1",
             "consent checks on the selected pair at most 6 s apart (1.2 times the default 5 s)", Level.SHOULD),
        rule("ice.consent-expired", "RFC 7675 §5.1",
             "no media or data sent on a pair more than 30 s after its last consent"),
    )
}  # fmt: skip
PERIOD, HIGH = 5.0, 1.2  # the default basic period, and the randomisation's upper bound
SLACK = 0.1  # seconds either way: capture timestamps and scheduling
EXPIRY = 30.0  # seconds after the last success
GRACE = 1.0  # seconds after expiry before a packet is a violation (the agent's own timer, the capture's)


def verify_consent(exchanges: Sequence[Exchange], datagrams: Sequence[Datagram]) -> list[Finding]:
    findings: list[Finding] = []
    checks: dict[tuple[Address, Address], list[Exchange]] = {}
    nominated: dict[tuple[Address, Address], float] = {}
    for exchange in sorted(exchanges, key=lambda e: e.request.datagram.time):
        request = exchange.request
        if request.role != "ice-check" or request.message is None:
            continue
        pair = (request.datagram.src, request.datagram.dst)
        succeeded = any(r.message is not None and r.message.message_class == MessageClass.SUCCESS
                        for r in exchange.responses)  # fmt: skip
        if pair in nominated:
            checks.setdefault(pair, []).append(exchange)
        elif "USE-CANDIDATE" in request.message and succeeded:
            nominated[pair] = exchange.responses[0].datagram.time
        elif succeeded and (request.datagram.dst, request.datagram.src) in nominated:
            nominated[pair] = exchange.responses[0].datagram.time  # the controlled side's pair, once checked
    for pair, consent in checks.items():
        findings += _intervals(pair, consent)
        findings += _after_expiry(pair, nominated[pair], consent, datagrams)
    return findings


def _intervals(pair: tuple[Address, Address], consent: list[Exchange]) -> list[Finding]:
    findings = []
    times = [e.request.datagram for e in consent]
    for before, after in zip(times, times[1:], strict=False):
        gap = after.time - before.time
        if gap > PERIOD * HIGH + SLACK:
            findings.append(Finding(
                "ice.consent-interval",
                f"consent checks from {format_hostport(pair[0])} to {format_hostport(pair[1])} {gap:.2f} s apart "
                f"(RFC 7675 §5.1: by default at most {PERIOD * HIGH:g} s)",
                packet=after.number,
            ))  # fmt: skip
    return findings


def _after_expiry(
    pair: tuple[Address, Address], nominated: float, consent: list[Exchange], datagrams: Sequence[Datagram]
) -> list[Finding]:
    """Media or data sent on the pair later than 30 s after its last consent success."""
    successes = [nominated] + [
        r.datagram.time for e in consent for r in e.responses
        if r.message is not None and r.message.message_class == MessageClass.SUCCESS
    ]  # fmt: skip
    last = max(successes)
    if not any(e.request.datagram.time > last for e in consent):
        return []  # consent never went unanswered: nothing expired
    late = [
        d for d in datagrams if (d.src, d.dst) == pair and d.kind in ("dtls", "rtp") and d.time > last + EXPIRY + GRACE
    ]
    if not late:
        return []
    return [Finding(
        "ice.consent-expired",
        f"{len(late)} media/data packet(s) from {format_hostport(pair[0])} to {format_hostport(pair[1])}, the first "
        f"{late[0].time - last:.1f} s after the pair's last consent (it expires after {EXPIRY:g} s)",
        packet=late[0].number,
    )]  # fmt: skip
