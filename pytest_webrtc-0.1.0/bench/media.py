"""Media throughput and latency, P2P and through the SFU, over loopback, in one run.

    python bench/media.py [--seconds 4] [--rounds 2] [--sfu-size 320x240]

P2P: two aiortc peers (the harness's PeerAgent, real signaling over WebSocket, trickled
candidates) send a numbered VP8 video track one way, at 320x240 and 640x480. Because every frame
shows its own number, the receiver gives sustained frames per second and end-to-end latency per
frame (decode time minus the time the sender produced that number).

SFU: 3 and 5 peers each send numbered VP8 video to the SFU, which runs as its own process
(``python -m pytest_webrtc sfu``) so that its CPU time can be read from /proc: every peer
receives the N-1 others. Reported: frames per second per received stream (median over streams),
latency per frame, and the SFU's CPU per forwarded stream (share of one core) and per forwarded
frame. All configurations alternate in rounds, so the P2P and SFU numbers come from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from pytest_webrtc.peer.agent import PeerAgent
from pytest_webrtc.signaling.server import SignalingServer

Row = tuple[float, float, float, int]  # fps, latency p50, latency p95, longest gap
TICKS = os.sysconf("SC_CLK_TCK")


def _latencies(times: list[float], numbers: list[int], sent_at: dict[int, float]) -> list[float]:
    return sorted(t - sent_at[n] for t, n in zip(times, numbers, strict=True) if n in sent_at)


def _percentile(values: list[float], q: float) -> float:
    return values[min(int(len(values) * q), len(values) - 1)] if values else float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


async def sfu_run(count: int, width: int, height: int, seconds: float) -> dict[str, float]:
    """``count`` peers through an SFU process; numbers measured over ``seconds`` of steady media."""
    async with SignalingServer() as signaling:
        sfu = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pytest_webrtc", "sfu", "--signaling", signaling.url, "--room", "bench",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert sfu.stdout is not None
        await asyncio.wait_for(sfu.stdout.readline(), 20)  # its first line: it has joined
        peers = [PeerAgent(f"p{i}", signaling.url, "bench") for i in range(count)]
        try:
            for peer in peers:
                await peer.join()
                await peer.add_track("video", "VP8", width, height)
                await peer.connect_to("sfu")
            for peer in peers:
                for other in peers:
                    if other is not peer:
                        await peer.wait_media("video", 1, 20, source=other.id)
            logs = [
                (peer.media_by_track[f"{other.id}.video"], other)
                for peer in peers
                for other in peers
                if other is not peer
            ]
            firsts = [len(log.times) for log, _ in logs]
            cpu_before, started = _cpu_seconds(sfu.pid), time.time()
            await asyncio.sleep(seconds)  # measuring a duration, not synchronising
            cpu = _cpu_seconds(sfu.pid) - cpu_before
            elapsed = time.time() - started
            fps, latencies, gaps, frames = [], [], 0, 0
            for (log, sender), first in zip(logs, firsts, strict=True):
                got = len(log.times) - first
                frames += got
                fps.append(got / elapsed)
                latencies += _latencies(log.times[first:], log.numbers[first:], sender.tracks["video"].sent_at)
                gaps = max(gaps, log.summary()["max_gap"])
            latencies.sort()
            return {
                "fps": statistics.median(fps),
                "p50": _percentile(latencies, 0.5),
                "p95": _percentile(latencies, 0.95),
                "gap": gaps,
                "cpu_per_stream": cpu / elapsed / len(logs),
                "cpu_per_frame": cpu / max(frames, 1),
            }
        finally:
            for peer in peers:
                await peer.close()
            if sfu.returncode is None:
                sfu.terminate()
            await asyncio.wait_for(sfu.wait(), 10)


async def one_run(width: int, height: int, seconds: float) -> Row:
    async with SignalingServer() as signaling:
        alice = PeerAgent("alice", signaling.url, "bench")
        bob = PeerAgent("bob", signaling.url, "bench")
        try:
            await alice.join()
            await bob.join()
            await alice.add_track("video", "VP8", width, height)
            await alice.offer("bob")
            await bob.accept("offer")
            await bob.answer("alice")
            await alice.accept("answer")
            await alice.send_candidates("bob")
            await bob.send_candidates("alice")
            await asyncio.gather(bob.receive_candidates(), alice.receive_candidates())
            await bob.wait_media("video", 1, 10)
            started, first = time.time(), len(bob.media["video"].times)
            await asyncio.sleep(seconds)  # measuring a duration, not synchronising
            log = bob.media["video"]
            frames = len(log.times) - first
            latencies = _latencies(log.times[first:], log.numbers[first:], alice.tracks["video"].sent_at)
            fps = frames / (time.time() - started)
            return fps, _percentile(latencies, 0.5), _percentile(latencies, 0.95), log.summary()["max_gap"]
        finally:
            await alice.close()
            await bob.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sfu-size", default="320x240", help="video size the SFU peers send (default 320x240)")
    args = parser.parse_args()
    sfu_size = tuple(int(v) for v in args.sfu_size.split("x"))
    configs: list[tuple[str, int, int, int]] = [
        ("p2p", 2, 320, 240),
        ("p2p", 2, 640, 480),
        ("sfu", 3, *sfu_size),
        ("sfu", 5, *sfu_size),
    ]
    results: dict[tuple[str, int, int, int], list[dict[str, float]]] = {c: [] for c in configs}
    for i in range(args.rounds):
        for config in configs if i % 2 == 0 else list(reversed(configs)):
            mode, count, width, height = config
            if mode == "p2p":
                fps, p50, p95, gap = asyncio.run(one_run(width, height, args.seconds))
                row = {"fps": fps, "p50": p50, "p95": p95, "gap": gap}
            else:
                row = asyncio.run(sfu_run(count, width, height, args.seconds))
            results[config].append(row)
            print(f"round {i + 1} {_label(config)}: {_describe(row)}", flush=True)
    print(f"\nVP8 over loopback, {args.seconds:g} s per measurement, {args.rounds} rounds (median):")
    medians = {c: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for c, rows in results.items()}
    for config, row in medians.items():
        print(f"  {_label(config)}: {_describe(row)}")
    p2p = medians.get(("p2p", 2, *sfu_size))
    if p2p is not None:
        for config in configs[2:]:
            ratio = medians[config]["p50"] / p2p["p50"]
            print(f"  latency p50 {_label(config)} / P2P at the same size: {ratio:.2f}x")
    return 0


def _label(config: tuple[str, int, int, int]) -> str:
    mode, count, width, height = config
    return f"P2P {width}x{height}" if mode == "p2p" else f"SFU {count} peers {width}x{height}"


def _describe(row: dict[str, float]) -> str:
    text = (
        f"{row['fps']:.1f} fps per stream (source 30), latency p50 {row['p50'] * 1000:.1f} ms "
        f"p95 {row['p95'] * 1000:.1f} ms, longest gap {row['gap']:.0f}"
    )
    if "cpu_per_stream" in row:
        text += (
            f"; SFU CPU {row['cpu_per_stream'] * 100:.2f} % of a core per forwarded stream, "
            f"{row['cpu_per_frame'] * 1e6:.0f} us per forwarded frame"
        )
    return text


if __name__ == "__main__":
    sys.exit(main())
