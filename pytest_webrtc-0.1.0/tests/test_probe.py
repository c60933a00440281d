"""The strict client-side probe: passes on our server, fails with the named rule on broken ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pytest_webrtc.probe import probe
from pytest_webrtc.stun import Message, MessageClass, Method, decode
from pytest_webrtc.stun.server import StunServer

Address = tuple[str, int]


class Misbehaving(asyncio.DatagramProtocol):
    """Answers every request with whatever ``build(request, client)`` returns."""

    def __init__(self, build: Callable[[Message, Address], bytes]) -> None:
        self.build = build

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(self.build(decode(data), addr), addr)


@pytest.fixture
async def misbehaving() -> AsyncIterator[Callable[[Callable[[Message, Address], bytes]], Any]]:
    transports = []

    async def start(build: Callable[[Message, Address], bytes]) -> Address:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: Misbehaving(build), local_addr=("127.0.0.1", 0))
        transports.append(transport)
        return transport.get_extra_info("sockname")[:2]  # type: ignore[no-any-return]

    yield start
    for transport in transports:
        transport.close()


async def test_probe_passes_on_our_server() -> None:
    async with StunServer("127.0.0.1") as server:
        assert server.udp_address is not None
        findings = await probe(server.udp_address, ["udp", "tcp"], timeout=2)
    assert [(f.rule, f.outcome) for f in findings] == [
        ("stun.binding-udp", "pass"),
        ("stun.fingerprint", "pass"),
        ("stun.unknown-attribute", "pass"),
        ("stun.binding-tcp", "pass"),
    ], findings


def success(request: Message, mapped: Address) -> Message:
    return Message(Method.BINDING, MessageClass.SUCCESS, request.transaction_id).add("XOR-MAPPED-ADDRESS", mapped)


BROKEN = {
    "wrong mapped port": (
        lambda req, client: success(req, (client[0], client[1] + 1)).encode(fingerprint=True),
        "is not our source",
    ),
    "plain MAPPED-ADDRESS only": (
        lambda req, client: (
            Message(Method.BINDING, MessageClass.SUCCESS, req.transaction_id)
            .add("MAPPED-ADDRESS", client)
            .encode(fingerprint=True)
        ),
        "binding.xor-mapped-address",
    ),
    "bad fingerprint": (
        lambda req, client: success(req, client).encode(fingerprint=True)[:-1] + b"\x00",
        "fingerprint.mismatch",
    ),
    "bad length": (lambda req, client: success(req, client).encode(fingerprint=True) + b"\x00" * 4, "length"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
async def test_probe_fails_on_a_broken_server(case: str, misbehaving: Any) -> None:
    build, expected = BROKEN[case]
    address = await misbehaving(build)
    findings = await probe(address, ["udp"], timeout=1)
    failed = [f for f in findings if f.failed]
    assert failed, findings
    assert any(expected in f.detail for f in failed), failed


async def test_probe_reports_a_silent_server(misbehaving: Any) -> None:
    address = await misbehaving(lambda req, client: b"")  # answers with an empty datagram: never a response
    findings = await probe(address, ["udp"], timeout=0.4)
    assert findings[0].failed and "no answer" in findings[0].detail


async def test_a_server_without_fingerprint_is_information_not_a_failure(misbehaving: Any) -> None:
    address = await misbehaving(lambda req, client: success(req, client).encode())
    findings = {f.rule: f for f in await probe(address, ["udp"], timeout=1)}
    assert findings["stun.fingerprint"].outcome == "info" and findings["stun.binding-udp"].outcome == "pass"
    webrtc = {f.rule: f for f in await probe(address, ["udp"], timeout=1, profile="webrtc")}
    assert webrtc["stun.fingerprint"].failed and "no FINGERPRINT" in webrtc["stun.fingerprint"].detail
