"""Steps of the media family: track, direction, remove-track, expect-media, expect-stats."""

from __future__ import annotations

from ...errors import Expectation
from ...peer.interface import Capability
from ..context import RunContext
from ..model import Step, parse_count
from ..registry import need, step
from .common import expect_count

MEDIA = Capability.MEDIA


@step("track", need("peer", MEDIA, what="be told to add a track"))
async def track(ctx: RunContext, s: Step) -> str:
    name = s.args["peer"]
    codec = s.args.get("codec")
    tone = float(s.args.get("tone", 440))
    noise = bool(s.args.get("noise", False))
    await ctx.media(name).add_track(
        s.args["kind"], codec, s.args.get("width", 320), s.args.get("height", 240), tone, noise
    )
    ctx.sending.setdefault(name, set()).add(s.args["kind"])
    what = f"a {tone:g} Hz tone" if s.args["kind"] == "audio" else "numbered video" + (" with noise" if noise else "")
    return f"{name} sends {what}" + (f", offering {codec} only" if codec else "")


@step("direction", need("peer", MEDIA, what="be told to change a track's direction"))
async def direction(ctx: RunContext, s: Step) -> str:
    name, kind = s.args["peer"], s.args["kind"]
    await ctx.media(name).set_direction(kind, s.args["direction"])
    return f"{name} sets its {kind} direction to {s.args['direction']} (negotiated at the next offer/answer)"


@step("remove-track", need("peer", MEDIA, what="be told to remove a track"))
async def remove_track(ctx: RunContext, s: Step) -> str:
    name, kind = s.args["peer"], s.args["kind"]
    await ctx.media(name).remove_track(kind)
    return f"{name} stops sending its {kind} track (negotiated at the next offer/answer)"


@step("expect-media", need("peer", MEDIA, what="report the media it receives"))
async def expect_media(ctx: RunContext, s: Step) -> str:
    from ...peer.media import track_id

    name, kind, source = s.args["peer"], s.args["kind"], s.args.get("from")
    peer = ctx.media(name)
    via = f" from {source}" if source else ""
    if "no-frames-for" in s.args:
        arrived = await peer.count_media_for(kind, s.args["no-frames-for"], source=source)
        if arrived:
            raise Expectation(
                f"{arrived} {kind} frame(s){via} reached {name} in {s.args['no-frames-for']} s; expected none"
            )
        return f"no {kind} frame{via} reached {name} in {s.args['no-frames-for']} s"
    if "more-frames" in s.args:
        report = await peer.get_report()
        logs = report.get("media_by_track", {}) if source else report.get("media", {})
        before = logs.get(track_id(source, kind) if source else kind, {}).get("frames", 0)
        op, n = parse_count(s.args["more-frames"])
        wanted = before + (n + 1 if op == ">" else max(n, 1))
        await peer.wait_media(kind, wanted, timeout=s.timeout, source=source)
        return f"{name} received more {kind} frames{via} again (now past {wanted - 1})"
    wanted = s.args.get("frames", ">=1")
    op, n = parse_count(wanted)
    needed = n + 1 if op == ">" else max(n, 1) if op in (">=", "==") else 1
    summary = await peer.wait_media(kind, needed, timeout=s.timeout, source=source)
    expect_count(f"{kind} frames{via} received by {name}:", wanted, summary["frames"])
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
            f"{name}'s first {kind} frame came after {latency or 0:.2f} s, "
            f"expected within {s.args['first-frame-within']} s"
        )
    heard = await _check_tones(ctx, s, name, kind, source)
    report = await peer.get_report()
    codec = report.get("codecs", {}).get(kind)
    if "codec" in s.args and (codec or "").lower() != s.args["codec"].lower():
        raise Expectation(f"the answer chose {codec or 'no codec'} for {kind}, expected {s.args['codec']}")
    detail = f", frames {summary['first_number']}..{summary['last_number']}" if kind == "video" else heard
    resolution = f", {summary['resolution']}" if summary["resolution"] else ""
    return (
        f"{name} received {summary['frames']} {kind} frames{via} ({codec}{resolution}"
        f"{detail}, max gap {summary['max_gap']}, first after {(latency or 0) * 1000:.0f} ms)"
    )


TONE_PRESENT_DB, TONE_ABSENT_DB = -20.0, -40.0  # relative to the loudest component of the spectrum


async def _check_tones(ctx: RunContext, s: Step, name: str, kind: str, source: str | None) -> str:
    """``tones``: frequencies that must be heard (within 20 dB of the loudest component of the last
    0.5 s received); ``no-tones``: frequencies that must not (40 dB or more below it)."""
    present, absent = s.args.get("tones", []), s.args.get("no-tones", [])
    if not present and not absent:
        return ""
    asked = [*present, *absent]
    levels = dict(zip(asked, await ctx.media(name).tone_levels(kind, asked, source), strict=True))
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
    return ", " + ", ".join(f"{f:g} Hz at {round(levels[f]):d} dB" for f in asked)


@step("expect-stats", need("peer", MEDIA, what="report getStats numbers"))
async def expect_stats(ctx: RunContext, s: Step) -> str:
    name, kind = s.args["peer"], s.args["kind"]
    numbers = await ctx.media(name).stats(kind)
    for key in ("packets-received", "packets-lost", "packets-sent", "bytes-sent", "frames-decoded"):
        if key in s.args:
            expect_count(f"{name}'s {kind} {key}:", s.args[key], int(numbers.get(key, 0)))
    if "jitter-below" in s.args and numbers["jitter"] >= s.args["jitter-below"]:
        raise Expectation(
            f"{name}'s {kind} jitter is {numbers['jitter']} (RTP units), expected below {s.args['jitter-below']}"
        )
    return f"{name} {kind}: " + ", ".join(f"{k} {v}" for k, v in numbers.items())
