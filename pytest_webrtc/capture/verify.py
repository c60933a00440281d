"""Judge the STUN traffic of a capture, packet by packet, against RFC 8489 and RFC 8445.

Every STUN datagram is checked with the strict codec; then requests and responses are paired
by transaction id and the exchange is judged: where the response came from, what
XOR-MAPPED-ADDRESS says, whether ICE connectivity checks carry the right USERNAME, PRIORITY,
role attributes, FINGERPRINT and a MESSAGE-INTEGRITY made with the password from the SDP,
how retransmissions were paced, and what went unanswered.  Each finding names the packet
number in the capture, the rule and its RFC section.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..addresses import Address, format_hostport
from ..rules import Finding, Level, Rule, rule
from ..stun.checks import check
from ..stun.message import Message, MessageClass, Method, decode, method_name
from .consent import verify_consent
from .credentials import PeerCredentials, WireContext
from .dtls import verify_dtls
from .feedback import verify_feedback
from .packets import Datagram
from .rtp import verify_rtp

__all__ = ["WIRE_RULES", "Exchange", "Finding", "PeerCredentials", "StunRecord", "Verdict", "WireContext", "verify"]

# The wire family of the catalogue; strict-codec rules keep their own names (docs/stun.md).
WIRE_RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        rule(  # a warning: the capture can miss a datagram (measured: three captures lacked a request of
            # Chromium's that our own STUN server answered, so it was sent) — not proof of a bad answer
            "wire.response-unmatched",
            "RFC 8489 §6.3",
            "a response answers a request seen on the wire (same transaction id)",
            Level.SHOULD,
        ),
        rule(
            "wire.response-source",
            "RFC 8489 §6.3.1",
            "a response comes from where the request went and goes to where it came from",
        ),
        rule(
            "wire.xor-mapped-address", "RFC 8489 §14.2", "XOR-MAPPED-ADDRESS is the source the request really came from"
        ),
        rule("ice.username", "RFC 8445 §7.2.2", "a connectivity check's USERNAME is remote-ufrag:local-ufrag"),
        rule("ice.priority", "RFC 8445 §7.1.1", "a connectivity check carries PRIORITY"),
        rule(
            "ice.role", "RFC 8445 §7.1.3", "a connectivity check carries exactly one of ICE-CONTROLLING, ICE-CONTROLLED"
        ),
        rule("ice.use-candidate", "RFC 8445 §7.1.2", "only the controlling agent sends USE-CANDIDATE"),
        rule(
            "ice.integrity-unchecked",
            "RFC 8445 §7.2.2",
            "the ICE password of the check's receiver is known (from the SDP)",
            Level.SHOULD,
        ),
        rule("stun.retransmit-changed", "RFC 8489 §6.2.1", "a retransmission repeats the request unchanged"),
        rule(  # "A client SHOULD retransmit a STUN request message starting with an interval of RTO ... doubling"
            "stun.retransmit-timing",
            "RFC 8489 §6.2.1",
            "retransmissions wait at least about RTO, doubling each time",
            Level.SHOULD,
        ),
        rule("stun.unanswered", "RFC 8489 §6.2.1", "every request gets a response", Level.SHOULD),
        rule("capture.loss", "-", "the capture kept every packet (kernel drop counters are zero)", Level.SHOULD),
    )
}

# Retransmission pacing, "roughly" (RFC 8489 §6.2.1: RTO >= 500 ms recommended, doubling;
# RFC 8445 §14.3: RTO for checks at least 500 ms): flag a first retransmission sooner than
# 250 ms, or a later one sooner than 3/4 of the previous gap.
_FIRST_RETRANSMIT_MIN = 0.25
_SHRINK_TOLERANCE = 0.75


@dataclass
class StunRecord:
    datagram: Datagram
    message: Message | None
    findings: list[Finding] = field(default_factory=list)
    role: str = ""  # "binding", "ice-check", "other"

    @property
    def number(self) -> int:
        return self.datagram.number

    @property
    def valid(self) -> bool:
        return not any(f.failed for f in self.findings)

    def summary(self) -> str:
        m = self.message
        if m is None:
            return "undecodable STUN"
        what = f"{method_name(m.method)} {m.message_class.name.lower()}"
        keys = []
        for name in ("XOR-MAPPED-ADDRESS", "MAPPED-ADDRESS", "USERNAME", "ERROR-CODE"):
            value = m.get(name)
            if value is not None:
                keys.append(f"{name}={format_hostport(value)}" if name.endswith("ADDRESS") else f"{name}={value}")
        for flag in ("USE-CANDIDATE", "ICE-CONTROLLING", "ICE-CONTROLLED"):
            if flag in m:
                keys.append(flag)
        return what + (f" [{', '.join(keys)}]" if keys else "")


@dataclass
class Exchange:
    transmissions: list[StunRecord]
    responses: list[StunRecord] = field(default_factory=list)  # every answer, to retransmissions too

    @property
    def response(self) -> StunRecord | None:
        return self.responses[0] if self.responses else None

    @property
    def request(self) -> StunRecord:
        return self.transmissions[0]

    @property
    def rtt(self) -> float | None:
        if self.response is None:
            return None
        return self.response.datagram.time - self.transmissions[-1].datagram.time


@dataclass
class Verdict:
    records: list[StunRecord]
    exchanges: list[Exchange]
    findings: list[Finding]
    kinds: Counter[str]
    skipped: int = 0  # datagrams that are not STUN
    streams: list[Any] = field(default_factory=list)  # RTP streams (capture.rtp.RtpStream)
    dtls: list[Any] = field(default_factory=list)  # DTLS flows (capture.dtls.DtlsFlow)
    feedback: dict[Any, Any] = field(default_factory=dict)  # source -> capture.feedback.Feedback

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.failed]

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "kinds": dict(self.kinds),
            "findings": [f.as_dict() for f in self.findings],
            "messages": [
                {
                    "number": r.number,
                    "time": r.datagram.time,
                    "src": list(r.datagram.src),
                    "dst": list(r.datagram.dst),
                    "summary": r.summary(),
                    "role": r.role,
                    "valid": r.valid,
                    "transaction_id": r.message.transaction_id.hex() if r.message else None,
                }
                for r in self.records
            ],
            "streams": [
                {
                    "ssrc": st.ssrc,
                    "source": list(st.source),
                    "payload_type": st.payload_type,
                    "packets": len(st.numbers),
                    "rtcp": st.rtcp,
                }
                for st in self.streams
            ],
            "feedback": [
                {"source": list(f.source), "rtcp": dict(f.first), "retransmissions": f.retransmissions}
                for f in self.feedback.values()
            ],
            "exchanges": [
                {
                    "request": e.request.number,
                    "transmissions": [t.number for t in e.transmissions],
                    "response": e.response.number if e.response else None,
                    "responses": [r.number for r in e.responses],
                    "rtt": e.rtt,
                }
                for e in self.exchanges
            ],
        }


def _key_for(
    message: Message, receiver_address: Address, context: WireContext | None
) -> tuple[bytes | None, PeerCredentials | None]:
    """The ICE password a check is signed with: the receiving agent's (RFC 8445 §7.2.2).

    The receiver is whoever owns the check's destination address; only when the capture does not
    say (an address no peer announced) is it taken from USERNAME's first ufrag.  So a check whose
    USERNAME is in the wrong order but which is signed right gives the USERNAME finding only.
    """
    if context is None:
        return None, None
    owner = context.owner(receiver_address)
    username = message.get("USERNAME")
    generations = context.generations(owner) if owner else []
    first = str(username).split(":", 1)[0] if isinstance(username, str) else None
    # after an ICE restart, the generation whose ufrag the check names (else the first one)
    receiver = next((p for p in generations if p.ufrag == first), generations[0] if generations else None)
    if receiver is None and isinstance(username, str) and ":" in username:
        receiver = context.by_ufrag(username.split(":", 1)[0])
    return (receiver.pwd.encode(), receiver) if receiver else (None, None)


def _is_ice_check(message: Message) -> bool:
    return (
        message.method == Method.BINDING
        and "USERNAME" in message
        and ("PRIORITY" in message or "ICE-CONTROLLING" in message or "ICE-CONTROLLED" in message)
    )


def _record(d: Datagram, context: WireContext | None) -> StunRecord:
    try:
        message = decode(d.payload)
    except Exception:
        message = None
    record = StunRecord(d, message)
    if message is None:
        record.findings += [_at(d.number, v) for v in check(d.payload)]
        return record
    ice = message.message_class == MessageClass.REQUEST and _is_ice_check(message)
    record.role = "ice-check" if ice else "binding" if message.method == Method.BINDING else "other"
    key = None
    if ice:
        key, _ = _key_for(message, d.dst, context)
    # An RFC 3489 Binding (no magic cookie) is legal with a STUN server (RFC 8489 §11), never as an ICE check.
    violations = check(d.payload, key=key, require_fingerprint=ice, allow_classic=not ice)
    if ice and context is not None and any(v.rule == "integrity.mismatch" for v in violations):
        # after an ICE restart a USERNAME that names none of the receiver's generations (in the
        # wrong order, say) is judged with whichever of its passwords signed it, if one did
        generations = context.generations(context.owner(d.dst))
        named = str(message.get("USERNAME", "")).split(":", 1)[0] in {p.ufrag for p in generations}
        for other in [] if named else generations[1:]:
            retried = check(d.payload, key=other.pwd.encode(), require_fingerprint=True, allow_classic=False)
            if not any(v.rule == "integrity.mismatch" for v in retried):
                key, violations = other.pwd.encode(), retried
                break
    record.findings += [_at(d.number, v) for v in violations]
    if ice:
        record.findings += _ice_rules(record, message, context, key)
    return record


def _rule(number: int, rule_id: str, detail: str) -> Finding:
    return Finding(rule_id, detail, packet=number)


def _at(number: int, violation: Finding) -> Finding:
    """A codec violation, placed in the capture (its packet number; the byte offset stays)."""
    return Finding(
        violation.rule, violation.detail, violation.outcome, violation.section, packet=number, offset=violation.offset
    )


def _ice_rules(record: StunRecord, m: Message, context: WireContext | None, key: bytes | None) -> list[Finding]:
    out = []
    n = record.number
    if "PRIORITY" not in m:
        out.append(_rule(n, "ice.priority", "connectivity check without PRIORITY"))
    roles = [r for r in ("ICE-CONTROLLING", "ICE-CONTROLLED") if r in m]
    if len(roles) != 1:
        out.append(
            _rule(n, "ice.role", f"carries {' and '.join(roles) or 'neither ICE-CONTROLLING nor ICE-CONTROLLED'}")
        )
    if "USE-CANDIDATE" in m and roles == ["ICE-CONTROLLED"]:
        out.append(_rule(n, "ice.use-candidate", "USE-CANDIDATE sent by the controlled agent"))
    username = m.get("USERNAME", "")
    if context is not None and context.peers:
        receiver = context.owner(record.datagram.dst)
        sender = context.owner(record.datagram.src)
        if receiver is not None and sender is not None:
            # any generation of each (RFC 8445 §9: an ICE restart renews the credentials; measured,
            # Chromium checks with its new ufrag and the remote's old one until the answer comes)
            allowed = [
                f"{r.ufrag}:{s.ufrag}" for r in context.generations(receiver) for s in context.generations(sender)
            ]
            expected = allowed[0] if allowed else ""
            if allowed and username not in allowed:
                out.append(
                    _rule(
                        n,
                        "ice.username",
                        f"USERNAME {username!r}, expected {expected!r} ({receiver}'s ufrag : {sender}'s ufrag)",
                    )
                )
        if key is None:
            out.append(
                _rule(
                    n,
                    "ice.integrity-unchecked",
                    f"no peer has ufrag {username.split(':')[0]!r}: MESSAGE-INTEGRITY not verified",
                )
            )
    elif ":" not in str(username):
        out.append(_rule(n, "ice.username", f"USERNAME {username!r} is not of the form remote-ufrag:local-ufrag"))
    return out


def _pair(records: list[StunRecord], context: WireContext | None) -> tuple[list[Exchange], list[Finding]]:
    exchanges: dict[tuple[bytes, Address], Exchange] = {}
    by_tid: dict[bytes, list[Exchange]] = {}
    findings: list[Finding] = []
    for record in records:
        m = record.message
        if m is None:
            continue
        if m.message_class == MessageClass.REQUEST:
            key = (m.transaction_id, record.datagram.src)
            exchange = exchanges.get(key)
            if exchange is None:
                exchange = exchanges[key] = Exchange([record])
                by_tid.setdefault(m.transaction_id, []).append(exchange)
            else:  # a retransmission (also one that crossed the answer): judged like the first
                findings += _retransmission(exchange, record)
                exchange.transmissions.append(record)
        elif m.message_class in (MessageClass.SUCCESS, MessageClass.ERROR):
            candidates = by_tid.get(m.transaction_id, [])
            exchange = next((e for e in candidates if e.request.datagram.src == record.datagram.dst), None) or (
                candidates[0] if candidates else None
            )
            if exchange is None:
                findings.append(
                    _rule(
                        record.number,
                        "wire.response-unmatched",
                        f"no request with transaction id {m.transaction_id.hex()} was seen",
                    )
                )
                continue
            # Every answer is judged, those to retransmissions too: a wrong XOR-MAPPED-ADDRESS or a
            # missing FINGERPRINT can hide in the second response of a transaction.
            exchange.responses.append(record)
            findings += _judge_response(exchange, record, context)
    return list(exchanges.values()), findings


def _retransmission(exchange: Exchange, record: StunRecord) -> list[Finding]:
    out = []
    previous = exchange.transmissions[-1]
    if record.datagram.payload != exchange.request.datagram.payload:
        out.append(
            _rule(
                record.number,
                "stun.retransmit-changed",
                f"retransmission of packet {exchange.request.number} differs from it",
            )
        )
    gap = record.datagram.time - previous.datagram.time
    if len(exchange.transmissions) == 1:
        if gap < _FIRST_RETRANSMIT_MIN:
            out.append(
                _rule(
                    record.number,
                    "stun.retransmit-timing",
                    f"retransmitted {gap * 1000:.0f} ms after packet {previous.number} (RTO should be about 500 ms)",
                )
            )
    else:
        earlier_gap = previous.datagram.time - exchange.transmissions[-2].datagram.time
        if gap < earlier_gap * _SHRINK_TOLERANCE:
            out.append(
                _rule(
                    record.number,
                    "stun.retransmit-timing",
                    f"waited {gap * 1000:.0f} ms after packet {previous.number}, less than the "
                    f"{earlier_gap * 1000:.0f} ms before it (RTO should double)",
                )
            )
    return out


def _judge_response(exchange: Exchange, response: StunRecord, context: WireContext | None) -> list[Finding]:
    out = []
    request = exchange.request
    n = response.number
    change = request.message.get("CHANGE-REQUEST", 0) if request.message is not None else 0
    response_port = request.message.get("RESPONSE-PORT") if request.message is not None else None
    expected_dst = (request.datagram.src[0], response_port) if response_port is not None else request.datagram.src
    if change or response_port is not None:
        # RFC 5780 §6: CHANGE-REQUEST asks for an answer from another IP and/or port, RESPONSE-PORT
        # for an answer to another port: only the destination can be judged here.
        if response.datagram.dst != expected_dst:
            out.append(
                _rule(
                    n,
                    "wire.response-source",
                    f"request {request.number} asked for an answer at {_fmt(expected_dst)}, it went to "
                    f"{_fmt(response.datagram.dst)}",
                )
            )
    elif (response.datagram.src, response.datagram.dst) != (request.datagram.dst, request.datagram.src):
        out.append(
            _rule(
                n,
                "wire.response-source",
                f"request {request.number} went {_fmt(request.datagram.src)} -> {_fmt(request.datagram.dst)}, "
                f"response came {_fmt(response.datagram.src)} -> {_fmt(response.datagram.dst)}",
            )
        )
    m = response.message
    assert m is not None
    mapped = m.get("XOR-MAPPED-ADDRESS")
    beyond_a_nat = context is not None and response.datagram.src in context.translated
    if (
        m.message_class == MessageClass.SUCCESS
        and m.method == Method.BINDING
        and mapped is not None
        and not beyond_a_nat
    ):
        if tuple(mapped) != request.datagram.src:
            out.append(
                _rule(
                    n,
                    "wire.xor-mapped-address",
                    f"XOR-MAPPED-ADDRESS {_fmt(mapped)}, the request (packet {request.number}) "
                    f"came from {_fmt(request.datagram.src)}",
                )
            )
    if request.role == "ice-check" and request.message is not None:
        key, _ = _key_for(request.message, request.datagram.dst, context)
        response.role = "ice-check"
        # RFC 8489 §9.1.3: a 400 (no credentials to check) or 401 (wrong ones) cannot be signed with
        # a key the server does not trust, and is sent without MESSAGE-INTEGRITY.
        unsigned_allowed = m.message_class == MessageClass.ERROR and m.error_code in (400, 401)
        if key is not None:
            # The response is signed with the same password as the request (RFC 8445 §7.2.5.1).
            for v in check(response.datagram.payload, key=key, require_fingerprint=True):
                if v.rule == "integrity.missing" and unsigned_allowed:
                    continue
                if v.rule.startswith("integrity") or v.rule == "fingerprint.missing":
                    finding = _at(n, v)
                    if finding not in response.findings:
                        response.findings.append(finding)
    return out


_fmt = format_hostport


def verify(
    datagrams: list[Datagram], context: WireContext | None = None, *, end_time: float | None = None, grace: float = 0.5
) -> Verdict:
    """Judge every STUN datagram and exchange.

    A request is unanswered if no response came and it was sent more than ``grace`` seconds
    before ``end_time`` (default: the last datagram); that is a warning unless a scenario
    asks for none.
    """
    kinds = Counter(d.kind for d in datagrams)
    records = [_record(d, context) for d in datagrams if d.kind == "stun"]
    exchanges, pair_findings = _pair(records, context)
    by_number = {r.number: r for r in records}
    for finding in pair_findings:
        by_number[finding.packet or 0].findings.append(finding)
    end = end_time if end_time is not None else max((d.time for d in datagrams), default=0.0)
    for exchange in exchanges:
        last = exchange.transmissions[-1]
        if exchange.response is None and last.datagram.time < end - grace:
            last.findings.append(
                _rule(
                    last.number,
                    "stun.unanswered",
                    f"{len(exchange.transmissions)} transmission(s) from "
                    f"{_fmt(last.datagram.src)} to {_fmt(last.datagram.dst)}, no response",
                )
            )
    streams, rtp_findings = verify_rtp(datagrams, context.payload_types if context else None)
    feedback, feedback_findings = verify_feedback(
        datagrams, streams, context.rtx if context else None, context.srtp if context else ()
    )
    flows, dtls_findings = verify_dtls(datagrams, context.fingerprints if context else None)
    rtp_findings += feedback_findings + dtls_findings + verify_consent(exchanges, datagrams)
    findings = sorted(
        [*(f for r in records for f in r.findings), *rtp_findings],
        key=lambda f: (f.packet or 0, f.rule),
    )
    return Verdict(
        records,
        exchanges,
        findings,
        kinds,
        skipped=len(datagrams) - len(records),
        streams=streams,
        dtls=flows,
        feedback=feedback,
    )
