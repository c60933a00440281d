"""Run a scenario: build its world, execute the steps in order, judge the wire, tear it all down.

``await run_scenario(scenario)`` returns a :class:`~.results.RunResult` with one line per step;
a failing step raises :class:`~pytest_webrtc.errors.StepFailure` carrying the file, line, what
was expected and what happened, with the result so far as ``.result``.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import PeerError, ScenarioError, SignalingError, StepFailure, WebRTCHarnessError
from ..ladder import build_ladder
from ..peer.external import ExternalPeer
from ..peer.report import PeerReport
from .context import RunContext, World
from .model import Scenario, Step
from .results import RunResult, StepResult
from .steps import STEPS
from .world import RunOptions, build_world, close_world, containment_notes, seal

__all__ = ["RunOptions", "run_scenario"]


async def _run_step(ctx: RunContext, step: Step) -> StepResult:
    started = time.perf_counter()
    function = STEPS[step.kind].run
    try:
        # Peers apply their own timeouts; this outer bound catches anything that would hang.
        summary = await asyncio.wait_for(function(ctx, step), step.timeout * 2 + 5)
        failure = None
    except (PeerError, SignalingError, WebRTCHarnessError) as exc:
        failure = str(exc)
    except asyncio.TimeoutError:
        failure = f"did not finish within {step.timeout * 2 + 5:g} s"
    except Exception as exc:  # e.g. aiortc refusing an operation: a step failure, not a crash
        failure = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    if step.expect_failure:
        if failure is None:
            return StepResult(step, False, "expected this step to fail, but it passed: " + summary, seconds)
        pattern = step.expect_failure if isinstance(step.expect_failure, str) else ""
        if pattern and not re.search(pattern, failure):
            return StepResult(step, False, f"failed, but not as expected (/{pattern}/): {failure}", seconds)
        return StepResult(step, True, f"failed as expected: {failure}", seconds)
    if failure is not None:
        return StepResult(step, False, failure, seconds)
    return StepResult(step, True, summary, seconds)


async def _wire_verdict(ctx: RunContext, result: RunResult) -> str | None:
    """Judge the capture at the end; returns a failure text if the wire broke a rule."""
    recorder = ctx.world.wire
    if recorder is None:
        return None
    if recorder.capture is None:
        result.wire_note = f"wire: not verified ({recorder.unavailable})"
        return None
    verdict = await recorder.judge(ctx.wire_scope(result.reports))
    result.wire = verdict
    valid = sum(r.valid for r in verdict.records)
    result.wire_note = (
        f"wire: {len(verdict.records)} STUN messages, {valid} valid, {len(verdict.errors)} violation(s); "
        f"packets by kind: {', '.join(f'{k} {n}' for k, n in sorted(verdict.kinds.items()))}"
    )
    if verdict.errors:
        return f"wire verification: {len(verdict.errors)} violation(s), first: {verdict.errors[0]}"
    return None


def _ladder(ctx: RunContext, reports: dict[str, PeerReport]) -> Any:
    world = ctx.world
    recorder = world.wire
    verdict = recorder.verdict if recorder is not None else None
    return build_ladder(
        list(ctx.scenario.peers),
        reports,
        relayed=world.signaling_server.relayed if world.signaling_server is not None else (),
        verdict=verdict,
        wire=recorder.context(ctx.wire_scope(reports)) if recorder is not None and verdict is not None else None,
        stun_transactions=world.stun_server.transactions if world.stun_server is not None else (),
        has_stun=world.stun_server is not None or world.stun_address is not None,
    )


def _keep_capture(ctx: RunContext, result: RunResult, options: RunOptions, failed: bool) -> None:
    """The pcap (and its sidecar), and each program's whole output beside it: ``NAME.PEER.log``."""
    recorder = ctx.world.wire
    keep = options.keep
    if keep == "never" or (keep == "failed" and not failed):
        return
    directory = options.capture_dir or Path(tempfile.gettempdir()) / "pytest-webrtc-captures"
    name = options.name or ctx.scenario.name
    for peer, output in result.outputs.items():
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.{peer}.log"
        path.write_text(output, encoding="utf-8")
        result.output_files[peer] = path
    if recorder is not None and recorder.frames:
        result.pcap = recorder.save(directory / f"{name}.pcap", ctx.wire_scope(result.reports))


def _laps(phases: dict[str, float]) -> Any:
    """``lap(name)``: the seconds since the previous lap (or the start) go to ``phases[name]``."""
    last = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        phases[name] = phases.get(name, 0.0) + now - last[0]
        last[0] = now

    return lap


async def run_scenario(scenario: Scenario, options: RunOptions | dict[str, Any] | None = None) -> RunResult:
    """Run every step; raise StepFailure at the first failing one (after cleaning up)."""
    options = RunOptions.from_mapping(options) if isinstance(options, dict) else options or RunOptions()
    scenario, sealing = seal(scenario, options)
    ctx = RunContext(World(scenario))
    result = RunResult(scenario)
    started = time.perf_counter()
    failed: StepResult | None = None
    setup_error: ScenarioError | None = None
    wire_failure: str | None = None
    lap = _laps(result.phases)
    try:
        try:
            await build_world(ctx.world, options)
        except ScenarioError as exc:
            setup_error = exc
        else:
            lap("world")
            for actor in ctx.world.actors:  # server actors joined the room as they started
                ctx.joined.setdefault(scenario.room, []).append(actor)
            deadline = started + scenario.timeout
            for step in scenario.steps:
                if time.perf_counter() > deadline:
                    failed = StepResult(step, False, f"scenario timeout of {scenario.timeout:g} s reached", 0.0)
                else:
                    failed = await _run_step(ctx, step)
                result.steps.append(failed)
                if not failed.ok:
                    break
                failed = None
            lap("steps")
        result.reports = await ctx.reports()
        result.actors = {name: actor.report() for name, actor in ctx.world.actors.items()}
        if ctx.world.topology is not None:
            result.links = {name: site.link.report() for name, site in ctx.world.topology.sites.items() if site.link}
        result.conformance = list(ctx.conformance)
        result.calls = list(ctx.calls)
        result.notes = sealing + containment_notes(scenario)
        if ctx.world.stun_target is not None and any(f.rule.startswith("stun.") for f in result.conformance):
            result.stun_profile = ctx.world.stun_target.profile
        if ctx.world.turn_target is not None and any(f.rule.startswith("turn.") for f in result.conformance):
            result.turn_claims = ", ".join(ctx.world.turn_target.claims()) or "none"
        if ctx.world.turn_server is not None:
            result.known_defects = dict(ctx.world.turn_server.defects)
        lap("reports")
        wire_failure = await _wire_verdict(ctx, result)
        lap("verdict")
    finally:
        for task in ctx.background:  # an outage still running ends (its link is restored) before teardown
            task.cancel()
        await asyncio.gather(*ctx.background, return_exceptions=True)
        result.ladder = _ladder(ctx, result.reports)
        lap("ladder")
        await close_world(ctx.world, ctx.closed)
        result.outputs = {
            name: peer.transcript for name, peer in ctx.world.peers.items() if isinstance(peer, ExternalPeer)
        }
        lap("teardown")
        _keep_capture(ctx, result, options, failed is not None or wire_failure is not None or setup_error is not None)
        lap("pcap")
        result.seconds = time.perf_counter() - started
    if setup_error is not None:
        result.failure = setup_error.message
        raise StepFailure(setup_error.message, setup_error.path, setup_error.line, setup_error.column, result)
    if failed is not None:
        result.failure = f"{failed.step.label()}: {failed.summary}"
        raise StepFailure(result.failure, scenario.path, failed.step.line, result=result)
    if wire_failure is not None:
        result.failure = wire_failure
        raise StepFailure(wire_failure, scenario.path, 1, result=result)
    return result
