"""The harness's peers signal through a real PeerJS server (npm peer 1.0.2, setup.sh installs it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_webrtc.errors import ScenarioError
from pytest_webrtc.scenario import load_scenario, run_scenario
from pytest_webrtc.signaling.peerjs import PeerJsClient, peerjs_url

ROOT = Path(__file__).parent.parent.parent
SERVERS = ROOT / "interop" / "signaling-servers"
INI = "[pytest]\naddopts = -p no:benchmark\nasyncio_default_fixture_loop_scope = function\n"

SEED = """\
scenario: the seed flow through PeerJS
servers:
  signaling: {{url: "{url}", protocol: peerjs}}
peers: {{alice: {{}}, bob: {{{bob}}}}}
steps:
  - join: [alice, bob]
  - offer: {{from: alice, to: bob}}
  - answer: {{from: bob, to: alice}}
  - stun: {{peers: [alice, bob]}}
  - candidates: {{between: [alice, bob], expect: {{alice: {{host: 1, srflx: 1}}, bob: {{host: 1, srflx: 1}}}}}}
  - wait: {{peers: [alice, bob], connection: connected}}
  - data: {{from: alice, to: bob, send: "hello through PeerJS"}}
  - bye: {{from: alice, to: bob}}
"""


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def peerjs_server() -> Iterator[str]:
    """The PeerJS server on loopback; its URL as PeerJS clients are configured with it."""
    if shutil.which("node") is None or not (SERVERS / "node_modules" / "peer").is_dir():
        pytest.skip("the PeerJS server is not installed (cd interop/signaling-servers && npm ci)")
    port = _free_tcp_port()
    argv = ["node", "node_modules/peer/dist/bin/peerjs.js", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        argv, cwd=SERVERS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the PeerJS server did not listen on {port} (exit {proc.poll()})")
            time.sleep(0.05)  # polling a port the server opens: bounded by the deadline
        yield f"ws://127.0.0.1:{port}/"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


@pytest.mark.parametrize("bob", ["", "process: true"], ids=["in-process", "process"])
def test_the_seed_flow_passes_through_the_peerjs_server(peerjs_server: str, bob: str) -> None:
    result = asyncio.run(run_scenario(load_scenario("peerjs.yaml", SEED.format(url=peerjs_server, bob=bob))))
    lines = result.text()
    assert "alice connected (peerjs: no rooms, so no peer list and no notices)" in lines
    assert "alice -> bob over 'data': 1 text message(s)" in lines
    assert result.wire is not None and result.wire.ok, lines


def test_what_peerjs_cannot_express_is_refused_before_anything_is_sent(peerjs_server: str) -> None:
    text = SEED.format(url=peerjs_server, bob="").replace(
        "  - bye: {from: alice, to: bob}\n", "  - leave: {peers: [alice]}\n"
    )
    with pytest.raises(ScenarioError, match=r"peerjs.yaml:13:\d+: step 8 \(leave, line 13\): cannot run through "
                                            r"peerjs: PeerJS has no rooms, so no peer-left notices"):  # fmt: skip
        asyncio.run(run_scenario(load_scenario("peerjs.yaml", text)))
    with_sfu = SEED.format(url=peerjs_server, bob="").replace("servers:\n", "servers:\n  sfu: {}\n")
    with pytest.raises(ScenarioError, match="the SFU and MCU actors speak protocol v1 only"):
        asyncio.run(run_scenario(load_scenario("sfu.yaml", with_sfu)))


async def test_a_taken_id_and_a_peer_that_is_gone_are_said_in_the_harness_words(peerjs_server: str) -> None:
    first, second = PeerJsClient(peerjs_server, "r", "carol"), PeerJsClient(peerjs_server, "r", "carol")
    await first.join()
    try:
        with pytest.raises(Exception, match="refused id 'carol': ID-TAKEN"):
            await second.join()
        await first.send("offer", "nobody-here", sdp="v=0")
        error = await first.next_of("error", timeout=15)  # the server expires it after ~5 s
        assert error["code"] == "unknown-peer" and "nobody-here is not connected" in error["reason"]
    finally:
        await first.close()
        await second.close()


def test_the_url_is_what_peerjs_clients_are_given() -> None:
    url = peerjs_url("ws://127.0.0.1:9000/", "alice")
    assert url.startswith("ws://127.0.0.1:9000/peerjs?key=peerjs&id=alice&token=")
    assert "key=mine" in peerjs_url("ws://h:1/app/peerjs?key=mine", "bob")
    assert peerjs_url("ws://h:1/app/peerjs?key=mine", "bob").startswith("ws://h:1/app/peerjs?")


def test_messages_map_both_ways() -> None:
    translate = PeerJsClient._translate
    offer = {
        "type": "OFFER",
        "src": "a",
        "dst": "b",
        "payload": {"sdp": {"type": "offer", "sdp": "v=0"}, "type": "data"},
    }
    assert translate(offer) == {"type": "offer", "from": "a", "sdp": "v=0"}
    end = {"type": "CANDIDATE", "src": "a", "payload": {"candidate": {"candidate": "", "sdpMid": None}}}
    assert translate(end) == {"type": "end-of-candidates", "from": "a"}
    assert translate({"type": "LEAVE", "src": "a"}) == {"type": "bye", "from": "a"}
    assert translate({"type": "HEARTBEAT"}) is None
    assert json.dumps(translate({"type": "EXPIRE", "src": "z"})) == json.dumps(
        {"type": "error", "code": "unknown-peer", "reason": "EXPIRE: z is not connected"}
    )


def test_the_plugin_option_and_its_ini_twin(pytester: pytest.Pytester, peerjs_server: str) -> None:
    pytester.makeini(INI + f"webrtc_signaling_url = {peerjs_server}\nwebrtc_signaling_protocol = peerjs\n")
    plain = SEED.format(url=peerjs_server, bob="").replace(
        '  signaling: {url: "' + peerjs_server + '", protocol: peerjs}\n', ""
    )
    pytester.makefile(".yaml", seed=plain.replace("servers:\n", ""))
    result = pytester.runpytest_subprocess("seed.yaml", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*alice connected (peerjs: no rooms*"])
    wrong = pytester.runpytest_subprocess("seed.yaml", "--webrtc-signaling-protocol", "jingle")
    wrong.stderr.fnmatch_lines(
        ["*--webrtc-signaling-protocol: 'jingle' is not a signaling protocol; known: harness, peerjs*"]
    )


# rule -> (the fault that must break it, the words the failure must say)
BROKEN = {
    "peerjs.open": ("no-open", 'was told {"type": "HELLO"}'),
    "peerjs.id-taken": ("dup-allowed", "with the taken id"),
    "peerjs.relay": ("keeps-src", "with src 'forged'"),
    "peerjs.expire": ("no-expire", "waited 1 s for EXPIRE"),
    "peerjs.heartbeat": ("heartbeat-closes", "closed"),
    "peerjs.leave": ("drops-leave", "waited 3 s for alice"),
}


@pytest.mark.parametrize("rule", sorted(BROKEN))
async def test_each_rule_fails_on_a_server_broken_for_it(rule: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_webrtc.conformance import peerjs

    from .fake_peerjs import fake_peerjs

    monkeypatch.setattr(peerjs, "EXPIRE_WAIT", 1.0)
    fault, words = BROKEN[rule]
    async with fake_peerjs() as good:
        assert (await peerjs.run_check(rule, good)).outcome == "pass"
    async with fake_peerjs(fault) as url:
        result = await peerjs.run_check(rule, url)
    assert result.outcome == "fail" and words in result.detail, result


def test_the_real_peerjs_server_passes_every_rule(peerjs_server: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_webrtc", "conformance", "signaling", "--protocol", "peerjs", peerjs_server],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[0] == "judged by the rules of the peerjs protocol"
    assert done.stdout.splitlines()[-1] == "6 passed, 0 failed, 0 warned, 0 info, 0 skipped"
