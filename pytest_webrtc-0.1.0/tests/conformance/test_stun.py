"""STUN conformance: our server passes, coturn passes, and each rule fails on a server broken for it."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from pytest_webrtc.conformance.stun import CHECKS, StunTarget, run_check
from pytest_webrtc.coturn import coturn_stun_command, free_udp_port, wait_for_stun
from pytest_webrtc.stun import Message, MessageClass, check, decode
from pytest_webrtc.stun.auth import ShortTermAuth
from pytest_webrtc.stun.credentials import short_term_key
from pytest_webrtc.stun.server import StunServer

from ..process_helpers import read_line

Address = tuple[str, int]


class BrokenStun(asyncio.DatagramProtocol):
    """A STUN 'server' with one deliberate fault; otherwise it answers Binding requests correctly
    (XOR-MAPPED-ADDRESS, FINGERPRINT when the request had one, RFC 3489 clients with MAPPED-ADDRESS)."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.seen: set[bytes] = set()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def _drops(self, data: bytes, request: Message) -> bool:
        types = {a.type for a in request.attributes}
        lengths = [len(a.raw or b"") for a in request.attributes]
        return (
            (self.fault == "drops-odd-length" and any(n % 4 for n in lengths))
            or (self.fault == "drops-nonzero-padding" and any(set(a.padding or b"") - {0} for a in request.attributes))
            or (self.fault == "drops-software" and 0x8022 in types)
            or (self.fault == "drops-unknown" and any(t < 0x8000 and t not in (0x0006, 0x0008, 0x0003) for t in types))
            or (self.fault == "drops-unknown-optional" and 0xBFF0 in types)
            or (self.fault == "drops-classic" and request.is_classic)
            or (self.fault == "no-retransmit-answer" and request.transaction_id in self.seen)
        )

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
        if self._drops(data, request):
            return
        if self.fault == "unsigned-success" and check(data, key=short_term_key("p")):
            error = Message(1, MessageClass.ERROR, request.transaction_id).add("ERROR-CODE", (401, "Unauthorized"))
            self.transport.sendto(error.encode(), addr)  # a wrong MESSAGE-INTEGRITY is refused, as it must be...
            return  # ...but the right one below gets a success without MESSAGE-INTEGRITY
        fp = request.find("FINGERPRINT")
        if fp is not None and self.fault != "ignores-bad-fingerprint" and check(data, require_fingerprint=True):
            return  # a wrong FINGERPRINT: not STUN, silently discarded (RFC 8489 §7.3)
        self.seen.add(request.transaction_id)
        tid = request.transaction_id if self.fault != "wrong-tid" else bytes(12)
        if request.is_classic:
            response = Message(1, MessageClass.SUCCESS, tid, cookie=request.cookie)
            if self.fault == "xor-only-classic":
                response = Message(1, MessageClass.SUCCESS, tid).add("XOR-MAPPED-ADDRESS", addr)
            else:
                response.add("MAPPED-ADDRESS", addr)
            self.transport.sendto(response.encode(), addr)
            return
        if 0x7FF0 in {a.type for a in request.attributes} and self.fault != "ignores-unknown":
            error = Message(1, MessageClass.ERROR, tid).add("ERROR-CODE", (420, "Unknown Attribute"))
            self.transport.sendto(error.add("UNKNOWN-ATTRIBUTES", [0x7FF0]).encode(), addr)
            return
        mapped = addr if self.fault != "wrong-mapped" else (addr[0], addr[1] ^ 1)
        response = Message(1, MessageClass.SUCCESS, tid).add("XOR-MAPPED-ADDRESS", mapped)
        if self.fault == "claims-5780":
            response.add("OTHER-ADDRESS", ("127.0.0.2", 3479)).add("RESPONSE-ORIGIN", ("127.0.0.1", 3478))
        fingerprint = "FINGERPRINT" in request and self.fault != "no-fingerprint"
        encoded = response.encode(fingerprint=fingerprint or self.fault == "always-fingerprint")
        if self.fault == "bad-response-fingerprint" and fingerprint:
            encoded = encoded[:-1] + bytes([encoded[-1] ^ 0xFF])
        if self.fault == "answers-from-elsewhere":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
                other.sendto(encoded, addr)
            return
        self.transport.sendto(encoded, addr)


# rule -> (the fault that must break it, target options, the words the failure must say)
BROKEN = {
    "stun.binding-udp": ("wrong-mapped", {}, "is not our source"),
    "stun.binding-ipv6": ("wrong-mapped", {"ipv6": True}, "is not our source"),
    "stun.transaction-id": ("wrong-tid", {}, "transaction ids that do not match the request's"),
    "stun.fingerprint": ("bad-response-fingerprint", {}, "fingerprint.mismatch"),
    "stun.bad-fingerprint": ("ignores-bad-fingerprint", {}, "a request with a wrong FINGERPRINT got a success"),
    "stun.attribute-padding": ("drops-odd-length", {}, "SOFTWARE is 25 bytes long"),
    "stun.software": ("drops-software", {}, "no answer to a request with SOFTWARE"),
    "stun.unknown-attribute": ("ignores-unknown", {}, "answered with a BINDING success; expected 420"),
    "stun.unknown-optional-attribute": ("drops-unknown-optional", {}, "comprehension-optional 0xBFF0"),
    "stun.malformed-length": ("answers-garbage", {}, "got a success response"),
    "stun.integrity": ("ignores-credentials", {"username": "u", "password": "p"}, "expected 401"),
    "stun.rfc5780": ("claims-5780", {"rfc5780": True}, "OTHER-ADDRESS says"),
    "stun.retransmission": ("no-retransmit-answer", {}, "the retransmission got no answer"),
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
    fault, options, words = BROKEN[rule]
    options = dict(options)
    ipv6 = options.pop("ipv6", False)
    address = await broken(fault, "::1" if ipv6 else "127.0.0.1")
    target = StunTarget(address, **options, timeout=0.6)
    result = await run_check(rule, target)
    assert result.outcome == "fail", result
    assert words in result.detail, result
    if fault != "wrong-tid":  # a wrong transaction id breaks every exchange; other faults leave the rest working
        correct = await run_check("stun.transaction-id", target)
        assert correct.outcome == "pass", correct  # the server is otherwise fine: the rule found its fault


@pytest.mark.parametrize("rule", sorted(set(CHECKS) - {"stun.binding-tcp"}))
async def test_every_rule_passes_or_is_not_claimed_on_a_correct_server(rule: str, broken: Any) -> None:
    target = StunTarget(await broken("none"), timeout=0.6)
    result = await run_check(rule, target)
    expected = "skip" if rule in ("stun.binding-ipv6", "stun.integrity", "stun.rfc5780") else "pass"
    assert result.outcome == expected, result


async def test_one_defect_is_one_rule(broken: Any) -> None:
    """A server that cannot parse odd-length attributes fails attribute-padding, and nothing else."""
    target = StunTarget(await broken("drops-odd-length"), timeout=0.6)
    outcomes = {rule: (await run_check(rule, target)).outcome for rule in CHECKS}
    assert {rule for rule, outcome in outcomes.items() if outcome == "fail"} == {"stun.attribute-padding"}


async def test_non_zero_padding_bytes_are_judged_too(broken: Any) -> None:
    """The fault hides where a lazy check would not look: zero padding is fine, spaces are dropped."""
    result = await run_check("stun.attribute-padding", StunTarget(await broken("drops-nonzero-padding"), timeout=0.6))
    assert result.outcome == "fail" and "padded with non-zero bytes" in result.detail, result


async def test_a_dropped_unknown_attribute_is_named_as_such(broken: Any) -> None:
    result = await run_check("stun.unknown-attribute", StunTarget(await broken("drops-unknown"), timeout=0.6))
    assert result.outcome == "fail" and "dropped a request with attribute 0x7FF0, no 420" in result.detail, result


async def test_an_answer_from_another_address_is_named(broken: Any) -> None:
    result = await run_check("stun.binding-udp", StunTarget(await broken("answers-from-elsewhere"), timeout=0.6))
    assert result.outcome == "fail" and "answered from 127.0.0.1:" in result.detail, result


async def test_a_wrong_transaction_id_is_one_failure_and_the_rest_cannot_be_judged(broken: Any) -> None:
    target = StunTarget(await broken("wrong-tid"), timeout=0.4)
    outcomes = {
        rule: (await run_check(rule, target)) for rule in ("stun.binding-udp", "stun.software", "stun.transaction-id")
    }
    assert outcomes["stun.transaction-id"].outcome == "fail"
    assert outcomes["stun.binding-udp"].outcome == outcomes["stun.software"].outcome == "skip"
    assert "see stun.transaction-id" in outcomes["stun.software"].detail


async def test_an_unsigned_answer_to_the_right_credentials_fails_integrity(broken: Any) -> None:
    """The fault hides behind a correct 401: only the answer to the well-signed request is wrong."""
    target = StunTarget(await broken("unsigned-success"), username="u", password="p", timeout=0.6)
    result = await run_check("stun.integrity", target)
    assert result.outcome == "fail" and "integrity.missing" in result.detail, result


async def test_fingerprint_is_information_unless_claimed(broken: Any) -> None:
    address = await broken("no-fingerprint")
    unclaimed = await run_check("stun.fingerprint", StunTarget(address, timeout=0.6))
    assert unclaimed.outcome == "info" and unclaimed.ok, unclaimed
    for claimed in (StunTarget(address, timeout=0.6, profile="webrtc"), StunTarget(address, claims_fingerprint=True)):
        result = await run_check("stun.fingerprint", claimed)
        assert result.outcome == "fail" and "no FINGERPRINT in the response" in result.detail, result


async def test_classic_clients_are_a_should(broken: Any) -> None:
    for fault, words in (
        ("drops-classic", "does not answer an RFC 3489 client"),
        ("xor-only-classic", "no MAPPED-ADDRESS"),
    ):
        result = await run_check("stun.classic-client", StunTarget(await broken(fault), timeout=0.6))
        assert result.outcome == "warn" and result.ok and words in result.detail, result


async def test_malformed_attribute_is_a_should_and_only_warns(broken: Any) -> None:
    result = await run_check("stun.malformed-attribute", StunTarget(await broken("answers-garbage"), timeout=0.6))
    assert result.outcome == "warn" and result.ok


async def test_binding_tcp_fails_without_a_tcp_server(broken: Any) -> None:
    address = await broken("none")
    unclaimed = await run_check("stun.binding-tcp", StunTarget(address, timeout=0.6))
    assert unclaimed.outcome == "info" and "no TCP listener" in unclaimed.detail, unclaimed
    result = await run_check("stun.binding-tcp", StunTarget(address, timeout=0.6, claims_tcp=True))
    assert result.outcome == "fail" and "cannot connect to tcp" in result.detail


async def test_our_server_passes_every_rule() -> None:
    async with StunServer("127.0.0.1", other_host="127.0.0.2", auth=ShortTermAuth("u", "p")) as server:
        assert server.udp_address is not None
        target = StunTarget(server.udp_address, username="u", password="p", rfc5780=True)
        results = [await run_check(rule, target) for rule in CHECKS]
    outcomes = {r.rule: r.outcome for r in results}
    assert outcomes.pop("stun.binding-ipv6") == "skip"
    assert outcomes.pop("stun.classic-client") == "info"  # it requires credentials, which RFC 3489 clients lack
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
    # Three rules coturn is not asked for here (IPv6, credentials, RFC 5780) cannot be judged: skipped.
    result.assert_outcomes(passed=len(list(suite.glob("*.yaml"))) - 3, skipped=3)
    result.stdout.fnmatch_lines(
        [
            "*WebRTC conformance*",
            "PASS  stun.binding-udp *RFC 8489 §12*",
            "PASS  stun.classic-client *RFC 3489 client answered with MAPPED-ADDRESS*",
            "WARN  stun.malformed-attribute *got a success response",
            "PASS  stun.unknown-attribute *RFC 8489 §6.3.1.1*420 listing 0x7FF0",
            "12 pass, 1 warn, 3 skip",
        ]
    )
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="binding_udp"' in junit and 'name="stun.binding-udp" value="pass: RFC 8489 §12:' in junit
    assert 'name="webrtc.stun-profile" value="rfc8489"' in junit


def test_the_shipped_suite_fails_against_a_broken_server_naming_the_rule(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:benchmark\nasyncio_default_fixture_loop_scope = function\n")
    suite = pytester.path / "suite"
    shutil.copytree(ROOT / "scenarios" / "conformance" / "stun", suite)
    server = subprocess.Popen([sys.executable, "-c", BROKEN_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(read_line(server))
        result = pytester.runpytest_subprocess(
            "suite/binding_udp.yaml",
            "suite/fingerprint.yaml",
            "--webrtc-stun-server",
            f"127.0.0.1:{port}",
            "--webrtc-stun-profile",
            "webrtc",
        )
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*step 1 (stun-conformance, line 7): stun.binding-udp (RFC 8489 §12): XOR-MAPPED-ADDRESS * is not our source*",
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
    assert result.stdout.splitlines()[0] == "judged by the profile rfc8489 (claims: none)"
    assert result.stdout.splitlines()[-1] == "13 passed, 0 failed, 0 warned, 0 info, 3 skipped"


ROOT = __import__("pathlib").Path(__file__).parent.parent.parent
# A server that maps every client to the wrong port and never adds FINGERPRINT, in its own process.
BROKEN_SERVER = """
import socket
from pytest_webrtc.stun import Message, MessageClass, check, decode
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


def test_a_rule_that_cannot_be_judged_is_a_skipped_item_not_a_pass(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:benchmark\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makefile(
        ".yaml",
        unclaimed="scenario: x\nsteps:\n  - stun-conformance: {rule: stun.rfc5780}\n",  # built-in, no other-host
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*stun.rfc5780: not claimed: the server does not claim RFC 5780 support*", "*1 skip*"])


def test_the_claims_named_are_the_claims_judged() -> None:
    assert StunTarget(("127.0.0.1", 3478)).claims() == []
    webrtc = StunTarget(("127.0.0.1", 3478), profile="webrtc", claims_tcp=True)
    assert webrtc.claims() == ["tcp", "fingerprint"] and webrtc.tcp_claimed and webrtc.fingerprint_claimed
    given = StunTarget(("127.0.0.1", 3478), tcp=("127.0.0.1", 3479), ipv6=("::1", 3478), username="u", rfc5780=True)
    assert given.claims() == ["tcp", "ipv6", "rfc5780", "short-term credentials"]
