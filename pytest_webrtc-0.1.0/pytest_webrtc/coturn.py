"""coturn (Debian ``coturn``) as a STUN-only server on loopback, for interop tests and benchmarks.

The command line is the one measured in the field notes: ``--db`` in a directory of our own
(otherwise every instance shares the system database), no CLI, no TLS/DTLS listeners.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable

__all__ = [
    "COTURN_DEFECTS",
    "CoturnTurn",
    "coturn_defects",
    "coturn_version",
    "coturn_stun_command",
    "coturn_turn_command",
    "free_tcp_port",
    "free_udp_port",
    "wait_for_stun",
]


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
    tls: tuple[str, str, int] | None = None,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """coturn as a TURN server with long-term credentials, otherwise as shipped (``extra`` adds to it).

    ``tls`` is (certificate file, key file, port) for a TLS listener; without it there is none."""
    tls_options = [f"--cert={tls[0]}", f"--pkey={tls[1]}", f"--tls-listening-port={tls[2]}"] if tls else ["--no-tls"]
    return [
        "turnserver", "-n", "--no-cli", *tls_options, "--no-dtls", "--lt-cred-mech",
        f"--listening-ip={listening_ip}", f"--listening-port={port}", f"--relay-ip={relay_ip or listening_ip}",
        f"--user={user}:{password}", f"--realm={realm}", f"--db={workdir}/turndb",
        "--log-file=stdout", "--simple-log", *extra,
    ]  # fmt: skip


# True RFC 8656 defects of coturn 4.6.x, settled by reading its source (docs/ci.md, "Judging your
# TURN server").  The shipped TURN suite, run against the built-in coturn, reports these rules as
# expected failures (pytest's "x", with the reason), never as passes; against your server they count.
COTURN_DEFECTS = {
    "4.6.": {
        "turn.unsupported-transport": "coturn 4.6 sets 442 for an unknown REQUESTED-TRANSPORT, then its "
        "'if (!transport)' check overwrites it with 400 (ns_turn_server.c, handle_turn_allocate)",
        "turn.channel-range": "coturn 4.6 accepts channel numbers up to 0x7FFF, as RFC 5766 did; RFC 8656 §12 "
        "narrowed the range to 0x4000-0x4FFF",
    }
}


def coturn_version() -> str:
    """``turnserver --version`` (e.g. ``4.6.1``), or "" when it cannot be run."""
    try:
        done = subprocess.run(["turnserver", "--version"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""


def coturn_defects(version: str) -> dict[str, str]:
    """The known true defects of this coturn version (none for a version not calibrated)."""
    return next((d for prefix, d in COTURN_DEFECTS.items() if version.startswith(prefix)), {})


class _PortTaken(Exception):
    """coturn logged that one of its ports is in use."""


class CoturnTurn:
    """coturn as a TURN server to judge: on loopback, or inside ``namespace`` (a contained decoy's).

    Started with long-term credentials and whatever ``extra`` options a test wants; its own
    database and log in a temporary folder, removed by :meth:`stop`."""

    def __init__(
        self,
        *,
        namespace: str | None = None,
        listening_ip: str = "127.0.0.1",
        relay_ip: str | None = None,
        tls: tuple[str, str] | None = None,
        extra: tuple[str, ...] = (),
        user: str = "pytest-webrtc",
        password: str = "conformance",
        realm: str = "pytest-webrtc",
    ) -> None:
        self.namespace, self.listening_ip, self.relay_ip, self.extra = namespace, listening_ip, relay_ip, extra
        self.user, self.password, self.realm = user, password, realm
        self.port = 3478 if namespace else free_udp_port()  # a namespace of its own has no one else on 3478
        self.tls_port = (5349 if namespace else free_tcp_port()) if tls else None
        self.tls_files = tls
        self.workdir = tempfile.mkdtemp(prefix="pytest-webrtc-coturn-")
        self.process: subprocess.Popen[bytes] | None = None
        self.version = ""
        self.defects: dict[str, str] = {}  # rule -> why: this version's known true defects

    @property
    def address(self) -> tuple[str, int]:
        return self.listening_ip, self.port

    @property
    def tls_address(self) -> tuple[str, int] | None:
        return (self.listening_ip, self.tls_port) if self.tls_port else None

    def command(self) -> list[str]:
        tls = (*self.tls_files, self.tls_port) if self.tls_files and self.tls_port else None
        command = coturn_turn_command(
            self.port, self.workdir, user=self.user, password=self.password, realm=self.realm,
            listening_ip=self.listening_ip, relay_ip=self.relay_ip, tls=tls, extra=self.extra,
        )  # fmt: skip
        return ["ip", "netns", "exec", self.namespace, *command] if self.namespace else command

    def start(self, timeout: float = 10.0, attempts: int = 3) -> CoturnTurn:
        """Start coturn and wait until it answers; a port another process took meanwhile (coturn
        cannot be told to bind port 0) is retried on a new one, ``attempts`` times at most."""
        self.version = coturn_version()
        self.defects = coturn_defects(self.version)
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(timeout)
            except _PortTaken:
                self._kill()
                if attempt == attempts or self.namespace:
                    break
                self.port = free_udp_port()
                self.tls_port = free_tcp_port() if self.tls_port else None
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"coturn could not bind its ports in {attempts} attempts: {tail}")

    def _start_once(self, timeout: float) -> CoturnTurn:
        from .children import owned, run_environment
        from .nat.netns import in_thread

        log = open(self.log_path, "wb")  # noqa: SIM115 (the child keeps it)
        command = self.command()
        head = command[:4] if self.namespace else []
        self.process = subprocess.Popen(
            [*head, *owned(command[len(head) :])], stdout=log, stderr=log, start_new_session=True, env=run_environment()
        )
        log.close()
        process = self.process

        def exited() -> int | None:
            if "Address already in use" in self.log_tail():
                raise _PortTaken
            return process.poll()

        try:
            if self.namespace:
                in_thread(self.namespace, wait_for_stun, self.port, timeout, None, self.listening_ip, exited)
            else:
                wait_for_stun(self.port, timeout, None, self.listening_ip, exited)
        except RuntimeError as exc:
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(f"coturn did not start: {exc}; its log ends: {tail}") from None
        return self

    @property
    def log_path(self) -> str:
        return os.path.join(self.workdir, "turnserver.log")

    def log_tail(self, size: int = 1200) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.log_path) - size))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.tls_files:  # the certificate's folder is ours too
            shutil.rmtree(os.path.dirname(self.tls_files[0]), ignore_errors=True)

    def __enter__(self) -> CoturnTurn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_tcp_port() -> int:
    """A TCP port free on 127.0.0.1 now (for programs that cannot be told to bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.bind(("127.0.0.1", 0))
        return int(tcp.getsockname()[1])


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
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as sock:
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
