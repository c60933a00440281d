"""coturn as the TURN relay of a NAT topology, in its public namespace.

Long-term credentials (RFC 8489 §9.2: the first Allocate gets 401 with REALM and NONCE, the
second carries USERNAME, REALM, NONCE and MESSAGE-INTEGRITY), a relay address on the public
network, UDP and TCP listeners, its own database directory (FIELD-NOTES: otherwise every instance
shares the system one).  It listens on the standard port 3478: inside the topology's own
namespace nothing else can collide with it.  Its log is removed with it, unless
``PYTEST_WEBRTC_KEEP_TURN_LOG=1`` (then it stays in a ``pytest-webrtc-turn-*`` temporary folder).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from typing import Any

from ..children import owned, run_environment
from ..coturn import wait_for_stun
from ..errors import HarnessConfigError
from .netns import in_thread

__all__ = ["CoturnRelay"]


class CoturnRelay:
    def __init__(
        self, namespace: str, address: str, *, user: str = "webrtc", password: str = "harness", port: int = 3478
    ) -> None:
        self.namespace, self.address, self.port = namespace, address, port
        self.user, self.password, self.realm = user, password, "pytest-webrtc"
        self._workdir = tempfile.mkdtemp(prefix="pytest-webrtc-turn-")
        self._log = open(os.path.join(self._workdir, "turnserver.log"), "wb")  # noqa: SIM115 (kept open while it runs)
        self._proc: asyncio.subprocess.Process | None = None

    def command(self) -> list[str]:
        return [
            "ip", "netns", "exec", self.namespace,
            "turnserver", "-n", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint", "--lt-cred-mech",
            f"--listening-ip={self.address}", f"--listening-port={self.port}", f"--relay-ip={self.address}",
            f"--user={self.user}:{self.password}", f"--realm={self.realm}",
            "--min-port=49152", "--max-port=65535", f"--db={self._workdir}/turndb",
            # Peers' private host addresses: unreachable from here, and one failed send (ENETUNREACH)
            # leaves coturn's relay socket sending nothing ever after (docs/nat.md, "TURN").
            "--denied-peer-ip=10.0.0.0-10.255.255.255",
            # Extra-verbose: the per-datagram lines ("wrote to peer N bytes") are what explains a relay.
            "--log-file=stdout", "--simple-log", "-V",
        ]  # fmt: skip

    def ice_server(self, transport: str = "udp") -> dict[str, Any]:
        """What a peer puts in its RTCConfiguration.iceServers to use this relay."""
        url = f"turn:{self.address}:{self.port}?transport={transport}"
        return {"urls": url, "username": self.user, "credential": self.password}

    async def start(self, timeout: float = 10.0) -> CoturnRelay:
        if shutil.which("turnserver") is None:
            raise HarnessConfigError("coturn's turnserver is not installed (Debian: coturn)")
        command = self.command()  # ip netns exec NS turnserver ...: the server itself dies with us
        self._proc = await asyncio.create_subprocess_exec(
            *command[:4],
            *owned(command[4:]),
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,
            env=run_environment(),
        )
        await asyncio.to_thread(in_thread, self.namespace, self._wait_ready, timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        """Binding requests from inside the namespace until coturn answers (bounded)."""
        try:
            wait_for_stun(self.port, timeout, host=self.address, exited=self._exit_code)
        except RuntimeError as exc:
            raise HarnessConfigError(
                f"coturn did not answer on {self.address}:{self.port} ({exc}): {self.log_tail()}"
            ) from None

    def _exit_code(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    def log_tail(self, size: int = 1500) -> str:
        self._log.flush()
        with open(self._log.name, "rb") as f:
            f.seek(max(0, os.path.getsize(self._log.name) - size))
            return f.read().decode(errors="replace")

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except asyncio.TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        self._log.close()
        if not os.environ.get("PYTEST_WEBRTC_KEEP_TURN_LOG"):
            shutil.rmtree(self._workdir, ignore_errors=True)
