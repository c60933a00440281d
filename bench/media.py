"""Media throughput and latency: one numbered video track P2P over loopback, at two sizes, one run.

    python bench/media.py [--seconds 5] [--rounds 2]

Two aiortc peers (the harness's PeerAgent, real signaling over WebSocket, trickled candidates)
send a numbered VP8 video track one way. Because every frame shows its own number, the receiver
gives sustained frames per second and end-to-end latency per frame (decode time minus the time
the sender produced that number). 320x240 and 640x480 alternate in rounds. The SFU of issue 7
does not exist yet, so its rows are missing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

from pytest_webrtc.peer.agent import PeerAgent
from pytest_webrtc.signaling.server import SignalingServer


async def one_run(width: int, height: int, seconds: float) -> tuple[float, float, float, int]:
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
            sent_at = alice.tracks["video"].sent_at
            latencies = sorted(
                t - sent_at[n] for t, n in zip(log.times[first:], log.numbers[first:], strict=True) if n in sent_at
            )
            p50 = latencies[len(latencies) // 2] if latencies else float("nan")
            p95 = latencies[int(len(latencies) * 0.95)] if latencies else float("nan")
            return frames / (time.time() - started), p50, p95, log.summary()["max_gap"]
        finally:
            await alice.close()
            await bob.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sizes = [(320, 240), (640, 480)]
    results: dict[tuple[int, int], list[tuple[float, float, float, int]]] = {size: [] for size in sizes}
    for i in range(args.rounds):
        for size in sizes if i % 2 == 0 else list(reversed(sizes)):
            row = asyncio.run(one_run(*size, args.seconds))
            results[size].append(row)
            print(
                f"round {i + 1} {size[0]}x{size[1]}: {row[0]:.1f} fps, latency p50 {row[1] * 1000:.1f} ms "
                f"p95 {row[2] * 1000:.1f} ms, max gap {row[3]}",
                flush=True,
            )
    print(f"\nVP8 P2P over loopback, {args.seconds:g} s per round, {args.rounds} rounds (median):")
    for size, rows in results.items():
        fps = statistics.median(r[0] for r in rows)
        p50 = statistics.median(r[1] for r in rows)
        p95 = statistics.median(r[2] for r in rows)
        print(
            f"  {size[0]}x{size[1]}: {fps:.1f} fps (source: 30), latency p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"
        )
    print("  SFU with 3 and 5 peers: not measured (no SFU yet)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
