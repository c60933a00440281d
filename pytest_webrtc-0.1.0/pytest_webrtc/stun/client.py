"""A small STUN client that sends exact bytes (good or deliberately broken).

aioice's client builds its own messages; a conformance harness needs to send
what it chooses, byte for byte, and to see every answer raw.  UDP requests are
retransmitted as RFC 8489 §6.2.1 says (RTO doubling, Rc transmissions, a final
wait of Rm * RTO), with the RTO configurable so tests stay fast.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from ..addresses import Address, format_hostport
from ..errors import StunTransactionError
from .message import Message, MessageClass, Method, decode

__all__ = ["StunResponse", "StunSocket", "binding_request", "describe_received", "request"]


@dataclass
class StunResponse:
    data: bytes
    source: Address
    local: Address
    transmissions: int
    rtt: float
    message: Message = field(init=False)

    def __post_init__(self) -> None:
        self.message = decode(self.data)


def describe_received(received: list[tuple[bytes, Address]], request: bytes) -> str:
    """What came back instead of an answer to ``request``, in words: "answered 3 times with ..."."""
    from .message import HEADER_LENGTH, MAGIC_COOKIE_BYTES

    other_ids, not_stun, truncated = [], 0, 0
    for data, _ in received:
        cookies = {request[4:8], MAGIC_COOKIE_BYTES}  # an RFC 3489 request may get either back
        if data[:1] and data[0] >= 4 or (len(data) >= 8 and data[4:8] not in cookies):
            not_stun += 1  # RFC 7983 demultiplexing: not a STUN first byte, or not the cookie we sent
        elif len(data) < HEADER_LENGTH or struct.unpack_from("!H", data, 2)[0] + HEADER_LENGTH > len(data):
            truncated += 1
        else:
            other_ids.append(data[8:20])
    parts = []
    if other_ids:
        parts.append(
            f"{len(other_ids)} answer(s) with transaction ids that do not match the request's "
            f"(got {other_ids[-1].hex()}, sent {request[8:20].hex()})"
        )
    if truncated:
        parts.append(f"{truncated} truncated STUN message(s)")
    if not_stun:
        parts.append(f"{not_stun} datagram(s) that are not STUN")
    return "; ".join(parts)


class _Collector(asyncio.DatagramProtocol):
    """Hands each datagram to the transaction waiting for its id; keeps the others (``received``)."""

    def __init__(self) -> None:
        self.waiting: dict[bytes, asyncio.Future[tuple[bytes, Any]]] = {}
        self.received: list[tuple[bytes, Address]] = []  # datagrams no transaction waited for

    def datagram_received(self, data: bytes, addr: Any) -> None:
        future = self.waiting.get(data[8:20]) if len(data) >= 20 else None
        if future is not None and not future.done():
            future.set_result((data, addr))
        elif len(self.received) < 100:  # bounded: a flood must not grow it
            self.received.append((data, (addr[0], addr[1])))

    def error_received(self, exc: Exception) -> None:
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(StunTransactionError(f"ICMP error: {exc}"))


class StunSocket:
    """One local UDP endpoint for several transactions (RFC 5780 tests need the same local port)."""

    def __init__(self, transport: asyncio.DatagramTransport, collector: _Collector) -> None:
        self.transport, self.collector = transport, collector

    @classmethod
    async def open(cls, local: Address, family: int = socket.AF_INET) -> StunSocket:
        transport, collector = await asyncio.get_running_loop().create_datagram_endpoint(
            _Collector, local_addr=local, family=family
        )
        return cls(transport, collector)

    @property
    def local(self) -> Address:
        name = self.transport.get_extra_info("sockname")
        return name[0], name[1]

    async def request(
        self, data: bytes, server: Address, *, rto: float = 0.5, transmissions: int = 7, final_wait: float = 16
    ) -> StunResponse:
        """RFC 8489 §6.2.1 retransmissions: ``rto``, doubling, then ``rto * final_wait`` for the last one."""
        loop = asyncio.get_running_loop()
        transaction_id, start = data[8:20], loop.time()
        answer = self.collector.waiting[transaction_id] = loop.create_future()
        strays_before = len(self.collector.received)
        try:
            wait = rto
            for sent in range(1, transmissions + 1):
                self.transport.sendto(data, server)
                timeout = wait if sent < transmissions else rto * final_wait
                try:
                    data_in, source = await asyncio.wait_for(asyncio.shield(answer), timeout)
                except asyncio.TimeoutError:
                    wait *= 2
                    continue
                return StunResponse(data_in, source[:2], self.local, sent, loop.time() - start)
            received = self.collector.received[strays_before:]
            waited = f"after {transmissions} transmissions ({loop.time() - start:.2f} s)"
            if received:
                raise StunTransactionError(
                    f"no answer to the request from udp {format_hostport(server)} {waited}, but "
                    + describe_received(received, data),
                    received,
                )
            raise StunTransactionError(f"no answer from udp {format_hostport(server)} {waited}")
        finally:
            self.collector.waiting.pop(transaction_id, None)

    def close(self) -> None:
        self.transport.close()


def binding_request(**attributes: Any) -> Message:
    """A Binding request; keyword names use underscores for dashes (``SOFTWARE='x'``)."""
    message = Message(Method.BINDING, MessageClass.REQUEST)
    for name, value in attributes.items():
        message.add(name.replace("_", "-"), value)
    return message


async def request(
    data: bytes,
    server: Address,
    *,
    transport: str = "udp",
    rto: float = 0.5,
    transmissions: int = 7,
    final_wait: float = 16,
    local: Address | None = None,
) -> StunResponse:
    """Send ``data`` (an encoded request) and wait for the message with its transaction id.

    Raises :class:`StunTransactionError` on timeout, with how long was waited.
    """
    start = asyncio.get_running_loop().time()
    if transport == "tcp":
        return await _request_tcp(data, server, rto * final_wait, start)
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    if local is None:
        v6 = family == socket.AF_INET6
        loopback = ipaddress.ip_address(server[0]).is_loopback
        local = (("::1" if v6 else "127.0.0.1") if loopback else ("::" if v6 else "0.0.0.0"), 0)
    udp = await StunSocket.open(local, family)
    try:
        return await udp.request(data, server, rto=rto, transmissions=transmissions, final_wait=final_wait)
    finally:
        udp.close()


async def _request_tcp(data: bytes, server: Address, timeout: float, start: float) -> StunResponse:
    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(server[0], server[1]), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        raise StunTransactionError(f"cannot connect to tcp {format_hostport(server)}: {exc}") from None
    try:
        writer.write(data)
        await writer.drain()
        header = await asyncio.wait_for(reader.readexactly(20), timeout)
        length = struct.unpack_from("!H", header, 2)[0]
        body = await asyncio.wait_for(reader.readexactly(length), timeout)
        local = writer.get_extra_info("sockname")[:2]
        if header[8:20] != data[8:20]:  # over TCP the first frame is the answer, or there is none
            raise StunTransactionError(
                f"no answer to the request from tcp {format_hostport(server)}, but "
                + describe_received([(header + body, server)], data),
                [(header + body, server)],
            )
        return StunResponse(header + body, server, local, 1, loop.time() - start)
    except asyncio.TimeoutError:
        raise StunTransactionError(f"no answer from tcp {format_hostport(server)} within {timeout:.2f} s") from None
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise StunTransactionError(f"tcp {format_hostport(server)} closed the connection: {exc}") from None
    finally:
        writer.close()
