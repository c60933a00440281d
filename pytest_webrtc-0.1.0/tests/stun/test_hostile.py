"""Hostile input and load: bounded work per message, bounded TCP clients, every internal error counted.

Each test holds a defect measured on the old server (issue 18): it fails on that code.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
from collections.abc import AsyncIterator

import pytest

from pytest_webrtc.stun import Message, MessageClass, Method, decode
from pytest_webrtc.stun.client import binding_request, request
from pytest_webrtc.stun.message import MAGIC_COOKIE_BYTES
from pytest_webrtc.stun.responder import MAX_PADDING, MAX_UNKNOWN_LISTED
from pytest_webrtc.stun.server import StunServer, TcpLimits

FAST = {"rto": 0.2, "transmissions": 3, "final_wait": 4}


def many_unknown(count: int = 16_369) -> bytes:
    """One request carrying ``count`` distinct unknown comprehension-required attributes (4 bytes each)."""
    body = b"".join(struct.pack("!HH", 0x4000 + i, 0) for i in range(count))
    return struct.pack("!HH", 0x0001, len(body)) + MAGIC_COOKIE_BYTES + os.urandom(12) + body


async def test_a_request_with_thousands_of_unknown_attributes_is_answered_fast_and_small() -> None:
    async with StunServer("127.0.0.1") as server:
        assert server.udp_address is not None
        started = time.perf_counter()
        answer = await request(many_unknown(), server.udp_address, **FAST)
        seconds = time.perf_counter() - started
        plain = await request(binding_request().encode(), server.udp_address, **FAST)
    assert answer.message.error_code == 420
    listed = answer.message.get("UNKNOWN-ATTRIBUTES")
    assert listed == [0x4000 + i for i in range(MAX_UNKNOWN_LISTED)]  # a subset, RFC 8489 §6.3.1.1
    assert len(answer.data) < 200 and seconds < 1.0, (len(answer.data), seconds)  # was 32,824 B in 2.4 s
    assert plain.message.message_class == MessageClass.SUCCESS and server.internal_errors == 0


async def test_the_same_frame_over_tcp_does_not_stall_other_clients() -> None:
    async with StunServer("127.0.0.1") as server:
        assert server.tcp_address is not None
        reader, writer = await asyncio.open_connection(*server.tcp_address)
        writer.write(many_unknown() * 3)
        started = time.perf_counter()
        other = await request(binding_request().encode(), server.tcp_address, transport="tcp", **FAST)
        waited = time.perf_counter() - started
        for _ in range(3):
            header = await asyncio.wait_for(reader.readexactly(20), 5)
            await asyncio.wait_for(reader.readexactly(struct.unpack_from("!H", header, 2)[0]), 5)
        writer.close()
    assert other.message.message_class == MessageClass.SUCCESS and waited < 1.0, waited


@pytest.mark.parametrize("size", [65_440, 65_460, 65_472, 65_480])
async def test_padding_that_cannot_fit_a_datagram_is_refused_not_lost(size: int) -> None:
    async with StunServer("127.0.0.1", other_host="127.0.0.2") as server:
        assert server.udp_address is not None
        sent = binding_request().add("PADDING", bytes(size))
        answer = await request(sent.encode(), server.udp_address, **FAST)
        fits = await request(binding_request().add("PADDING", bytes(MAX_PADDING)).encode(), server.udp_address, **FAST)
    assert answer.message.error_code == 400 and "PADDING" in answer.message.get("ERROR-CODE")[1]
    assert fits.message.message_class == MessageClass.SUCCESS and len(fits.message.get("PADDING")) == MAX_PADDING
    assert server.internal_errors == 0 and server.stats.malformed == 1


async def test_an_internal_error_is_counted_logged_and_the_server_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    async with StunServer("127.0.0.1") as server:
        assert server.udp_address is not None

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("a bug")

        original = server.responder.respond
        server.responder.respond = broken  # type: ignore[method-assign]
        for endpoint in server._udp.values():
            endpoint.respond = broken  # type: ignore[method-assign]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(binding_request().add("SOFTWARE", "x").encode(), server.udp_address)
            for _ in range(100):
                if server.internal_errors:
                    break
                await asyncio.sleep(0.01)  # polling a counter the server's loop updates, bounded
        server.responder.respond = original  # type: ignore[method-assign]
        for endpoint in server._udp.values():
            endpoint.respond = original  # type: ignore[method-assign]
        after = await request(binding_request().add("SOFTWARE", "x").encode(), server.udp_address, **FAST)
    assert server.internal_errors == 1 and server.stats.as_dict()["internal_errors"] == 1
    assert "internal error answering udp 127.0.0.1:" in caplog.text and "RuntimeError: a bug" in caplog.text
    assert after.message.message_class == MessageClass.SUCCESS


@pytest.fixture
async def tight() -> AsyncIterator[StunServer]:
    limits = TcpLimits(max_connections=4, frame_timeout=0.3, idle_timeout=0.6, pause_above=16_384, close_above=65_536)
    async with StunServer("127.0.0.1", udp=False, tcp_limits=limits) as server:
        yield server


async def closed(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), within) == b""
    except (asyncio.TimeoutError, ConnectionError):
        return False


async def test_a_frame_that_never_finishes_is_closed_after_the_frame_timeout(tight: StunServer) -> None:
    assert tight.tcp_address is not None
    reader, writer = await asyncio.open_connection(*tight.tcp_address)
    writer.write(struct.pack("!HH", 0x0001, 0xFFFF) + MAGIC_COOKIE_BYTES + os.urandom(12))  # 65,535 promised
    assert await closed(reader, 3.0)
    writer.close()
    assert tight.stats.tcp_timeouts == 1


async def test_an_idle_connection_is_closed_after_the_idle_timeout(tight: StunServer) -> None:
    assert tight.tcp_address is not None
    reader, writer = await asyncio.open_connection(*tight.tcp_address)
    assert not await closed(reader, 0.2)  # still open before the timeout
    assert await closed(reader, 3.0)
    writer.close()
    assert tight.stats.tcp_timeouts == 1


async def test_connections_beyond_the_cap_are_closed_and_counted(tight: StunServer) -> None:
    assert tight.tcp_address is not None
    held = [await asyncio.open_connection(*tight.tcp_address) for _ in range(4)]
    reader, writer = await asyncio.open_connection(*tight.tcp_address)
    assert await closed(reader, 3.0) and tight.stats.tcp_refused == 1
    for _, w in held + [(reader, writer)]:
        w.close()


async def test_a_client_that_never_reads_is_paused_then_cut_off_and_others_are_served(tight: StunServer) -> None:
    assert tight.tcp_address is not None
    burst = binding_request().encode() * 4000  # 80 kB of requests: their replies exceed close_above
    with socket.create_connection(tight.tcp_address) as hog:
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.setblocking(False)
        try:
            for _ in range(50):
                hog.send(burst)
        except BlockingIOError:
            pass  # the server stopped reading it: the kernel buffers filled up
        started = time.perf_counter()
        other = await request(binding_request().encode(), tight.tcp_address, transport="tcp", **FAST)
        assert other.message.message_class == MessageClass.SUCCESS and time.perf_counter() - started < 1.0

        def stopped() -> bool:  # cut off, or no longer read while its replies wait
            hogs = [c for c in tight._tcp_connections if c.transport is not None and not c.transport.is_reading()]
            return bool(tight.stats.tcp_slow_readers or hogs)

        for _ in range(300):
            if stopped():
                break
            await asyncio.sleep(0.01)  # polling the server's state, bounded
        assert stopped()
        for connection in tight._tcp_connections:  # what it buffers for anyone stays bounded
            assert connection.transport is None or connection.transport.get_write_buffer_size() <= 65_536 + 4096


def test_unknown_attributes_are_listed_once_each_in_order() -> None:
    from pytest_webrtc.stun.responder import Responder

    message = Message(Method.BINDING, MessageClass.REQUEST)
    for attr_type in (0x7FF1, 0x7FF0, 0x7FF1, 0x7FF2):
        message.add_raw(attr_type, b"\x00\x00\x00\x00")
    reply = Responder("test").respond(message.encode(), ("127.0.0.1", 1), ("127.0.0.1", 2))
    assert reply is not None and decode(reply.data).get("UNKNOWN-ATTRIBUTES") == [0x7FF1, 0x7FF0, 0x7FF2]
