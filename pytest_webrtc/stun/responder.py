"""What a STUN server answers to a datagram: pure logic, no sockets (RFC 8489 §6.3, RFC 5780 §6).

``Responder.respond`` takes received bytes and the addresses involved and
returns a :class:`Reply` (bytes, which local endpoint sends them, to whom) or
``None`` when the bytes must be dropped.  Counters and the transaction log live
here so that every transport shares them.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..addresses import Address, format_hostport
from .attributes import CHANGE_IP, CHANGE_PORT, is_comprehension_required
from .auth import Authenticator, AuthResult, LongTermAuth
from .fastpath import MI_HEAD, LongTermFastPath, signed_success, xor_mapped_attribute
from .message import (
    FINGERPRINT_XOR,
    MAGIC_COOKIE,
    MAGIC_COOKIE_BYTES,
    Attribute,
    Message,
    MessageClass,
    Method,
    fingerprint_of,
    frame,
    method_name,
)

__all__ = ["Reply", "Responder", "ServerStats", "TransactionRecord"]

log = logging.getLogger("pytest_webrtc.stun")


# Comprehension-required attributes a Binding request may carry that we process (RFC 8489 §14,
# RFC 8445 §16.1).  Anything else below 0x8000 earns a 420 (RFC 8489 §6.3.1.1).
_UNDERSTOOD = {
    0x0006,  # USERNAME
    0x0008,  # MESSAGE-INTEGRITY
    0x0014,  # REALM
    0x0015,  # NONCE
    0x001C,  # MESSAGE-INTEGRITY-SHA256
    0x001D,  # PASSWORD-ALGORITHM
    0x001E,  # USERHASH
    0x0024,  # PRIORITY
    0x0025,  # USE-CANDIDATE
}
# RFC 5780 §7: understood only when the server has an alternate address.
_UNDERSTOOD_5780 = {0x0003, 0x0026, 0x0027}  # CHANGE-REQUEST, PADDING, RESPONSE-PORT
# Binding request, length 0, magic cookie: the header of a plain "who am I?".
_PLAIN_BINDING = b"\x00\x01\x00\x00" + MAGIC_COOKIE_BYTES
_FINGERPRINTED_BINDING = b"\x00\x01\x00\x08" + MAGIC_COOKIE_BYTES
_XOR_MAPPED_IPV4_HEAD = b"\x00\x20\x00\x08\x00\x01"
_XOR_MAPPED_IPV6_HEAD = b"\x00\x20\x00\x14\x00\x02"
_COOKIE_HIGH = MAGIC_COOKIE << 96  # RFC 8489 §14.2: an IPv6 address is XORed with cookie || transaction id
_FINGERPRINT_HEAD = b"\x80\x28\x00\x04"


@dataclass
class ServerStats:
    """Counters a test can assert on."""

    requests: int = 0
    responses: int = 0  # success responses
    errors: int = 0  # error responses sent
    indications: int = 0
    dropped: int = 0  # not STUN, unanswerable, or failing FINGERPRINT
    malformed: int = 0  # STUN-looking requests answered with 400
    internal_errors: int = 0  # a bug met while answering (logged with its traceback); the request dropped
    tcp_refused: int = 0  # TCP connections closed at once: over the connection cap
    tcp_timeouts: int = 0  # TCP connections closed: a frame started but not finished in time, or idle
    tcp_slow_readers: int = 0  # TCP connections closed: their replies piled up unread past the limit

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class TransactionRecord(NamedTuple):
    """One request the server saw and what it did with it (a NamedTuple: cheap on the hot path)."""

    time: float
    transport: str
    client: Address
    local: Address
    method: str
    transaction_id: str
    outcome: str  # "success", "error 420", "indication", "dropped: why"
    mapped: Address | None = None
    sent_from: Address | None = None


MAX_UNKNOWN_LISTED = 32  # unknown attributes a 420 lists, at most
# The largest UDP payload over IPv6/IPv4 is 65,487/65,507 bytes; a padded Binding success carries
# about 120 bytes besides PADDING, so this leaves room for every other attribute.
MAX_PADDING = 65_000


class Reply(NamedTuple):
    data: bytes
    to: Address
    # RFC 5780 endpoint indices: (0 primary / 1 alternate IP, 0 primary / 1 alternate port).
    via: tuple[int, int] = (0, 0)


def _unmap(addr: Address) -> Address:
    """An IPv4 client seen through a dual-stack IPv6 socket is reported as IPv4."""
    host = addr[0]
    if host.startswith("::ffff:") and "." in host:
        mapped = ipaddress.IPv6Address(host.split("%")[0]).ipv4_mapped
        if mapped is not None:
            return str(mapped), addr[1]
    return addr[0].split("%")[0], addr[1]


@dataclass
class Responder:
    software: str
    auth: Authenticator | None = None
    # RFC 5780: addresses of the four endpoints, indexed [ip][port]; None outside 5780 mode.
    endpoints: list[list[Address]] | None = None
    log_size: int = 10_000
    stats: ServerStats = field(default_factory=ServerStats)
    transactions: deque[TransactionRecord] = field(init=False)

    def __post_init__(self) -> None:
        self.transactions = deque(maxlen=self.log_size)
        encoded = self.software.encode("utf-8")
        padding = b"\x00" * (-len(encoded) % 4)
        self._software = Attribute(0x8022, self.software, raw=encoded, padding=padding)
        software_attr = struct.pack("!HH", 0x8022, len(encoded)) + encoded + padding
        self._plain_suffix = software_attr
        # A client's host -> its IPv4 address already XORed, or its IPv6 address bytes (bounded).
        self._hosts: dict[str, bytes] = {}
        self._hosts6: dict[str, int] = {}  # an IPv6 host -> its address XORed with the cookie's part of the pad
        self._plain_prefix: bytes = struct.pack("!HH", 0x0101, 12 + len(software_attr) + 8)  # IPv4 answer: type, length
        self._plain_prefix6: bytes = struct.pack("!HH", 0x0101, 24 + len(software_attr) + 8)  # IPv6 answer
        self._long_term = LongTermFastPath(self.auth) if isinstance(self.auth, LongTermAuth) else None
        # A signed IPv4 answer: type and length as MESSAGE-INTEGRITY covers them, and as sent (+ FINGERPRINT).
        self._signed_covered: bytes = struct.pack("!HH", 0x0101, 12 + len(software_attr) + 24)
        self._signed_prefix: bytes = struct.pack("!HH", 0x0101, 12 + len(software_attr) + 32)

    @property
    def rfc5780(self) -> bool:
        return self.endpoints is not None

    def _record(
        self,
        transport: str,
        client: Address,
        local: Address,
        message: Message | None,
        outcome: str,
        mapped: Address | None = None,
        sent_from: Address | None = None,
    ) -> None:
        method = method_name(message.method) if message is not None else "-"
        tid = message.transaction_id.hex() if message is not None else "-"
        self._log(transport, client, local, method, tid, outcome, mapped, sent_from)

    def _log(
        self,
        transport: str,
        client: Address,
        local: Address,
        method: str,
        tid: str,
        outcome: str,
        mapped: Address | None,
        sent_from: Address | None,
    ) -> None:
        if self.log_size:
            self.transactions.append(
                TransactionRecord(time.time(), transport, client, local, method, tid, outcome, mapped, sent_from)
            )
        if log.isEnabledFor(logging.INFO):
            extra = f" mapped={format_hostport(mapped)}" if mapped else ""
            log.info(
                "%s %s:%d -> %s:%d %s %s %s%s",
                transport,
                client[0],
                client[1],
                local[0],
                local[1],
                method,
                tid,
                outcome,
                extra,
            )

    def _drop(self, transport: str, client: Address, local: Address, message: Message | None, why: str) -> None:
        self.stats.dropped += 1
        self._record(transport, client, local, message, f"dropped: {why}")

    def respond(
        self, data: bytes, client: Address, local: Address, transport: str = "udp", via: tuple[int, int] = (0, 0)
    ) -> Reply | None:
        """The reply to ``data`` received from ``client`` on ``local``, or None to drop it."""
        client = _unmap(client)
        plain = self.plain_binding(data, client, local, transport)
        if plain is not None:
            return Reply(plain, client, via)
        if len(data) < 20 or data[0] >= 4:
            self._drop(transport, client, local, None, "not STUN")
            return None
        message, problems = frame(data)
        assert message is not None
        has_cookie = message.cookie == MAGIC_COOKIE_BYTES
        if problems:
            # Only a request with the magic cookie is surely STUN enough to deserve a 400.
            if has_cookie and message.message_class == MessageClass.REQUEST:
                self.stats.malformed += 1
                return self._error(message, client, local, transport, via, 400, f"Bad Request: {problems[0].detail}")
            self._drop(transport, client, local, message, problems[0].rule)
            return None
        if message.message_class == MessageClass.INDICATION:
            self.stats.indications += 1
            self._record(transport, client, local, message, "indication")
            return None
        if message.message_class != MessageClass.REQUEST:
            self._drop(transport, client, local, message, "a response sent to a server")
            return None
        self.stats.requests += 1
        fp = message.find("FINGERPRINT")
        if fp is not None and (fp.error or fp.value != fingerprint_of(data[: fp.offset])):
            # RFC 8489 §7.3: a message whose FINGERPRINT fails is not STUN; discard it.
            self._drop(transport, client, local, message, "FINGERPRINT mismatch")
            return None
        if message.method != Method.BINDING:
            return self._error(message, client, local, transport, via, 400, "Bad Request: unsupported method")
        unknown = self._unknown_required(message)
        if unknown:
            return self._error(
                message, client, local, transport, via, 420, "Unknown Attribute", [("UNKNOWN-ATTRIBUTES", unknown)]
            )
        broken = next((a for a in message.attributes if a.error), None)
        if broken is not None:
            self.stats.malformed += 1
            return self._error(
                message, client, local, transport, via, 400, f"Bad Request: {broken.name} {broken.error}"
            )
        result = self.auth.authenticate(message, data) if self.auth is not None else AuthResult()
        if result.error is not None:
            return self._error(message, client, local, transport, via, *result.error, result.attributes)
        return self._success(message, client, local, transport, via, result)

    def plain_binding(self, data: bytes, client: Any, local: Address, transport: str = "udp") -> bytes | None:
        """The hot paths: the answer to a plain "who am I?", or None when it does not apply.

        Applies to a server without RFC 5780, for a client on IPv4 or IPv6 (not an IPv4-mapped or
        scoped address: the generic path unmaps those), to a Binding request without attributes
        (or with a valid FINGERPRINT alone, as browsers send) when the server has no
        authentication, or signed with long-term credentials in the one shape clients send
        (:mod:`.fastpath`) when it has.  Builds the same bytes as the generic encoder (a test holds
        them equal): XOR-MAPPED-ADDRESS, SOFTWARE, [MESSAGE-INTEGRITY,] FINGERPRINT.
        """
        if self.endpoints is not None:
            return None
        key = None
        if self.auth is not None:
            if self._long_term is None:
                return None
            key = self._long_term.key(data)
            if key is None:
                return None
        elif len(data) == 20:
            if data[:8] != _PLAIN_BINDING:
                return None
        elif (
            len(data) != 28
            or data[:8] != _FINGERPRINTED_BINDING
            or data[20:24] != _FINGERPRINT_HEAD
            or (int.from_bytes(data[24:28], "big") != (zlib.crc32(data[:20]) ^ FINGERPRINT_XOR) & 0xFFFFFFFF)
        ):
            return None
        host, port = client[0], client[1]
        address = self._hosts.get(host)
        if address is None:
            if host.startswith("::ffff:") or "%" in host:
                return None
            try:
                address = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
            except OSError:
                return None
            if len(address) == 4:  # RFC 8489 §14.2: IPv4 is XORed with the magic cookie alone, so cached XORed
                address = (int.from_bytes(address, "big") ^ MAGIC_COOKIE).to_bytes(4, "big")
            if len(self._hosts) >= 4096:
                self._hosts.clear()
                self._hosts6.clear()
            if len(address) == 16:  # IPv6: cached XORed with the cookie; the transaction id's XOR is per request
                self._hosts6[host] = int.from_bytes(address, "big") ^ _COOKIE_HIGH
            self._hosts[host] = address
        stats = self.stats
        stats.requests += 1
        stats.responses += 1
        if self.log_size or log.isEnabledFor(logging.INFO):
            self._log(transport, (host, port), local, "BINDING", data[8:20].hex(), "success", (host, port), local)
        xored_port = (port ^ 0x2112).to_bytes(2, "big")
        if key is None and len(address) == 4:  # the hottest case, from precomputed pieces
            head = b"".join(
                (self._plain_prefix, data[4:20], _XOR_MAPPED_IPV4_HEAD, xored_port, address, self._plain_suffix)
            )
        elif key is None:  # IPv6, from precomputed pieces too
            xored = (self._hosts6[host] ^ int.from_bytes(data[8:20], "big")).to_bytes(16, "big")
            head = b"".join(
                (self._plain_prefix6, data[4:20], _XOR_MAPPED_IPV6_HEAD, xored_port, xored, self._plain_suffix)
            )
        elif len(address) == 4:  # signed, IPv4: the HMAC over precomputed pieces (RFC 8489 §14.5)
            tail = b"".join((data[4:20], _XOR_MAPPED_IPV4_HEAD, xored_port, address, self._plain_suffix))
            inner = key.inner.copy()
            inner.update(self._signed_covered + tail)
            outer = key.outer.copy()
            outer.update(inner.digest())
            head = b"".join((self._signed_prefix, tail, MI_HEAD, outer.digest()))
        else:
            if len(address) == 4:
                mapped = _XOR_MAPPED_IPV4_HEAD + xored_port + address
            else:  # IPv6 is XORed with the cookie and the transaction id: per request
                mapped = xor_mapped_attribute(host, port, data[8:20], address)
            body = mapped + self._plain_suffix
            if key is not None:
                return signed_success(b"\x01\x01\x00\x00" + data[4:20], body, key)
            head = b"\x01\x01" + (len(body) + 8).to_bytes(2, "big") + data[4:20] + body
        # RFC 8489 §14.7: the CRC covers everything before the FINGERPRINT attribute.
        return head + _FINGERPRINT_HEAD + ((zlib.crc32(head) ^ FINGERPRINT_XOR) & 0xFFFFFFFF).to_bytes(4, "big")

    def _unknown_required(self, message: Message) -> list[int]:
        """The unknown comprehension-required types, in order, at most MAX_UNKNOWN_LISTED: RFC 8489
        §6.3.1.1 lets a 420 list a subset, which bounds both the work and the reply's size."""
        understood = _UNDERSTOOD | (_UNDERSTOOD_5780 if self.rfc5780 else set())
        unknown: dict[int, None] = {}
        for attr in message.attributes:
            if is_comprehension_required(attr.type) and attr.type not in understood:
                unknown[attr.type] = None
                if len(unknown) >= MAX_UNKNOWN_LISTED:
                    break
        return list(unknown)

    def _success(
        self, request: Message, client: Address, local: Address, transport: str, via: tuple[int, int], auth: AuthResult
    ) -> Reply | None:
        response = Message(Method.BINDING, MessageClass.SUCCESS, request.transaction_id, cookie=request.cookie)
        if request.is_classic:
            response.add("MAPPED-ADDRESS", client)  # RFC 8489 §12: what RFC 3489 clients understand
        else:
            response.add("XOR-MAPPED-ADDRESS", client)
        reply_via, to = via, client
        if self.endpoints is not None:
            change = request.get("CHANGE-REQUEST", 0)
            response_port = request.get("RESPONSE-PORT")
            if transport != "udp" and (change or response_port is not None):
                return self._error(
                    request,
                    client,
                    local,
                    transport,
                    via,
                    400,
                    "Bad Request: CHANGE-REQUEST and RESPONSE-PORT need UDP",
                )
            reply_via = (via[0] ^ bool(change & CHANGE_IP), via[1] ^ bool(change & CHANGE_PORT))
            if response_port is not None:
                to = (client[0], response_port)
            origin = self.endpoints[reply_via[0]][reply_via[1]]
            response.add("RESPONSE-ORIGIN", origin)
            response.add("OTHER-ADDRESS", self.endpoints[1 - via[0]][1 - via[1]])
            padding = request.get("PADDING")
            if padding is not None and transport == "udp":
                if len(padding) > MAX_PADDING:  # RFC 5780 §7.6: the padded reply must fit a datagram
                    self.stats.malformed += 1
                    return self._error(
                        request, client, local, transport, via, 400,
                        f"Bad Request: PADDING of {len(padding)} bytes; a reply must fit a datagram "
                        f"(at most {MAX_PADDING} bytes of padding)",
                    )  # fmt: skip
                response.add("PADDING", bytes(len(padding)))
        response.attributes.append(self._software)
        data = self._sign(response, request, auth)
        self.stats.responses += 1
        sent_from = self.endpoints[reply_via[0]][reply_via[1]] if self.endpoints else local
        self._record(transport, client, local, request, "success", client, sent_from)
        return Reply(data, to, reply_via)

    def _error(
        self,
        request: Message,
        client: Address,
        local: Address,
        transport: str,
        via: tuple[int, int],
        code: int,
        reason: str,
        attributes: list[tuple[str, Any]] | None = None,
    ) -> Reply:
        response = Message(request.method, MessageClass.ERROR, request.transaction_id, cookie=request.cookie)
        response.add("ERROR-CODE", (code, reason[:127]))
        for name, value in attributes or []:
            response.add(name, value)
        response.attributes.append(self._software)
        self.stats.errors += 1
        self._record(transport, client, local, request, f"error {code}")
        return Reply(self._sign(response, request, AuthResult()), client, via)

    def _sign(self, response: Message, request: Message, auth: AuthResult) -> bytes:
        classic = request.is_classic
        return response.encode(
            integrity_key=auth.key if auth.key is not None and not auth.sha256 else None,
            integrity_sha256_key=auth.key if auth.key is not None and auth.sha256 else None,
            fingerprint=not classic,
        )
