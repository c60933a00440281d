"""Probe a STUN server from the client side and judge its answers with the strict codec.

Used by ``python -m pytest_webrtc stun-probe HOST:PORT`` and by the demo.
Each probe is a named :class:`Finding`; a probe passes only if the answer is
the expected one *and* the bytes have no RFC violation.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass

from .errors import StunDecodeError, StunTransactionError
from .stun.checks import check
from .stun.client import StunResponse, binding_request, request
from .stun.message import Message, MessageClass

__all__ = ["Finding", "probe", "probe_main"]

Address = tuple[str, int]
UNKNOWN_REQUIRED_TYPE = 0x7FF0  # comprehension-required and unassigned (RFC 8489 §18.3)


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


def _violations(response: StunResponse) -> list[str]:
    return [str(v) for v in check(response.data)]


async def _ask(name: str, sent: Message, server: Address, transport: str, timeout: float) -> StunResponse | Finding:
    """The response to ``sent``, or a failed Finding saying why there is none."""
    try:
        return await request(
            sent.encode(fingerprint=True), server, transport=transport, rto=timeout / 4, transmissions=3, final_wait=2
        )
    except (StunTransactionError, StunDecodeError) as exc:
        return Finding(name, False, str(exc))


async def _binding(server: Address, transport: str, timeout: float) -> Finding:
    name = f"{transport} Binding request -> success with XOR-MAPPED-ADDRESS"
    sent = binding_request(SOFTWARE="pytest-webrtc probe")
    response = await _ask(name, sent, server, transport, timeout)
    if isinstance(response, Finding):
        return response
    message = response.message
    problems = _violations(response)
    if message.transaction_id != sent.transaction_id:
        problems.append("transaction id not echoed")
    if message.message_class != MessageClass.SUCCESS:
        problems.append(f"answer is {message.message_class.name} {message.error_code or ''}".strip())
    mapped = message.get("XOR-MAPPED-ADDRESS")
    if ipaddress.ip_address(server[0]).is_loopback and mapped != response.local:
        # On loopback there is no NAT: the mapped address must be our own socket.
        problems.append(f"XOR-MAPPED-ADDRESS {mapped} is not the request's source {response.local}")
    if "FINGERPRINT" not in message:
        problems.append("no FINGERPRINT although the request had one (RFC 8489 §7.3)")
    detail = (
        "; ".join(problems)
        if problems
        else (f"mapped {mapped[0]}:{mapped[1]} in {response.rtt * 1000:.1f} ms" if mapped else "no mapped address")
    )
    return Finding(name, not problems, detail)


async def _unknown_attribute(server: Address, transport: str, timeout: float) -> Finding:
    name = f"{transport} unknown comprehension-required attribute -> 420 UNKNOWN-ATTRIBUTES"
    sent = binding_request().add_raw(UNKNOWN_REQUIRED_TYPE, b"\x00\x00\x00\x00")
    response = await _ask(name, sent, server, transport, timeout)
    if isinstance(response, Finding):
        return response
    message = response.message
    problems = _violations(response)
    if message.error_code != 420:
        problems.append(f"answer is {message.message_class.name} {message.error_code or ''}".strip())
    elif UNKNOWN_REQUIRED_TYPE not in (message.get("UNKNOWN-ATTRIBUTES") or []):
        problems.append(f"UNKNOWN-ATTRIBUTES does not list 0x{UNKNOWN_REQUIRED_TYPE:04X}")
    return Finding(name, not problems, "; ".join(problems) or "420 listing the attribute")


async def probe(server: Address, transports: list[str], timeout: float = 3.0) -> list[Finding]:
    findings = []
    for transport in transports:
        findings.append(await _binding(server, transport, timeout))
        findings.append(await _unknown_attribute(server, transport, timeout))
    return findings


def probe_main(server: Address, transports: list[str], timeout: float) -> int:
    findings = asyncio.run(probe(server, transports, timeout))
    for finding in findings:
        print(finding)
    failed = sum(not f.ok for f in findings)
    print(f"{len(findings) - failed} passed, {failed} failed")
    return 1 if failed else 0
