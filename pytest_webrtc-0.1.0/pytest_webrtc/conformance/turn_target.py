"""The TURN server under judgement, what is claimed of it, and peers the harness owns.

:class:`TurnTarget` says where the server is and what the user claims of it (TCP, TLS, RFC 6062
TCP allocations, IPv6 relays, a short permission lifetime) and where a peer may be: an address
the user names (``--peer-address``), a decoy host in a namespace the harness built
(:class:`pytest_webrtc.nat.decoy.Decoy`), or loopback when the server is on loopback.

:class:`PeerSocket` is a UDP socket of the harness's own at a peer address: what the relay sends
it arrives there, and it can answer.  The client side is :mod:`.turn_session`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from typing import Any

from ..addresses import Address
from ..stun.message import Message, method_name
from .outcome import Skip

__all__ = [
    "INCOMING_LIMIT",
    "NO_PEER",
    "REQUEST_TIMEOUT",
    "PeerSocket",
    "TurnTarget",
    "channel_data",
    "describe",
    "parse_channel_data",
    "token",
]

REQUEST_TIMEOUT = 2.0
INCOMING_LIMIT = 256  # what the server sends unasked is kept up to this many messages (per queue)


@dataclass(frozen=True)
class TurnTarget:
    server: Address  # UDP (and, unless tcp_address says otherwise, TCP) address
    user: str | None = None
    password: str | None = None
    realm: str | None = None  # the realm the server must name, when the user knows it
    tcp: bool = False  # --tcp: TURN over TCP is claimed (RFC 8656 framing)
    tcp_address: Address | None = None
    tls: Address | None = None  # --tls HOST:PORT: TURN over TLS is claimed there
    tcp_relay: bool = False  # --tcp-relay: RFC 6062 TCP allocations are claimed
    ipv6_relay: bool = False  # --ipv6-relay: IPv6 relayed addresses are claimed (REQUESTED-ADDRESS-FAMILY)
    peer_address: str | None = None  # --peer-address: where a peer of ours may be reached by the relay
    permission_lifetime: float | None = None  # --permission-lifetime S: the server was started with it
    timeout: float = REQUEST_TIMEOUT
    decoy: Any = None  # a turn_decoy.Decoy: peers in a namespace the harness built
    contained: bool = False  # the server runs inside a namespace the harness built (private probes allowed)

    @property
    def tcp_server(self) -> Address:
        return self.tcp_address or self.server

    @property
    def tcp_claimed(self) -> bool:
        return self.tcp or self.tcp_address is not None

    @property
    def on_loopback(self) -> bool:
        return ipaddress.ip_address(self.server[0]).is_loopback

    def claims(self) -> list[str]:
        return [
            name
            for name, claimed in (
                ("long-term credentials", self.user is not None),
                ("tcp", self.tcp_claimed),
                ("tls", self.tls is not None),
                ("rfc6062 tcp relay", self.tcp_relay),
                ("ipv6 relay", self.ipv6_relay),
                (f"permission lifetime {self.permission_lifetime} s", self.permission_lifetime is not None),
            )
            if claimed
        ]

    def peer_host(self) -> tuple[str, str] | None:
        """Where a peer of ours may sit, and how it came to be chosen; None when nowhere."""
        if self.peer_address:
            return self.peer_address, "--peer-address"
        if self.decoy is not None:
            return self.decoy.peer, "a decoy host in a namespace the harness built"
        if self.on_loopback:
            return "127.0.0.1", "loopback (the server is on loopback)"
        return None

    async def open_peer(self, host: str | None = None) -> PeerSocket:
        """A peer socket at ``host`` (default: the peer host), inside the decoy's namespace when it is there."""
        chosen = self.peer_host()
        host = host or (chosen[0] if chosen else None)
        if host is None:
            raise Skip(NO_PEER)
        if self.decoy is not None and self.decoy.holds(host):
            return await PeerSocket.open(host, await self.decoy.open_socket(host))
        return await PeerSocket.open(host)


NO_PEER = (
    "cannot be judged: no peer address the server may relay to (the server is not on loopback); "
    "name one of this machine's addresses the server can reach with --peer-address, or let the harness "
    "build a decoy host with --decoy (root)"
)


def describe(message: Message) -> str:
    """ "an Allocate error 401 (Unauthorized)", "a CreatePermission success": what came back, in words."""
    name = {"CREATE-PERMISSION": "CreatePermission", "CHANNEL-BIND": "ChannelBind"}.get(
        method_name(message.method), method_name(message.method).capitalize()
    )
    text = f"{'an' if name[0] in 'AEIOU' else 'a'} {name} {message.message_class.name.lower()}"
    error = message.get("ERROR-CODE")
    if error is not None and not isinstance(error, bytes):
        reason = str(error[1]).strip(" \x00")
        text += f" {error[0]} ({reason})" if reason else f" {error[0]}"
    return text


def channel_data(number: int, data: bytes, pad: bool = False) -> bytes:
    """A ChannelData message (RFC 8656 §12.4), padded to 4 bytes when ``pad`` (TCP and TLS)."""
    body = struct.pack("!HH", number, len(data)) + data
    return body + b"\x00" * (-len(body) % 4 if pad else 0)


def parse_channel_data(data: bytes) -> tuple[int, bytes] | None:
    if len(data) < 4 or not 0x40 <= data[0] <= 0x4F:
        return None
    number, length = struct.unpack_from("!HH", data)
    return number, data[4 : 4 + length]


class PeerSocket:
    """A UDP socket of ours at a peer address: it records what arrives, with the sender."""

    def __init__(self, transport: asyncio.DatagramTransport, received: asyncio.Queue[tuple[bytes, Address]]) -> None:
        self.transport, self.received = transport, received
        self.address: Address = transport.get_extra_info("sockname")[:2]

    @classmethod
    async def open(cls, host: str, sock: socket.socket | None = None) -> PeerSocket:
        received: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue(INCOMING_LIMIT)

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                with contextlib.suppress(asyncio.QueueFull):
                    received.put_nowait((data, (addr[0], addr[1])))

        loop = asyncio.get_running_loop()
        if sock is None:
            try:
                transport, _ = await loop.create_datagram_endpoint(Protocol, local_addr=(host, 0))
            except OSError as exc:
                raise Skip(f"cannot be judged: cannot open a peer socket at {host}: {exc}") from None
        else:
            transport, _ = await loop.create_datagram_endpoint(Protocol, sock=sock)
        return cls(transport, received)

    async def next(self, timeout: float) -> tuple[bytes, Address] | None:
        try:
            return await asyncio.wait_for(self.received.get(), timeout)
        except asyncio.TimeoutError:
            return None

    def send(self, data: bytes, to: Address) -> None:
        self.transport.sendto(data, to)

    def close(self) -> None:
        self.transport.close()


def token() -> bytes:
    """A payload no one else sends: what arrives with it came from this probe."""
    return b"pytest-webrtc " + os.urandom(8).hex().encode()
