"""A peer in a separate process, driven over JSON lines on its stdin/stdout.

The child runs ``python -m pytest_webrtc peer --signaling URL --room R --id ID``
and serves the methods of the :class:`~pytest_webrtc.peer.interface.MediaPeer`
protocol; :class:`ProcessPeer` is the parent's proxy, its methods generated from
the same protocol (``METHODS``), so the scenario engine does not care where a peer
runs.  NAT topologies run such processes inside network namespaces.

Wire format, one JSON object per line; several requests may be in flight:
    -> {"id": 1, "method": "offer", "args": {"to": "alice"}}
    <- {"id": 1, "ok": true, "result": "v=0..."}      or {"id": 1, "ok": false, "error": "..."}
    -> {"cancel": 1}                                   (the parent gave up waiting)
Bytes travel as {"$bytes": "<base64>"}.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any, cast

from ..children import owned, run_environment
from ..errors import PeerError
from .interface import MediaPeer, protocol_methods
from .report import PeerReport

__all__ = ["METHODS", "ProcessPeer", "file_tail", "peer_arguments", "serve_stdio"]

# What the child serves and the parent forwards: the MediaPeer protocol, nothing kept by hand.
METHODS = protocol_methods(MediaPeer)
# How many of its own timeouts a method may wait in a row (connect_to: offer, answer, candidates, state).
_WAITS = {"connect_to": 4}


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return base64.b64decode(value["$bytes"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


async def serve_stdio(agent: Any) -> None:
    """Child side: run commands from stdin concurrently (a reply per id) until EOF or ``close``."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: dict[Any, asyncio.Task[None]] = {}

    def reply(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")  # one write per line: replies never interleave
        sys.stdout.flush()

    async def execute(request_id: Any, method: Any, args: dict[str, Any]) -> None:
        try:
            if method not in METHODS:
                raise PeerError(f"unknown method {method!r}")
            result = await getattr(agent, method)(**_decode(args))
            reply({"id": request_id, "ok": True, "result": _encode(result)})
        except asyncio.CancelledError:
            reply({"id": request_id, "ok": False, "error": "cancelled"})
        except Exception as exc:  # report every failure to the parent, keep serving
            text = str(exc) if isinstance(exc, PeerError) else f"{type(exc).__name__}: {exc}"
            reply({"id": request_id, "ok": False, "error": text})
        finally:
            tasks.pop(request_id, None)

    while True:
        line = await reader.readline()
        if not line:
            break
        request = json.loads(line)
        if "cancel" in request:
            task = tasks.get(request["cancel"])
            if task is not None:
                task.cancel()
            continue
        if request.get("method") == "close":
            for task in list(tasks.values()):
                task.cancel()
            await execute(request.get("id"), "close", {})
            break
        tasks[request.get("id")] = asyncio.create_task(
            execute(request.get("id"), request.get("method"), request.get("args", {}))
        )
    for task in list(tasks.values()):
        task.cancel()


def peer_arguments(signaling_url: str, room: str, peer_id: str, ice_servers: list[dict[str, Any]]) -> list[str]:
    """Where a peer program goes, as arguments (the same for our peer process and external programs)."""
    return ["--signaling", signaling_url, "--room", room, "--id", peer_id, "--ice-servers", json.dumps(ice_servers)]


def file_tail(f: Any, size: int) -> str:
    """The last ``size`` bytes written to an open binary file, as text."""
    f.seek(0, os.SEEK_END)
    f.seek(max(0, f.tell() - size))
    return str(f.read().decode(errors="replace"))


class ProcessPeer:
    """Parent side: every method of the MediaPeer protocol, executed in a child process.

    The methods are generated from the protocol (``__getattr__``): arguments are bound with the
    protocol's signature, sent as JSON and the reply awaited for the method's own timeout plus
    a margin (so the child's timeout error, which says more, comes first).
    """

    def __init__(
        self,
        peer_id: str,
        signaling_url: str,
        room: str,
        *,
        ice_servers: list[dict[str, Any]],
        candidates: str | list[str] = "loopback",
        command: list[str] | None = None,
        netns: str | None = None,
        protocol: str = "harness",
    ) -> None:
        self.id = peer_id
        program = list(command or [sys.executable, "-m", "pytest_webrtc", "peer"])
        program += peer_arguments(signaling_url, room, peer_id, ice_servers)
        if protocol != "harness":
            program += ["--signaling-protocol", protocol]
        program += ["--candidates", candidates if isinstance(candidates, str) else ",".join(candidates)]
        # Inside a network namespace if asked; dying with us in any case (SIGTERM when we die).
        self.argv = (["ip", "netns", "exec", netns] if netns else []) + owned(program)
        self._proc: asyncio.subprocess.Process | None = None
        self._next_id = 0
        self._stderr = tempfile.TemporaryFile()
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
            limit=2**24,
            env=run_environment(),
        )

    def stderr_tail(self, size: int = 2000) -> str:
        return file_tail(self._stderr, size)

    async def call(self, method: str, args: dict[str, Any] | None = None, rpc_timeout: float = 30.0) -> Any:
        """Run ``method`` in the child; several calls may be in flight (replies matched by id)."""
        if self._proc is None:
            await self.start()
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_replies(), name=f"peer-{self.id}-replies")
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            proc.stdin.write(
                (json.dumps({"id": request_id, "method": method, "args": _encode(args or {})}) + "\n").encode()
            )
            await proc.stdin.drain()
            reply = await asyncio.wait_for(asyncio.shield(future), rpc_timeout)
        except asyncio.TimeoutError:
            self._cancel_remote(request_id)
            raise PeerError(f"{self.id} (process): no reply to {method} within {rpc_timeout:g} s") from None
        except asyncio.CancelledError:
            self._cancel_remote(request_id)
            raise
        except (BrokenPipeError, ConnectionResetError):
            raise PeerError(f"{self.id} (process) exited during {method}: {self.stderr_tail()[-500:]}") from None
        finally:
            self._pending.pop(request_id, None)
        if reply.get("exited"):
            raise PeerError(f"{self.id} (process) exited during {method}: {self.stderr_tail()[-500:]}")
        if not reply.get("ok"):
            raise PeerError(str(reply.get("error")))
        return _decode(reply.get("result"))

    def _cancel_remote(self, request_id: int) -> None:
        proc = self._proc
        if proc is not None and proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.write((json.dumps({"cancel": request_id}) + "\n").encode())

    async def _read_replies(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                break
            reply = json.loads(line)
            future = self._pending.get(reply.get("id"))
            if future is not None and not future.done():
                future.set_result(reply)
        for future in self._pending.values():  # the child is gone: fail whatever waits
            if not future.done():
                future.set_result({"ok": False, "exited": True})

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        signature = METHODS.get(name)
        if signature is None or name in ("get_report", "close"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

        async def forward(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{name}(): {exc}") from None
            arguments: dict[str, Any] = {
                k: (list(v) if isinstance(v, tuple) else v) for k, v in bound.arguments.items()
            }
            del arguments["self"]
            timeout, seconds = arguments.get("timeout") or 0, arguments.get("seconds") or 0
            waited = float(timeout) * _WAITS.get(name, 1) + float(seconds)
            return await self.call(name, arguments, waited + 10 if waited else 30.0)

        forward.__name__ = name
        return forward

    async def get_report(self) -> PeerReport:
        report = await self.call("get_report", None)
        report["process"] = True
        return cast(PeerReport, report)

    async def close(self) -> None:
        proc = self._proc
        if proc is None:
            self._stderr.close()  # never started: its output file is all there is to close
            return
        try:
            if proc.returncode is None:
                await self.call("close", None, 10)
        except PeerError:
            pass
        finally:
            await self._reap(proc)
            if self._reader is not None:
                await asyncio.gather(self._reader, return_exceptions=True)
            self._stderr.close()
            self._proc = None

    @staticmethod
    async def _reap(proc: asyncio.subprocess.Process) -> None:
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except asyncio.TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
