"""Steps of the server-actor family (SFU, MCU, and what a signaling protocol's server offers, such as
Janus's plugins): connect, expect-sfu."""

from __future__ import annotations

from ...errors import Expectation
from ...peer.interface import Capability
from ..context import RunContext
from ..model import Step
from ..registry import need, step
from .common import check_no_candidates, expect_count, names

MEDIA = Capability.MEDIA


@step("connect", need("peers", MEDIA, what="connect to a server actor (SFU, MCU)"))
async def connect(ctx: RunContext, s: Step) -> str:
    from ...signaling.drivers import driver

    actor = s.args["to"]
    remotes = driver(ctx.world.signaling_protocol).remotes
    if actor not in ctx.world.actors and actor not in remotes:
        raise Expectation(f"{actor!r} is not a server actor of this scenario (servers: sfu)")
    lines = []
    for name in names(s.args["peers"]):
        done = await ctx.media(name).connect_to(actor, timeout=s.timeout)
        check_no_candidates(done["offer"], name, "offer")
        ctx.sdp[name] = done["offer"]
        lines.append(
            f"{name} connected to {actor} ({len(done['sent'])} candidate(s) sent, {len(done['received'])} received)"
        )
    if actor in remotes:
        return "; ".join(lines) + f" ({ctx.world.signaling_protocol})"
    return "; ".join(lines) + f"; {actor}'s renegotiation offers are answered from now on"


@step("expect-sfu", need("forwarding", MEDIA, what="report the tracks it receives from an SFU"))
async def expect_sfu(ctx: RunContext, s: Step) -> str:
    from ...peer.media import track_id
    from ...sfu.server import Sfu

    sfu = next((a for a in ctx.world.actors.values() if isinstance(a, Sfu)), None)
    if sfu is None:
        raise Expectation("expect-sfu needs an SFU (servers: sfu)")
    wanted = {peer: sorted(sources) for peer, sources in s.args.get("forwarding", {}).items()}

    def holds() -> bool:
        forwarding = sfu.forwarding()
        return sfu.settled and all(forwarding.get(peer) == sources for peer, sources in wanted.items())

    try:
        await sfu.wait_until(holds, s.timeout, "the expected forwarding")
    except Exception:
        raise Expectation(
            f"{sfu.id} forwards {sfu.forwarding()} (settled: {sfu.settled}), expected {wanted}"
            + (f"; errors: {'; '.join(sfu.errors)}" if sfu.errors else "")
        ) from None
    for peer, sources in wanted.items():  # the peers' side: the tracks their answers accepted
        expected_tracks = sorted(track_id(other, p.kind) for other in sources for p in sfu.sessions[other].publications)
        tracks = (await ctx.media(peer).get_report()).get("remote_tracks", [])
        if tracks != expected_tracks:
            raise Expectation(f"{peer} receives tracks {tracks}, expected {expected_tracks}")
    report = sfu.report()
    if "sessions" in s.args:
        expect_count("sessions on the SFU:", s.args["sessions"], len(report["sessions"]))
    for peer, bounds in s.args.get("bandwidth", {}).items():
        numbers = report["sessions"].get(peer) or report["departed"].get(peer)
        if numbers is None:
            raise Expectation(f"{peer} never connected to {sfu.id}")
        for key, expected in bounds.items():
            expect_count(f"{peer}'s {key} at {sfu.id}:", expected, int(numbers[key]))
    if sfu.errors:
        raise Expectation(f"{sfu.id} recorded errors: {'; '.join(sfu.errors)}")
    return (
        f"{sfu.id} forwards "
        + "; ".join(f"{peer} <- {', '.join(sources) or 'nobody'}" for peer, sources in sorted(sfu.forwarding().items()))
        + f" ({len(report['sessions'])} session(s), settled)"
    )
