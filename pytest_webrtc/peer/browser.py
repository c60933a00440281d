"""``python -m pytest_webrtc browser-peer [--engine firefox]``: a headless browser as an external peer.

Serves a page (``browser/peer.html``) that follows the external-peer convention over our
signaling protocol — and its caller extension (``WEBRTC_CALL``, ``WEBRTC_CASES``: docs/interop.md),
whose results the page POSTs back and this prints as ``RESULT {json}`` lines — and starts the
browser on it, in its own process group, in a fresh profile, reaped with everything it spawned.

- Chromium, with the switches this machine needs: headless, no sandbox as root, no background
  networking, and above all no mDNS host names (``--disable-features=WebRtcHideLocalIpsWithMdns``),
  which would otherwise announce them by multicast out of the machine.
- Firefox ESR (Gecko's own WebRTC), headless, with a profile whose prefs (:data:`FIREFOX_PREFS`)
  turn off host-address obfuscation (mDNS), allow media without prompts and turn off every
  background service it has a switch for.  Even so it looks names up (measured): run it inside a
  namespace of the harness (a topology), where nothing answers.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
from importlib import resources
from urllib.parse import urlencode

from ..children import owned
from ..programs import find_chromium, find_firefox

__all__ = ["CHROMIUM_SWITCHES", "FIREFOX_PREFS", "find_browser", "find_chromium", "find_firefox", "run_browser_peer"]

CHROMIUM_SWITCHES = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
)  # fmt: skip


FIREFOX_PREFS: dict[str, bool | int | str] = {
    "media.peerconnection.ice.obfuscate_host_addresses": False,  # real host candidates, no mDNS
    "media.navigator.permission.disabled": True,
    "media.navigator.streams.fake": True,
    "media.autoplay.default": 0,
    "app.update.enabled": False, "app.update.auto": False, "app.normandy.enabled": False,
    "browser.safebrowsing.malware.enabled": False, "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False, "browser.safebrowsing.provider.mozilla.updateURL": "",
    "datareporting.healthreport.uploadEnabled": False, "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False, "toolkit.telemetry.unified": False, "toolkit.telemetry.server": "",
    "network.captive-portal-service.enabled": False, "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True, "network.prefetch-next": False, "network.http.speculative-parallel-limit": 0,
    "extensions.update.enabled": False, "extensions.getAddons.cache.enabled": False, "extensions.blocklist.enabled": False,
    "browser.shell.checkDefaultBrowser": False, "browser.startup.homepage_override.mstone": "ignore",
    "browser.newtabpage.enabled": False, "browser.aboutwelcome.enabled": False, "services.settings.server": "",
    "browser.region.network.url": "", "browser.search.update": False, "geo.enabled": False,
    "network.trr.mode": 5, "security.OCSP.enabled": 0, "privacy.resistFingerprinting": False,
}  # fmt: skip


def find_browser(engine: str) -> str | None:
    return find_firefox() if engine == "firefox" else find_chromium()


def _command(engine: str, binary: str, profile: str, url: str) -> list[str]:
    if engine == "firefox":
        with open(os.path.join(profile, "user.js"), "w", encoding="utf-8") as prefs:
            prefs.writelines(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in FIREFOX_PREFS.items())
        return [binary, "--headless", "--no-remote", "--profile", profile, url]
    return [binary, *CHROMIUM_SWITCHES, f"--user-data-dir={profile}", url]


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
            elif method == b"POST" and path == b"/result":
                print(f"RESULT {json.dumps(json.loads(body))}", flush=True)  # one line, whatever the page sent
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
    signaling: str,
    room: str,
    peer_id: str,
    ice_servers: str,
    lifetime: float,
    browser: str | None = None,
    engine: str = "chromium",
) -> int:
    binary = browser or find_browser(engine)
    if binary is None:
        package = "firefox-esr" if engine == "firefox" else "chromium"
        print(f"browser-peer: {engine} is not installed (apt-get install {package})", file=sys.stderr)
        return 2
    pages = _PageServer()
    server = await asyncio.start_server(pages.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fields = {"signaling": signaling, "room": room, "id": peer_id, "ice": ice_servers}
    fields.update(
        {k: os.environ[f"WEBRTC_{k.upper()}"] for k in ("call", "cases") if os.environ.get(f"WEBRTC_{k.upper()}")}
    )
    profile = tempfile.mkdtemp(prefix=f"pytest-webrtc-{engine}-")
    url = f"http://127.0.0.1:{port}/peer.html?{urlencode(fields)}"
    proc = await asyncio.create_subprocess_exec(
        *owned(_command(engine, binary, profile, url)),
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
