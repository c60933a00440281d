"""Steps of the connectivity family: stun, wait, expect-peer, expect-stun, nat-discovery."""

from __future__ import annotations

import asyncio

from ...addresses import format_hostport
from ...candidates import candidate_address
from ...errors import Expectation, PeerError
from ...peer.interface import Capability
from ..context import RunContext
from ..model import Step
from ..registry import need, step
from .common import expect_count, names


@step("stun")
async def stun(ctx: RunContext, s: Step) -> str:
    expected = s.args.get("expect", "srflx")
    server = ctx.world.stun_server
    lines = []
    for name in names(s.args["peers"]):
        candidates = dict((await ctx.peer(name).get_report()).get("candidates", {}))
        srflx = candidates.get("srflx", [])
        if expected == "none":
            if srflx:
                raise Expectation(f"{name} should have no srflx candidate, has {srflx}")
            lines.append(f"{name}: no srflx candidate, as expected")
            continue
        if not srflx:
            raise Expectation(
                f"{name} has no srflx candidate: the STUN server did not answer it "
                f"(candidates: {', '.join(candidates) or 'none'})"
            )
        hosts = {candidate_address(c) for c in candidates.get("host", [])}
        for candidate in srflx:
            mapped = candidate_address(candidate)
            if server is None:
                lines.append(f"{name}: srflx {format_hostport(mapped)} from an external STUN server")
                continue
            # A socket bound to a wildcard address advertises its interface address as the host
            # candidate, while the STUN server sees the source the kernel chose: match the port then.
            ports = {port for _, port in hosts}
            # Behind a NAT the server saw the translated address, which is what it reported back.
            answered = [
                t
                for t in server.transactions
                if t.outcome == "success"
                and (t.client in hosts or t.client[1] in ports or t.client == mapped)
                and t.mapped == mapped
            ]
            if not answered:
                raise Expectation(
                    f"{name}'s srflx {format_hostport(mapped)} matches no Binding request the STUN "
                    f"server answered from its host candidates {sorted(hosts)}"
                )
            lines.append(
                f"{name} asked STUN from {format_hostport(answered[0].client)}, got {format_hostport(mapped)} back"
                " (srflx)"
            )
    return "; ".join(lines)


@step("wait", need("peers", Capability.COMMAND, what="report its connection states (wait on the other peer)"))
async def wait(ctx: RunContext, s: Step) -> str:
    reached = []
    for name in names(s.args["peers"]):
        for kind in ("ice", "dtls", "connection"):
            if kind in s.args:
                try:
                    state = await ctx.commanded(name).wait_state(kind, names(s.args[kind]), timeout=s.timeout)
                except PeerError as exc:
                    refused = await _refused(ctx, name)
                    raise (Expectation(f"{exc}; {refused}") if refused else exc) from None
                reached.append(f"{name} {kind}={state}")
    return ", ".join(reached)


async def _refused(ctx: RunContext, name: str) -> str:
    """Why a connection may never have come: the remote candidates ``name`` would not use (a harness
    peer on loopback sends nowhere else), whose they were, and the fix."""
    ignored = [line for _, line in (await ctx.peer(name).get_report()).get("ignored_candidates", [])]
    if not ignored:
        return ""
    addresses = ", ".join(dict.fromkeys(format_hostport(candidate_address(c)) for c in ignored))
    others = [p for p in ctx.scenario.peers if p != name]
    whose = others[0] if len(others) == 1 else "the other side"
    programs = [p for p, spec in ctx.scenario.peers.items() if spec.command]
    seal = "drop 'sealed: false'" if ctx.scenario.sealed is False else "run as root"
    fix = (
        f"{seal} so that {', '.join(programs)} runs sealed in a namespace (the default where the machine can), "
        "or make it gather host candidates on the addresses in WEBRTC_HOST_ADDRESSES (127.0.0.1)"
        if programs
        else f"give {name} a topology, or candidates it may reach"
    )
    return (
        f"{name} ignored {len(ignored)} candidate(s) of {whose} ({addresses}): not on loopback, and the harness's "
        f"peers send only to 127.0.0.0/8 and ::1 outside namespaces; fix: {fix}"
    )


@step(
    "expect-peer",
    need(
        "peer",
        Capability.COMMAND,
        what="report its selected pair, messages or tracks",
        when=("selected-pair", "messages", "remote-tracks"),
    ),
)
async def expect_peer(ctx: RunContext, s: Step) -> str:
    name = s.args["peer"]
    report = await ctx.peer(name).get_report()
    found = []
    pair = report.get("selected_pair")
    if "selected-pair" in s.args:
        if pair is None:
            raise Expectation(f"{name} has no selected candidate pair")
        local_type, remote_type = pair[0].split()[0], pair[1].split()[0]
        for side, actual in (("local", local_type), ("remote", remote_type)):
            wanted = s.args["selected-pair"].get(side)
            if wanted is not None and wanted != actual:
                raise Expectation(
                    f"{name}'s selected pair {pair[0]} -> {pair[1]}: expected {side} {wanted}, got {actual}"
                )
        either = s.args["selected-pair"].get("any")  # e.g. relay: the path goes through a TURN server
        if either is not None and either not in (local_type, remote_type):
            raise Expectation(
                f"{name}'s selected pair {pair[0]} -> {pair[1]}: expected a {either} candidate at either end"
            )
        found.append(f"selected pair {pair[0]} -> {pair[1]}")
    candidates_by_type = dict(report.get("candidates", {}))
    for kind, expected in s.args.get("candidates", {}).items():
        count = sum(map(len, candidates_by_type.values())) if kind == "total" else len(candidates_by_type.get(kind, []))
        expect_count(f"{name} {kind} candidates:", expected, count)
    for label, expected in s.args.get("messages", {}).items():
        expect_count(f"{name} messages on {label!r}:", expected, report.get("messages", {}).get(label, 0))
    if "remote-tracks" in s.args:
        tracks = report.get("remote_tracks", [])
        if sorted(s.args["remote-tracks"]) != tracks:
            raise Expectation(f"{name} receives tracks {tracks}, expected {sorted(s.args['remote-tracks'])}")
        found.append(f"receives {', '.join(tracks) or 'no track'}")
    found.append("states " + ", ".join(f"{k}={v}" for k, v in report.get("states", {}).items()))
    return f"{name}: " + "; ".join(found)


@step("expect-stun")
async def expect_stun(ctx: RunContext, s: Step) -> str:
    server = ctx.world.stun_server
    if server is None:
        raise Expectation("expect-stun needs the built-in STUN server")
    stats = server.stats.as_dict()
    for key in ("requests", "responses", "errors", "dropped"):
        if key in s.args:
            expect_count(f"STUN {key}:", s.args[key], stats[key])
    return "STUN server: " + ", ".join(f"{k} {v}" for k, v in stats.items())


@step("nat-discovery")
async def nat_discovery(ctx: RunContext, s: Step) -> str:
    """RFC 5780 discovery from inside a peer's namespace against the topology's STUN server."""
    from ...nat.netns import in_thread
    from ...stun.discovery import discover

    topology, server = ctx.world.topology, ctx.world.stun_address
    if topology is None or server is None:
        raise Expectation("nat-discovery needs a topology (peers behind NATs)")
    name = s.args["peer"]
    site = topology.sites[name]
    found = await asyncio.to_thread(in_thread, site.peer.name, asyncio.run, discover(server, site.private_address))
    for key in ("mapping", "filtering"):
        if key in s.args and getattr(found, key) != s.args[key]:
            raise Expectation(
                f"{name}'s NAT ({site.nat.name}) was classified {key} {getattr(found, key)}, expected "
                f"{s.args[key]}: " + "; ".join(found.steps)
            )
    return f"{name} behind {site.nat.name}: {found} — " + "; ".join(found.steps)
