from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_webrtc.nat.netns import cannot_build_namespaces
from pytest_webrtc.nat.topology import Topology
from pytest_webrtc.nat.types import NAT_TYPES


@pytest.fixture(scope="session")
def netns_capable() -> None:
    """Skip, with the reason, where namespaces and nftables are out of reach (CI runs as root and
    fails on any skip)."""
    reason = cannot_build_namespaces()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def every_nat(netns_capable: None) -> Iterator[Topology]:
    """One peer behind each NAT type (peer name = type name)."""
    with Topology({name: name for name in NAT_TYPES}) as topology:
        yield topology
