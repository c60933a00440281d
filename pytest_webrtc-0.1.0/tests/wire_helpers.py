"""Helpers for tests that build captures: frames crafted with scapy."""

from __future__ import annotations

import time
from typing import Any


def udp_frame(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> bytes:
    """An Ethernet/IP/UDP frame crafted with scapy, as libpcap reports loopback traffic."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    ip: Any = IPv6(src=src[0], dst=dst[0]) if ":" in src[0] else IP(src=src[0], dst=dst[0])
    return bytes(Ether() / ip / UDP(sport=src[1], dport=dst[1]) / Raw(payload))


class Frames:
    """Builds a capture, packet by packet, at controlled times."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self.now = time.time()

    def add(self, src: tuple[str, int], dst: tuple[str, int], payload: bytes, after: float = 0.001) -> int:
        self.now += after
        self.frames.append((self.now, udp_frame(src, dst, payload)))
        return len(self.frames)
