"""The shared capture on lo: each scenario's slice holds its own packets only, and an idle capture holds nothing."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from pytest_webrtc.capture.packets import ip_payload, udp_of
from pytest_webrtc.capture.shared import capture_slice
from pytest_webrtc.capture.sniffer import read_pcap
from pytest_webrtc.errors import StepFailure
from pytest_webrtc.scenario import RunResult, load_scenario, run_scenario

SEED = """\
scenario: {name}
room: {name}
peers: {{alice: {{}}, bob: {{}}}}
steps:
  - join: [alice, bob]
  - offer: {{from: alice, to: bob}}
  - answer: {{from: bob, to: alice}}
  - candidates: {{between: [alice, bob]}}
  - data: {{from: alice, to: bob, send: "{name}"}}
"""


def _ports(frames: list[tuple[float, bytes]], linktype: int) -> set[int]:
    out = set()
    for _, frame in frames:
        parsed = udp_of(ip_payload(linktype, frame) or b"")
        if parsed is not None:
            out |= {parsed[0][1], parsed[1][1]}
    return out


def test_a_slice_holds_what_was_sent_while_it_was_open_and_no_more(can_capture: None) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
    ):
        receiver.bind(("127.0.0.1", 0))
        sender.sendto(b"before", receiver.getsockname())
        part = capture_slice()
        sender.sendto(b"during", receiver.getsockname())
        part.flush()
        payloads = [frame[-6:] for _, frame in part.snapshot()]
        part.stop()
        sender.sendto(b"after!", receiver.getsockname())
        later = capture_slice()
        later.flush()
        later_payloads = [frame[-6:] for _, frame in later.snapshot()]
        later.stop()
    assert payloads.count(b"during") == 1 and b"before" not in payloads
    assert b"during" not in later_payloads and b"after!" not in later_payloads  # sent between slices: dropped
    assert part.capture is later.capture  # one capture for the process
    assert part.capture is not None and part.capture.frames == []  # idle: it holds nothing


def _pcap_ports(result: RunResult) -> set[int]:
    """The UDP ports in a run's kept pcap (what isolation is about: packets, whatever the verdict)."""
    assert result.wire is not None and result.pcap is not None, result.text()
    linktype, frames = read_pcap(result.pcap)
    return _ports(frames, linktype)


def test_two_scenarios_at_once_each_keep_and_judge_only_their_own_packets(can_capture: None, tmp_path: Path) -> None:
    options = {"keep": "always", "capture_dir": tmp_path}

    async def run(name: str) -> RunResult:
        """The run's result, also when a step or the verdict failed (a busy machine's timing is not
        what this test is about: the packets each run kept are)."""
        try:
            return await run_scenario(load_scenario(f"{name}.yaml", SEED.format(name=name)), {**options, "name": name})
        except StepFailure as failure:
            assert isinstance(failure.result, RunResult)
            return failure.result

    async def both() -> list[RunResult]:
        return list(await asyncio.gather(run("a"), run("b")))

    one, two = asyncio.run(both())
    ports_one, ports_two = _pcap_ports(one), _pcap_ports(two)
    assert ports_one and ports_two
    # Each run's STUN server and peers are its own: no port of one is in the other's pcap.
    assert not (ports_one & ports_two), ports_one & ports_two


def test_scenarios_in_a_row_share_one_capture_and_each_pcap_is_its_own(can_capture: None, tmp_path: Path) -> None:
    """Each pcap starts after its own run started: nothing of the run before it (cut by time, not ports)."""
    options = {"keep": "always", "capture_dir": tmp_path}
    for n in range(3):
        started = time.time()
        result = asyncio.run(
            run_scenario(load_scenario(f"r{n}.yaml", SEED.format(name=f"r{n}")), {**options, "name": f"r{n}"})
        )
        assert result.wire is not None and result.wire.ok and result.pcap is not None
        _, frames = read_pcap(result.pcap)
        assert frames and min(ts for ts, _ in frames) >= started - 0.001, (n, min(ts for ts, _ in frames) - started)
