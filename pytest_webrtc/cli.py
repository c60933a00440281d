"""``python -m pytest_webrtc SUBCOMMAND``: the harness outside pytest.

Nothing imports this module; it imports the rest lazily so that ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from .addresses import Address, parse_hostport
from .conformance.command import add_conformance_parsers
from .conformance.profiles import DEFAULT_PROFILE, PROFILES
from .errors import AddressError, HarnessConfigError

__all__ = ["main"]


def _hostport(text: str) -> Address:
    """argparse's view of :func:`parse_hostport`: its message, not "invalid value"."""
    try:
        return parse_hostport(text)
    except AddressError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _use_uvloop(enabled: bool) -> str:
    if enabled:
        try:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
            return "uvloop"
        except ImportError:
            pass
    return "asyncio"


def _cmd_stun_server(args: argparse.Namespace) -> int:
    from .stun.auth import Authenticator, LongTermAuth, ShortTermAuth
    from .stun.server import StunServer

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        stream=sys.stdout,
    )
    auth: Authenticator | None = None
    if args.user:
        if args.password is None:
            raise HarnessConfigError("--user needs --password")
        auth = (
            LongTermAuth(args.realm, {args.user: args.password})
            if args.realm
            else ShortTermAuth(args.user, args.password)
        )
    loop_kind = _use_uvloop(not args.no_uvloop)

    async def serve() -> None:
        server = StunServer(
            args.host,
            args.port,
            udp=not args.no_udp,
            tcp=not args.no_tcp,
            other_host=args.other_host,
            auth=auth,
            log_size=0,
        )
        await server.start()
        stop = _stop_on_signals()
        print(f"pytest-webrtc STUN server listening: {server.describe()} ({loop_kind})", flush=True)
        await stop.wait()
        await server.stop()
        print(f"stopped; counters: {server.stats.as_dict()}", flush=True)

    asyncio.run(serve())
    return 0


def _cmd_stun_probe(args: argparse.Namespace) -> int:
    from .probe import probe_main

    return probe_main(
        args.target, transports=args.transport or ["udp", "tcp"], timeout=args.timeout, profile=args.profile
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import demo_main

    return demo_main(verbose=args.verbose)


def _cmd_signaling_server(args: argparse.Namespace) -> int:
    from .signaling.server import SignalingServer

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout
    )

    async def serve() -> None:
        server = await SignalingServer(args.host, args.port).start()
        stop = _stop_on_signals()
        print(f"pytest-webrtc signaling server listening: {server.url} (protocol v1)", flush=True)
        await stop.wait()
        await server.stop()
        print(f"stopped; relayed {len(server.relayed)} messages, {server.error_count} errors", flush=True)

    asyncio.run(serve())
    return 0


def _cmd_room_actor(args: argparse.Namespace) -> int:
    import json

    from .sfu.mcu import Mcu
    from .sfu.server import Sfu

    candidates = [a.strip() for a in args.candidates.split(",")] if args.candidates else None
    actor_class = Mcu if args.kind == "mcu" else Sfu
    peer_id = args.id or args.kind

    async def serve() -> None:
        actor = await actor_class(args.signaling, args.room, peer_id, candidates=candidates).start()
        stop = _stop_on_signals()
        print(f"pytest-webrtc {args.kind.upper()} {peer_id!r} in room {args.room!r} of {args.signaling}", flush=True)
        await stop.wait()
        report = actor.report()
        await actor.stop()
        print(json.dumps(report), flush=True)

    asyncio.run(serve())
    return 0


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM; install it before saying "ready", so no signal is missed."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _cmd_peer(args: argparse.Namespace) -> int:
    import json

    from .peer.agent import PeerAgent
    from .peer.process import serve_stdio

    candidates = (
        args.candidates
        if "," not in args.candidates and not args.candidates[0].isdigit()
        else args.candidates.split(",")
    )

    async def run() -> None:
        agent = PeerAgent(
            args.id,
            args.signaling,
            args.room,
            ice_servers=json.loads(args.ice_servers),
            candidates=candidates,
            protocol=args.signaling_protocol,
        )
        try:
            await serve_stdio(agent)
        finally:
            await agent.close()

    asyncio.run(run())
    return 0


def _require_peer_args(args: argparse.Namespace) -> None:
    missing = [
        flag for flag, value in (("--signaling", args.signaling), ("--room", args.room), ("--id", args.id)) if not value
    ]
    if missing:
        raise HarnessConfigError(f"missing {', '.join(missing)} (or WEBRTC_SIGNALING_URL, WEBRTC_ROOM, WEBRTC_PEER_ID)")


def _add_peer_args(parser: argparse.ArgumentParser) -> None:
    """The external-peer convention's settings: arguments, or WEBRTC_* environment variables."""
    parser.add_argument("--signaling", default=os.environ.get("WEBRTC_SIGNALING_URL"), metavar="URL")
    parser.add_argument("--room", default=os.environ.get("WEBRTC_ROOM"))
    parser.add_argument("--id", default=os.environ.get("WEBRTC_PEER_ID"))
    parser.add_argument("--ice-servers", default=os.environ.get("WEBRTC_ICE_SERVERS", "[]"), metavar="JSON")
    parser.add_argument("--lifetime", type=float, default=60.0, help="leave after this many seconds at most")


def _cmd_echo_peer(args: argparse.Namespace) -> int:
    import json

    from .peer.agent import PeerAgent
    from .peer.echo import run_echo_peer

    _require_peer_args(args)
    chosen = os.environ.get("WEBRTC_HOST_ADDRESSES") or args.candidates  # the harness says which addresses
    candidates = chosen if chosen in ("loopback", "loopback6", "loopback-dual", "all") else chosen.split(",")
    cases = [c for c in os.environ.get("WEBRTC_CASES", "").split(",") if c]

    async def run() -> None:
        agent = PeerAgent(
            args.id, args.signaling, args.room, ice_servers=json.loads(args.ice_servers), candidates=candidates
        )
        await run_echo_peer(agent, args.lifetime, os.environ.get("WEBRTC_CALL") or None, cases)

    asyncio.run(run())
    return 0


def _cmd_browser_peer(args: argparse.Namespace) -> int:
    from .peer.browser import run_browser_peer

    _require_peer_args(args)
    return asyncio.run(
        run_browser_peer(args.signaling, args.room, args.id, args.ice_servers, args.lifetime, args.browser, args.engine)
    )


def _cmd_http_echo_server(args: argparse.Namespace) -> int:
    from .peer.http_offer import serve_http_echo

    async def serve() -> None:
        stop = _stop_on_signals()
        task = asyncio.create_task(serve_http_echo(args.host, args.port))
        await stop.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(serve())
    return 0


def _cmd_whip_server(args: argparse.Namespace) -> int:
    from .peer.hosts import CANDIDATE_SETS
    from .whip.server import WhipServer

    candidates = CANDIDATE_SETS.get(args.candidates, [a.strip() for a in args.candidates.split(",")])

    async def serve() -> None:
        stop = _stop_on_signals()
        server = await WhipServer(token=args.token, ice_servers=args.ice_server, candidates=candidates).start(
            args.host, args.port
        )
        print(
            f"pytest-webrtc WHIP server listening: {server.base_url}/whip/<stream> "
            f"(WHEP: {server.base_url}/whep/<stream>)",
            flush=True,
        )
        await stop.wait()
        lines = await server.summary()
        sessions = len(server.sessions) + server.ended_total  # the summary keeps only the newest ended ones
        await server.stop()
        for line in lines:
            print(line, flush=True)
        print(f"stopped; {sessions} session(s), {server.http.malformed} malformed request(s)", flush=True)

    asyncio.run(serve())
    return 0


def _cmd_docs(args: argparse.Namespace) -> int:
    """Print a page of the documentation that ships in the package (docs/NAME.md)."""
    from importlib import resources

    docs = resources.files("pytest_webrtc").joinpath("docs")
    pages = sorted(p.name[:-3] for p in docs.iterdir() if p.name.endswith(".md"))
    if args.page is None:
        print("pages: " + ", ".join(pages) + "  (python -m pytest_webrtc docs PAGE)")
        return 0
    name = args.page.removeprefix("docs/").removesuffix(".md")
    if name not in pages:
        print(f"docs: no page {args.page!r}; pages: {', '.join(pages)}", file=sys.stderr)
        return 2
    print(docs.joinpath(f"{name}.md").read_text(encoding="utf-8"))
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    import json

    if args.which == "signaling":
        from .signaling.protocol import schema
    else:
        from .scenario.model import schema
    print(json.dumps(schema(), indent=2))
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .inspect import inspect_capture, no_match, render_html, render_json, render_text

    try:
        inspection = inspect_capture(Path(args.file), host=args.host, port=args.port, transaction=args.transaction)
    except (ValueError, OSError) as exc:
        print(f"inspect: {exc}", file=sys.stderr)
        return 2
    nothing = no_match(inspection)
    if nothing is not None:  # a filter that keeps nothing is a mistake to say, not an empty PASS
        print(f"inspect: {nothing}", file=sys.stderr)
        return 2
    render = {"text": render_text, "json": render_json, "html": render_html}[args.format]
    output = render(inspection)
    if args.output:
        Path(args.output).write_text(output)
        print(f"wrote {args.output}")
    else:
        print(output)
    return 0 if inspection.verdict.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_webrtc",
        description="pytest-webrtc: WebRTC conformance harness. Subcommands run its pieces standalone.",
    )
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)

    server = sub.add_parser("stun-server", help="run the RFC 8489 STUN server (UDP+TCP), one log line per request")
    server.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; '::' for dual stack)")
    server.add_argument("--port", type=int, default=3478, help="port (default 3478; 0 lets the kernel pick)")
    server.add_argument("--other-host", help="second address for RFC 5780 behaviour discovery, e.g. 127.0.0.2")
    server.add_argument("--no-udp", action="store_true", help="do not listen on UDP")
    server.add_argument("--no-tcp", action="store_true", help="do not listen on TCP")
    server.add_argument("--user", help="require credentials: short-term, or long-term with --realm")
    server.add_argument("--password", help="password for --user")
    server.add_argument("--realm", help="use long-term credentials in this realm")
    server.add_argument("--no-uvloop", action="store_true", help="use asyncio's own loop even if uvloop is installed")
    server.add_argument("--quiet", action="store_true", help="do not log each request")
    server.set_defaults(func=_cmd_stun_server)

    probe = sub.add_parser("stun-probe", help="send Binding requests to a STUN server and judge the answers strictly")
    probe.add_argument("target", type=_hostport, help="HOST:PORT of the STUN server")
    probe.add_argument("--transport", action="append", choices=["udp", "tcp"], help="repeatable (default: both)")
    probe.add_argument("--timeout", type=float, default=3.0, help="seconds to wait per request (default 3)")
    probe.add_argument("--profile", choices=list(PROFILES), default=DEFAULT_PROFILE, help="as for conformance stun")
    probe.set_defaults(func=_cmd_stun_probe)

    signaling = sub.add_parser("signaling-server", help="run the WebSocket signaling server (protocol v1)")
    signaling.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    signaling.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 lets the kernel pick)")
    signaling.add_argument("--quiet", action="store_true", help="do not log each message")
    signaling.set_defaults(func=_cmd_signaling_server)

    peer = sub.add_parser("peer", help="an aiortc peer controlled by JSON lines on stdin (used by the scenario engine)")
    peer.add_argument("--signaling", required=True, metavar="URL", help="signaling server, ws://host:port")
    peer.add_argument(
        "--signaling-protocol", default="harness", help="the signaling driver: harness (protocol v1, default), peerjs"
    )
    peer.add_argument("--room", required=True)
    peer.add_argument("--id", required=True, help="peer id in the room")
    peer.add_argument(
        "--ice-servers",
        default="[]",
        metavar="JSON",
        help='RTCIceServer list, e.g. \'[{"urls": "stun:127.0.0.1:3478"}]\' (default: none)',
    )
    peer.add_argument(
        "--candidates",
        default="loopback",
        help="host candidates: loopback, loopback6, loopback-dual, all, or comma-separated addresses",
    )
    peer.set_defaults(func=_cmd_peer)

    echo = sub.add_parser(
        "echo-peer", help="an aiortc peer that answers an offer and echoes data (external-peer convention)"
    )
    _add_peer_args(echo)
    echo.add_argument("--candidates", default="loopback")
    echo.set_defaults(func=_cmd_echo_peer)

    for kind, text in (
        ("sfu", "an SFU that joins a room and forwards every peer's tracks to the others (docs/sfu.md)"),
        ("mcu", "an MCU that joins a room and sends every peer a mix of the others' audio (docs/sfu.md)"),
    ):
        actor = sub.add_parser(kind, help=text)
        actor.add_argument("--signaling", required=True, metavar="URL", help="signaling server, ws://host:port")
        actor.add_argument("--room", required=True)
        actor.add_argument("--id", help=f"its peer id in the room (default {kind})")
        actor.add_argument(
            "--candidates", default="127.0.0.1", help="comma-separated host candidate addresses (default 127.0.0.1)"
        )
        actor.set_defaults(func=_cmd_room_actor, kind=kind)

    browser = sub.add_parser("browser-peer", help="headless Chromium or Firefox as a peer that answers (or calls)")
    _add_peer_args(browser)
    browser.add_argument("--engine", choices=("chromium", "firefox"), default="chromium", help="which browser")
    browser.add_argument("--browser", help="the browser's binary (default: Debian's)")
    browser.set_defaults(func=_cmd_browser_peer)

    http_echo = sub.add_parser(
        "http-echo-server", help="an echo peer reached by POSTing offers to /offer (interop suites)"
    )
    http_echo.add_argument("--host", default="127.0.0.1")
    http_echo.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 lets the kernel pick)")
    http_echo.set_defaults(func=_cmd_http_echo_server)

    whip = sub.add_parser(
        "whip-server", help="the reference WHIP (ingest) / WHEP (egress) endpoint, backed by the SFU's forwarding"
    )
    whip.add_argument("--host", default="127.0.0.1")
    whip.add_argument("--port", type=int, default=8088, help="port (default 8088; 0 lets the kernel pick)")
    whip.add_argument("--token", help="require this bearer token on every request (401 otherwise)")
    whip.add_argument(
        "--ice-server", action="append", default=[], metavar="URI", help='advertise it in Link: rel="ice-server"'
    )
    whip.add_argument(
        "--candidates",
        default="loopback",
        help="host candidates: loopback (default), loopback6, loopback-dual, all, or IP,IP",
    )
    whip.set_defaults(func=_cmd_whip_server)

    docs = sub.add_parser("docs", help="print a page of the documentation shipped in the package (docs/PAGE.md)")
    docs.add_argument("page", nargs="?", help="e.g. ci, scenarios, capture (default: list the pages)")
    docs.set_defaults(func=_cmd_docs)

    schema = sub.add_parser("schema", help="print a JSON Schema: of scenario files (default) or signaling messages")
    schema.add_argument("which", nargs="?", choices=["scenario", "signaling"], default="scenario")
    schema.set_defaults(func=_cmd_schema)

    inspect = sub.add_parser("inspect", help="list, judge and draw the STUN exchanges of a pcap/pcapng file")
    inspect.add_argument("file", help="capture file (ours, or from tshark, tcpdump, Wireshark)")
    inspect.add_argument("--format", choices=["text", "json", "html"], default="text")
    inspect.add_argument("-o", "--output", help="write to this file instead of standard output")
    inspect.add_argument("--host", help="only messages from or to this address")
    inspect.add_argument("--port", type=int, help="only messages from or to this port")
    inspect.add_argument("--transaction", help="only messages whose transaction id starts with this hex")
    inspect.set_defaults(func=_cmd_inspect)

    conformance = sub.add_parser("conformance", help="run a conformance suite against another project's server")
    add_conformance_parsers(conformance, _hostport)

    interop = sub.add_parser(
        "interop", help="the interop matrix: every ordered pair of WebRTC stacks (docs/interop.md)"
    )
    from .matrix import add_interop_arguments

    add_interop_arguments(interop)

    demo = sub.add_parser("demo", help="the main job: our STUN server answering real clients, with a verdict")
    demo.add_argument("-v", "--verbose", action="store_true", help="print the server's transaction log")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except HarnessConfigError as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        return 130
    return 0
