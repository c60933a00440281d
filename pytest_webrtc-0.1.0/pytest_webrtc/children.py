"""Child processes that die with the harness.

Every program the harness starts (peer processes, other projects' peer programs, coturn) is
wrapped by :func:`owned`: util-linux ``setpriv --pdeathsig TERM`` sets PR_SET_PDEATHSIG on the
child, so the kernel sends it SIGTERM when the harness process dies, however it dies (SIGKILL
included) — no orphan keeps a port, a namespace or a temporary folder alive.  Every child also
carries ``PYTEST_WEBRTC_RUN`` (the pid of the run that started it) in its environment, so tests
and the stale sweep can find what a run left.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["RUN_MARKER", "owned", "reap_orphans", "run_environment", "runs_children"]

RUN_MARKER = "PYTEST_WEBRTC_RUN"


def owned(argv: list[str]) -> list[str]:
    """``argv`` run so that it gets SIGTERM when this process dies (unchanged where setpriv is missing).

    The death signal is tied to the thread that forks: the harness starts children from threads that
    live as long as the run (the main thread, a session's background loop)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else list(argv)


def run_environment() -> dict[str, str]:
    """The environment for a child: ours, with the run marker (set once per run, inherited by workers)."""
    os.environ.setdefault(RUN_MARKER, str(os.getpid()))
    return dict(os.environ)


def runs_children(run: int) -> list[int]:
    """Pids of live processes carrying ``PYTEST_WEBRTC_RUN=run`` (Linux /proc; root sees them all)."""
    return [pid for pid, marked in _markers().items() if marked == run and pid != os.getpid()]


def _markers() -> dict[int, int]:
    """pid -> the run its PYTEST_WEBRTC_RUN names, for every live process that carries one."""
    prefix = f"{RUN_MARKER}=".encode()
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(prefix) and item[len(prefix) :].isdigit():
                out[int(entry.name)] = int(item[len(prefix) :])
    return out


def reap_orphans() -> list[int]:
    """SIGTERM every process left by a run that is gone (where setpriv was missing, or it outlived
    its parent some other way): it may hold a namespace nobody can name any more.  Returns the pids."""
    import signal

    reaped = []
    for pid, run in _markers().items():
        if pid != os.getpid() and not Path(f"/proc/{run}").exists():
            try:
                os.kill(pid, signal.SIGTERM)
                reaped.append(pid)
            except (ProcessLookupError, PermissionError):
                continue
    return reaped
