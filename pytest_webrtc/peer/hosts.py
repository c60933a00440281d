"""Which local addresses aioice gathers host candidates from, and how long it waits for servers.

aioice never gathers 127.0.0.1 or ::1 (``aioice.ice.get_host_addresses`` skips
them) and RTCConfiguration has no option for interfaces, so loopback-only
tests need this deliberate, reversible override.  Tests must only send traffic
to loopback or to namespaces they create, which makes loopback the default.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import threading
from collections.abc import Iterator, Sequence
from typing import Any, cast

from ..candidates import candidate_address

__all__ = ["CANDIDATE_SETS", "GATHER_TIMEOUT", "LOOPBACK", "gather_timeout", "host_addresses", "may_reach"]

LOOPBACK: tuple[str, ...] = ("127.0.0.1",)
# Named host-candidate sets: loopback by default (tests only talk to loopback or their own namespaces).
CANDIDATE_SETS: dict[str, list[str] | None] = {
    "loopback": ["127.0.0.1"],
    "loopback6": ["::1"],
    "loopback-dual": ["127.0.0.1", "::1"],
    "all": None,  # aioice's own choice: every interface
}
_lock = threading.Lock()
# How long the harness's own peers wait for STUN and TURN answers while gathering: aioice waits 5 s
# (``Connection.get_component_candidates(timeout=5)``), which made every scenario whose STUN server
# does not answer (stun_unreachable, the UDP-blocked NATs) wait 5 s per gathering.  Every server
# a harness peer asks is on loopback or in the harness's own namespaces, where an answer takes
# milliseconds (a TURN allocation over TCP, 401 and all: ~50 ms), so 2 s loses nothing.
GATHER_TIMEOUT = 2
_gathering = 0  # gather_timeout blocks open (the patch is installed while any is)
_unbounded: Any = None


@contextlib.contextmanager
def host_addresses(addresses: Sequence[str] | None) -> Iterator[None]:
    """Within the block, aioice gathers host candidates only from ``addresses`` — in this task (and
    the tasks it starts) only: the choice is a context variable read by one dispatcher installed in
    aioice once.  (Saving and restoring aioice's function per block, as before, went wrong when two
    agents gathered at once: the second block restored the first's choice for good, and a later run
    gathered on an address that no longer existed — no candidate, a connection stuck in ``new``:
    measured, the Janus videoroom's subscriber connection, one run in ten in one process.)

    ``None`` leaves aioice's own choice (all interfaces) untouched.
    """
    if addresses is None:
        yield
        return
    chosen = _dispatcher_choice()
    token = chosen.set([str(ipaddress.ip_address(a)) for a in addresses])
    try:
        yield
    finally:
        chosen.reset(token)


def _dispatcher_choice() -> contextvars.ContextVar[list[str] | None]:
    """The context variable aioice's dispatcher reads, installing the dispatcher once per process.
    The variable lives on the dispatcher, not in this module: a re-imported module (pytester's
    in-process runs drop the modules a run imported) must set the one the installed dispatcher reads."""
    import aioice.ice

    with _lock:
        installed = getattr(aioice.ice.get_host_addresses, "pytest_webrtc_choice", None)
        if installed is not None:
            return cast(contextvars.ContextVar[list[str] | None], installed)
        original = aioice.ice.get_host_addresses
        choice: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("pytest_webrtc_hosts", default=None)

        def dispatch(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            chosen = choice.get()
            if chosen is None:
                return list(original(use_ipv4, use_ipv6))
            return [a for a in chosen if (use_ipv6 if ":" in a else use_ipv4)]

        dispatch.pytest_webrtc_choice = choice  # type: ignore[attr-defined]
        aioice.ice.get_host_addresses = dispatch
        return choice


@contextlib.contextmanager
def gather_timeout(seconds: int = GATHER_TIMEOUT) -> Iterator[None]:
    """Within the block, aioice waits at most ``seconds`` for STUN and TURN answers while gathering."""
    import aioice.ice

    global _gathering, _unbounded
    with _lock:
        if _gathering == 0:
            _unbounded = original = aioice.ice.Connection.get_component_candidates

            async def bounded(self: Any, component: int, addresses: list[str], timeout: int = seconds) -> Any:
                return await original(self, component, addresses, timeout=min(timeout, seconds))

            aioice.ice.Connection.get_component_candidates = bounded  # type: ignore[method-assign]
        _gathering += 1
    try:
        yield
    finally:
        with _lock:
            _gathering -= 1
            if _gathering == 0:
                aioice.ice.Connection.get_component_candidates = _unbounded  # type: ignore[method-assign]


def may_reach(candidate: str, addresses: Sequence[str] | None) -> bool:
    """Whether a peer gathering from ``addresses`` may send to this remote candidate: a loopback-only
    peer never sends outside loopback (the machine's own addresses included: tests send traffic to
    127.0.0.0/8 and ::1 only, or into their own namespaces)."""
    if addresses is None or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        return True
    try:
        return ipaddress.ip_address(candidate_address(candidate)[0]).is_loopback
    except ValueError:
        return False  # an mDNS name (never resolved here: it would mean multicast), or no candidate
