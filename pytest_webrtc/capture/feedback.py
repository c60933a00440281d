"""RTCP feedback (RFC 4585) and RTP retransmission (RTX, RFC 4588) on the wire.

What can be judged is what SRTP and SRTCP leave in clear (RFC 3711 §3.1, §3.4): every RTP
header, and of each RTCP compound packet its *first* header and sender SSRC — so a feedback
message is seen (its type and length) when it leads its compound, as aiortc's and reduced-size
(RFC 5506) feedback do; the lost sequence numbers a NACK lists, an RTX packet's original sequence
number and every header after the first of a compound are encrypted and not judged.

- ``rtcp.nack-format`` / ``rtcp.pli-format``: the length a Generic NACK or a PLI must have.
- ``rtx.ssrc``: a retransmission stream has an SSRC of its own (SSRC multiplexing: BUNDLE).
- ``rtx.timestamp``: a retransmission carries its original's timestamp.  The original may be
  missing from this capture (lost on the way, before the capture point): then its timestamp lies
  between those of the packets around the sequence gap it left, and only a timestamp outside
  every such gap is wrong.  A padded RTX packet may be padding only (bandwidth probing: no
  original packet) and is not judged.

Feedback seen is counted per source (``Feedback``) for ``expect-wire: {feedback: ...}``.
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..addresses import Address, format_hostport
from ..rules import Finding, Level, Rule, rule
from .packets import Datagram
from .rtp import RtpStream, signed32
from .srtp import SrtpReader, nacked_sequences, original_sequence

__all__ = [
    "FEEDBACK_NAMES",
    "FEEDBACK_RULES",
    "Drop",
    "Feedback",
    "dropped",
    "rtx_payload_types_from_sdp",
    "verify_feedback",
]

FEEDBACK_RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        rule(
            "rtcp.nack-format",
            "RFC 4585 §6.2.1",
            "The FCI field MUST contain at least one and MAY contain more than one Generic NACK "
            "(length field 3 or more)",
            Level.MUST,
        ),
        rule(
            "rtcp.pli-format",
            "RFC 4585 §6.3.1.2",
            "PLI does not require parameters. Therefore, the length field MUST be 2, and there MUST NOT "
            "be any Feedback Control Information",
            Level.MUST,
        ),
        rule(
            "rtx.ssrc",
            "RFC 4588 §4",
            "In the case of SSRC-multiplexing, two different SSRC values MUST be used for the original "
            "stream and the retransmission stream",
            Level.MUST,
        ),
        rule(
            "rtx.timestamp",
            "RFC 4588 §4",
            "The retransmission packet timestamp MUST be set to the original timestamp, i.e., to the "
            "timestamp of the original packet",
            Level.MUST,
        ),
    )
}

# (packet type, FMT) of the first RTCP header -> its name; plain reports by packet type alone
FEEDBACK_NAMES: dict[tuple[int, int], str] = {
    (205, 1): "nack",
    (205, 3): "tmmbr",
    (205, 4): "tmmbn",
    (205, 15): "transport-cc",
    (206, 1): "pli",
    (206, 2): "sli",
    (206, 3): "rpsi",
    (206, 4): "fir",
    (206, 15): "afb",  # application layer feedback: REMB among them
}
REPORT_NAMES = {200: "sr", 201: "rr", 202: "sdes", 203: "bye", 204: "app", 207: "xr"}


@dataclass
class Feedback:
    """The RTCP one source sent, by the name of each compound's first packet; its RTX packets; and,
    where its SRTP key is known (a harness peer), what its NACKs named and its RTX packets resent."""

    source: Address
    first: Counter[str] = field(default_factory=Counter)
    retransmissions: int = 0  # RTX packets (without padding) from this source
    read: int = 0  # its SRTCP packets read with its key (0: the key is not known)
    nacked: dict[int, set[int]] = field(default_factory=dict)  # media SSRC -> sequence numbers its NACKs named
    resent: dict[int, set[int]] = field(default_factory=dict)  # original SSRC -> sequence numbers its RTX carried

    def describe(self) -> str:
        kinds = ", ".join(f"{name} {n}" for name, n in sorted(self.first.items()))
        read = ""
        if self.read:
            named = sum(len(s) for s in self.nacked.values())
            read = f"; read with its key: {self.read} RTCP, NACKs named {named} packet(s)"
        if self.resent:
            read += f"; its RTX resent {sum(len(s) for s in self.resent.values())} packet(s)"
        return f"{format_hostport(self.source)}: RTCP {kinds or 'none'}; {self.retransmissions} retransmission(s){read}"


def rtx_payload_types_from_sdp(sdp: str) -> dict[int, int]:
    """RTX payload type -> the payload type it repairs (``a=rtpmap:98 rtx/90000`` + ``a=fmtp:98 apt=97``)."""
    rtx = {int(pt) for pt in re.findall(r"^a=rtpmap:(\d+) rtx/\d+", sdp, re.M | re.I)}
    return {
        int(pt): int(apt) for pt, apt in re.findall(r"^a=fmtp:(\d+) [^\r\n]*?\bapt=(\d+)", sdp, re.M) if int(pt) in rtx
    }


def _rtcp(datagrams: list[Datagram], feedback: dict[Address, Feedback], reader: SrtpReader) -> list[Finding]:
    findings = []
    for d in datagrams:
        data = d.payload
        if d.kind != "rtp" or len(data) < 8 or not 192 <= data[1] <= 223:
            continue
        fmt, packet_type, length = data[0] & 0x1F, data[1], struct.unpack_from("!H", data, 2)[0]
        name = FEEDBACK_NAMES.get((packet_type, fmt), REPORT_NAMES.get(packet_type, f"pt{packet_type}"))
        sent = feedback.setdefault(d.src, Feedback(d.src))
        sent.first[name] += 1
        plain = reader.rtcp(d.src, data)
        if plain is not None:
            sent.read += 1
            for media, sequences in nacked_sequences(plain).items():
                sent.nacked.setdefault(media, set()).update(sequences)
        if name == "nack" and length < 3:
            findings.append(
                Finding(
                    "rtcp.nack-format",
                    f"a Generic NACK from {format_hostport(d.src)} with length {length}: no NACK in its FCI",
                    packet=d.number,
                )
            )
        elif name == "pli" and length != 2:
            findings.append(
                Finding(
                    "rtcp.pli-format",
                    f"a PLI from {format_hostport(d.src)} with length {length} ({4 * (length - 2)} bytes of FCI)",
                    packet=d.number,
                )
            )
    return findings


def _repaired(stream: RtpStream, repaired: set[int], streams: list[RtpStream]) -> list[RtpStream]:
    """The original streams an RTX stream may repair: same source, another SSRC, an apt payload type."""
    return [s for s in streams if s.source == stream.source and s.ssrc != stream.ssrc and repaired & set(s.kinds)]


def _gaps(original: RtpStream, base: int) -> list[tuple[int, int]]:
    """(low, high) timestamps (relative to ``base``) around each sequence gap of the stream in this capture."""
    extended, total = [], 0
    for i, seq in enumerate(original.sequences):
        if i:
            step = (seq - original.sequences[i - 1]) & 0xFFFF
            total += step - 0x10000 if step >= 0x8000 else step
        extended.append((total, signed32(original.timestamps[i] - base)))
    extended.sort()
    return [
        (min(t1, t2), max(t1, t2)) for (s1, t1), (s2, t2) in zip(extended, extended[1:], strict=False) if s2 - s1 > 1
    ]


@dataclass
class _Original:
    """What this capture caught of an original stream: its timestamps, their span, its gaps."""

    stream: RtpStream
    seen: set[int]
    low: int
    high: int
    gaps: list[tuple[int, int]]

    @classmethod
    def of(cls, stream: RtpStream) -> _Original:
        base = stream.timestamps[0]
        span = [signed32(t - base) for t in stream.timestamps]
        return cls(stream, set(stream.timestamps), min(span), max(span), _gaps(stream, base))

    def could_be(self, timestamp: int) -> bool:
        """``timestamp`` is one of the stream's, or this capture cannot tell that it is not: before or
        after all it caught of the stream, or inside a gap a lost original left."""
        if timestamp in self.seen:
            return True
        at = signed32(timestamp - self.stream.timestamps[0])
        return not self.low <= at <= self.high or any(low <= at <= high for low, high in self.gaps)


def _rtx_timestamps(stream: RtpStream, originals: list[RtpStream], rtx: dict[int, int]) -> Finding | None:
    """An RTX stream's packets carry their originals' timestamps (where this capture can tell)."""
    caught = [_Original.of(o) for o in originals if o.timestamps]
    wrong = [
        (number, timestamp)
        for number, timestamp, padded, kind in zip(
            stream.numbers, stream.timestamps, stream.padded, stream.kinds, strict=True
        )
        if kind in rtx and not padded and not any(o.could_be(timestamp) for o in caught)
    ]
    if not caught or not wrong:
        return None
    number, timestamp = wrong[0]
    of = ", ".join(f"0x{o.ssrc:08x}" for o in originals)
    return Finding(
        "rtx.timestamp",
        f"ssrc 0x{stream.ssrc:08x} (retransmissions of {of}): timestamp {timestamp} is no original packet's "
        f"({len(wrong)} of {len(stream.numbers)} retransmissions so)",
        packet=number,
    )


def _resent(stream: RtpStream, originals: list[RtpStream], rtx: dict[int, int], payloads: dict[int, bytes],
            reader: SrtpReader, sent: Feedback) -> None:  # fmt: skip
    """The original sequence numbers (OSN) of an RTX stream's packets, where its sender's key is known."""
    for number, kind, padded in zip(stream.numbers, stream.kinds, stream.padded, strict=True):
        plain = reader.rtp(stream.source, payloads[number]) if kind in rtx and not padded else None
        osn = original_sequence(plain) if plain is not None else None
        if osn is not None:
            for original in originals:
                sent.resent.setdefault(original.ssrc, set()).add(osn)


def verify_feedback(
    datagrams: list[Datagram],
    streams: list[RtpStream],
    rtx: dict[int, int] | None = None,
    keys: Sequence[tuple[bytes, int]] = (),
) -> tuple[dict[Address, Feedback], list[Finding]]:
    """Feedback and retransmissions per source, and the findings of :data:`FEEDBACK_RULES`; with
    ``keys`` (the harness's peers' SRTP keys), what their NACKs named and their RTX packets resent."""
    rtx = rtx or {}
    reader = SrtpReader(keys)
    feedback: dict[Address, Feedback] = {}
    findings = _rtcp(datagrams, feedback, reader)
    wanted = {n for st in streams if any(k in rtx for k in st.kinds) for n in st.numbers} if keys else set()
    payloads = {d.number: d.payload for d in datagrams if d.number in wanted}
    for stream in streams:
        kinds = set(stream.kinds)
        repaired = {rtx[pt] for pt in kinds if pt in rtx}
        if not repaired:
            continue
        both = repaired & kinds
        if both:
            apt = min(both)
            number = next(n for n, k in zip(stream.numbers, stream.kinds, strict=True) if k in rtx)
            findings.append(
                Finding(
                    "rtx.ssrc",
                    f"ssrc 0x{stream.ssrc:08x} from {format_hostport(stream.source)} carries payload type {apt} "
                    f"and its retransmissions (payload type {min(pt for pt in kinds if rtx.get(pt) == apt)})",
                    packet=number,
                )
            )
        sent = sum(1 for k, p in zip(stream.kinds, stream.padded, strict=True) if k in rtx and not p)
        feedback.setdefault(stream.source, Feedback(stream.source)).retransmissions += sent
        originals = _repaired(stream, repaired, streams)
        if originals:
            finding = _rtx_timestamps(stream, originals, rtx)
            if finding is not None:
                findings.append(finding)
            if payloads:
                _resent(stream, originals, rtx, payloads, reader, feedback[stream.source])
    return feedback, sorted(findings, key=lambda f: f.packet or 0)


@dataclass(frozen=True)
class Drop:
    """An RTP packet captured on one side of a link element and not on the other: the element dropped it."""

    ssrc: int
    sequence: int
    source: Address
    destination: Address


def dropped(before: list[Datagram], after: list[Datagram], rtx: dict[int, int], guard: float = 1.0) -> list[Drop]:
    """The media packets (not retransmissions, not RTCP) on one side of an element only, in either
    direction; the last ``guard`` seconds are not judged (packets still inside the element)."""

    def media(found: list[Datagram]) -> dict[tuple[int, int], Datagram]:
        out = {}
        for d in found:
            data = d.payload
            if d.kind == "rtp" and len(data) >= 12 and not 192 <= data[1] <= 223 and data[1] & 0x7F not in rtx:
                out[(struct.unpack_from("!I", data, 8)[0], struct.unpack_from("!H", data, 2)[0])] = d
        return out

    one, other = media(before), media(after)
    if not one or not other:
        return []
    end = min(max(d.time for d in before), max(d.time for d in after)) - guard
    return [
        Drop(ssrc, sequence, d.src, d.dst)
        for side, twin in ((one, other), (other, one))
        for (ssrc, sequence), d in side.items()
        if (ssrc, sequence) not in twin and d.time < end
    ]
