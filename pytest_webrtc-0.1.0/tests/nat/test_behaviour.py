"""Each NAT type, measured with raw UDP from inside its namespace (no STUN involved)."""

from __future__ import annotations

import pytest

from pytest_webrtc.nat.behaviour import measure
from pytest_webrtc.nat.topology import Topology

EIM = EIF = "endpoint-independent"
ADF = "address-dependent"
APD = "address-and-port-dependent"

EXPECTED = {  # type: (mapping, filtering, translated)
    "none": (EIM, EIF, False),
    "full-cone": (EIM, EIF, True),
    "restricted-cone": (EIM, ADF, True),
    "port-restricted-cone": (EIM, APD, True),
    "symmetric": (APD, APD, True),
    "udp-blocked": (None, None, False),
}


@pytest.mark.parametrize("nat", list(EXPECTED))
def test_nat_type_behaves_as_named(every_nat: Topology, nat: str) -> None:
    behaviour = measure(every_nat, nat, timeout=0.3)
    assert (behaviour.mapping, behaviour.filtering, behaviour.translated) == EXPECTED[nat], behaviour
    site = every_nat.sites[nat]
    for mapped in behaviour.mappings:
        # a translating NAT shows its public address; without one, the host's own
        assert mapped[0] == (site.public_address if EXPECTED[nat][2] else site.private_address)


def test_symmetric_nat_gives_a_new_port_per_destination(every_nat: Topology) -> None:
    mappings = measure(every_nat, "symmetric", timeout=0.3).mappings
    assert len({port for _, port in mappings}) == 3


def test_peers_reach_each_other_only_through_their_mappings(every_nat: Topology) -> None:
    """The private addresses are not routable from another site: only the public side is."""
    import socket

    from pytest_webrtc.nat.netns import in_thread

    here, there = every_nat.sites["full-cone"], every_nat.sites["port-restricted-cone"]

    def udp() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("0.0.0.0", 0))
        return sock

    sender, receiver = in_thread(here.peer.name, udp), in_thread(there.peer.name, udp)
    assert isinstance(sender, socket.socket) and isinstance(receiver, socket.socket)
    try:
        receiver.settimeout(0.3)
        sender.sendto(b"direct", (there.private_address, receiver.getsockname()[1]))
        with pytest.raises(TimeoutError):
            receiver.recvfrom(64)
    finally:
        sender.close()
        receiver.close()
