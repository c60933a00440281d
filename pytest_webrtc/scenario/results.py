"""What a scenario run produced, kept structured until it is printed.

:class:`RunResult` holds the step results, the peers' and server actors' reports, the wire
verdict, the ladder and the conformance findings; ``text()`` renders it for a terminal, and the
plugin reads the structured fields (``conformance``, ``actors``) for JUnit properties and the run
summary — nothing parses this text back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..ladder import Ladder
from ..peer.report import PeerReport
from ..rules import Finding
from .model import Scenario, Step

if TYPE_CHECKING:
    from ..capture.verify import Verdict

__all__ = ["RunResult", "StepResult", "actor_lines", "program_output"]


@dataclass
class StepResult:
    step: Step
    ok: bool
    summary: str
    seconds: float

    def line(self) -> str:
        mark = "PASS" if self.ok else "FAIL"
        return f"{mark} {self.step.label()}: {self.summary}"


@dataclass
class RunResult:
    scenario: Scenario
    steps: list[StepResult] = field(default_factory=list)
    reports: dict[str, PeerReport] = field(default_factory=dict)
    ladder: Ladder | None = None
    seconds: float = 0.0
    wire: Verdict | None = None
    wire_note: str = ""  # why there is no wire verdict, or what it found
    pcap: Path | None = None
    conformance: list[Finding] = field(default_factory=list)
    actors: dict[str, dict[str, Any]] = field(default_factory=dict)  # server actors (SFU, MCU): their reports
    failure: str | None = None  # what failed: the step's label and summary, or the wire verdict
    stun_profile: str | None = None  # the profile that judged STUN conformance rules, when any ran
    turn_claims: str | None = None  # what was claimed of the TURN server, when a TURN rule ran ("none": nothing)
    phases: dict[str, float] = field(
        default_factory=dict
    )  # seconds: world, steps, reports, verdict, ladder, teardown, pcap
    known_defects: dict[str, str] = field(default_factory=dict)  # rule -> why: true defects of the built-in server
    links: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # peer -> direction -> link counts
    calls: list[dict[str, Any]] = field(default_factory=list)  # call steps: from, to, each case's report
    notes: list[str] = field(default_factory=list)  # what the run says of itself (containment off, ...)
    outputs: dict[str, str] = field(default_factory=dict)  # program (command:, stack) -> what it wrote
    output_files: dict[str, Path] = field(default_factory=dict)  # program -> its whole output, kept beside the pcap

    @property
    def wire_ok_or_absent(self) -> bool:
        return self.wire is None or self.wire.ok

    @property
    def ok(self) -> bool:
        steps_ok = all(r.ok for r in self.steps) and len(self.steps) == len(self.scenario.steps)
        return steps_ok and self.wire_ok_or_absent

    def text(self) -> str:
        lines = [f"{self.scenario.path}: {self.scenario.title}"]
        lines += [f"  {r.line()}" for r in self.steps]
        lines.append(f"  ({len(self.steps)}/{len(self.scenario.steps)} steps in {self.seconds:.2f} s)")
        for name, report in self.actors.items():
            lines += actor_lines(name, report)
        for peer, directions in self.links.items():
            for direction, n in directions.items():
                faults = "".join(f", {count} {what}" for what, count in n.get("faults", {}).items())
                kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(n.get("lost-by-kind", {}).items()))
                faults = (f" ({kinds})" if kinds else "") + faults
                down = f", {n['down']} while down" if n.get("down") else ""
                if "rate-dropped" in n:
                    down += f", {n['rate-dropped']} over the rate cap (tbf passed {n['rate-sent']})"
                lines.append(
                    f"  link {peer} {direction}: {n['packets']} packets, {n['dropped']} dropped{down}{faults}, "
                    f"{n['duplicated']} duplicated, {n['reordered']} reordered, added delay p50 {n['delay-p50-ms']} ms"
                    f" / p99 {n['delay-p99-ms']} ms"
                )
        lines += [f"  {note}" for note in self.notes]
        if self.wire_note:
            lines.append(f"  {self.wire_note}")
        for finding in self.wire.findings if self.wire else []:
            lines.append(f"    {'FAIL' if finding.failed else 'note'} {finding}")
        if self.pcap is not None:
            lines.append(f"  capture: {self.pcap}")
        if self.failure is not None:  # a failure shows what each program said, as it wrote it
            for name, output in self.outputs.items():
                lines += program_output(name, output, self.output_files.get(name))
        return "\n".join(lines)

    def ladder_text(self) -> str:
        return self.ladder.text() if self.ladder is not None else "(no ladder)"


OUTPUT_LINES = 40  # how much of a program's output a failure report shows


def program_output(name: str, output: str, kept: Path | None = None) -> list[str]:
    """A program's last lines of output, each a line of the report (indented, not escaped)."""
    lines = output.splitlines()
    where = f"; all of it: {kept}" if kept is not None else ""
    if not lines:
        return [f"  output of {name} (nothing{where})"]
    shown = lines[-OUTPUT_LINES:]
    cut = f"last {len(shown)} of {len(lines)} lines" if len(lines) > len(shown) else f"{len(lines)} line"
    cut += "s" if len(lines) > 1 else ""
    return [f"  output of {name} ({cut}{where}):", *(f"    | {line}" for line in shown)]


def actor_lines(name: str, report: dict[str, Any]) -> list[str]:
    """Per peer, what a server actor did for it: an SFU's bandwidth, an MCU's mixing."""
    if report.get("kind") == "mcu":
        lines = [f"  {name} (mcu)"]
        for peer, numbers in sorted({**report.get("departed", {}), **report.get("peers", {})}.items()):
            ended = f", left ({numbers['ended']})" if "ended" in numbers else ""
            lines.append(
                f"    {peer}: {numbers['frames-received']} audio frames decoded, {numbers['frames-mixed-for-it']} "
                f"mixed for it from {', '.join(numbers['hears']) or 'nobody'}, "
                f"{numbers['samples-dropped']} samples dropped{ended}"
            )
        return lines + [f"    error: {error}" for error in report.get("errors", [])]
    lines = [f"  {name} ({report.get('kind')}): {report.get('keyframes-relayed', 0)} keyframe request(s) relayed"]
    sessions = {**report.get("departed", {}), **report.get("sessions", {})}
    for peer, numbers in sorted(sessions.items()):
        ended = f", left ({numbers['ended']})" if "ended" in numbers else ""
        lines.append(
            f"    {peer}: in {numbers['kbps-in']} kbit/s ({numbers['bytes-received']} B), "
            f"out {numbers['kbps-out']} kbit/s ({numbers['bytes-forwarded']} B, {numbers['frames-forwarded']} frames "
            f"from {', '.join(numbers['received-from']) or 'nobody'}), {numbers['frames-dropped']} dropped, "
            f"{numbers['renegotiations']} renegotiation(s){ended}"
        )
    lines += [f"    error: {error}" for error in report.get("errors", [])]
    return lines
