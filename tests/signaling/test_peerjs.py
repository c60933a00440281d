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

from pytest_webrtc.children import owned, run_environment
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
    proc = subprocess.Popen(  # killed with us, and marked as this run's for reap_orphans
        owned(argv), cwd=SERVERS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=run_environment(),
    )  # fmt: skip
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
    translate = PeerJsClient("ws://127.0.0.1:9/", "r", "p").translate
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
        ["*--webrtc-signaling-protocol: unknown signaling protocol 'jingle'; known: harness, peerjs, mapped*"]
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


MAPPED = SEED.replace("protocol: peerjs}}", "protocol: mapped, mapping: peerjs}}")


@pytest.mark.parametrize("bob", ["", "process: true"], ids=["in-process", "process"])
def test_the_same_seed_flow_passes_through_the_mapping_that_expresses_peerjs(peerjs_server: str, bob: str) -> None:
    """The declarative driver, given signaling/mappings/peerjs.yaml, runs what the coded driver runs."""
    result = asyncio.run(run_scenario(load_scenario("mapped.yaml", MAPPED.format(url=peerjs_server, bob=bob))))
    lines = result.text()
    assert "alice connected (mapped: no rooms, so no peer list and no notices)" in lines
    assert "alice -> bob over 'data': 1 text message(s)" in lines
    assert result.wire is not None and result.wire.ok, lines


@pytest.mark.parametrize(
    ("mapping", "words"),
    [
        ("url: ws://x\nsend: {}\nreceive: {}\n", "url must be a template containing {url}"),
        ("url: '{url}'\nsend: {hello: {}}\nreceive: {}\n", "send.hello: not a message the harness sends"),
        ("url: '{url}'\nsend: {}\nreceive: {offer: {from: src}}\n", "receive.offer: needs a match"),
        ("url: '{url}'\nsend: {}\n", "missing 'receive'"),
        ("url: '{url}'\nsend: {}\nreceive: {}\nrooms: yes\n", "unknown key 'rooms'"),
    ],
)
def test_a_wrong_mapping_is_named_at_load_time(tmp_path: Path, mapping: str, words: str) -> None:
    (tmp_path / "m.yaml").write_text(mapping)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "scenario: s\nservers:\n  signaling: {url: 'ws://127.0.0.1:1/', protocol: mapped, mapping: m.yaml}\n"
        "peers: {a: {}}\nsteps:\n  - join: [a]\n"
    )
    from pytest_webrtc.scenario.model import parse_scenario

    with pytest.raises(ScenarioError, match="s.yaml:3") as error:
        parse_scenario(scenario)
    assert "servers.signaling.mapping:" in str(error.value) and words in str(error.value), str(error.value)


def test_another_package_adds_a_driver_through_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    from pytest_webrtc.signaling import drivers

    mine = drivers.SignalingDriver("mine", "a test's own protocol", lambda url, room, peer, arg: None, rooms=False)  # type: ignore[arg-type,return-value]

    class Point:
        name = "mine"

        def load(self) -> object:
            return mine

    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda group: [Point()] if group == "pytest_webrtc.signaling" else []
    )
    assert drivers.driver("mine") is mine and drivers.driver("mine:option") is mine
    with pytest.raises(
        ValueError, match="unknown signaling protocol 'theirs'; known: harness, peerjs, mapped, janus, whip, whep, mine"
    ):
        drivers.driver("theirs")
