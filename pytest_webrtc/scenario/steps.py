"""The step vocabulary: one registered coroutine per step kind.

A step function gets the run context and the step; it returns a one-line
summary of what it did and checked, or raises :class:`Expectation` (or a
PeerError/SignalingError) saying what was expected and what happened.
Adding a step kind is one function here plus its entry in ``schema.json``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .model import Step, count_matches, parse_count

if TYPE_CHECKING:
    from .runner import Context

__all__ = ["STEPS", "Expectation", "step"]

StepFunction = Callable[["Context", Step], Awaitable[str]]
STEPS: dict[str, StepFunction] = {}


class Expectation(Exception):
    """A step's check did not hold: the message says what was expected and what happened."""


def step(kind: str) -> Callable[[StepFunction], StepFunction]:
    def register(fn: StepFunction) -> StepFunction:
        STEPS[kind] = fn
        return fn

    return register


def _names(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _expect_count(what: str, expected: int | str, actual: int) -> None:
    if not count_matches(expected, actual):
        raise Expectation(f"expected {what} {expected}, got {actual}")


def _address(candidate: str) -> tuple[str, int]:
    fields = candidate.split()
    return fields[4], int(fields[5])


def _by_type(report: dict[str, Any]) -> dict[str, list[str]]:
    return dict(report["candidates"])


def _external(ctx: Context, name: str) -> bool:
    return bool(getattr(ctx.peers[name], "external", False))


@step("join")
async def join(ctx: Context, s: Step) -> str:
    lines = []
    for name in _names(s.args["peers"]):
        room = ctx.room_of(name)
        already = list(ctx.joined.setdefault(room, []))
        peers_seen = await ctx.peers[name].join(timeout=s.timeout)
        if not _external(ctx, name) and sorted(peers_seen) != sorted(already):
            raise Expectation(f"{name} joined room {room!r} expecting peers {already}, server listed {peers_seen}")
        for earlier in already:  # everyone already there is told about the newcomer
            if earlier in ctx.actors:
                continue  # a server actor (the SFU) handles its own notices
            notified = await ctx.peers[earlier].wait_peer("peer-joined", timeout=s.timeout)
            if notified != name:
                raise Expectation(f"{earlier} expected peer-joined {name}, got peer-joined {notified}")
        ctx.joined[room].append(name)
        lines.append(f"{name} joined room {room!r}" + (f" (notified: {', '.join(already)})" if already else ""))
    return "; ".join(lines)


@step("channel")
async def channel(ctx: Context, s: Step) -> str:
    label = s.args.get("label", "data")
    await ctx.peers[s.args["peer"]].add_channel(
        label,
        ordered=s.args.get("ordered", True),
        max_retransmits=s.args.get("max-retransmits"),
        max_packet_lifetime=s.args.get("max-packet-lifetime"),
    )
    ctx.channel_ordered[label] = bool(s.args.get("ordered", True))
    return f"{s.args['peer']} opened data channel {label!r}"


def _check_no_candidates(sdp: str, who: str, kind: str) -> None:
    if "a=candidate:" in sdp:
        raise Expectation(f"the {kind} {who} sent still carries a=candidate lines (they must trickle separately)")


async def _delivered(ctx: Context, sender: str, receiver: str, kind: str, timeout: float) -> str:
    """Wait until ``receiver`` got (and applied) the message, or signaling refused it to ``sender``."""
    peer = ctx.peers[receiver]
    receipt = peer.wait_bye(timeout=timeout) if kind == "bye" else peer.accept(kind, timeout=timeout)
    accepted = asyncio.create_task(receipt)
    refused = asyncio.create_task(ctx.peers[sender].wait_error(timeout=timeout))
    try:
        await asyncio.wait({accepted, refused}, return_when=asyncio.FIRST_COMPLETED)
        if accepted.done() and accepted.exception() is not None and not refused.done():
            # The receiver could not take it (e.g. it left): the refusal, if any, says why.
            await asyncio.wait({refused}, timeout=timeout)
    finally:
        for task in (accepted, refused):
            if not task.done():
                task.cancel()
        await asyncio.gather(accepted, refused, return_exceptions=True)
    if not accepted.done() or accepted.cancelled() or accepted.exception() is not None:
        if refused.done() and not refused.cancelled() and refused.exception() is None:
            error = refused.result()
            raise Expectation(f"signaling refused {sender}'s {kind} to {receiver}: {error['code']}: {error['reason']}")
    return str(accepted.result())


async def _negotiate(ctx: Context, s: Step, kind: str) -> str:
    """``from`` creates the offer or answer, sends it without candidates; ``to`` applies it."""
    sender, receiver = s.args["from"], s.args["to"]
    if getattr(ctx.peers[receiver], "http", False) or getattr(ctx.peers[sender], "http", False):
        return await _negotiate_http(ctx, s, kind, sender, receiver)
    create = ctx.peers[sender].offer if kind == "offer" else ctx.peers[sender].answer
    sdp = await create(receiver, timeout=s.timeout)
    _check_no_candidates(sdp, sender, kind)
    origin = await _delivered(ctx, sender, receiver, kind, s.timeout)
    if origin != sender:
        raise Expectation(f"{receiver} expected an {kind} from {sender}, got one from {origin}")
    ctx.sdp[sender] = sdp
    media = [line.split()[0][2:] for line in sdp.splitlines() if line.startswith("m=")]
    return f"{sender} -> {receiver}: {kind} ({', '.join(media)}; no candidates inside) applied by {receiver}"


async def _negotiate_http(ctx: Context, s: Step, kind: str, sender: str, receiver: str) -> str:
    """The interop echo suites' convention: the whole offer POSTed, the answer in the reply."""
    if kind == "answer":
        if not getattr(ctx.peers[sender], "http", False) or ctx.http_answered.get(sender) != receiver:
            raise Expectation(
                f"an HTTP peer answers in the reply to the offer POSTed to it; offer from {receiver} first"
            )
        return f"{sender} -> {receiver}: answer received in the HTTP reply (applied by {receiver})"
    if getattr(ctx.peers[sender], "http", False):
        raise Expectation(f"{sender} is reached over HTTP: it cannot offer; offer to it instead")
    http = ctx.peers[receiver]
    offer_sdp = await ctx.peers[sender].offer_with_candidates(timeout=s.timeout)
    answer_sdp = await http.exchange(offer_sdp, s.timeout)
    await ctx.peers[sender].apply_answer(answer_sdp)
    ctx.sdp[sender], ctx.sdp[receiver] = offer_sdp, answer_sdp
    ctx.http_answered[receiver] = sender
    inside = sum(line.startswith("a=candidate:") for line in answer_sdp.splitlines())
    return (
        f"{sender} -> {receiver}: offer POSTed to {http.url}, answer with {inside} candidate(s) inside, "
        f"applied by {sender}"
    )


@step("offer")
async def offer(ctx: Context, s: Step) -> str:
    return await _negotiate(ctx, s, "offer")


@step("answer")
async def answer(ctx: Context, s: Step) -> str:
    return await _negotiate(ctx, s, "answer")


@step("stun")
async def stun(ctx: Context, s: Step) -> str:
    expected = s.args.get("expect", "srflx")
    lines = []
    for name in _names(s.args["peers"]):
        report = await ctx.peers[name].get_report()
        candidates = _by_type(report)
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
        hosts = {_address(c) for c in candidates.get("host", [])}
        for candidate in srflx:
            mapped = _address(candidate)
            if ctx.stun_server is None:
                lines.append(f"{name}: srflx {mapped[0]}:{mapped[1]} from an external STUN server")
                continue
            # A socket bound to a wildcard address advertises its interface address as the host
            # candidate, while the STUN server sees the source the kernel chose: match the port then.
            ports = {port for _, port in hosts}
            # Behind a NAT the server saw the translated address, which is what it reported back.
            answered = [
                t
                for t in ctx.stun_server.transactions
                if t.outcome == "success"
                and (t.client in hosts or t.client[1] in ports or t.client == mapped)
                and t.mapped == mapped
            ]
            if not answered:
                raise Expectation(
                    f"{name}'s srflx {mapped[0]}:{mapped[1]} matches no Binding request the STUN "
                    f"server answered from its host candidates {sorted(hosts)}"
                )
            t = answered[0]
            lines.append(
                f"{name} asked STUN from {t.client[0]}:{t.client[1]}, got {mapped[0]}:{mapped[1]} back (srflx)"
            )
    return "; ".join(lines)


@step("candidates")
async def candidates(ctx: Context, s: Step) -> str:
    a, b = s.args["between"]
    sent_a = await ctx.peers[a].send_candidates(b)
    sent_b = await ctx.peers[b].send_candidates(a)
    got_b, got_a = await asyncio.gather(
        ctx.peers[b].receive_candidates(timeout=s.timeout), ctx.peers[a].receive_candidates(timeout=s.timeout)
    )
    for sender, sent, receiver, got in ((a, sent_a, b, got_b), (b, sent_b, a, got_a)):
        if got != sent:
            raise Expectation(f"{receiver} received {len(got)} candidates, {sender} sent {len(sent)}")
    summary = []
    for name, sent in ((a, sent_a), (b, sent_b)):
        types = Counter(c.split()[c.split().index("typ") + 1] for c in sent)
        for kind, expected in s.args.get("expect", {}).get(name, {}).items():
            actual = len(sent) if kind == "total" else types.get(kind, 0)
            _expect_count(f"{name} to trickle {kind} candidates:", expected, actual)
        summary.append(f"{name} trickled {len(sent)} ({', '.join(f'{n} {k}' for k, n in sorted(types.items()))})")
    return "; ".join(summary) + ", each as its own candidate message, then end-of-candidates"


@step("wait")
async def wait(ctx: Context, s: Step) -> str:
    reached = []
    for name in _names(s.args["peers"]):
        if _external(ctx, name):
            raise Expectation(f"{name} is an external peer: its states cannot be observed; wait on the other peer")
        for kind in ("ice", "dtls", "connection"):
            if kind in s.args:
                state = await ctx.peers[name].wait_state(kind, _names(s.args[kind]), timeout=s.timeout)
                reached.append(f"{name} {kind}={state}")
    return ", ".join(reached)


def _payloads(s: Step, sender: str) -> list[str | bytes]:
    send = s.args.get("send", f"hello from {sender}")
    count = int(s.args.get("count", 1))
    out: list[str | bytes] = []
    for i in range(count):
        if isinstance(send, str):
            out.append(send if count == 1 else f"{send} #{i}")
        elif "binary" in send:
            out.append(bytes((j + i) % 256 for j in range(send["binary"])))
        else:
            out.append("".join(chr(0x61 + (j + i) % 26) for j in range(send["text"])))
    return out


@step("data")
async def data(ctx: Context, s: Step) -> str:
    sender, receiver = s.args["from"], s.args["to"]
    label = s.args.get("channel", "data")
    payloads = _payloads(s, sender)
    if _external(ctx, sender):
        raise Expectation(f"{sender} is an external peer: it only echoes; send from the other peer")
    echo = _external(ctx, receiver)  # an external peer echoes: the sender gets the data back
    listener = sender if echo else receiver
    before = (await ctx.peers[listener].get_report())["messages"].get(label, 0)
    for payload in payloads:
        await ctx.peers[sender].send(label, payload, timeout=s.timeout)
    received = (await ctx.peers[listener].wait_messages(label, before + len(payloads), timeout=s.timeout))[before:]
    ordered = ctx.channel_ordered.get(label, True)
    same = received == payloads if ordered else sorted(map(repr, received)) == sorted(map(repr, payloads))
    if not same:
        raise Expectation(
            f"{receiver} received different data on {label!r} than {sender} sent "
            f"({len(received)} messages; first differs: {_first_difference(payloads, received)})"
        )
    size = sum(len(p) for p in payloads)
    kind = "binary" if isinstance(payloads[0], bytes) else "text"
    echoed = f", echoed back by {receiver}" if echo else ""
    return f"{sender} -> {receiver} over {label!r}: {len(payloads)} {kind} message(s), {size} bytes, intact{echoed}"


def _first_difference(sent: list[Any], got: list[Any]) -> str:
    for i, (a, b) in enumerate(zip(sent, got, strict=False)):
        if a != b:
            return f"#{i}: sent {a!r:.40} got {b!r:.40}"
    return f"sent {len(sent)}, got {len(got)}"


@step("bye")
async def bye(ctx: Context, s: Step) -> str:
    sender, receiver = s.args["from"], s.args["to"]
    await ctx.peers[sender].bye(receiver)
    origin = await _delivered(ctx, sender, receiver, "bye", s.timeout)
    if origin != sender:
        raise Expectation(f"{receiver} expected bye from {sender}, got bye from {origin}")
    return f"{sender} -> {receiver}: bye delivered"


@step("leave")
async def leave(ctx: Context, s: Step) -> str:
    lines = []
    for name in _names(s.args["peers"]):
        room = ctx.room_of(name)
        ctx.final_reports[name] = await ctx.peers[name].get_report()
        await ctx.peers[name].close()
        ctx.closed.add(name)
        members = ctx.joined.get(room, [])
        if name in members:
            members.remove(name)
        for other in members:
            if other in ctx.actors:
                continue
            gone = await ctx.peers[other].wait_peer("peer-left", timeout=s.timeout)
            if gone != name:
                raise Expectation(f"{other} expected peer-left {name}, got peer-left {gone}")
        lines.append(f"{name} closed and left" + (f" ({', '.join(members)} notified)" if members else ""))
    return "; ".join(lines)


@step("expect-signaling")
async def expect_signaling(ctx: Context, s: Step) -> str:
    server = ctx.signaling_server
    if server is None:
        raise Expectation("expect-signaling needs the built-in signaling server")
    relayed = Counter(r.type for r in server.relayed if "server" not in (r.sender, r.recipient))
    for kind, expected in s.args.get("relayed", {}).items():
        _expect_count(f"{kind} messages relayed:", expected, relayed.get(kind, 0))
    if "errors" in s.args:
        _expect_count("signaling errors:", s.args["errors"], server.error_count)
    for code, expected in s.args.get("error-codes", {}).items():
        _expect_count(f"signaling errors {code!r}:", expected, server.errors.get(code, 0))
    return (
        "signaling relayed "
        + ", ".join(f"{n} {k}" for k, n in sorted(relayed.items()))
        + f"; {server.error_count} error(s)"
    )


@step("expect-stun")
async def expect_stun(ctx: Context, s: Step) -> str:
    server = ctx.stun_server
    if server is None:
        raise Expectation("expect-stun needs the built-in STUN server")
    stats = server.stats.as_dict()
    for key in ("requests", "responses", "errors", "dropped"):
        if key in s.args:
            _expect_count(f"STUN {key}:", s.args[key], stats[key])
    return "STUN server: " + ", ".join(f"{k} {v}" for k, v in stats.items())


@step("expect-peer")
async def expect_peer(ctx: Context, s: Step) -> str:
    name = s.args["peer"]
    report = await ctx.peers[name].get_report()
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
    candidates_by_type = _by_type(report)
    for kind, expected in s.args.get("candidates", {}).items():
        actual = (
            sum(map(len, candidates_by_type.values())) if kind == "total" else len(candidates_by_type.get(kind, []))
        )
        _expect_count(f"{name} {kind} candidates:", expected, actual)
    for label, expected in s.args.get("messages", {}).items():
        _expect_count(f"{name} messages on {label!r}:", expected, report["messages"].get(label, 0))
    if "remote-tracks" in s.args:
        if sorted(s.args["remote-tracks"]) != report["remote_tracks"]:
            raise Expectation(
                f"{name} receives tracks {report['remote_tracks']}, expected {sorted(s.args['remote-tracks'])}"
            )
        found.append(f"receives {', '.join(report['remote_tracks']) or 'no track'}")
    found.append("states " + ", ".join(f"{k}={v}" for k, v in report["states"].items()))
    return f"{name}: " + "; ".join(found)


@step("expect-wire")
async def expect_wire(ctx: Context, s: Step) -> str:
    if ctx.wire is None:
        raise Expectation("expect-wire needs packet capture, and this scenario has capture: false")
    if ctx.wire.capture is None:
        return f"SKIPPED: cannot capture here ({ctx.wire.unavailable})"
    reports = await ctx.reports()
    verdict = await ctx.wire.judge(ctx, reports)
    wire = ctx.wire.context(ctx, reports)
    owner = {address: peer.name for peer in wire.peers for address in peer.addresses}
    summary = []
    for name, expected in s.args.get("stun-requests", {}).items():
        sent = [
            r
            for r in verdict.records
            if r.role == "binding"
            and r.message is not None
            and r.message.message_class.name == "REQUEST"
            and r.datagram.dst in wire.stun_servers
            and owner.get(r.datagram.src) == name
        ]
        _expect_count(f"Binding requests from {name} to the STUN server on the wire:", expected, len(sent))
        summary.append(f"{name} sent {len(sent)} Binding request(s) to STUN")
    if s.args.get("checks-succeeded"):
        for name, report in reports.items():
            if report.get("external"):
                continue  # its selected pair is not observable; the other side's checks cover the pair
            pair = report.get("selected_pair")
            if pair is None:
                raise Expectation(f"{name} has no selected pair to look for on the wire")
            host, _, port = pair[0].split(" ", 1)[1].rpartition(":")
            local = (host, int(port))
            answered = [
                e
                for e in verdict.exchanges
                if e.request.role == "ice-check"
                and e.response is not None
                and e.request.datagram.src == local
                and e.response.message is not None
                and e.response.message.message_class.name == "SUCCESS"
            ]
            if not answered:
                raise Expectation(
                    f"no successful connectivity check from {name}'s selected local candidate "
                    f"{local[0]}:{local[1]} on the wire"
                )
        summary.append("connectivity checks succeeded on the selected pairs")
    errors = verdict.errors
    if "violations" in s.args:
        _expect_count("wire violations:", s.args["violations"], len(errors))
    if "integrity-failures" in s.args:
        failures = [f for f in verdict.findings if f.rule.startswith("integrity")]
        _expect_count("integrity failures on the wire:", s.args["integrity-failures"], len(failures))
    if "unanswered" in s.args:
        unanswered = [f for f in verdict.findings if f.rule == "stun.unanswered"]
        _expect_count("unanswered STUN requests:", s.args["unanswered"], len(unanswered))
    for kind, expected in s.args.get("packets", {}).items():
        _expect_count(f"{kind} datagrams on the wire:", expected, verdict.kinds.get(kind, 0))
    if "turn-allocations" in s.args:
        from ..capture.packets import datagrams
        from ..capture.turn import allocations, unbound_channel_data

        unbound = unbound_channel_data(datagrams(ctx.wire.frames, ctx.wire.linktype), verdict.records)
        if unbound:
            raise Expectation("TURN relay path: " + "; ".join(unbound[:3]))
        made = allocations(verdict.records)
        for allocation in made:
            if not allocation.ok:
                what = "; ".join(allocation.problems) or (
                    "no 401 challenge first" if not allocation.challenged else "no relayed address granted"
                )
                raise Expectation(f"TURN allocation of {allocation.client[0]}:{allocation.client[1]}: {what}")
        _expect_count("TURN allocations (401, then authenticated Allocate, relayed address):",
                      s.args["turn-allocations"], len(made))  # fmt: skip
        summary.append(
            "TURN: "
            + ", ".join(
                f"{a.client[0]}:{a.client[1]} relayed at {a.relayed[0]}:{a.relayed[1]}" for a in made if a.relayed
            )  # fmt: skip
        )
    if s.args.get("rtcp"):
        silent = [st for st in verdict.streams if st.rtcp == 0]
        if not verdict.streams or silent:
            raise Expectation(
                "no RTP stream on the wire"
                if not verdict.streams
                else f"no RTCP from {silent[0].source[0]}:{silent[0].source[1]} (ssrc 0x{silent[0].ssrc:08x})"
            )
        summary.append(f"{len(verdict.streams)} RTP streams, each with RTCP")
    if s.args.get("dtls-fingerprints"):
        checked = [flow for flow in verdict.dtls if flow.certificate is not None]
        if len(checked) < 2:
            raise Expectation(f"{len(checked)} DTLS certificate(s) seen on the wire, expected one from each side")
        summary.append("both DTLS certificates match their SDP fingerprints")
    summary.append(
        f"{len(verdict.records)} STUN messages, {len(errors)} violation(s), "
        + ", ".join(f"{k} {n}" for k, n in sorted(verdict.kinds.items()))
    )
    if errors and "violations" not in s.args:
        raise Expectation(f"{len(errors)} wire violation(s): " + "; ".join(str(f) for f in errors[:5]))
    return "; ".join(summary)


@step("stun-conformance")
async def stun_conformance(ctx: Context, s: Step) -> str:
    from ..conformance.stun import run_check

    if ctx.stun_target is None:
        raise Expectation("stun-conformance needs a STUN server (servers: stun is none)")
    result = await run_check(s.args["rule"], ctx.stun_target)
    ctx.conformance.append(result)
    if result.outcome == "fail":
        raise Expectation(f"{result.rule} ({result.section}): {result.detail}")
    prefix = {"pass": "", "skip": "SKIPPED: ", "warn": "WARN (a SHOULD, not a MUST): "}[result.outcome]
    target = ctx.stun_target.udp
    return f"{prefix}{result.rule} ({result.section}) against {target[0]}:{target[1]}: {result.detail}"


@step("signaling-conformance")
async def signaling_conformance(ctx: Context, s: Step) -> str:
    from ..conformance.signaling import run_check

    result = await run_check(s.args["rule"], ctx.signaling_url)
    ctx.conformance.append(result)
    if result.outcome == "fail":
        raise Expectation(f"{result.rule} ({result.section}): {result.detail}")
    return f"{result.rule} ({result.section}) against {ctx.signaling_url}: {result.detail}"


@step("track")
async def track(ctx: Context, s: Step) -> str:
    name = s.args["peer"]
    codec = s.args.get("codec")
    tone = float(s.args.get("tone", 440))
    await ctx.peers[name].add_track(s.args["kind"], codec, s.args.get("width", 320), s.args.get("height", 240), tone)
    what = f"a {tone:g} Hz tone" if s.args["kind"] == "audio" else "numbered video"
    return f"{name} sends {what}" + (f", offering {codec} only" if codec else "")


@step("direction")
async def direction(ctx: Context, s: Step) -> str:
    name, kind = s.args["peer"], s.args["kind"]
    await ctx.peers[name].set_direction(kind, s.args["direction"])
    return f"{name} sets its {kind} direction to {s.args['direction']} (negotiated at the next offer/answer)"


@step("remove-track")
async def remove_track(ctx: Context, s: Step) -> str:
    name, kind = s.args["peer"], s.args["kind"]
    await ctx.peers[name].remove_track(kind)
    return f"{name} stops sending its {kind} track (negotiated at the next offer/answer)"


@step("connect")
async def connect(ctx: Context, s: Step) -> str:
    actor = s.args["to"]
    if actor not in ctx.actors:
        raise Expectation(f"{actor!r} is not a server actor of this scenario (servers: sfu)")
    lines = []
    for name in _names(s.args["peers"]):
        done = await ctx.peers[name].connect_to(actor, timeout=s.timeout)
        _check_no_candidates(done["offer"], name, "offer")
        ctx.sdp[name] = done["offer"]
        lines.append(
            f"{name} connected to {actor} ({len(done['sent'])} candidate(s) sent, {len(done['received'])} received)"
        )
    return "; ".join(lines) + f"; {actor}'s renegotiation offers are answered from now on"


@step("expect-sfu")
async def expect_sfu(ctx: Context, s: Step) -> str:
    from ..peer.media import track_id

    sfu = next((a for a in ctx.actors.values() if a.report().get("kind") == "sfu"), None)
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
        tracks = (await ctx.peers[peer].get_report())["remote_tracks"]
        if tracks != expected_tracks:
            raise Expectation(f"{peer} receives tracks {tracks}, expected {expected_tracks}")
    report = sfu.report()
    if "sessions" in s.args:
        _expect_count("sessions on the SFU:", s.args["sessions"], len(report["sessions"]))
    for peer, bounds in s.args.get("bandwidth", {}).items():
        numbers = report["sessions"].get(peer) or report["departed"].get(peer)
        if numbers is None:
            raise Expectation(f"{peer} never connected to {sfu.id}")
        for key, expected in bounds.items():
            _expect_count(f"{peer}'s {key} at {sfu.id}:", expected, int(numbers[key]))
    if sfu.errors:
        raise Expectation(f"{sfu.id} recorded errors: {'; '.join(sfu.errors)}")
    return (
        f"{sfu.id} forwards "
        + "; ".join(f"{peer} <- {', '.join(sources) or 'nobody'}" for peer, sources in sorted(sfu.forwarding().items()))
        + f" ({len(report['sessions'])} session(s), settled)"
    )


@step("expect-media")
async def expect_media(ctx: Context, s: Step) -> str:
    name, kind, source = s.args["peer"], s.args["kind"], s.args.get("from")
    via = f" from {source}" if source else ""
    if "no-frames-for" in s.args:
        arrived = await ctx.peers[name].count_media_for(kind, s.args["no-frames-for"], source=source)
        if arrived:
            raise Expectation(
                f"{arrived} {kind} frame(s){via} reached {name} in {s.args['no-frames-for']} s; expected none"
            )
        return f"no {kind} frame{via} reached {name} in {s.args['no-frames-for']} s"
    if "more-frames" in s.args:
        report = await ctx.peers[name].get_report()
        from ..peer.media import track_id

        logs = report.get("media_by_track", {}) if source else report.get("media", {})
        before = logs.get(track_id(source, kind) if source else kind, {}).get("frames", 0)
        op, n = parse_count(s.args["more-frames"])
        wanted = before + (n + 1 if op == ">" else max(n, 1))
        await ctx.peers[name].wait_media(kind, wanted, timeout=s.timeout, source=source)
        return f"{name} received more {kind} frames{via} again (now past {wanted - 1})"
    wanted = s.args.get("frames", ">=1")
    op, n = parse_count(wanted)
    needed = n + 1 if op == ">" else max(n, 1) if op in (">=", "==") else 1
    summary = await ctx.peers[name].wait_media(kind, needed, timeout=s.timeout, source=source)
    _expect_count(f"{kind} frames{via} received by {name}:", wanted, summary["frames"])
    if s.args.get("in-order") and not summary["in_order"]:
        raise Expectation(f"{name}'s {kind} frames arrived out of order")
    if "max-gap" in s.args and summary["max_gap"] > s.args["max-gap"]:
        raise Expectation(
            f"{name} missed {summary['max_gap']} {kind} frames in a row, at most {s.args['max-gap']} allowed"
        )
    if "resolution" in s.args and summary["resolution"] != s.args["resolution"]:
        raise Expectation(f"{name} received {kind} at {summary['resolution']}, expected {s.args['resolution']}")
    latency = summary["first_frame_latency"]
    if "first-frame-within" in s.args and (latency is None or latency > s.args["first-frame-within"]):
        raise Expectation(
            f"{name}'s first {kind} frame came after {latency:.2f} s, expected within {s.args['first-frame-within']} s"
        )
    heard = await _check_tones(ctx, s, name, kind, source)
    report = await ctx.peers[name].get_report()
    codec = report.get("codecs", {}).get(kind)
    if "codec" in s.args and (codec or "").lower() != s.args["codec"].lower():
        raise Expectation(f"the answer chose {codec or 'no codec'} for {kind}, expected {s.args['codec']}")
    detail = f", frames {summary['first_number']}..{summary['last_number']}" if kind == "video" else heard
    return (
        f"{name} received {summary['frames']} {kind} frames{via} ({codec}{', ' + summary['resolution'] if summary['resolution'] else ''}"
        f"{detail}, max gap {summary['max_gap']}, first after {latency * 1000:.0f} ms)"
    )


TONE_PRESENT_DB, TONE_ABSENT_DB = -20.0, -40.0  # relative to the loudest component of the spectrum


async def _check_tones(ctx: Context, s: Step, name: str, kind: str, source: str | None) -> str:
    """``tones``: frequencies that must be heard (within 20 dB of the loudest component of the last
    0.5 s received); ``no-tones``: frequencies that must not (40 dB or more below it)."""
    present, absent = s.args.get("tones", []), s.args.get("no-tones", [])
    if not present and not absent:
        return ""
    levels = await ctx.peers[name].tone_levels(kind, [*present, *absent], source)
    for frequency in present:
        if levels[frequency] < TONE_PRESENT_DB:
            raise Expectation(
                f"{name} does not hear {frequency:g} Hz: {levels[frequency]:.0f} dB below the loudest component, "
                f"expected within {-TONE_PRESENT_DB:g} dB"
            )
    for frequency in absent:
        if levels[frequency] > TONE_ABSENT_DB:
            raise Expectation(
                f"{name} hears {frequency:g} Hz at {levels[frequency]:.0f} dB relative to the loudest component, "
                f"expected {-TONE_ABSENT_DB:g} dB or more below it"
            )
    return ", " + ", ".join(f"{f:g} Hz at {round(levels[f]):d} dB" for f in [*present, *absent])


@step("expect-stats")
async def expect_stats(ctx: Context, s: Step) -> str:
    name, kind = s.args["peer"], s.args["kind"]
    numbers = await ctx.peers[name].stats(kind)
    for key in ("packets-received", "packets-lost", "packets-sent", "bytes-sent", "frames-decoded"):
        if key in s.args:
            _expect_count(f"{name}'s {kind} {key}:", s.args[key], int(numbers.get(key, 0)))
    if "jitter-below" in s.args and numbers["jitter"] >= s.args["jitter-below"]:
        raise Expectation(
            f"{name}'s {kind} jitter is {numbers['jitter']} (RTP units), expected below {s.args['jitter-below']}"
        )
    return f"{name} {kind}: " + ", ".join(f"{k} {v}" for k, v in numbers.items())


@step("nat-discovery")
async def nat_discovery(ctx: Context, s: Step) -> str:
    """RFC 5780 discovery from inside a peer's namespace against the topology's STUN server."""
    from ..nat.netns import in_thread
    from ..stun.discovery import discover

    if ctx.topology is None or ctx.stun_address is None:
        raise Expectation("nat-discovery needs a topology (peers behind NATs)")
    name = s.args["peer"]
    site = ctx.topology.sites[name]
    found = await asyncio.to_thread(
        in_thread, site.peer.name, asyncio.run, discover(ctx.stun_address, site.private_address)
    )
    for key in ("mapping", "filtering"):
        if key in s.args and getattr(found, key) != s.args[key]:
            raise Expectation(
                f"{name}'s NAT ({site.nat.name}) was classified {key} {getattr(found, key)}, expected "
                f"{s.args[key]}: " + "; ".join(found.steps)
            )
    return f"{name} behind {site.nat.name}: {found} — " + "; ".join(found.steps)
