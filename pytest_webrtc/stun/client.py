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

__all__ = ["StunResponse", "StunSocket", "binding_request", "request"]


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


class _Collector(asyncio.DatagramProtocol):
    """Hands each datagram to the transaction waiting for its id."""

    def __init__(self) -> None:
        self.waiting: dict[bytes, asyncio.Future[tuple[bytes, Any]]] = {}

    def datagram_received(self, data: bytes, addr: Any) -> None:
        future = self.waiting.get(data[8:20]) if len(data) >= 20 else None
        if future is not None and not future.done():
            future.set_result((data, addr))

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
            raise StunTransactionError(
                f"no answer from udp {format_hostport(server)} after {transmissions} transmissions "
                f"({loop.time() - start:.2f} s)"
            )
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
        return StunResponse(header + body, server, local, 1, loop.time() - start)
    except asyncio.TimeoutError:
        raise StunTransactionError(f"no answer from tcp {format_hostport(server)} within {timeout:.2f} s") from None
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise StunTransactionError(f"tcp {format_hostport(server)} closed the connection: {exc}") from None
    finally:
        writer.close()
