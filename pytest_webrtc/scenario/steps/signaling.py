"""Steps of the signaling family: join, offer, answer, candidates, bye, leave, expect-signaling."""

from __future__ import annotations

import asyncio
from collections import Counter

from ...candidates import candidate_type, sdp_candidates
from ...errors import Expectation
from ...peer.interface import Capability
from ..context import RunContext
from ..model import Step
from ..registry import need, step
from .common import check_no_candidates, delivered, expect_count, names

SIGNALING, COMMAND, HTTP = Capability.SIGNALING, Capability.COMMAND, Capability.HTTP_OFFER


@step("join", need("peers", SIGNALING, what="join a signaling room"))
async def join(ctx: RunContext, s: Step) -> str:
    from ...signaling.drivers import driver as driver_of

    driver = driver_of(ctx.world.signaling_protocol)
    lines = []
    for name in names(s.args["peers"]):
        room = ctx.room_of(name)
        already = list(ctx.joined.setdefault(room, []))
        peers_seen = await ctx.signaling_peer(name).join(timeout=s.timeout)
        if not driver.rooms:  # nothing to check but the connection itself (PeerJS: OPEN)
            ctx.joined[room].append(name)
            lines.append(f"{name} connected ({driver.name}: no rooms, so no peer list and no notices)")
            continue
        early: list[str] = []
        if ctx.can(name, COMMAND):
            # A program (command:, a stack) joins by itself when it starts, so it may be there before the
            # step names it: the server listing it is no surprise. Anyone else listed, or missing, is.
            early = [p for p in peers_seen if p not in already and _joins_by_itself(ctx, p, room)]
            if sorted(peers_seen) != sorted(already + early):
                programs = [p for p in ctx.scenario.peers if _joins_by_itself(ctx, p, room)]
                also = f" (and perhaps {', '.join(programs)}, which join by themselves)" if programs else ""
                raise Expectation(
                    f"{name} joined room {room!r} expecting peers {already}{also}, server listed {peers_seen}"
                )
            ctx.listed[name] = list(peers_seen)
        notified, knew = [], []
        for earlier in already:  # everyone already there is told about the newcomer
            if earlier in ctx.world.actors or not ctx.can(earlier, COMMAND):
                continue  # a server actor handles its own notices; an external program's are not observable
            if name in ctx.listed.get(earlier, ()):
                knew.append(earlier)  # the newcomer was there first: the server listed it, no notice comes
                continue
            told = await ctx.commanded(earlier).wait_peer("peer-joined", timeout=s.timeout)
            if told != name:
                raise Expectation(f"{earlier} expected peer-joined {name}, got peer-joined {told}")
            notified.append(earlier)
        ctx.joined[room].append(name)
        said = [f"notified: {', '.join(notified)}"] if notified else []
        said += [f"{', '.join(knew)} found it there on joining"] if knew else []
        said += [f"found {', '.join(early)} there already, joined by itself"] if early else []
        lines.append(f"{name} joined room {room!r}" + (f" ({'; '.join(said)})" if said else ""))
    return "; ".join(lines)


def _joins_by_itself(ctx: RunContext, peer: str, room: str) -> bool:
    """A program of this room the harness does not command: it joins when it starts, not when told."""
    return peer in ctx.scenario.peers and not ctx.can(peer, COMMAND) and ctx.room_of(peer) == room


async def _negotiate(ctx: RunContext, s: Step, kind: str) -> str:
    """``from`` creates the offer or answer, sends it without candidates; ``to`` applies it."""
    sender, receiver = s.args["from"], s.args["to"]
    if ctx.can(receiver, HTTP) or ctx.can(sender, HTTP):
        return await _negotiate_http(ctx, s, kind, sender, receiver)
    if kind == "offer":
        sdp = await ctx.commanded(sender).offer(receiver, timeout=s.timeout)
    else:
        sdp = await ctx.signaling_peer(sender).answer(receiver, timeout=s.timeout)
    check_no_candidates(sdp, sender, kind)
    origin = await delivered(ctx, sender, receiver, kind, s.timeout)
    if origin != sender:
        raise Expectation(f"{receiver} expected an {kind} from {sender}, got one from {origin}")
    ctx.sdp[sender] = sdp
    media = [line.split()[0][2:] for line in sdp.splitlines() if line.startswith("m=")]
    return f"{sender} -> {receiver}: {kind} ({', '.join(media)}; no candidates inside) applied by {receiver}"


async def _negotiate_http(ctx: RunContext, s: Step, kind: str, sender: str, receiver: str) -> str:
    """The interop echo suites' convention: the whole offer POSTed, the answer in the reply."""
    if kind == "answer":
        if ctx.http_answered.get(sender) != receiver:
            raise Expectation(
                f"an HTTP peer answers in the reply to the offer POSTed to it; offer from {receiver} first"
            )
        return f"{sender} -> {receiver}: answer received in the HTTP reply (applied by {receiver})"
    caller, http = ctx.commanded(sender), ctx.http(receiver)
    offer_sdp = await caller.offer_with_candidates(timeout=s.timeout)
    answer_sdp = await http.exchange(offer_sdp, s.timeout)
    await caller.apply_answer(answer_sdp)
    ctx.sdp[sender], ctx.sdp[receiver] = offer_sdp, answer_sdp
    ctx.http_answered[receiver] = sender
    inside = len(sdp_candidates(answer_sdp))
    return (
        f"{sender} -> {receiver}: offer POSTed to {http.url}, answer with {inside} candidate(s) inside, "
        f"applied by {sender}"
    )


@step(
    "offer",
    need("from", COMMAND, what="be told to create an offer"),
    need("to", SIGNALING, HTTP, what="take an offer"),
)
async def offer(ctx: RunContext, s: Step) -> str:
    return await _negotiate(ctx, s, "offer")


@step(
    "answer",
    need("from", SIGNALING, HTTP, what="answer an offer"),
    need("to", COMMAND, what="be told to apply an answer"),
)
async def answer(ctx: RunContext, s: Step) -> str:
    return await _negotiate(ctx, s, "answer")


@step("candidates", need("between", SIGNALING, what="trickle ICE candidates through signaling"))
async def candidates(ctx: RunContext, s: Step) -> str:
    a, b = s.args["between"]
    peer_a, peer_b = ctx.signaling_peer(a), ctx.signaling_peer(b)
    sent_a = await peer_a.send_candidates(b)
    sent_b = await peer_b.send_candidates(a)
    got_b, got_a = await asyncio.gather(
        peer_b.receive_candidates(timeout=s.timeout), peer_a.receive_candidates(timeout=s.timeout)
    )
    for sender, sent, receiver, got in ((a, sent_a, b, got_b), (b, sent_b, a, got_a)):
        if got != sent:
            raise Expectation(f"{receiver} received {len(got)} candidates, {sender} sent {len(sent)}")
    summary = []
    for name, sent in ((a, sent_a), (b, sent_b)):
        types = Counter(candidate_type(c) for c in sent)
        for kind, expected in s.args.get("expect", {}).get(name, {}).items():
            actual = len(sent) if kind == "total" else types.get(kind, 0)
            expect_count(f"{name} to trickle {kind} candidates:", expected, actual)
        summary.append(f"{name} trickled {len(sent)} ({', '.join(f'{n} {k}' for k, n in sorted(types.items()))})")
    return "; ".join(summary) + ", each as its own candidate message, then end-of-candidates"


@step(
    "bye",
    need("from", COMMAND, what="be told to say bye"),
    need("to", SIGNALING, what="receive a bye through signaling"),
)
async def bye(ctx: RunContext, s: Step) -> str:
    sender, receiver = s.args["from"], s.args["to"]
    await ctx.commanded(sender).bye(receiver)
    origin = await delivered(ctx, sender, receiver, "bye", s.timeout)
    if origin != sender:
        raise Expectation(f"{receiver} expected bye from {sender}, got bye from {origin}")
    return f"{sender} -> {receiver}: bye delivered"


@step("leave")
async def leave(ctx: RunContext, s: Step) -> str:
    from ...signaling.drivers import driver

    rooms = driver(ctx.world.signaling_protocol).rooms  # without rooms (Janus) there are no peer-left notices
    lines = []
    for name in names(s.args["peers"]):
        room = ctx.room_of(name)
        peer = ctx.peer(name)
        ctx.final_reports[name] = await peer.get_report()
        await peer.close()
        ctx.closed.add(name)
        members = ctx.joined.get(room, [])
        if name in members:
            members.remove(name)
        notified = []
        for other in members if rooms else []:
            if other in ctx.world.actors or not ctx.can(other, COMMAND):
                continue
            gone = await ctx.commanded(other).wait_peer("peer-left", timeout=s.timeout)
            if gone != name:
                raise Expectation(f"{other} expected peer-left {name}, got peer-left {gone}")
            notified.append(other)
        said = f" ({', '.join(notified)} notified)" if notified else ""
        if not rooms:
            said = f" ({ctx.world.signaling_protocol} sends no peer-left notices)"
        lines.append(f"{name} closed and left{said}")
    return "; ".join(lines)


@step("expect-signaling")
async def expect_signaling(ctx: RunContext, s: Step) -> str:
    server = ctx.world.signaling_server
    if server is None:
        raise Expectation("expect-signaling needs the built-in signaling server")
    relayed = Counter(r.type for r in server.relayed if "server" not in (r.sender, r.recipient))
    for kind, expected in s.args.get("relayed", {}).items():
        expect_count(f"{kind} messages relayed:", expected, relayed.get(kind, 0))
    if "errors" in s.args:
        expect_count("signaling errors:", s.args["errors"], server.error_count)
    for code, expected in s.args.get("error-codes", {}).items():
        expect_count(f"signaling errors {code!r}:", expected, server.errors.get(code, 0))
    return (
        "signaling relayed "
        + ", ".join(f"{n} {k}" for k, n in sorted(relayed.items()))
        + f"; {server.error_count} error(s)"
    )
