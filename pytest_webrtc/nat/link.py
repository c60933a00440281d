"""Link conditions and the element's decisions: delay, jitter, loss, reordering, duplication, faults.

This kernel has no netem (``tc qdisc ... netem``: "Specified qdisc kind is unknown"), so the
conditions are applied by the harness itself, in a namespace of their own between the peer and
its router::

    peer ns (10.0.i.2) --eth0/p0-- link ns --r0/priv-- router ns (NAT) -- public ns

The link namespace routes (10.0.i.1 is its ``p0``, 10.255.i.2/30 its ``r0``), and two TUN
devices take every datagram it forwards: ``ip rule iif p0`` sends what comes from the peer to
``tun-up``, ``iif r0`` what comes from the router to ``tun-down`` (policy routing; no NAT or conntrack
there).  A thread reads each packet from its TUN device, decides with a seeded random generator
(one per direction, so a run is repeatable) whether it is lost, duplicated and how long it waits
(``delay`` ± uniform ``jitter``; a later packet may overtake: reordering), and writes it back to
the same device when due — re-entering the stack there, it is routed on by the main table.  A
``rate`` is the kernel's own ``tbf`` on the way out of the link namespace (it works here).
Every decision is counted per direction (:class:`LinkStats`).  The element itself — TUN devices,
its own process — is :mod:`.link_element`; this module is what it decides, and is pure.
"""

from __future__ import annotations

import random
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from ..errors import HarnessConfigError

__all__ = ["KINDS", "Direction", "LinkConditions", "LinkFault", "LinkStats", "conditions_of", "duration",
           "packet_kind", "parse_conditions"]  # fmt: skip

# What a fault can pick out, by the packet's bytes (RFC 7983 §7 demultiplexing, then a look inside).
KINDS = ("stun-request", "stun-response", "stun", "turn", "dtls", "dtls-client-hello", "rtp", "rtcp", "data",
         "tcp", "any")  # fmt: skip
_TURN_METHODS = {0x003, 0x004, 0x006, 0x007, 0x008, 0x009, 0x00A, 0x00B, 0x00C}

_UNITS = {"ms": 1e-3, "s": 1.0, "us": 1e-6}
_RATES = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9}
_SIZES: dict[str, float] = {"b": 1, "kb": 1000, "mb": 1_000_000, "kib": 1024, "mib": 1024 * 1024}


@dataclass(frozen=True)
class LinkConditions:
    """One direction's conditions."""

    delay: float = 0.0  # seconds added to every packet
    jitter: float = 0.0  # seconds: the added delay is delay ± uniform(jitter)
    loss: float = 0.0  # probability a packet is dropped (on average, with bursts)
    burst: float = 1.0  # mean length of a run of lost packets (1: independent losses; Gilbert-Elliott above)
    reorder: float = 0.0  # probability a packet skips the delay, overtaking those before it (netem's meaning)
    duplicate: float = 0.0  # probability a packet is delivered twice
    rate: float = 0.0  # bits per second (0: no cap), the kernel's tbf
    queue: int = 0  # bytes the element holds at most per direction (0: 10,000 packets); beyond: dropped, counted
    seed: int = 0


def _number(text: Any, units: dict[str, float], what: str, default_unit: str) -> float:
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z%]*)\s*", str(text))
    if match is None or (match.group(2) or default_unit).lower() not in units:
        raise HarnessConfigError(
            f"link {what}: {text!r} is not a {what} (e.g. {'50ms' if units is _UNITS else '1mbit'})"
        )
    return float(match.group(1)) * units[(match.group(2) or default_unit).lower()]


def _share(text: Any, what: str) -> float:
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*%\s*", str(text))
    if match is None or float(match.group(1)) > 100:
        raise HarnessConfigError(f"link {what}: {text!r} is not a percentage (e.g. 2%)")
    return float(match.group(1)) / 100


def duration(text: Any, what: str = "delay") -> float:
    """Seconds from ``50ms``, ``3s``, ``250us`` or a number (milliseconds); HarnessConfigError naming ``what``."""
    return _number(text, _UNITS, what, "ms")


def parse_conditions(spec: dict[str, Any]) -> LinkConditions:
    """``{delay: 50ms, jitter: 10ms, loss: 2%, duplicate: 0.5%, rate: 1mbit, seed: 7}``."""
    known = {"delay", "jitter", "loss", "burst", "reorder", "duplicate", "rate", "queue", "seed"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise HarnessConfigError(f"link: unknown condition {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return LinkConditions(
        delay=duration(spec["delay"]) if "delay" in spec else 0.0,
        jitter=duration(spec["jitter"], "jitter") if "jitter" in spec else 0.0,
        loss=_share(spec["loss"], "loss") if "loss" in spec else 0.0,
        burst=_burst(spec.get("burst", 1)),
        reorder=_share(spec["reorder"], "reorder") if "reorder" in spec else 0.0,
        duplicate=_share(spec["duplicate"], "duplicate") if "duplicate" in spec else 0.0,
        rate=_number(spec["rate"], _RATES, "rate", "bit") if "rate" in spec else 0.0,
        queue=int(_number(spec["queue"], _SIZES, "queue", "b")) if "queue" in spec else 0,
        seed=int(spec.get("seed", 0)),
    )


def _burst(value: Any) -> float:
    try:
        burst = float(value)
    except (TypeError, ValueError):
        burst = 0.0
    if burst < 1:
        raise HarnessConfigError(f"link burst: {value!r} is not a mean run length of lost packets (>= 1, e.g. 3)")
    return burst


@dataclass
class LinkFault:
    """Something done to the next ``count`` packets of ``kind``: dropped, delayed by ``by``, or duplicated."""

    kind: str
    action: str = "drop"  # drop, delay, duplicate
    count: int = 1
    by: float = 0.0  # seconds, for delay
    done: int = 0

    def matches(self, kinds: tuple[str, ...]) -> bool:
        return self.done < self.count and (self.kind == "any" or self.kind in kinds)


def packet_kind(packet: bytes) -> tuple[str, ...]:
    """The kinds an IPv4 packet is, most specific last (``("stun", "stun-request")``, ``("dtls", "data")``)."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return ()
    header = (packet[0] & 0x0F) * 4
    if packet[9] == 6:
        return ("tcp",)
    if packet[9] != 17 or len(packet) < header + 8:
        return ()
    payload = packet[header + 8 :]
    if not payload:
        return ()
    first = payload[0]
    if first <= 3 and len(payload) >= 20:
        kind = struct.unpack_from("!H", payload)[0]
        method = (kind & 0x000F) | ((kind & 0x00E0) >> 1) | ((kind & 0x3E00) >> 2)
        klass = ((kind >> 4) & 1) | ((kind >> 7) & 2)
        kinds: tuple[str, ...] = ("stun", "stun-request" if klass == 0 else "stun-response" if klass >= 2 else "stun")
        return (*kinds, "turn") if method in _TURN_METHODS else kinds
    if 64 <= first <= 79:
        return ("turn",)
    if 20 <= first <= 63:
        if first == 22 and len(payload) > 13 and payload[13] == 1:
            return ("dtls", "dtls-client-hello")
        return ("dtls", "data") if first == 23 else ("dtls",)
    if 128 <= first <= 191 and len(payload) > 1:
        return ("rtcp",) if 192 <= payload[1] <= 223 else ("rtp",)
    return ()


@dataclass
class LinkStats:
    """What one direction of the element did."""

    packets: int = 0  # read from the link
    dropped: int = 0  # lost on purpose
    duplicated: int = 0
    delivered: int = 0  # written on (duplicates included)
    reordered: int = 0  # delivered before a packet that had arrived earlier
    overflow: int = 0  # dropped because the queue was full
    down: int = 0  # dropped while the link was down
    faults: dict[str, int] = field(default_factory=dict)  # "drop dtls-client-hello" -> how many
    lost_kinds: dict[str, int] = field(default_factory=dict)  # what the loss dropped, by packet kind
    added: list[float] = field(default_factory=list)  # the delay added to each delivered packet (seconds)

    def report(self) -> dict[str, Any]:
        ordered = sorted(self.added)

        def percentile(p: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000, 2) if ordered else 0.0

        return {"packets": self.packets, "dropped": self.dropped, "duplicated": self.duplicated,
                "delivered": self.delivered, "reordered": self.reordered, "overflow": self.overflow,
                "down": self.down, "faults": dict(self.faults), "lost-by-kind": dict(self.lost_kinds),
                "delay-p50-ms": percentile(0.5), "delay-p99-ms": percentile(0.99)}  # fmt: skip


class Direction:
    def __init__(self, name: str, conditions: LinkConditions) -> None:
        self.name, self.conditions = name, conditions
        self.random = random.Random(conditions.seed * 2 + (name == "down"))
        self.stats = LinkStats()
        self.bad = False  # Gilbert-Elliott: in a run of losses
        self.held = 0  # bytes waiting in the element
        self.is_down = False
        self.faults: list[LinkFault] = []
        self.fd = -1
        self.arrived = 0  # arrival order of the packets read
        self.last_delivered = -1  # the arrival number of the last packet delivered

    def decide(self, now: float, packet: bytes = b"") -> list[float]:
        """When to deliver the packet that just arrived (none: lost; two: duplicated)."""
        c, rng = self.conditions, self.random
        self.stats.packets += 1
        if self.is_down:
            self.stats.down += 1
            return []
        extra, forced = 0.0, 1
        if self.faults:
            kinds = packet_kind(packet)
            for fault in self.faults:
                if fault.matches(kinds):
                    fault.done += 1
                    key = f"{fault.action} {fault.kind}"
                    self.stats.faults[key] = self.stats.faults.get(key, 0) + 1
                    if fault.action == "drop":
                        return []
                    if fault.action == "delay":
                        extra += fault.by
                    else:
                        forced = 2
        if c.loss and self._lost(c, rng):
            self.stats.dropped += 1
            kind = (packet_kind(packet) or ("other",))[-1]
            self.stats.lost_kinds[kind] = self.stats.lost_kinds.get(kind, 0) + 1
            return []
        copies = max(forced, 2 if c.duplicate and rng.random() < c.duplicate else 1)
        self.stats.duplicated += copies - 1
        out = []
        for _ in range(copies):
            if c.reorder and rng.random() < c.reorder:
                out.append(now + extra)  # sent at once: it overtakes the packets still delayed
                continue
            added = max(0.0, c.delay + (rng.uniform(-c.jitter, c.jitter) if c.jitter else 0.0))
            out.append(now + added + extra)
        return out

    def _lost(self, c: LinkConditions, rng: random.Random) -> bool:
        """Independent losses, or with ``burst`` > 1 a two-state (Gilbert-Elliott) chain whose runs of
        losses last ``burst`` packets on average and whose long-run loss rate is ``loss``."""
        if c.burst <= 1:
            return rng.random() < c.loss
        if self.bad:
            self.bad = rng.random() >= 1 / c.burst
        else:
            self.bad = rng.random() < c.loss / (c.burst * (1 - c.loss)) if c.loss < 1 else True
        return self.bad


def conditions_of(fields: dict[str, Any]) -> LinkConditions:
    """The conditions from ``dataclasses.asdict`` of them (how the element's process is told them)."""
    return LinkConditions(**fields)
