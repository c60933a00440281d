"""``python -m pytest_webrtc conformance KIND``: judge another project's STUN, TURN or signaling server.

:func:`add_conformance_parsers` adds the kinds to the CLI's ``conformance`` parser; each prints one
line per rule (``PASS``/``FAIL``/``WARN``/``INFO``/``SKIP``, rule, section, detail) and a count, and
exits 1 when a MUST failed.  The checks are imported only when a kind runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

from ..addresses import Address
from ..errors import HarnessConfigError
from .profiles import DEFAULT_PROFILE, PROFILES

__all__ = ["add_conformance_parsers"]


def _cmd_conformance_turn(args: argparse.Namespace) -> int:
    import contextlib

    from .turn import CHECKS, TurnTarget, run_check

    if (args.user is None) != (args.password is None):
        raise HarnessConfigError("--user and --password go together")
    with contextlib.ExitStack() as stack:
        decoy = None
        if args.decoy:
            from ..nat.decoy import Decoy
            from ..nat.netns import cannot_build_namespaces

            why = cannot_build_namespaces()
            if why:
                raise HarnessConfigError(f"--decoy: {why}")
            decoy = stack.enter_context(Decoy())
            print(
                f"decoy host {decoy.peer} in a namespace of its own, reached from this machine's {decoy.machine_side}"
            )
        target = TurnTarget(
            resolved(args.target),
            args.user,
            args.password,
            args.realm,
            tcp=args.tcp,
            tcp_address=_optional(args.tcp_address),
            tls=_optional(args.tls),
            tcp_relay=args.tcp_relay,
            ipv6_relay=args.ipv6_relay,
            peer_address=args.peer_address,
            permission_lifetime=args.permission_lifetime,
            timeout=args.timeout,
            decoy=decoy,
        )

        async def run_all() -> list[Any]:
            return [await run_check(rule, target) for rule in CHECKS]

        results = asyncio.run(run_all())
    print(f"judged by RFC 8656 (claims: {', '.join(target.claims()) or 'none'})")
    return _summary(results)


def _summary(results: list[Any]) -> int:
    for result in results:
        print(result.line())
    counts = {v: sum(r.outcome == v for r in results) for v in ("pass", "fail", "warn", "info", "skip")}
    print(
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['warn']} warned, {counts['info']} info, "
        f"{counts['skip']} skipped"
    )
    return 1 if counts["fail"] else 0


def _cmd_conformance(args: argparse.Namespace) -> int:
    header = ""
    if args.kind == "signaling":
        if args.protocol == "peerjs":
            from . import peerjs as suite
        else:
            from . import signaling as suite  # type: ignore[no-redef]
        header = f"judged by the rules of the {args.protocol} protocol" if args.protocol != "harness" else ""

        async def run_all() -> list[Any]:
            return [await suite.run_check(rule, args.url) for rule in suite.CHECKS]
    else:
        from .stun import CHECKS, StunTarget, run_check

        target = StunTarget(
            resolved(args.target),
            _optional(args.tcp_address),
            _optional(args.ipv6_address, socket.AF_INET6),
            args.user,
            args.password,
            args.rfc5780,
            timeout=args.timeout,
            profile=args.profile,
            claims_tcp=args.tcp,
            claims_fingerprint=args.fingerprint,
        )
        header = f"judged by the profile {args.profile} (claims: {', '.join(target.claims()) or 'none'})"

        async def run_all() -> list[Any]:
            return [await run_check(rule, target) for rule in CHECKS]

    results = asyncio.run(run_all())
    if header:
        print(header)
    return _summary(results)


def _cmd_conformance_whip(args: argparse.Namespace) -> int:
    from ..errors import PeerError
    from .whip import rules_for, run_check
    from .whip_target import Publisher, WhipTarget

    target = WhipTarget(
        args.url, args.kind, args.token, args.ice_restart, args.trickle, timeout=args.timeout, cafile=args.cafile,
        local_address=args.local_address,
    )  # fmt: skip

    async def run_all() -> list[Any]:
        async with contextlib.AsyncExitStack() as stack:
            if args.kind == "whep" and args.publish:
                try:
                    await stack.enter_async_context(
                        Publisher(args.publish, args.token, cafile=args.cafile, local_address=args.local_address)
                    )
                except PeerError as exc:
                    raise HarnessConfigError(str(exc)) from None
            return [await run_check(rule, target) for rule in rules_for(args.kind)]

    results = asyncio.run(run_all())
    standard = "RFC 9725" if args.kind == "whip" else "draft-ietf-wish-whep-03"
    print(f"judged by {standard} (claims: {', '.join(target.claims()) or 'none'})")
    return _summary(results)


def resolved(address: Address, family: int = socket.AF_UNSPEC) -> Address:
    """``address`` with its host name resolved (an IPv4 address first): the rules compare addresses."""
    try:
        ipaddress.ip_address(address[0])
        return address
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(address[0], address[1], family, socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise HarnessConfigError(f"cannot resolve {address[0]!r}: {exc.strerror}") from None
    found.sort(key=lambda entry: entry[0] != socket.AF_INET)
    host, port = found[0][4][:2]
    return str(host), int(port)


def _optional(address: Address | None, family: int = socket.AF_UNSPEC) -> Address | None:
    return resolved(address, family) if address is not None else None


def _seconds(text: str) -> float:
    """A positive number of seconds (argparse's type: its message, not "invalid value")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def add_conformance_parsers(conformance: argparse.ArgumentParser, hostport: Callable[[str], Address]) -> None:
    _hostport = hostport
    kinds = conformance.add_subparsers(dest="kind", metavar="KIND", required=True)
    stun = kinds.add_parser("stun", help="the STUN server suite (the rules of scenarios/conformance/stun/)")
    stun.add_argument("target", type=_hostport, help="HOST:PORT of the STUN server (UDP)")
    stun.add_argument("--tcp-address", type=_hostport, help="its TCP address (default: the same)")
    stun.add_argument("--ipv6-address", type=_hostport, help="an IPv6 address of the same server, e.g. [::1]:3478")
    stun.add_argument("--user", help="short-term credentials the server requires")
    stun.add_argument("--password")
    stun.add_argument("--rfc5780", action="store_true", help="the server claims RFC 5780 support: check it")
    stun.add_argument(
        "--tcp", action="store_true", help="the server claims TCP (a stand-alone server must: RFC 8489 §12)"
    )
    stun.add_argument("--fingerprint", action="store_true", help="the server claims the FINGERPRINT mechanism")
    stun.add_argument(
        "--profile",
        choices=list(PROFILES),
        default=DEFAULT_PROFILE,
        help="rfc8489: the base protocol (default); webrtc: also what ICE agents need (FINGERPRINT)",
    )
    stun.add_argument("--timeout", type=float, default=2.0, help="seconds per request (default 2)")
    stun.set_defaults(func=_cmd_conformance)
    turn = kinds.add_parser("turn", help="the TURN server suite, RFC 8656 (the rules of scenarios/conformance/turn/)")
    turn.add_argument("target", type=_hostport, help="HOST:PORT of the TURN server (UDP)")
    turn.add_argument("--user", help="long-term credentials: the user name")
    turn.add_argument("--password", help="long-term credentials: the password")
    turn.add_argument("--realm", help="the realm the server must name in its 401 (default: whatever it names)")
    turn.add_argument("--tcp", action="store_true", help="the server claims TURN over TCP (RFC 8656 framing)")
    turn.add_argument("--tcp-address", type=_hostport, help="its TCP address, if not the same (claims TCP)")
    turn.add_argument("--tls", type=_hostport, metavar="HOST:PORT", help="the server claims TURN over TLS there")
    turn.add_argument("--tcp-relay", action="store_true", help="the server claims RFC 6062 TCP allocations")
    turn.add_argument("--ipv6-relay", action="store_true", help="the server claims IPv6 relayed addresses")
    turn.add_argument(
        "--peer-address", metavar="IP", help="an address of this machine the relay may reach: the relay rules' peer"
    )
    turn.add_argument(
        "--decoy", action="store_true", help="build a decoy peer host in a network namespace (root; 198.18.0.0/16)"
    )
    turn.add_argument(
        "--permission-lifetime",
        type=_seconds,
        metavar="S",
        help="the server was started with this permission lifetime (<= 30 s): measure that permissions expire",
    )
    turn.add_argument("--timeout", type=_seconds, default=2.0, help="seconds per request (default 2)")
    turn.set_defaults(func=_cmd_conformance_turn)
    signaling_kind = kinds.add_parser(
        "signaling", help="a signaling server: protocol v1's suite (scenarios/conformance/signaling/) or PeerJS's"
    )
    signaling_kind.add_argument("url", help="ws://HOST:PORT of the signaling server (PeerJS: its clients' URL)")
    signaling_kind.add_argument(
        "--protocol", choices=["harness", "peerjs"], default="harness", help="which rules judge it (default: harness)"
    )
    signaling_kind.set_defaults(func=_cmd_conformance)
    for name, text in (
        ("whip", "a WHIP endpoint, RFC 9725 (it must take a publishing offer)"),
        ("whep", "a WHEP endpoint, draft-ietf-wish-whep (a stream must be live there, or --publish)"),
    ):
        parser = kinds.add_parser(name, help=text)
        parser.add_argument("url", help=f"the {name.upper()} endpoint URL, as its clients are configured with it")
        parser.add_argument("--token", help="the bearer token the endpoint requires (then 401 is checked too)")
        parser.add_argument("--trickle", action="store_true", help="the endpoint claims trickle ICE by PATCH")
        parser.add_argument("--ice-restart", action="store_true", help="the endpoint claims ICE restarts by PATCH")
        parser.add_argument("--timeout", type=_seconds, default=5.0, help="seconds per HTTP request (default 5)")
        parser.add_argument("--cafile", help="trust the HTTPS endpoint's certificate by this PEM file alone")
        parser.add_argument("--local-address", metavar="IP", help="gather our host candidates from this address only")
        if name == "whep":
            parser.add_argument("--publish", metavar="WHIP_URL", help="publish a test stream there first, kept live")
        parser.set_defaults(func=_cmd_conformance_whip)  # fmt: skip
