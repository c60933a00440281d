"""An asyncio STUN server: UDP and TCP, IPv4 and IPv6, optional RFC 5780 mode.

    server = StunServer(host="127.0.0.1")          # port 0: the kernel picks
    await server.start()
    server.udp_address                              # ('127.0.0.1', 40123)
    ...
    await server.stop()

With ``other_host`` (e.g. ``127.0.0.2``) the server listens on two IPs times
two ports and honours CHANGE-REQUEST, RESPONSE-PORT and PADDING (RFC 5780).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import struct
from dataclasses import dataclass
from typing import Any

from .._version import __version__
from ..addresses import Address, format_hostport
from ..errors import HarnessConfigError
from .auth import Authenticator
from .responder import Reply, Responder, ServerStats, TransactionRecord

__all__ = ["TcpLimits", "StunServer"]

log = logging.getLogger("pytest_webrtc.stun")
SOFTWARE = f"pytest-webrtc {__version__}"
_TCP_MAX_FRAME = 20 + 0xFFFF
_BIND_ATTEMPTS = 50


@dataclass(frozen=True)
class TcpLimits:
    """What one TCP client may cost the server (docs/reliability.md); each limit hit is counted."""

    max_connections: int = 1024  # more are closed at once (stats.tcp_refused)
    frame_timeout: float = 10.0  # a frame started must be complete within it (stats.tcp_timeouts)
    idle_timeout: float = 60.0  # a connection silent this long is closed (stats.tcp_timeouts)
    pause_above: int = 256 * 1024  # unsent replies beyond this: stop reading from the client
    close_above: int = 4 * 1024 * 1024  # beyond this the client is not reading: close (stats.tcp_slow_readers)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _udp_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_DGRAM)
    try:
        if host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.setblocking(False)
        # Bursts of small datagrams: a larger receive buffer avoids kernel drops under load.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    except OSError:
        sock.close()
        raise
    return sock


class _UdpEndpoint(asyncio.DatagramProtocol):
    def __init__(self, server: StunServer, via: tuple[int, int]) -> None:
        self.server = server
        self.via = via
        self.respond = server.responder.respond
        self.plain_binding = server.responder.plain_binding
        self.transport: asyncio.DatagramTransport | None = None
        self.local: Address = ("", 0)
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.local = transport.get_extra_info("sockname")[:2]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            plain = self.plain_binding(data, addr, self.local)
            if plain is not None:
                self.transport.sendto(plain, addr)  # type: ignore[union-attr]
                return
            reply = self.respond(data, addr[:2], self.local, "udp", self.via)
        except Exception:  # never let one datagram take the server down
            self.server._internal_error("udp", addr)
            return
        if reply is None:
            return
        if reply.via == self.via and reply.to[1] == addr[1]:
            self.transport.sendto(reply.data, addr)  # type: ignore[union-attr]
        else:
            self.server._send_udp(reply, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors on UDP, and a reply the kernel refused (e.g. too large): counted, logged.
        self.server._internal_error("udp", None, exc)


class _TcpConnection(asyncio.Protocol):
    """RFC 8489 §6.2.2: STUN messages back to back on a stream, framed by their length field.

    Bounded (:class:`TcpLimits`): a frame must arrive whole within ``frame_timeout``, a silent
    connection lives ``idle_timeout``; when its replies pile up unread the server stops reading from
    it, and closes it past ``close_above``.
    """

    def __init__(self, server: StunServer) -> None:
        self.server = server
        self.limits = server.tcp_limits
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)
        self.local: Address = ("", 0)
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")[:2]
        self.local = transport.get_extra_info("sockname")[:2]
        if len(self.server._tcp_connections) >= self.limits.max_connections:
            self.server.stats.tcp_refused += 1
            transport.close()
            return
        self.server._tcp_connections.add(self)
        transport.set_write_buffer_limits(high=self.limits.pause_above)  # type: ignore[attr-defined]
        self._arm(self.limits.idle_timeout)

    def _arm(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expired)

    def _expired(self) -> None:
        self.server.stats.tcp_timeouts += 1
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.server._tcp_connections.discard(self)

    def pause_writing(self) -> None:  # replies beyond the high-water mark: stop reading requests
        assert self.transport is not None
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while len(self.buffer) >= 20:
            if self.buffer[0] >= 4:
                # Not STUN: a stream cannot be resynchronised, so close it.
                self.server.responder.stats.dropped += 1
                self.transport.close()
                return
            length = struct.unpack_from("!H", self.buffer, 2)[0]
            if len(self.buffer) < 20 + length:
                break
            frame = bytes(self.buffer[: 20 + length])
            del self.buffer[: 20 + length]
            try:
                reply = self.server.responder.respond(frame, self.peer, self.local, "tcp")
            except Exception:
                self.server._internal_error("tcp", self.peer)
                continue
            if reply is not None:
                self.transport.write(reply.data)
        if self.transport.get_write_buffer_size() > self.limits.close_above:
            self.server.stats.tcp_slow_readers += 1
            self.transport.abort()
            return
        # A partial frame must be finished soon; between frames the connection may idle longer.
        self._arm(self.limits.frame_timeout if self.buffer else self.limits.idle_timeout)


class StunServer:
    """A STUN server bound to one host (and optionally a second one for RFC 5780)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        udp: bool = True,
        tcp: bool = True,
        other_host: str | None = None,
        auth: Authenticator | None = None,
        software: str = SOFTWARE,
        log_size: int = 10_000,
        tcp_limits: TcpLimits | None = None,
    ) -> None:
        if not (udp or tcp):
            raise HarnessConfigError("a STUN server needs UDP, TCP or both")
        if other_host is not None and _family(other_host) != _family(host):
            raise HarnessConfigError(f"other_host {other_host} is not of the same family as {host}")
        self.host, self.port = host, port
        self.udp, self.tcp, self.other_host = udp, tcp, other_host
        self.responder = Responder(software=software, auth=auth, log_size=log_size)
        self.tcp_limits = tcp_limits or TcpLimits()
        self._udp: dict[tuple[int, int], _UdpEndpoint] = {}
        self._tcp_server: asyncio.AbstractServer | None = None
        self._tcp_connections: set[_TcpConnection] = set()
        self.udp_address: Address | None = None
        self.tcp_address: Address | None = None

    # -- what tests look at --------------------------------------------------------

    @property
    def stats(self) -> ServerStats:
        return self.responder.stats

    @property
    def internal_errors(self) -> int:
        return self.responder.stats.internal_errors

    def _internal_error(self, transport: str, client: Any, exc: BaseException | None = None) -> None:
        """Count and log a failure that is ours, never the client's; the server goes on."""
        stats = self.responder.stats
        stats.internal_errors += 1
        stats.dropped += 1
        who = format_hostport(client[:2]) if client else "?"
        if exc is None:
            log.exception("internal error answering %s %s (counted; the request is dropped)", transport, who)
        else:
            log.error("internal error on %s %s: %s (counted)", transport, who, exc)

    @property
    def transactions(self) -> list[TransactionRecord]:
        return list(self.responder.transactions)

    @property
    def other_address(self) -> Address | None:
        """RFC 5780 OTHER-ADDRESS as seen from the primary endpoint."""
        endpoints = self.responder.endpoints
        return endpoints[1][1] if endpoints else None

    @property
    def ice_servers(self) -> list[dict[str, str]]:
        """This server as an RTCIceServer list (``[{"urls": "stun:127.0.0.1:PORT"}]``, a ``?transport=tcp``
        entry too when it listens on TCP only): what a peer's configuration or ``WEBRTC_ICE_SERVERS`` takes."""
        if self.udp_address is not None:
            return [{"urls": f"stun:{format_hostport(self.udp_address)}"}]
        if self.tcp_address is not None:
            return [{"urls": f"stun:{format_hostport(self.tcp_address)}?transport=tcp"}]
        raise RuntimeError("the STUN server is not started")

    @property
    def address(self) -> Address:
        """The primary address (UDP if enabled, else TCP)."""
        addr = self.udp_address or self.tcp_address
        if addr is None:
            raise RuntimeError("the STUN server is not started")
        return addr

    # -- life cycle ----------------------------------------------------------------

    async def start(self) -> StunServer:
        loop = asyncio.get_running_loop()
        sockets = self._bind_udp() if self.udp else {}
        for via, sock in sockets.items():
            _, protocol = await loop.create_datagram_endpoint(lambda v=via: _UdpEndpoint(self, v), sock=sock)  # type: ignore[misc]
            self._udp[via] = protocol
        if self.udp:
            self.udp_address = self._udp[(0, 0)].local
            port = self.udp_address[1]
        else:
            port = self.port
        if self.tcp:
            self._tcp_server = await self._start_tcp(port)
        return self

    def _bind_udp(self) -> dict[tuple[int, int], socket.socket]:
        if self.other_host is None:
            return {(0, 0): _udp_socket(self.host, self.port)}
        hosts = (self.host, self.other_host)
        for _ in range(_BIND_ATTEMPTS):
            opened: dict[tuple[int, int], socket.socket] = {}
            try:
                for port_index in (0, 1):
                    first = _udp_socket(hosts[0], self.port if port_index == 0 else 0)
                    opened[(0, port_index)] = first
                    opened[(1, port_index)] = _udp_socket(hosts[1], first.getsockname()[1])
            except OSError as exc:
                for sock in opened.values():
                    sock.close()
                if exc.errno != errno.EADDRINUSE or self.port:
                    raise
                continue
            self.responder.endpoints = [[opened[(i, p)].getsockname()[:2] for p in (0, 1)] for i in (0, 1)]
            return opened
        raise OSError(errno.EADDRINUSE, "could not find free port pairs for RFC 5780 mode")

    async def _start_tcp(self, port: int) -> asyncio.AbstractServer:
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(lambda: _TcpConnection(self), self.host, port, reuse_address=True)
        except OSError:
            if port == 0 or self.port:
                raise
            # The UDP port is taken for TCP on this host: fall back to any port.
            server = await loop.create_server(lambda: _TcpConnection(self), self.host, 0, reuse_address=True)
        self.tcp_address = server.sockets[0].getsockname()[:2]
        return server

    async def stop(self) -> None:
        for endpoint in self._udp.values():
            if endpoint.transport is not None:
                endpoint.transport.close()
        # Transports close on a later loop iteration: wait, so the ports are free on return.
        await asyncio.wait_for(asyncio.gather(*(e.closed for e in self._udp.values())), 5)
        self._udp.clear()
        if self._tcp_server is not None:
            self._tcp_server.close()
            for conn in list(self._tcp_connections):
                if conn.transport is not None:
                    conn.transport.close()
            await self._tcp_server.wait_closed()
            self._tcp_server = None

    async def __aenter__(self) -> StunServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _send_udp(self, reply: Reply, original: Any) -> None:
        endpoint = self._udp.get(reply.via) or self._udp[(0, 0)]
        assert endpoint.transport is not None
        # Same host as the request came from (kept in the socket's own form, e.g. an
        # IPv4-mapped IPv6 address or a scope id); the port may differ (RESPONSE-PORT).
        to = (original[0], reply.to[1], *original[2:])
        endpoint.transport.sendto(reply.data, to)

    def describe(self) -> str:
        parts = []
        if self.udp_address:
            parts.append(f"udp {format_hostport(self.udp_address)}")
        if self.tcp_address:
            parts.append(f"tcp {format_hostport(self.tcp_address)}")
        if self.other_address:
            parts.append(f"rfc5780 other {format_hostport(self.other_address)}")
        return ", ".join(parts)
