"""From captured frames to UDP datagrams, classified the way RFC 7983 §7 demultiplexes them.

Link layers read: Ethernet (and Linux ``lo``, which libpcap reports as Ethernet), Linux cooked
(SLL and SLL2, as ``tshark -i any`` writes), raw IP, and BSD loopback.  Frame numbers are
1-based, as Wireshark shows them.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from ..addresses import Address

__all__ = ["Datagram", "classify", "datagrams", "ip_payload", "udp_of"]


DLT_NULL, DLT_EN10MB, DLT_RAW, DLT_LOOP, DLT_LINUX_SLL, DLT_LINUX_SLL2 = 0, 1, 101, 108, 113, 276
_RAW_ALIASES = {12, 14, 101}


@dataclass(frozen=True)
class Datagram:
    number: int  # frame number in the capture, from 1
    time: float
    src: Address
    dst: Address
    payload: bytes

    @property
    def kind(self) -> str:
        return classify(self.payload)


def classify(payload: bytes) -> str:
    """RFC 7983 §7: the first byte tells STUN, ZRTP, DTLS, TURN channel and RTP/RTCP apart."""
    if not payload:
        return "empty"
    b = payload[0]
    if b <= 3:
        return "stun"
    if 16 <= b <= 19:
        return "zrtp"
    if 20 <= b <= 63:
        return "dtls"
    if 64 <= b <= 79:
        return "turn-channel"
    if 128 <= b <= 191:
        return "rtp"
    return "other"


def ip_payload(linktype: int, frame: bytes) -> bytes | None:
    """The IP packet inside a link-layer frame, or None if it carries something else."""
    if linktype == DLT_EN10MB:
        offset, ethertype = 12, struct.unpack_from("!H", frame, 12)[0] if len(frame) >= 14 else 0
        while ethertype in (0x8100, 0x88A8) and len(frame) >= offset + 6:  # VLAN tags
            offset += 4
            ethertype = struct.unpack_from("!H", frame, offset)[0]
        return frame[offset + 2 :] if ethertype in (0x0800, 0x86DD) else None
    if linktype == DLT_LINUX_SLL:
        return frame[16:] if len(frame) >= 16 and struct.unpack_from("!H", frame, 14)[0] in (0x0800, 0x86DD) else None
    if linktype == DLT_LINUX_SLL2:
        return frame[20:] if len(frame) >= 20 and struct.unpack_from("!H", frame, 0)[0] in (0x0800, 0x86DD) else None
    if linktype in (DLT_NULL, DLT_LOOP):
        return frame[4:]
    if linktype in _RAW_ALIASES:
        return frame
    return None


def udp_of(packet: bytes) -> tuple[Address, Address, bytes] | None:
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4 and len(packet) >= 20:
        header = (packet[0] & 0x0F) * 4
        flags_fragment = struct.unpack_from("!H", packet, 6)[0]
        if packet[9] != 17 or flags_fragment & 0x1FFF:  # not UDP, or a non-first fragment
            return None
        total = struct.unpack_from("!H", packet, 2)[0] or len(packet)
        src, dst = str(ipaddress.IPv4Address(packet[12:16])), str(ipaddress.IPv4Address(packet[16:20]))
        udp = packet[header:total]
    elif version == 6 and len(packet) >= 40:
        if packet[6] != 17:  # extension headers are not followed: not seen in our traffic
            return None
        src, dst = str(ipaddress.IPv6Address(packet[8:24])), str(ipaddress.IPv6Address(packet[24:40]))
        udp = packet[40 : 40 + struct.unpack_from("!H", packet, 4)[0]]
    else:
        return None
    if len(udp) < 8:
        return None
    sport, dport, length = struct.unpack_from("!HHH", udp)
    return (src, sport), (dst, dport), bytes(udp[8 : max(8, min(length, len(udp)))])


def datagrams(frames: Iterable[tuple[float, bytes]], linktype: int = DLT_EN10MB) -> list[Datagram]:
    """Every UDP datagram among ``frames``, numbered by frame position."""
    out = []
    for number, (ts, frame) in enumerate(frames, start=1):
        packet = ip_payload(linktype, frame)
        parsed = udp_of(packet) if packet is not None else None
        if parsed is not None:
            out.append(Datagram(number, ts, *parsed))
    return out
