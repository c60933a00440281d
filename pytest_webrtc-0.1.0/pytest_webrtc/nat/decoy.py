"""A decoy host for judging a TURN server's relay: peers the harness owns, in namespaces it built.

Two shapes (root only)::

    beside:     machine ns (198.18.N.1) --veth-- decoy ns (198.18.N.2: the peer)
    contained:  machine ns (198.18.N.1) --veth-- server ns (198.18.N.2: the TURN server)
                                                  --veth-- decoy ns (198.19.0.2: the peer;
                                                     10.99.0.2, 172.16.99.2, 192.168.99.2,
                                                     169.254.99.2, 169.254.169.254: forbidden)

*Beside*: a TURN server in the machine's namespace relays from 198.18.N.1 to a peer of ours at
198.18.N.2 (RFC 2544 benchmark addresses, routed nowhere else).  *Contained*: the server itself
runs in a namespace of ours, and the decoy carries private, link-local and cloud-metadata
addresses too, so the relay-security probes to those addresses can run: whatever the server
sends there stays inside the harness's namespaces.  ``N`` is chosen free among the machine's
addresses; deleting the namespaces removes every link (also their ends in the machine's namespace).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field

from .netns import Built, Namespace, free_subnet, in_thread, machine_link

__all__ = ["FORBIDDEN", "Decoy"]

# What a contained decoy also answers on, and why a relay must not reach it.
FORBIDDEN = {
    "10.99.0.2": "private (RFC 1918)",
    "172.16.99.2": "private (RFC 1918)",
    "192.168.99.2": "private (RFC 1918)",
    "169.254.99.2": "link-local (RFC 3927)",
    "169.254.169.254": "cloud metadata service (link-local)",
}
CONTAINED_PEER = "198.19.0.2"


@dataclass
class Decoy(Built):
    contained: bool = False
    namespaces: list[Namespace] = field(default_factory=list)
    machine_side: str = ""  # the machine's address on the first link
    server_side: str = ""  # the server namespace's address (contained) or the peer's (beside)
    peer: str = ""  # where the allowed peer listens
    server: Namespace | None = None
    decoy: Namespace | None = None

    def build(self) -> None:
        subnet = free_subnet()
        self.machine_side = str(ipaddress.ip_address(subnet + 1))
        self.server_side = str(ipaddress.ip_address(subnet + 2))
        first = Namespace("turnsrv" if self.contained else "decoy")
        self.namespaces.append(first)
        machine_link(first, "eth0", f"{self.machine_side}/30", "d")
        first.address("eth0", f"{self.server_side}/30")
        if not self.contained:
            self.decoy, self.peer = first, self.server_side
            first.sh("ip", "route", "add", "default", "via", self.machine_side)
            return
        self.server = first
        decoy = self.decoy = Namespace("decoy")
        self.namespaces.append(decoy)
        first.link(decoy, "decoy0", "eth0")
        first.address("decoy0", "198.19.0.1/24")
        decoy.address("eth0", f"{CONTAINED_PEER}/24")
        for address in FORBIDDEN:
            decoy.address("eth0", f"{address}/32")
            first.sh("ip", "route", "add", f"{address}/32", "dev", "decoy0")
        decoy.sh("ip", "route", "add", "default", "via", "198.19.0.1")
        self.peer = CONTAINED_PEER

    def holds(self, host: str) -> bool:
        return host == self.peer or (self.contained and host in FORBIDDEN)

    async def open_socket(self, host: str) -> socket.socket:
        """A non-blocking UDP socket bound to ``host`` (port 0) inside the decoy namespace."""
        assert self.decoy is not None

        def bind() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((host, 0))
            sock.setblocking(False)
            return sock

        return await asyncio.to_thread(in_thread, self.decoy.name, bind)

    def close(self) -> None:
        for namespace in reversed(self.namespaces):
            namespace.delete()
        self.namespaces.clear()
