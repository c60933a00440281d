"""Soak: the seed scenario back to back for N minutes; failures, open fds and RSS over time.

    python bench/soak.py [--minutes 5] [--every 20]

Runs ``scenarios/p2p_datachannel.yaml`` (captured and judged as root; without root expect-wire says why
it cannot capture, and passes) in one process
again and again, bounded by ``--minutes``; every ``--every`` runs it prints the runs so far, the
failures, the process's open file descriptors and RSS (the servers and peers of each run live in
this process: a leak of any of them shows here). Target: flat.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

from pytest_webrtc.errors import StepFailure
from pytest_webrtc.fuzz import rss_kb
from pytest_webrtc.scenario import load_scenario, run_scenario

SEED = Path(__file__).parent.parent / "scenarios" / "p2p_datachannel.yaml"


async def main(minutes: float, every: int) -> None:
    scenario = load_scenario(SEED)
    end = time.monotonic() + minutes * 60
    runs = failures = 0
    first: tuple[int, int] | None = None
    while time.monotonic() < end:
        try:
            await run_scenario(scenario, {"keep": "never"})
        except StepFailure as failure:
            failures += 1
            print(f"  failure: {failure}", flush=True)
        runs += 1
        if runs % every == 0:
            fds, rss = len(os.listdir("/proc/self/fd")), rss_kb()
            first = first or (fds, rss)
            print(
                f"{runs:5} runs, {failures} failed, {fds} fds (first {first[0]}), RSS {rss} kB (first {first[1]})",
                flush=True,
            )
    print(f"done: {runs} runs, {failures} failed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--every", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.minutes, args.every))
