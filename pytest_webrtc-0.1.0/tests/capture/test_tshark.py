"""Cross-checks with Wireshark's dissector: what we read from a capture, tshark reads too."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_webrtc.capture.packets import datagrams
from pytest_webrtc.capture.sniffer import read_pcap
from pytest_webrtc.capture.verify import verify
from pytest_webrtc.scenario import load_scenario, run_scenario

pytestmark = [
    pytest.mark.usefixtures("can_capture"),
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (apt-get install tshark)"),
]

ROOT = Path(__file__).parent.parent.parent


def tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    args = ["tshark", "-r", str(path), "-Y", "stun", "-T", "fields", "-E", "separator=|"]
    for field in fields:
        args += ["-e", field]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.split("|") for line in out.splitlines() if line]


@pytest.fixture(scope="module")
def seed_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("captures")
    scenario = load_scenario(ROOT / "scenarios" / "p2p_datachannel.yaml")
    result = asyncio.run(run_scenario(scenario, {"keep": "always", "capture_dir": directory}))
    assert result.pcap is not None and result.wire is not None and result.wire.ok
    return result.pcap


def test_tshark_decodes_the_seed_capture_as_stun(seed_pcap: Path) -> None:
    rows = tshark_fields(seed_pcap, "frame.number", "stun.type", "stun.id")
    linktype, frames = read_pcap(seed_pcap)
    ours = [r for r in verify(datagrams(frames, linktype)).records]
    assert len(rows) == len(ours) >= 8
    for row, record in zip(rows, ours, strict=True):
        number, message_type, tid = row
        assert record.message is not None
        assert int(number) == record.number
        assert int(message_type, 16) == int.from_bytes(record.datagram.payload[:2], "big")
        assert tid.replace(":", "") == record.message.transaction_id.hex()


def test_mapped_addresses_and_usernames_agree_with_tshark(seed_pcap: Path) -> None:
    rows = tshark_fields(seed_pcap, "frame.number", "stun.att.ipv4", "stun.att.port", "stun.att.username")
    linktype, frames = read_pcap(seed_pcap)
    records = {r.number: r for r in verify(datagrams(frames, linktype)).records}
    compared = 0
    for number, ipv4, port, username in rows:
        message = records[int(number)].message
        assert message is not None
        mapped = message.get("XOR-MAPPED-ADDRESS")
        if mapped is not None:
            assert (ipv4.split(",")[0], int(port.split(",")[0])) == mapped
            compared += 1
        if username:
            assert username == message.get("USERNAME")
            compared += 1
    assert compared >= 6  # 4 mapped addresses (2 STUN server, 2 ICE check responses) and 2 usernames


def test_the_seed_capture_is_all_valid(seed_pcap: Path) -> None:
    linktype, frames = read_pcap(seed_pcap)
    verdict = verify(datagrams(frames, linktype))
    assert verdict.records and all(r.valid for r in verdict.records)
    assert verdict.kinds["dtls"] > 0  # DTLS follows ICE on the same 5-tuple
