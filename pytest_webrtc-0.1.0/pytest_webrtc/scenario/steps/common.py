"""Helpers the step families share."""

from __future__ import annotations

import asyncio
from typing import Any

from ...errors import Expectation
from ...peer.interface import Capability
from ..context import RunContext
from ..model import count_matches

__all__ = ["check_no_candidates", "delivered", "expect_count", "names"]


def names(value: Any) -> list[str]:
    """A peer argument as a list: ``alice`` or ``[alice, bob]``."""
    return [value] if isinstance(value, str) else list(value)


def expect_count(what: str, expected: int | str, actual: int) -> None:
    if not count_matches(expected, actual):
        raise Expectation(f"expected {what} {expected}, got {actual}")


def check_no_candidates(sdp: str, who: str, kind: str) -> None:
    if "a=candidate:" in sdp:
        raise Expectation(f"the {kind} {who} sent still carries a=candidate lines (they must trickle separately)")


async def delivered(ctx: RunContext, sender: str, receiver: str, kind: str, timeout: float) -> str:
    """Wait until ``receiver`` got (and applied) the message, or signaling refused it to ``sender``
    (only a commanded sender can be asked what signaling told it)."""
    peer = ctx.signaling_peer(receiver)
    receipt = peer.wait_bye(timeout=timeout) if kind == "bye" else peer.accept(kind, timeout=timeout)
    accepted = asyncio.ensure_future(receipt)
    tasks: set[asyncio.Future[Any]] = {accepted}
    refused: asyncio.Future[dict[str, Any]] | None = None
    if ctx.can(sender, Capability.COMMAND):
        refused = asyncio.ensure_future(ctx.commanded(sender).wait_error(timeout=timeout))
        tasks.add(refused)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if accepted.done() and accepted.exception() is not None and refused is not None and not refused.done():
            # The receiver could not take it (e.g. it left): the refusal, if any, says why.
            await asyncio.wait({refused}, timeout=timeout)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if not accepted.done() or accepted.cancelled() or accepted.exception() is not None:
        if refused is not None and refused.done() and not refused.cancelled() and refused.exception() is None:
            error = refused.result()
            raise Expectation(f"signaling refused {sender}'s {kind} to {receiver}: {error['code']}: {error['reason']}")
    return str(accepted.result())
