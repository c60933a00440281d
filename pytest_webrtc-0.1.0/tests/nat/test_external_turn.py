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
