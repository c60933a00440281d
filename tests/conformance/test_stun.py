"""STUN conformance: our server passes, coturn passes, and each rule fails on a server broken for it."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from pytest_webrtc.conformance.stun import CHECKS, StunTarget, run_check
from pytest_webrtc.coturn import coturn_stun_command, free_udp_port, wait_for_stun
from pytest_webrtc.stun import Message, MessageClass, decode
from pytest_webrtc.stun.auth import ShortTermAuth
from pytest_webrtc.stun.server import StunServer

from ..process_helpers import read_line

Address = tuple[str, int]


class BrokenStun(asyncio.DatagramProtocol):
    """A STUN 'server' with one deliberate fault; otherwise it answers Binding requests correctly."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.seen: set[bytes] = set()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            request = decode(data)
        except Exception:
            if self.fault == "answers-garbage":
                self.transport.sendto(
                    Message(1, MessageClass.SUCCESS, data[8:20])
                    .add("XOR-MAPPED-ADDRESS", addr)
                    .encode(fingerprint=True),
                    addr,
                )
            return
        if self.fault == "no-retransmit-answer" and request.transaction_id in self.seen:
            return
        self.seen.add(request.transaction_id)
        tid = request.transaction_id if self.fault != "wrong-tid" else bytes(12)
        mapped = addr if self.fault != "wrong-mapped" else (addr[0], addr[1] ^ 1)
        response = Message(1, MessageClass.SUCCESS, tid).add("XOR-MAPPED-ADDRESS", mapped)
        if self.fault == "claims-5780":
            response.add("OTHER-ADDRESS", ("127.0.0.2", 3479)).add("RESPONSE-ORIGIN", ("127.0.0.1", 3478))
        self.transport.sendto(response.encode(fingerprint=self.fault != "no-fingerprint"), addr)


# rule -> (the fault that must break it, target options)
BROKEN = {
    "stun.binding-udp": ("wrong-mapped", {}),
    "stun.binding-ipv6": ("wrong-mapped", {"ipv6": True}),
    "stun.transaction-id": ("wrong-tid", {}),
    "stun.fingerprint": ("no-fingerprint", {}),
    "stun.unknown-attribute": ("ignores-unknown", {}),
    "stun.malformed-length": ("answers-garbage", {}),
    "stun.bad-fingerprint": ("none", {}),  # it never checks FINGERPRINT: a wrong one gets a success
    "stun.integrity": ("ignores-credentials", {"username": "u", "password": "p"}),
    "stun.rfc5780": ("claims-5780", {"rfc5780": True}),
    "stun.retransmission": ("no-retransmit-answer", {}),
}


@pytest.fixture
async def broken() -> AsyncIterator[Any]:
    transports = []

    async def start(fault: str, host: str = "127.0.0.1") -> Address:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: BrokenStun(fault), local_addr=(host, 0))
        transports.append(transport)
        return transport.get_extra_info("sockname")[:2]  # type: ignore[no-any-return]

    yield start
    for transport in transports:
        transport.close()


@pytest.mark.parametrize("rule", sorted(BROKEN))
async def test_each_rule_fails_on_a_server_broken_for_it(rule: str, broken: Any) -> None:
    fault, options = BROKEN[rule]
    ipv6 = options.pop("ipv6", False)
    address = await broken(fault, "::1" if ipv6 else "127.0.0.1")
    target = StunTarget(address, **options, timeout=0.6)
    result = await run_check(rule, target)
    assert result.outcome == "fail", result
    if fault != "wrong-tid":  # a wrong transaction id breaks every exchange; other faults leave the rest working
        correct = await run_check("stun.transaction-id", target)
        assert correct.outcome == "pass", correct  # the server is otherwise fine: the rule found its fault


async def test_malformed_attribute_is_a_should_and_only_warns(broken: Any) -> None:
    result = await run_check("stun.malformed-attribute", StunTarget(await broken("answers-garbage"), timeout=0.6))
    assert result.outcome == "warn" and result.ok


async def test_binding_tcp_fails_without_a_tcp_server(broken: Any) -> None:
    result = await run_check("stun.binding-tcp", StunTarget(await broken("none"), timeout=0.6))
    assert result.outcome == "fail" and "cannot connect to tcp" in result.detail


async def test_our_server_passes_every_rule() -> None:
    async with StunServer("127.0.0.1", other_host="127.0.0.2", auth=ShortTermAuth("u", "p")) as server:
        assert server.udp_address is not None
        target = StunTarget(server.udp_address, username="u", password="p", rfc5780=True)
        results = [await run_check(rule, target) for rule in CHECKS]
    outcomes = {r.rule: r.outcome for r in results}
    assert outcomes.pop("stun.binding-ipv6") == "skip"
    assert set(outcomes.values()) == {"pass"}, results


@pytest.fixture
def coturn() -> Iterator[Address]:
    if shutil.which("turnserver") is None:
        pytest.skip("coturn is not installed (apt-get install coturn)")
    port = free_udp_port()
    workdir = tempfile.mkdtemp()
    proc = subprocess.Popen(
        coturn_stun_command(port, workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for_stun(port, process=proc)
        yield ("127.0.0.1", port)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_shipped_suite_passes_against_coturn(coturn: Address, pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:benchmark\nasyncio_default_fixture_loop_scope = function\n")
    suite = pytester.path / "suite"
    shutil.copytree(ROOT / "scenarios" / "conformance" / "stun", suite)
    result = pytester.runpytest_subprocess(
        "suite", "--webrtc-stun-server", f"{coturn[0]}:{coturn[1]}", "--junitxml", "junit.xml"
    )
    result.assert_outcomes(passed=len(list(suite.glob("*.yaml"))))
    result.stdout.fnmatch_lines(
        [
            "*WebRTC conformance*",
            "PASS  stun.binding-udp *RFC 8489 §7.3.1*",
            "WARN  stun.malformed-attribute *got a success response",
            "PASS  stun.unknown-attribute *RFC 8489 §6.3.1.1*420 listing 0x7FF0",
            "8 pass, 1 warn, 3 skip",
        ]
    )
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="binding_udp"' in junit and 'name="stun.binding-udp" value="pass: RFC 8489 §7.3.1:' in junit


def test_the_shipped_suite_fails_against_a_broken_server_naming_the_rule(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:benchmark\nasyncio_default_fixture_loop_scope = function\n")
    suite = pytester.path / "suite"
    shutil.copytree(ROOT / "scenarios" / "conformance" / "stun", suite)
    server = subprocess.Popen([sys.executable, "-c", BROKEN_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(read_line(server))
        result = pytester.runpytest_subprocess(
            "suite/binding_udp.yaml", "suite/fingerprint.yaml", "--webrtc-stun-server", f"127.0.0.1:{port}"
        )
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*step 1 (stun-conformance, line 7): stun.binding-udp (RFC 8489 §7.3.1): XOR-MAPPED-ADDRESS * is not our source*",
            "FAIL  stun.fingerprint *RFC 8489 §14.7*no FINGERPRINT in the response to a request that carried one",
        ]
    )


def test_cli_runs_the_suite_without_any_pytest_configuration() -> None:
    async def main() -> subprocess.CompletedProcess[str]:
        async with StunServer("127.0.0.1") as server:
            assert server.udp_address is not None
            return await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "pytest_webrtc", "conformance", "stun", f"127.0.0.1:{server.udp_address[1]}"],
                capture_output=True,
                text=True,
                timeout=60,
            )

    result = asyncio.run(main())
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "9 passed, 0 failed, 0 warned, 3 skipped"


ROOT = __import__("pathlib").Path(__file__).parent.parent.parent
# A server that maps every client to the wrong port and never adds FINGERPRINT, in its own process.
BROKEN_SERVER = """
import socket
from pytest_webrtc.stun import Message, MessageClass, decode
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
sock.settimeout(60)
while True:
    data, addr = sock.recvfrom(2048)
    try:
        request = decode(data)
    except Exception:
        continue
    reply = Message(1, MessageClass.SUCCESS, request.transaction_id).add("XOR-MAPPED-ADDRESS", (addr[0], addr[1] + 1))
    sock.sendto(reply.encode(), addr)
"""
