"""Which local addresses aioice gathers host candidates from.

aioice never gathers 127.0.0.1 or ::1 (``aioice.ice.get_host_addresses`` skips
them) and RTCConfiguration has no option for interfaces, so loopback-only
tests need this deliberate, reversible override.  Tests must only send traffic
to loopback or to namespaces they create, which makes loopback the default.
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
from collections.abc import Iterator, Sequence

from ..candidates import candidate_address

__all__ = ["CANDIDATE_SETS", "LOOPBACK", "host_addresses", "may_reach"]

LOOPBACK: tuple[str, ...] = ("127.0.0.1",)
# Named host-candidate sets: loopback by default (tests only talk to loopback or their own namespaces).
CANDIDATE_SETS: dict[str, list[str] | None] = {
    "loopback": ["127.0.0.1"],
    "loopback6": ["::1"],
    "loopback-dual": ["127.0.0.1", "::1"],
    "all": None,  # aioice's own choice: every interface
}
_lock = threading.Lock()


@contextlib.contextmanager
def host_addresses(addresses: Sequence[str] | None) -> Iterator[None]:
    """Within the block, aioice gathers host candidates only from ``addresses``.

    ``None`` leaves aioice's own choice (all interfaces) untouched.
    """
    if addresses is None:
        yield
        return
    import aioice.ice

    chosen = [str(ipaddress.ip_address(a)) for a in addresses]

    def restricted(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (use_ipv6 if ":" in a else use_ipv4)]

    with _lock:
        original = aioice.ice.get_host_addresses
        aioice.ice.get_host_addresses = restricted
    try:
        yield
    finally:
        with _lock:
            aioice.ice.get_host_addresses = original


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
