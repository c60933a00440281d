"""A client session on the TURN server under judgement: one transport, long-term credentials.

:class:`TurnSession` is one client transport (UDP, TCP or TLS) with the long-term credential
mechanism (RFC 8489 §9.2): :meth:`TurnSession.authenticate` learns REALM and NONCE from the first
401, every later request is signed, and a 438 (Stale Nonce) is answered once with the new NONCE.
It keeps whatever the server sends that answers no request — Data indications and ChannelData —
in :attr:`TurnSession.incoming`, bounded.  :func:`session`, :func:`allocated` and
:func:`authenticated` are the baselines the rules stand on: when they fail, a rule says it cannot
be judged and names the rule that owns the failure.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
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
from ..stun.message import Message, MessageClass, Method, decode
from .outcome import Fail, Silent, Skip
from .turn_target import INCOMING_LIMIT, TurnTarget, describe, parse_channel_data

__all__ = [
    "NO_CREDENTIALS",
    "TCP",
    "UDP",
    "Silent",
    "TurnSession",
    "allocate_request",
    "allocated",
    "authenticated",
    "need_credentials",
    "session",
    "strict",
]

UDP, TCP = 17, 6  # REQUESTED-TRANSPORT protocol numbers (RFC 8656 §18.8)
# Local UDP ports of recent sessions: a server may delete a released allocation lazily (coturn: at
# its next timer tick), so a new session on a reused port could meet the old one's 437.
_RECENT_PORTS: collections.deque[int] = collections.deque(maxlen=512)


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
