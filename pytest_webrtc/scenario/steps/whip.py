"""Steps of the whip family: publish (WHIP, RFC 9725) and play (WHEP), over HTTP instead of a room.

``publish`` POSTs the peer's offer (the tracks its ``track`` steps added; a numbered video track
when there were none) to a WHIP endpoint and applies the answer; ``play`` POSTs a receive-only
offer to a WHEP endpoint.  The endpoint is the step's ``url``, else servers.signaling's url when
its protocol is whip (publish) or whep (play), else the built-in whip-server's
``/whip/<stream>`` or ``/whep/<stream>``.  With ``trickle: true`` the offer goes without its
candidates and they follow in a PATCH (RFC 8840 fragment); an endpoint that refuses trickle
fails the step (its candidates would never arrive).  Each session is DELETEd when the run ends.
"""

from __future__ import annotations

from ...candidates import sdp_candidates
from ...errors import Expectation, PeerError
from ...peer.interface import Capability
from ...peer.sdp import split_candidates
from ...whip.client import WhipSession, sdp_ice, sdpfrag
from ..context import RunContext
from ..model import Step
from ..registry import need, step

MEDIA = Capability.MEDIA


def _endpoint(ctx: RunContext, s: Step, protocol: str) -> str:
    if "url" in s.args:
        return str(s.args["url"])
    signaling = ctx.world.scenario.signaling
    if ctx.world.signaling_protocol == protocol and ctx.world.signaling_url:
        return ctx.world.signaling_url
    if signaling.protocol == protocol and signaling.url:
        return signaling.url
    server = ctx.world.whip_server
    assert server is not None, "the world starts the built-in whip-server for steps without an endpoint"
    stream = str(s.args.get("stream", "stream"))
    return server.whip_url(stream) if protocol == "whip" else server.whep_url(stream)


async def _session(ctx: RunContext, s: Step, protocol: str, receive: list[str]) -> str:
    name = s.args["peer"]
    if name in ctx.world.whip_sessions:
        raise Expectation(f"{name} already has a session at {ctx.world.whip_sessions[name].url}")
    peer, url = ctx.media(name), _endpoint(ctx, s, protocol)
    offer = await peer.http_offer(receive, timeout=s.timeout)
    trickle = bool(s.args.get("trickle", False))
    sent = split_candidates(offer)[0] if trickle else offer
    try:
        session = await WhipSession.create(url, sent, s.args.get("token"), timeout=s.timeout)
    except PeerError as exc:
        raise Expectation(str(exc)) from None
    ctx.world.whip_sessions[name] = session
    await peer.apply_answer(session.answer)
    ctx.sdp[name] = offer
    said = [f"{protocol.upper()} {url}: {session.created.said() if session.created else '201'}, session {session.url}"]
    if trickle:
        ufrag, pwd, mid = sdp_ice(offer)
        reply = await session.patch(sdpfrag(ufrag, pwd, mid, sdp_candidates(offer)), timeout=s.timeout)
        if reply.status not in (200, 204):
            raise Expectation(
                f"the endpoint refused the trickle PATCH ({reply.said()}); {name}'s candidates were not in the offer"
            )
        said.append(f"{len(sdp_candidates(offer))} candidate(s) trickled by PATCH ({reply.said()})")
    else:
        said.append(f"{len(sdp_candidates(offer))} candidate(s) inside the offer")
    said.append(f"answer with {len(sdp_candidates(session.answer))} candidate(s)")
    if session.servers:
        said.append(f"ice servers offered: {', '.join(server.url for server in session.servers)}")
    await peer.wait_state("connection", ["connected"], s.timeout)
    return f"{name}: " + "; ".join(said) + "; connected"


@step("publish", need("peer", MEDIA, what="publish its tracks over WHIP"))
async def publish(ctx: RunContext, s: Step) -> str:
    name = s.args["peer"]
    added = ""
    if not ctx.sending.get(name):
        await ctx.media(name).add_track("video")
        ctx.sending.setdefault(name, set()).add("video")
        added = " (no track step before: numbered video added)"
    return await _session(ctx, s, "whip", []) + added


@step("play", need("peer", MEDIA, what="play a stream over WHEP"))
async def play(ctx: RunContext, s: Step) -> str:
    kinds = list(s.args.get("kinds", ["video"]))
    return await _session(ctx, s, "whep", kinds)
