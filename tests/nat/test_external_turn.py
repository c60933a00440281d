"""The NAT scenarios relay through another project's TURN server: --webrtc-turn-server in place of the built-in coturn.

The "other project's" server here is coturn in the machine's namespace on an address of a veth the
test makes (198.18.M.1), started as a deployment would be: relay address = listening address, and
the peers' unreachable ranges denied (their private host addresses, the topology's public
network), so that nothing it relays can leave the machine.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_webrtc.coturn import CoturnTurn
from pytest_webrtc.nat.decoy import Decoy

ROOT = Path(__file__).parent.parent.parent
INI = "[pytest]\naddopts = -p no:benchmark\nasyncio_default_fixture_loop_scope = function\n"
DENIED = ("10.0.0.0-10.255.255.255", "198.51.100.0-198.51.100.255", "203.0.113.0-203.0.113.255")


@pytest.fixture
def your_coturn(netns_capable: None) -> Iterator[CoturnTurn]:
    if shutil.which("turnserver") is None:
        pytest.skip("coturn is not installed (apt-get install coturn)")
    with Decoy() as link:  # only for an address of this machine that is not loopback
        extra = ("--fingerprint", *(f"--denied-peer-ip={r}" for r in DENIED))
        with CoturnTurn(listening_ip=link.machine_side, user="yours", password="s3cret", extra=extra) as server:
            yield server


def test_symmetric_nats_connect_through_your_turn_server(pytester: pytest.Pytester, your_coturn: CoturnTurn) -> None:
    pytester.makeini(INI)
    shutil.copy(ROOT / "scenarios" / "nat" / "symmetric_both_turn.yaml", pytester.path / "relay.yaml")
    host, port = your_coturn.address
    result = pytester.runpytest_subprocess(
        "relay.yaml", "-vv", "--webrtc-turn-server", f"{host}:{port}", "--webrtc-turn-credentials", "yours:s3cret"
    )
    result.assert_outcomes(passed=1)
    # ICE picked relay <-> relay at your server; both peers allocated there (the credential flow judged
    # on the wire) and the data crossed it as ChannelData, with no violation.
    result.stdout.fnmatch_lines(
        [
            f"*expect-peer*alice: selected pair relay {host}:* -> relay {host}:*",
            f"*expect-wire*TURN: 198.51.100.6:* relayed at {host}:*, 198.51.100.10:* relayed at {host}:*"
            "0 violation(s)*turn-channel*",
        ]
    )


def test_your_turn_server_on_loopback_cannot_serve_a_topology(pytester: pytest.Pytester, netns_capable: None) -> None:
    pytester.makeini(INI)
    shutil.copy(ROOT / "scenarios" / "nat" / "symmetric_both_turn.yaml", pytester.path / "relay.yaml")
    result = pytester.runpytest_subprocess("relay.yaml", "--webrtc-turn-server", "127.0.0.1:3478")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*servers.turn.address 127.0.0.1:3478: the topology's peers reach this machine*"])


PION_TURN = ROOT / "interop" / "pion" / "bin" / "pion-turn"
PION_BEHIND_NATS = """\
scenario: Pion and aiortc behind symmetric NATs, relayed by a TURN server on Pion
topology: {alice: symmetric, bob: symmetric}
servers: {turn: {}}
peers:
  alice: {}
  bob: {stack: pion}
steps:
  - join: {peers: [bob, alice], timeout: 20}
  - offer: {from: alice, to: bob}
  - answer: {from: bob, to: alice}
  - candidates: {between: [alice, bob], expect: {alice: {relay: 1}, bob: {relay: 1}}}
  - wait: {peers: alice, connection: connected}
  - data: {from: alice, to: bob, send: "relayed by pion/turn to pion"}
  - expect-peer: {peer: alice, selected-pair: {any: relay}}
  - expect-wire: {turn-allocations: 2, packets: {turn-channel: ">=4"}}
"""


def test_pion_calls_through_a_turn_server_on_pion(pytester: pytest.Pytester, netns_capable: None) -> None:
    """Pion's whole relay path: a Pion peer (and an aiortc one) behind symmetric NATs allocate at a TURN server
    on pion/turn (interop/pion/src/pion-turn) on a veth of this machine, the peers' ranges denied (its
    -deny: a PermissionHandler; pion/turn's default admits every peer), and the data crosses it. Every step
    passes; the wire then names pion/turn's one true defect, and nothing else: a CreatePermission it refuses
    (a denied peer) is answered with an error response that has no ERROR-CODE (handleCreatePermissionRequest
    sends only MESSAGE-INTEGRITY; RFC 8489 §6.3.1.1: the server "MUST add an ERROR-CODE attribute"). Before,
    the Binding answers pion/turn gives Pion (it asks its TURN server for srflx too) were also failed on
    wire.xor-mapped-address: the uplink's masquerade lies between the capture and your server."""
    import subprocess

    if not PION_TURN.is_file():
        pytest.skip("pion-turn is not built (setup.sh)")
    pytester.makeini(INI)
    (pytester.path / "relay.yaml").write_text(PION_BEHIND_NATS)
    with Decoy() as link:
        denied = "10.0.0.0/8,198.51.100.0/24,203.0.113.0/24"
        server = subprocess.Popen(
            [str(PION_TURN), "-listen", f"{link.machine_side}:0", "-user", "yours", "-password", "s3cret",
             "-realm", "pion", "-deny", denied], stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            line = server.stdout.readline()  # pion-turn listening: udp HOST:PORT, tcp HOST:PORT
            assert line.startswith("pion-turn listening: udp "), line
            address = line.split("udp ", 1)[1].split(",")[0]
            result = pytester.runpytest_subprocess(
                "relay.yaml", "-vv", "--webrtc-turn-server", address,
                "--webrtc-turn-credentials", "yours:s3cret", "--webrtc-turn-realm", "pion",
            )  # fmt: skip
        finally:
            server.terminate()
            server.wait(10)
            if server.stdout is not None:
                server.stdout.close()
    result.assert_outcomes(failed=1)
    host = link.machine_side
    out = result.stdout.str()
    result.stdout.fnmatch_lines([f"*PASS step 7 (expect-peer, line 14): alice: selected pair * -> relay {host}:*",
                                 "*FAIL step 8 (expect-wire, line 15): * wire violation(s): packet *"])  # fmt: skip
    failing = next(line for line in out.splitlines() if "FAIL step 8 (expect-wire, line 15)" in line)
    named = [v for v in failing.split("wire violation(s): ", 1)[1].split("; ") if not v.startswith("and ")]
    assert named and all(v.endswith("error-response.error-code (RFC 8489 §14.8): error response without a valid "
                                     "ERROR-CODE") for v in named), named  # fmt: skip
    assert "wire.xor-mapped-address" not in out
