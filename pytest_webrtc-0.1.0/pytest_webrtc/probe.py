"""``python -m pytest_webrtc stun-probe HOST:PORT``: a quick look at a STUN server.

A thin view of the STUN conformance rules (:mod:`pytest_webrtc.conformance.stun`): over UDP,
a Binding request, FINGERPRINT and an unknown comprehension-required attribute; over TCP, a
Binding request.  ``conformance stun`` runs the whole suite.
"""

from __future__ import annotations

import asyncio

from .addresses import Address
from .conformance.stun import StunTarget, run_check
from .rules import Finding

__all__ = ["PROBES", "probe", "probe_main"]

# transport -> the conformance rules the probe runs over it
PROBES = {
    "udp": ("stun.binding-udp", "stun.fingerprint", "stun.unknown-attribute"),
    "tcp": ("stun.binding-tcp",),
}


async def probe(
    server: Address, transports: list[str], timeout: float = 3.0, profile: str = "rfc8489"
) -> list[Finding]:
    target = StunTarget(server, server, timeout=timeout, profile=profile)
    return [await run_check(rule_id, target) for transport in transports for rule_id in PROBES[transport]]


def probe_main(server: Address, transports: list[str], timeout: float, profile: str = "rfc8489") -> int:
    findings = asyncio.run(probe(server, transports, timeout, profile))
    for finding in findings:
        print(finding.line())
    failed = sum(f.failed for f in findings)
    print(f"{len(findings) - failed} passed, {failed} failed")
    return 1 if failed else 0
