"""coturn (Debian ``coturn``) as a STUN-only server on loopback, for interop tests and benchmarks.

The command line is the one measured in the field notes: ``--db`` in a directory of our own
(otherwise every instance shares the system database), no CLI, no TLS/DTLS listeners.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable

__all__ = ["coturn_stun_command", "coturn_turn_command", "free_udp_port", "wait_for_stun"]


def free_udp_port() -> int:
    """A UDP port free on 127.0.0.1 now (for programs that cannot be told to bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return int(udp.getsockname()[1])


def coturn_stun_command(port: int, workdir: str | None = None) -> list[str]:
    workdir = workdir or tempfile.mkdtemp(prefix="pytest-webrtc-coturn-")
    return [
        "turnserver",
        "-n",
        "--listening-ip=127.0.0.1",
        f"--listening-port={port}",
        "--stun-only",
        "--no-cli",
        "--no-tls",
        "--no-dtls",
        f"--db={workdir}/turndb",
        "--log-file=stdout",
        "--simple-log",
    ]


def coturn_turn_command(
    port: int,
    workdir: str,
    *,
    user: str,
    password: str,
    realm: str,
    listening_ip: str = "127.0.0.1",
    relay_ip: str | None = None,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """coturn as a TURN server with long-term credentials, otherwise as shipped (``extra`` adds to it)."""
    return [
        "turnserver", "-n", "--no-cli", "--no-tls", "--no-dtls", "--lt-cred-mech",
        f"--listening-ip={listening_ip}", f"--listening-port={port}", f"--relay-ip={relay_ip or listening_ip}",
        f"--user={user}:{password}", f"--realm={realm}", f"--db={workdir}/turndb",
        "--log-file=stdout", "--simple-log", *extra,
    ]  # fmt: skip


def wait_for_stun(
    port: int,
    deadline: float = 10.0,
    process: subprocess.Popen[bytes] | None = None,
    host: str = "127.0.0.1",
    exited: Callable[[], int | None] | None = None,
) -> None:
    """Send Binding requests until a server on ``host:port`` answers; bounded by ``deadline`` seconds.

    ``process`` (or ``exited``, returning an exit code once the server is gone) stops the wait early
    with the reason when the server dies first."""
    if process is not None:
        exited = process.poll
    end = time.monotonic() + deadline
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.05)
        while time.monotonic() < end:
            code = exited() if exited is not None else None
            if code is not None:
                raise RuntimeError(f"the STUN server exited with {code} before answering")
            sock.sendto(b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12), (host, port))
            try:
                sock.recvfrom(2048)
                return
            except OSError:
                continue
    raise RuntimeError(f"no STUN server answered on {host}:{port} within {deadline:g} s")
