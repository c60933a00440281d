"""Reading what SRTP and SRTCP encrypt, with the keys the harness's own peers report.

A harness peer reports the key and salt it sends with (``peer.keying``); here each source's
packets are unprotected with the key that authenticates them (RFC 3711 §3.3, §3.4: a wrong key
fails the authentication tag, so trying each known key is safe), and what the verdict needs is
read: the packets a Generic NACK names (RFC 4585 §6.2.1: PID and the bitmask of the 16 after it)
and the original sequence number an RTX packet carries (RFC 4588 §4: OSN, its payload's first two
bytes).  A replayed packet (libsrtp refuses it) or one of a source no known key opens is left
unread.  Without keys (foreign stacks) nothing is read and nothing here is judged.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from pylibsrtp import Error, Policy, Session

from ..addresses import Address

__all__ = ["SrtpReader", "nacked_sequences", "original_sequence"]


def _session(key: bytes, profile: int) -> Session:
    policy = Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
    policy.window_size = 1024
    return Session(policy)


class SrtpReader:
    """Per source, the session whose key opened its first packet; ``None`` where none did."""

    def __init__(self, keys: Sequence[tuple[bytes, int]]) -> None:
        self.keys = list(keys)
        self._sessions: dict[Address, Session | None] = {}

    def _open(self, source: Address, data: bytes, rtcp: bool) -> bytes | None:
        if not self.keys:
            return None
        if source in self._sessions:
            session = self._sessions[source]
            if session is None:
                return None
            try:
                return session.unprotect_rtcp(data) if rtcp else session.unprotect(data)
            except Error:
                return None  # replayed, or damaged
        for key, profile in self.keys:
            try:
                candidate = _session(key, profile)
                plain = candidate.unprotect_rtcp(data) if rtcp else candidate.unprotect(data)
            except Error:
                continue
            self._sessions[source] = candidate
            return plain
        if rtcp:  # RTCP is authenticated whole: no key opening it means none is this source's
            self._sessions[source] = None
        return None

    def rtcp(self, source: Address, data: bytes) -> bytes | None:
        """The plain compound RTCP packet, or None."""
        return self._open(source, data, rtcp=True)

    def rtp(self, source: Address, data: bytes) -> bytes | None:
        """The plain RTP packet, or None."""
        return self._open(source, data, rtcp=False)


def nacked_sequences(compound: bytes) -> dict[int, set[int]]:
    """Media SSRC -> the sequence numbers the Generic NACKs of a plain compound RTCP packet name."""
    named: dict[int, set[int]] = {}
    offset = 0
    while offset + 4 <= len(compound):
        fmt, packet_type = compound[offset] & 0x1F, compound[offset + 1]
        end = offset + 4 * (struct.unpack_from("!H", compound, offset + 2)[0] + 1)
        if end > len(compound):
            break  # a truncated packet: what it says cannot be trusted
        if packet_type == 205 and fmt == 1 and end - offset >= 16:
            media = struct.unpack_from("!I", compound, offset + 8)[0]
            for fci in range(offset + 12, end - 3, 4):
                pid, blp = struct.unpack_from("!HH", compound, fci)
                named.setdefault(media, set()).update(
                    [pid] + [(pid + i) & 0xFFFF for i in range(1, 17) if blp & (1 << (i - 1))]
                )
        offset = end
    return named


def original_sequence(packet: bytes) -> int | None:
    """The OSN of a plain RTX packet (after CSRCs and a header extension), or None."""
    if len(packet) < 12:
        return None
    start = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:  # a header extension: its length in words after its 4-byte head
        if len(packet) < start + 4:
            return None
        start += 4 + 4 * struct.unpack_from("!H", packet, start + 2)[0]
    if len(packet) < start + 2:
        return None
    return int(struct.unpack_from("!H", packet, start)[0])
