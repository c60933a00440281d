"""The STUN server on real sockets: UDP, TCP, IPv6, RFC 5780, and garbage."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from pytest_webrtc.stun import Message, MessageClass, Method, check, decode
from pytest_webrtc.stun.client import binding_request, request
from pytest_webrtc.stun.server import StunServer

FAST = {"rto": 0.2, "transmissions": 3, "final_wait": 4}


@pytest.fixture
async def server() -> AsyncIterator[StunServer]:
    async with StunServer("127.0.0.1") as srv:
        yield srv


@pytest.fixture
async def rfc5780_server() -> AsyncIterator[StunServer]:
    async with StunServer("127.0.0.1", other_host="127.0.0.2") as srv:
        yield srv


def udp_socket(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.setblocking(False)
    return sock


async def recv(sock: socket.socket, timeout: float = 3.0) -> tuple[bytes, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    try:
        data, addr = await asyncio.wait_for(loop.sock_recvfrom(sock, 4096), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"nothing received on {sock.getsockname()} within {timeout} s") from None
    return data, addr[:2]


async def test_udp_binding_maps_the_real_source(server: StunServer) -> None:
    assert server.udp_address is not None and server.udp_address[1] != 0
    response = await request(binding_request().encode(fingerprint=True), server.udp_address, **FAST)
    assert response.message.get("XOR-MAPPED-ADDRESS") == response.local
    assert check(response.data, require_fingerprint=True) == []
    assert server.stats.requests == 1 and server.stats.responses == 1


async def test_tcp_binding(server: StunServer) -> None:
    assert server.tcp_address is not None
    response = await request(binding_request().encode(), server.tcp_address, transport="tcp", **FAST)
    assert response.message.get("XOR-MAPPED-ADDRESS") == response.local
    assert server.transactions[-1].transport == "tcp"


async def test_tcp_framing_back_to_back_and_split() -> None:
    async with StunServer("127.0.0.1", udp=False) as srv:
        assert srv.tcp_address is not None
        reader, writer = await asyncio.open_connection(*srv.tcp_address)
        first, second = binding_request(), binding_request()
        # Two messages in one segment, then one split across writes.
        writer.write(first.encode() + second.encode())
        third = binding_request().encode(fingerprint=True)
        writer.write(third[:7])
        await writer.drain()
        writer.write(third[7:])
        answers = []
        for _ in range(3):
            header = await asyncio.wait_for(reader.readexactly(20), 3)
            body = await asyncio.wait_for(reader.readexactly(struct.unpack("!H", header[2:4])[0]), 3)
            answers.append(decode(header + body).transaction_id)
        assert answers == [first.transaction_id, second.transaction_id, third[8:20]]
        # Garbage on a stream cannot be resynchronised: the server closes it and counts it.
        writer.write(b"GET / HTTP/1.1\r\n\r\n" + bytes(8))
        assert await asyncio.wait_for(reader.read(), 3) == b""
        writer.close()
        assert srv.stats.dropped == 1


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_ipv6(transport: str) -> None:
    async with StunServer("::1") as srv:
        target = srv.udp_address if transport == "udp" else srv.tcp_address
        assert target is not None and target[0] == "::1"
        response = await request(binding_request().encode(), target, transport=transport, **FAST)
        assert response.message.get("XOR-MAPPED-ADDRESS") == ("::1", response.local[1])
        assert response.data[20 + 5] == 0x02  # XOR-MAPPED-ADDRESS family IPv6 on the wire


async def test_dual_stack_reports_ipv4_clients_as_ipv4() -> None:
    async with StunServer("::", tcp=False) as srv:
        assert srv.udp_address is not None
        response = await request(binding_request().encode(), ("127.0.0.1", srv.udp_address[1]), **FAST)
        assert response.message.get("XOR-MAPPED-ADDRESS") == response.local


@pytest.mark.parametrize(
    "flags, origin_index",
    [(0, (0, 0)), (0x2, (0, 1)), (0x4, (1, 0)), (0x6, (1, 1))],
    ids=["no-change", "change-port", "change-ip", "change-both"],
)
async def test_rfc5780_change_request_answers_from_the_other_endpoint(
    rfc5780_server: StunServer, flags: int, origin_index: tuple[int, int]
) -> None:
    endpoints = rfc5780_server.responder.endpoints
    assert endpoints is not None
    assert endpoints[0][0][0] == "127.0.0.1" and endpoints[1][0][0] == "127.0.0.2"
    assert endpoints[0][0][1] == endpoints[1][0][1] != endpoints[0][1][1] == endpoints[1][1][1]
    req = binding_request(CHANGE_REQUEST=flags) if flags else binding_request()
    assert rfc5780_server.udp_address is not None
    response = await request(req.encode(), rfc5780_server.udp_address, **FAST)
    expected_origin = endpoints[origin_index[0]][origin_index[1]]
    assert response.source == expected_origin  # where it really came from on the wire
    assert response.message.get("RESPONSE-ORIGIN") == expected_origin
    assert response.message.get("OTHER-ADDRESS") == endpoints[1][1]
    assert check(response.data) == []


async def test_rfc5780_response_port_and_padding(rfc5780_server: StunServer) -> None:
    sender, receiver = udp_socket(), udp_socket()
    try:
        req = binding_request(RESPONSE_PORT=receiver.getsockname()[1], PADDING=bytes(100))
        assert rfc5780_server.udp_address is not None
        sender.sendto(req.encode(), rfc5780_server.udp_address)
        data, _ = await recv(receiver)
        response = decode(data)
        assert response.transaction_id == req.transaction_id
        assert response.get("XOR-MAPPED-ADDRESS") == sender.getsockname()  # mapped: the real source
        assert len(response.get("PADDING")) == 100
    finally:
        sender.close()
        receiver.close()


async def test_rfc5780_change_request_over_tcp_is_refused(rfc5780_server: StunServer) -> None:
    assert rfc5780_server.tcp_address is not None
    response = await request(
        binding_request(CHANGE_REQUEST=4).encode(), rfc5780_server.tcp_address, transport="tcp", **FAST
    )
    assert response.message.error_code == 400


async def test_server_survives_a_burst_of_random_garbage(server: StunServer) -> None:
    rng = random.Random(5769)
    sock = udp_socket()
    assert server.udp_address is not None
    try:
        sent = 0
        for _ in range(2000):
            size = rng.choice([0, 1, 19, 20, 21, 28, 100, 548, 1400])
            payload = bytearray(rng.randbytes(size))
            if size >= 20 and rng.random() < 0.5:
                payload[0] &= 0x01  # STUN-looking first byte
                payload[4:8] = b"\x21\x12\xa4\x42"
            sock.sendto(bytes(payload), server.udp_address)
            sent += 1
            if sent % 200 == 0:
                await asyncio.sleep(0)  # let the server's loop run; not a synchronisation
        # A valid request after the burst is still answered: the server is alive and well.
        response = await request(binding_request().encode(), server.udp_address, **FAST)
        assert response.message.message_class == MessageClass.SUCCESS
    finally:
        sock.close()
    stats = server.stats
    assert server.internal_errors == 0
    assert stats.dropped + stats.malformed + stats.requests + stats.indications > 0
    assert stats.dropped > 0


async def test_stop_releases_the_ports() -> None:
    srv = await StunServer("127.0.0.1").start()
    udp, tcp = srv.udp_address, srv.tcp_address
    await srv.stop()
    assert udp is not None and tcp is not None
    again = StunServer("127.0.0.1", port=udp[1])
    await again.start()  # binding the same port again works once stopped
    await again.stop()


async def test_unknown_attribute_over_udp_gets_420(server: StunServer) -> None:
    assert server.udp_address is not None
    req = Message(Method.BINDING, MessageClass.REQUEST).add_raw(0x7FF0, os.urandom(4))
    response = await request(req.encode(fingerprint=True), server.udp_address, **FAST)
    assert response.message.error_code == 420
    assert response.message.get("UNKNOWN-ATTRIBUTES") == [0x7FF0]
