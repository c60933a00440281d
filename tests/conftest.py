from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy  # noqa: F401
import pytest

from pytest_webrtc.capture.sniffer import capture_available

# numpy's C core cannot be loaded twice in one process, and pytester's in-process runs drop the
# modules first imported inside them: a scenario's media step importing numpy there would break
# every later importer in that worker ("cannot load module more than once per process"). Imported
# here, before any test, it survives them.

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def rfc5769_vectors() -> list[dict[str, Any]]:
    """The four RFC 5769 test vectors (copied from shared/vectors, verified there)."""
    return list(json.loads((DATA / "rfc5769.json").read_text())["vectors"])


@pytest.fixture(scope="session")
def can_capture() -> None:
    """Skip, with the reason, where packets cannot be captured (no root or CAP_NET_RAW, no libpcap)."""
    reason = capture_available("lo")
    if reason is not None:
        pytest.skip(f"packet capture unavailable: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No network namespace this test process created may survive the run, nor its resolver folder
    (each worker checks its own)."""
    import os

    from pytest_webrtc.nat.netns import NETNS_ETC, PREFIX, cannot_build_namespaces, leftover_namespaces

    if cannot_build_namespaces() is not None:
        return
    ours = f"{PREFIX}{os.getpid()}-"
    mine = [name for name in leftover_namespaces() if name.startswith(ours)]
    # and their sealed resolvers (/etc/netns/NAME), which go with them
    mine += [
        f"{NETNS_ETC}/{n}" for n in (os.listdir(NETNS_ETC) if os.path.isdir(NETNS_ETC) else []) if n.startswith(ours)
    ]
    if mine:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nnetwork namespaces left behind by this run: {', '.join(mine)}")
