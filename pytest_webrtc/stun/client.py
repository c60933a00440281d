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

from ..errors import StunTransactionError
from .message import Message, MessageClass, Method, decode

__all__ = ["StunResponse", "binding_request", "request"]

Address = tuple[str, int]


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
    def __init__(self, transaction_id: bytes) -> None:
        self.transaction_id = transaction_id
        self.answer: asyncio.Future[tuple[bytes, Any]] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) >= 20 and data[8:20] == self.transaction_id and not self.answer.done():
            self.answer.set_result((data, addr))

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(StunTransactionError(f"ICMP error: {exc}"))


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
    loop = asyncio.get_running_loop()
    transaction_id = data[8:20]
    start = loop.time()
    if transport == "tcp":
        return await _request_tcp(data, server, rto * final_wait, start)
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    if local is None:
        v6 = family == socket.AF_INET6
        loopback = ipaddress.ip_address(server[0]).is_loopback
        local = (("::1" if v6 else "127.0.0.1") if loopback else ("::" if v6 else "0.0.0.0"), 0)
    udp, collector = await loop.create_datagram_endpoint(
        lambda: _Collector(transaction_id),
        local_addr=local,
        family=family,
    )
    try:
        wait = rto
        for sent in range(1, transmissions + 1):
            udp.sendto(data, server)
            timeout = wait if sent < transmissions else rto * final_wait
            try:
                answer, source = await asyncio.wait_for(asyncio.shield(collector.answer), timeout)
            except asyncio.TimeoutError:
                wait *= 2
                continue
            local_addr = udp.get_extra_info("sockname")[:2]
            return StunResponse(answer, source[:2], local_addr, sent, loop.time() - start)
        raise StunTransactionError(
            f"no answer from udp {server[0]}:{server[1]} after {transmissions} transmissions "
            f"({loop.time() - start:.2f} s)"
        )
    finally:
        udp.close()


async def _request_tcp(data: bytes, server: Address, timeout: float, start: float) -> StunResponse:
    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(server[0], server[1]), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        raise StunTransactionError(f"cannot connect to tcp {server[0]}:{server[1]}: {exc}") from None
    try:
        writer.write(data)
        await writer.drain()
        header = await asyncio.wait_for(reader.readexactly(20), timeout)
        length = struct.unpack_from("!H", header, 2)[0]
        body = await asyncio.wait_for(reader.readexactly(length), timeout)
        local = writer.get_extra_info("sockname")[:2]
        return StunResponse(header + body, server, local, 1, loop.time() - start)
    except asyncio.TimeoutError:
        raise StunTransactionError(f"no answer from tcp {server[0]}:{server[1]} within {timeout:.2f} s") from None
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise StunTransactionError(f"tcp {server[0]}:{server[1]} closed the connection: {exc}") from None
    finally:
        writer.close()
