"""Capture loss at increasing rates: scapy's plain socket capture vs a kernel BPF filter through libpcap.

    python bench/capture_rate.py [--burst 2000] [--rates 1000,5000,10000,20000,40000]

For each rate, a sender process sends a bounded burst of STUN Binding requests over loopback
(to a sink socket of its own) while a capturing process counts how many distinct requests it
saw: (a) scapy's default socket with a Python ``lfilter`` (``conf.use_pcap = False``), (b) our
``Capture`` — libpcap with the BPF filter in the kernel. The two run side by side, alternating,
in one run; printed: captured/sent per rate and the highest rate with zero loss for each.
Needs root (or CAP_NET_RAW) and libpcap0.8.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import subprocess
import sys
import time

MAGIC = b"\x21\x12\xa4\x42"


def send_burst(port: int, rate: int, count: int) -> None:
    """Sender process: a paced burst of Binding requests (bounded count; busy-waits between sends)."""
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.perf_counter()
    for i in range(count):
        due = start + i / rate
        while time.perf_counter() < due:
            pass
        sender.sendto(b"\x00\x01\x00\x00" + MAGIC + struct.pack("!4xQ", i), ("127.0.0.1", port))


def _wait_for_done() -> None:
    sys.stdin.readline()  # the parent writes a line once the burst is over (bounded by its own timeout)


def capture_plain() -> int:
    """scapy's default capture socket, filtering in Python."""
    import threading

    from scapy.config import conf

    conf.use_pcap = False
    from scapy.layers.inet import UDP
    from scapy.sendrecv import AsyncSniffer

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    port = sink.getsockname()[1]
    seen: set[bytes] = set()
    live = threading.Event()
    sniffer = AsyncSniffer(
        iface="lo",
        lfilter=lambda p: UDP in p and p[UDP].dport == port,
        store=False,
        prn=lambda p: seen.add(bytes(p[UDP].payload)[8:20]),
        started_callback=live.set,
    )
    sniffer.start()
    live.wait(10)
    print(f"READY {port}", flush=True)
    _wait_for_done()
    time.sleep(0.5)  # let the sniffer thread drain what the kernel still holds (it has no sentinel)
    sniffer.stop()
    return len(seen)


def capture_bpf() -> int:
    """Our capture: libpcap, BPF filter in the kernel, sentinel-synchronised start and stop."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from pytest_webrtc.capture.packets import datagrams
    from pytest_webrtc.capture.sniffer import Capture

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    port = sink.getsockname()[1]
    with Capture("lo", "udp") as capture:
        print(f"READY {port}", flush=True)
        _wait_for_done()
    return len({d.payload[8:20] for d in datagrams(capture.frames, capture.linktype) if d.dst[1] == port})


def measure(mode: str, rate: int, burst: int) -> int:
    """Capture in a fresh process (so conf.use_pcap does not leak), send from another, return the count seen."""
    capture = subprocess.Popen(
        [sys.executable, __file__, "--capture", mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert capture.stdin is not None and capture.stdout is not None
    try:
        ready = capture.stdout.readline().split()
        if not ready or ready[0] != "READY":
            raise RuntimeError(f"{mode} capture did not start")
        subprocess.run(
            [sys.executable, __file__, "--send", ready[1], str(rate), str(burst)], check=True, timeout=burst / rate + 30
        )
        capture.stdin.write("done\n")
        capture.stdin.flush()
        out, _ = capture.communicate(timeout=30)
        return int(out.strip().splitlines()[-1])
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.wait()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--send":
        send_burst(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--capture":
        print(capture_plain() if sys.argv[2] == "plain" else capture_bpf())
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--rates", default="1000,5000,10000,20000,40000")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    best = {"plain": 0, "bpf": 0}
    print(f"{'rate req/s':>10}  {'plain socket + lfilter':>24}  {'libpcap + kernel BPF':>22}")
    for i, rate in enumerate(rates):
        counts = {}
        for mode in ("plain", "bpf") if i % 2 == 0 else ("bpf", "plain"):
            counts[mode] = measure(mode, rate, args.burst)
        for mode, count in counts.items():
            if count == args.burst and (i == 0 or best[mode] == rates[i - 1]):
                best[mode] = rate  # every rate up to this one was lossless
        print(
            f"{rate:>10}  {counts['plain']:>12}/{args.burst} {100 * counts['plain'] / args.burst:6.1f} %  "
            f"{counts['bpf']:>10}/{args.burst} {100 * counts['bpf'] / args.burst:6.1f} %",
            flush=True,
        )
    print(
        f"highest rate with zero loss: plain socket {best['plain'] or 'none'} req/s, "
        f"libpcap + BPF {best['bpf'] or 'none'} req/s (of the rates tried)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
