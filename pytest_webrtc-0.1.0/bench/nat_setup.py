"""What a NAT topology costs: set-up and tear-down beside a whole NAT scenario, in one run.

    python bench/nat_setup.py [--rounds 5]

Alternating rounds: (a) build and remove a two-peer topology (5 namespaces, 4 veth pairs, nftables
rules) with nothing running in it; (b) run scenarios/nat/full_cone_both.yaml end to end (the same
topology, STUN and signaling in the public namespace, two aiortc peer processes, data). Prints the
medians and the share of the scenario that set-up and tear-down take. Needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from pytest_webrtc.nat.netns import cannot_build_namespaces
from pytest_webrtc.nat.topology import Topology
from pytest_webrtc.scenario import load_scenario, run_scenario

SCENARIO = Path(__file__).parents[1] / "scenarios" / "nat" / "full_cone_both.yaml"


def topology_only() -> tuple[float, float]:
    started = time.perf_counter()
    topology = Topology({"alice": "full-cone", "bob": "full-cone"})
    topology.build()
    built = time.perf_counter()
    topology.close()
    return built - started, time.perf_counter() - built


def scenario() -> float:
    started = time.perf_counter()
    asyncio.run(run_scenario(load_scenario(SCENARIO), {"keep": "never"}))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    reason = cannot_build_namespaces()
    if reason:
        print(f"cannot measure: {reason}")
        return 1
    builds, teardowns, runs = [], [], []
    for i in range(args.rounds):
        for step in ("topology", "scenario") if i % 2 == 0 else ("scenario", "topology"):
            if step == "topology":
                build, teardown = topology_only()
                builds.append(build)
                teardowns.append(teardown)
            else:
                runs.append(scenario())
        print(f"round {i + 1}: set-up {builds[-1] * 1000:.0f} ms, tear-down {teardowns[-1] * 1000:.0f} ms, "
              f"scenario {runs[-1] * 1000:.0f} ms", flush=True)  # fmt: skip
    build, teardown, run = (statistics.median(v) for v in (builds, teardowns, runs))
    print(f"\nmedians of {args.rounds} rounds: topology set-up {build * 1000:.0f} ms, tear-down "
          f"{teardown * 1000:.0f} ms; full_cone_both.yaml {run * 1000:.0f} ms end to end")  # fmt: skip
    print(f"set-up + tear-down / whole scenario: {(build + teardown) / run:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
