"""An asyncio event loop in a thread of its own, for servers that tests (sync or async) talk to.

A fixture's server must keep answering while a synchronous test blocks, and
must not depend on which loop an async test runs on; like a real external
server, it lives on its own loop and only meets the test through sockets.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["BackgroundLoop"]

T = TypeVar("T")


class BackgroundLoop:
    def __init__(self, name: str = "pytest-webrtc-loop", netns: str | None = None) -> None:
        """``netns``: run the loop's thread inside that network namespace (its sockets live there)."""
        self.loop = asyncio.new_event_loop()
        self.netns = netns
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        if self.netns is None:
            self.loop.run_forever()
            return
        from .nat.netns import entered

        with entered(self.netns):
            self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the loop and wait for its result (at most ``timeout`` seconds)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise TimeoutError(f"background task did not finish within {timeout} s") from None

    def close(self) -> None:
        if self.loop.is_closed():
            return

        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(_cancel_all(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
