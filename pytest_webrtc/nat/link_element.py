"""The link element: two TUN devices in a link namespace, served by a process of its own.

:class:`LinkElement` (in the harness) configures the link namespace — a TUN device per direction,
policy routing that sends what the link forwards through them, ``rp_filter`` off (a packet written
back re-enters from the TUN device), the kernel's ``tbf`` for a rate — then starts the element:
``python -m pytest_webrtc.nat.link_element`` with the two TUN descriptors.  A process of its own,
so that its timing does not wait for the harness's Python (its in-process aiortc peers hold the
interpreter for milliseconds at a time).  It reads each packet, decides (:mod:`.link`), holds it in a
heap until due and writes it back.  It takes JSON lines on its standard input — new conditions,
down/up, a fault, a report request, stop — and answers reports as JSON lines; it dies with the
harness (``owned``) and ends when its input closes.
"""

from __future__ import annotations

import dataclasses
import fcntl
import heapq
import json
import os
import re
import select
import struct
import subprocess
import sys
import time
from typing import Any

from .link import Direction, LinkConditions, LinkFault, conditions_of

__all__ = ["LinkElement"]

_TUNSETIFF = 0x400454CA
_IFF_TUN, _IFF_NO_PI = 0x0001, 0x1000
_MAX_PACKET = 65535
_QUEUE_LIMIT = 10_000  # packets held at most (a flood does not grow the element)


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


class LinkElement:
    """``LinkElement(namespace, up, down).start()`` in a link namespace built for it; ``stop()``."""

    def __init__(self, namespace: Any, up: LinkConditions, down: LinkConditions) -> None:
        self.namespace = namespace
        self.conditions = {"up": up, "down": down}
        self.fds: dict[str, int] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self.final: dict[str, dict[str, Any]] | None = None  # the last report, once stopped

    def start(self, peer_side: str = "p0", router_side: str = "r0") -> LinkElement:
        try:
            self._configure(peer_side, router_side)
            self._spawn()
        except BaseException:
            self.stop()
            raise
        return self

    def _configure(self, peer_side: str, router_side: str) -> None:
        from .netns import in_thread

        self.rate_interfaces = {"up": router_side, "down": peer_side}  # where each direction's tbf sits

        for name in ("up", "down"):
            self.fds[name] = in_thread(self.namespace.name, _open_tun, f"tun-{name}")
            # a long queue to the element: a burst waits for it instead of being dropped by the kernel, uncounted
            self.namespace.sh("ip", "link", "set", f"tun-{name}", "txqueuelen", "10000", "up")
        for table, interface, tun in ((100, peer_side, "tun-up"), (101, router_side, "tun-down")):
            self.namespace.sh("ip", "route", "add", "default", "dev", tun, "table", str(table))
            self.namespace.sh("ip", "rule", "add", "iif", interface, "lookup", str(table), "priority", str(table))
        for interface in ("all", "default", peer_side, router_side, "tun-up", "tun-down"):  # injected: not spoofed
            self.namespace.sh("sysctl", "-q", "-w", f"net.ipv4.conf.{interface}.rp_filter=0")
        for way, interface in (("up", router_side), ("down", peer_side)):
            rate, queue = self.conditions[way].rate, self.conditions[way].queue
            if rate:  # the kernel's token bucket on the way out: burst a few packets, queue ~100 ms or `queue`
                burst = max(int(rate / 8 / 100), 3200)
                backlog = ["limit", str(queue)] if queue else ["latency", "100ms"]
                self.namespace.sh("tc", "qdisc", "add", "dev", interface, "root", "tbf", "rate", f"{int(rate)}bit",
                                  "burst", str(burst), *backlog)  # fmt: skip

    def _spawn(self) -> None:
        from ..children import owned, run_environment

        argv = [sys.executable, "-m", "pytest_webrtc.nat.link_element", str(self.fds["up"]), str(self.fds["down"]),
                json.dumps({k: dataclasses.asdict(v) for k, v in self.conditions.items()})]  # fmt: skip
        self.process = subprocess.Popen(
            owned(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=tuple(self.fds.values()),
            env=run_environment(), start_new_session=True,
        )  # fmt: skip
        if self._ask({"report": True}) is None:
            raise RuntimeError("the link element's process did not start")
        for fd in self.fds.values():  # the process holds them now
            os.close(fd)
        self.fds.clear()

    def _ask(self, command: dict[str, Any]) -> dict[str, Any] | None:
        """Send a command; with ``report``, the element's answer (None when it is gone)."""
        process = self.process
        if process is None or process.stdin is None or process.stdout is None or process.poll() is not None:
            return None
        try:
            process.stdin.write(json.dumps(command).encode() + b"\n")
            process.stdin.flush()
            if "report" not in command:
                return {}
            line = process.stdout.readline()
        except (BrokenPipeError, OSError):
            return None
        return json.loads(line) if line else None

    # -- changes while it runs (the network step): each takes effect from the next packet ----------

    def set_conditions(self, up: LinkConditions, down: LinkConditions) -> None:
        self._ask({"conditions": {"up": dataclasses.asdict(up), "down": dataclasses.asdict(down)}})

    def set_down(self, down: bool) -> None:
        """Cut the link (every packet dropped, counted as ``down``) or restore it."""
        self._ask({"down": down})

    def add_fault(self, fault: LinkFault, directions: tuple[str, ...] = ("up", "down")) -> None:
        """Apply ``fault`` to each direction (a copy each, counting on its own)."""
        self._ask({"fault": dataclasses.asdict(fault), "directions": list(directions)})

    def report(self) -> dict[str, dict[str, Any]]:
        """Per direction: packets, dropped, down, faults, duplicated, reordered, overflow, added delay —
        and, under a rate cap, what the kernel's tbf passed and dropped (``rate-sent``, ``rate-dropped``)."""
        if self.final is not None:
            return self.final
        return self._with_rate(self._ask({"report": True}) or {})

    def _with_rate(self, report: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from ..errors import HarnessConfigError

        for way, interface in getattr(self, "rate_interfaces", {}).items():
            if not self.conditions[way].rate or way not in report:
                continue
            try:
                shown = self.namespace.sh("tc", "-s", "qdisc", "show", "dev", interface)
            except HarnessConfigError:  # the namespace is gone: the counts went with it
                continue
            sent = re.search(r"Sent (\d+) bytes (\d+) pkt \(dropped (\d+)", shown)
            if sent:
                report[way].update({"rate-sent": int(sent[2]), "rate-dropped": int(sent[3])})
        return report

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            self.process = process
            self.final = self._with_rate(self._ask({"report": True}) or {})
            self.process = None
            try:
                assert process.stdin is not None
                process.stdin.close()  # its input ends: it ends
                process.wait(5)
            except (subprocess.TimeoutExpired, OSError):
                process.kill()
                process.wait(5)
            if process.stdout is not None:
                process.stdout.close()
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


class _Engine:
    """The element's process: decisions, the heap of held packets, the command channel."""

    def __init__(self, up_fd: int, down_fd: int, conditions: dict[str, dict[str, Any]]) -> None:
        self.directions = {"up": Direction("up", conditions_of(conditions["up"])),
                           "down": Direction("down", conditions_of(conditions["down"]))}  # fmt: skip
        self.directions["up"].fd, self.directions["down"].fd = up_fd, down_fd
        self.by_fd = {d.fd: d for d in self.directions.values()}
        self.heap: list[tuple[float, int, int, int, bytes, float]] = []  # due, order, fd, arrival, packet, arrived
        self.order = 0
        self.commands = b""

    def run(self) -> None:
        stdin = sys.stdin.fileno()
        while True:
            now = time.monotonic()
            while self.heap and self.heap[0][0] <= now:
                self._deliver(*heapq.heappop(self.heap)[2:])
            timeout = max(0.0, self.heap[0][0] - time.monotonic()) if self.heap else 1.0
            ready, _, _ = select.select([*self.by_fd, stdin], [], [], timeout)
            for fd in ready:
                if fd == stdin:
                    chunk = os.read(stdin, 65536)
                    if not chunk:
                        return  # the harness closed our input (or died): done
                    self.commands += chunk
                    while b"\n" in self.commands:
                        line, self.commands = self.commands.split(b"\n", 1)
                        self._command(json.loads(line))
                else:
                    self._read(self.by_fd[fd])

    def _deliver(self, fd: int, arrival: int, packet: bytes, arrived: float) -> None:
        direction = self.by_fd[fd]
        direction.held -= len(packet)
        try:
            os.write(fd, packet)
        except OSError:
            return
        stats = direction.stats
        stats.delivered += 1
        if len(stats.added) < 1_000_000:
            stats.added.append(time.monotonic() - arrived)
        if arrival < direction.last_delivered:
            stats.reordered += 1
        direction.last_delivered = max(direction.last_delivered, arrival)

    def _read(self, direction: Direction) -> None:
        for _ in range(64):  # a burst at a time, bounded, so the other direction and due packets go on
            try:
                packet = os.read(direction.fd, _MAX_PACKET)
            except BlockingIOError:
                return
            arrived = time.monotonic()
            arrival = direction.arrived
            direction.arrived += 1
            limit = direction.conditions.queue
            for due in direction.decide(arrived, packet):
                if len(self.heap) >= _QUEUE_LIMIT or (limit and direction.held + len(packet) > limit):
                    direction.stats.overflow += 1
                    continue
                direction.held += len(packet)
                self.order += 1
                heapq.heappush(self.heap, (due, self.order, direction.fd, arrival, packet, arrived))

    def _command(self, command: dict[str, Any]) -> None:
        if "conditions" in command:
            for name, fields in command["conditions"].items():
                self.directions[name].conditions = conditions_of(fields)
        if "down" in command:
            for direction in self.directions.values():
                direction.is_down = bool(command["down"])
        if "fault" in command:
            for name in command.get("directions", ["up", "down"]):
                self.directions[name].faults.append(LinkFault(**{**command["fault"], "done": 0}))
        if command.get("report"):
            report = {name: d.stats.report() for name, d in self.directions.items()}
            sys.stdout.write(json.dumps(report) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    _Engine(int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])).run()
