"""Long live fuzzing of the STUN and signaling servers (the test suite runs a few thousand inputs).

    python bench/fuzz.py [--count 1000000] [--seed 8489]

Starts each server on loopback, sends ``count`` mutated inputs (pytest_webrtc.fuzz), then checks
that a correct request is still answered; prints inputs, seconds, health, internal errors and the
process's RSS before and after. Every loop is bounded by ``count``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from pytest_webrtc.fuzz import fuzz_signaling, fuzz_stun
from pytest_webrtc.signaling.server import SignalingServer
from pytest_webrtc.stun.auth import ShortTermAuth
from pytest_webrtc.stun.server import StunServer


async def main(count: int, seed: int) -> None:
    for name, options in (
        ("plain", {}),
        ("short-term", {"auth": ShortTermAuth("u", "p")}),
        ("rfc5780", {"other_host": "127.0.0.2"}),
    ):
        async with StunServer("127.0.0.1", log_size=0, **options) as server:  # type: ignore[arg-type]
            assert server.udp_address is not None
            started = time.perf_counter()
            report = await fuzz_stun(server.udp_address, server.tcp_address, count, seed)
            print(
                f"stun {name:10} {report.sent} inputs in {time.perf_counter() - started:.1f} s, healthy "
                f"{report.healthy} ({report.health}), internal errors {server.internal_errors}, "
                f"RSS {report.rss_before_kb} -> {report.rss_after_kb} kB",
                flush=True,
            )
    async with SignalingServer(relay_log=1000) as signaling:
        started = time.perf_counter()
        report = await fuzz_signaling(signaling.url, count // 10, seed)
        print(
            f"signaling       {report.sent} frames in {time.perf_counter() - started:.1f} s, healthy {report.healthy}, "
            f"{signaling.error_count} errors answered, RSS {report.rss_before_kb} -> {report.rss_after_kb} kB"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=8489)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.seed))
