"""Run a scenario: start its servers and peers, execute the steps in order, clean everything up.

``await run_scenario(scenario)`` returns a :class:`RunResult` with one line per
step; a failing step raises :class:`StepFailure` carrying the file, line, what
was expected and what happened, with the result so far attached (``.result``).
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..addresses import parse_hostport
from ..conformance.stun import CheckResult, StunTarget
from ..errors import PeerError, SignalingError, StepFailure, WebRTCHarnessError
from ..signaling.server import SignalingServer
from ..stun.auth import ShortTermAuth
from ..stun.server import StunServer
from .ladder import Ladder, build_ladder
from .model import Scenario, Step
from .steps import STEPS, Expectation
from .wire import WireRecorder

if TYPE_CHECKING:
    from ..capture.verify import Verdict

__all__ = ["Context", "RunResult", "StepResult", "run_scenario"]


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
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    ladder: Ladder | None = None
    seconds: float = 0.0
    wire: Verdict | None = None
    wire_note: str = ""  # why there is no wire verdict, or what it found
    pcap: Path | None = None
    conformance: list[CheckResult] = field(default_factory=list)
    actors: dict[str, dict[str, Any]] = field(default_factory=dict)  # server actors (the SFU): their reports

    @property
    def ok(self) -> bool:
        steps_ok = all(r.ok for r in self.steps) and len(self.steps) == len(self.scenario.steps)
        return steps_ok and (self.wire is None or self.wire.ok)

    def text(self) -> str:
        lines = [f"{self.scenario.path}: {self.scenario.title}"]
        lines += [f"  {r.line()}" for r in self.steps]
        lines.append(f"  ({len(self.steps)}/{len(self.scenario.steps)} steps in {self.seconds:.2f} s)")
        for name, report in self.actors.items():
            lines += _actor_lines(name, report)
        if self.wire_note:
            lines.append(f"  {self.wire_note}")
        for finding in self.wire.findings if self.wire else []:
            lines.append(f"    {'FAIL' if finding.severity == 'error' else 'note'} {finding}")
        if self.pcap is not None:
            lines.append(f"  capture: {self.pcap}")
        return "\n".join(lines)


def _actor_lines(name: str, report: dict[str, Any]) -> list[str]:
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


@dataclass
class Context:
    scenario: Scenario
    peers: dict[str, Any] = field(default_factory=dict)  # PeerAgent or ProcessPeer
    stun_server: StunServer | None = None
    stun_address: tuple[str, int] | None = None
    signaling_server: SignalingServer | None = None
    signaling_url: str = ""
    joined: dict[str, list[str]] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    sdp: dict[str, str] = field(default_factory=dict)
    channel_ordered: dict[str, bool] = field(default_factory=dict)
    final_reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # of peers that left
    wire: WireRecorder | None = None
    stun_target: StunTarget | None = None
    http_answered: dict[str, str] = field(default_factory=dict)  # HTTP peer -> who it answered
    conformance: list[CheckResult] = field(default_factory=list)
    actors: dict[str, Any] = field(default_factory=dict)  # server actors in the room, by peer id (the SFU)
    topology: Any = None  # the NAT topology (pytest_webrtc.nat.topology.Topology), when declared
    public_loop: Any = None  # BackgroundLoop inside the topology's public namespace, running the servers
    turn: Any = None  # the CoturnRelay, when the scenario has one

    async def reports(self) -> dict[str, dict[str, Any]]:
        """Every peer's report: final ones for peers that left, fresh ones for the others."""
        out = dict(self.final_reports)
        for name, peer in self.peers.items():
            if name not in self.closed:
                try:
                    out[name] = await asyncio.wait_for(peer.get_report(), 10)
                except (PeerError, asyncio.TimeoutError):
                    pass
        return out

    def room_of(self, peer: str) -> str:
        return self.scenario.peers[peer].room or self.scenario.room


async def _start_public_servers(ctx: Context) -> None:
    """With a NAT topology: STUN (RFC 5780, both public addresses) and signaling in the public namespace."""
    from ..background import BackgroundLoop
    from ..nat.topology import SERVER_ADDRESSES

    ctx.public_loop = BackgroundLoop("public-servers", netns=ctx.topology.public.name)
    stun: StunServer = await asyncio.to_thread(
        ctx.public_loop.run, StunServer(SERVER_ADDRESSES[0], other_host=SERVER_ADDRESSES[1]).start()
    )
    assert stun.udp_address is not None
    ctx.stun_server, ctx.stun_address = stun, stun.udp_address
    ctx.stun_target = StunTarget(stun.udp_address, stun.tcp_address, rfc5780=True)
    signaling: SignalingServer = await asyncio.to_thread(
        ctx.public_loop.run, SignalingServer(SERVER_ADDRESSES[0]).start()
    )
    ctx.signaling_server, ctx.signaling_url = signaling, signaling.url
    if ctx.scenario.turn is not None:
        from ..nat.turn import CoturnRelay

        ctx.turn = CoturnRelay(ctx.topology.public.name, SERVER_ADDRESSES[0])
        await ctx.turn.start()


async def _start_servers(ctx: Context, overrides: dict[str, Any]) -> None:
    scenario = ctx.scenario
    if ctx.topology is not None:
        await _start_public_servers(ctx)
        return
    stun = overrides.get("stun") or scenario.stun
    options: dict[str, Any] = stun if isinstance(stun, dict) else {}
    user, password = options.get("user"), options.get("password")
    if stun == "builtin" or (isinstance(stun, dict) and "address" not in stun):
        auth = ShortTermAuth(user, password) if user is not None and password is not None else None
        server = await StunServer(
            options.get("host", "127.0.0.1"), other_host=options.get("other-host"), auth=auth
        ).start()
        ctx.stun_server, ctx.stun_address = server, server.address
        ctx.stun_target = StunTarget(
            server.address,
            server.tcp_address,
            username=user,
            password=password,
            rfc5780=server.other_address is not None,
        )
    elif isinstance(stun, dict):
        ctx.stun_address = parse_hostport(stun["address"])
        ctx.stun_target = StunTarget(
            ctx.stun_address,
            parse_hostport(options["tcp-address"]) if "tcp-address" in options else None,
            parse_hostport(options["ipv6-address"]) if "ipv6-address" in options else None,
            user,
            password,
            bool(options.get("rfc5780", False)),
        )
    signaling = overrides.get("signaling") or scenario.signaling
    if isinstance(signaling, dict) and "url" in signaling:
        ctx.signaling_url = signaling["url"]
    else:
        host = signaling.get("host", "127.0.0.1") if isinstance(signaling, dict) else "127.0.0.1"
        ctx.signaling_server = await SignalingServer(host).start()
        ctx.signaling_url = ctx.signaling_server.url
    if scenario.sfu is not None:
        from ..sfu.server import Sfu

        ctx.actors[scenario.sfu] = await Sfu(ctx.signaling_url, scenario.room, scenario.sfu).start()
        ctx.joined.setdefault(scenario.room, []).append(scenario.sfu)
    if scenario.mcu is not None:
        from ..sfu.mcu import Mcu

        ctx.actors[scenario.mcu] = await Mcu(ctx.signaling_url, scenario.room, scenario.mcu).start()
        ctx.joined.setdefault(scenario.room, []).append(scenario.mcu)


async def _start_peers(ctx: Context) -> None:
    from ..peer.agent import PeerAgent
    from ..peer.external import ExternalPeer
    from ..peer.http_offer import HttpOfferPeer
    from ..peer.process import ProcessPeer

    for name, spec in ctx.scenario.peers.items():
        ice_servers = []
        if spec.stun and ctx.stun_address is not None:
            host, port = ctx.stun_address
            ice_servers.append({"urls": f"stun:[{host}]:{port}" if ":" in host else f"stun:{host}:{port}"})
        room = ctx.room_of(name)
        peer: Any
        if ctx.topology is not None:  # a process inside the peer's namespace, behind its NAT
            site = ctx.topology.sites[name]
            if ctx.turn is not None:
                ice_servers.append(ctx.turn.ice_server((ctx.scenario.turn or {}).get("transport", "udp")))
            peer = ProcessPeer(
                name, ctx.signaling_url, room, ice_servers=ice_servers, candidates="all", netns=site.peer.name
            )
            await peer.start()
        elif spec.offer_url:
            peer = HttpOfferPeer(name, spec.offer_url)
        elif spec.command:
            cwd = str(Path(ctx.scenario.path).resolve().parent)
            peer = ExternalPeer(name, spec.command, ctx.signaling_server, room, ice_servers, cwd)
            await peer.start()
        elif spec.process:
            peer = ProcessPeer(name, ctx.signaling_url, room, ice_servers=ice_servers, candidates=spec.candidates)
            await peer.start()
        else:
            peer = PeerAgent(name, ctx.signaling_url, room, ice_servers=ice_servers, candidates=spec.candidates)
        ctx.peers[name] = peer


async def _cleanup(ctx: Context) -> None:
    for name, peer in ctx.peers.items():
        if name not in ctx.closed:
            try:
                await asyncio.wait_for(peer.close(), 10)
            except (Exception, asyncio.TimeoutError):  # cleanup must go on for the others
                pass
    for actor in ctx.actors.values():
        try:
            await asyncio.wait_for(actor.stop(), 10)
        except (Exception, asyncio.TimeoutError):
            pass
    if ctx.turn is not None:
        await ctx.turn.stop()
    if ctx.public_loop is not None:
        for server in (ctx.signaling_server, ctx.stun_server):
            if server is not None:
                await asyncio.to_thread(ctx.public_loop.run, server.stop())
        ctx.public_loop.close()
    else:
        if ctx.signaling_server is not None:
            await ctx.signaling_server.stop()
        if ctx.stun_server is not None:
            await ctx.stun_server.stop()
    if ctx.topology is not None:
        await asyncio.to_thread(ctx.topology.close)


async def _run_step(ctx: Context, step: Step) -> StepResult:
    started = time.perf_counter()
    function = STEPS[step.kind]
    try:
        # Peers apply their own timeouts; this outer bound catches anything that would hang.
        summary = await asyncio.wait_for(function(ctx, step), step.timeout * 2 + 5)
        failure = None
    except (Expectation, PeerError, SignalingError, WebRTCHarnessError) as exc:
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


async def _wire_verdict(ctx: Context, result: RunResult) -> str | None:
    """Judge the capture at the end; returns a failure text if the wire broke a rule."""
    if ctx.wire is None:
        return None
    if ctx.wire.capture is None:
        result.wire_note = f"wire: not verified ({ctx.wire.unavailable})"
        return None
    verdict = await ctx.wire.judge(ctx, result.reports)
    result.wire = verdict
    stun = len(verdict.records)
    valid = sum(r.valid for r in verdict.records)
    result.wire_note = (
        f"wire: {stun} STUN messages, {valid} valid, {len(verdict.errors)} violation(s); "
        f"packets by kind: {', '.join(f'{k} {n}' for k, n in sorted(verdict.kinds.items()))}"
    )
    if verdict.errors:
        return f"wire verification: {len(verdict.errors)} violation(s), first: {verdict.errors[0]}"
    return None


def _keep_capture(ctx: Context, result: RunResult, overrides: dict[str, Any], failed: bool) -> None:
    keep = overrides.get("keep", "failed")
    if ctx.wire is None or not ctx.wire.frames or keep == "never" or (keep == "failed" and not failed):
        return
    directory = Path(overrides.get("capture_dir") or Path(tempfile.gettempdir()) / "pytest-webrtc-captures")
    name = overrides.get("name") or ctx.scenario.name
    result.pcap = ctx.wire.save(directory / f"{name}.pcap", ctx, result.reports)


def _recorder(ctx: Context) -> WireRecorder:
    if ctx.topology is None:
        return WireRecorder()
    # In the public namespace, every interface: each datagram once — as it arrives (from a router)
    # or as the servers send it — not a second time when forwarded out to the other router.
    from ..nat.topology import SERVER_ADDRESSES

    servers = " or ".join(f"src host {address}" for address in SERVER_ADDRESSES)
    routers = {name: site.router.name for name, site in ctx.topology.sites.items()}
    return WireRecorder(
        iface="any", bpf=f"udp and (inbound or {servers})", netns=ctx.topology.public.name, routers=routers
    )


async def run_scenario(scenario: Scenario, overrides: dict[str, Any] | None = None) -> RunResult:
    """Run every step; raise StepFailure at the first failing one (after cleaning up)."""
    overrides = overrides or {}
    ctx = Context(scenario)
    result = RunResult(scenario)
    started = time.perf_counter()
    failed: StepResult | None = None
    wire_failure: str | None = None
    try:
        if scenario.topology:
            from ..nat.topology import Topology

            ctx.topology = Topology(dict(scenario.topology))
            await asyncio.to_thread(ctx.topology.__enter__)
        if scenario.capture and overrides.get("capture", True):
            ctx.wire = _recorder(ctx)
            await asyncio.to_thread(ctx.wire.start)  # capturing before the first packet can be sent
        await _start_servers(ctx, overrides)
        await _start_peers(ctx)
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
        result.reports = await ctx.reports()
        result.actors = {name: actor.report() for name, actor in ctx.actors.items()}
        result.conformance = list(ctx.conformance)
        wire_failure = await _wire_verdict(ctx, result)
    finally:
        result.ladder = build_ladder(ctx, result.reports)
        if ctx.wire is not None:
            await ctx.wire.stop()
        await _cleanup(ctx)
        _keep_capture(ctx, result, overrides, failed is not None or wire_failure is not None)
        result.seconds = time.perf_counter() - started
    if failed is not None or wire_failure is not None:
        if failed is not None:
            error = StepFailure(f"{failed.step.label()}: {failed.summary}", scenario.path, failed.step.line)
        else:
            error = StepFailure(str(wire_failure), scenario.path, 1)
        error.result = result  # type: ignore[attr-defined]
        raise error
    return result
