"""Conformance of a WHIP endpoint (RFC 9725) or a WHEP endpoint (draft-ietf-wish-whep-03).

One table of checks judges both: WHEP is WHIP's exchange with a receive-only offer, so each
check runs with the target's protocol and registers as ``whip.NAME`` and ``whep.NAME``.  The
baseline is minimal (a good offer POSTed as ``application/sdp``); each other behaviour is its own
rule, and what came back is said ("HTTP 400 Bad Request", "201 Created without a Location").
Where RFC 9725 leaves the code open ("an appropriate 4XX" for a wrong content type or bad SDP,
200 for DELETE where any 2xx ends it, what a deleted session answers, HTTP on loopback) the
check accepts what it allows and says what was seen.  Optional features (trickle, ICE restarts,
ICE server links) are probed: an endpoint without them gets ``info``; one that claims ICE
restarts (``--ice-restart``) fails when it cannot.  ``python -m pytest_webrtc conformance whip
URL [--token T]``; ``conformance whep URL [--publish WHIP_URL]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from ..rules import Finding, Level, Rule, rule
from ..whip.client import SDP, SDPFRAG, ice_servers, sdp_ice, sdpfrag
from ..whip.http import Response
from .outcome import Accepted, Fail, Info, Skip, judge
from .whip_target import WhipTarget, call, connected, created, delete_quietly, offer, post, session_url

__all__ = ["CHECKS", "RULES", "run_check"]

RTCP_WAIT = 6.0  # aiortc's receivers report every ~1 s (RFC 3550 §6.2 with its 5 s minimum halved)


async def _posted(target: WhipTarget, *tokens: str | None, content_type: str = SDP) -> list[Response]:
    """What a good offer got, POSTed once per token given (``""``: the target's own); a session
    it created is DELETEd at once."""
    pc, sdp = await offer(target)
    replies = []
    try:
        for token in tokens or ("",):
            reply = await post(target, sdp, content_type=content_type, token=token)
            await delete_quietly(target, reply)
            replies.append(reply)
    finally:
        await pc.close()
    return replies


async def created_rule(target: WhipTarget) -> str:
    (reply,) = await _posted(target)
    if reply.status == 401 and not target.token:
        raise Fail(f"a good offer got {reply.said()}: the endpoint wants a bearer token (--token)")
    if reply.status != 201:
        raise Fail(f"a good offer got {reply.said()}, not 201 Created ({reply.text.strip()[:100]!r})")
    if reply.content_type != SDP:
        raise Fail(f"the 201's body is {reply.content_type or 'untyped'}, not application/sdp")
    if not reply.text.startswith("v=0") or "\nm=" not in reply.text:
        raise Fail(f"the 201's body is not an SDP answer: {reply.text[:60]!r}")
    return f"a good offer got 201 Created with an application/sdp answer ({reply.text.count(chr(10) + 'm=')} m-lines)"


async def location(target: WhipTarget) -> str:
    (reply,) = await _posted(target)
    if reply.status != 201:
        raise Skip(f"a good offer got {reply.said()}: no 201 to judge (see the created rule)")
    if not reply.header("location"):
        raise Fail("201 Created without a Location header: the session cannot be reached to PATCH or DELETE it")
    return f"201 Created names its session: Location {reply.header('location')}"


def _refused(reply: Response, what: str, expected: int) -> str:
    if 200 <= reply.status < 300:
        raise Accepted(f"{what} got {reply.said()}: it was taken")
    if not 400 <= reply.status < 500:
        raise Fail(f"{what} got {reply.said()}, not a 4XX refusal")
    if reply.status == expected:
        return f"{what} got {reply.said()}"
    return f"{what} got {reply.said()} (RFC 9725 asks for an appropriate 4XX; {expected} is the usual one)"


async def content_type(target: WhipTarget) -> str:
    (reply,) = await _posted(target, content_type="text/plain")
    return _refused(reply, "a good offer sent as text/plain", 415)


async def bad_sdp(target: WhipTarget) -> str:
    reply = await post(target, "v=0\r\nthis is not a session description\r\n")
    await delete_quietly(target, reply)
    return _refused(reply, "an application/sdp body that is not SDP", 400)


async def _unauthorized(target: WhipTarget) -> list[tuple[str, Response]]:
    """What an offer without a token and one with a wrong token got (Skip when no token is claimed)."""
    if not target.token:
        raise Skip("no token claimed: give --token T when the endpoint needs one")
    missing, wrong = await _posted(target, None, target.token + "-not-" + secrets.token_hex(4))
    return [("an offer without Authorization", missing), ("an offer with a wrong bearer token", wrong)]


async def auth(target: WhipTarget) -> str:
    replies = await _unauthorized(target)
    for what, reply in replies:
        if 200 <= reply.status < 300:
            raise Accepted(f"{what} got {reply.said()}: it was taken")
        if not 400 <= reply.status < 500:
            raise Fail(f"{what} got {reply.said()}, not a 4XX refusal")
    return "; ".join(f"{what} got {reply.said()}" for what, reply in replies)


async def auth_status(target: WhipTarget) -> str:
    replies = await _unauthorized(target)
    if any(not 400 <= reply.status < 500 for _, reply in replies):
        raise Skip("not every unauthenticated offer was refused (see the auth rule)")
    for what, reply in replies:
        if reply.status != 401:
            raise Fail(f"{what} got {reply.said()}, not 401 Unauthorized")
    return "both got 401 Unauthorized"


def _stun_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a STUN server on loopback answers one Binding request (RFC 8489 §6)."""
    from ..stun.message import Message, MessageClass, Method

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        request_message = Message(Method.BINDING, MessageClass.REQUEST)
        sock.sendto(request_message.encode(), (host, port))
        try:
            data = sock.recv(2048)
        except OSError:
            return False
    return data[8:20] == request_message.transaction_id


async def ice_server_links(target: WhipTarget) -> str:
    async with created(target) as (_, reply):
        links = reply.all("link")
    servers = ice_servers(links)
    if not servers:
        raise Info('the 201 carries no Link: rel="ice-server" header (they are optional)')
    bad = [s.url for s in servers if not s.valid]
    if bad:
        raise Fail(f"ice-server links that are not STUN/TURN URIs with credentials: {', '.join(bad)}", outcome="fail")
    used = []
    for server in servers:
        hostport = server.hostport
        if server.url.startswith("stun:") and hostport and _loopback(hostport[0]):
            if not await asyncio.to_thread(_stun_answers, *hostport):
                raise Fail(f"the advertised {server.url} does not answer a Binding request", outcome="fail")
            used.append(server.url)
    return f"{len(servers)} ice server(s) advertised: {', '.join(s.url for s in servers)}" + (
        f"; {', '.join(used)} answered a Binding request" if used else "")  # fmt: skip


def _loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")


async def trickle(target: WhipTarget) -> str:
    async with created(target) as (pc, reply):
        ufrag, pwd, mid = sdp_ice(pc.localDescription.sdp)
        candidates = [line[2:] for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate:")]
        fragment = sdpfrag(ufrag, pwd, mid, candidates[:1])
        headers = target.headers(SDPFRAG) | ({"If-Match": reply.header("etag") or ""} if reply.header("etag") else {})
        patched = await call(target, "PATCH", session_url(target, reply), headers, fragment)
    claimed = target.trickle or SDPFRAG in (reply.header("accept-patch") or "")
    if patched.status in (405, 501, 422) and not claimed:
        raise Info(f"a trickle PATCH got {patched.said()}: the endpoint does not take trickled candidates")
    if patched.status != 204:
        said = "its 201 says Accept-Patch: " + SDPFRAG if not target.trickle else "trickle is claimed"
        raise Fail(f"a trickle PATCH (RFC 8840 fragment, its own entity-tag) got {patched.said()}, not 204 No Content"
                   + (f" ({said})" if claimed else ""), "fail" if claimed else "")  # fmt: skip
    return "a trickle PATCH with a candidate and end-of-candidates got 204 No Content"


async def ice_restart(target: WhipTarget) -> str:
    async with created(target) as (pc, reply):
        _, _, mid = sdp_ice(pc.localDescription.sdp)
        old = sdp_ice(reply.text)
        fragment = sdpfrag(secrets.token_hex(4), secrets.token_hex(12), mid, end=False)
        headers = target.headers(SDPFRAG) | {"If-Match": "*"}
        patched = await call(target, "PATCH", session_url(target, reply), headers, fragment)
    if patched.status in (405, 501, 422) and not target.ice_restart:
        raise Info(f"an ICE restart PATCH got {patched.said()}: ICE restarts are not offered (none claimed)")
    if patched.status != 200:
        raise Fail(f"an ICE restart PATCH (new ufrag and pwd, If-Match: *) got {patched.said()}, not 200 OK", "fail")
    ufrag, pwd, _ = sdp_ice(patched.text)
    if patched.content_type != SDPFRAG or not ufrag or not pwd or (ufrag, pwd) == old[:2]:
        raise Fail(f"the restart's 200 does not carry new ICE credentials ({patched.content_type}: "
                   f"ufrag {ufrag or 'none'})", "fail")  # fmt: skip
    return f"an ICE restart PATCH got 200 OK with new credentials (ufrag {ufrag})"


async def delete(target: WhipTarget) -> str:
    async with created(target) as (_, reply):
        deleted = await call(target, "DELETE", session_url(target, reply), target.headers())
        if deleted.status == 200:
            return "DELETE on the session got 200 OK"
        if 200 <= deleted.status < 300:
            return f"DELETE on the session got {deleted.said()} (RFC 9725 shows 200 OK; any 2xx ends it)"
        raise Fail(f"DELETE on the session got {deleted.said()}, not 200 OK")


async def gone(target: WhipTarget) -> str:
    async with created(target) as (pc, reply):
        url = session_url(target, reply)
        deleted = await call(target, "DELETE", url, target.headers())
        if not 200 <= deleted.status < 300:
            raise Skip(f"DELETE got {deleted.said()}: no deleted session to judge (see the delete rule)")
        ufrag, pwd, mid = sdp_ice(pc.localDescription.sdp)
        later = await call(target, "PATCH", url, target.headers(SDPFRAG), sdpfrag(ufrag, pwd, mid))
    if later.status in (404, 410):
        return f"after DELETE, a PATCH on the session got {later.said()}"
    if 400 <= later.status < 500:
        return f"after DELETE, a PATCH on the session got {later.said()} (404 is usual; any refusal says it is gone)"
    raise Fail(f"after DELETE, a PATCH on the session got {later.said()}: the session is still there")


async def media(target: WhipTarget) -> str:
    from aiortc import RTCSessionDescription

    async with created(target) as (pc, reply):
        frames = _FrameCounter(pc) if target.protocol == "whep" else None
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply.text, type="answer"))
        await connected(pc, target.media_timeout)
        if frames is not None:
            return await frames.wait(5, target.media_timeout)
        return await _acknowledged(pc, RTCP_WAIT)


class _FrameCounter:
    """Counts the frames decoded from every track an endpoint sends us."""

    def __init__(self, pc: Any) -> None:
        self.count = 0
        self.more = asyncio.Event()
        self.readers: list[asyncio.Task[None]] = []
        pc.on("track", lambda track: self.readers.append(asyncio.ensure_future(self._read(track))))

    async def _read(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                self.count += 1
                self.more.set()

    async def wait(self, frames: int, timeout: float) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.count < frames and (left := deadline - loop.time()) > 0:
            self.more.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.more.wait(), left)
        if self.count < frames:
            raise Fail(f"connected, but {self.count} media frame(s) arrived in {timeout:g} s ({frames} wanted)")
        return f"connected; {self.count} frames of the stream played"


async def _acknowledged(pc: Any, timeout: float) -> str:
    """The endpoint's RTCP receiver reports name our SSRC: it really receives the media."""
    sender = next(t.sender for t in pc.getTransceivers() if t.kind == "video")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        stats = await sender.getStats()
        remote = [s for s in stats.values() if s.type == "remote-inbound-rtp"]
        sent = sum(s.packetsSent for s in stats.values() if s.type == "outbound-rtp")
        if remote:
            return f"connected; {sent} RTP packets sent, the endpoint's receiver reports acknowledge them"
        await asyncio.sleep(0.2)
    raise Fail(f"connected and {sent} RTP packets sent, but no RTCP receiver report about them in {timeout:g} s")


async def https(target: WhipTarget) -> str:
    scheme = urllib.parse.urlsplit(target.url).scheme
    if scheme == "https":
        return "the endpoint is HTTPS"
    if target.loopback:
        raise Info("plain HTTP on loopback: accepted for a local endpoint (RFC 9725 §5: HTTPS SHALL be used)")
    raise Fail(f"the endpoint is plain {scheme}:// and not on loopback")


Check = Callable[[WhipTarget], Awaitable[str]]
W, E = "RFC 9725 §", "WHEP §"  # the WHEP sections are draft-ietf-wish-whep-03's
# name -> (section for WHIP, for WHEP, level, summary, check), in the order they run: the session rules
# first, the hostile probes (a wrong content type, bad SDP, bad tokens) last, so that an endpoint a
# probe breaks (simple-whip-server keeps an endpoint "in use" after crashing on bad SDP) still gets
# its other verdicts
_TABLE: tuple[tuple[str, str, str, Level, str, Check], ...] = (
    ("created", W + "4.2", E + "4.2", Level.MUST, "a good offer (application/sdp) gets 201 Created with an SDP answer",
     created_rule),
    ("location", W + "4.2", E + "4.2", Level.MUST, "the 201 has a Location header naming the session", location),
    ("ice-servers", W + "4.6", E + "4.6", Level.MAY,
     'Link: rel="ice-server" headers, when sent, are STUN/TURN URIs that work', ice_server_links),
    ("trickle", W + "4.3.2", E + "4.3.2", Level.MAY, "a trickle PATCH (RFC 8840 fragment) gets 204 No Content",
     trickle),
    ("ice-restart", W + "4.3.3", E + "4.3.3", Level.MAY, "an ICE restart PATCH gets 200 with new ICE credentials",
     ice_restart),
    ("delete", W + "4.2", E + "4.2", Level.MUST, "DELETE on the session gets 200 OK (any 2xx ends it)", delete),
    ("gone", W + "4.2", E + "4.2", Level.SHOULD, "after DELETE the session is gone (a PATCH is refused, 404)", gone),
    ("media", W + "4.2", E + "4.2", Level.MUST, "ICE and DTLS come up and the media flows", media),
    ("content-type", W + "4.2", E + "4.2", Level.MUST,
     "an offer of another content type is refused with a 4XX (415)", content_type),
    ("bad-sdp", W + "4.2", E + "4.2", Level.MUST, "a malformed SDP body is refused with a 4XX (400)", bad_sdp),
    ("auth", W + "4.7", E + "4.7", Level.MUST, "with a token required, a missing or wrong bearer token is refused",
     auth),
    ("auth-status", "RFC 6750 §3.1", "RFC 6750 §3.1", Level.SHOULD,
     "the refusal of a missing or wrong bearer token is 401 Unauthorized", auth_status),
    ("https", W + "5", E + "5", Level.MUST, "the endpoint is HTTPS (plain HTTP accepted on loopback, as info)", https),
)  # fmt: skip
RULES: dict[str, Rule] = {}
CHECKS: dict[str, Check] = {}
for _name, _whip, _whep, _level, _summary, _check in _TABLE:
    for _protocol, _section in (("whip", _whip), ("whep", _whep)):
        _rule = rule(f"{_protocol}.{_name}", _section, _summary, _level)
        RULES[_rule.id] = _rule
        CHECKS[_rule.id] = _check


def rules_for(protocol: str) -> list[str]:
    return [rule_id for rule_id in CHECKS if rule_id.startswith(f"{protocol}.")]


async def run_check(rule_id: str, target: WhipTarget) -> Finding:
    return await judge(rule_id, CHECKS[rule_id](target))
