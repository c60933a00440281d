"""``python -m pytest_webrtc echo-peer``: the reference implementation of the external-peer convention.

It answers the first offer, trickles its candidates, echoes every data channel message and
leaves on ``bye``, when the caller leaves, or after ``lifetime`` seconds.  Another project's
peer takes Alice's or Bob's place by doing the same (see pytest_webrtc/peer/external.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from .agent import PeerAgent

__all__ = ["run_echo_peer"]


async def run_echo_peer(agent: PeerAgent, lifetime: float = 60.0) -> None:
    agent.echo = True
    try:
        await agent.join()
        caller = await agent.accept("offer", timeout=lifetime)
        await agent.answer(caller)
        await agent.send_candidates(caller)
        await agent.receive_candidates(timeout=lifetime)
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
