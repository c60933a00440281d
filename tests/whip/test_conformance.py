"""`conformance whip` / `conformance whep`: our endpoint passes, each rule fails on an endpoint broken for it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from pytest_webrtc.conformance.whip import RULES, rules_for, run_check
from pytest_webrtc.conformance.whip_target import Publisher, WhipTarget
from pytest_webrtc.rules import Finding
from pytest_webrtc.stun.server import StunServer
from pytest_webrtc.whip.server import WhipServer

from .broken_whip import BrokenWhip

# rule -> (fault of BrokenWhip, what the finding must say, its outcome); both protocols
_FAULTS = {
    "created": ("created", "HTTP 200 OK, not 201 Created", "fail"),
    "location": ("location", "no session to judge", "skip"),  # the location rule itself: below
    "content-type": ("content-type", "sent as text/plain got HTTP 201 Created: it was taken", "fail"),
    "bad-sdp": ("bad-sdp", "got HTTP 500 Internal Server Error, not a 4XX refusal", "fail"),
    "auth": ("auth", "an offer with a wrong bearer token got HTTP 201 Created: it was taken", "fail"),
    "auth-status": (
        "auth-status",
        "an offer without Authorization got HTTP 403 Forbidden, not 401 Unauthorized",
        "warn",
    ),
    "ice-servers": ("ice-servers", "not STUN/TURN URIs with credentials: turn:127.0.0.1:3478?transport=udp", "fail"),
    "trickle": ("trickle", "got HTTP 400 Bad Request, not 204 No Content (its 201 says Accept-Patch", "fail"),
    "ice-restart": ("ice-restart", "got HTTP 422 Unprocessable Content, not 200 OK", "fail"),
    "delete": ("delete", "DELETE on the session got HTTP 404 Not Found, not 200 OK", "fail"),
    "gone": (
        "gone",
        "after DELETE, a PATCH on the session got HTTP 204 No Content: the session is still there",
        "warn",
    ),
    "media": ("media", "the connection did not come up", "fail"),
    "https": ("https", "the endpoint is plain http:// and not on loopback", "fail"),
}
BROKEN = {f"{protocol}.{name}": fault for protocol in ("whip", "whep") for name, fault in _FAULTS.items()}


@contextlib.asynccontextmanager
async def endpoint(server: WhipServer, protocol: str, stream: str = "cam") -> AsyncIterator[str]:
    await server.start()
    try:
        if protocol == "whep":
            async with Publisher(server.whip_url(stream), server.token):
                yield server.whep_url(stream)
        else:
            yield server.whip_url(stream)
    finally:
        await server.stop()


async def _judge(rule_id: str, server: WhipServer, **claims: object) -> Finding:
    protocol = rule_id.split(".")[0]
    async with endpoint(server, protocol) as url:
        return await run_check(rule_id, WhipTarget(url, protocol, **claims))  # type: ignore[arg-type]


@pytest.mark.parametrize("rule_id", sorted(BROKEN))
def test_each_rule_fails_on_an_endpoint_broken_for_it(rule_id: str) -> None:
    protocol, name = rule_id.split(".")
    fault, said, outcome = BROKEN[rule_id]
    claims: dict[str, object] = {"token": "s3cret"} if fault in ("auth", "auth-status") else {}
    if fault == "ice-restart":
        claims["ice_restart"] = True  # claimed, and our endpoint cannot (aiortc): 422
    if fault == "https":
        finding = asyncio.run(run_check(rule_id, WhipTarget(f"http://whip.example.net/{protocol}/cam", protocol)))
    elif fault == "location":  # the session rules skip; the location rule fails
        server = BrokenWhip("location", protocol)
        finding = asyncio.run(_judge(f"{protocol}.location", server))
        assert (finding.outcome, finding.rule) == ("fail", f"{protocol}.location"), finding
        assert "201 Created without a Location" in finding.detail
        finding = asyncio.run(_judge(f"{protocol}.delete", BrokenWhip("location", protocol)))
    else:
        finding = asyncio.run(_judge(rule_id, BrokenWhip(fault, protocol), **claims))
    assert said in finding.detail, finding
    assert finding.outcome == outcome, finding


@pytest.mark.parametrize("protocol", ["whip", "whep"])
def test_our_endpoint_passes_every_rule_and_says_what_it_lacks(protocol: str) -> None:
    async def run() -> dict[str, Finding]:
        async with endpoint(WhipServer(), protocol) as url:
            return {r: await run_check(r, WhipTarget(url, protocol)) for r in rules_for(protocol)}

    findings = asyncio.run(run())
    outcomes = {rule_id.split(".")[1]: f.outcome for rule_id, f in findings.items()}
    assert outcomes == {
        "created": "pass", "location": "pass", "content-type": "pass", "bad-sdp": "pass", "auth": "skip",
        "auth-status": "skip",
        "ice-servers": "info", "trickle": "pass", "ice-restart": "info", "delete": "pass", "gone": "pass",
        "media": "pass", "https": "info",
    }, {r: str(f) for r, f in findings.items()}  # fmt: skip
    assert "415 Unsupported Media Type" in findings[f"{protocol}.content-type"].detail
    assert "422 Unprocessable Content" in findings[f"{protocol}.ice-restart"].detail


@pytest.mark.parametrize("protocol", ["whip", "whep"])
def test_a_token_and_ice_servers_pass_when_they_work(protocol: str) -> None:
    async def run() -> tuple[Finding, Finding, Finding, Finding]:
        stun = await StunServer(host="127.0.0.1", port=0, tcp=False).start()
        try:
            assert stun.udp_address is not None
            server = WhipServer(token="t0ken", ice_servers=[f"stun:127.0.0.1:{stun.udp_address[1]}"])
            await server.start()
            try:
                stream = "cam"
                url = server.whip_url(stream) if protocol == "whip" else server.whep_url(stream)
                async with contextlib.AsyncExitStack() as stack:
                    if protocol == "whep":
                        await stack.enter_async_context(Publisher(server.whip_url(stream), "t0ken"))
                    target = WhipTarget(url, protocol, token="t0ken")
                    return (await run_check(f"{protocol}.auth", target),
                            await run_check(f"{protocol}.auth-status", target),
                            await run_check(f"{protocol}.ice-servers", target),
                            await run_check(f"{protocol}.created", WhipTarget(url, protocol)))  # fmt: skip
            finally:
                await server.stop()
        finally:
            await stun.stop()

    auth, status, links, without_token = asyncio.run(run())
    assert auth.outcome == "pass" and status.outcome == "pass", (auth, status)
    assert "got HTTP 401 Unauthorized" in auth.detail
    assert links.outcome == "pass" and "answered a Binding request" in links.detail, links
    assert without_token.outcome == "fail" and "wants a bearer token (--token)" in without_token.detail


def test_every_rule_is_judged_for_both_protocols() -> None:
    assert sorted(r.removeprefix("whip.") for r in rules_for("whip")) == sorted(_FAULTS)
    assert sorted(r.removeprefix("whep.") for r in rules_for("whep")) == sorted(_FAULTS)
    assert RULES["whip.created"].section == "RFC 9725 §4.2" and RULES["whep.created"].section == "WHEP §4.2"
    assert RULES["whip.auth-status"].section == "RFC 6750 §3.1" and RULES["whip.auth-status"].level.value == "SHOULD"
