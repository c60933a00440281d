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
                             "rate": "1mbit", "queue": "64kB", "burst": 3, "reorder": "1%", "seed": 7}) == LinkConditions(
        delay=0.05, jitter=0.01, loss=0.02, burst=3, reorder=0.01, duplicate=0.005, rate=1e6, queue=64000, seed=7
    )  # fmt: skip
    assert parse_conditions({"delay": 20}).delay == pytest.approx(0.02)  # a number is milliseconds
    with pytest.raises(HarnessConfigError, match=r"link loss: '2' is not a percentage \(e.g. 2%\)"):
        parse_conditions({"loss": "2"})
    with pytest.raises(HarnessConfigError, match=r"link delay: '5 parsecs' is not a delay"):
        parse_conditions({"delay": "5 parsecs"})
    with pytest.raises(
        HarnessConfigError, match=r"unknown condition 'latency'; known: burst, delay, duplicate, jitter"
    ):
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
            server.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE (Linux; root)
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
            stats = link.report()["up"]
            assert stats["packets"] >= 1000 and stats["overflow"] == 0, stats  # the element saw every one
        patterns.append(set(got))
        lost = 1000 - len(got)
        assert 255 <= lost <= 345, lost  # binomial(1000, 0.3): mean 300, 99.9 % within ±45
        assert stats["dropped"] >= lost and stats["delivered"] == stats["packets"] - stats["dropped"]
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
        assert link is not None and link.process is not None and link.process.poll() is None
        process = link.process
        names = [namespace.name for namespace in topology.created]
    assert process.poll() is not None and link.process is None and not link.fds  # its process ended, fds closed
    assert link.report()["up"]["packets"] >= 0  # the last report outlives it
    listed = run("ip", "netns", "list")
    assert not any(name in listed for name in names)


def _ip_udp(payload: bytes) -> bytes:
    return bytes([0x45]) + bytes(8) + bytes([17]) + bytes(10) + bytes(8) + payload


def test_packets_are_told_apart_by_their_bytes() -> None:
    from pytest_webrtc.nat.link import packet_kind

    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(12)
    allocate_error = b"\x01\x13\x00\x00\x21\x12\xa4\x42" + bytes(12)
    client_hello = b"\x16\xfe\xfd" + bytes(10) + b"\x01" + bytes(20)
    assert packet_kind(_ip_udp(request)) == ("stun", "stun-request")
    assert packet_kind(_ip_udp(allocate_error)) == ("stun", "stun-response", "turn")
    assert packet_kind(_ip_udp(client_hello)) == ("dtls", "dtls-client-hello")
    assert packet_kind(_ip_udp(b"\x16\xfe\xfd" + bytes(10) + b"\x02" + bytes(20))) == ("dtls",)  # a ServerHello
    assert packet_kind(_ip_udp(b"\x17\xfe\xfd" + bytes(20))) == ("dtls", "data")  # application data: SCTP
    assert packet_kind(_ip_udp(b"\x80\x60" + bytes(10))) == ("rtp",)
    assert packet_kind(_ip_udp(b"\x80\xc8" + bytes(10))) == ("rtcp",)  # a sender report
    assert packet_kind(_ip_udp(b"\x40\x00\x00\x04abcd")) == ("turn",)  # ChannelData
    assert packet_kind(bytes([0x45]) + bytes(8) + bytes([6]) + bytes(30)) == ("tcp",)
    assert packet_kind(b"\x60" + bytes(40)) == ()  # IPv6: not judged


def test_a_fault_hits_the_next_packets_of_its_kind_only() -> None:
    from pytest_webrtc.nat.link import Direction, LinkFault

    direction = Direction("up", LinkConditions())
    direction.faults.append(LinkFault("dtls-client-hello", "drop", 2))
    direction.faults.append(LinkFault("rtp", "delay", 1, by=0.05))
    hello = _ip_udp(b"\x16\xfe\xfd" + bytes(10) + b"\x01" + bytes(20))
    rtp = _ip_udp(b"\x80\x60" + bytes(10))
    assert direction.decide(1.0, rtp) == [pytest.approx(1.05)]  # delayed once
    assert direction.decide(1.0, rtp) == [1.0]
    assert direction.decide(1.0, hello) == [] and direction.decide(1.0, hello) == []  # the first two dropped
    assert direction.decide(1.0, hello) == [1.0]  # the third goes through
    assert direction.stats.faults == {"delay rtp": 1, "drop dtls-client-hello": 2} and direction.stats.dropped == 0


def test_bursts_keep_the_loss_rate_and_lengthen_the_runs() -> None:
    from pytest_webrtc.nat.link import Direction

    for burst in (1, 4):
        direction = Direction("up", parse_conditions({"loss": "10%", "burst": burst, "seed": 9}))
        lost = [not direction.decide(0.0) for _ in range(50_000)]
        runs, run_length = [], 0
        for one in lost:
            if one:
                run_length += 1
            elif run_length:
                runs.append(run_length)
                run_length = 0
        assert 0.09 <= sum(lost) / len(lost) <= 0.11
        assert abs(sum(runs) / len(runs) - (1 / 0.9 if burst == 1 else burst)) < 0.25, (burst, sum(runs) / len(runs))


def test_a_rate_cap_holds_the_throughput_down() -> None:
    with _link(parse_conditions({"rate": "2mbit"}), LinkConditions()) as (_, client, server):
        payload = bytes(1000)
        started = time.monotonic()
        for n in range(500):  # 4 Mbit/s offered for a second: twice the cap
            client.sendto(payload, server.getsockname())
            time.sleep(max(0.0, started + (n + 1) * 0.002 - time.monotonic()))
        server.settimeout(0.5)
        received, last = 0, started
        while True:
            try:
                received += len(server.recv(2048))
                last = time.monotonic()
            except TimeoutError:
                break
    seconds = last - started
    rate = received * 8 / seconds
    assert 1.6e6 <= rate <= 2.4e6, (received, seconds)  # tbf: 2 Mbit/s; the rest of the offer dropped at its queue
