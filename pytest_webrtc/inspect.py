"""``python -m pytest_webrtc inspect FILE.pcap``: the STUN exchanges of a capture, judged and drawn.

Reads pcap and pcapng files from any tool (Ethernet, Linux cooked, raw IP, BSD loopback).
When a ``FILE.pcap.json`` sidecar written by the harness lies beside it, actors get their
names (alice, bob, STUN) and ICE MESSAGE-INTEGRITY is checked with the passwords from the SDP;
the signaling messages of the run join the ladder.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .addresses import Address, format_hostport
from .capture.packets import datagrams
from .capture.verify import PeerCredentials, StunRecord, Verdict, WireContext, verify
from .ladder import Ladder, LadderRow, signaling_rows, wire_rows
from .signaling.protocol import RelayRecord

__all__ = ["Inspection", "inspect_capture", "no_match", "render_html", "render_json", "render_text"]


@dataclass
class Inspection:
    path: Path
    verdict: Verdict
    context: WireContext | None
    ladder: Ladder
    signaling: list[dict[str, Any]] = field(default_factory=list)
    shown: list[StunRecord] = field(default_factory=list)
    note: str = ""  # what kind of capture this is, when that limits what can be judged
    filters: str = ""  # what --host, --port, --transaction asked for ("" when nothing was filtered)


# A NAT router's capture (the harness keeps one per NATed peer, on all its interfaces) sees each
# datagram on both sides, translated: these rules judge end to end, or a resend's timing, and
# would read the two copies as a wrong mapping, a wrong source or a resend at 0 ms.
ROUTER_BLIND = ("wire.xor-mapped-address", "wire.response-source", "stun.retransmit-timing",
                "stun.retransmit-changed", "dtls.retransmit-timing")  # fmt: skip


def _router_capture(path: Path) -> tuple[str, Path] | None:
    """(peer, the run's pcap) when ``path`` is the capture inside a peer's NAT router that a harness
    run kept beside its pcap (named in that pcap's sidecar)."""
    for sidecar in sorted(path.parent.glob("*.pcap.json"))[:200]:
        try:
            data = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        for peer, name in (data.get("nat_captures") or {}).items() if isinstance(data, dict) else ():
            if name == path.name:
                return str(peer), sidecar.with_name(sidecar.name[: -len(".json")])
    return None


def _load_sidecar(path: Path) -> tuple[WireContext | None, list[dict[str, Any]]]:
    sidecar = path.with_name(path.name + ".json")
    if not sidecar.exists():
        return None, []
    data = json.loads(sidecar.read_text())
    peers = [
        PeerCredentials(p["name"], p["ufrag"], p["pwd"], frozenset(tuple(a) for a in p["addresses"]))
        for p in data.get("peers", [])
    ]
    payload_types = {int(pt): int(rate) for pt, rate in data.get("payload_types", {}).items()}
    servers = {tuple(a) for a in data.get("stun_servers", [])}
    fingerprints = {int(port): [tuple(v) for v in values] for port, values in data.get("fingerprints", {}).items()}
    rtx = {int(pt): int(apt) for pt, apt in data.get("rtx_payload_types", {}).items()}
    srtp = [(bytes.fromhex(key), int(profile)) for key, profile in data.get("srtp_keys", [])]
    translated = {tuple(a) for a in data.get("translated_servers", [])}
    context = WireContext(peers, servers, payload_types, fingerprints, rtx, srtp, translated)
    return context, list(data.get("signaling", []))


def inspect_capture(
    path: Path, *, host: str | None = None, port: int | None = None, transaction: str | None = None
) -> Inspection:
    """Read, judge and draw a capture; ValueError for a file that is not a readable capture."""
    from .capture.sniffer import read_pcap

    linktype, frames = read_pcap(path)
    context, signaling = _load_sidecar(path)
    router = _router_capture(path) if context is None else None
    if router is not None:
        context, signaling = _load_sidecar(router[1])
    verdict = verify(datagrams(frames, linktype), context)
    note = ""
    if router is not None:
        note = (f"a capture inside {router[0]}'s NAT router (run {router[1].name}): each datagram on both its "
                f"sides, translated; {', '.join(ROUTER_BLIND)} are not judged here")  # fmt: skip
        verdict.findings = [f for f in verdict.findings if f.rule not in ROUTER_BLIND]
        for record in verdict.records:
            record.findings = [f for f in record.findings if f.rule not in ROUTER_BLIND]

    def wanted(record: StunRecord) -> bool:
        d = record.datagram
        if host is not None and host not in (d.src[0], d.dst[0]):
            return False
        if port is not None and port not in (d.src[1], d.dst[1]):
            return False
        if transaction is not None:
            tid = record.message.transaction_id.hex() if record.message else ""
            return tid.startswith(transaction.lower())
        return True

    shown = [r for r in verdict.records if wanted(r)]
    filtered = Verdict(shown, verdict.exchanges, verdict.findings, verdict.kinds, verdict.skipped)
    rows = wire_rows(filtered, context)
    # the harness's signaling log, when the sidecar has one
    rows += signaling_rows(
        RelayRecord(m["time"], m.get("room", ""), m["from"], m["to"], m["type"], m.get("payload", {}))
        for m in signaling
    )
    actors = _actors(rows, context)
    asked = {"--host": host, "--port": port, "--transaction": transaction}
    filters = " ".join(f"{flag} {value}" for flag, value in asked.items() if value is not None)
    return Inspection(path, verdict, context, Ladder(actors, rows), signaling, shown, note, filters)


def _actors(rows: list[LadderRow], context: WireContext | None) -> list[str]:
    seen: list[str] = []
    for row in sorted(rows, key=lambda r: r.time):
        for actor in (row.src, row.dst):
            if actor not in seen:
                seen.append(actor)
    peers = [p.name for p in context.peers] if context else []
    ordered = [a for a in peers[:1] if a in seen]
    ordered += [a for a in ("signaling", "STUN") if a in seen]
    ordered += [a for a in seen if a not in ordered]
    return ordered


_fmt = format_hostport


_DTLS_MESSAGES = {
    1: "ClientHello",
    2: "ServerHello",
    11: "Certificate",
    12: "ServerKeyExchange",
    13: "CertificateRequest",
    14: "ServerHelloDone",
    15: "CertificateVerify",
    16: "ClientKeyExchange",
}


def _names(inspection: Inspection) -> dict[Address, str]:
    """Transport address -> actor name, where the sidecar says whose it is."""
    context = inspection.context
    if context is None:
        return {}
    names = {address: peer.name for peer in context.peers for address in peer.addresses}
    names.update({address: "STUN" for address in context.stun_servers})
    return names


def _party(address: Address, names: dict[Address, str]) -> str:
    """``alice 127.0.0.1:5000`` where the actor is known, else the address."""
    return f"{names[address]} {_fmt(address)}" if address in names else _fmt(address)


def no_match(inspection: Inspection) -> str | None:
    """What to say when a filter left nothing to show (None when something is shown, or nothing was filtered)."""
    if not inspection.filters or inspection.shown:
        return None
    ids = sorted({r.message.transaction_id.hex()[:8] for r in inspection.verdict.records if r.message})
    some = f"; transaction ids there begin {', '.join(ids[:6])}{' ...' if len(ids) > 6 else ''}" if ids else ""
    return f"no STUN message of {inspection.path.name} matches {inspection.filters} ({len(inspection.verdict.records)} in the file{some})"


def _sections(inspection: Inspection) -> list[tuple[str, list[str]]]:
    """What the report says after its table, as titled groups of lines: the text and the HTML page
    show the same."""
    verdict = inspection.verdict
    sections: list[tuple[str, list[str]]] = []
    numbers = {r.number for r in inspection.shown}
    exchanges = []
    for exchange in verdict.exchanges:
        if exchange.request.number not in numbers:
            continue
        sent = ",".join(str(t.number) for t in exchange.transmissions)
        if exchange.response is None:
            exchanges.append(f"#{sent} -> no response")
        else:
            rtt = exchange.rtt or 0.0
            exchanges.append(
                f"#{sent} -> #{exchange.response.number}  {rtt * 1000:.2f} ms  {exchange.response.summary()}"
            )
    sections.append(("exchanges (request -> response, round-trip time)", exchanges))
    if verdict.dtls:
        names = _names(inspection)
        sections.append((
            "DTLS handshakes (in clear until ChangeCipherSpec)",
            [f"{_party(flow.source, names)}: {', '.join(_DTLS_MESSAGES.get(m, str(m)) for m in flow.messages)}; "
             f"certificate sha-256 {flow.fingerprint()}" for flow in verdict.dtls],
        ))  # fmt: skip
    if verdict.streams:
        rtp_findings = [f for f in verdict.findings if f.rule.split(".")[0] in ("rtp", "rtcp", "rtx")]
        sections.append((
            "RTP streams (headers in clear, payloads SRTP) and RTCP (each compound's first header)",
            [stream.describe() for stream in verdict.streams]
            + [feedback.describe() for feedback in verdict.feedback.values()]
            + [f"! {f}" for f in rtp_findings],
        ))  # fmt: skip
    return sections


def _verdict_line(inspection: Inspection) -> str:
    errors = inspection.verdict.errors
    whole = " (of the whole file; the table shows what the filter kept)" if inspection.filters else ""
    return (
        f"verdict{whole}: {'PASS' if not errors else 'FAIL'} — {len(errors)} violation(s), "
        f"{len(inspection.verdict.findings) - len(errors)} note(s)"
    )


def _headline(inspection: Inspection) -> str:
    verdict = inspection.verdict
    shown = f", {len(inspection.shown)} shown ({inspection.filters})" if inspection.filters else ""
    others = ", ".join(f"{k} {n}" for k, n in sorted(verdict.kinds.items()) if k != "stun") or "none"
    return f"{len(verdict.records)} STUN messages judged{shown}; {verdict.skipped} other datagrams ({others})"


def render_text(inspection: Inspection) -> str:
    verdict = inspection.verdict
    start = min((r.datagram.time for r in verdict.records), default=0.0)
    lines = [f"{inspection.path}: {_headline(inspection)}"]
    if inspection.note:
        lines.append(f"({inspection.note})")
    if inspection.context is None:
        lines.append("(no sidecar: actors are addresses; ICE integrity cannot be checked without the SDP passwords)")
    lines.append(f"{'#':>5} {'time ms':>9}  {'source':<22} {'destination':<22} {'transaction':<24} message")
    for record in inspection.shown:
        d = record.datagram
        tid = record.message.transaction_id.hex() if record.message else "-"
        mark = "ok " if record.valid else "BAD"
        lines.append(
            f"{d.number:>5} {(d.time - start) * 1000:9.1f}  {_fmt(d.src):<22} {_fmt(d.dst):<22} "
            f"{tid:<24} {mark} {record.summary()}"
        )
        for finding in record.findings:
            lines.append(
                f"{'':>40}{'!' if finding.failed else '~'} {finding.rule} ({finding.section}): {finding.detail}"
            )
    for title, items in _sections(inspection):
        lines += ["", f"{title}:", *(f"  {item}" for item in items)]
    lines += ["", _verdict_line(inspection), "", inspection.ladder.text()]
    return "\n".join(lines)


def render_json(inspection: Inspection) -> str:
    data = inspection.verdict.as_dict()
    numbers = {r.number for r in inspection.shown}
    data["messages"] = [m for m in data["messages"] if m["number"] in numbers]
    data["file"] = str(inspection.path)
    data["ladder"] = inspection.ladder.as_dict()
    data["signaling"] = inspection.signaling
    data["note"] = inspection.note
    data["filters"] = inspection.filters
    return json.dumps(data, indent=1)


def render_svg(ladder: Ladder, column: int = 170, row_height: int = 24) -> str:
    rows = sorted(ladder.rows, key=lambda r: r.time)
    actors = ladder.columns()  # every actor a row mentions gets a column (an SFU, an unnamed address)
    width = column * max(len(actors), 1)
    height = 50 + row_height * (len(rows) + 1)
    x = {actor: column * i + column // 2 for i, actor in enumerate(actors)}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 70}" height="{height}" '
        f'font-family="monospace" font-size="11">',
        '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="3" orient="auto">'
        '<path d="M0,0 L7,3 L0,6 z"/></marker></defs>',
    ]
    for actor, cx in x.items():
        out.append(f'<text x="{cx + 60}" y="20" text-anchor="middle" font-weight="bold">{html.escape(actor)}</text>')
        out.append(f'<line x1="{cx + 60}" y1="28" x2="{cx + 60}" y2="{height - 5}" stroke="#999"/>')
    start = rows[0].time if rows else 0.0
    for i, row in enumerate(rows):
        y = 50 + i * row_height
        out.append(f'<text x="2" y="{y + 4}" fill="#666">{(row.time - start) * 1000:.1f}</text>')
        a, b = x[row.src] + 60, x[row.dst] + 60
        label = html.escape(row.label)
        colour = "#b00" if row.label.endswith(" !") else "#000"
        if a == b:
            out.append(f'<text x="{a + 4}" y="{y + 4}" fill="#06c">[{label}]</text>')
        else:
            out.append(f'<line x1="{a}" y1="{y}" x2="{b}" y2="{y}" stroke="{colour}" marker-end="url(#arrow)"/>')
            out.append(f'<text x="{(a + b) // 2}" y="{y - 4}" text-anchor="middle" fill="{colour}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out)


def render_html(inspection: Inspection) -> str:
    """The same report as the text, as a page: the verdict, the ladder, every STUN message with its
    actor, time (ms from the first) and findings, then the text's sections."""
    verdict = inspection.verdict
    names = _names(inspection)
    start = min((r.datagram.time for r in verdict.records), default=0.0)
    rows = []
    for record in inspection.shown:
        d = record.datagram
        tid = record.message.transaction_id.hex() if record.message else "-"
        findings = "<br>".join(html.escape(f"{f.rule} ({f.section}): {f.detail}") for f in record.findings)
        rows.append(
            f"<tr class={'ok' if record.valid else 'bad'}><td>{d.number}</td><td>{(d.time - start) * 1000:.1f}</td>"
            f"<td>{html.escape(_party(d.src, names))}</td><td>{html.escape(_party(d.dst, names))}</td>"
            f"<td>{tid}</td><td>{html.escape(record.summary())}</td><td>{findings}</td></tr>"
        )
    status = "PASS" if verdict.ok else "FAIL"
    notes = [inspection.note] if inspection.note else []
    if inspection.context is None:
        notes.append("no sidecar: actors are addresses; ICE integrity cannot be checked without the SDP passwords")
    sections = "".join(
        f"<h2>{html.escape(title)}</h2><ul>{''.join(f'<li>{html.escape(item)}</li>' for item in items)}</ul>"
        for title, items in _sections(inspection)
    )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(str(inspection.path))} — pytest-webrtc</title>
<style>body{{font-family:sans-serif;margin:1em}} table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-family:monospace}} tr.bad{{background:#fdd}}
li{{font-family:monospace;font-size:12px}}</style></head>
<body><h1>{html.escape(inspection.path.name)}</h1>
<p>{html.escape(_headline(inspection))}</p>
<p>Verdict: <b>{status}</b> — {html.escape(_verdict_line(inspection).split(": ", 1)[1])}</p>
{"".join(f"<p>({html.escape(n)})</p>" for n in notes)}
<h2>Ladder (time in ms from the first event)</h2>
{render_svg(inspection.ladder)}
<h2>STUN messages</h2>
<table><tr><th>#</th><th>time (ms)</th><th>source</th><th>destination</th><th>transaction</th><th>message</th><th>findings</th></tr>
{"".join(rows)}
</table>
{sections}
</body></html>
"""
