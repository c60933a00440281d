"""Transport addresses: the one ``Address`` type and its text form, ``HOST:PORT`` / ``[V6]:PORT``."""

from __future__ import annotations

from .errors import AddressError

__all__ = ["Address", "format_hostport", "parse_hostport"]

Address = tuple[str, int]  # (host, port), as sockets give them (IPv6 hosts without brackets)


def parse_hostport(text: str, default_port: int = 3478) -> Address:
    """``HOST:PORT``, ``[V6]:PORT``, ``HOST`` or ``V6`` -> (host, port); AddressError otherwise."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or str(default_port)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AddressError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def format_hostport(address: tuple[str, int] | tuple[str, int, int, int] | list[object]) -> str:
    """(host, port) -> ``host:port``, with brackets around an IPv6 host."""
    host, port = str(address[0]), address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
