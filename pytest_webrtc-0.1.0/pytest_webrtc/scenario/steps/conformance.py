"""Steps of the conformance family: stun-conformance, turn-conformance, signaling-conformance."""

from __future__ import annotations

from ...addresses import format_hostport
from ...errors import Expectation
from ..context import RunContext
from ..model import Step
from ..registry import step


@step("stun-conformance")
async def stun_conformance(ctx: RunContext, s: Step) -> str:
    from ...conformance.stun import run_check

    target = ctx.world.stun_target
    if target is None:
        raise Expectation("stun-conformance needs a STUN server (servers: stun is none)")
    result = await run_check(s.args["rule"], target)
    ctx.conformance.append(result)
    if result.failed:
        raise Expectation(f"{result.rule} ({result.section}): {result.detail}")
    prefix = {"pass": "", "skip": "SKIPPED: ", "warn": "WARN (a SHOULD, not a MUST): ", "info": "INFO: "}
    return f"{prefix[result.outcome]}{result.rule} ({result.section}) against {format_hostport(target.udp)}: {result.detail}"


@step("turn-conformance")
async def turn_conformance(ctx: RunContext, s: Step) -> str:
    from ...conformance.turn import run_check

    target = ctx.world.turn_target
    if target is None:
        raise Expectation("turn-conformance needs a TURN server to judge: declare servers: {turn: {}} (coturn) "
                          "or servers: {turn: {address: HOST:PORT, user: U, password: P}}")  # fmt: skip
    result = await run_check(s.args["rule"], target)
    ctx.conformance.append(result)
    if result.failed:
        raise Expectation(f"{result.rule} ({result.section}): {result.detail}")
    prefix = {"pass": "", "skip": "SKIPPED: ", "warn": "WARN (a SHOULD, not a MUST): ", "info": "INFO: "}
    where = format_hostport(target.server)
    return f"{prefix[result.outcome]}{result.rule} ({result.section}) against {where}: {result.detail}"


@step("signaling-conformance")
async def signaling_conformance(ctx: RunContext, s: Step) -> str:
    from ...conformance.signaling import run_check

    result = await run_check(s.args["rule"], ctx.world.signaling_url)
    ctx.conformance.append(result)
    if result.failed:
        raise Expectation(f"{result.rule} ({result.section}): {result.detail}")
    return f"{result.rule} ({result.section}) against {ctx.world.signaling_url}: {result.detail}"
