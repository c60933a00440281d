"""The interop matrix: its cells, its formats, a broken stack caught where a lazy check would not
look, the HTML read in a real browser, and the browsers sealed off while they call."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_webrtc.matrix import CASES, Cell, pair_scenario, render, run_pair
from pytest_webrtc.nat.netns import cannot_build_namespaces
from pytest_webrtc.peer.browser import find_chromium, find_firefox
from pytest_webrtc.peer.stacks import STACKS
from pytest_webrtc.scenario import load_scenario

HERE = Path(__file__).parent
CELLS = [
    Cell("firefox", "gstreamer", "connect", "pass", 0, 0.41, "connected", None, "/c/ff.pcap", "/c/ff.ladder.txt", 0.41),
    Cell("firefox", "gstreamer", "data", "pass", 0, 0.45, "text and 64 KiB binary echoed intact", None, "/c/ff.pcap"),
    Cell("gstreamer", "aiortc", "connect", "fail", 1, 30.0, "dtls.mti-suite: refused", "dtls.mti-suite", "/c/g.pcap"),
    Cell("werift", "aiortc", "video", "unsupported", 0, 0.0, "werift cannot send video here (no encoder)"),
    Cell("werift", "firefox", "connect", "unavailable", 0, 0.0, "cannot run here: node is not installed"),
]

sealed = pytest.mark.skipif(cannot_build_namespaces() is not None, reason=str(cannot_build_namespaces()))


def test_json_cells_carry_what_other_projects_ci_reads() -> None:
    cells = json.loads(render(CELLS, "json"))
    assert [c["outcome"] for c in cells] == ["pass", "pass", "fail", "unsupported", "unavailable"]
    for cell in cells:
        assert {"caller", "callee", "case", "outcome", "violations", "seconds", "reason"} <= set(cell)
    assert cells[2]["rule"] == "dtls.mti-suite" and cells[2]["violations"] == 1


def test_text_and_markdown_name_every_failing_cell() -> None:
    text = render(CELLS, "text")
    assert "gstreamer -> aiortc connect: dtls.mti-suite: refused" in text
    assert "2 of 5 cells pass, 1 fail, 1 unavailable (a stack cannot run on this machine" in text
    assert "werift -> firefox: cannot run here: node is not installed" in text
    markdown = render(CELLS, "markdown")
    assert markdown.splitlines()[0] == "| caller \\ callee | gstreamer | aiortc | firefox |"
    assert "| **firefox** | connect:pass<br>data:pass<br>0.41 s |" in markdown
    assert "video:n/a" in markdown and "connect:FAIL" in markdown


def test_the_html_page_writes_out_what_the_text_says() -> None:
    """Reasons and footnotes are on the page, not only in tooltips (a screenshot or a CI artifact keeps them)."""
    note = replace(CELLS[0], notes=["DTLS 1.3: the certificates travel encrypted"])
    page = render([note, *CELLS[1:]], "html")
    assert "title=" not in page
    assert "<div class='why'>dtls.mti-suite: refused</div>" in page
    assert "<div class='why'>cannot run here: node is not installed</div>" in page
    assert "<sup>†1</sup>" in page and "†1 DTLS 1.3: the certificates travel encrypted</p>" in page
    assert "2 of 5 cells pass, 1 fail, 1 unavailable" in page


def test_a_stack_that_cannot_run_here_is_unavailable_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """From a wheel werift's program is absent: its cells are unavailable with a true reason, and the
    exit status stays 0 (measured before: FAIL, 'npm ci in .../site-packages/interop/werift', exit 1)."""
    import argparse

    import pytest_webrtc.programs as programs
    from pytest_webrtc.matrix import _cmd_interop

    monkeypatch.setattr(programs, "interop_directory", lambda: tmp_path / "site-packages" / "interop")
    why = STACKS["werift"].missing()
    assert why is not None and "ships with a checkout of pytest-webrtc, not with the installed package" in why
    output = tmp_path / "out" / "matrix.json"
    output.parent.mkdir()
    args = argparse.Namespace(stacks=["werift"], format="json", output=str(output), captures=None, into=None)
    assert _cmd_interop(args) == 0
    cells = json.loads(output.read_text())
    run = [c for c in cells if c["case"] != "video"]  # werift sends no video: unsupported, whatever the machine
    assert {c["outcome"] for c in run} == {"unavailable"} and all(why in c["reason"] for c in run)
    assert sorted(p.name for p in output.parent.iterdir()) == ["matrix.json", "matrix.json-captures"]


def test_the_pair_scenario_is_a_scenario_with_a_call_step(tmp_path: Path) -> None:
    path = tmp_path / "pair.yaml"
    path.write_text(pair_scenario("werift", "gstreamer", ["connect", "data"]))
    scenario = load_scenario(path)
    assert [s.kind for s in scenario.steps] == ["call"] and scenario.steps[0].args["cases"] == ["data"]
    assert scenario.peers["caller-werift"].kind.name == "stack:werift" and scenario.topology


def test_a_video_call_from_a_stack_without_an_encoder_is_refused_at_load_time(tmp_path: Path) -> None:
    from pytest_webrtc.errors import ScenarioError

    path = tmp_path / "video.yaml"
    path.write_text(pair_scenario("werift", "gstreamer", ["video"]))
    with pytest.raises(ScenarioError, match="caller-werift is werift .stack: werift. and cannot send video in a call"):
        load_scenario(path)


def _png_colours(png: bytes) -> set[tuple[int, int, int]]:
    """Every colour of an 8-bit RGB/RGBA PNG (what Chromium's --screenshot writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks, header = 8, b"", b""
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        header, chunks = (data, chunks) if kind == b"IHDR" else (header, chunks + data if kind == b"IDAT" else chunks)
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    step = 3 if colour == 2 else 4
    raw, stride, previous, colours = zlib.decompress(chunks), width * step, bytearray(width * step), set()
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - step] if x >= step else 0
            b, c = previous[x], previous[x - step] if x >= step else 0
            p = a + b - c
            predictor = (
                a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
            )
            line[x] = (line[x] + (0, a, b, (a + b) // 2, predictor)[kind]) & 0xFF
        colours.update(tuple(line[x : x + 3]) for x in range(0, stride, step))  # type: ignore[misc]
        previous = line
    return colours


@sealed
@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
def test_the_html_matrix_shows_its_colours_in_a_real_browser(tmp_path: Path) -> None:
    """Headless Chromium, in a namespace with nothing but lo, renders the page: green, red and grey cells."""
    from pytest_webrtc.nat.netns import Namespace

    page = tmp_path / "matrix.html"
    page.write_text(render(CELLS, "html", Path("/")))
    text = page.read_text()
    assert '<a href="c/ff.pcap">pcap</a>' in text and '<a href="c/ff.ladder.txt">ladder</a>' in text
    shot, namespace = tmp_path / "shot.png", Namespace("html")
    try:
        subprocess.run(
            ["ip", "netns", "exec", namespace.name, find_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=900,500", f"--screenshot={shot}", page.as_uri()],
            capture_output=True, timeout=60, check=False, start_new_session=True,
        )  # fmt: skip
    finally:
        namespace.delete()
    colours = _png_colours(shot.read_bytes())
    assert {(0xC8, 0xF0, 0xC8), (0xF6, 0xC2, 0xC2), (0xE4, 0xE4, 0xE4), (0xF4, 0xEC, 0xC8)} <= colours
    # pass, fail, unsupported, unavailable


def _outside_interfaces() -> list[str]:
    """The machine's own interfaces that are up (root namespace), but loopback and the harness's veths (pw...)."""
    up = [i for i in os.listdir("/sys/class/net") if int(Path(f"/sys/class/net/{i}/flags").read_text(), 16) & 1]
    return [i for i in up if i != "lo" and not i.startswith("pw")]


@sealed
@pytest.mark.slow
@pytest.mark.skipif(find_chromium() is None or find_firefox() is None, reason="needs chromium and firefox-esr")
def test_two_browsers_call_sealed_and_not_one_packet_leaves_on_the_machines_interfaces(tmp_path: Path) -> None:
    from pytest_webrtc.capture.libpcap import Pcap

    watched = {interface: Pcap(interface, "") for interface in _outside_interfaces()}
    try:
        cells = asyncio.run(run_pair("firefox", "chromium", tmp_path))
        seen = {interface: 0 for interface in watched}
        for interface, capture in watched.items():
            while capture.next() is not None:
                seen[interface] += 1
    finally:
        for capture in watched.values():
            capture.close()
    assert [c.outcome for c in cells] == ["pass", "pass", "pass"], cells
    assert all(c.violations == 0 and c.pcap for c in cells)
    assert not any(seen.values()), f"packets on the machine's own interfaces while the browsers ran: {seen}"
    assert not _orphaned_browsers()


def _orphaned_browsers() -> list[str]:
    """Browser processes of the harness whose profile is gone: the run that started them is over
    (another xdist worker's live browsers still have theirs)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        for word in command.split():
            profile = word.split("=", 1)[-1]
            if Path(profile).name.startswith(("pytest-webrtc-firefox-", "pytest-webrtc-chromium-")):
                if state != "Z" and not Path(profile).exists():
                    out.append(f"{pid}: {command[:120]}")
                break
    return out


@sealed
def test_a_broken_echo_fails_the_data_cell_saying_what_came_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The callee echoes the text intact and flips the last byte of the 64 KiB binary message: connect
    passes, data fails with what came back, and the wire itself is clean (the fault is the program's)."""
    broken = replace(
        STACKS["werift"], argv=lambda: [sys.executable, str(HERE / "broken_echo.py")], missing=lambda: None
    )
    monkeypatch.setitem(STACKS, "werift", broken)
    caller = "firefox" if find_firefox() else "aiortc"  # a browser, to see it reaped after a failed cell
    profiles = tmp_path / "tmp"
    profiles.mkdir()
    monkeypatch.setenv("TMPDIR", str(profiles))  # where the browser-peer child makes Firefox's profile
    cells = asyncio.run(run_pair(caller, "werift", tmp_path, cases=("connect", "data")))
    assert not list(profiles.iterdir())  # the profile went with the browser
    assert [(c.case, c.outcome) for c in cells] == [("connect", "pass"), ("data", "fail")], cells
    assert cells[1].reason.startswith("echo differs") and cells[1].violations == 0 and cells[1].pcap
    assert not _orphaned_browsers()


def test_every_case_and_stack_is_documented_and_the_docs_matrix_is_a_real_run() -> None:
    """docs/interop.md holds a generated matrix of every ordered pair: its failing cells are exactly
    the incompatibilities matrix.yaml keeps as expected failures (and the docs explain)."""
    import yaml

    text = (HERE.parent.parent / "docs" / "interop.md").read_text()
    for case in CASES:
        assert f"`{case}`" in text
    for stack in STACKS:
        assert f"`{stack}`" in text
    table = text.split("<!-- matrix:begin -->", 1)[1].split("<!-- matrix:end -->", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| **")]
    header = table.strip().splitlines()[0].strip("| ").split(" | ")[1:]
    assert header == list(STACKS) and len(rows) == len(STACKS)
    failing = set()
    for row in rows:
        caller, *cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert len(cells) == len(STACKS), row
        failing |= {(caller.strip("*"), callee) for callee, cell in zip(header, cells, strict=True) if "FAIL" in cell}
    spec = yaml.safe_load((HERE.parent.parent / "scenarios" / "interop" / "matrix" / "matrix.yaml").read_text())
    declared = [tuple(p.strip() for p in pair.split("->")) for pair in spec["interop-matrix"]["incompatible"]]
    kept = {
        (a, b)
        for caller, callee in declared
        for a in STACKS
        for b in STACKS
        if caller in (a, "*") and callee in (b, "*")
    }
    assert failing == kept
    for pair in declared:  # and each is explained (markdown escapes the wildcard)
        caller, callee = (side.replace("*", "\\*") for side in pair)
        assert f"**{caller} → {callee} fails" in text


def test_splice_writes_between_the_markers_and_refuses_a_file_without_them() -> None:
    from pytest_webrtc.matrix import splice

    doc = "intro\n<!-- matrix:begin -->\nold\n<!-- matrix:end -->\nrest\n"
    assert splice(doc, "| new |\n") == "intro\n<!-- matrix:begin -->\n| new |\n<!-- matrix:end -->\nrest\n"
    with pytest.raises(ValueError, match="no <!-- matrix:begin -->"):
        splice("no markers", "| t |")


def test_a_browser_stack_outside_a_topology_is_said_to_run_uncontained(tmp_path: Path) -> None:
    from pytest_webrtc.scenario.world import containment_notes

    path = tmp_path / "loose.yaml"
    path.write_text(pair_scenario("firefox", "aiortc", ["data"], contained=False))
    (note,) = containment_notes(load_scenario(path))
    assert note.startswith("containment: OFF — caller-firefox (firefox) ran on this machine's own network")
    assert "{caller-firefox: none, callee-aiortc: none}" in note
    path.write_text(pair_scenario("firefox", "aiortc", ["data"]))
    assert containment_notes(load_scenario(path)) == []


def test_a_program_that_exits_leaving_a_child_with_its_output_is_seen_gone_at_once(tmp_path: Path) -> None:
    """Its exit is told within a second although a child it left keeps the output pipe open; closing
    it ends that child too (its process group)."""
    import time

    from pytest_webrtc.peer.external import ExternalPeer
    from pytest_webrtc.signaling.server import SignalingServer

    script = tmp_path / "leaves.sh"
    script.write_text(
        '#!/bin/sh\necho \'RESULT {"case": "connect", "ok": false, "detail": "gave up"}\'\nsleep 30 &\necho $! > child.pid\nexit 3\n'
    )
    script.chmod(0o755)

    async def run() -> tuple[float, dict[str, dict[str, object]], int | None]:
        server = SignalingServer()
        await server.start()
        try:
            peer = ExternalPeer("bob", str(script), server, "room", [], str(tmp_path))
            await peer.start()
            started = time.monotonic()
            got = await peer.wait_results(["connect", "data"], 20)
            waited = time.monotonic() - started
            code = peer.exited()
            await peer.close()
        finally:
            await server.stop()
        return waited, got, code

    waited, got, code = asyncio.run(run())
    assert got["connect"]["detail"] == "gave up" and code == 3
    assert waited < 3, waited
    child = int((tmp_path / "child.pid").read_text())
    assert _ends_within(child, 2.0), "the child it left outlived close()"  # it had 30 s of sleep left


def _ends_within(pid: int, seconds: float) -> bool:
    """Whether ``pid`` has exited (or does within ``seconds``: it may be closing its files as we look)."""
    import select

    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([pidfd], [], [], seconds)[0])
    finally:
        os.close(pidfd)
