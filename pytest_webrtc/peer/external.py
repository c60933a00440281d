"""Another project's peer program in a scenario, through the signaling protocol alone.

The harness starts the program (``command:`` in a scenario; ``{python}`` in it stands for the
interpreter running the harness, ``env:`` adds variables) with where to go in its environment and
arguments; the program must follow the **answerer convention** (docs/ci.md):

- join the room given as ``WEBRTC_ROOM`` as ``WEBRTC_PEER_ID`` on ``WEBRTC_SIGNALING_URL``
  (protocol v1, docs/signaling.md), with ``WEBRTC_ICE_SERVERS`` (a JSON RTCIceServer list), when it
  starts — before or after the harness's peers;
- gather host candidates the harness's peers can reach: ``WEBRTC_HOST_ADDRESSES`` names them (its
  namespace's one address when the run is sealed, where any gathering finds it; 127.0.0.1 when not);
- answer the first offer, trickle its candidates (then ``end-of-candidates``) and apply the
  caller's;
- echo every data channel message back on the same channel (or reply as the ``data`` step says);
- exit when told ``bye``, when the caller leaves, or on SIGTERM.

The same values (but the host addresses) are appended as ``--signaling URL --room R --id ID
--ice-servers JSON``; the program runs in the scenario file's directory.
``python -m pytest_webrtc echo-peer`` is the reference implementation.  The harness cannot
command such a peer; it observes it through the built-in signaling server's relay log: it is a
:class:`~pytest_webrtc.peer.interface.SignalingPeer`, and its kind (``command``) declares the
capabilities ``signaling`` and ``echo`` only.  What it writes is kept (:attr:`ExternalPeer.transcript`)
for the report of a failed run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..children import owned, run_environment
from ..errors import PeerError
from ..signaling.server import SignalingServer
from .process import file_tail, peer_arguments
from .report import PeerReport, external_report

__all__ = ["PYTHON", "ExternalPeer"]

TRANSCRIPT_BYTES = 1 << 20  # what is kept of a program's output for the report and the file beside the pcap
PYTHON = "{python}"  # in a command or its environment: the interpreter running the harness (sys.executable)


class ExternalPeer:
    """Another project's peer program, observed through the signaling server's relay log."""

    def __init__(
        self,
        peer_id: str,
        command: str | list[str],
        signaling: SignalingServer | None,
        room: str,
        ice_servers: list[dict[str, Any]],
        cwd: str | None = None,
        netns: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        if signaling is None:
            raise PeerError(f"{peer_id}: an external peer needs the built-in signaling server, to observe it")
        self.id, self.signaling, self.room = peer_id, signaling, room
        self.env = {
            "WEBRTC_SIGNALING_URL": signaling.url,
            "WEBRTC_ROOM": room,
            "WEBRTC_PEER_ID": peer_id,
            "WEBRTC_ICE_SERVERS": json.dumps(ice_servers),
            # The harness observes an external program through its own server, so it speaks v1.
            "WEBRTC_SIGNALING_PROTOCOL": "harness",
            **{key: value.replace(PYTHON, sys.executable) for key, value in (env or {}).items()},
        }
        if isinstance(command, str):
            argv = shlex.split(command.replace(PYTHON, shlex.quote(sys.executable)))
        else:
            argv = [part.replace(PYTHON, sys.executable) for part in command]
        self.argv = argv + peer_arguments(signaling.url, room, peer_id, ice_servers)
        self.cwd = cwd
        self.netns = netns  # run inside this network namespace (a topology's: sealed from the network)
        self._proc: asyncio.subprocess.Process | None = None
        self._exit_watch: asyncio.Task[None] | None = None
        self._log = tempfile.TemporaryFile()
        self.transcript = ""  # everything it wrote (its last TRANSCRIPT_BYTES), once it is closed
        self.results: list[dict[str, Any]] = []  # its RESULT lines (the caller extension, docs/interop.md)
        self._reader: asyncio.Task[None] | None = None
        self._status: int | None = None  # its exit status, read when it exits (before asyncio reaps it)
        self._results_changed = asyncio.Event()

    def _check_program(self) -> None:
        """The program must exist and be executable (setpriv, which runs it, would only say 127)."""
        program = self.argv[0]
        if "/" in program:
            path = Path(self.cwd or ".", program)
            problem = None if path.is_file() and os.access(path, os.X_OK) else (
                "No such file or directory" if not path.exists() else "Permission denied"
            )  # fmt: skip
        else:
            problem = None if shutil.which(program) else "No such file or directory (not on PATH)"
        if problem:
            raise PeerError(f"{self.id}: cannot start {program!r}: {problem}")

    async def start(self) -> None:
        try:
            self._check_program()
        except PeerError:
            self._log.close()  # the output file of a program that never ran
            raise
        try:
            contained = ["ip", "netns", "exec", self.netns] if self.netns else []
            self._proc = await asyncio.create_subprocess_exec(
                *contained,
                *owned(self.argv),
                env={**run_environment(), **self.env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                cwd=self.cwd,
            )
        except OSError as exc:
            self._log.close()
            raise PeerError(f"{self.id}: cannot start {self.argv[0]!r}: {exc.strerror}") from None
        self._exit_watch = asyncio.create_task(self._watch_exit())

    async def _read_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        pending = b""
        while chunk := await self._proc.stdout.read(65536):  # to the log; RESULT lines are read too
            self._log.write(chunk)
            *lines, pending = (pending + chunk).split(b"\n")
            pending = pending[-65536:]  # a line longer than that is no result
            for line in lines:
                self._result(line)

    async def _exited(self) -> None:
        """Until the process has exited — told by a pidfd (Linux), not by the end of its output, which
        a child it left behind may hold open (measured: 20 s for a shell that left a ``sleep``) — and
        its status read without reaping it (asyncio's watcher does that)."""
        assert self._proc is not None
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(self._proc.pid)
        except ProcessLookupError:
            await self._reaped()  # gone (and reaped) already
            return
        except (AttributeError, OSError):  # no pidfd here: asyncio's own wait it is
            await self._proc.wait()
            return
        gone = asyncio.Event()
        loop.add_reader(pidfd, gone.set)
        try:
            await gone.wait()
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)
        with contextlib.suppress(ChildProcessError, OSError):  # reaped meanwhile: asyncio has the status
            info = os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOWAIT)
            if info is not None:
                self._status = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        if self._status is None:
            await self._reaped()

    async def _reaped(self) -> None:
        """asyncio's watcher reaped it first: its status arrives with the loop's next callbacks (the
        watcher thread hands it over) — awaited a second at most, a few milliseconds at a time (no
        event tells it: ``wait()`` also waits for the end of the output, which a child may hold)."""
        assert self._proc is not None
        for _ in range(200):
            if self._proc.returncode is not None:
                return
            await asyncio.sleep(0.005)

    async def _watch_exit(self) -> None:
        """Its output read as it comes (to its end, however long a child holds it); its exit told at
        once, after one second at most for the output it wrote before."""
        assert self._proc is not None
        self._reader = asyncio.create_task(self._read_output())
        try:
            await self._exited()
            await asyncio.wait_for(asyncio.shield(self._reader), 1.0)
        except asyncio.TimeoutError:
            pass
        finally:
            self._results_changed.set()
            self.signaling.wake_waiters()  # whoever waits on this program learns that it is gone

    def _result(self, line: bytes) -> None:
        if not line.startswith(b"RESULT ") or len(self.results) >= 100:
            return
        try:
            record = json.loads(line[7:])
        except ValueError:
            return
        if isinstance(record, dict) and isinstance(record.get("case"), str):
            record["_at"] = time.time()  # the harness's clock, as the signaling server's relay log
            self.results.append(record)
            self._results_changed.set()

    async def wait_results(self, cases: list[str], timeout: float) -> dict[str, dict[str, Any]]:
        """Its result for each of ``cases``, as soon as all came (or it exited, or ``timeout``): the ones that came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            got = {r["case"]: r for r in self.results if r["case"] in cases}
            exited = self.gone
            left = deadline - loop.time()
            if len(got) == len(cases) or exited or left <= 0:
                return got
            self._results_changed.clear()
            try:
                await asyncio.wait_for(self._results_changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    def exited(self) -> int | None:
        """Its exit status once it has exited (None while it runs)."""
        if self._proc is None:
            return None
        return self._proc.returncode if self._proc.returncode is not None else self._status

    @property
    def gone(self) -> bool:
        """It has exited (its pidfd said so, or asyncio has its status)."""
        watched = self._exit_watch is not None and self._exit_watch.done()
        return self._proc is None or self._proc.returncode is not None or watched

    def output(self, size: int = 1500) -> str:
        """The last ``size`` bytes it wrote so far (stdout and stderr), as text."""
        return self.transcript[-size:] if self._log.closed else file_tail(self._log, size)

    # -- observing it through signaling -----------------------------------------------

    def _records(self, **match: str) -> list[Any]:
        return [
            r
            for r in self.signaling.relayed
            if r.room == self.room and all(getattr(r, k) == v for k, v in match.items())
        ]

    async def _until(self, what: str, timeout: float, **match: str) -> list[Any]:
        def seen() -> bool:
            return bool(self._records(**match)) or (self._proc is not None and self.gone)

        try:
            await self.signaling.wait_until(seen, timeout, f"{self.id} (external): {what}")
        except TimeoutError as exc:
            raise PeerError(f"{exc}{self._last_words()}") from None
        if not self._records(**match):
            raise PeerError(f"{self.id} (external) exited with {self.exited()} before {what}{self._last_words()}")
        return self._records(**match)

    def last_lines(self, count: int) -> list[str]:
        """Its last ``count`` non-blank lines of output, stripped: what a one-line message can quote (a
        scenario's report shows the rest below its steps; a test has :meth:`output`)."""
        return [line.strip() for line in self.output(4000).splitlines() if line.strip()][-count:]

    def _last_words(self) -> str:
        last = self.last_lines(1)
        return f"; its last line: {last[0][:200]!r}" if last else "; it wrote nothing"

    async def join(self, timeout: float = 5.0) -> list[str]:
        await self._until("joining the room", timeout, sender=self.id, type="join")
        return []

    async def accept(self, kind: str, timeout: float = 5.0) -> str:
        """The offer reached it (the program applies it itself)."""
        return str((await self._until(f"receiving an {kind}", timeout, recipient=self.id, type=kind))[-1].sender)

    async def answer(self, to: str, timeout: float = 10.0) -> str:
        record = (await self._until(f"answering {to}", timeout, sender=self.id, recipient=to, type="answer"))[-1]
        return str(record.payload.get("sdp", ""))

    async def send_candidates(self, to: str, timeout: float = 10.0) -> list[str]:
        await self._until(
            f"trickling its candidates to {to}", timeout, sender=self.id, recipient=to, type="end-of-candidates"
        )
        return [str(r.payload.get("candidate")) for r in self._records(sender=self.id, recipient=to, type="candidate")]

    async def receive_candidates(self, timeout: float = 5.0) -> list[str]:
        await self._until("receiving end-of-candidates", timeout, recipient=self.id, type="end-of-candidates")
        return [str(r.payload.get("candidate")) for r in self._records(recipient=self.id, type="candidate")]

    async def wait_bye(self, timeout: float) -> str:
        return str((await self._until("receiving bye", timeout, recipient=self.id, type="bye"))[-1].sender)

    async def get_report(self) -> PeerReport:
        return external_report(
            self.id, (str(r.payload.get("candidate")) for r in self._records(sender=self.id, type="candidate"))
        )

    async def close(self) -> None:
        """The program and whatever it started (its process group, even when it has exited itself):
        gone when the end of its output came (every member held it) and its status is in."""
        proc = self._proc
        if proc is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break  # nobody left in its group
                try:
                    if self._reader is not None:
                        await asyncio.wait_for(asyncio.shield(self._reader), 5)
                    await asyncio.wait_for(proc.wait(), 5)
                    break
                except asyncio.TimeoutError:
                    continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), 5)
            # its pipes closed now, on this loop (not when the transport is collected after the loop closed)
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
        for task in (self._reader, self._exit_watch):
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
        if not self._log.closed:
            self.transcript = file_tail(self._log, TRANSCRIPT_BYTES)
            self._log.close()
