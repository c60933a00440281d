"""Packet capture through libpcap (:mod:`.libpcap`), with a kernel BPF filter; pcap files read through scapy.

    capture = Capture("lo", "udp")
    capture.start()      # returns once a sentinel datagram sent after opening has been seen
    ...                  # traffic
    capture.flush()      # returns once everything sent before it has been captured
    capture.stop()
    capture.frames       # [(timestamp, raw link-layer bytes)], sentinels removed

Why libpcap: measured here, scapy's plain socket capture kept ~11 % of a 20k req/s burst on
``lo``, a kernel BPF filter through libpcap kept 100 %.  Why sentinels: opening a capture and
seeing packets are not the same moment; a datagram sent after opening and seen by the reader
proves the capture is live (start), and one sent last proves all earlier ones were read (stop).
"""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CaptureUnavailable
from .libpcap import Pcap, PcapError

__all__ = ["Capture", "CaptureStats", "capture_available", "read_pcap", "write_pcap"]

_SENTINEL_PREFIX = b"pytest-webrtc capture sentinel "
DLT_EN10MB = 1


@dataclass(frozen=True)
class CaptureStats:
    received: int  # packets the kernel passed the filter (libpcap ps_recv)
    dropped: int  # dropped for lack of buffer space (ps_drop): loss in the capture itself
    interface_dropped: int  # dropped by the interface or driver (ps_ifdrop)


def capture_available(iface: str = "lo") -> str | None:
    """None if we can capture on ``iface``; otherwise the reason why not."""
    try:
        Pcap(iface, snaplen=96, buffer_size=1 << 16).close()
    except PcapError as exc:
        reason = str(exc)
        if os.geteuid() != 0:
            reason += " (capturing needs root or CAP_NET_RAW)"
        return reason
    return None


class Capture:
    """A live capture on one interface, read by a thread of its own."""

    def __init__(
        self, iface: str = "lo", bpf: str = "udp", snaplen: int = 65535, sentinel_to: tuple[str, int] | None = None
    ) -> None:
        self.iface, self.bpf, self.snaplen = iface, bpf, snaplen
        # Where sentinels go: to itself on loopback, or (for a capture on one interface, not lo or
        # any) to an address out of that interface (e.g. the neighbour's discard port).
        self.sentinel_to = sentinel_to
        self.frames: list[tuple[float, bytes]] = []
        self.linktype = DLT_EN10MB
        self._handle: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._seen: set[bytes] = set()
        self._seen_changed = threading.Condition()
        self._lock = threading.Lock()
        self._sentinel_socket: socket.socket | None = None
        self._counter = 0
        self._base = 0  # how many frames were trimmed off the front (marks count from the start)
        self._wake: tuple[int, int] | None = None  # a pipe that wakes the reader at once on stop
        self.recording = True  # False: frames are read and dropped (sentinels still count)
        self.final_stats: CaptureStats | None = None

    # -- life cycle -------------------------------------------------------------------

    def start(self, timeout: float = 5.0) -> Capture:
        try:  # immediate mode: a flush sees its sentinel as soon as the reader wakes
            self._handle = Pcap(self.iface, self.bpf, self.snaplen)
        except PcapError as exc:
            raise CaptureUnavailable(str(exc)) from None
        self.linktype = int(self._handle.datalink())
        self._sentinel_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sentinel_socket.bind(("127.0.0.1", 0) if self.sentinel_to is None else ("0.0.0.0", 0))
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._read, name=f"capture-{self.iface}", daemon=True)
        self._thread.start()
        try:
            self.flush(timeout)
        except BaseException:  # never seen: the reader and the handle go, not left running
            self._stop.set()
            os.write(self._wake[1], b"x")
            self._thread.join(timeout)
            self._thread = None
            self._sentinel_socket.close()
            for fd in self._wake:
                os.close(fd)
            self._wake = None
            self._handle.close()
            raise
        return self

    def flush(self, timeout: float = 5.0) -> None:
        """Send a sentinel and wait until the reader has seen it: everything sent before is captured.

        The kernel may drop the sentinel itself when the capture's ring overflows (another process
        flooding ``lo``): it is sent again every 0.25 s, and any of them seen ends the wait — what
        was sent before the first was read by then, or dropped and counted (:meth:`stats`)."""
        assert self._sentinel_socket is not None, "capture not started"
        deadline = time.monotonic() + timeout
        tokens: set[bytes] = set()
        with self._seen_changed:
            while not tokens & self._seen:
                now = time.monotonic()
                if now >= deadline or not (self._thread and self._thread.is_alive()):
                    raise CaptureUnavailable(
                        f"capture on {self.iface} did not see its sentinel within {timeout:g} s "
                        f"({len(tokens)} sent; the kernel dropped {self.stats().dropped} packets)"
                    )
                self._counter += 1
                token = _SENTINEL_PREFIX + f"{os.getpid()}-{id(self)}-{self._counter}".encode()
                tokens.add(token)
                self._sentinel_socket.sendto(token, self.sentinel_to or self._sentinel_socket.getsockname())
                resend = min(deadline, now + 0.25)
                while not tokens & self._seen and (left := resend - time.monotonic()) > 0:
                    self._seen_changed.wait(left)
            self._seen -= tokens  # seen once: the set stays small

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        try:
            self.flush(timeout)
        finally:
            self.final_stats = self.stats()
            self._stop.set()
            if self._wake is not None:
                os.write(self._wake[1], b"x")
            self._thread.join(timeout)
            self._thread = None
            if self._sentinel_socket is not None:
                self._sentinel_socket.close()
            if self._wake is not None:
                for fd in self._wake:
                    os.close(fd)
                self._wake = None
            self._handle.close()

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- reading ------------------------------------------------------------------------

    def _read(self) -> None:
        handle = self._handle
        fd = handle.fileno()
        watched = [fd, self._wake[0]] if self._wake is not None else [fd]
        while not self._stop.is_set():
            select.select(watched, [], [], 0.5)  # the wake pipe ends it at once; bounded all the same
            while True:
                packet = handle.next()
                if packet is None:
                    break
                ts, raw = packet
                if _SENTINEL_PREFIX in raw[-64:]:
                    with self._seen_changed:
                        self._seen.add(raw[raw.index(_SENTINEL_PREFIX) :])
                        self._seen_changed.notify_all()
                    continue
                if self.recording:
                    with self._lock:
                        self.frames.append((ts, raw))

    def snapshot(self) -> list[tuple[float, bytes]]:
        with self._lock:
            return list(self.frames)

    def mark(self) -> int:
        """A position in the stream of frames: :meth:`since` it, :meth:`trim` before it."""
        with self._lock:
            return self._base + len(self.frames)

    def since(self, mark: int) -> list[tuple[float, bytes]]:
        with self._lock:
            return self.frames[max(0, mark - self._base) :]

    def trim(self, mark: int) -> None:
        """Forget the frames before ``mark`` (a capture shared by many runs stays small)."""
        with self._lock:
            cut = max(0, min(len(self.frames), mark - self._base))
            del self.frames[:cut]
            self._base += cut

    def stats(self) -> CaptureStats:
        if self.final_stats is not None:
            return self.final_stats
        received, dropped, interface_dropped = self._handle.stats()
        return CaptureStats(received, dropped, interface_dropped)


def write_pcap(path: Path, frames: Iterable[tuple[float, bytes]], linktype: int = DLT_EN10MB) -> Path:
    """Write frames as a classic pcap file (microsecond timestamps) that Wireshark and tshark open."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for ts, raw in frames:
            sec = int(ts)
            usec = min(int(round((ts - sec) * 1e6)), 999_999)
            f.write(struct.pack("<IIII", sec, usec, len(raw), len(raw)))
            f.write(raw)
    return path


_MAGICS = {b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1", b"\x0a\x0d\x0d\x0a"}


def read_pcap(path: Path) -> tuple[int, list[tuple[float, bytes]]]:
    """(linktype, frames) of a pcap or pcapng file; ValueError if it is not one or is cut short."""
    import logging

    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapReader

    with path.open("rb") as f:
        magic = f.read(4)
    if magic not in _MAGICS:
        raise ValueError(f"{path}: not a pcap or pcapng file (it starts with {magic.hex() or 'nothing'})")
    scapy_log = logging.getLogger("scapy.runtime")
    level = scapy_log.level
    scapy_log.setLevel(logging.ERROR)  # we report truncation ourselves
    try:
        reader = RawPcapReader(str(path))
    except (Scapy_Exception, OSError, EOFError) as exc:
        scapy_log.setLevel(level)
        raise ValueError(f"{path}: not a pcap or pcapng file ({exc})") from None
    frames: list[tuple[float, bytes]] = []
    try:
        linktype = int(getattr(reader, "linktype", DLT_EN10MB))
        for raw, meta in reader:
            if len(raw) < getattr(meta, "caplen", len(raw)):
                raise ValueError(f"{path}: truncated or corrupt: packet {len(frames) + 1} is cut short")
            if hasattr(meta, "sec"):
                ts = meta.sec + meta.usec / 1e6
            else:  # pcapng: 64-bit timestamp in tsresol units
                high, low = getattr(meta, "tshigh", 0), getattr(meta, "tslow", 0)
                ts = ((high << 32) | low) / float(getattr(meta, "tsresol", 1_000_000))
                linktype = int(getattr(meta, "linktype", linktype))
            frames.append((ts, raw))
    except (Scapy_Exception, EOFError, struct.error) as exc:
        raise ValueError(f"{path}: truncated or corrupt after {len(frames)} packets ({exc})") from None
    finally:
        reader.close()
        scapy_log.setLevel(level)
    return linktype, frames
