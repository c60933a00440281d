"""Steps of the interop family: call (one stack calls another by itself and reports each case), restart-ice."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any, cast

from ...errors import Expectation
from ...peer.interface import Capability
from ..context import RunContext
from ..model import Step
from ..registry import need, step

if TYPE_CHECKING:
    from ...peer.external import ExternalPeer

CASES = ("data", "video", "restart-ice")  # what a call can cover (docs/interop.md); "connect" is always reported


@step(
    "call",
    need("from", Capability.CALL, what="call another peer by itself (a stack: peer does)"),
    need("to", Capability.ECHO, what="echo data back"),
    need("from", Capability.VIDEO, what="send video in a call", when=("cases=video",)),
    need("to", Capability.CALL, what="report the video it receives (a stack: peer does)", when=("cases=video",)),
    need("from", Capability.ICE_RESTART, what="restart ICE (aiortc has no ICE restart)", when=("cases=restart-ice",)),
    need("to", Capability.ICE_RESTART, what="restart ICE (aiortc has no ICE restart)", when=("cases=restart-ice",)),
)
async def call(ctx: RunContext, s: Step) -> str:
    """The caller (a ``stack:`` peer, told at start) offers, connects and runs every case; the step
    waits for its reports — the callee's for video, which it receives — and fails on the first
    case that failed or never came, saying what came back."""
    sender, receiver = str(s.args["from"]), str(s.args["to"])
    cases = [str(c) for c in s.args.get("cases", ["data"])]
    if "restart-ice" in cases and "data" not in cases:
        raise Expectation("case restart-ice checks the data channel after the restart: add data to cases")
    caller = cast("ExternalPeer", ctx.peer(sender))  # the load-time check made both stack programs
    callee = cast("ExternalPeer", ctx.peer(receiver))  # (or, without video, any echoing program)
    asked = {sender: ["connect", *[c for c in cases if c != "video"]], receiver: [c for c in cases if c == "video"]}
    got: dict[str, dict[str, Any]] = {}
    deadline = asyncio.get_running_loop().time() + s.timeout  # one bound for both reports
    for name, peer in ((sender, caller), (receiver, callee)):
        if asked[name] and got.get("connect", {"ok": True}).get("ok"):  # no video without a connection
            left = max(0.0, deadline - asyncio.get_running_loop().time())
            got.update(await peer.wait_results(asked[name], left))
    reported: dict[str, dict[str, Any]] = {}
    record: dict[str, Any] = {"from": sender, "to": receiver, "cases": reported}
    problems = []
    for name, wanted in asked.items():
        peer = caller if name == sender else callee
        for case in wanted:
            outcome = got.get(case)
            if outcome is None:
                exited = peer.exited()
                why = (
                    f"exited with {exited}"
                    if exited is not None
                    else "exited"
                    if peer.gone
                    else f"not within {s.timeout:g} s"
                )
                if not got.get("connect", {"ok": True}).get("ok"):
                    why = "the connection failed"
                outcome = {"case": case, "ok": False, "detail": f"{name} reported nothing ({why})"}
            reported[case] = outcome
            if not outcome.get("ok"):
                problems.append(f"{case}: {outcome.get('detail', '')}")
    offered = _descriptions(ctx, sender, receiver)
    for outcome in reported.values():  # seconds from the offer, on the harness's clock
        if offered is not None and "_at" in outcome:
            outcome["since_offer"] = round(max(0.0, outcome["_at"] - offered), 3)
    ctx.calls.append(record)
    if problems:
        # the run's report shows the whole output as lines; the matrix's cell keeps its last ones, in a line
        last = caller.last_lines(3) if not got else []
        said = f"; {sender}'s output ends: {' | '.join(last)}" if last else ""
        raise Expectation(f"{sender} calling {receiver}: " + "; ".join(problems) + said)
    parts = [
        f"{case} ok ({o.get('detail', '')}, {float(o.get('since_offer', o.get('seconds', 0))):.2f} s after the offer)"
        for case, o in reported.items()
    ]
    return f"{sender} called {receiver}: " + "; ".join(parts)


@step(  # the stacks that restart ICE (Chromium, Firefox) also call and echo: one need per role says it
    "restart-ice",
    need("from", Capability.ICE_RESTART, what="restart ICE (aiortc has no ICE restart)"),
    need("to", Capability.ICE_RESTART, what="restart ICE (aiortc has no ICE restart)"),
)
async def restart_ice(ctx: RunContext, s: Step) -> str:
    """RFC 8445 §9 in the call from ``from`` to ``to`` (made by a call step before, or by this one):
    the caller makes an offer with new credentials, the callee answers with its own, and the data
    channel must echo again over the pair ICE selects then. The stack programs are told at start
    (a restart-ice step adds the case to the pair's call); the wire verdict judges the checks after
    the restart with the re-offer's and re-answer's SDPs."""
    as_call = dataclasses.replace(s, kind="call", args={**s.args, "cases": ["data", "restart-ice"]})
    await call(ctx, as_call)  # fails on a case that failed or never came, restart-ice's too
    restarted = ctx.calls[-1]["cases"]["restart-ice"]
    when = float(restarted.get("since_offer", restarted.get("seconds", 0)))
    return f"{s.args['from']} restarted ICE in its call with {s.args['to']}: {restarted.get('detail', '')} ({when:.2f} s after the offer)"


def _descriptions(ctx: RunContext, sender: str, receiver: str) -> float | None:
    """The offer and answer the two exchanged, as the signaling server relayed them: what the wire
    verdict judges their ICE checks, DTLS fingerprints and RTP against.  Returns when the offer went."""
    server = ctx.world.signaling_server
    offered = None
    for record in server.relayed if server is not None else ():
        pair = (record.sender, record.recipient)
        if record.type in ("offer", "answer") and pair in ((sender, receiver), (receiver, sender)):
            name, sdp = str(record.sender), str(record.payload.get("sdp", ""))
            if sdp in (v for k, v in ctx.sdp.items() if k.split("~")[0] == name):
                if record.type == "offer" and offered is None:
                    offered = float(record.time)
                continue  # known already (an earlier step of the same call read it)
            if name in ctx.sdp and ctx.sdp[name] != sdp:  # a re-offer (an ICE restart)
                seen = sum(1 for key in ctx.sdp if key.split("~")[0] == name)
                name = f"{name}~{seen + 1}"  # its credentials judge the checks after the restart
            ctx.sdp[name] = sdp
            if record.type == "offer" and offered is None:
                offered = float(record.time)
    return offered
