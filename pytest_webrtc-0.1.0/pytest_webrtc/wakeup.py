"""Waiting for a state to change, in a way that survives cancellation.

The obvious tool, an ``asyncio.Condition`` waited on under ``asyncio.wait_for``, can hang on
Python 3.11 when the waiting task is cancelled just as it is notified (an SFU process ignored
SIGTERM in 2 runs of 6 that way).  :class:`Wakeup` uses one plain future per waiter and
``asyncio.wait``, which never swallows a cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

__all__ = ["Wakeup"]

T = TypeVar("T")


class Wakeup:
    """``await wakeup.until(check, timeout)`` re-runs ``check`` after every ``wakeup.wake()``."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def until(self, check: Callable[[], T | None], timeout: float) -> T:
        """The first non-None result of ``check()``; ``TimeoutError`` after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError
            waiter = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait({waiter}, timeout=left)
            finally:
                self._waiters.discard(waiter)
