"""Signaling conformance: our server passes every rule; servers broken in one way fail the rule for it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_webrtc.conformance.signaling import CHECKS, run_check
from pytest_webrtc.signaling.protocol import ProtocolError
from pytest_webrtc.signaling.server import SignalingServer, _Client

from ..process_helpers import read_line

ROOT = Path(__file__).parent.parent.parent


class NoFrom(SignalingServer):
    """Relays, but lets the sender's own "from" through (spoofable)."""

    async def _dispatch(self, client: _Client, message: dict[str, Any]) -> None:
        if message.get("type") in ("offer", "candidate", "bye", "end-of-candidates", "answer") and "from" in message:
            target = self.rooms.get(client.room or "", {}).get(message["to"])
            if target is not None:
                await self._send(target, message)
                return
        await super()._dispatch(client, message)


class Leaky(SignalingServer):
    """Delivers a relay to every peer of that id, in any room."""

    async def _dispatch(self, client: _Client, message: dict[str, Any]) -> None:
        if message.get("type") == "offer" and client.room is not None:
            for room in self.rooms.values():
                if message["to"] in room:
                    await self._send(room[message["to"]], {**message, "from": client.peer})
            return
        await super()._dispatch(client, message)


class Silent(SignalingServer):
    """Swallows bad input without an error reply."""

    async def _on_frame(self, client: _Client, frame: str | bytes) -> None:
        try:
            from pytest_webrtc.signaling.protocol import parse_client_message

            await self._dispatch(client, parse_client_message(frame))
        except ProtocolError:
            pass


class Forgetful(SignalingServer):
    """Never tells anyone that a peer left."""

    async def _notify(self, room_name: str, peer: str, kind: str) -> None:
        if kind != "peer-left":
            await super()._notify(room_name, peer, kind)


class NoPeerList(SignalingServer):
    """Answers join without listing who is there."""

    async def _send(self, client: _Client, message: dict[str, Any]) -> None:
        if message.get("type") == "joined":
            message = {**message, "peers": []}
        await super()._send(client, message)


# rule -> (the server broken for it, the words its failure must say: the fault, not a crash)
BROKEN: dict[str, tuple[type[SignalingServer], str]] = {
    "signaling.join": (NoPeerList, "joined lists peers [], expected ['alice']"),
    "signaling.relay": (NoFrom, '"from": "mallory"}, expected'),
    "signaling.isolation": (Leaky, "sdp='red', expected 'blue'"),
    "signaling.errors": (Silent, "for a 'error' message; nothing came"),
    "signaling.leave": (Forgetful, "for a 'peer-left' message; nothing came"),
}


def test_every_rule_has_a_broken_server() -> None:
    assert set(BROKEN) == set(CHECKS)


@pytest.mark.parametrize("rule", sorted(BROKEN))
async def test_each_rule_fails_on_a_server_broken_for_it(rule: str) -> None:
    server_class, words = BROKEN[rule]
    async with server_class() as server:
        result = await run_check(rule, server.url)
    assert result.outcome == "fail" and words in result.detail, result


async def test_our_server_passes_every_rule() -> None:
    async with SignalingServer() as server:
        results = [await run_check(rule, server.url) for rule in CHECKS]
    assert [r.outcome for r in results] == ["pass"] * len(CHECKS), results


def test_the_shipped_suite_through_an_external_url(pytester: pytest.Pytester) -> None:
    """The suite against a signaling server in another process, given by URL."""
    pytester.makeini("[pytest]\naddopts = -p no:benchmark\nasyncio_default_fixture_loop_scope = function\n")
    shutil.copytree(ROOT / "scenarios" / "conformance" / "signaling", pytester.path / "suite")
    server = subprocess.Popen(
        [sys.executable, "-m", "pytest_webrtc", "signaling-server", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert server.stdout is not None
        url = read_line(server).split("listening: ")[1].split()[0]
        result = pytester.runpytest_subprocess("suite", "--webrtc-signaling-url", url)
        cli = subprocess.run(
            [sys.executable, "-m", "pytest_webrtc", "conformance", "signaling", url],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.terminate()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*WebRTC conformance*", "PASS  signaling.errors*", "5 pass"])
    assert cli.returncode == 0 and cli.stdout.splitlines()[-1] == "5 passed, 0 failed, 0 warned, 0 info, 0 skipped"


def test_signaling_url_must_be_a_websocket_url(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:benchmark\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest("--webrtc-signaling-url", "http://example.invalid")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--webrtc-signaling-url: expected ws://HOST:PORT*"])
