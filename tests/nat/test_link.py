"""The userspace link element (pytest_webrtc.nat.link): what it is asked, measured on real datagrams."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pytest_webrtc.errors import HarnessConfigError
from pytest_webrtc.nat.link import LinkConditions, parse_conditions
from pytest_webrtc.nat.netns import cannot_build_namespaces, in_thread, run
from pytest_webrtc.nat.topology import SERVER_ADDRESSES, Topology

pytestmark = pytest.mark.skipif(bool(cannot_build_namespaces()), reason=str(cannot_build_namespaces()))


def test_conditions_are_read_with_units_and_refused_with_what_is_wrong() -> None:
    assert parse_conditions({"delay": "50ms", "jitter": "10 ms", "loss": "2%", "duplicate": "0.5%",
                             "rate": "1mbit", "seed": 7}) == LinkConditions(0.05, 0.01, 0.02, 0.005, 1e6, 7)  # fmt: skip
    assert parse_conditions({"delay": 20}).delay == pytest.approx(0.02)  # a number is milliseconds
    with pytest.raises(HarnessConfigError, match=r"link loss: '2' is not a percentage \(e.g. 2%\)"):
        parse_conditions({"loss": "2"})
    with pytest.raises(HarnessConfigError, match=r"link delay: '5 parsecs' is not a delay"):
        parse_conditions({"delay": "5 parsecs"})
    with pytest.raises(HarnessConfigError, match=r"unknown condition 'latency'; known: delay, duplicate, jitter"):
        parse_conditions({"latency": "5ms"})


@contextmanager
def _link(up: LinkConditions, down: LinkConditions) -> Iterator[tuple[Topology, socket.socket, socket.socket]]:
    """A peer behind no NAT with these link conditions; a UDP socket in its namespace, one at a server."""
    with Topology({"a": "none"}, links={"a": (up, down)}) as topology:
        assert topology.public is not None
        server = in_thread(topology.public.name, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        client = in_thread(topology.sites["a"].peer.name, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        try:
            server.bind((SERVER_ADDRESSES[0], 0))
            # A burst waits in the server's buffer until it is read: room for all of it (root may force it).
            server.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", socket.SO_RCVBUF), 8 << 20)
            yield topology, client, server
        finally:
            server.close()
            client.close()


def _received(server: socket.socket, wait: float) -> list[int]:
    server.settimeout(wait)
    got = []
    while True:
        try:
            got.append(int(server.recv(64)))
        except TimeoutError:
            return got


def test_loss_is_seeded_within_its_binomial_bounds_and_counted() -> None:
    patterns = []
    for _ in range(2):  # the same seed, the same datagrams: the same ones lost
        with _link(parse_conditions({"loss": "30%", "seed": 3}), LinkConditions()) as (topology, client, server):
            for n in range(1000):
                client.sendto(str(n).encode(), server.getsockname())
                if n % 20 == 0:
                    time.sleep(0.001)  # paced: a burst must not overflow a socket buffer (that is not the link's loss)
            got = _received(server, 0.3)
            link = topology.sites["a"].link
            assert link is not None
            stats = link.stats["up"]
            assert stats.packets >= 1000 and stats.overflow == 0, stats.report()  # the element saw every one
        patterns.append(set(got))
        lost = 1000 - len(got)
        assert 255 <= lost <= 345, lost  # binomial(1000, 0.3): mean 300, 99.9 % within ±45
        assert stats.dropped >= lost and stats.delivered == stats.packets - stats.dropped
    assert patterns[0] == patterns[1]


def test_delay_and_jitter_are_added_and_jitter_reorders() -> None:
    up = parse_conditions({"delay": "30ms", "jitter": "10ms", "seed": 5})
    with _link(up, parse_conditions({"delay": "20ms"})) as (topology, client, server):
        client.settimeout(1)
        rtts = []
        for n in range(40):
            started = time.monotonic()
            client.sendto(str(n).encode(), server.getsockname())
            data, address = server.recvfrom(64)
            server.sendto(data, address)
            client.recv(64)
            rtts.append(time.monotonic() - started)
        for n in range(200):  # 2 ms apart, ±10 ms of jitter: later ones overtake
            client.sendto(str(1000 + n).encode(), server.getsockname())
            time.sleep(0.002)
        order = _received(server, 0.5)
        link = topology.sites["a"].link
        assert link is not None
        report = link.report()
    assert 48 <= statistics.median(rtts) * 1000 <= 56, rtts  # 30 ± 10 up, 20 down
    assert sorted(order) == list(range(1000, 1200)) and order != sorted(order)  # all arrived, some overtook
    assert report["up"]["reordered"] > 0 and 29 <= report["up"]["delay-p50-ms"] <= 31.5, report
    assert 19.5 <= report["down"]["delay-p50-ms"] <= 21.5, report


def test_the_link_leaves_nothing_behind() -> None:
    with Topology({"a": "none"}, links={"a": (LinkConditions(delay=0.01), LinkConditions())}) as topology:
        link = topology.sites["a"].link
        assert link is not None and link._thread is not None and link._thread.is_alive()
        names = [namespace.name for namespace in topology.created]
    assert not link._thread.is_alive() and all(d.fd == -1 for d in link.directions.values())
    listed = run("ip", "netns", "list")
    assert not any(name in listed for name in names)
