"""Ladder (sequence) diagrams of a run: who sent what to whom, in time order.

Sources: the signaling server's relay log, the STUN server's transaction log
and the peers' own event logs (states, data).  ``Ladder.text()`` draws it for
a terminal; the capture inspector (later) draws the same rows from a pcap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..capture.verify import Verdict, WireContext
    from .runner import Context

__all__ = ["Ladder", "LadderRow", "build_ladder"]

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

    def text(self, width: int = 20, max_rows: int = 200) -> str:
        if not self.rows:
            return "(no events)"
        start = min(r.time for r in self.rows)
        actors = list(self.actors)
        for row in self.rows:  # an address nobody named still gets a column
            actors += [a for a in (row.src, row.dst) if a not in actors]
        col = {actor: i for i, actor in enumerate(actors)}
        header = " " * 10 + "".join(actor.center(width) for actor in actors)
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
    names: dict[tuple[str, int], str] = {}
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
                label += f" {mapped[0]}:{mapped[1]}"
            if record.role == "ice-check":
                label = label.replace("BINDING", "check")
            if "USE-CANDIDATE" in m:
                label += " USE-CAND"
        if not record.valid:
            label += " !"
        rows.append(LadderRow(d.time, src, dst, label))
    return rows


def _fmt(address: tuple[str, int]) -> str:
    return f"[{address[0]}]:{address[1]}" if ":" in address[0] else f"{address[0]}:{address[1]}"


def _host_addresses(report: dict[str, Any]) -> set[tuple[str, int]]:
    out = set()
    for line in report.get("candidates", {}).get("host", []):
        fields = line.split()
        out.add((fields[4], int(fields[5])))
    return out


def build_ladder(ctx: Context, reports: dict[str, dict[str, Any]]) -> Ladder:
    peers = list(ctx.scenario.peers)
    has_stun = ctx.stun_server is not None or ctx.stun_address is not None
    actors = peers[:1] + [SIGNALING] + ([STUN] if has_stun else []) + peers[1:]
    ladder = Ladder(actors)
    rows = ladder.rows
    if ctx.signaling_server is not None:
        for record in ctx.signaling_server.relayed:
            if record.sender == "server":
                rows.append(LadderRow(record.time, SIGNALING, record.recipient, record.type))
            elif record.recipient == "server":
                rows.append(LadderRow(record.time, record.sender, SIGNALING, record.type))
            else:
                label = record.type
                if record.type == "candidate":
                    fields = str(record.payload.get("candidate", "")).split()
                    if "typ" in fields:
                        label = f"candidate {fields[fields.index('typ') + 1]} {fields[5]}"
                rows.append(LadderRow(record.time, record.sender, record.recipient, label))
    verdict = ctx.wire.verdict if ctx.wire is not None else None
    if verdict is not None:
        rows += wire_rows(verdict, ctx.wire.context(ctx, reports) if ctx.wire else None, STUN)
    elif ctx.stun_server is not None:
        owners = {addr: name for name, report in reports.items() for addr in _host_addresses(report)}
        for t in ctx.stun_server.transactions:
            who = owners.get(t.client)
            if who is None:
                continue
            rows.append(LadderRow(t.time, who, STUN, f"{t.method} request"))
            outcome = f"{t.mapped[0]}:{t.mapped[1]}" if t.mapped else t.outcome
            rows.append(LadderRow(t.time + 1e-6, STUN, who, outcome))
    for name, report in reports.items():
        others = [p for p in peers if p != name]
        for when, kind, detail in report.get("events", []):
            if kind == "state" and detail.split("=")[0] in ("connection", "dtls"):
                rows.append(LadderRow(when, name, name, detail))
            elif kind == "message" and " -> " in detail and len(others) == 1:
                rows.append(LadderRow(when, name, others[0], "data " + detail.split(" -> ")[1]))
    return ladder
