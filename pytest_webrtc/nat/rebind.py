"""NAT rebinding: a router forgets its mappings and maps the inside host to new public ports.

What a NAT does when it reboots or its mapping times out: the next datagram out gets a new
public port.  Here: the router's ruleset is reloaded with masquerade restricted to a port range
none of the current mappings can be in — the first rebinding 20000-32767, the next 61000-65535,
alternating (Linux's ephemeral ports, 32768-60999, are in neither: the inside host's own port
cannot be kept) — and its UDP conntrack entries are deleted over netlink (``IPCTNL_MSG_CT_DELETE``
with each one's original tuple), so that the next datagram out is a new flow and takes a port of the new
range.  Only UDP flows are forgotten (each UDP entry is dumped and deleted by its original tuple):
the harness's own TCP — the peer's signaling WebSocket — keeps its mapping, as a test needs it to
go on, though a real NAT's reboot would cut it too.  Endpoint-independent mapping stays
endpoint-independent (the port is picked from the inside port, not the destination); "symmetric"
stays fully random.
"""

from __future__ import annotations

import socket
import struct

from ..errors import HarnessConfigError

__all__ = ["REBIND_RANGES", "flush_conntrack"]

REBIND_RANGES = ("20000-32767", "61000-65535")  # outside Linux's ephemeral ports and each other

_NETLINK_NETFILTER = 12
_CT_GET, _CT_DELETE = (1 << 8) | 1, (1 << 8) | 2  # NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_GET / _DELETE
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_DUMP = 0x1, 0x4, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_CTA_TUPLE_ORIG, _CTA_TUPLE_PROTO, _CTA_PROTO_NUM = 1, 2, 1
_NLA_F_NESTED = 0x8000


def _attributes(data: bytes) -> dict[int, bytes]:
    """Netlink attributes (type without its flag bits -> payload) of one level."""
    out: dict[int, bytes] = {}
    at = 0
    while at + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, at)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[at + 4 : at + length]
        at += (length + 3) & ~3
    return out


def _messages(sock: socket.socket) -> list[tuple[int, bytes]]:
    """(type, payload after nlmsghdr) of every message until NLMSG_DONE or an error."""
    out: list[tuple[int, bytes]] = []
    for _ in range(10_000):  # bounded: a namespace's table, a few datagrams of messages
        data = sock.recv(1 << 16)
        at = 0
        while at + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, at)
            if kind == _NLMSG_DONE:
                return out
            out.append((kind, data[at + 16 : at + length]))
            if kind == _NLMSG_ERROR:
                return out
            at += (length + 3) & ~3
    return out


def _request(kind: int, flags: int, attributes: bytes = b"", family: int = socket.AF_INET) -> bytes:
    body = struct.pack("=BBH", family, 0, 0) + attributes  # nfgenmsg: family, version, res_id
    return struct.pack("=IHHII", 16 + len(body), kind, _NLM_F_REQUEST | flags, 1, 0) + body


def flush_conntrack(protocol: int = socket.IPPROTO_UDP) -> int:
    """Delete every conntrack entry of ``protocol`` in the calling thread's network namespace (needs
    CAP_NET_ADMIN); how many.  HarnessConfigError with the kernel's errno when it refuses."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER) as sock:
        sock.settimeout(5)
        sock.send(_request(_CT_GET, _NLM_F_DUMP))
        tuples = []
        for kind, payload in _messages(sock):
            if kind == _NLMSG_ERROR:
                (error,) = struct.unpack_from("=i", payload)
                raise HarnessConfigError(f"conntrack dump refused: errno {-error}")
            original = _attributes(payload[4:]).get(_CTA_TUPLE_ORIG)
            proto = _attributes(_attributes(original or b"").get(_CTA_TUPLE_PROTO, b"")).get(_CTA_PROTO_NUM)
            if original is not None and proto == bytes([protocol]):
                tuples.append(original)
        deleted = 0
        for original in tuples:
            attribute = struct.pack("=HH", 4 + len(original), _CTA_TUPLE_ORIG | _NLA_F_NESTED) + original
            sock.send(_request(_CT_DELETE, _NLM_F_ACK, attribute))
            for kind, payload in _messages(sock):
                (error,) = struct.unpack_from("=i", payload) if kind == _NLMSG_ERROR else (0,)
                if error not in (0, -2):  # -ENOENT: it expired meanwhile
                    raise HarnessConfigError(f"conntrack delete refused: errno {-error}")
                deleted += error == 0
        return deleted
