"""A userspace link element: delay, jitter, loss and duplication on a peer's link, seeded and counted.

This kernel has no netem (``tc qdisc ... netem``: "Specified qdisc kind is unknown"), so the
conditions are applied by the harness itself, in a namespace of their own between the peer and
its router::

    peer ns (10.0.i.2) --eth0/p0-- link ns --r0/priv-- router ns (NAT) -- public ns

The link namespace routes (10.0.i.1 is its ``p0``, 10.255.i.2/30 its ``r0``), and two TUN
devices take every datagram it forwards: ``ip rule iif p0`` sends what comes from the peer to
``tun-up``, ``iif r0`` what comes from the router to ``tun-down`` (policy routing; no NAT or conntrack
there).  A thread reads each packet from its TUN device, decides with a seeded random generator
(one per direction, so a run is repeatable) whether it is lost, duplicated and how long it waits
(``delay`` ± uniform ``jitter``; a later packet may overtake: reordering), and writes it back to
the same device when due — re-entering the stack there, it is routed on by the main table.  A
``rate`` is the kernel's own ``tbf`` on the way out of the link namespace (it works here).
Every decision is counted per direction (:class:`LinkStats`).
"""

from __future__ import annotations

import fcntl
import heapq
import os
import random
import re
import select
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import HarnessConfigError

__all__ = ["LinkConditions", "LinkElement", "LinkStats", "parse_conditions"]

_TUNSETIFF = 0x400454CA
_IFF_TUN, _IFF_NO_PI = 0x0001, 0x1000
_MAX_PACKET = 65535
_QUEUE_LIMIT = 10_000  # packets held at most per direction (a flood does not grow the element)
_UNITS = {"ms": 1e-3, "s": 1.0, "us": 1e-6}
_RATES = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9}


@dataclass(frozen=True)
class LinkConditions:
    """One direction's conditions."""

    delay: float = 0.0  # seconds added to every packet
    jitter: float = 0.0  # seconds: the added delay is delay ± uniform(jitter)
    loss: float = 0.0  # probability a packet is dropped
    duplicate: float = 0.0  # probability a packet is delivered twice
    rate: float = 0.0  # bits per second (0: no cap), the kernel's tbf
    seed: int = 0

    @property
    def ideal(self) -> bool:
        return not (self.delay or self.jitter or self.loss or self.duplicate)


def _number(text: Any, units: dict[str, float], what: str, default_unit: str) -> float:
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z%]*)\s*", str(text))
    if match is None or (match.group(2) or default_unit).lower() not in units:
        raise HarnessConfigError(
            f"link {what}: {text!r} is not a {what} (e.g. {'50ms' if units is _UNITS else '1mbit'})"
        )
    return float(match.group(1)) * units[(match.group(2) or default_unit).lower()]


def _share(text: Any, what: str) -> float:
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*%\s*", str(text))
    if match is None or float(match.group(1)) > 100:
        raise HarnessConfigError(f"link {what}: {text!r} is not a percentage (e.g. 2%)")
    return float(match.group(1)) / 100


def parse_conditions(spec: dict[str, Any]) -> LinkConditions:
    """``{delay: 50ms, jitter: 10ms, loss: 2%, duplicate: 0.5%, rate: 1mbit, seed: 7}``."""
    known = {"delay", "jitter", "loss", "duplicate", "rate", "seed"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise HarnessConfigError(f"link: unknown condition {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return LinkConditions(
        delay=_number(spec["delay"], _UNITS, "delay", "ms") if "delay" in spec else 0.0,
        jitter=_number(spec["jitter"], _UNITS, "jitter", "ms") if "jitter" in spec else 0.0,
        loss=_share(spec["loss"], "loss") if "loss" in spec else 0.0,
        duplicate=_share(spec["duplicate"], "duplicate") if "duplicate" in spec else 0.0,
        rate=_number(spec["rate"], _RATES, "rate", "bit") if "rate" in spec else 0.0,
        seed=int(spec.get("seed", 0)),
    )


@dataclass
class LinkStats:
    """What one direction of the element did."""

    packets: int = 0  # read from the link
    dropped: int = 0  # lost on purpose
    duplicated: int = 0
    delivered: int = 0  # written on (duplicates included)
    reordered: int = 0  # delivered before a packet that had arrived earlier
    overflow: int = 0  # dropped because the queue was full
    added: list[float] = field(default_factory=list)  # the delay added to each delivered packet (seconds)

    def report(self) -> dict[str, Any]:
        ordered = sorted(self.added)

        def percentile(p: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000, 2) if ordered else 0.0

        return {"packets": self.packets, "dropped": self.dropped, "duplicated": self.duplicated,
                "delivered": self.delivered, "reordered": self.reordered, "overflow": self.overflow,
                "delay-p50-ms": percentile(0.5), "delay-p99-ms": percentile(0.99)}  # fmt: skip


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


class _Direction:
    def __init__(self, name: str, conditions: LinkConditions) -> None:
        self.name, self.conditions = name, conditions
        self.random = random.Random(conditions.seed * 2 + (name == "down"))
        self.stats = LinkStats()
        self.fd = -1
        self.arrived = 0  # arrival order of the packets read
        self.last_delivered = -1  # the arrival number of the last packet delivered

    def decide(self, now: float) -> list[float]:
        """When to deliver the packet that just arrived (none: lost; two: duplicated)."""
        c, rng = self.conditions, self.random
        self.stats.packets += 1
        if c.loss and rng.random() < c.loss:
            self.stats.dropped += 1
            return []
        copies = 2 if c.duplicate and rng.random() < c.duplicate else 1
        self.stats.duplicated += copies - 1
        out = []
        for _ in range(copies):
            added = max(0.0, c.delay + (rng.uniform(-c.jitter, c.jitter) if c.jitter else 0.0))
            out.append(now + added)
        return out


class LinkElement:
    """``LinkElement(namespace, up, down).start()`` inside a link namespace built for it; ``stop()``."""

    def __init__(self, namespace: Any, up: LinkConditions, down: LinkConditions) -> None:
        self.namespace = namespace
        self.directions = {"up": _Direction("up", up), "down": _Direction("down", down)}
        self._heap: list[tuple[float, int, int, int, bytes, float]] = []  # due, order, fd, arrival, packet, arrived
        self._order = 0
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None

    @property
    def stats(self) -> dict[str, LinkStats]:
        return {name: d.stats for name, d in self.directions.items()}

    def start(self, peer_side: str = "p0", router_side: str = "r0") -> LinkElement:
        try:
            self._configure(peer_side, router_side)
        except BaseException:
            self.stop()
            raise
        self._thread = threading.Thread(target=self._run, name=f"link-{self.namespace.name}", daemon=True)
        self._thread.start()
        return self

    def _configure(self, peer_side: str, router_side: str) -> None:
        from .netns import in_thread

        for name, direction in self.directions.items():
            direction.fd = in_thread(self.namespace.name, _open_tun, f"tun-{name}")
            # a long queue to the element: a burst waits for it instead of being dropped by the kernel, uncounted
            self.namespace.sh("ip", "link", "set", f"tun-{name}", "txqueuelen", "10000", "up")
        for table, interface, tun in ((100, peer_side, "tun-up"), (101, router_side, "tun-down")):
            self.namespace.sh("ip", "route", "add", "default", "dev", tun, "table", str(table))
            self.namespace.sh("ip", "rule", "add", "iif", interface, "lookup", str(table), "priority", str(table))
        for interface in ("all", "default", peer_side, router_side, "tun-up", "tun-down"):  # injected: not spoofed
            self.namespace.sh("sysctl", "-q", "-w", f"net.ipv4.conf.{interface}.rp_filter=0")
        for way, interface in (("up", router_side), ("down", peer_side)):
            rate = self.directions[way].conditions.rate
            if rate:  # the kernel's token bucket on the way out: burst a few packets, queue ~100 ms
                burst = max(int(rate / 8 / 100), 3200)
                self.namespace.sh("tc", "qdisc", "add", "dev", interface, "root", "tbf", "rate", f"{int(rate)}bit",
                                  "burst", str(burst), "latency", "100ms")  # fmt: skip

    def _run(self) -> None:
        by_fd = {d.fd: d for d in self.directions.values()}
        while not self._stop.is_set():
            now = time.monotonic()
            while self._heap and self._heap[0][0] <= now:
                _, _, fd, arrival, packet, arrived = heapq.heappop(self._heap)
                direction = by_fd[fd]
                try:
                    os.write(fd, packet)
                except OSError:
                    continue
                stats = direction.stats
                stats.delivered += 1
                if len(stats.added) < 1_000_000:
                    stats.added.append(time.monotonic() - arrived)
                if arrival < direction.last_delivered:
                    stats.reordered += 1
                direction.last_delivered = max(direction.last_delivered, arrival)
            timeout = max(0.0, self._heap[0][0] - time.monotonic()) if self._heap else 0.5
            ready, _, _ = select.select([*by_fd, self._wake_r], [], [], timeout)
            for fd in ready:
                if fd == self._wake_r:
                    os.read(self._wake_r, 64)
                    continue
                self._read(by_fd[fd])

    def _read(self, direction: _Direction) -> None:
        for _ in range(64):  # a burst at a time, bounded, so the other direction and due packets go on
            try:
                packet = os.read(direction.fd, _MAX_PACKET)
            except BlockingIOError:
                return
            arrived = time.monotonic()
            arrival = direction.arrived
            direction.arrived += 1
            for due in direction.decide(arrived):
                if len(self._heap) >= _QUEUE_LIMIT:
                    direction.stats.overflow += 1
                    continue
                self._order += 1
                heapq.heappush(self._heap, (due, self._order, direction.fd, arrival, packet, arrived))

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(5)
        for direction in self.directions.values():
            if direction.fd >= 0:
                os.close(direction.fd)
                direction.fd = -1
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def report(self) -> dict[str, Any]:
        return {name: d.stats.report() for name, d in self.directions.items()}
