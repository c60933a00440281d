"""Measuring a NAT's mapping and filtering with raw UDP, independently of STUN.

A reflector in the public namespace listens on three endpoints — (A, p), (A, q), (B, p) — and
answers each datagram with the source address it saw.  From inside, one socket sends to all
three: equal answers mean endpoint-independent mapping, different ones per port mean
address-and-port-dependent mapping.  Then the reflector sends, unasked, to the mapping the inside
socket got from (A, p): from (B, p), a new address, and from (A, q), a new port on a known
address.  What arrives says the filtering: both (endpoint-independent), only the second
(address-dependent), neither (address-and-port-dependent).
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

from ..addresses import format_hostport
from .netns import in_thread
from .topology import SERVER_ADDRESSES, Topology

__all__ = ["Behaviour", "measure"]

PORTS = (3478, 3479)


@dataclass(frozen=True)
class Behaviour:
    mapping: str | None  # None: no answer at all (UDP blocked)
    filtering: str | None
    mappings: tuple[tuple[str, int], ...]  # what the reflector saw from each of its endpoints
    translated: bool  # the reflector saw another address than the host's own


def _udp(address: tuple[str, int]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(address)
    return sock


def _ask(sock: socket.socket, target: tuple[str, int], timeout: float) -> tuple[str, int] | None:
    sock.settimeout(timeout)
    for _ in range(3):  # UDP: a bounded number of tries
        sock.sendto(b"who", target)
        try:
            data, _ = sock.recvfrom(256)
        except TimeoutError:
            continue
        host, port = data.decode().rsplit(":", 1)
        return host, int(port)
    return None


def _answer_one(server: socket.socket, timeout: float) -> tuple[str, int] | None:
    server.settimeout(timeout)
    try:
        _, source = server.recvfrom(256)
    except TimeoutError:
        return None
    server.sendto(f"{format_hostport(source)}".encode(), source)
    return source[0], source[1]


def measure(topology: Topology, peer: str, timeout: float = 0.5) -> Behaviour:
    """The mapping and filtering behaviour in front of ``peer``, measured with plain sockets."""
    assert topology.public is not None
    site = topology.sites[peer]
    a, b = SERVER_ADDRESSES
    endpoints = [(a, PORTS[0]), (a, PORTS[1]), (b, PORTS[0])]
    servers = [in_thread(topology.public.name, _udp, endpoint) for endpoint in endpoints]
    clients = [in_thread(site.peer.name, _udp, (site.private_address, 0)) for _ in range(2)]
    try:
        # Mapping: one socket asks all three endpoints.
        seen: list[tuple[str, int]] = []
        for server, endpoint in zip(servers, endpoints, strict=True):
            mapped = _exchange(clients[0], server, endpoint, timeout)
            if mapped is None:
                return Behaviour(None, None, tuple(seen), False)
            seen.append(mapped)
        mapping = "endpoint-independent" if len(set(seen)) == 1 else "address-and-port-dependent"
        # Filtering: a fresh socket talks to (A, p) only; then the others send to it unasked.
        first = _exchange(clients[1], servers[0], endpoints[0], timeout)
        assert first is not None, "the reflector answered the first socket but not the second"
        arrived = []
        for server in (servers[2], servers[1]):  # a new address, then a new port on a known address
            server.sendto(b"unasked", first)
            clients[1].settimeout(timeout)
            try:
                clients[1].recvfrom(256)
                arrived.append(True)
            except TimeoutError:
                arrived.append(False)
        if arrived[0]:
            filtering = "endpoint-independent"
        else:
            filtering = "address-dependent" if arrived[1] else "address-and-port-dependent"
        return Behaviour(mapping, filtering, tuple(seen), seen[0][0] != site.private_address)
    finally:
        for sock in [*servers, *clients]:
            sock.close()


def _exchange(
    client: socket.socket, server: socket.socket, endpoint: tuple[str, int], timeout: float
) -> tuple[str, int] | None:
    """``client`` asks ``endpoint`` (served by ``server`` in a thread) what address it sees."""
    answering = threading.Thread(target=_answer_one, args=(server, timeout * 3))
    answering.start()
    try:
        return _ask(client, endpoint, timeout)
    finally:
        answering.join()
