"""``python -m pytest_webrtc``: subcommands as other projects script them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from pytest_webrtc.addresses import parse_hostport
from pytest_webrtc.errors import AddressError
from pytest_webrtc.stun import Message, MessageClass, Method, decode

from .process_helpers import read_line

PY = [sys.executable, "-m", "pytest_webrtc"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PY, *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_subcommands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for name in ("stun-server", "stun-probe", "demo"):
        assert name in result.stdout


@pytest.mark.parametrize(
    "text, expected",
    [
        ("127.0.0.1:3478", ("127.0.0.1", 3478)),
        ("[::1]:5000", ("::1", 5000)),
        ("::1", ("::1", 3478)),
        ("stun.example", ("stun.example", 3478)),
    ],
)
def test_parse_hostport(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text) == expected


@pytest.mark.parametrize("text", ["host:0", "host:99999", ":1", "host:x"])
def test_parse_hostport_rejects(text: str) -> None:
    with pytest.raises(AddressError, match="expected HOST:PORT"):
        parse_hostport(text)


def test_stun_server_standalone_logs_one_line_per_request() -> None:
    proc = subprocess.Popen(
        [*PY, "stun-server", "--port", "0"], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        banner = read_line(proc)
        assert banner.startswith("pytest-webrtc STUN server listening: udp 127.0.0.1:"), banner
        port = int(banner.split("udp 127.0.0.1:")[1].split(",")[0])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.bind(("127.0.0.1", 0))
            for _ in range(2):
                request = Message(Method.BINDING, MessageClass.REQUEST)
                sock.sendto(request.encode(), ("127.0.0.1", port))
                assert decode(sock.recvfrom(2048)[0]).transaction_id == request.transaction_id
            client_port = sock.getsockname()[1]
        lines = [read_line(proc), read_line(proc)]
        for line in lines:
            assert f"udp 127.0.0.1:{client_port} -> 127.0.0.1:{port} BINDING" in line
            assert line.rstrip().endswith(f"success mapped=127.0.0.1:{client_port}")
        os.killpg(proc.pid, signal.SIGTERM)
        rest, _ = proc.communicate(timeout=10)
        assert "'requests': 2" in rest
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_stun_server_rejects_user_without_password() -> None:
    result = run("stun-server", "--user", "u")
    assert result.returncode == 2 and "--user needs --password" in result.stderr


def test_demo_main_job_passes() -> None:
    result = run("demo", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERDICT: PASS" in result.stdout
    assert "FAIL" not in result.stdout.replace("0 failed", "")


@pytest.mark.parametrize("kind", ["sfu", "mcu"])
def test_room_actor_standalone_joins_a_room_and_reports_on_sigterm(kind: str) -> None:
    """Another project's peers can be pointed at ``python -m pytest_webrtc sfu``; SIGTERM right after
    the banner still ends it cleanly, with its report."""
    import json

    signaling = subprocess.Popen(
        [*PY, "signaling-server", "--port", "0", "--quiet"], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    sfu: subprocess.Popen[str] | None = None
    try:
        url = read_line(signaling).split("listening: ")[1].split()[0]
        sfu = subprocess.Popen(
            [*PY, kind, "--signaling", url, "--room", "r1"], stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        banner = read_line(sfu)
        assert banner.startswith(f"pytest-webrtc {kind.upper()} '{kind}' in room 'r1' of {url}"), banner  # joined
        os.killpg(sfu.pid, signal.SIGTERM)
        rest, _ = sfu.communicate(timeout=10)
        assert sfu.returncode == 0
        report = json.loads(rest.strip().splitlines()[-1])
        assert report["kind"] == kind and report["errors"] == []
    finally:
        for proc in (sfu, signaling):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if proc is not None and proc.stdout is not None:
                proc.stdout.close()
