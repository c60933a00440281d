"""The interop matrix: every ordered pair of WebRTC stacks calls, and every cell is judged on the wire.

For each ordered pair (caller × callee, a stack with itself included) one scenario runs: both
programs (:data:`~pytest_webrtc.peer.stacks.STACKS`) in namespaces of their own behind a router
(a topology without NAT), the caller told to call, and the harness's STUN and signaling servers
on the public network between them — the only thing either can reach.  The call covers the cases

- ``connect``: ICE and DTLS up, as the caller reports it;
- ``data``: a text and a 64 KiB binary message on channel ``matrix``, echoed intact;
- ``video``: the caller sends a test video and the callee receives it (``unsupported`` when the
  caller cannot send video: werift has no encoder);

and every cell carries the wire verdict of its run: a violation of an RTP rule counts against
``video``, any other (STUN, ICE, DTLS) against every case.  ``python -m pytest_webrtc interop``
prints the matrix (:func:`render`: text, markdown, html, json); ``pytest scenarios/interop/matrix/``
runs the same as one item per ordered pair and case.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .capture.rtp import RTP_RULES
from .errors import StepFailure
from .peer.stacks import STACKS

__all__ = ["CASES", "Cell", "add_interop_arguments", "pair_scenario", "render", "run_matrix", "run_pair", "splice"]

CASES = ("connect", "data", "video")
FORMATS = ("text", "markdown", "html", "json")


@dataclass
class Cell:
    """One case of one ordered pair, as other projects' CI read it (``--format json``)."""

    caller: str
    callee: str
    case: str
    outcome: str  # "pass", "fail", "unsupported" (the stack cannot do it), "unavailable" (cannot run here)
    violations: int  # wire rules broken in the run that count against this case
    seconds: float  # from the offer to the case's report (connect: the time to connect)
    reason: str  # what happened, in a line: the report, the first violation, why unsupported
    rule: str | None = None  # the first wire rule broken, when one was
    pcap: str | None = None
    ladder: str | None = None
    connect_seconds: float | None = None
    notes: list[str] = field(default_factory=list)  # what the wire could not judge, and why


def pair_scenario(caller: str, callee: str, cases: Sequence[str], contained: bool = True) -> str:
    """The scenario of one ordered pair, as YAML (what ``--keep`` writes beside the pcap)."""
    a, b = f"caller-{caller}", f"callee-{callee}"
    topology = f"topology: {{{a}: none, {b}: none}}\n" if contained else ""
    listed = ", ".join(c for c in cases if c != "connect")
    return (
        f"scenario: 'interop: {caller} calls {callee}'\n"
        f"description: one cell row of the interop matrix (python -m pytest_webrtc interop)\n"
        f"{topology}"
        f"peers:\n  {a}: {{stack: {caller}}}\n  {b}: {{stack: {callee}}}\n"
        f"steps:\n  - call: {{from: {a}, to: {b}, cases: [{listed}], timeout: 30}}\n"
    )


def _unsupported(caller: str, callee: str, case: str) -> str | None:
    if case == "video" and not STACKS[caller].sends_video:
        return f"{caller} cannot send video here (no encoder)"
    return None


async def run_pair(
    caller: str, callee: str, directory: Path, cases: Sequence[str] = CASES, contained: bool | None = None
) -> list[Cell]:
    """Run one ordered pair; one cell per case, each with the run's pcap and ladder in ``directory``."""
    from .nat.netns import cannot_build_namespaces
    from .scenario import load_scenario, run_scenario

    if contained is None:
        contained = cannot_build_namespaces() is None
    name = f"{caller}-calls-{callee}"
    unsupported = {case: why for case in cases if (why := _unsupported(caller, callee, case))}
    run_cases = [c for c in cases if c not in unsupported]
    missing = STACKS[caller].missing() or STACKS[callee].missing()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(pair_scenario(caller, callee, run_cases, contained), encoding="utf-8")
    started = time.perf_counter()
    failure = ""
    result: Any = None
    if missing is None:
        try:
            result = await run_scenario(load_scenario(path), {"keep": "always", "capture_dir": directory, "name": name})
        except StepFailure as exc:
            result, failure = exc.result, exc.message
    seconds = time.perf_counter() - started
    ladder = None
    if result is not None and result.ladder is not None:
        ladder_path = directory / f"{name}.ladder.txt"
        ladder_path.write_text(result.ladder.text() + "\n", encoding="utf-8")
        ladder = str(ladder_path)
    pcap = str(result.pcap) if result is not None and result.pcap else None
    errors = list(result.wire.errors) if result is not None and result.wire is not None else []
    reports = result.calls[0]["cases"] if result is not None and result.calls else {}
    connect = _since(reports.get("connect"))
    notes = _notes(result)
    cells = []
    for case in cases:
        if case in unsupported:
            cells.append(Cell(caller, callee, case, "unsupported", 0, 0.0, unsupported[case]))
            continue
        counted = [f for f in errors if case == "video" or f.rule not in RTP_RULES]  # media rules: video's only
        report = reports.get(case)
        if missing is not None:  # not a verdict on either stack: counted apart, the exit status unaffected
            outcome, reason = "unavailable", f"cannot run here: {missing}"
        elif counted:  # the wire names the cause, whatever the program reported
            said = f" (reported: {report.get('detail', '')})" if report is not None and not report.get("ok") else ""
            outcome, reason = "fail", f"{counted[0].rule}: {counted[0].detail}{said}"
        elif report is None:
            outcome, reason = "fail", failure or "no report"
        elif not report.get("ok"):
            outcome, reason = "fail", str(report.get("detail", ""))
        else:
            outcome, reason = "pass", str(report.get("detail", ""))
        cells.append(
            Cell(
                caller,
                callee,
                case,
                outcome,
                len(counted),
                round(_since(report) or seconds, 3),
                reason[:500],
                counted[0].rule if counted else None,
                pcap,
                ladder,
                connect,
                notes,
            )
        )
    return cells


def _notes(result: Any) -> list[str]:
    """What the wire verdict could not judge in this run."""
    from .capture.dtls import SERVER_HELLO

    flows = result.wire.dtls if result is not None and result.wire is not None else []
    if any(SERVER_HELLO in f.messages for f in flows) and any(f.certificate is None for f in flows):
        return ["DTLS 1.3: the certificates travel encrypted, so dtls.fingerprint is not judged on the wire"]
    return []


def _since(report: dict[str, Any] | None) -> float | None:
    return None if report is None or "since_offer" not in report else float(report["since_offer"])


async def run_matrix(
    stacks: Sequence[str], directory: Path, progress: Callable[[list[Cell]], None] | None = None
) -> list[Cell]:
    """Every ordered pair of ``stacks``, one after the other (two browsers at once would compete)."""
    cells: list[Cell] = []
    for caller in stacks:
        for callee in stacks:
            row = await run_pair(caller, callee, directory)
            cells += row
            if progress is not None:
                progress(row)
    return cells


# -- rendering ---------------------------------------------------------------------------

_MARK = {"pass": "pass", "fail": "FAIL", "unsupported": "n/a", "unavailable": "unavailable"}


def _grid(cells: Sequence[Cell]) -> tuple[list[str], list[str], dict[tuple[str, str], list[Cell]]]:
    callers = list(dict.fromkeys(c.caller for c in cells))
    callees = list(dict.fromkeys(c.callee for c in cells))
    by_pair: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        by_pair.setdefault((cell.caller, cell.callee), []).append(cell)
    return callers, callees, by_pair


def _summary(row: Iterable[Cell]) -> str:
    return " ".join(f"{c.case}:{_MARK[c.outcome]}" for c in row)


def _connect_time(pair: Iterable[Cell]) -> float | None:
    """The pair's time to connect, when it connected."""
    return next((c.seconds for c in pair if c.case == "connect" and c.outcome == "pass"), None)


def _failures(cells: Sequence[Cell]) -> list[str]:
    """A line per failing cell, then per pair that could not run here (with why)."""
    failing = [f"{c.caller} -> {c.callee} {c.case}: {c.reason}" for c in cells if c.outcome == "fail"]
    unavailable = {(c.caller, c.callee): c.reason for c in cells if c.outcome == "unavailable"}
    return failing + [f"{a} -> {b}: {why}" for (a, b), why in unavailable.items()]


def _tally(cells: Sequence[Cell]) -> str:
    """``N of M cells pass, F fail`` and, when any could not run here, how many."""
    count = Counter(c.outcome for c in cells)
    text = f"{count['pass']} of {len(cells)} cells pass, {count['fail']} fail"
    if count["unavailable"]:
        text += f", {count['unavailable']} unavailable (a stack cannot run on this machine; not counted as failures)"
    return text


def render(cells: Sequence[Cell], fmt: str = "text", base: Path | None = None) -> str:
    """The matrix as text, markdown, html or json; an HTML page links each pair's pcap and ladder
    relative to ``base`` (the page's directory)."""
    if fmt == "json":
        return json.dumps([asdict(c) for c in cells], indent=1)
    callers, callees, by_pair = _grid(cells)
    if fmt == "html":
        return _html(callers, callees, by_pair, cells, base)
    if fmt == "markdown":
        lines = ["| caller \\ callee | " + " | ".join(callees) + " |", "|---" * (len(callees) + 1) + "|"]
        for caller in callers:
            row = []
            for callee in callees:
                pair = by_pair.get((caller, callee), [])
                connect = _connect_time(pair)
                note = " †" if any(c.notes for c in pair) else ""
                row.append(_summary(pair).replace(" ", "<br>") + (f"<br>{connect:.2f} s" if connect else "") + note)
            lines.append(f"| **{caller}** | " + " | ".join(row) + " |")
        failing = _failures(cells)
        notes = sorted({n for c in cells for n in c.notes})
        tail = [""] + [f"- {f}" for f in failing] if failing else []
        tail += [""] + [f"† {n}" for n in notes] if notes else []
        return "\n".join(lines + tail) + "\n"
    width = max([len(_summary(p)) for p in by_pair.values()] + [len(c) for c in callees]) + 2
    lines = ["caller \\ callee".ljust(16) + "".join(c.ljust(width) for c in callees)]
    for caller in callers:
        lines.append(caller.ljust(16) + "".join(_summary(by_pair.get((caller, c), [])).ljust(width) for c in callees))
    lines.append(_tally(cells))
    notes = sorted({n for c in cells for n in c.notes})
    return "\n".join(lines + _failures(cells) + [f"† {n}" for n in notes]) + "\n"


_COLOURS = {"pass": "#c8f0c8", "fail": "#f6c2c2", "unsupported": "#e4e4e4", "unavailable": "#f4ecc8"}


def _html(
    callers: list[str],
    callees: list[str],
    by_pair: dict[tuple[str, str], list[Cell]],
    cells: Sequence[Cell],
    base: Path | None = None,
) -> str:
    """A page that shows everything the text does (reasons and footnotes written out, not in
    tooltips: a screenshot or a CI artifact keeps them)."""

    def link(path: str | None, text: str) -> str:
        if not path:
            return ""
        href = os.path.relpath(path, base) if base is not None else Path(path).name
        return f'<a href="{html.escape(href)}">{text}</a>'

    notes = sorted({n for c in cells for n in c.notes})

    rows = []
    for caller in callers:
        tds = []
        for callee in callees:
            pair = by_pair.get((caller, callee), [])
            parts = [
                f'<div class="case" style="background:{_COLOURS[c.outcome]}">'
                f"{c.case}: <b>{_MARK[c.outcome]}</b>"
                + (f" ({c.violations} violation{'s' if c.violations != 1 else ''})" if c.violations else "")
                + (f"<div class='why'>{html.escape(c.reason[:160])}</div>" if c.outcome != "pass" else "")
                + "</div>"
                for c in pair
            ]
            pcap, ladder = (pair[0].pcap, pair[0].ladder) if pair else (None, None)
            extra = " ".join(x for x in (link(pcap, "pcap"), link(ladder, "ladder")) if x)
            connect = _connect_time(pair)
            timing = f"{connect:.2f} s to connect" if connect is not None else ""
            marks = sorted({notes.index(n) + 1 for c in pair for n in c.notes})
            timing += "".join(f" <sup>†{m}</sup>" for m in marks)

            tds.append(f"<td>{''.join(parts)}<div class='meta'>{timing} {extra}</div></td>")
        rows.append(f"<tr><th>{html.escape(caller)}</th>{''.join(tds)}</tr>")
    failing = "".join(f"<li>{html.escape(f)}</li>" for f in _failures(cells))
    footnotes = "".join(f"<p class='meta'>†{i} {html.escape(n)}</p>" for i, n in enumerate(notes, 1))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>pytest-webrtc interop matrix</title><style>"
        "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "td,th{border:1px solid #888;padding:4px;vertical-align:top}.case{padding:2px 4px;margin:1px 0}"
        ".meta{font-size:80%;color:#444}.why{font-size:80%;max-width:22em}</style></head><body>"
        f"<h1>Interop matrix</h1><p>{html.escape(_tally(cells))}. Rows call, columns answer.</p>"
        "<table><tr><th>caller \\ callee</th>"
        + "".join(f"<th>{html.escape(c)}</th>" for c in callees)
        + "</tr>"
        + "".join(rows)
        + f"</table>{footnotes}{'<h2>Failing cells</h2><ul>' + failing + '</ul>' if failing else ''}</body></html>\n"
    )


# -- python -m pytest_webrtc interop --------------------------------------------------------


BEGIN, END = "<!-- matrix:begin -->", "<!-- matrix:end -->"


def splice(document: str, table: str) -> str:
    """``document`` with ``table`` between its matrix markers (what ``--into`` writes)."""
    if BEGIN not in document or END not in document.split(BEGIN, 1)[1]:
        raise ValueError(f"no {BEGIN} ... {END} lines to write the matrix between")
    head, rest = document.split(BEGIN, 1)
    return f"{head}{BEGIN}\n{table.rstrip()}\n{END}{rest.split(END, 1)[1]}"


def _stacks(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in STACKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown stack(s) {unknown}; known: {', '.join(STACKS)}")
    return names


def add_interop_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stacks", type=_stacks, default=list(STACKS), help=f"comma-separated (default: {','.join(STACKS)})"
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="how to print the matrix (default: text)")
    parser.add_argument(
        "-o", "--output", help="write the matrix to this file (pcaps and ladders go to the folder FILE-captures)"
    )
    parser.add_argument(
        "--captures", help="where the pcaps, ladders and scenarios go (default: FILE-captures beside -o, or a temp dir)"
    )
    parser.add_argument(
        "--into", help="write the markdown table between the <!-- matrix:begin/end --> lines of this file"
    )
    parser.set_defaults(func=_cmd_interop)


def _cmd_interop(args: argparse.Namespace) -> int:
    from .nat.netns import cannot_build_namespaces

    output = Path(args.output) if args.output else None
    directory = Path(args.captures) if args.captures else (
        output.with_name(f"{output.name}-captures") if output else Path(tempfile.mkdtemp(prefix="pytest-webrtc-interop-"))
    )  # fmt: skip
    problem = cannot_build_namespaces()
    if problem:
        print(f"interop: containment is OFF ({problem}): the stacks run on this machine's loopback", file=sys.stderr)
    started = time.perf_counter()

    def progress(row: list[Cell]) -> None:
        print(f"interop: {row[0].caller} -> {row[0].callee}: {_summary(row)}", file=sys.stderr, flush=True)

    cells = asyncio.run(run_matrix(args.stacks, directory, progress))
    text = render(cells, args.format, output.resolve().parent if output is not None else directory.resolve())
    print(
        f"interop: {len(cells)} cells in {time.perf_counter() - started:.1f} s; captures in {directory}",
        file=sys.stderr,
    )
    if args.into:
        target = Path(args.into)
        target.write_text(splice(target.read_text(encoding="utf-8"), render(cells, "markdown")), encoding="utf-8")
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 1 if any(c.outcome == "fail" for c in cells) else 0  # unavailable cells are no verdict
