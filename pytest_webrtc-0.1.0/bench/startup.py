"""What the plugin costs a project that does not use it: one trivial test, with and without the plugin.

    python bench/startup.py [--rounds 10]

Runs ``pytest -q test_trivial.py`` in a fresh directory (no ini, so nothing else loads), with the
plugin (installed, so it autoloads) and with ``-p no:webrtc``, alternating, each also under
``PYTHONDONTWRITEBYTECODE=1`` (pytest then rewrites the asserts of what it imports on every run).
Prints the medians, the difference, and the in-process import time of ``pytest_webrtc.plugin``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], cwd: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - started


def main(rounds: int) -> None:
    work = tempfile.mkdtemp(prefix="pytest-webrtc-startup-")
    Path(work, "test_trivial.py").write_text("def test_nothing():\n    assert 1 + 1 == 2\n")
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_trivial.py"]
    cases = {
        "plugin loaded": (base, {}),
        "-p no:webrtc": ([*base, "-p", "no:webrtc"], {}),
        "plugin loaded, PYTHONDONTWRITEBYTECODE=1": (base, {"PYTHONDONTWRITEBYTECODE": "1"}),
        "-p no:webrtc, PYTHONDONTWRITEBYTECODE=1": ([*base, "-p", "no:webrtc"], {"PYTHONDONTWRITEBYTECODE": "1"}),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (argv, extra) in cases.items():
            times[name].append(timed(argv, work, {**os.environ, **extra}))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:45} {value * 1000:7.1f} ms (median of {rounds})")
    print(f"the plugin's cost: {(medians['plugin loaded'] - medians['-p no:webrtc']) * 1000:+.1f} ms; with "
          f"PYTHONDONTWRITEBYTECODE=1: {(medians['plugin loaded, PYTHONDONTWRITEBYTECODE=1'] - medians['-p no:webrtc, PYTHONDONTWRITEBYTECODE=1']) * 1000:+.1f} ms")  # fmt: skip
    code = "import time, pytest; t = time.perf_counter(); import pytest_webrtc.plugin; print(time.perf_counter() - t)"
    imports = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
               for _ in range(rounds)]  # fmt: skip
    print(f"import pytest_webrtc.plugin (after pytest): {statistics.median(imports) * 1000:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    main(parser.parse_args().rounds)
