"""RTP and RTCP headers on the wire (RFC 3550), judged per stream.

SRTP (RFC 3711) encrypts payloads, not headers, so version, payload type, sequence numbers,
timestamps and SSRCs can be checked on the wire.  RTCP is told apart by its packet type
(RFC 5761 §4: second byte 192-223).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from ..addresses import format_hostport
from ..rules import Finding, Level, Rule, rule
from .packets import Datagram

__all__ = ["RTP_RULES", "RtpStream", "payload_types_from_sdp", "signed32", "verify_rtp"]

RTP_RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        rule(
            "rtp.version",
            "RFC 7983 §7",
            "a datagram on a media flow is STUN, DTLS or RTP/RTCP version 2 (first byte 128-191)",
        ),
        rule("rtp.payload-type", "RFC 3264 §5.1", "RTP payload types are among those the SDP negotiated"),
        rule("rtp.sequence", "RFC 3550 §A.1", "sequence numbers of a stream increase by one, without large jumps"),
        rule("rtp.timestamp", "RFC 3550 §5.1", "timestamps of a stream advance at the codec's clock rate"),
        rule(
            "rtp.ssrc-collision",
            "RFC 3550 §8.2",
            "one SSRC is used by one source transport address (a sender that moves carries on its numbering)",
            Level.MUST,
        ),
    )
}
MAX_DROPOUT, MAX_MISORDER = 3000, 100  # RFC 3550 §A.1


@dataclass
class RtpStream:
    ssrc: int
    source: tuple[str, int]
    payload_type: int
    numbers: list[int] = field(default_factory=list)  # frame numbers in the capture
    sequences: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    kinds: list[int] = field(default_factory=list)  # each packet's payload type
    padded: list[bool] = field(default_factory=list)  # each packet's P bit (RFC 3550 §5.1)
    rtcp: int = 0  # RTCP packets from the same source

    def describe(self) -> str:
        return (
            f"ssrc 0x{self.ssrc:08x} from {format_hostport(self.source)}, pt {self.payload_type}, "
            f"{len(self.numbers)} packets, seq {self.sequences[0]}..{self.sequences[-1]}, {self.rtcp} RTCP"
        )


def payload_types_from_sdp(sdp: str) -> dict[int, int]:
    """Payload type -> clock rate, from the a=rtpmap lines of audio and video sections."""
    out = {}
    for pt, rate in re.findall(r"^a=rtpmap:(\d+) [^/\s]+/(\d+)", sdp, re.M):
        out[int(pt)] = int(rate)
    return out


def _finding(number: int, rule_id: str, detail: str) -> Finding:
    return Finding(rule_id, detail, packet=number)


def verify_rtp(
    datagrams: list[Datagram], payload_types: dict[int, int] | None = None
) -> tuple[list[RtpStream], list[Finding]]:
    """Streams found and findings (``verify.Finding``) for the RTP/RTCP datagrams among ``datagrams``."""
    streams: dict[tuple[int, tuple[str, int]], RtpStream] = {}
    owners: dict[int, tuple[str, int]] = {}
    findings: list[Finding] = []
    rtcp_sources: dict[tuple[str, int], int] = {}
    last: dict[tuple[int, tuple[str, int]], bytes] = {}  # each stream's last packet, whole
    for d in datagrams:
        if d.kind != "rtp" or len(d.payload) < 8:
            continue
        data = d.payload
        if 192 <= data[1] <= 223:  # RTCP (RFC 5761 §4)
            rtcp_sources[d.src] = rtcp_sources.get(d.src, 0) + 1
            continue
        if len(data) < 12:
            continue
        pt = data[1] & 0x7F
        sequence, timestamp, ssrc = struct.unpack_from("!HII", data, 2)
        if payload_types and pt not in payload_types:
            findings.append(
                _finding(
                    d.number,
                    "rtp.payload-type",
                    f"payload type {pt} was not negotiated (the SDP has {sorted(payload_types)})",
                )
            )
        owner = owners.setdefault(ssrc, d.src)
        if owner != d.src:
            prior = streams.get((ssrc, owner))
            if prior is not None and _continues(prior, sequence, timestamp):
                owners[ssrc] = (
                    d.src
                )  # the same source, moved (a new ICE pair, a NAT rebinding) or seen on both sides of a router
            else:
                findings.append(
                    _finding(
                        d.number,
                        "rtp.ssrc-collision",
                        f"ssrc 0x{ssrc:08x} from {format_hostport(d.src)}, already used by {format_hostport(owner)} "
                        f"(whose stream was at sequence {prior.sequences[-1] if prior else '?'}; this one is at {sequence})",
                    )
                )
        stream = streams.setdefault((ssrc, d.src), RtpStream(ssrc, d.src, pt))
        if stream.sequences:
            step = (sequence - stream.sequences[-1]) & 0xFFFF
            if step == 0 and data == last.get((ssrc, d.src)):
                continue  # the same packet again: a copy the network made (a router seen on both sides, a duplicating link), not the sender's
            if step == 0 or (MAX_DROPOUT < step < 0x10000 - MAX_MISORDER):
                findings.append(
                    _finding(
                        d.number, "rtp.sequence", f"ssrc 0x{ssrc:08x}: sequence {sequence} after {stream.sequences[-1]}"
                    )
                )
        last[(ssrc, d.src)] = data
        stream.numbers.append(d.number)
        stream.sequences.append(sequence)
        stream.timestamps.append(timestamp)
        stream.times.append(d.time)
        stream.kinds.append(pt)
        stream.padded.append(bool(data[0] & 0x20))
    for stream in streams.values():
        stream.rtcp = rtcp_sources.get(stream.source, 0)
        findings += _clock(stream, payload_types or {})
    # A first byte outside every RFC 7983 range, from a source that sends RTP: e.g. RTP version 3.
    media_sources = {source for _, source in streams} | set(rtcp_sources)
    for d in datagrams:
        if d.kind == "other" and d.src in media_sources:
            findings.append(
                _finding(
                    d.number,
                    "rtp.version",
                    f"first byte 0x{d.payload[0]:02x} (RTP version {d.payload[0] >> 6}) on a media flow",
                )
            )
    findings.sort(key=lambda f: f.packet or 0)
    return list(streams.values()), findings


MOVE_SEQUENCE, MOVE_TICKS = MAX_MISORDER, 10 * 90000  # how close a stream from a new address must be to the old one's


def _continues(prior: RtpStream, sequence: int, timestamp: int) -> bool:
    """A packet from another address carries on ``prior``'s numbering and clock (within 100 sequence
    numbers and 10 s of 90 kHz): the same sender — ICE moved it to another pair, a NAT rebound it,
    or a capture on both sides of a router sees it twice. Another sender's SSRC is random, and so
    are its first sequence number and timestamp (RFC 3550 §5.1): it does not."""
    step = (sequence - prior.sequences[-1]) & 0xFFFF
    close_in_sequence = step <= MOVE_SEQUENCE or step >= 0x10000 - MOVE_SEQUENCE
    return close_in_sequence and abs(signed32(timestamp - prior.timestamps[-1])) <= MOVE_TICKS


# The RTP clock is judged over a stream of CLOCK_MIN_SPAN seconds of capture or more, between the
# least-delayed packet of its first half and that of its second half (jitter only delays packets, so
# each half's earliest packet is the closest to the sender's clock).  RTP time and capture time
# between them must agree within CLOCK_TOLERANCE of that time or CLOCK_FLOOR seconds, whichever is
# larger: bounded jitter, even a stall that delays all but one packet of a half, cannot trip it.
CLOCK_MIN_SPAN, CLOCK_TOLERANCE, CLOCK_FLOOR = 1.0, 0.25, 0.2
BACKLOG_PACE = 0.25  # a step sent in less than a quarter of its media time is part of a backlog ...
BACKLOG_AT_ONCE = 0.25  # ... released within this many seconds of the stream's first packet (a fast clock is not)


def signed32(value: int) -> int:
    """A difference of two RTP timestamps as the signed step it is (they wrap at 2**32)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _rtp_seconds(timestamps: list[int], rate: int) -> list[float]:
    """Timestamps unwrapped (32-bit, signed steps) and in seconds from the first."""
    out, total = [0.0], 0
    for previous, current in zip(timestamps, timestamps[1:], strict=False):
        total += signed32(current - previous)
        out.append(total / rate)
    return out


def _after_backlog(times: list[float], rtp: list[float]) -> int:
    """The first packet after a backlog released at the start: media queued before the connection
    was up and sent at once (measured: GStreamer sent 2.2 s of video in 47 ms, then paced exactly),
    true timestamps of a burst the clock check would read as a fast clock.  A step of a frame's own
    packets (the same timestamp) neither ends nor extends it."""
    index = 0
    for step in range(1, len(times)):
        media = rtp[step] - rtp[step - 1]
        if media <= 0:
            continue
        if times[step] - times[step - 1] >= BACKLOG_PACE * media or times[step] - times[0] > BACKLOG_AT_ONCE:
            break  # paced (or no burst any more): the stream proper starts here
        index = step
    return index


def _clock(stream: RtpStream, payload_types: dict[int, int]) -> list[Finding]:
    """Timestamps advance at the clock rate of the negotiated payload type (RFC 3550 §5.1)."""
    rate = payload_types.get(stream.payload_type)
    count = len(stream.times)
    if rate is None or count < 8 or stream.times[-1] - stream.times[0] < CLOCK_MIN_SPAN:
        return []
    rtp = _rtp_seconds(stream.timestamps, rate)
    start = _after_backlog(stream.times, rtp)
    if count - start < 8 or stream.times[-1] - stream.times[start] < CLOCK_MIN_SPAN:
        return []
    offsets = [arrival - sent for arrival, sent in zip(stream.times, rtp, strict=True)]
    half = start + (count - start) // 2
    i = min(range(start, half), key=offsets.__getitem__)
    j = min(range(half, count), key=offsets.__getitem__)
    wall, media = stream.times[j] - stream.times[i], rtp[j] - rtp[i]
    if abs(wall - media) <= max(CLOCK_TOLERANCE * wall, CLOCK_FLOOR):
        return []
    return [
        _finding(
            stream.numbers[j],
            "rtp.timestamp",
            f"ssrc 0x{stream.ssrc:08x}: timestamps advanced {media:.2f} s of {rate} Hz clock in {wall:.2f} s "
            f"of capture (between its least-delayed packets {stream.numbers[i]} and {stream.numbers[j]})",
        )
    ]
