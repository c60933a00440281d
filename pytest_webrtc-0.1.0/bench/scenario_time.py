"""Harness overhead: the seed scenario vs a bare aiortc two-peer script, side by side in one run.

    python bench/scenario_time.py [--rounds 10] [--no-suite]

1. Seed flow, join to first message received: the harness (WebSocket signaling, trickled
   candidates, every step checked) against bare aiortc (two RTCPeerConnections in one process,
   SDP with candidates handed over directly). Both use a STUN server on loopback and
   loopback-only host candidates. Rounds alternate; medians and their ratio are printed.
2. The whole scenarios/ suite, serial and with pytest-xdist -n 2 (wall-clock).
Traffic stays on loopback; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from pytest_webrtc.peer.agent import split_candidates
from pytest_webrtc.peer.hosts import LOOPBACK, host_addresses
from pytest_webrtc.scenario import load_scenario, run_scenario
from pytest_webrtc.stun.server import StunServer

ROOT = Path(__file__).parent.parent
SEED = """\
scenario: seed, join to first message
peers: {alice: {}, bob: {}}
steps:
  - join: [alice, bob]
  - offer: {from: alice, to: bob}
  - answer: {from: bob, to: alice}
  - candidates: {between: [alice, bob]}
  - data: {from: alice, to: bob, send: hello}
"""


async def harness_once() -> float:
    result = await run_scenario(load_scenario("seed.yaml", SEED))
    return sum(step.seconds for step in result.steps)  # join .. first message received


async def bare_once(trickle: bool = False, delay: float = 0.0) -> float:
    """Two peers in one process; with ``trickle``, candidates leave the SDP and go through addIceCandidate,
    each ``delay`` seconds after the previous step (a stand-in for a signaling hop)."""
    async with StunServer() as stun:
        assert stun.udp_address is not None
        config = RTCConfiguration(iceServers=[RTCIceServer(urls=f"stun:127.0.0.1:{stun.udp_address[1]}")])
        started = time.perf_counter()
        alice, bob = RTCPeerConnection(config), RTCPeerConnection(config)
        received: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        @bob.on("datachannel")
        def on_channel(channel):  # type: ignore[no-untyped-def]
            channel.on("message", lambda m: received.done() or received.set_result(m))

        channel = alice.createDataChannel("data")
        channel.on("open", lambda: channel.send("hello"))
        with host_addresses(LOOPBACK):
            await alice.setLocalDescription(await alice.createOffer())
            offer, alice_candidates = _maybe_split(alice.localDescription, trickle)
            await bob.setRemoteDescription(offer)
            await bob.setLocalDescription(await bob.createAnswer())
        answer, bob_candidates = _maybe_split(bob.localDescription, trickle)
        await alice.setRemoteDescription(answer)
        for pc, candidates in ((bob, alice_candidates), (alice, bob_candidates)):
            for candidate in candidates:
                if delay:
                    await asyncio.sleep(delay)  # simulated signaling latency, not synchronisation
                ice = candidate_from_sdp(candidate.candidate.removeprefix("candidate:"))
                ice.sdpMid, ice.sdpMLineIndex = candidate.sdp_mid, candidate.sdp_mline_index
                await pc.addIceCandidate(ice)
            if trickle:
                await pc.addIceCandidate(None)
        await asyncio.wait_for(received, 10)
        elapsed = time.perf_counter() - started
        await alice.close()
        await bob.close()
        return elapsed


def _maybe_split(description: RTCSessionDescription, trickle: bool) -> tuple[RTCSessionDescription, list[Any]]:
    if not trickle:
        return description, []
    sdp, candidates = split_candidates(description.sdp)
    return RTCSessionDescription(sdp=sdp, type=description.type), candidates


def suite_time(extra: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios", "-q", "-p", "no:randomly", *extra],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--no-suite", action="store_true", help="skip timing the scenarios/ suite")
    args = parser.parse_args()

    runs = {
        "harness (signaling + trickle + checks)": harness_once,
        "bare aiortc, candidates in the SDP": bare_once,
        "bare aiortc, trickled candidates": lambda: bare_once(trickle=True),
        "bare aiortc, trickled, 4 ms per hop": lambda: bare_once(trickle=True, delay=0.004),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    asyncio.run(bare_once())  # warm up imports and certificate generation code paths
    for i in range(args.rounds):
        order = list(runs) if i % 2 == 0 else list(reversed(runs))
        for name in order:
            times[name].append(asyncio.run(runs[name]()))  # type: ignore[no-untyped-call]
    print(f"seed flow, join to first message received, {args.rounds} rounds (median):")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"  {name:40s} {medians[name] * 1000:7.1f} ms  (min {min(values) * 1000:.1f})")
    harness, plain, trickled, delayed = medians.values()
    print(f"  ratio harness / bare aiortc:                        {harness / plain:.2f}x")
    print(f"  ratio harness / bare trickling aiortc:              {harness / trickled:.2f}x")
    print(f"  ratio harness / bare trickling aiortc, 4 ms a hop:  {harness / delayed:.2f}x")
    if not args.no_suite:
        serial, parallel = suite_time([]), suite_time(["-n", "2"])
        print(f"scenarios/ suite: serial {serial:.1f} s, -n 2 {parallel:.1f} s (ratio {parallel / serial:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
