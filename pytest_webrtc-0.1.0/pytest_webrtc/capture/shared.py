"""One capture on ``lo`` for every scenario of a process, each scenario judging its own slice.

Opening a packet capture costs the kernel 30-40 ms and closing it ~25 ms (the socket's ring and
an RCU grace period, measured in ``bench/scenario_cost.py``) — more than a whole bare aiortc
session.  So the scenarios of one process share one capture, opened the first time one is
needed and closed when the process ends (:func:`close_shared`, also at exit)::

    part = capture_slice()   # flushes, then marks: only what is sent from now on is in the slice
    ...                      # the scenario's traffic
    part.flush(); part.snapshot()   # every frame since the mark
    part.stop()              # the slice ends; frames no open slice needs are forgotten

A slice has the interface of :class:`~.sniffer.Capture` (start, flush, snapshot, stats, stop,
linktype), so a scenario's recorder does not know whether its capture is shared.  Between
slices the reader drops what it reads, so an idle shared capture holds nothing.  Slices are cut
by time; a scenario's recorder then keeps the packets to or from its own ports, as it does with a
capture of its own, so two scenarios running at once (or in two pytest-xdist workers) do not mix.
"""

from __future__ import annotations

import atexit
import threading

from .sniffer import Capture, CaptureStats

__all__ = ["CaptureSlice", "capture_slice", "close_shared"]

_lock = threading.Lock()
_shared: dict[tuple[str, str], Capture] = {}
_open: dict[tuple[str, str], set[CaptureSlice]] = {}


class CaptureSlice:
    """The frames of one run out of the process's shared capture on ``iface`` with ``bpf``."""

    def __init__(self, iface: str = "lo", bpf: str = "udp") -> None:
        self.key = (iface, bpf)
        self.capture: Capture | None = None
        self.first = 0
        self.started: CaptureStats | None = None
        self.final_stats: CaptureStats | None = None

    @property
    def linktype(self) -> int:
        assert self.capture is not None, "slice not started"
        return self.capture.linktype

    def start(self, timeout: float = 5.0) -> CaptureSlice:
        with _lock:
            capture = _shared.get(self.key)
            if capture is None:
                capture = _shared[self.key] = Capture(*self.key).start(timeout)
            _open.setdefault(self.key, set()).add(self)
            capture.recording = True
        self.capture = capture
        capture.flush(timeout)  # what was sent before is read (and, between slices, dropped) by now
        self.first = capture.mark()
        self.started = capture.stats()
        return self

    def flush(self, timeout: float = 5.0) -> None:
        assert self.capture is not None, "slice not started"
        self.capture.flush(timeout)

    def snapshot(self) -> list[tuple[float, bytes]]:
        assert self.capture is not None, "slice not started"
        return self.capture.since(self.first)

    def stats(self) -> CaptureStats:
        """What the kernel counted while this slice was open (drops by then are the slice's concern)."""
        if self.final_stats is not None:
            return self.final_stats
        assert self.capture is not None and self.started is not None, "slice not started"
        now, then = self.capture.stats(), self.started
        return CaptureStats(
            now.received - then.received, now.dropped - then.dropped, now.interface_dropped - then.interface_dropped
        )

    def stop(self, timeout: float = 5.0) -> None:
        if self.capture is None or self.final_stats is not None:
            return
        self.capture.flush(timeout)
        self.final_stats = self.stats()
        with _lock:
            others = _open.get(self.key, set())
            others.discard(self)
            if others:
                self.capture.trim(min(part.first for part in others))
            else:
                self.capture.recording = False
                self.capture.trim(self.capture.mark())


def capture_slice(iface: str = "lo", bpf: str = "udp", timeout: float = 5.0) -> CaptureSlice:
    """A started slice of the shared capture on ``iface`` (opened on first use)."""
    return CaptureSlice(iface, bpf).start(timeout)


def close_shared() -> None:
    """Close the shared captures (the plugin does it when the session ends; at exit otherwise)."""
    with _lock:
        captures = list(_shared.values())
        _shared.clear()
        _open.clear()
    for capture in captures:
        capture.stop()


atexit.register(close_shared)
