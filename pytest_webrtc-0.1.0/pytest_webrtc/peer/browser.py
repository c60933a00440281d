"""``python -m pytest_webrtc browser-peer``: headless Chromium as an external peer.

Serves a page (``browser/peer.html``) that follows the external-peer convention over our
signaling protocol, and starts Chromium on it with the switches this machine needs: headless,
no sandbox as root, no background networking, and above all no mDNS host names
(``--disable-features=WebRtcHideLocalIpsWithMdns``), which would otherwise announce them by
multicast out of the machine.  Chromium runs in its own process group, in a fresh profile, and
is reaped with everything it spawned.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from importlib import resources
from urllib.parse import urlencode

from ..children import owned

__all__ = ["CHROMIUM_SWITCHES", "find_chromium", "run_browser_peer"]

CHROMIUM_SWITCHES = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
)  # fmt: skip


def find_chromium() -> str | None:
    """The Chromium binary: Debian's real one beside its libraries first (the launcher script is noisy)."""
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class _PageServer:
    """A tiny HTTP server on loopback: the page, and where the page reports back."""

    def __init__(self) -> None:
        self.page = resources.files("pytest_webrtc.peer").joinpath("browser/peer.html").read_bytes()
        self.finished = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, path = head.split(b" ", 2)[:2]
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            body = await reader.readexactly(length) if length else b""
            if method == b"GET" and path.startswith(b"/peer.html"):
                status, payload, kind = b"200 OK", self.page, b"text/html; charset=utf-8"
            elif method == b"POST" and path == b"/log":
                print(f"page: {body.decode(errors='replace')}", flush=True)
                status, payload, kind = b"204 No Content", b"", b"text/plain"
            elif method == b"POST" and path == b"/done":
                self.finished.set()
                status, payload, kind = b"204 No Content", b"", b"text/plain"
            else:
                status, payload, kind = b"404 Not Found", b"", b"text/plain"
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: "
                + kind
                + b"\r\nContent-Length: "
                + str(len(payload)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + payload
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ValueError):
            pass
        finally:
            writer.close()


async def run_browser_peer(
    signaling: str, room: str, peer_id: str, ice_servers: str, lifetime: float, browser: str | None = None
) -> int:
    chromium = browser or find_chromium()
    if chromium is None:
        print("browser-peer: Chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    pages = _PageServer()
    server = await asyncio.start_server(pages.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    query = urlencode({"signaling": signaling, "room": room, "id": peer_id, "ice": ice_servers})
    profile = tempfile.mkdtemp(prefix="pytest-webrtc-chromium-")
    proc = await asyncio.create_subprocess_exec(
        *owned(
            [chromium, *CHROMIUM_SWITCHES, f"--user-data-dir={profile}", f"http://127.0.0.1:{port}/peer.html?{query}"]
        ),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waiters = [
        asyncio.create_task(pages.finished.wait()),
        asyncio.create_task(stop.wait()),
        asyncio.create_task(proc.wait()),
    ]
    try:
        await asyncio.wait(waiters, timeout=lifetime, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        for sig in (signal.SIGTERM, signal.SIGKILL):  # the whole group: Chromium's children too
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                await asyncio.wait_for(proc.wait(), 5)
                break
            except asyncio.TimeoutError:
                continue
        server.close()
        await server.wait_closed()
        shutil.rmtree(profile, ignore_errors=True)
    return 0
