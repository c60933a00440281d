"""`conformance whip` against a real WHIP server: simple-whip-server + Janus 1.1.2 (true verdicts as data).

What it gets, read from its source (src/server.js) and held in tests/data/whip_verdicts.json:
bad SDP that still contains "v=0" crashes its handler (TypeError reading the offer's ice-ufrag) and
Express answers 500 — a true defect (RFC 9725 §4.2: "an appropriate 4XX"), which also leaves the
endpoint marked in use (later offers get 403), so the hostile probes run last; a wrong content
type gets 406 (a 4XX: accepted, said); a missing or wrong token gets 403, not 401 (refused: the
MUST holds; RFC 6750 §3.1's 401 is a SHOULD: warn); a deleted resource answers a PATCH 403 (a
refusal: gone); it sends no Link headers unless configured (info); trickle and ICE restarts work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_webrtc.conformance.whip import rules_for, run_check
from pytest_webrtc.conformance.whip_target import WhipTarget
from pytest_webrtc.rules import Finding

from .simple_whip_server import Deployment, deployed, missing

VERDICTS = json.loads((Path(__file__).parent.parent / "data" / "whip_verdicts.json").read_text())
EXPECTED = VERDICTS["simple-whip-server 0.0~git20230201-1, Janus 1.1.2"]


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    why = missing()
    if why:
        pytest.skip(why)
    with deployed() as running:
        yield running


def _judge(deployment: Deployment, url: str, rules: list[str], **claims: object) -> dict[str, Finding]:
    target = WhipTarget(url, "whip", cafile=deployment.cafile, local_address=deployment.janus.machine_side,
                        **claims)  # type: ignore[arg-type]  # fmt: skip

    async def run() -> dict[str, Finding]:
        return {rule: await run_check(rule, target) for rule in rules}

    return asyncio.run(run())


def _compare(findings: dict[str, Finding], expected: dict[str, list[str]]) -> None:
    got = {rule: f.outcome for rule, f in findings.items()}
    assert got == {rule: e[0] for rule, e in expected.items()}, {r: str(f) for r, f in findings.items()}
    for rule, (_, *said) in expected.items():
        for words in said:
            assert words in findings[rule].detail, findings[rule]


def test_simple_whip_server_gets_its_true_verdicts(deployment: Deployment) -> None:
    url = deployment.endpoint("open")
    _compare(_judge(deployment, url, rules_for("whip")), EXPECTED["without a token"])


def test_simple_whip_server_refuses_bad_tokens_with_403(deployment: Deployment) -> None:
    url = deployment.endpoint("guarded", token="t0ken")
    _compare(_judge(deployment, url, ["whip.auth", "whip.auth-status"], token="t0ken"), EXPECTED["with a token"])
