"""pion/stun's own clients (Debian's sources, built by setup.sh) against our STUN server on loopback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pytest_webrtc.addresses import format_hostport
from pytest_webrtc.stun.server import StunServer

BIN = Path(__file__).parent.parent.parent / "interop" / "pion" / "bin"
pytestmark = pytest.mark.skipif(
    not (BIN / "stun-client").is_file(), reason="pion's STUN tools are not built (setup.sh)"
)


def run(*argv: str) -> str:
    done = subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=30)
    return done.stdout + done.stderr


def test_stun_client_reads_its_own_address_from_our_answer(stun_server: StunServer) -> None:
    assert stun_server.udp_address is not None
    out = run("stun-client", format_hostport(stun_server.udp_address))
    host, _, port = out.strip().rpartition(":")
    assert host == "127.0.0.1" and port.isdigit(), out  # it prints the XOR-MAPPED-ADDRESS, nothing else
    assert stun_server.transactions[-1].outcome == "success"
    assert format_hostport(stun_server.transactions[-1].client) == out.strip()


@pytest.mark.webrtc_stun_server(other_host="127.0.0.2")
def test_stun_nat_behaviour_finds_no_nat_on_loopback(stun_server: StunServer) -> None:
    """With a second address (RFC 5780): both of its tests conclude; it asks the other address with the
    primary port too (RFC 5780 §4.3 test II), which our server answers."""
    assert stun_server.udp_address is not None
    out = run("stun-nat-behaviour", "-server", format_hostport(stun_server.udp_address), "-timeout", "1")
    assert (
        "NAT mapping behavior: endpoint independent" in out and "NAT filtering behavior: endpoint independent" in out
    ), out
    assert f"Sending to 127.0.0.2:{stun_server.udp_address[1]}" in out, out


def test_stun_nat_behaviour_without_a_second_address_says_it_cannot_tell(stun_server: StunServer) -> None:
    assert stun_server.udp_address is not None
    out = run("stun-nat-behaviour", "-server", format_hostport(stun_server.udp_address), "-timeout", "1")
    assert "NAT discovery feature not supported by this server" in out, out
    assert "NAT mapping behavior: inconclusive" in out and "NAT filtering behavior: inconclusive" in out, out
