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

__all__ = ["LOOPBACK", "host_addresses"]

LOOPBACK: tuple[str, ...] = ("127.0.0.1",)
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
