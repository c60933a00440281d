"""Real WHIP/WHEP clients: npm whip-whep's WHIPClient/WHEPClient in headless Chromium, against our whip-server.

Chromium runs inside a network namespace of the test's own, linked to this machine by one veth and
with no default route: it reaches our servers on the link and nothing else (a DNS lookup has no
route).  It publishes its fake camera through WHIPClient (offer without candidates, then trickle
PATCHes), plays the stream back through WHEPClient, and our own aiortc peer plays the same stream
over WHEP at the same time; both count the frames they decode.  Both of Chromium's sessions end
with the client's own DELETE.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pytest_webrtc.children import owned, run_environment
from pytest_webrtc.nat.netns import Namespace, cannot_build_namespaces, free_subnet, machine_link
from pytest_webrtc.peer.browser import CHROMIUM_SWITCHES, find_chromium
from pytest_webrtc.whip.client import WhipSession
from pytest_webrtc.whip.http import HttpServer, Request, Response
from pytest_webrtc.whip.server import WhipServer

HERE = Path(__file__).parent
CLIENTS = HERE.parent.parent / "interop" / "whip" / "node_modules" / "whip-whep"
FRAMES = 20


class Page:
    """Serves the page and the clients' modules; takes what the page says."""

    def __init__(self) -> None:
        self.said: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.release = asyncio.Event()

    def heard(self, what: str) -> asyncio.Future[dict[str, Any]]:
        return self.said.setdefault(what, asyncio.get_running_loop().create_future())

    async def wait(self, what: str, timeout: float) -> dict[str, Any]:
        """What the page said at ``what``; an AssertionError with its error if it gave up first."""
        done, wanted = self.heard("done"), self.heard(what)
        finished, _ = await asyncio.wait({done, wanted}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if wanted in finished:
            return wanted.result()
        assert done in finished, f"the page said nothing at /{what} in {timeout:g} s"
        raise AssertionError(f"the page gave up before /{what}: {done.result()}")

    async def handle(self, req: Request) -> Response:
        files = {"/page.html": (HERE / "whip_whep_page.html", "text/html"),
                 "/whip.js": (CLIENTS / "whip.js", "text/javascript"),
                 "/whep.js": (CLIENTS / "whep.js", "text/javascript")}  # fmt: skip
        if req.method == "GET" and req.path in files:
            path, kind = files[req.path]
            return Response(200, [("Content-Type", kind)], path.read_bytes())
        if req.method == "GET" and req.path == "/hold":
            await asyncio.wait_for(self.release.wait(), 60)
            return Response(204)
        if req.method == "POST" and req.path in ("/published", "/played", "/done"):
            future = self.heard(req.path[1:])
            if not future.done():
                future.set_result(json.loads(req.body or b"{}"))
            return Response(204)
        return Response(404)


async def _play_ours(url: str, address: str, frames: int) -> int:
    """Our aiortc peer plays ``url`` (WHEP) with a host candidate on ``address``; frames decoded."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from pytest_webrtc.peer.hosts import host_addresses

    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    decoded = asyncio.Event()
    count = 0

    def on_track(track: Any) -> None:
        async def read() -> None:
            nonlocal count
            with contextlib.suppress(Exception):
                while count < frames:
                    await track.recv()
                    count += 1
            decoded.set()

        asyncio.ensure_future(read())

    pc.on("track", on_track)
    try:
        with host_addresses([address]):
            await pc.setLocalDescription(await pc.createOffer())
        session = await WhipSession.create(url, pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=session.answer, type="answer"))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(decoded.wait(), 20)
        await session.delete()
        return count
    finally:
        await pc.close()


@pytest.mark.slow
def test_chromium_publishes_through_whip_and_plays_through_whep(tmp_path: Path) -> None:
    chromium = find_chromium()
    why = cannot_build_namespaces()
    if chromium is None or why or not (CLIENTS / "whip.js").is_file():
        pytest.skip(why or "Chromium or the whip-whep clients (interop/whip: npm ci) are not installed")
    subnet = free_subnet()
    machine, browser = str(ipaddress.ip_address(subnet + 1)), str(ipaddress.ip_address(subnet + 2))
    namespace = Namespace("chromium")
    profile = tempfile.mkdtemp(prefix="pytest-webrtc-chromium-")
    proc: subprocess.Popen[bytes] | None = None
    try:
        machine_link(namespace, "eth0", f"{machine}/30", "c")
        namespace.address("eth0", f"{browser}/30")

        async def run() -> tuple[dict[str, Any], int, dict[str, Any], list[dict[str, Any]]]:
            nonlocal proc
            server = await WhipServer(candidates=[machine]).start(machine)
            page = Page()
            pages = await HttpServer(page.handle).start(machine)
            try:
                query = f"whip={server.whip_url('cam')}&whep={server.whep_url('cam')}&frames={FRAMES}"
                # getUserMedia needs a secure context: the page's origin is declared one
                argv = [chromium, *CHROMIUM_SWITCHES, "--use-fake-device-for-media-stream",
                        "--use-fake-ui-for-media-stream", f"--unsafely-treat-insecure-origin-as-secure={pages.base_url}",
                        f"--user-data-dir={profile}", f"{pages.base_url}/page.html?{query}"]  # fmt: skip
                with open(tmp_path / "chromium.log", "wb") as log:
                    proc = subprocess.Popen(
                        ["ip", "netns", "exec", namespace.name, *owned(argv)], stdout=subprocess.DEVNULL,
                        stderr=log, start_new_session=True, env=run_environment(),
                    )  # fmt: skip
                published = await page.wait("published", 30)
                ours = await _play_ours(server.whep_url("cam"), machine, FRAMES)
                played = await page.wait("played", 30)
                page.release.set()
                done = await page.wait("done", 20)
                assert "error" not in done, done
                sessions = await server.report()
                return published, ours, played, sessions
            finally:
                page.release.set()
                await pages.stop()
                await server.stop()

        published, ours, played, sessions = asyncio.run(run())
    finally:
        if proc is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(5)
                    break
                except subprocess.TimeoutExpired:
                    continue
        namespace.delete()
        shutil.rmtree(profile, ignore_errors=True)
    assert published["resource"].startswith(f"http://{machine}:"), published
    assert ours >= FRAMES, f"our peer decoded {ours} of Chromium's frames through the whip-server: {sessions}"
    assert played["frames"] >= FRAMES, f"Chromium's WHEPClient decoded {played['frames']} frames"
    by_kind = {(s["kind"], s["stream"]): s for s in sessions if s["kind"] == "whip"}
    publisher = by_kind[("whip", "cam")]
    assert publisher["ended"] == "DELETE" and publisher["trickled"] > 0, publisher  # trickle PATCHes, then DELETE
    viewers = [s for s in sessions if s["kind"] == "whep"]
    assert len(viewers) == 2 and all(v["ended"] == "DELETE" for v in viewers), viewers
    assert all(int(v["frames-forwarded"]) >= FRAMES for v in viewers), viewers
