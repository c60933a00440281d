"""The TURN server under judgement, a client session on it, and peers the harness owns.

:class:`TurnTarget` says where the server is and what the user claims of it (TCP, TLS, RFC 6062
TCP allocations, IPv6 relays, a short permission lifetime) and where a peer may be: an address
the user names (``--peer-address``), a decoy host in a namespace the harness built
(:mod:`.turn_decoy`), or loopback when the server is on loopback.

:class:`TurnSession` is one client transport (UDP, TCP or TLS) with the long-term credential
mechanism (RFC 8489 §9.2): :meth:`TurnSession.authenticate` learns REALM and NONCE from the first
401, every later request is signed, and a 438 (Stale Nonce) is answered once with the new NONCE.
It keeps whatever the server sends that answers no request — Data indications and ChannelData —
in :attr:`TurnSession.incoming`, bounded.

:class:`PeerSocket` is a UDP socket of the harness's own at a peer address: what the relay sends
it arrives there, and it can answer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import os
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ..addresses import Address, format_hostport
from ..errors import StunDecodeError
from ..stun.checks import check
from ..stun.credentials import long_term_key
from ..stun.message import Message, MessageClass, Method, decode, method_name
from .outcome import Fail, Skip

__all__ = [
    "REQUEST_TIMEOUT",
    "PeerSocket",
    "TurnSession",
    "TurnTarget",
    "channel_data",
    "describe",
    "parse_channel_data",
]

UDP, TCP = 17, 6  # REQUESTED-TRANSPORT protocol numbers (RFC 8656 §18.8)
REQUEST_TIMEOUT = 2.0
INCOMING_LIMIT = 256  # what the server sends unasked is kept up to this many messages
# Local UDP ports of recent sessions: a server may delete a released allocation lazily (coturn: at
# its next timer tick), so a new session on a reused port could meet the old one's 437.
_RECENT_PORTS: collections.deque[int] = collections.deque(maxlen=512)


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


@dataclass
class Incoming:
    """What the server sent that answers no request: ('data', Message) or ('channel', (number, bytes))."""

    items: asyncio.Queue[tuple[str, Any, bytes]] = field(default_factory=lambda: asyncio.Queue(INCOMING_LIMIT))

    def put(self, kind: str, value: Any, raw: bytes) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # bounded: a flood must not grow it
            self.items.put_nowait((kind, value, raw))

    async def next(self, timeout: float, kind: str | None = None) -> tuple[str, Any, bytes] | None:
        """The next item (of ``kind``), or None after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while (left := end - loop.time()) > 0:
            try:
                item = await asyncio.wait_for(self.items.get(), left)
            except asyncio.TimeoutError:
                return None
            if kind is None or item[0] == kind:
                return item
        return None

    def clear(self) -> None:
        while not self.items.empty():
            self.items.get_nowait()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, deliver: Callable[[bytes], None]) -> None:
        self.deliver = deliver

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.deliver(data)


class TurnSession:
    """One client transport to the server: requests with retransmission (UDP), framing (TCP/TLS)."""

    def __init__(self, target: TurnTarget, transport: str) -> None:
        self.target, self.transport = target, transport
        server = target.server if transport == "udp" else (target.tls if transport == "tls" else target.tcp_server)
        assert server is not None
        self.server: Address = server
        self.incoming = Incoming()
        self.realm: str | None = None
        self.nonce: str | None = None
        self.key: bytes | None = None
        self.local: Address = ("", 0)
        self._waiting: dict[bytes, asyncio.Future[bytes]] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self.received_bytes = 0
        self.allocated = False
        self.last_raw = b""  # the bytes of the last answer
        self.unframed: list[bytes] = []  # TCP bytes that were not a STUN message or ChannelData (kept short)

    @classmethod
    async def open(cls, target: TurnTarget, transport: str = "udp") -> TurnSession:
        session = cls(target, transport)
        await session._connect()
        return session

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.server
        if self.transport == "udp":
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            local = ("::1" if family == socket.AF_INET6 else "127.0.0.1") if self.target.on_loopback else None
            for _ in range(20):  # a local port another session used may still name an allocation: skip it
                udp, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self._deliver),
                    local_addr=(local, 0) if local else None,
                    remote_addr=(host, port),
                )
                self.local = udp.get_extra_info("sockname")[:2]
                if self.local[1] not in _RECENT_PORTS:
                    break
                udp.close()
            _RECENT_PORTS.append(self.local[1])
            self._udp = udp
            return
        context = None
        if self.transport == "tls":
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # self-signed on loopback
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=context), self.target.timeout
            )
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            raise Silent(
                f"cannot connect to {self.transport} {format_hostport(self.server)}: {exc or 'timeout'}"
            ) from None
        self._writer = writer
        self.local = writer.get_extra_info("sockname")[:2]
        self._reader_task = asyncio.create_task(self._read_stream(reader))

    @property
    def tls_version(self) -> str | None:
        ssl_object = self._writer.get_extra_info("ssl_object") if self._writer else None
        return ssl_object.version() if ssl_object is not None else None

    async def _read_stream(self, reader: asyncio.StreamReader) -> None:
        """RFC 8656 framing over TCP: STUN messages by their length, ChannelData padded to 4 bytes."""
        try:
            while True:
                head = await reader.readexactly(4)
                if 0x40 <= head[0] <= 0x4F:
                    length = struct.unpack_from("!H", head, 2)[0]
                    body = await reader.readexactly(length + (-(4 + length) % 4))
                    self._deliver(head + body)
                elif head[0] < 0x40:
                    length = struct.unpack_from("!H", head, 2)[0]
                    self._deliver(head + await reader.readexactly(16 + length))
                else:
                    if len(self.unframed) < 10:
                        self.unframed.append(head)
                    return
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ssl.SSLError):
            return

    def _deliver(self, data: bytes) -> None:
        self.received_bytes += len(data)
        channel = parse_channel_data(data)
        if channel is not None:
            self.incoming.put("channel", channel, data)
            return
        future = self._waiting.get(data[8:20]) if len(data) >= 20 else None
        if future is not None and not future.done():
            future.set_result(data)
            return
        try:
            message = decode(data)
        except StunDecodeError:
            return
        if message.message_class == MessageClass.INDICATION and message.method == Method.DATA:
            self.incoming.put("data", message, data)

    def send(self, data: bytes) -> None:
        if self._udp is not None:
            self._udp.sendto(data)
        elif self._writer is not None:
            self._writer.write(data)

    async def exchange(self, data: bytes, transmissions: int = 3) -> Message:
        """Send an encoded request; the answer with its transaction id (decoded), or Silent/Unmatched."""
        loop = asyncio.get_running_loop()
        tid = data[8:20]
        answer = self._waiting[tid] = loop.create_future()
        try:
            wait = self.target.timeout / 4 if self._udp is not None else self.target.timeout
            for sent in range(1, (transmissions if self._udp is not None else 1) + 1):
                self.send(data)
                try:
                    raw = await asyncio.wait_for(asyncio.shield(answer), wait if sent < transmissions else wait * 2)
                except asyncio.TimeoutError:
                    wait *= 2
                    continue
                self.last_raw = raw
                try:
                    return decode(raw)
                except StunDecodeError as exc:
                    raise Fail(f"the answer is not a STUN message: {exc}") from None
            raise Silent(f"no answer from {self.transport} {format_hostport(self.server)}")
        finally:
            self._waiting.pop(tid, None)

    def sign(self, message: Message) -> bytes:
        """The request with USERNAME, REALM, NONCE and MESSAGE-INTEGRITY (after :meth:`authenticate`)."""
        if self.key is None or self.nonce is None or self.realm is None:
            return message.encode()
        message.add("USERNAME", self.target.user).add("REALM", self.realm).add("NONCE", self.nonce)
        return message.encode(integrity_key=self.key)

    def learn(self, answer: Message) -> bool:
        """Take REALM and NONCE from a 401 or 438; True when there was a NONCE to take."""
        nonce, realm = answer.get("NONCE"), answer.get("REALM")
        if isinstance(realm, str):
            self.realm = realm
        if not isinstance(nonce, str) or self.realm is None:
            return False
        self.nonce = nonce
        if self.target.user is not None and self.target.password is not None:
            self.key = long_term_key(self.target.user, self.realm, self.target.password)
        return True

    async def request(self, build: Callable[[], Message], transmissions: int = 3) -> Message:
        """A signed request built by ``build``; one retry with the new NONCE after a 401 or 438."""
        answer = await self.exchange(self.sign(build()), transmissions)
        if answer.error_code in (401, 438) and self.learn(answer) and self.key is not None:
            answer = await self.exchange(self.sign(build()), transmissions)
        return answer

    async def authenticate(self) -> Message:
        """An unauthenticated Allocate: the server's 401 (with REALM and NONCE), whose values are learnt."""
        answer = await self.exchange(allocate_request().encode())
        self.learn(answer)
        return answer

    async def allocate(self, **extra: Any) -> Message:
        """Authenticate (unless done) and Allocate; the answer, a success or an error."""
        if self.key is None:
            first = await self.authenticate()
            if first.message_class == MessageClass.SUCCESS:
                return first  # a server without authentication
            if self.key is None:
                return first
        answer = await self.request(lambda: allocate_request(**extra))
        self.allocated = answer.message_class == MessageClass.SUCCESS
        return answer

    async def close(self) -> None:
        if self.allocated and self.key is not None:  # release it: a Refresh with LIFETIME 0, unanswered
            with contextlib.suppress(Exception):
                self.send(self.sign(Message(Method.REFRESH, MessageClass.REQUEST).add("LIFETIME", 0)))
        for future in self._waiting.values():
            future.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer.wait_closed(), 1)
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)


def allocate_request(transport: int | None = UDP, **attributes: Any) -> Message:
    message = Message(Method.ALLOCATE, MessageClass.REQUEST)
    if transport is not None:
        message.add("REQUESTED-TRANSPORT", transport)
    for name, value in attributes.items():
        message.add(name.replace("_", "-"), value)
    return message


class Silent(Fail):
    """Nothing came back: no answer, no connection."""


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


NO_CREDENTIALS = "not claimed: no credentials given for this server (--user, --password)"


def strict(session: TurnSession, answer: Message, signed: bool = True) -> None:
    raw = session.last_raw
    violations = check(raw, key=session.key if signed else None) if raw else []
    if violations:
        raise Fail(f"{describe(answer)}: " + "; ".join(str(v) for v in violations))


@contextlib.asynccontextmanager
async def session(target: TurnTarget, transport: str = "udp") -> AsyncIterator[TurnSession]:
    """A client session, its allocation (if any) released and its transport closed afterwards."""
    opened = await TurnSession.open(target, transport)
    try:
        yield opened
    finally:
        await opened.close()


def need_credentials(target: TurnTarget) -> None:
    if target.user is None or target.password is None:
        raise Skip(NO_CREDENTIALS)


async def allocated(opened: TurnSession, **extra: object) -> Message:
    """The baseline on this session: an authenticated Allocate that succeeds, or Skip naming turn.allocate."""
    need_credentials(opened.target)
    try:
        answer = await opened.allocate(**extra)
    except Fail as failure:
        raise Skip(f"cannot be judged: the baseline Allocate got no answer (see turn.allocate): {failure}") from None
    if answer.message_class != MessageClass.SUCCESS or answer.get("XOR-RELAYED-ADDRESS") is None:
        raise Skip(f"cannot be judged: an authenticated Allocate got {describe(answer)} (see turn.allocate)")
    return answer


async def authenticated(opened: TurnSession) -> None:
    """REALM and NONCE learnt from a 401, or Skip naming turn.allocate-challenge."""
    need_credentials(opened.target)
    answer = await opened.authenticate()
    if opened.key is None:
        raise Skip(f"cannot be judged: an Allocate without credentials got {describe(answer)} "
                   "(see turn.allocate-challenge)")  # fmt: skip
