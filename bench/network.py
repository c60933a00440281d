"""The link element against an ideal link, in one run: delay asked vs measured, loss, and its cost.

    python bench/network.py [--seconds 2]

Two peers behind no NAT: ``a`` with a link element, ``b`` with none (the ideal link).  A sender in
the peer's namespace sends timestamped UDP datagrams at a paced rate to a receiver in the public
namespace (both in this process: one clock), which records when each arrives.  Printed: one-way
delay through the ideal link and through the element asked for 20 ms (error p50/p99 at 1k and 10k
packets/s); loss asked 5 % over 10,000 packets against the binomial 99 % interval; and the added
delay (p99, against the ideal link) at 0 ms asked, rising rates, for the highest rate under 1 ms.
Traffic stays inside the namespaces; every loop is bounded.  Needs root.
"""

from __future__ import annotations

import argparse
import math
import socket
import statistics
import struct
import sys
import threading
import time

from pytest_webrtc.nat.link import LinkConditions, parse_conditions
from pytest_webrtc.nat.netns import cannot_build_namespaces, in_thread
from pytest_webrtc.nat.topology import SERVER_ADDRESSES, Topology

_SO_TIMESTAMPNS = 35  # Linux: SCM_TIMESTAMPNS, a struct timespec of CLOCK_REALTIME per datagram


def _socket(namespace: str, bind: tuple[str, int] | None = None) -> socket.socket:
    def make() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE (Linux; root)
        if bind:
            sock.bind(bind)
        return sock

    return in_thread(namespace, make)


def one_way(topology: Topology, peer: str, rate: int, count: int) -> tuple[list[float], int]:
    """Seconds each datagram took (in arrival order), and how many arrived."""
    assert topology.public is not None
    receiver = _socket(topology.public.name, (SERVER_ADDRESSES[0], 0))
    sender = _socket(topology.sites[peer].peer.name)
    receiver.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)  # the kernel says when each arrived
    receiver.settimeout(0.5)
    delays: list[float] = []

    def receive() -> None:
        while len(delays) < count:
            try:
                data, ancillary, _, _ = receiver.recvmsg(64, 64)
            except TimeoutError:
                return
            stamp = next((struct.unpack("qq", d[:16]) for level, kind, d in ancillary if kind == _SO_TIMESTAMPNS), None)
            if stamp is not None:
                delays.append(stamp[0] + stamp[1] / 1e9 - struct.unpack("!d", data[:8])[0])

    thread = threading.Thread(target=receive)
    thread.start()
    started = time.monotonic()
    for n in range(count):
        due = started + n / rate
        while time.monotonic() < due:  # paced to the microsecond: sleep would overshoot at 10k/s
            if due - time.monotonic() > 0.002:
                time.sleep(0.001)
        sender.sendto(struct.pack("!d", time.time()) + bytes(24), receiver.getsockname())
    thread.join(10)
    sender.close()
    receiver.close()
    return delays, len(delays)


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds of traffic per measurement")
    args = parser.parse_args()
    why = cannot_build_namespaces()
    if why:
        print(f"bench/network.py: {why}", file=sys.stderr)
        return 2
    asked = 0.020
    print("one-way delay, asked 20 ms (error = measured - asked - the ideal link's median):")
    for rate in (1000, 10000):
        count = int(rate * args.seconds)
        with Topology({"a": "none", "b": "none"}, links={"a": (LinkConditions(delay=asked), LinkConditions())}) as t:
            ideal, _ = one_way(t, "b", rate, count)
            linked, arrived = one_way(t, "a", rate, count)
        base = statistics.median(ideal)
        errors = [d - asked - base for d in linked]
        p50, p99 = percentiles(errors)
        ideal50, ideal99 = percentiles(ideal)
        print(f"  {rate:6d} packets/s: ideal link p50 {ideal50 * 1e3:.3f} ms p99 {ideal99 * 1e3:.3f} ms; element error "
              f"p50 {p50 * 1e3:+.3f} ms p99 {p99 * 1e3:+.3f} ms ({arrived}/{count} arrived)")  # fmt: skip
    loss, total = 0.05, 10_000
    with Topology({"a": "none"}, links={"a": (parse_conditions({"loss": "5%", "seed": 11}), LinkConditions())}) as t:
        _, arrived = one_way(t, "a", 5000, total)
    lost = total - arrived
    spread = 2.576 * math.sqrt(total * loss * (1 - loss))
    print(f"loss asked 5 % over {total} packets: {lost} lost ({lost / total:.2%}); binomial 99 % interval "
          f"{total * loss - spread:.0f}..{total * loss + spread:.0f}: {'within' if abs(lost - total * loss) <= spread else 'OUTSIDE'}")  # fmt: skip
    print("added delay at 0 ms asked (p99 against the ideal link):")
    best = 0
    for rate in (1000, 2000, 5000, 10000, 20000, 40000):
        count = int(rate * args.seconds)
        with Topology({"a": "none", "b": "none"}, links={"a": (LinkConditions(), LinkConditions())}) as t:
            ideal, _ = one_way(t, "b", rate, count)
            linked, arrived = one_way(t, "a", rate, count)
        added = percentiles(linked)[1] - percentiles(ideal)[1]
        print(f"  {rate:6d} packets/s: +{added * 1e3:.3f} ms p99 ({arrived}/{count} arrived)")
        if added < 0.001 and arrived == count:
            best = rate
    print(f"highest rate adding < 1 ms p99: {best} packets/s (of those tried)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
