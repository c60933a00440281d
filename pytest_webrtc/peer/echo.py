"""``python -m pytest_webrtc echo-peer``: the reference implementation of the external-peer convention.

It answers the first offer, trickles its candidates, echoes every data channel message and
leaves on ``bye``, when the caller leaves, or after ``lifetime`` seconds.  Another project's
peer takes Alice's or Bob's place by doing the same (see pytest_webrtc/peer/external.py).

With ``WEBRTC_CALL=ID`` it is the caller of the interop matrix instead (docs/interop.md): it
offers to ID, sends the cases of ``WEBRTC_CASES`` and prints one ``RESULT {json}`` line per case.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from ..errors import PeerError
from .agent import PeerAgent

__all__ = ["MATRIX_BINARY", "MATRIX_FRAMES", "MATRIX_TEXT", "call_peer", "print_result", "run_echo_peer"]

MATRIX_TEXT = "matrix text: héllo, wörld"  # what every caller of the matrix sends, and checks comes back
MATRIX_BINARY = bytes(i % 251 for i in range(65536))
MATRIX_FRAMES = 10  # video frames the callee must have received


def print_result(case: str, ok: bool, detail: str, started: float, **extra: Any) -> None:
    seconds = round(time.monotonic() - started, 3)
    print("RESULT " + json.dumps({"case": case, "ok": ok, "detail": detail, "seconds": seconds, **extra}), flush=True)


async def call_peer(agent: PeerAgent, callee: str, cases: Sequence[str], lifetime: float = 60.0) -> None:
    """The caller's side of a matrix call: every case reported, a failure as what happened."""
    started = time.monotonic()
    try:
        if callee not in await agent.join():
            await agent.wait_peer("peer-joined", lifetime)
        if "data" in cases:
            await agent.add_channel("matrix")
        if "video" in cases:
            await agent.add_track("video", "vp8")
            await agent.set_direction("video", "sendonly")
        await agent.offer(callee)
        await agent.accept("answer", timeout=lifetime)
        await agent.send_candidates(callee)
        await agent.receive_candidates(timeout=lifetime)
        await agent.wait_state("connection", ["connected"], lifetime)
        print_result("connect", True, "connected", started)
    except (PeerError, asyncio.TimeoutError, TimeoutError) as exc:
        print_result("connect", False, str(exc) or "timed out", started)
        return
    if "data" in cases:
        try:
            await agent.wait_channel_open("matrix", lifetime)
            await agent.send("matrix", MATRIX_TEXT)
            await agent.send("matrix", MATRIX_BINARY)
            text, binary = await agent.wait_messages("matrix", 2, lifetime)
            same = text == MATRIX_TEXT and binary == MATRIX_BINARY
            detail = "text and 64 KiB binary echoed intact" if same else f"echo differs: {str(text)[:40]!r}"
            print_result("data", same, detail, started)
        except (PeerError, asyncio.TimeoutError, TimeoutError) as exc:
            print_result("data", False, str(exc) or "timed out", started)


async def run_echo_peer(
    agent: PeerAgent, lifetime: float = 60.0, call: str | None = None, cases: Sequence[str] = ()
) -> None:
    if call is not None:
        try:
            await call_peer(agent, call, cases, lifetime)
            await agent.wait_peer("peer-left", lifetime)  # the harness ends the call
        except (PeerError, asyncio.TimeoutError, TimeoutError):
            pass
        finally:
            await agent.close()
        return
    agent.echo = True
    started = time.monotonic()
    try:
        await agent.join()
        caller = await agent.accept("offer", timeout=lifetime)
        await agent.answer(caller)
        await agent.send_candidates(caller)
        await agent.receive_candidates(timeout=lifetime)
        if "video" in cases:
            try:
                await agent.wait_media("video", MATRIX_FRAMES, lifetime)
                print_result("video", True, f"decoded {MATRIX_FRAMES} frames", started, frames=MATRIX_FRAMES)
            except (PeerError, asyncio.TimeoutError, TimeoutError) as exc:
                print_result("video", False, str(exc), started)
        # Serve until the caller says bye or leaves (whichever first), bounded by the lifetime.
        ends: list[asyncio.Task[Any]] = [
            asyncio.create_task(agent.wait_bye(lifetime)),
            asyncio.create_task(agent.wait_peer("peer-left", lifetime)),
        ]
        await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        for task in ends:
            task.cancel()
        await asyncio.gather(*ends, return_exceptions=True)
    finally:
        await agent.close()
