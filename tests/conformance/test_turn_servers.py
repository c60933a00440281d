"""Calibration: the TURN suite's verdicts on real servers, held to what is true of each (tests/data).

coturn 4.6.1 (Debian) in four set-ups, node-turn 0.0.6 (npm) and a server on Pion's pion/turn 2.1.0
(Debian's source, interop/pion/src/pion-turn).  Each surprising verdict was
decided by reading the server's source and RFC 8656 (docs/ci.md, "Judging your TURN server").
The relay rules need a peer the server may reach: coturn refuses loopback peers, so its runs use
a decoy host in a namespace (relay address on the machine's end of the veth), or run coturn itself
inside a namespace with a decoy behind it — the only set-up where the private-address probes run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_webrtc.certificates import self_signed
from pytest_webrtc.conformance.turn import CHECKS, TurnTarget, run_check
from pytest_webrtc.coturn import CoturnTurn
from pytest_webrtc.nat.decoy import Decoy
from pytest_webrtc.nat.netns import PREFIX, cannot_build_namespaces, leftover_namespaces

from .real_servers import STUN_SERVERS, _need, _need_npm, _running, assert_every_verdict_given, assert_verdicts

VERDICTS = json.loads((Path(__file__).parent.parent / "data" / "turn_verdicts.json").read_text())
CASES = [(server, run) for server, runs in VERDICTS.items() for run in runs]
DENIED = ("10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255", "192.168.0.0-192.168.255.255",
          "169.254.0.0-169.254.255.255")  # fmt: skip


def _root() -> None:
    why = cannot_build_namespaces()
    if why:
        pytest.skip(why)


@contextlib.contextmanager
def coturn(run: str) -> Iterator[TurnTarget]:
    """coturn set up as ``run`` says, and the target that judges it."""
    _need("turnserver", "apt-get install coturn")
    if run == "allow-loopback-peers":  # on loopback, peers on loopback: the security rule must catch it
        with CoturnTurn(extra=("--allow-loopback-peers",)) as server:
            yield TurnTarget(server.address, server.user, server.password, server.realm, tcp=True)
        return
    _root()
    if run == "default":  # as shipped, plus a TLS listener; a decoy peer beside the machine
        with Decoy() as decoy, CoturnTurn(relay_ip=decoy.machine_side, tls=self_signed(tempfile.mkdtemp())) as server:
            yield TurnTarget(server.address, server.user, server.password, server.realm, tcp=True,
                             tls=server.tls_address, decoy=decoy)  # fmt: skip
        return
    extra = ("--permission-lifetime=2", *(f"--denied-peer-ip={r}" for r in DENIED)) if run == "contained-denied" else ()
    with Decoy(contained=True) as decoy:
        assert decoy.server is not None
        with CoturnTurn(namespace=decoy.server.name, listening_ip=decoy.server_side, extra=extra) as server:
            yield TurnTarget(server.address, server.user, server.password, server.realm, tcp=True, decoy=decoy,
                             contained=True, permission_lifetime=2 if extra else None)  # fmt: skip


@contextlib.contextmanager
def node_turn(run: str) -> Iterator[TurnTarget]:
    _need("node", "apt-get install nodejs")
    _need_npm("node-turn")
    from pytest_webrtc.coturn import free_udp_port

    port = free_udp_port()
    with _running(["node", "node-turn.cjs", "127.0.0.1", str(port), "u", "p"], port, STUN_SERVERS) as address:
        yield TurnTarget(address, "u", "p")


PION_TURN = Path(__file__).parent.parent.parent / "interop" / "pion" / "bin" / "pion-turn"


@contextlib.contextmanager
def pion_turn(run: str) -> Iterator[TurnTarget]:
    """A TURN server on Pion's pion/turn v2 2.1.0 (Debian's source; interop/pion/src/pion-turn, built by
    setup.sh): UDP and TCP on one loopback port, long-term credentials, pion/turn's default permission
    handler (it admits every peer)."""
    _need(str(PION_TURN), "setup.sh builds it from Debian's golang-github-pion-turn.v2-dev")
    from pytest_webrtc.coturn import free_udp_port

    port = free_udp_port()
    argv = [str(PION_TURN), "-listen", f"127.0.0.1:{port}", "-user", "u", "-password", "p", "-realm", "pion"]
    with _running(argv, port) as address:
        yield TurnTarget(address, "u", "p", "pion", tcp=True)


LAUNCHERS: dict[str, Any] = {"coturn": coturn, "node-turn": node_turn, "pion-turn": pion_turn}


def test_every_server_and_rule_has_an_expected_verdict() -> None:
    assert_every_verdict_given(VERDICTS, LAUNCHERS, CHECKS)


@pytest.mark.parametrize(("server", "run"), CASES, ids=[f"{s}-{r}" for s, r in CASES])
def test_the_suite_tells_the_truth_about_a_real_turn_server(server: str, run: str) -> None:
    expected = VERDICTS[server][run]
    with LAUNCHERS[server](run) as target:

        async def judge_all() -> dict[str, Any]:
            return {rule: await run_check(rule, target) for rule in CHECKS}

        found = asyncio.run(judge_all())
    assert_verdicts(found, expected)


def test_private_address_probes_run_only_inside_the_harnesss_namespaces() -> None:
    """Beside the machine (not contained), turn.relay-private is skipped and says why; nothing is probed."""
    with coturn("default") as target:
        result = asyncio.run(run_check("turn.relay-private", target))
    assert result.outcome == "skip"
    assert "run only against a server inside a namespace the harness built" in result.detail
    assert TurnTarget(("127.0.0.1", 1), contained=True).decoy is None  # claimed contained, but no decoy: still skipped
    assert asyncio.run(run_check("turn.relay-private", TurnTarget(("127.0.0.1", 1), contained=True))).outcome == "skip"


def test_decoys_leave_no_namespace_behind_even_when_the_run_fails() -> None:
    _root()

    def mine() -> set[str]:  # this process's: the other xdist worker builds and removes its own meanwhile
        return {name for name in leftover_namespaces() if name.startswith(f"{PREFIX}{os.getpid()}-")}

    before = mine()
    with pytest.raises(RuntimeError, match="boom"), Decoy(contained=True) as decoy:
        assert decoy.server is not None and decoy.server.name in mine()
        raise RuntimeError("boom")
    assert mine() == before


@pytest.mark.parametrize(("run", "outcome"), [("contained", "warn"), ("contained-denied", "pass")])
def test_relay_private_warns_on_coturn_as_shipped_and_passes_with_denied_ranges(run: str, outcome: str) -> None:
    """coturn relays into private and link-local networks unless told not to (--denied-peer-ip): a SHOULD."""
    with coturn(run) as target:
        result = asyncio.run(run_check("turn.relay-private", target))
    assert result.rule == "turn.relay-private" and result.outcome == outcome, result
    if outcome == "warn":
        for address in ("10.99.0.2", "172.16.99.2", "192.168.99.2", "169.254.99.2", "169.254.169.254"):
            assert f"relayed our data to {address}:" in result.detail


def test_docs_ci_gives_each_servers_true_counts() -> None:
    text = (Path(__file__).parent.parent.parent / "docs" / "ci.md").read_text()
    text = text.split("### What real TURN servers get")[1].split("\n## ")[0]
    rows = {("coturn", "default"): "(`default`)", ("coturn", "allow-loopback-peers"): "`--allow-loopback-peers`",
            ("coturn", "contained"): "(`contained`)", ("coturn", "contained-denied"): "--denied-peer-ip",
            ("node-turn", "default"): "node-turn 0.0.6", ("pion-turn", "default"): "pion/turn 2.1.0"}  # fmt: skip
    assert set(rows) == set(CASES)
    words = {"pass": "pass", "fail": "FAIL", "warn": "warn", "info": "info", "skip": "skip"}
    for (server, run), shown in rows.items():
        row = next(line for line in text.splitlines() if line.startswith("| ") and shown in line)
        outcomes = list(VERDICTS[server][run]["outcomes"].values())
        counts = ", ".join(f"{outcomes.count(o)} {w}" for o, w in words.items() if outcomes.count(o))
        assert f"| {counts} |" in row, (server, run, counts, row)


def test_coturn_on_a_port_taken_meanwhile_starts_again_on_another(monkeypatch: pytest.MonkeyPatch) -> None:
    """coturn cannot bind port 0: a port another process took after we chose it is retried, not a 10 s hang."""
    import socket

    import pytest_webrtc.coturn as coturn_module

    _need("turnserver", "apt-get install coturn")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        ports = iter([taken.getsockname()[1]])
        original = coturn_module.free_udp_port
        monkeypatch.setattr(coturn_module, "free_udp_port", lambda: next(ports, None) or original())
        server = CoturnTurn()
        assert server.port == taken.getsockname()[1]
        started = time.monotonic()
        with server:
            assert server.port != taken.getsockname()[1]
        assert time.monotonic() - started < 5
