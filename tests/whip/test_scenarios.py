"""The publish and play steps: WHIP/WHEP sessions of scenario peers, through our endpoint or yours."""

from __future__ import annotations

import asyncio

import pytest

from pytest_webrtc.errors import ScenarioError, StepFailure
from pytest_webrtc.scenario import load_scenario, run_scenario
from pytest_webrtc.whip.server import WhipServer

from .broken_whip import BrokenWhip

YOURS = """\
scenario: through your endpoint
servers:
  signaling: {{url: "{url}", protocol: whip}}
peers: {{alice: {{}}, bob: {{}}}}
steps:
  - track: {{peer: alice, kind: video}}
  - publish: {{peer: alice, token: t0ken{trickle}}}
  - play: {{peer: bob, url: "{whep}", token: t0ken}}
  - expect-media: {{peer: bob, kind: video, frames: ">=10"}}
"""


def _run(text: str, name: str = "whip.yaml") -> object:
    return asyncio.run(run_scenario(load_scenario(name, text), {"capture": False}))


@pytest.mark.parametrize("trickle", [False, True], ids=["candidates-inside", "trickled"])
def test_peers_publish_and_play_through_an_endpoint_named_by_servers_signaling(trickle: bool) -> None:
    async def run() -> tuple[object, list[dict[str, object]]]:
        server = await WhipServer(token="t0ken").start()
        try:
            text = YOURS.format(url=server.whip_url("live"), whep=server.whep_url("live"),
                                trickle=", trickle: true" if trickle else "")  # fmt: skip
            result = await run_scenario(load_scenario("whip.yaml", text), {"capture": False})
            return result, await server.report()
        finally:
            await server.stop()

    result, sessions = asyncio.run(run())
    assert result.ok, result  # type: ignore[attr-defined]
    by_kind = {s["kind"]: s for s in sessions}
    assert by_kind["whip"]["ended"] == "DELETE" and by_kind["whep"]["ended"] == "DELETE"  # RFC 9725 §4.2
    assert int(by_kind["whip"]["frames-received"]) >= 10  # type: ignore[call-overload]
    assert int(by_kind["whep"]["frames-forwarded"]) >= 10  # type: ignore[call-overload]
    assert (by_kind["whip"]["trickled"] > 0) is trickle  # type: ignore[operator]
    publish = result.steps[1].summary  # type: ignore[attr-defined]
    assert ("trickled by PATCH (HTTP 204 No Content)" in publish) is trickle, publish


def test_a_missing_token_fails_the_step_with_what_came_back() -> None:
    async def run() -> None:
        server = await WhipServer(token="t0ken").start()
        try:
            text = YOURS.format(url=server.whip_url("live"), whep=server.whep_url("live"), trickle="").replace(
                "publish: {peer: alice, token: t0ken}", "publish: {peer: alice}"
            )
            await run_scenario(load_scenario("whip.yaml", text), {"capture": False})
        finally:
            await server.stop()

    with pytest.raises(StepFailure, match=r"step 2 \(publish, line 7\).*HTTP 401 Unauthorized, not 201 Created"):
        asyncio.run(run())


def test_an_endpoint_that_refuses_trickle_fails_a_trickling_publish() -> None:
    async def run() -> None:
        server = await BrokenWhip("trickle", "whip").start()
        try:
            text = f"""\
scenario: trickle refused
servers: {{signaling: {{url: "{server.whip_url("x")}", protocol: whip}}}}
peers: {{alice: {{}}}}
steps:
  - publish: {{peer: alice, trickle: true}}
"""
            await run_scenario(load_scenario("whip.yaml", text), {"capture": False})
        finally:
            await server.stop()

    with pytest.raises(StepFailure, match=r"refused the trickle PATCH \(HTTP 400 Bad Request\); alice's candidates"):
        asyncio.run(run())


@pytest.mark.parametrize(("step", "line"), [("join: [alice]", "join"), ("offer: {from: alice, to: bob}", "offer")])
def test_what_whip_cannot_express_is_refused_with_its_line(step: str, line: str) -> None:
    text = f"""\
scenario: rooms through WHIP
servers: {{signaling: {{protocol: whip}}}}
peers: {{alice: {{}}, bob: {{}}}}
steps:
  - {step}
"""
    with pytest.raises(ScenarioError, match=rf"whip.yaml:5:\d+: step 1 \({line}, line 5\): cannot run through whip: "
                                            "WHIP/WHEP has no rooms"):  # fmt: skip
        _run(text)


def test_a_stream_nobody_publishes_cannot_be_played() -> None:
    text = """\
scenario: nothing to play
servers: {signaling: {protocol: whep}}
peers: {bob: {}}
steps:
  - play: {peer: bob, stream: empty}
"""
    with pytest.raises(StepFailure, match=r"HTTP 404 Not Found, not 201 Created \(nothing is published on stream"):
        _run(text)
