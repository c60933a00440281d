"""Ladder (sequence) diagrams of a run: who sent what to whom, in time order.

Sources: the signaling server's relay log, the STUN server's transaction log
and the peers' own event logs (states, data).  ``Ladder.text()`` draws it for
a terminal; the capture inspector (later) draws the same rows from a pcap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        col = {actor: i for i, actor in enumerate(self.actors)}
        header = " " * 10 + "".join(actor.center(width) for actor in self.actors)
        lines = [header.rstrip()]
        rows = sorted(self.rows, key=lambda r: r.time)
        shown = rows if len(rows) <= max_rows else rows[: max_rows // 2] + rows[-max_rows // 2 :]
        for row in shown:
            cells = [" "] * (width * len(self.actors))
            for actor in self.actors:
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


def _host_addresses(report: dict[str, Any]) -> set[tuple[str, int]]:
    out = set()
    for line in report.get("candidates", {}).get("host", []):
        fields = line.split()
        out.add((fields[4], int(fields[5])))
    return out


def build_ladder(ctx: Context, reports: dict[str, dict[str, Any]]) -> Ladder:
    peers = list(ctx.scenario.peers)
    actors = [peers[0], SIGNALING] + ([STUN] if ctx.stun_server is not None else []) + peers[1:]
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
    if ctx.stun_server is not None:
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
