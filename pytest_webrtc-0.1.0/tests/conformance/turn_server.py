"""A small TURN server for the tests, correct unless told one fault (RFC 8656 over UDP, TCP and TLS).

Long-term credentials (REALM ``broken``, one NONCE per server; another NONCE gets 438), one
allocation per 5-tuple with a relay socket on 127.0.0.1, permissions per IP address with a
lifetime, channels 0x4000-0x4FFF.  Peers must be on ``allowed_peer`` (like coturn's
``--allowed-peer-ip``): everything else on loopback, unspecified or mapped loopback gets 403.
Each fault breaks exactly one behaviour, so each rule has a server broken for it alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import ssl
import struct
from dataclasses import dataclass, field
from typing import Any

from pytest_webrtc.certificates import self_signed
from pytest_webrtc.conformance.turn_target import channel_data, parse_channel_data
from pytest_webrtc.stun import Message, MessageClass, Method, check, decode
from pytest_webrtc.stun.credentials import long_term_key

Address = tuple[str, int]
REALM = "broken"
KNOWN = {0x0006, 0x0008, 0x000C, 0x000D, 0x0012, 0x0013, 0x0014, 0x0015, 0x0017, 0x0019, 0x001A, 0x0020}


def _forbidden(host: str, allowed: str) -> bool:
    address = ipaddress.ip_address(host)
    if str(address) == allowed:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(
        address.is_loopback or address.is_unspecified or (mapped and (mapped.is_loopback or mapped.is_unspecified))
    )


@dataclass
class Allocation:
    relay: asyncio.DatagramTransport
    relayed: Address
    tid: bytes
    permissions: dict[str, float] = field(default_factory=dict)  # peer IP -> expiry (loop time)
    channels: dict[int, Address] = field(default_factory=dict)


class BrokenTurn:
    def __init__(
        self,
        fault: str = "",
        *,
        allowed_peer: str = "127.0.0.2",
        permission_lifetime: float = 300,
        ipv6_relay: bool = False,
    ) -> None:
        self.fault, self.allowed_peer, self.permission_lifetime = fault, allowed_peer, permission_lifetime
        self.ipv6_relay = ipv6_relay  # it offers IPv6 relayed addresses (REQUESTED-ADDRESS-FAMILY 0x02)
        self.user, self.password = "u", "p"
        self.key = long_term_key(self.user, REALM, self.password)
        self.nonce = os.urandom(8).hex()
        self.allocations: dict[tuple[Any, Address], Allocation] = {}
        self.closers: list[Any] = []
        self.udp: Address = ("", 0)
        self.tcp: Address = ("", 0)
        self.tls: Address = ("", 0)

    async def start(self, tls_context: ssl.SSLContext | None = None) -> BrokenTurn:
        loop = asyncio.get_running_loop()
        server = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                reply = lambda out: self.transport.sendto(out, addr)  # noqa: E731
                asyncio.ensure_future(server.handle(data, ("udp", None), (addr[0], addr[1]), reply))

        transport, _ = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", 0))
        self.closers.append(transport)
        self.udp = transport.get_extra_info("sockname")[:2]
        tcp = await asyncio.start_server(self._stream, "127.0.0.1", self.udp[1])
        self.closers.append(tcp)
        self.tcp = self.udp
        if tls_context is not None:
            tls = await asyncio.start_server(self._stream, "127.0.0.1", 0, ssl=tls_context)
            self.closers.append(tls)
            self.tls = tls.sockets[0].getsockname()[:2]
        return self

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[:2]
        key = ("tcp", id(writer))
        try:
            while True:
                head = await reader.readexactly(4)
                length = struct.unpack_from("!H", head, 2)[0]
                if head[0] >= 0x40:
                    body = await reader.readexactly(length + (-(4 + length) % 4))
                else:
                    body = await reader.readexactly(16 + length)
                await self.handle(head + body, key, peer, writer.write)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            allocation = self.allocations.pop((key, peer), None)
            if allocation is not None:
                allocation.relay.close()
            writer.close()

    def close(self) -> None:
        for closer in self.closers:
            closer.close()
        for allocation in self.allocations.values():
            allocation.relay.close()

    # -- requests ---------------------------------------------------------------------------------
    def _answer(self, request: Message, klass: MessageClass, *attrs: tuple[str, Any], sign: bool = True) -> bytes:
        message = Message(request.method, klass, request.transaction_id)
        for name, value in attrs:
            message.add(name, value)
        return message.encode(integrity_key=self.key if sign else None)

    def _error(self, request: Message, code: int, reason: str, *attrs: tuple[str, Any], sign: bool = True) -> bytes:
        return self._answer(request, MessageClass.ERROR, ("ERROR-CODE", (code, reason)), *attrs, sign=sign)

    async def handle(self, data: bytes, transport: tuple[str, Any], client: Address, reply: Any) -> None:
        stream = transport[0] == "tcp"
        channel = parse_channel_data(data)
        allocation = self.allocations.get((transport, client))
        if channel is not None:
            if allocation is not None and channel[0] in allocation.channels:
                allocation.relay.sendto(channel[1], allocation.channels[channel[0]])
            return
        try:
            request = decode(data)
        except Exception:
            return
        if request.message_class == MessageClass.INDICATION:
            if request.method == Method.SEND and allocation is not None:
                peer = tuple(request.get("XOR-PEER-ADDRESS"))
                if self._permitted(allocation, peer[0]):
                    if self.fault == "send-refreshes":
                        allocation.permissions[peer[0]] = self._now() + self.permission_lifetime
                    allocation.relay.sendto(request.get("DATA"), peer)
            return
        if request.message_class != MessageClass.REQUEST:
            return
        if self.fault == "drops-unknown" and {a.type for a in request.attributes} - KNOWN - {0x8028, 0x8022}:
            return
        if "MESSAGE-INTEGRITY" not in request:
            if self.fault == "open-relay" and request.method == Method.ALLOCATE:
                await self._allocate(request, transport, client, reply, stream, sign=False)
                return
            big = ("SOFTWARE", "x" * 500) if self.fault == "big-401" else ("SOFTWARE", "broken-turn")
            reply(self._error(request, 401, "Unauthorized", ("REALM", REALM), ("NONCE", self.nonce), big, sign=False))
            return
        if request.get("NONCE") != self.nonce:
            if self.fault == "stale-as-401":
                reply(self._error(request, 401, "Unauthorized", ("REALM", REALM), ("NONCE", self.nonce), sign=False))
            else:
                reply(self._error(request, 438, "Stale Nonce", ("REALM", REALM), ("NONCE", self.nonce), sign=False))
            return
        if self.fault != "ignores-integrity" and check(data, key=self.key):
            reply(self._error(request, 401, "Unauthorized", ("REALM", REALM), ("NONCE", self.nonce), sign=False))
            return
        unknown = [a.type for a in request.attributes if a.type < 0x8000 and a.type not in KNOWN]
        if unknown and self.fault != "ignores-unknown":
            reply(self._error(request, 420, "Unknown Attribute", ("UNKNOWN-ATTRIBUTES", unknown)))
            return
        if request.method == Method.ALLOCATE:
            await self._allocate(request, transport, client, reply, stream)
        elif allocation is None:
            reply(self._error(request, 437, "Allocation Mismatch"))
        elif request.method == Method.REFRESH:
            self._refresh(request, transport, client, allocation, reply)
        elif request.method == Method.CREATE_PERMISSION:
            self._create_permission(request, allocation, reply)
        elif request.method == Method.CHANNEL_BIND:
            self._channel_bind(request, allocation, reply)
        else:
            reply(self._error(request, 400, "Bad Request"))

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _permitted(self, allocation: Allocation, host: str) -> bool:
        if self.fault == "relays-any-permission" and allocation.permissions:
            return True
        return allocation.permissions.get(host, 0) > self._now()

    async def _allocate(
        self, request: Message, transport: Any, client: Address, reply: Any, stream: bool, sign: bool = True
    ) -> None:
        existing = self.allocations.get((transport, client))
        if existing is not None and self.fault != "realloc":
            if existing.tid == request.transaction_id:
                reply(self._success_allocate(request, existing, client, sign))
            else:
                reply(self._error(request, 437, "Allocation Mismatch"))
            return
        if existing is not None:  # "realloc": a second allocation replaces the first on the same 5-tuple
            existing.relay.close()
        requested = request.get("REQUESTED-TRANSPORT")
        if requested is None and self.fault != "default-udp":
            reply(self._error(request, 400, "Bad Request"))
            return
        if requested not in (None, 17):
            code = 400 if self.fault == "any-transport-400" else 442
            reply(self._error(request, code, "Unsupported Transport Protocol"))
            return
        family = request.get("REQUESTED-ADDRESS-FAMILY")
        if family not in (None, 0x01) and not (family == 0x02 and self.ipv6_relay):
            reply(self._error(request, 440, "Address Family not Supported"))
            return
        if stream and self.fault == "tcp-500":
            reply(self._error(request, 500, "Server Error"))
            return
        server, key = self, (transport, client)

        class Relay(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                server._from_peer(key, data, (addr[0], addr[1]), reply, stream)

        relay_host = "::1" if family == 0x02 else "127.0.0.1"
        relay, _ = await asyncio.get_running_loop().create_datagram_endpoint(Relay, local_addr=(relay_host, 0))
        allocation = Allocation(relay, relay.get_extra_info("sockname")[:2], request.transaction_id)
        self.allocations[key] = allocation
        reply(self._success_allocate(request, allocation, client, sign))

    def _success_allocate(self, request: Message, allocation: Allocation, client: Address, sign: bool) -> bytes:
        attrs: list[tuple[str, Any]] = [("XOR-RELAYED-ADDRESS", allocation.relayed), ("XOR-MAPPED-ADDRESS", client)]
        if self.fault != "no-lifetime":
            attrs.append(("LIFETIME", 600))
        return self._answer(request, MessageClass.SUCCESS, *attrs, sign=sign and self.fault != "unsigned-success")

    def _refresh(self, request: Message, transport: Any, client: Address, allocation: Allocation, reply: Any) -> None:
        lifetime = request.get("LIFETIME", 600)
        if lifetime == 0 and self.fault != "keeps-deleted":
            allocation.relay.close()
            del self.allocations[(transport, client)]
        granted = 0 if self.fault == "refresh-lifetime-0" else min(lifetime, 3600)
        reply(self._answer(request, MessageClass.SUCCESS, ("LIFETIME", granted)))

    def _peer_refused(self, request: Message, peer: Address, reply: Any) -> bool:
        mapped_ok = self.fault == "mapped-loopback" and peer[0].startswith("::ffff:")
        if _forbidden(peer[0], self.allowed_peer) and not mapped_ok:
            reply(self._error(request, 403, "Forbidden"))
            return True
        if ":" in peer[0] and not mapped_ok:
            reply(self._error(request, 443, "Peer Address Family Mismatch"))
            return True
        return False

    def _create_permission(self, request: Message, allocation: Allocation, reply: Any) -> None:
        peers = [tuple(a.value) for a in request.attributes if a.name == "XOR-PEER-ADDRESS"]
        if not peers:
            reply(self._error(request, 400, "Bad Request"))
            return
        for peer in peers:
            if self._peer_refused(request, peer, reply):
                return
        for peer in peers:
            allocation.permissions[peer[0]] = self._now() + self.permission_lifetime
        reply(self._answer(request, MessageClass.SUCCESS))

    def _channel_bind(self, request: Message, allocation: Allocation, reply: Any) -> None:
        number, peer = request.get("CHANNEL-NUMBER"), tuple(request.get("XOR-PEER-ADDRESS"))
        top = 0x7FFF if self.fault == "wide-channels" else 0x4FFF
        if not 0x4000 <= number <= top:
            reply(self._error(request, 400, "Bad Request"))
            return
        bound = allocation.channels.get(number)
        taken = next((n for n, p in allocation.channels.items() if p == peer and n != number), None)
        if (bound is not None and bound != peer and self.fault != "rebinds") or taken is not None:
            reply(self._error(request, 400, "Bad Request"))
            return
        if self._peer_refused(request, peer, reply):
            return
        allocation.channels[number] = peer
        allocation.permissions[peer[0]] = self._now() + self.permission_lifetime
        reply(self._answer(request, MessageClass.SUCCESS))

    def _from_peer(self, key: Any, data: bytes, peer: Address, reply: Any, stream: bool) -> None:
        allocation = self.allocations.get(key)
        if allocation is None or not self._permitted(allocation, peer[0]):
            return
        number = next((n for n, p in allocation.channels.items() if p == peer), None)
        if number is not None and self.fault != "channel-as-data":
            reply(channel_data(number, data, pad=stream and self.fault != "no-padding"))
            return
        source = (peer[0], peer[1] ^ 1) if self.fault == "wrong-peer-address" else peer
        indication = Message(Method.DATA, MessageClass.INDICATION).add("XOR-PEER-ADDRESS", source).add("DATA", data)
        reply(indication.encode())


@contextlib.asynccontextmanager
async def broken_turn(fault: str = "", tls_context: ssl.SSLContext | None = None, **options: Any) -> Any:
    server = await BrokenTurn(fault, **options).start(tls_context)
    try:
        yield server
    finally:
        server.close()


def self_signed_context(workdir: str) -> ssl.SSLContext:
    """A TLS server context with a fresh self-signed certificate for 127.0.0.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed(workdir))
    return context


async def serve(fault: str, lifetime: float = 120.0) -> None:
    """Serve until stdin closes (or ``lifetime`` seconds): for tests that need the server in another process."""
    import sys

    async with broken_turn(fault) as server:
        print(server.udp[1], flush=True)
        loop = asyncio.get_running_loop()
        closed = loop.run_in_executor(None, sys.stdin.read)
        await asyncio.wait_for(closed, lifetime)


if __name__ == "__main__":
    import sys

    asyncio.run(serve(sys.argv[1] if len(sys.argv) > 1 else ""))
