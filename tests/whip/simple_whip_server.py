"""simple-whip-server (Meetecho's WHIP server, Debian's files) with Janus behind it, for the tests.

Debian's package conflicts with this machine's nodejs, so setup.sh extracts its files into
interop/whip/simple-whip-server and installs its dependencies with npm (interop/whip).  It runs
inside Janus's namespace (it expects Janus on ws://127.0.0.1:8188), over HTTPS with a certificate
made for the namespace's address, from a copy of its sources with a config.js of ours.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pytest_webrtc.certificates import self_signed
from pytest_webrtc.janus.server import JanusServer, janus_missing
from pytest_webrtc.whip.http import request

ROOT = Path(__file__).parent.parent.parent
WHIP = ROOT / "interop" / "whip"
SOURCES = WHIP / "simple-whip-server" / "usr" / "share" / "simple-whip-server" / "src"
PORT = 7080
CONFIG = """module.exports = {{
  janus: {{ address: 'ws://127.0.0.1:8188' }},
  port: {port},
  https: {{ cert: '{cert}', key: '{key}' }},
  rest: '/whip',
  allowTrickle: true,
  strictETags: false,
  iceServers: []
}};
"""


def missing() -> str | None:
    if janus_missing():
        return janus_missing()
    if shutil.which("node") is None or not (SOURCES / "server.js").is_file() or not (WHIP / "node_modules").is_dir():
        return "simple-whip-server is not installed (setup.sh extracts it into interop/whip)"
    return None


@dataclass
class Deployment:
    janus: JanusServer
    base: str  # https://JANUS_SIDE:7080/whip
    cafile: str

    def endpoint(self, endpoint_id: str, token: str | None = None) -> str:
        """Create a WHIP endpoint (simple-whip-server's own API, room 1234 of Janus's videoroom)."""
        body = {"id": endpoint_id, "room": 1234} | ({"token": token} if token else {})
        reply = asyncio.run(request("POST", f"{self.base}/create", headers={"Content-Type": "application/json"},
                                    body=json.dumps(body), cafile=self.cafile))  # fmt: skip
        assert reply.status == 200, reply.said() + reply.text
        return f"{self.base}/endpoint/{endpoint_id}"


@contextmanager
def deployed() -> Iterator[Deployment]:
    folder = tempfile.mkdtemp(prefix="pytest-webrtc-sws-")
    try:
        with JanusServer() as janus:
            cert, key = self_signed(folder, janus.janus_side)
            for name in ("server.js", "whip-janus.js"):
                shutil.copy(SOURCES / name, folder)
            Path(folder, "config.js").write_text(CONFIG.format(port=PORT, cert=cert, key=key))
            janus.run_inside(
                ["node", "server.js"], folder, PORT, os.path.join(folder, "server.log"),
                env={"NODE_PATH": str(WHIP / "node_modules")},
            )  # fmt: skip
            yield Deployment(janus, f"https://{janus.janus_side}:{PORT}/whip", cert)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
