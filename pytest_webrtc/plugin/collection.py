"""Scenario files as pytest items.

Naming rule: a ``.yaml``/``.yml`` file is a scenario when it has a top-level
``scenario:`` key; other YAML files are left alone.  Each file is one item,
named after the file (``p2p_datachannel``), carrying the scenario's ``marks``.
``--webrtc-scenario PATH`` (file or directory, repeatable) runs exactly those.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import ScenarioError, StepFailure
from ..scenario.files import is_scenario_file
from .basetemp import basetemp as _basetemp

if TYPE_CHECKING:
    from ..scenario import RunResult, Scenario

SECTION = "webrtc scenario"
LADDER_SECTION = "webrtc ladder"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in (".yaml", ".yml") and is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path, nodeid=_outside_nodeid(file_path, parent.config))
    from .matrix import MatrixFile, is_matrix_file

    if is_matrix_file(file_path):  # interop-matrix: one item per ordered pair of stacks and case
        return MatrixFile.from_parent(parent, path=file_path)
    return None


def _suites_root() -> Path:
    return Path(__file__).resolve().parent.parent / "suites"


def _outside_nodeid(path: Path, config: pytest.Config) -> str | None:
    """A test id that names the file when pytest's would not: a file outside the rootdir given
    directly gets the id ``::name`` (a shipped suite run from an installed package, say). A shipped
    scenario is ``suites/RELATIVE``, any other such file its name."""
    try:
        path.relative_to(config.rootpath)
        return None  # pytest's own id, relative to the rootdir
    except ValueError:
        pass
    try:
        return f"suites/{path.resolve().relative_to(_suites_root()).as_posix()}"
    except ValueError:
        return path.name


def scenario_paths(config: pytest.Config, given: list[str]) -> list[str]:
    """Expand ``--webrtc-scenario`` values into scenario files; refuse what is not one."""
    out: list[str] = []
    for value in given:
        path = Path(value)
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and is_scenario_file(p))
            if not found:
                raise pytest.UsageError(f"--webrtc-scenario {value}: no scenario files in this directory")
            out += found
        elif path.is_file():
            if not is_scenario_file(path):
                raise pytest.UsageError(
                    f"--webrtc-scenario {value}: not a scenario (a .yaml/.yml file with a top-level 'scenario:' key)"
                )
            out.append(str(path))
        else:
            shipped = Path(*path.parts[1:]) if path.parts[:1] == ("scenarios",) else None
            hint = ""
            if shipped is not None and (_suites_root() / shipped).exists():  # the docs' path, outside a checkout
                hint = f"; scenarios/ is a checkout's folder: the installed package runs it as --webrtc-suite {shipped}"
            raise pytest.UsageError(f"--webrtc-scenario {value}: no such file or directory{hint}")
    return out


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from ..scenario import load_scenario

        try:
            shown = self.path.relative_to(self.config.rootpath)
        except ValueError:
            shown = self.path
        scenario = load_scenario(
            shown if not shown.is_absolute() and (self.config.rootpath / shown) == self.path else self.path,
            self.path.read_text(encoding="utf-8"),
            self.path.parent,
        )
        item = ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)
        for mark in scenario.marks:
            # A scenario's marks are declared by the file itself: register them, so that
            # --strict-markers and filterwarnings=error accept them.
            self.config.addinivalue_line("markers", f"{mark}: used by scenario files")
            item.add_marker(mark)
        yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        if isinstance(excinfo.value, ScenarioError):
            return f"invalid scenario: {excinfo.value}"
        return super().repr_failure(excinfo)


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.run: RunResult | None = None

    def runtest(self) -> None:
        from ..scenario import RunResult, run_scenario

        if self.scenario.topology or self.scenario.sealed:
            from ..nat.netns import cannot_build_namespaces

            reason = cannot_build_namespaces()
            if reason is not None:
                where = "behind NATs" if self.scenario.topology else "in sealed namespaces (sealed: true)"
                pytest.skip(f"this scenario puts peers {where}: {reason}")
        stashed = self.config.stash.get(OVERRIDES_KEY, None)
        overrides: dict[str, Any] = {**stashed} if stashed else {}
        if not overrides.get("capture_dir"):
            overrides["capture_dir"] = _basetemp(self.config) / "webrtc-captures"
        overrides["name"] = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.nodeid).strip("_")
        try:
            self.run = asyncio.run(run_scenario(self.scenario, overrides))
        except StepFailure as failure:
            self.run = failure.result if isinstance(failure.result, RunResult) else None
            self._record_properties(self.run)
            self._known_defect(self.run)
            raise
        self._record_properties(self.run)
        judged = self.run.conformance
        if judged and all(finding.outcome == "skip" for finding in judged):
            # A conformance rule that could not be judged here is not a pass: say so, and why.
            pytest.skip("; ".join(f"{f.rule}: {f.detail}" for f in judged))

    def _known_defect(self, run: RunResult | None) -> None:
        """A rule the built-in server truly breaks (docs/ci.md) is an expected failure, said with why."""
        if run is None or not run.known_defects or not run.wire_ok_or_absent:
            return
        failed = [f for f in run.conformance if f.failed]
        if failed and all(f.rule in run.known_defects for f in failed):
            pytest.xfail("; ".join(f"the built-in server truly breaks {f.rule}: {run.known_defects[f.rule]} "
                                   f"(found: {f.detail})" for f in failed))  # fmt: skip

    def _record_properties(self, run: RunResult | None) -> None:
        # user_properties reach every report of the item (with pytest-xdist too) and JUnit XML <property>.
        if run is None:
            return
        for result in run.conformance:
            self.user_properties.append((result.rule, f"{result.outcome}: {result.section}: {result.detail}"))
        if run.stun_profile is not None:
            self.user_properties.append(("webrtc.stun-profile", run.stun_profile))
        if run.turn_claims is not None:
            self.user_properties.append(("webrtc.turn-claims", run.turn_claims))
        for peer, directions in run.links.items():  # what each link element did, per direction
            for direction, numbers in directions.items():
                self.user_properties.append((f"webrtc.link.{peer}.{direction}", ", ".join(
                    f"{key} {value}" for key, value in numbers.items())))  # fmt: skip
        for actor, report in run.actors.items():
            if report.get("kind") != "sfu":
                continue
            sessions = {**report.get("departed", {}), **report.get("sessions", {})}
            for peer, numbers in sorted(sessions.items()):  # per-peer bandwidth through the SFU
                self.user_properties.append(
                    (f"{actor}.{peer}", f"in {numbers['kbps-in']} kbit/s, out {numbers['kbps-out']} kbit/s")
                )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioError):
            if self.run is None:
                return str(excinfo.value)
            return f"{excinfo.value}\n\n{self.run.text()}\n\nladder:\n{self.run.ladder_text()}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.scenario.title}"


OVERRIDES_KEY = pytest.StashKey[dict[str, Any]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    if isinstance(item, ScenarioItem) and call.when == "call" and item.run is not None:
        report = outcome.get_result()
        if report.passed:  # a failure shows the same in its own report (repr_failure): once is enough
            report.sections.append((SECTION, item.run.text()))
            report.sections.append((LADDER_SECTION, item.run.ladder_text()))
        # Structured, for the run summary: plain data, so it survives pytest-xdist's serialisation.
        report.webrtc_conformance = [finding.as_dict() for finding in item.run.conformance]
        report.webrtc_stun_profile = item.run.stun_profile
        _attach_html(item, report)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    _conformance_summary(terminalreporter)
    _scenario_steps(terminalreporter, config)


def _conformance_summary(terminalreporter: Any) -> None:
    """One line per conformance rule checked in this run: outcome, rule, RFC section."""
    rows, profiles = [], set()
    for outcome in ("passed", "failed", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call":
                continue
            for finding in getattr(report, "webrtc_conformance", []):
                rows.append((finding["rule"], finding["outcome"], finding["section"], finding["detail"]))
            if getattr(report, "webrtc_stun_profile", None):
                profiles.add(report.webrtc_stun_profile)
    if not rows:
        return
    judged = f" (STUN rules judged by the {', '.join(sorted(profiles))} profile)" if profiles else ""
    terminalreporter.write_sep("=", f"WebRTC conformance{judged}")
    for rule, verdict, section, detail in sorted(rows):
        terminalreporter.write_line(f"{verdict.upper():4}  {rule:28} {section:20} {detail[:90]}")
    counts = {v: sum(1 for r in rows if r[1] == v) for v in ("pass", "fail", "warn", "info", "skip")}
    terminalreporter.write_line(", ".join(f"{n} {v}" for v, n in counts.items() if n))


def _scenario_steps(terminalreporter: Any, config: pytest.Config) -> None:
    """Show each passed scenario's steps when asked for (-v or --webrtc-scenario)."""
    if not (config.getoption("verbose") > 0 or config.getoption("webrtc_scenario") or config.getoption("webrtc_suite")):
        return
    passed = terminalreporter.stats.get("passed", [])
    shown = (SECTION, LADDER_SECTION) if config.getoption("verbose") >= 2 else (SECTION,)
    texts = [(name, text) for report in passed for name, text in report.sections if name in shown]
    if texts:
        terminalreporter.write_sep("=", "WebRTC scenarios")
        for name, text in texts:
            terminalreporter.write_line(f"ladder:\n{text}" if name == LADDER_SECTION else text)


def _attach_html(item: ScenarioItem, report: Any) -> None:
    """With pytest-html installed, put the ladder (SVG) of a scenario into the HTML report."""
    if not item.config.pluginmanager.hasplugin("html") or item.run is None or item.run.ladder is None:
        return
    try:
        from pytest_html import extras
    except ImportError:
        return
    from ..inspect import render_svg

    added = [extras.html(render_svg(item.run.ladder))]
    if item.run.pcap is not None:  # the kept capture, for Wireshark or python -m pytest_webrtc inspect
        added.append(extras.url(item.run.pcap.as_uri(), name=f"capture {item.run.pcap.name}"))
    report.extras = [*getattr(report, "extras", []), *added]
