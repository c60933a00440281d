"""``python -m pytest_webrtc inspect``: our pcaps, a pcap tshark wrote, bad files."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_webrtc.capture.sniffer import capture_available, write_pcap
from pytest_webrtc.scenario import load_scenario, run_scenario
from pytest_webrtc.stun import Message, MessageClass, Method
from pytest_webrtc.stun.server import StunServer

from .wire_helpers import udp_frame

ROOT = Path(__file__).parent.parent


def inspect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_webrtc", "inspect", *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def seed_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = capture_available("lo")
    if reason is not None:
        pytest.skip(f"packet capture unavailable: {reason}")
    directory = tmp_path_factory.mktemp("captures")
    result = asyncio.run(
        run_scenario(
            load_scenario(ROOT / "scenarios" / "p2p_datachannel.yaml"), {"keep": "always", "capture_dir": directory}
        )
    )
    assert result.pcap is not None
    return result.pcap


def test_text_report_of_our_capture(seed_pcap: Path) -> None:
    result = inspect(str(seed_pcap))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "8 STUN messages" in out and "verdict: PASS" in out
    assert "BINDING success [XOR-MAPPED-ADDRESS=127.0.0.1:" in out
    assert "USE-CANDIDATE" in out  # the controlling agent's nomination
    assert "alice" in out and "bob" in out and "STUN" in out  # actors named from the sidecar
    assert " ms  BINDING success" in out  # request/response pairs with round-trip times


def test_json_and_html_outputs(seed_pcap: Path, tmp_path: Path) -> None:
    data = json.loads(inspect(str(seed_pcap), "--format", "json").stdout)
    assert data["ok"] is True and len(data["messages"]) == 8 and data["kinds"]["stun"] == 8
    assert {"alice", "bob", "STUN", "signaling"} <= set(data["ladder"]["actors"])
    assert all(e["response"] is not None for e in data["exchanges"])
    page = tmp_path / "ladder.html"
    result = inspect(str(seed_pcap), "--format", "html", "-o", str(page))
    assert result.returncode == 0
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "Verdict: <b>PASS</b>" in html


def test_filters(seed_pcap: Path) -> None:
    sidecar = json.loads(Path(str(seed_pcap) + ".json").read_text())
    stun_port = sidecar["stun_servers"][0][1]
    by_port = json.loads(inspect(str(seed_pcap), "--format", "json", "--port", str(stun_port)).stdout)
    assert len(by_port["messages"]) == 4
    first_tid = by_port["messages"][0]["transaction_id"]
    by_tid = json.loads(inspect(str(seed_pcap), "--format", "json", "--transaction", first_tid[:6]).stdout)
    assert {m["transaction_id"] for m in by_tid["messages"]} == {first_tid}


def test_a_filter_that_matches_nothing_says_so(seed_pcap: Path) -> None:
    """Measured before: '8 STUN messages judged', an empty table and 'verdict: PASS'."""
    result = inspect(str(seed_pcap), "--transaction", "ffffffff")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(
        f"inspect: no STUN message of {seed_pcap.name} matches --transaction ffffffff (8 in the file"
    )
    shown = inspect(str(seed_pcap), "--port", "1")
    assert shown.returncode == 2 and "matches --port 1" in shown.stderr


def test_a_filtered_report_says_what_it_shows_and_whose_verdict_it_is(seed_pcap: Path) -> None:
    sidecar = json.loads(Path(str(seed_pcap) + ".json").read_text())
    stun_port = sidecar["stun_servers"][0][1]
    out = inspect(str(seed_pcap), "--port", str(stun_port)).stdout
    assert f"8 STUN messages judged, 4 shown (--port {stun_port})" in out
    assert "verdict (of the whole file; the table shows what the filter kept): PASS" in out


def test_the_html_page_carries_everything_the_text_has(seed_pcap: Path, tmp_path: Path) -> None:
    text = inspect(str(seed_pcap)).stdout
    page = tmp_path / "report.html"
    assert inspect(str(seed_pcap), "--format", "html", "-o", str(page)).returncode == 0
    html = page.read_text()
    for title in (
        "exchanges (request -&gt; response, round-trip time)",
        "DTLS handshakes (in clear until ChangeCipherSpec)",
    ):
        assert f"<h2>{title}</h2>" in html and title.replace("&gt;", ">") + ":" in text
    exchange = next(line.strip() for line in text.splitlines() if " ms  BINDING success" in line)
    assert f"<li>{exchange.replace('>', '&gt;')}</li>" in html
    assert "<th>time (ms)</th>" in html and "Ladder (time in ms from the first event)" in html
    assert "<td>alice 127.0.0.1:" in html and "<td>STUN 127.0.0.1:" in html  # actors named, as in the text's ladder


def test_a_broken_capture_fails_the_verdict(tmp_path: Path) -> None:
    request = Message(Method.BINDING, MessageClass.REQUEST, b"T" * 12)
    response = Message(Method.BINDING, MessageClass.SUCCESS, b"T" * 12).add("XOR-MAPPED-ADDRESS", ("127.0.0.1", 1))
    frames = [
        (1.0, udp_frame(("127.0.0.1", 5000), ("127.0.0.1", 3478), request.encode())),
        (1.1, udp_frame(("127.0.0.1", 3478), ("127.0.0.1", 5000), response.encode())),
        (1.2, udp_frame(("127.0.0.1", 5000), ("127.0.0.1", 6000), b"\x80not stun, RTP-ish")),
    ]
    path = write_pcap(tmp_path / "broken.pcap", frames)
    result = inspect(str(path))
    assert result.returncode == 1
    assert "wire.xor-mapped-address (RFC 8489 §14.2)" in result.stdout
    assert "2 STUN messages judged; 1 other datagrams (rtp 1)" in result.stdout
    assert "verdict: FAIL" in result.stdout


@pytest.mark.parametrize(
    "content", [b"", b"GIF89a not a capture", b"\xd4\xc3\xb2\xa1\x02\x00"], ids=["empty", "other", "cut"]
)
def test_bad_files_get_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    result = inspect(str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"inspect: {path}: ")
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(
    shutil.which("tshark") is None or shutil.which("turnutils_stunclient") is None,
    reason="needs tshark and coturn's turnutils_stunclient (apt-get install tshark coturn)",
)
def test_a_pcapng_written_by_tshark(tmp_path: Path, can_capture: None) -> None:
    """A capture we did not write: tshark records coturn's C client asking our server."""
    path = tmp_path / "tshark.pcapng"

    async def exchange() -> int:
        async with StunServer("127.0.0.1", tcp=False) as server:
            assert server.udp_address is not None
            port = server.udp_address[1]
            log = tmp_path / "tshark.log"
            with log.open("w") as stderr:
                tshark = subprocess.Popen(
                    ["tshark", "-i", "lo", "-f", f"udp port {port}", "-c", "2", "-a", "duration:20", "-w", str(path)],
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            try:
                deadline = time.monotonic() + 20
                while "Capture started" not in log.read_text():  # tshark says when it is live
                    assert time.monotonic() < deadline, f"tshark did not start capturing: {log.read_text()}"
                    await asyncio.sleep(0.05)  # polling a log file, bounded by the deadline
                client = await asyncio.create_subprocess_exec(
                    "timeout",
                    "10",
                    "turnutils_stunclient",
                    "-p",
                    str(port),
                    "127.0.0.1",
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                await client.wait()
                return await asyncio.to_thread(tshark.wait, 20)
            finally:
                if tshark.poll() is None:
                    tshark.kill()
                    tshark.wait()

    assert asyncio.run(exchange()) == 0
    assert path.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # pcapng
    data = json.loads(inspect(str(path), "--format", "json").stdout)
    assert data["ok"] is True
    assert [m["summary"].split(" [")[0] for m in data["messages"]] == ["BINDING request", "BINDING success"]
    assert data["exchanges"][0]["response"] == 2


@pytest.mark.parametrize("beside_its_run", [True, False], ids=["beside-its-run", "alone"])
def test_a_nat_routers_capture_is_judged_for_what_it_can_show(tmp_path: Path, beside_its_run: bool) -> None:
    """A router's capture holds each datagram twice: inside (10.0.1.2) and translated (198.51.100.6).
    Beside the run whose sidecar names it, inspect says so and leaves the end-to-end rules alone (the
    mapped address is right — for the outside copy); a FINGERPRINT broken in the answer is still
    caught. Alone, nothing tells it apart from a broken exchange."""
    inside, outside, server = ("10.0.1.2", 5000), ("198.51.100.6", 41000), ("203.0.113.1", 3478)
    request = Message(Method.BINDING, MessageClass.REQUEST, b"N" * 12).encode(fingerprint=True)
    answer = Message(Method.BINDING, MessageClass.SUCCESS, b"N" * 12).add("XOR-MAPPED-ADDRESS", outside)
    response = bytearray(answer.encode(fingerprint=True))
    response[-1] ^= 0xFF  # a wrong FINGERPRINT: the server's defect, visible on both sides
    frames = [
        (1.0, udp_frame(inside, server, request)),
        (1.0001, udp_frame(outside, server, request)),
        (1.1, udp_frame(server, outside, bytes(response))),
        (1.1001, udp_frame(server, inside, bytes(response))),
    ]
    path = write_pcap(tmp_path / "run.alice-nat.pcap", frames)
    if beside_its_run:
        (tmp_path / "run.pcap.json").write_text(json.dumps({"nat_captures": {"alice": "run.alice-nat.pcap"}}))
    result = inspect(str(path))
    assert result.returncode == 1 and "fingerprint.mismatch" in result.stdout, result.stdout
    if beside_its_run:
        assert "a capture inside alice's NAT router (run run.pcap)" in result.stdout
        assert "wire.xor-mapped-address" not in result.stdout.split("not judged here")[1], result.stdout
    else:
        assert "wire.xor-mapped-address (RFC 8489 §14.2)" in result.stdout
