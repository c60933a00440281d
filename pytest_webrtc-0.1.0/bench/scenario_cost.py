"""What a scenario costs: the seed scenario, phase by phase, beside a bare aiortc run, in one process.

    python bench/scenario_cost.py [--rounds 20]

1. Warm: ``scenarios/p2p_datachannel.yaml`` run by ``run_scenario`` (capture and wire verdict
   included; the pcap is not kept, as pytest's default keeps it only on failure), alternating
   with the bare run the issue names: two aiortc peers on loopback, offer/answer with the
   candidates inside, a data channel, one message each way, both closed.  Medians per phase
   (``RunResult.phases``: world set-up, steps, reports, verdict, ladder, teardown, pcap) and the
   ratio of the totals.
2. The first scenario of a fresh process against the next ones (three runs in a subprocess),
   with what its first world set-up spent importing.
Traffic stays on loopback; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from pytest_webrtc.addresses import format_hostport
from pytest_webrtc.peer.hosts import LOOPBACK, host_addresses
from pytest_webrtc.scenario import load_scenario, run_scenario
from pytest_webrtc.stun.server import StunServer

ROOT = Path(__file__).parent.parent
SEED = ROOT / "scenarios" / "p2p_datachannel.yaml"


async def seed_once() -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    result = await run_scenario(load_scenario(SEED.name, SEED.read_text()), {"keep": "never"})
    return time.perf_counter() - started, result.phases


async def bare_once(stun: bool = False) -> float:
    """Two peers on loopback, candidates in the SDP, a data channel, one message each way, close.

    With ``stun``, a STUN server on loopback (started and stopped inside the time, as the seed
    scenario's is): both peers gather a server-reflexive candidate, as the seed's do."""
    started = time.perf_counter()
    server = await StunServer().start() if stun else None
    servers = (
        [RTCIceServer(urls=f"stun:{format_hostport(server.udp_address)}")] if server and server.udp_address else []
    )
    alice, bob = (
        RTCPeerConnection(RTCConfiguration(iceServers=servers)),
        RTCPeerConnection(RTCConfiguration(iceServers=servers)),
    )
    loop = asyncio.get_running_loop()
    at_bob, at_alice = loop.create_future(), loop.create_future()

    @bob.on("datachannel")
    def on_channel(channel):  # type: ignore[no-untyped-def]
        @channel.on("message")
        def on_message(message):  # type: ignore[no-untyped-def]
            if not at_bob.done():
                at_bob.set_result(message)
                channel.send("pong")

    channel = alice.createDataChannel("data")
    channel.on("open", lambda: channel.send("ping"))
    channel.on("message", lambda m: at_alice.done() or at_alice.set_result(m))
    with host_addresses(LOOPBACK):
        await alice.setLocalDescription(await alice.createOffer())
        await bob.setRemoteDescription(alice.localDescription)
        await bob.setLocalDescription(await bob.createAnswer())
    await alice.setRemoteDescription(bob.localDescription)
    await asyncio.wait_for(asyncio.gather(at_bob, at_alice), 10)
    await alice.close()
    await bob.close()
    if server is not None:
        await server.stop()
    return time.perf_counter() - started


FIRST = """
import asyncio, json, sys, time
started = time.perf_counter()
from pytest_webrtc.scenario import load_scenario, run_scenario
from pytest_webrtc.stun.server import StunServer
imported = time.perf_counter() - started
text = open(sys.argv[1]).read()
async def main():
    out = []
    for _ in range(3):
        t = time.perf_counter()
        result = await run_scenario(load_scenario("p2p_datachannel.yaml", text), {"keep": "never"})
        out.append([time.perf_counter() - t, result.phases])
    return out
print(json.dumps({"import": imported, "runs": asyncio.run(main())}))
"""


def first_scenario() -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", FIRST, str(SEED)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--first", type=int, default=3, help="fresh processes for the first-scenario figure")
    args = parser.parse_args()

    asyncio.run(bare_once())  # warm both: imports, certificates, the shared capture
    asyncio.run(seed_once())
    seed: list[float] = []
    bare: list[float] = []
    bare_stun: list[float] = []
    phases: dict[str, list[float]] = {}
    for i in range(args.rounds):
        for kind in ("bare", "stun", "seed") if i % 2 == 0 else ("seed", "stun", "bare"):
            if kind == "bare":
                bare.append(asyncio.run(bare_once()))
            elif kind == "stun":
                bare_stun.append(asyncio.run(bare_once(stun=True)))
            else:
                total, laps = asyncio.run(seed_once())
                seed.append(total)
                for name, seconds in laps.items():
                    phases.setdefault(name, []).append(seconds)
    ms = 1000.0
    print(f"warm, {args.rounds} alternating rounds in one process (median, ms):")
    print(f"  bare aiortc (offer/answer, channel, a message each way, close)  {statistics.median(bare) * ms:6.1f}")
    print(f"  bare aiortc, the same with a STUN server on loopback (srflx)    {statistics.median(bare_stun) * ms:6.1f}")
    print(f"  seed scenario, whole (capture and verdict included)             {statistics.median(seed) * ms:6.1f}")
    for name, values in phases.items():
        print(f"    {name:12s} {statistics.median(values) * ms:6.1f}")
    print(
        f"  ratio seed / bare: {statistics.median(seed) / statistics.median(bare):.2f}x (target <= 2x); "
        f"against the bare run with STUN: {statistics.median(seed) / statistics.median(bare_stun):.2f}x"
    )
    overs = []
    for _ in range(args.first):
        found = first_scenario()
        runs = found["runs"]  # type: ignore[index]
        first, later = runs[0][0], statistics.median(r[0] for r in runs[1:])  # type: ignore[index]
        overs.append(first - later)
        world = runs[0][1].get("world", 0.0)  # type: ignore[index]
        print(
            f"fresh process: import {found['import'] * ms:.0f} ms, first scenario {first * ms:.0f} ms "  # type: ignore[operator]
            f"(its world set-up {world * ms:.0f} ms), next ones {later * ms:.0f} ms"
        )
    print(f"  first scenario over the next ones (median): {statistics.median(overs) * ms:.0f} ms (target <= 200)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
