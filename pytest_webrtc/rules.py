"""One catalogue of rules and one result type, for every rule family.

A :class:`Rule` is what the harness enforces: a stable id (``fingerprint.mismatch``,
``stun.binding-udp``), the RFC and section it comes from, the requirement level of the RFC
sentence (MUST, SHOULD, MAY) and a one-line summary.  Rule families register their rules
here when their module is imported:

    ======================  =====================================  ==========================
    family                  module                                 judges
    ======================  =====================================  ==========================
    STUN codec (strict)     ``stun.violations``                    the bytes of one message
    wire                    ``capture.verify``                     STUN/ICE exchanges on the wire
    RTP, DTLS               ``capture.rtp``, ``capture.dtls``      media flows on the wire
    STUN conformance        ``conformance.stun``                   another project's STUN server
    TURN conformance        ``conformance.turn``, ``turn_relay``   another project's TURN server
    signaling conformance   ``conformance.signaling``              another project's signaling
    PeerJS conformance      ``conformance.peerjs``                 a PeerJS server
    WHIP/WHEP conformance   ``conformance.whip``                   a WHIP or WHEP endpoint
    ======================  =====================================  ==========================

``pytest_webrtc.catalogue.complete()`` imports every family and returns the whole catalogue
(docs and tests are checked against it).

A :class:`Finding` is one judgement of one rule: the codec's violations, the wire verifier's
findings and the conformance suites' results are all findings.  A broken rule's outcome follows
its level (MUST -> ``fail``, SHOULD -> ``warn``, MAY -> ``info``); conformance checks also say
``pass`` and ``skip``.  Nothing here imports the rest of the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["OUTCOMES", "RULES", "Finding", "Level", "Rule", "rule", "rules_of"]


class Level(str, Enum):
    """The requirement level of the RFC sentence a rule enforces (RFC 2119)."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"

    @property
    def outcome(self) -> str:
        """What breaking a rule of this level gives: ``fail``, ``warn`` or ``info``."""
        return {"MUST": "fail", "SHOULD": "warn", "MAY": "info"}[self.value]


OUTCOMES = ("pass", "fail", "warn", "info", "skip")


@dataclass(frozen=True)
class Rule:
    id: str
    section: str  # "RFC 8489 §14.7"; "-" for the harness's own notes (e.g. capture loss)
    level: Level
    summary: str  # what the rule demands, in one line

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]


RULES: dict[str, Rule] = {}


def rule(rule_id: str, section: str, summary: str, level: Level = Level.MUST) -> Rule:
    """Register a rule (once: a second rule with the same id is a programming error)."""
    if rule_id in RULES and RULES[rule_id] != Rule(rule_id, section, level, summary):
        raise ValueError(f"rule {rule_id!r} is registered twice")
    RULES[rule_id] = Rule(rule_id, section, level, summary)
    return RULES[rule_id]


def rules_of(*prefixes: str) -> dict[str, Rule]:
    """The registered rules whose id starts with one of ``prefixes`` (``"stun."``, ``"rtp."``)."""
    return {rid: r for rid, r in RULES.items() if rid.startswith(prefixes)}


@dataclass(frozen=True)
class Finding:
    """One rule judged once: broken (``fail``/``warn``/``info`` by level), or ``pass``/``skip``.

    ``packet`` is the frame number in a capture (0: the capture as a whole; None: not from a
    capture); ``offset`` the byte offset in a STUN message (the attribute header for attribute
    rules).  ``section`` and ``outcome`` default to what the catalogue says of the rule.
    """

    rule: str
    detail: str
    outcome: str = ""
    section: str = ""
    packet: int | None = None
    offset: int | None = None

    def __post_init__(self) -> None:
        known = RULES.get(self.rule)
        if known is None:
            raise ValueError(f"unknown rule {self.rule!r}")
        if not self.section:
            object.__setattr__(self, "section", known.section)
        if not self.outcome:
            object.__setattr__(self, "outcome", known.level.outcome)
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}; expected one of {', '.join(OUTCOMES)}")

    @property
    def level(self) -> Level:
        return RULES[self.rule].level

    @property
    def failed(self) -> bool:
        """A MUST broken: the verdict fails."""
        return self.outcome == "fail"

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, object]:
        """For JSON: the rule, its section and level, the outcome, the detail and where."""
        return {
            "rule": self.rule,
            "section": self.section,
            "level": self.level.value,
            "outcome": self.outcome,
            "detail": self.detail,
            "number": self.packet,  # the packet number in a capture (0: the capture as a whole)
            "offset": self.offset,
            "severity": "error" if self.failed else "warning",
        }

    def line(self) -> str:
        """``FAIL  rule (section): detail`` — the form of a conformance suite's summary."""
        return f"{self.outcome.upper():4}  {self}"

    def __str__(self) -> str:
        where = "" if self.packet is None else ("capture: " if self.packet == 0 else f"packet {self.packet}: ")
        at = f" at byte {self.offset}" if self.offset is not None else ""
        return f"{where}{self.rule} ({self.section}){at}: {self.detail}"
