"""The demo's interop checks: each passes against our server and fails against one broken for it."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pytest_webrtc import demo
from pytest_webrtc.addresses import Address
from pytest_webrtc.stun import Message, MessageClass, Method, decode
from pytest_webrtc.stun.responder import ServerStats
from pytest_webrtc.stun.server import StunServer


class Answering(asyncio.DatagramProtocol):
    def __init__(self, build: Callable[[Message, Address], bytes | None]) -> None:
        self.build = build

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        reply = self.build(decode(data), addr)
        if reply is not None:
            self.transport.sendto(reply, addr)


@pytest.fixture
async def server() -> AsyncIterator[Callable[[Callable[[Message, Address], bytes | None]], Any]]:
    transports = []

    async def start(build: Callable[[Message, Address], bytes | None]) -> Address:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: Answering(build), local_addr=("127.0.0.1", 0))
        transports.append(transport)
        return transport.get_extra_info("sockname")[:2]  # type: ignore[no-any-return]

    yield start
    for transport in transports:
        transport.close()


def wrong_port(request: Message, client: Address) -> bytes:
    response = Message(Method.BINDING, MessageClass.SUCCESS, request.transaction_id)
    return response.add("XOR-MAPPED-ADDRESS", (client[0], client[1] ^ 1)).encode(fingerprint=True)


def refuse(request: Message, client: Address) -> bytes:
    response = Message(Method.BINDING, MessageClass.ERROR, request.transaction_id)
    return response.add("ERROR-CODE", (400, "Bad Request")).encode(fingerprint=True)


async def test_every_check_passes_against_our_server() -> None:
    async with StunServer("127.0.0.1") as ours:
        assert ours.udp_address is not None
        found = [
            await demo._aioice_gathering(ours.udp_address),
            await demo._aiortc_gathering(ours.udp_address),
            await demo._coturn_client(ours.udp_address),
        ]
        found.append(demo._counters(ours.stats))
    assert [(f.rule, f.outcome) for f in found] == [
        ("demo.aioice-srflx", "pass"),
        ("demo.aiortc-srflx", "pass"),
        ("demo.coturn-client", "pass" if shutil.which("turnutils_stunclient") else "skip"),
        ("demo.counters", "pass"),
    ], found


async def test_aioice_srflx_fails_when_the_mapped_port_is_wrong(server: Any) -> None:
    finding = await demo._aioice_gathering(await server(wrong_port), timeout=5)
    assert (finding.rule, finding.outcome) == ("demo.aioice-srflx", "fail") and "for host" in finding.detail


async def test_aiortc_srflx_fails_when_the_server_refuses(server: Any) -> None:
    finding = await demo._aiortc_gathering(await server(refuse), timeout=5)
    assert (finding.rule, finding.outcome) == ("demo.aiortc-srflx", "fail")
    assert finding.detail == "no 'typ srflx' line in the SDP"


async def test_coturn_client_fails_when_nothing_answers(server: Any) -> None:
    if shutil.which("turnutils_stunclient") is None:
        pytest.skip("coturn is not installed (apt-get install coturn)")
    finding = await demo._coturn_client(await server(lambda request, client: None), timeout=1)
    assert (finding.rule, finding.outcome, finding.detail) == ("demo.coturn-client", "fail", "no answer within 1 s")


def test_counters_fail_when_the_server_dropped_a_request() -> None:
    finding = demo._counters(ServerStats(requests=2, responses=1, dropped=1))
    assert (finding.rule, finding.outcome) == ("demo.counters", "fail")
    assert demo._counters(ServerStats(requests=2, responses=1, errors=1)).outcome == "pass"
