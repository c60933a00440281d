"""Janus inside a network namespace of its own, reachable from this machine over a veth.

Janus gathers no loopback candidates ("Error gathering candidates" with only ``lo``), so it runs
in a namespace built for it: a /30 of 198.18.0.0/16 on a veth, this machine at ``.1``, Janus at
``.2`` with ``ice_enforce_list = "eth0"``, no default route (nothing beyond the link is reachable
from inside, so nothing Janus tries can leave the machine).  Its configuration is written fresh
into a temporary folder: the echotest and videoroom plugins (the shipped videoroom config, rooms
1234 and 5678 included), the WebSocket transport on port 8188, every other plugin and transport
disabled.  The harness's peers that talk to it gather their host candidate on ``machine_side``.

``JanusServer`` is a context manager (``with JanusServer() as janus:``); ``ws_url``; ``run_inside``
starts another program in Janus's namespace (simple-whip-server, which expects Janus on
``ws://127.0.0.1:8188``).  The process is ours (SIGTERM when we die) and marked with the run.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from ..nat.netns import Built, Namespace, free_subnet, machine_link
from ..programs import JANUS_CONFIG, janus_missing

__all__ = ["JANUS", "WS_PORT", "JanusServer", "janus_missing"]

JANUS = "janus"
WS_PORT = 8188
SHIPPED = JANUS_CONFIG  # Debian's configuration, copied and edited for each run
_PLUGINS = ("libjanus_echotest.so", "libjanus_videoroom.so")
_DISABLED_PLUGINS = ("audiobridge", "duktape", "lua", "nosip", "recordplay", "sip", "streaming", "textroom",
                     "videocall", "voicemail")  # fmt: skip
_DISABLED_TRANSPORTS = ("http", "mqtt", "nanomsg", "pfunix", "rabbitmq")


def _libraries() -> str:
    for base in ("/usr/lib/x86_64-linux-gnu/janus", "/usr/lib/aarch64-linux-gnu/janus", "/usr/lib/janus"):
        if os.path.isdir(os.path.join(base, "plugins")):
            return base
    raise RuntimeError("cannot find Janus's plugin folder under /usr/lib")


def _config(folder: str, libraries: str, debug_level: int) -> None:
    plugins = ",".join(f"libjanus_{name}.so" for name in _DISABLED_PLUGINS)
    transports = ",".join(f"libjanus_{name}.so" for name in _DISABLED_TRANSPORTS)
    with open(os.path.join(folder, "janus.jcfg"), "w") as out:
        out.write(f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{libraries}/plugins"
    transports_folder = "{libraries}/transports"
    events_folder = "{libraries}/events"
    loggers_folder = "{libraries}/loggers"
    debug_level = {debug_level}
    session_timeout = 60
}}
certificates: {{}}
media: {{ rtp_port_range = "20000-40000" }}
nat: {{
    nice_debug = false
    ice_enforce_list = "eth0"
}}
plugins: {{ disable = "{plugins}" }}
transports: {{ disable = "{transports}" }}
loggers: {{ disable = "libjanus_jsonlog.so" }}
events: {{ broadcast = false }}
""")
    with open(os.path.join(folder, "janus.transport.websockets.jcfg"), "w") as out:
        out.write(f"general: {{ json = \"plain\"\n ws = true\n ws_port = {WS_PORT}\n wss = false }}\n"
                  "admin: { admin_ws = false\n admin_wss = false }\n")  # fmt: skip
    for plugin in ("echotest", "videoroom"):
        shutil.copy(os.path.join(SHIPPED, f"janus.plugin.{plugin}.jcfg"), folder)


@dataclass
class JanusServer(Built):
    debug_level: int = 4
    namespace: Namespace | None = None
    machine_side: str = ""  # this machine's address on the link: the peers' host candidates
    janus_side: str = ""  # Janus's address (its only candidate)
    folder: str = ""
    process: subprocess.Popen[bytes] | None = None
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    version: str = ""

    @property
    def ws_url(self) -> str:
        return f"ws://{self.janus_side}:{WS_PORT}"

    @property
    def log_path(self) -> str:
        return os.path.join(self.folder, "janus.log")

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError), open(self.log_path, "rb") as log:
            return " | ".join(log.read().decode("utf-8", "replace").strip().splitlines()[-lines:])
        return ""

    def build(self) -> None:
        from ..children import owned, run_environment

        banner = subprocess.run([JANUS, "--version"], capture_output=True, text=True, timeout=10).stdout
        self.version = next((line.split("(")[-1].rstrip(")") for line in banner.splitlines() if "(" in line), "")
        subnet = free_subnet()
        self.machine_side = str(ipaddress.ip_address(subnet + 1))
        self.janus_side = str(ipaddress.ip_address(subnet + 2))
        self.namespace = Namespace("janus")
        machine_link(self.namespace, "eth0", f"{self.machine_side}/30", "j")
        self.namespace.address("eth0", f"{self.janus_side}/30")
        self.folder = tempfile.mkdtemp(prefix="pytest-webrtc-janus-")
        _config(self.folder, _libraries(), self.debug_level)
        command = [JANUS, "-F", self.folder, "-C", os.path.join(self.folder, "janus.jcfg"), "--disable-colors"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace.name, *owned(command)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=run_environment(),
            )  # fmt: skip
        self._wait_listening(self.process, 20.0)

    def _wait_listening(self, process: subprocess.Popen[bytes], timeout: float, port: int = WS_PORT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError), socket.create_connection((self.janus_side, port), timeout=0.2):
                return
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"Janus did not listen on {self.janus_side}:{port} in {timeout:g} s "
                    f"(exit {process.poll()}); its log ends: {self.log_tail()}"
                )
            time.sleep(0.05)  # polling a port the server opens: bounded by the deadline

    def run_inside(
        self, argv: list[str], cwd: str, port: int, log: str, timeout: float = 20.0, env: dict[str, str] | None = None
    ) -> None:
        """Start ``argv`` in Janus's namespace (ours, marked with the run) and wait for its TCP ``port``."""
        from ..children import owned, run_environment

        assert self.namespace is not None
        with open(log, "wb") as out:
            child = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace.name, *owned(argv)], cwd=cwd, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, env=run_environment() | (env or {}),
            )  # fmt: skip
        self.children.append(child)
        try:
            self._wait_listening(child, timeout, port)
        except RuntimeError as exc:
            with contextlib.suppress(OSError), open(log, "rb") as out:
                raise RuntimeError(f"{argv[0]} did not start: {exc}; its output: {out.read()[-600:]!r}") from None
            raise

    def close(self) -> None:
        for child in [*self.children, *([self.process] if self.process else [])]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait(10)
        self.children.clear()
        self.process = None
        if self.namespace is not None:
            self.namespace.delete()
            self.namespace = None
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
