"""DTLS handshakes on the wire: the certificate each side shows must match its SDP fingerprint.

DTLS 1.2 (RFC 6347) sends its handshake in the clear until ChangeCipherSpec; the Certificate
message may be fragmented over several records and is reassembled here.  RFC 5763 §5 / RFC 8122
§5: the hash of the certificate equals the ``a=fingerprint`` its sender announced.  A ClientHello
sent again with the same message_seq is a retransmission of the first flight (RFC 6347 §4.2.4):
its timer starts at about 1 s and doubles.  RFC 8827 §6.5: every WebRTC endpoint supports
TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 with P-256, so a ClientHello that offers it (and the
mandatory SRTP profile) cannot be refused for want of a common suite.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass, field

from ..addresses import Address, format_hostport
from ..rules import Finding, Level, Rule, rule
from .packets import Datagram

__all__ = ["DTLS_RULES", "DtlsFlow", "fingerprints_from_sdp", "offers_mti", "verify_dtls"]

DTLS_RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        rule("dtls.fingerprint", "RFC 5763 §5", "the certificate a peer shows hashes to the fingerprint in its SDP"),
        rule(
            "dtls.handshake",
            "RFC 6347 §4.2",
            "a DTLS handshake that starts (ClientHello) is answered (ServerHello)",
            Level.SHOULD,
        ),
        rule(
            "dtls.mti-suite",
            "RFC 8827 §6.5",
            "a ClientHello offering the mandatory TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 with P-256 is not refused "
            "with a handshake_failure or insufficient_security alert",
        ),
        rule(
            "dtls.retransmit-timing",
            "RFC 6347 §4.2.4.1",
            "a flight resent after its timer: the first time after about 1 s, each later one after twice the last",
            Level.SHOULD,
        ),
    )
}
# RFC 6347 §4.2.4.1: "Implementations SHOULD use an initial timer value of 1 second ... and double
# the value at each retransmission".  Measured on the capture's clock: some slack either way.
FIRST_TIMER = 0.9  # seconds: a first resend sooner than this is early
DOUBLING = 1.6  # each interval at least this many times the one before (2 with slack)
HANDSHAKE, CLIENT_HELLO, SERVER_HELLO, CERTIFICATE = 22, 1, 2, 11
ALERT, FATAL = 21, 2
REFUSALS = {40: "handshake_failure", 71: "insufficient_security"}  # alerts that mean "no suite in common"
MTI_SUITE, P256, SRTP_MTI = 0xC02B, 23, 0x0001  # RFC 8827 §6.5; SRTP_AES128_CM_HMAC_SHA1_80
EXT_GROUPS, EXT_USE_SRTP = 10, 14
_HASHES = {"sha-1": "sha1", "sha-224": "sha224", "sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512"}


@dataclass
class DtlsFlow:
    """What one source sent in clear during its handshake."""

    source: Address
    messages: list[int] = field(default_factory=list)  # handshake types, in order
    first_number: int = 0
    certificate: bytes | None = None  # the first certificate (DER)
    certificate_number: int = 0
    destination: Address | None = None  # where its first ClientHello went
    offers_mti: bool = False  # its ClientHello offers RFC 8827's mandatory suite, curve and SRTP profile
    alerts: list[tuple[int, int, int]] = field(default_factory=list)  # clear alerts: (level, description, frame)
    _fragments: dict[int, tuple[int, bytearray, set[int]]] = field(default_factory=dict)

    def fingerprint(self, algorithm: str = "sha-256") -> str | None:
        if self.certificate is None:
            return None
        digest = hashlib.new(_HASHES[algorithm], self.certificate).hexdigest().upper()
        return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def fingerprints_from_sdp(sdp: str) -> list[tuple[str, str]]:
    """(algorithm, upper-case hex with colons) of every a=fingerprint line."""
    found = [(alg.lower(), value.upper()) for alg, value in re.findall(r"^a=fingerprint:(\S+) (\S+)", sdp, re.M)]
    return list(dict.fromkeys(found))  # one per m-line in the SDP: keep each once


def _handshake_fragments(payload: bytes) -> list[tuple[int, int, int, int, bytes]]:
    """(type, length, message_seq, fragment_offset, fragment) of every clear handshake record."""
    out = []
    offset = 0
    while offset + 13 <= len(payload):
        content_type, _version, epoch, _seq_hi, _seq_lo, length = struct.unpack_from("!BHHHIH", payload, offset)
        body = payload[offset + 13 : offset + 13 + length]
        offset += 13 + length
        if content_type != HANDSHAKE or epoch != 0 or len(body) < 12:
            continue
        kind = body[0]
        total = int.from_bytes(body[1:4], "big")
        message_seq = int.from_bytes(body[4:6], "big")
        fragment_offset = int.from_bytes(body[6:9], "big")
        fragment_length = int.from_bytes(body[9:12], "big")
        out.append((kind, total, message_seq, fragment_offset, body[12 : 12 + fragment_length]))
    return out


def _alerts(payload: bytes) -> list[tuple[int, int]]:
    """(level, description) of every clear alert record (epoch 0) in a datagram."""
    out, offset = [], 0
    while offset + 13 <= len(payload):
        content_type, _version, epoch, _hi, _lo, length = struct.unpack_from("!BHHHIH", payload, offset)
        if content_type == ALERT and epoch == 0 and length == 2 and offset + 15 <= len(payload):
            out.append((payload[offset + 13], payload[offset + 14]))
        offset += 13 + length
    return out


def offers_mti(hello: bytes) -> bool:
    """Whether a whole ClientHello body offers TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, P-256 (when it
    lists groups at all) and SRTP_AES128_CM_HMAC_SHA1_80 (when it offers SRTP at all)."""
    try:
        at = 2 + 32  # client_version, random
        at += 1 + hello[at]  # session_id
        at += 1 + hello[at]  # cookie (DTLS)
        length = int.from_bytes(hello[at : at + 2], "big")
        suites = {int.from_bytes(hello[i : i + 2], "big") for i in range(at + 2, at + 2 + length, 2)}
        at += 2 + length
        at += 1 + hello[at]  # compression methods
        extensions: dict[int, bytes] = {}
        end = at + 2 + int.from_bytes(hello[at : at + 2], "big") if at + 2 <= len(hello) else at
        at += 2
        while at + 4 <= min(end, len(hello)):
            kind, size = struct.unpack_from("!HH", hello, at)
            extensions[kind] = hello[at + 4 : at + 4 + size]
            at += 4 + size
    except IndexError:
        return False
    groups = extensions.get(EXT_GROUPS)
    srtp = extensions.get(EXT_USE_SRTP)
    group_ok = groups is None or P256 in {int.from_bytes(groups[i : i + 2], "big") for i in range(2, len(groups), 2)}
    srtp_ok = srtp is None or SRTP_MTI in {
        int.from_bytes(srtp[i : i + 2], "big") for i in range(2, 2 + int.from_bytes(srtp[:2], "big"), 2)
    }
    return MTI_SUITE in suites and group_ok and srtp_ok


def _refusals(flows: dict[Address, DtlsFlow]) -> list[Finding]:
    """A side that refuses, with a fatal no-common-suite alert and no ServerHello, a ClientHello that
    offered the mandatory suite."""
    findings = []
    for client in flows.values():
        server = flows.get(client.destination) if client.destination is not None else None
        if not client.offers_mti or server is None or SERVER_HELLO in server.messages:
            continue
        for level, description, number in server.alerts:
            if level == FATAL and description in REFUSALS:
                findings.append(Finding("dtls.mti-suite", (
                    f"{format_hostport(server.source)} refused the ClientHello of {format_hostport(client.source)}, "
                    f"which offers TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 with P-256 (RFC 8827's mandatory suite), "
                    f"with a fatal {REFUSALS[description]} alert: it cannot negotiate the suite every WebRTC "
                    f"endpoint must support (a certificate that is not ECDSA P-256 is the usual cause)"
                ), packet=number))  # fmt: skip
                break
    return findings


def _first_certificate(message: bytes) -> bytes | None:
    """The first DER certificate of a Certificate handshake body (RFC 5246 §7.4.2)."""
    if len(message) < 6:
        return None
    first = int.from_bytes(message[3:6], "big")
    der = message[6 : 6 + first]
    return der if len(der) == first else None


def _retransmissions(hellos: dict[tuple[Address, int], list[tuple[float, int]]]) -> list[Finding]:
    """A ClientHello sent again (the same message_seq): after its timer, and the timer doubling."""
    findings = []
    for (source, _), sendings in hellos.items():
        intervals = [(b[0] - a[0], b[1]) for a, b in zip(sendings, sendings[1:], strict=False)]
        for i, (interval, number) in enumerate(intervals):
            if i == 0 and interval < FIRST_TIMER:
                said = f"its first resend came {interval * 1000:.0f} ms after it (the initial timer is 1 s)"
            elif i > 0 and interval < DOUBLING * intervals[i - 1][0]:
                said = (f"resend {i + 1} came {interval * 1000:.0f} ms after the one before, which had waited "
                        f"{intervals[i - 1][0] * 1000:.0f} ms (the timer doubles)")  # fmt: skip
            else:
                continue
            findings.append(Finding("dtls.retransmit-timing", f"ClientHello from {format_hostport(source)}: {said}",
                                    packet=number))  # fmt: skip
    return findings


def verify_dtls(
    datagrams: list[Datagram], announced: dict[int, list[tuple[str, str]]] | None = None
) -> tuple[list[DtlsFlow], list[Finding]]:
    """Flows with their handshake messages and certificates; findings when a certificate does not
    match the fingerprint announced for its source (``announced``: source port -> SDP fingerprints;
    ports, because a socket bound to a wildcard address shows another source address than the
    host candidate it announced)."""
    flows: dict[Address, DtlsFlow] = {}
    hellos: dict[tuple[Address, int], list[tuple[float, int]]] = {}  # (source, message_seq) -> (time, frame)
    hello_parts: dict[tuple[Address, int], tuple[int, bytearray, set[int]]] = {}
    for d in datagrams:
        if d.kind != "dtls":
            continue
        flow = flows.setdefault(d.src, DtlsFlow(d.src, first_number=d.number))
        flow.alerts += [(level, description, d.number) for level, description in _alerts(d.payload)]
        for kind, total, message_seq, fragment_offset, fragment in _handshake_fragments(d.payload):
            if kind == CLIENT_HELLO and fragment_offset == 0:  # each sending of the first flight
                hellos.setdefault((d.src, message_seq), []).append((d.time, d.number))
                flow.destination = flow.destination or d.dst
            if kind == CLIENT_HELLO and not flow.offers_mti:  # reassembled: Firefox's is fragmented (1461 bytes)
                _, buffer, seen = hello_parts.setdefault((d.src, message_seq), (total, bytearray(total), set()))
                buffer[fragment_offset : fragment_offset + len(fragment)] = fragment[: max(0, total - fragment_offset)]
                seen.update(range(fragment_offset, min(total, fragment_offset + len(fragment))))
                flow.offers_mti = len(seen) >= total and offers_mti(bytes(buffer))
            if kind not in flow.messages:
                flow.messages.append(kind)
            if kind != CERTIFICATE or flow.certificate is not None:
                continue
            _, buffer, seen = flow._fragments.setdefault(message_seq, (total, bytearray(total), set()))
            buffer[fragment_offset : fragment_offset + len(fragment)] = fragment
            seen.update(range(fragment_offset, fragment_offset + len(fragment)))
            if len(seen) >= total:
                flow.certificate = _first_certificate(bytes(buffer))
                flow.certificate_number = d.number
    findings = _retransmissions(hellos) + _refusals(flows)
    for flow in flows.values():
        if CLIENT_HELLO in flow.messages:
            answered = any(SERVER_HELLO in other.messages for other in flows.values() if other is not flow)
            if not answered:
                findings.append(
                    Finding(
                        "dtls.handshake",
                        f"ClientHello from {format_hostport(flow.source)} got no ServerHello",
                        packet=flow.first_number,
                    )
                )
        expected = (announced or {}).get(flow.source[1])
        if expected and flow.certificate is not None:
            hashes = {alg: flow.fingerprint(alg) for alg, _ in expected if alg in _HASHES}
            if not any(hashes.get(alg) == value for alg, value in expected):
                alg, value = expected[0]
                findings.append(
                    Finding(
                        "dtls.fingerprint",
                        f"certificate from {format_hostport(flow.source)} hashes to "
                        f"{hashes.get(alg)}, its SDP announced {alg} {value}",
                        packet=flow.certificate_number,
                    )
                )
    return list(flows.values()), findings
