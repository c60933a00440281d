"""Ladder (sequence) diagrams: who sent what to whom, in time order — a pure view.

Rows come from the signaling server's relay log, the STUN messages on the wire (or the STUN
server's transaction log when nothing was captured) and the peers' own event logs (states,
data).  ``Ladder.text()`` draws it for a terminal; ``inspect.render_svg`` as SVG.  The scenario
engine and the capture inspector build their ladders with the same functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .addresses import Address, format_hostport
from .candidates import addresses_of, parse_candidate

if TYPE_CHECKING:
    from .capture.verify import Verdict, WireContext
    from .peer.report import PeerReport
    from .signaling.protocol import RelayRecord
    from .stun.responder import TransactionRecord

__all__ = ["SIGNALING", "STUN", "Ladder", "LadderRow", "build_ladder", "signaling_rows", "wire_rows"]

SIGNALING = "signaling"
STUN = "STUN"


@dataclass(frozen=True)
class LadderRow:
    time: float
    src: str
    dst: str  # equal to src for a note on one actor's line
    label: str


@dataclass
class Ladder:
    actors: list[str]
    rows: list[LadderRow] = field(default_factory=list)

    def columns(self) -> list[str]:
        """The named actors, then every other one a row mentions (an SFU, an address nobody named)."""
        actors = list(self.actors)
        for row in sorted(self.rows, key=lambda r: r.time):
            actors += [a for a in (row.src, row.dst) if a not in actors]
        return actors

    def text(self, width: int = 20, max_rows: int = 200) -> str:
        if not self.rows:
            return "(no events)"
        start = min(r.time for r in self.rows)
        actors = self.columns()
        col = {actor: i for i, actor in enumerate(actors)}
        header = f"{'ms':>8}  " + "".join(actor.center(width) for actor in actors)  # rows: ms since the first
        lines = [header.rstrip()]
        rows = sorted(self.rows, key=lambda r: r.time)
        shown = rows if len(rows) <= max_rows else rows[: max_rows // 2] + rows[-max_rows // 2 :]
        for row in shown:
            cells = [" "] * (width * len(actors))
            for actor in actors:
                cells[col[actor] * width + width // 2] = "|"
            a, b = col[row.src] * width + width // 2, col[row.dst] * width + width // 2
            if a == b:
                note = f"[{row.label}]"
                begin = min(max(0, a - len(note) // 2), len(cells) - len(note))
                cells[begin : begin + len(note)] = list(note[: len(cells)])
            else:
                lo, hi = min(a, b), max(a, b)
                for x in range(lo + 1, hi):
                    cells[x] = "-"
                cells[hi if b > a else lo] = ">" if b > a else "<"
                label = row.label[: max(0, hi - lo - 3)]
                begin = lo + 1 + (hi - lo - 1 - len(label)) // 2
                cells[begin : begin + len(label)] = list(label)
            lines.append(f"{(row.time - start) * 1000:8.1f}  " + "".join(cells).rstrip())
        if len(rows) > max_rows:
            lines.insert(max_rows // 2 + 1, f"{'':10}... {len(rows) - max_rows} rows left out ...")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"actors": self.actors, "rows": [r.__dict__ for r in sorted(self.rows, key=lambda r: r.time)]}


def wire_rows(verdict: Verdict, context: WireContext | None, stun_actor: str = STUN) -> list[LadderRow]:
    """Ladder rows for the STUN messages seen on the wire (Binding with the server, ICE checks)."""
    names: dict[Address, str] = {}
    if context is not None:
        for peer in context.peers:
            names.update({address: peer.name for address in peer.addresses})
        names.update({address: stun_actor for address in context.stun_servers})
    rows = []
    for record in verdict.records:
        d = record.datagram
        src, dst = names.get(d.src, _fmt(d.src)), names.get(d.dst, _fmt(d.dst))
        label = f"#{d.number} " + record.summary().split(" [")[0]
        m = record.message
        if m is not None:
            mapped = m.get("XOR-MAPPED-ADDRESS")
            if mapped is not None:
                label += f" {format_hostport(mapped)}"
            if record.role == "ice-check":
                label = label.replace("BINDING", "check")
            if "USE-CANDIDATE" in m:
                label += " USE-CAND"
        if not record.valid:
            label += " !"
        rows.append(LadderRow(d.time, src, dst, label))
    return rows


_fmt = format_hostport


def _candidate_label(line: str) -> str:
    try:
        candidate = parse_candidate(line)
    except ValueError:
        return "candidate"
    return f"candidate {candidate.type} {format_hostport((candidate.host, candidate.port))}"


def signaling_rows(relayed: Iterable[RelayRecord], signaling: str = SIGNALING) -> list[LadderRow]:
    """Rows for what the signaling server relayed, and the notices it sent."""
    rows = []
    for record in relayed:
        if record.sender == "server":
            rows.append(LadderRow(record.time, signaling, record.recipient, record.type))
        elif record.recipient == "server":
            rows.append(LadderRow(record.time, record.sender, signaling, record.type))
        else:
            label = record.type
            if record.type == "candidate":
                label = _candidate_label(str(record.payload.get("candidate", "")))
            rows.append(LadderRow(record.time, record.sender, record.recipient, label))
    return rows


def build_ladder(
    peers: Sequence[str],
    reports: Mapping[str, PeerReport],
    *,
    relayed: Iterable[RelayRecord] = (),
    verdict: Verdict | None = None,
    wire: WireContext | None = None,
    stun_transactions: Iterable[TransactionRecord] = (),
    has_stun: bool = False,
) -> Ladder:
    """The ladder of a run: signaling, STUN (from the wire, else the server's log), peers' events."""
    actors = list(peers[:1]) + [SIGNALING] + ([STUN] if has_stun else []) + list(peers[1:])
    ladder = Ladder(actors)
    rows = ladder.rows
    rows += signaling_rows(relayed)
    if verdict is not None:
        rows += wire_rows(verdict, wire, STUN)
    else:
        owners = {
            address: name
            for name, report in reports.items()
            for address in addresses_of(report.get("candidates", {}).get("host", []))
        }
        for t in stun_transactions:
            who = owners.get(t.client)
            if who is None:
                continue
            rows.append(LadderRow(t.time, who, STUN, f"{t.method} request"))
            outcome = _fmt(t.mapped) if t.mapped else t.outcome
            rows.append(LadderRow(t.time + 1e-6, STUN, who, outcome))
    for name, report in reports.items():
        others = [p for p in peers if p != name]
        for when, kind, detail in report.get("events", []):
            if kind == "state" and detail.split("=")[0] in ("connection", "dtls"):
                rows.append(LadderRow(when, name, name, detail))
            elif kind == "message" and " -> " in detail and len(others) == 1:
                rows.append(LadderRow(when, name, others[0], "data " + detail.split(" -> ")[1]))
            elif kind == "message" and " <- " in detail and len(others) == 1 and not _logs(reports, others[0]):
                # from a peer that keeps no event log (a program): its sending is drawn from what arrived
                rows.append(LadderRow(when, others[0], name, "data " + detail.split(" <- ")[1]))
        for when, line in report.get("ignored_candidates", []):  # remote candidates it would not reach
            refused = _candidate_label(line).removeprefix("candidate ")
            rows.append(LadderRow(when, name, name, f"ignored {refused}"))
    return ladder


def _logs(reports: Mapping[str, PeerReport], peer: str) -> bool:
    """Whether ``peer`` reports its own events (the harness's peers do; a program does not)."""
    return bool(reports.get(peer, {}).get("events"))
