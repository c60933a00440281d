"""Steps of the wire family: expect-wire, the capture judged while the scenario runs."""

from __future__ import annotations

from ...addresses import format_hostport
from ...capture.credentials import WireContext
from ...errors import Expectation
from ..context import RunContext
from ..model import Step
from ..registry import step
from ..wire import WireRecorder
from .common import expect_count


@step("expect-wire")
async def expect_wire(ctx: RunContext, s: Step) -> str:
    recorder = ctx.world.wire
    if recorder is None:
        raise Expectation("expect-wire needs packet capture, which is off for this run (capture: false)")
    if recorder.capture is None:
        return f"SKIPPED: cannot capture here ({recorder.unavailable})"
    reports = await ctx.reports()
    scope = ctx.wire_scope(reports)
    verdict = await recorder.judge(scope)
    wire = recorder.context(scope)
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
        expect_count(f"Binding requests from {name} to the STUN server on the wire:", expected, len(sent))
        summary.append(f"{name} sent {len(sent)} Binding request(s) to STUN")
    checked = s.args.get("checks-succeeded")
    if checked:
        for name, report in reports.items():
            if isinstance(checked, list) and name not in checked:
                continue  # limited to the peers named
            if report.get("external") and not isinstance(checked, list):
                continue  # its selected pair is not observable; the other side's checks cover the pair
            pair = report.get("selected_pair")
            if pair is None:
                raise Expectation(f"{name} has no selected pair to look for on the wire")
            host, _, port = pair[0].split(" ", 1)[1].rpartition(":")
            local = (host.strip("[]"), int(port))
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
                    f"{format_hostport(local)} on the wire"
                )
        summary.append("connectivity checks succeeded on the selected pairs")
    errors = verdict.errors
    if "violations" in s.args:
        try:
            expect_count("wire violations:", s.args["violations"], len(errors))
        except Expectation as exc:  # name them: a count alone teaches nothing
            named = "; ".join(str(f) for f in errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
            raise Expectation(f"{exc}{': ' + named if errors else ''}") from None
    if "integrity-failures" in s.args:
        failures = [f for f in verdict.findings if f.rule.startswith("integrity")]
        expect_count("integrity failures on the wire:", s.args["integrity-failures"], len(failures))
    if "unanswered" in s.args:
        unanswered = [f for f in verdict.findings if f.rule == "stun.unanswered"]
        expect_count("unanswered STUN requests:", s.args["unanswered"], len(unanswered))
    for kind, expected in s.args.get("packets", {}).items():
        expect_count(f"{kind} datagrams on the wire:", expected, verdict.kinds.get(kind, 0))
    if "turn-allocations" in s.args:
        from ...capture.packets import datagrams
        from ...capture.turn import allocations, unbound_channel_data

        unbound = unbound_channel_data(datagrams(recorder.frames, recorder.linktype), verdict.records)
        if unbound:
            raise Expectation("TURN relay path: " + "; ".join(unbound[:3]))
        made = allocations(verdict.records)
        for allocation in made:
            if not allocation.ok:
                what = "; ".join(allocation.problems) or (
                    "no 401 challenge first" if not allocation.challenged else "no relayed address granted"
                )
                raise Expectation(f"TURN allocation of {format_hostport(allocation.client)}: {what}")
        expect_count("TURN allocations (401, then authenticated Allocate, relayed address):",
                      s.args["turn-allocations"], len(made))  # fmt: skip
        summary.append(
            "TURN: "
            + ", ".join(
                f"{format_hostport(a.client)} relayed at {format_hostport(a.relayed)}" for a in made if a.relayed
            )  # fmt: skip
        )
    if s.args.get("rtcp"):
        silent = [st for st in verdict.streams if st.rtcp == 0]
        if not verdict.streams or silent:
            raise Expectation(
                "no RTP stream on the wire"
                if not verdict.streams
                else f"no RTCP from {format_hostport(silent[0].source)} (ssrc 0x{silent[0].ssrc:08x}) in "
                f"{silent[0].times[-1] - silent[0].times[0]:.1f} s of its RTP: a sender's first report may take "
                f"seconds (RFC 3550 §6.2: about every 5 s, the first after a random fraction of it); let media "
                f"run longer before this check"
            )
        summary.append(f"{len(verdict.streams)} RTP streams, each with RTCP")
    for name, expected in s.args.get("feedback", {}).items():
        senders = [f for source, f in verdict.feedback.items() if owner.get(source) == name]
        for kind, count in expected.items():
            got = sum(f.first[kind] for f in senders)
            expect_count(f"RTCP {kind} from {name} on the wire (compounds led by one):", count, got)
            summary.append(f"{name} sent {got} {kind}")
    for name, expected in s.args.get("retransmissions", {}).items():
        got = sum(f.retransmissions for source, f in verdict.feedback.items() if owner.get(source) == name)
        expect_count(f"retransmissions (RTX) from {name} on the wire:", expected, got)
        summary.append(f"{name} sent {got} retransmission(s)")
    for key, what in (("unnacked-loss", "none of its NACKs named"), ("unrepaired-loss", "no retransmission brought")):
        for name, expected in s.args.get(key, {}).items():
            got, lost = _loss_left(recorder, wire, name, key == "unnacked-loss")
            expect_count(f"packets lost on their way to {name} that {what} ({lost} lost):", expected, got)
            summary.append(f"{name}: {lost} packets lost, {got} that {what}")
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


def _loss_left(recorder: WireRecorder, wire: WireContext, name: str, nacks: bool) -> tuple[int, int]:
    """(packets the link elements dropped on their way to ``name`` that its NACKs did not name — or
    that no retransmission brought to it —, packets dropped on their way to it), read in the capture
    nearest to it with the harness peers' SRTP keys (``capture.srtp``)."""
    if not recorder.side_verdicts:  # judge() made one per capture beside a link element
        raise Expectation("no link element in this run: give a peer a link with loss (topology: {peer: {link: ...}})")
    towards = [d for d in recorder.drops if wire.owner(d.destination) == name]
    nearest = recorder.nearest(name)
    assert nearest is not None
    if nacks:
        readers = [f for source, f in nearest.feedback.items() if wire.owner(source) == name]
        if not any(f.read for f in readers):
            raise Expectation(
                f"{name}'s RTCP cannot be read: no SRTP key opens it (only the harness's own aiortc peers report "
                "theirs, peer.keying) — judge what is in clear instead (feedback: {peer: {nack: ...}})"
            )
    else:
        senders = {wire.owner(d.source) for d in towards}
        readers = [f for source, f in nearest.feedback.items() if wire.owner(source) in senders]
        if towards and not any(f.read or f.resent for f in readers):
            raise Expectation(
                f"the retransmissions to {name} cannot be read: no SRTP key of their senders opens them (only the "
                "harness's own aiortc peers report theirs) — count them instead (retransmissions: {peer: ...})"
            )
    named: dict[int, set[int]] = {}  # SSRC -> the sequence numbers its NACKs named, or its RTX brought
    for f in readers:
        for ssrc, sequences in (f.nacked if nacks else f.resent).items():
            named.setdefault(ssrc, set()).update(sequences)
    return sum(1 for d in towards if d.sequence not in named.get(d.ssrc, set())), len(towards)
