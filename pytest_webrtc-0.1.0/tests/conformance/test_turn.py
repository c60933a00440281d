"""TURN conformance: a correct server passes, and each rule fails on a server broken for it alone."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from typing import Any

import pytest

from pytest_webrtc.conformance.turn import CHECKS, RULES, TurnTarget, run_check
from pytest_webrtc.rules import Level

from .turn_server import REALM, broken_turn, self_signed_context

PEER = "127.0.0.2"  # the peer address the test server allows (like coturn's --allowed-peer-ip)

# rule -> (the fault that must break it, claims and server options, the words the failure must say)
BROKEN: dict[str, tuple[str, dict[str, Any], str]] = {
    "turn.allocate-challenge": ("open-relay", {}, "an Allocate without credentials got a success"),
    "turn.allocate": ("unsigned-success", {}, "integrity.missing"),
    "turn.wrong-password": ("ignores-integrity", {}, "signed with a wrong password got a success"),
    "turn.stale-nonce": ("stale-as-401", {}, "got an Allocate error 401 (Unauthorized); expected 438"),
    "turn.allocation-mismatch": ("realloc", {}, "on the same 5-tuple got a success"),
    "turn.requested-transport": ("default-udp", {}, "without REQUESTED-TRANSPORT got a success"),
    "turn.unsupported-transport": ("any-transport-400", {}, "expected 442"),
    "turn.unknown-attribute": ("drops-unknown", {}, "0x7FF0 got no answer"),
    "turn.refresh": ("refresh-lifetime-0", {}, "carries LIFETIME 0"),
    "turn.refresh-delete": ("keeps-deleted", {}, "the allocation still answers"),
    "turn.tcp": ("tcp-500", {"tcp": True}, "over TCP got an Allocate error 500"),
    "turn.tls": ("tcp-500", {"tls": True}, "over TLS got an Allocate error 500"),
    "turn.tcp-allocation": ("", {"tcp_relay": True}, "REQUESTED-TRANSPORT TCP over TCP got an Allocate error 442"),
    "turn.ipv6-relay": ("", {"ipv6_relay": True}, "got an Allocate error 440"),
    "turn.send-data": ("wrong-peer-address", {}, "the Data indication's XOR-PEER-ADDRESS is 127.0.0.2:"),
    "turn.no-permission": ("relays-any-permission", {}, "with a permission for 198.51.100.1 only"),
    "turn.permission-lifetime": ("send-refreshes", {"permission_lifetime": 1.0}, "was still relayed"),
    "turn.channel": ("channel-as-data", {}, "came back as a Data indication, not as ChannelData"),
    "turn.channel-range": ("wide-channels", {}, "channel number 0x5000 got a success"),
    "turn.channel-rebind": ("rebinds", {}, "rebinding channel 0x4001 to 198.51.100.1:10 got a success"),
    "turn.channel-padding": ("no-padding", {}, "does not pad ChannelData"),
    "turn.relay-loopback": ("mapped-loopback", {}, "CreatePermission to ::ffff:127.0.0.1 succeeded"),
    "turn.amplification": ("big-401", {}, "a reflector for spoofed requests"),
}
# turn.relay-private needs a server inside the harness's namespaces: tests/conformance/test_turn_servers.py


@pytest.fixture(scope="module")
def tls_context() -> Any:
    return self_signed_context(tempfile.mkdtemp(prefix="pytest-webrtc-tls-"))


def _target(server: Any, options: dict[str, Any]) -> TurnTarget:
    claims = {k: v for k, v in options.items() if k in ("tcp", "tcp_relay", "ipv6_relay", "permission_lifetime")}
    if options.get("tls"):
        claims["tls"] = server.tls
    return TurnTarget(server.udp, server.user, server.password, REALM, peer_address=PEER, timeout=1.0, **claims)


def _server_options(options: dict[str, Any], tls_context: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"tls_context": tls_context}
    if "permission_lifetime" in options:
        out["permission_lifetime"] = options["permission_lifetime"]
    return out


@pytest.mark.parametrize("rule", sorted(BROKEN))
async def test_each_rule_fails_on_a_server_broken_for_it(rule: str, tls_context: Any) -> None:
    fault, options, words = BROKEN[rule]
    async with broken_turn(fault, **_server_options(options, tls_context)) as server:
        result = await run_check(rule, _target(server, options))
    assert result.outcome == RULES[rule].level.outcome, result
    assert words in result.detail, result.detail


CLAIMED = {"tcp": True, "tls": True, "permission_lifetime": 1.0}
# What the correct server gives when it claims TCP, TLS and a 1 s permission lifetime: it offers
# no RFC 6062 or IPv6 relays (said as information), and it runs outside the harness's namespaces.
CORRECT = {rule: "pass" for rule in CHECKS} | {
    "turn.tcp-allocation": "info",
    "turn.ipv6-relay": "info",
    "turn.relay-private": "skip",
}


async def test_the_correct_server_passes_every_rule(tls_context: Any) -> None:
    async with broken_turn(**_server_options(CLAIMED, tls_context)) as server:
        target = _target(server, CLAIMED)
        results = {rule: await run_check(rule, target) for rule in CHECKS}
    assert {rule: r.outcome for rule, r in results.items()} == CORRECT, [r.line() for r in results.values()]
    assert "outside the harness's namespaces" in results["turn.relay-private"].detail


async def test_the_fault_list_breaks_one_rule_each(tls_context: Any) -> None:
    """One cause, one rule: a server with one fault fails its rule and no other MUST."""
    claimed = {"tcp": True, "tls": True}
    for rule in ("turn.channel-range", "turn.relay-loopback", "turn.refresh"):
        fault, options, _ = BROKEN[rule]
        async with broken_turn(fault, **_server_options(claimed, tls_context)) as server:
            target = _target(server, claimed)
            failed = [r for name in CHECKS if (r := await run_check(name, target)).failed]
        assert [r.rule for r in failed] == [rule], [r.line() for r in failed]


async def test_without_a_peer_the_relay_rules_say_why_and_never_fail() -> None:
    async with broken_turn() as server:
        # 127.0.0.1 is the default peer of a server on loopback; this one refuses it (403), as it should.
        target = TurnTarget(server.udp, server.user, server.password, timeout=1.0)
        for rule in ("turn.send-data", "turn.no-permission", "turn.channel"):
            result = await run_check(rule, target)
            assert result.outcome == "info", result
            assert "refuses the loopback peer (403), as it should" in result.detail
        far = TurnTarget(("192.0.2.1", 3478), "u", "p", timeout=0.2)  # never contacted: no peer to judge with
        assert far.peer_host() is None


async def test_without_credentials_the_authenticated_rules_are_not_claimed() -> None:
    async with broken_turn() as server:
        target = TurnTarget(server.udp, timeout=1.0)
        challenge = await run_check("turn.allocate-challenge", target)
        allocate = await run_check("turn.allocate", target)
    assert challenge.outcome == "pass"
    assert (allocate.outcome, allocate.detail) == (
        "skip",
        "not claimed: no credentials given for this server (--user, --password)",
    )


async def test_a_dead_server_fails_the_baseline_and_the_rest_cannot_be_judged() -> None:
    async with broken_turn() as server:
        address = server.udp
    target = TurnTarget(address, "u", "p", timeout=0.4)
    challenge = await run_check("turn.allocate-challenge", target)
    mismatch = await run_check("turn.allocation-mismatch", target)
    assert challenge.outcome == "fail" and "no answer from udp" in challenge.detail
    assert mismatch.outcome == "skip" and "see turn.allocate" in mismatch.detail


def test_levels_are_the_rfc_sentences() -> None:
    assert RULES["turn.relay-private"].level == Level.SHOULD
    assert RULES["turn.amplification"].level == Level.MAY
    assert {r.level for rid, r in RULES.items() if rid not in ("turn.relay-private", "turn.amplification")} == {
        Level.MUST
    }


def test_cli_exit_status_follows_the_musts() -> None:
    async def run(fault: str) -> tuple[int, str]:
        async with broken_turn(fault) as server:
            argv = [sys.executable, "-m", "pytest_webrtc", "conformance", "turn", f"127.0.0.1:{server.udp[1]}",
                    "--user", "u", "--password", "p", "--realm", REALM, "--peer-address", PEER, "--timeout", "1"]  # fmt: skip
            proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out, _ = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode or 0, out.decode()

    good, good_out = asyncio.run(run(""))
    bad, bad_out = asyncio.run(run("wide-channels"))
    assert good == 0, good_out
    assert "judged by RFC 8656 (claims: long-term credentials)" in good_out
    assert bad == 1 and "FAIL  turn.channel-range (RFC 8656 §12.2)" in bad_out, bad_out


async def test_a_claimed_ipv6_relay_passes_on_a_server_that_offers_one() -> None:
    async with broken_turn(ipv6_relay=True) as server:
        result = await run_check("turn.ipv6-relay", _target(server, {"ipv6_relay": True}))
    assert result.outcome == "pass" and "an IPv6 relayed address: [::1]:" in result.detail, result


def test_cli_errors_say_what_is_wrong() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest_webrtc", "conformance", "turn", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    for args, words in (
        (("127.0.0.1:3478", "--permission-lifetime", "-2"), "expected a positive number of seconds, got -2"),
        (("127.0.0.1:3478", "--user", "u"), "--user and --password go together"),
        (("127.0.0.1:99999",), "127.0.0.1:99999"),
    ):
        done = run(*args)
        assert done.returncode == 2 and words in done.stderr, (args, done.stderr)


def test_a_host_name_is_resolved_and_an_unknown_one_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """No lookup leaves the machine in the tests: the resolver is replaced."""
    import socket

    from pytest_webrtc.conformance.command import resolved
    from pytest_webrtc.errors import HarnessConfigError

    def fake(host: str, port: int, family: int = 0, kind: int = 0) -> list[tuple[object, ...]]:
        if host == "turn.example":
            return [
                (socket.AF_INET6, kind, 0, "", ("2001:db8::1", port, 0, 0)),
                (socket.AF_INET, kind, 0, "", ("192.0.2.7", port)),
            ]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    assert resolved(("turn.example", 3478)) == ("192.0.2.7", 3478)  # IPv4 first
    assert resolved(("127.0.0.1", 3478)) == ("127.0.0.1", 3478)  # an address is not looked up
    with pytest.raises(HarnessConfigError, match="cannot resolve 'nowhere.example': Name or service not known"):
        resolved(("nowhere.example", 3478))
