"""Nothing a topology creates outlives it: namespaces, links, nftables tables — even when it fails."""

from __future__ import annotations

import os

import pytest

from pytest_webrtc.errors import HarnessConfigError
from pytest_webrtc.nat import netns
from pytest_webrtc.nat.topology import Topology

from ..process_helpers import read_line


def _ours() -> list[str]:
    return [name for name in netns.leftover_namespaces() if name.startswith(f"{netns.PREFIX}{os.getpid()}-")]


def _machine_state() -> tuple[str, str]:
    """The machine's own links and nftables tables (the namespaces' must never show up here)."""
    import os

    links = netns.run("ip", "-o", "link", "show")
    tables = netns.run("nft", "list", "tables")
    names = [line.split(":")[1].strip() for line in links.splitlines()]
    # another xdist worker's veths to the machine (Janus, a TURN uplink: pw<its pid>...) come and go meanwhile
    ours = f"pw{os.getpid() % 10**6}"
    return " ".join(sorted(n for n in names if not n.startswith("pw") or n.startswith(ours))), tables


def test_a_topology_leaves_nothing_behind(netns_capable: None) -> None:
    before_names, before_machine = _ours(), _machine_state()
    with Topology({"a": "symmetric", "b": "full-cone"}) as topology:
        assert len(_ours()) == len(before_names) + 5  # public, two routers, two peers
        assert _machine_state() == before_machine  # links and rules live inside the namespaces only
        assert "pwrtc" in topology.sites["a"].router.sh("nft", "list", "tables")
    assert _ours() == before_names
    assert _machine_state() == before_machine
    assert not [n for n in os.listdir(netns.NETNS_ETC) if n.startswith(f"{netns.PREFIX}{os.getpid()}-")]  # resolvers


def test_a_failed_build_removes_what_it_had_made(netns_capable: None, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _ours()
    calls = []

    def failing_nft(self: netns.Namespace, ruleset: str) -> None:
        calls.append(self.name)
        if len(calls) == 2:
            raise HarnessConfigError("nft refused the ruleset (simulated)")
        self.sh("nft", "-f", "-", stdin=ruleset)

    monkeypatch.setattr(netns.Namespace, "nft", failing_nft)
    with pytest.raises(HarnessConfigError, match="simulated"):
        with Topology({"a": "full-cone", "b": "symmetric", "c": "none"}):
            pass
    assert _ours() == before


def test_unknown_nat_types_are_refused_before_anything_is_built(netns_capable: None) -> None:
    before = _ours()
    with pytest.raises(HarnessConfigError, match="unknown NAT type 'cone'; known: none, full-cone"):
        Topology({"a": "cone"}).build()
    assert _ours() == before


def test_namespaces_of_a_killed_run_are_removed_by_the_next(netns_capable: None) -> None:
    import subprocess
    import sys

    # A child process creates a namespace and is killed before it can clean up.
    child = subprocess.Popen(
        [sys.executable, "-c", "from pytest_webrtc.nat.netns import Namespace; import time; "
         "print(Namespace('orphan').name, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        name = read_line(child).strip()
        assert name in netns.leftover_namespaces()
        assert name not in netns.remove_orphans()  # its process still runs: not an orphan
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert _removed_as_orphan(name)


def _removed_as_orphan(name: str) -> bool:
    """``remove_orphans()`` removes the namespace of a dead process — ours, or the same call in the other
    worker's next topology build, which may come first (seen once the sealed external-peer runs made
    builds frequent: our call then found nothing to remove). Either way it is gone afterwards."""
    netns.remove_orphans()
    return name not in netns.leftover_namespaces()


def test_a_link_element_dies_with_a_killed_run_and_its_namespace_goes_with_the_next(netns_capable: None) -> None:
    """SIGKILL of the process holding a topology with a link: the element's process (owned) ends,
    its TUN devices live in the link namespace, which the next build removes as an orphan."""
    import signal
    import subprocess
    import sys
    import time

    child = subprocess.Popen(
        [sys.executable, "-c", "from pytest_webrtc.nat.link import LinkConditions; "
         "from pytest_webrtc.nat.topology import Topology; import time; "
         "t = Topology({'a': 'none'}, links={'a': (LinkConditions(delay=0.01), LinkConditions())}); t.build(); "
         "print(t.sites['a'].link.process.pid, t.sites['a'].link.namespace.name, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        element, link_namespace = read_line(child).split()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()

    def gone() -> bool:
        try:
            with open(f"/proc/{element}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie: it ended
        except FileNotFoundError:
            return True

    deadline = time.monotonic() + 10
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the element's death (SIGTERM from the kernel): bounded by the deadline
    assert gone(), f"the link element {element} outlived the run that owned it"
    assert _removed_as_orphan(link_namespace)
