"""Command-line options, ini keys and markers of the plugin."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from ..conformance.profiles import DEFAULT_PROFILE, PROFILES

MARKERS = {
    "seed": "seed: the seed flow of the project (scenario mark)",
    "webrtc_stun_server": (
        "webrtc_stun_server(**kwargs): configure the `stun_server` fixture "
        "(host, port, udp, tcp, other_host, auth, software)"
    ),
    "webrtc_whip_server": "webrtc_whip_server(**kwargs): configure the `whip_server` fixture (token, ice_servers)",
}


def _setting(group: Any, parser: pytest.Parser, flag: str, ini_help: str, default: str | bool, **option: Any) -> None:
    """One setting, twice: ``--webrtc-x`` on the command line and ``webrtc_x`` in the ini file.

    The option's own default is None, so :func:`_value` can tell "not given" and use the ini."""
    name = flag.removeprefix("--").replace("-", "_")
    group.addoption(flag, dest=name, default=None, **option)
    parser.addini(name, ini_help, type="bool" if isinstance(default, bool) else None, default=default)


def _value(config: pytest.Config, name: str) -> Any:
    """A setting's value: the command line's, else the ini file's (else its default)."""
    return config.getoption(name) or config.getini(name)


def _capture_dir(config: pytest.Config) -> Path | None:
    """``--webrtc-capture-dir`` made absolute: a relative one from where pytest was started, the ini
    file's from the ini file's directory (a relative path became a broken ``file:`` link in reports)."""
    given = config.getoption("webrtc_capture_dir")
    if given:
        return config.invocation_params.dir / Path(given).expanduser()
    configured = config.getini("webrtc_capture_dir")
    if not configured:
        return None
    base = config.inipath.parent if config.inipath else config.rootpath
    return base / Path(configured).expanduser()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("webrtc", "WebRTC conformance harness (pytest-webrtc)")
    _setting(
        group,
        parser,
        "--webrtc-stun-host",
        "address the built-in STUN server fixtures bind to",
        "127.0.0.1",
        help="address the built-in STUN server fixtures bind to (default: 127.0.0.1)",
    )
    _setting(
        group,
        parser,
        "--webrtc-capture-dir",
        "where scenario captures are written",
        "",
        metavar="DIR",
        help="where scenario captures (pcap + .pcap.json) are written (default: <basetemp>/webrtc-captures)",
    )
    _setting(
        group,
        parser,
        "--webrtc-keep-captures",
        "which scenario captures to keep: always, failed, never",
        "failed",
        choices=["always", "failed", "never"],
        help="which scenario captures to keep (default: failed)",
    )
    _setting(
        group,
        parser,
        "--webrtc-stun-server",
        "HOST:PORT of a STUN server to use instead of the built-in one",
        "",
        metavar="HOST:PORT",
        help="run scenarios against this STUN server instead of the built-in one",
    )
    _setting(
        group,
        parser,
        "--webrtc-stun-credentials",
        "USER:PASSWORD for --webrtc-stun-server",
        "",
        metavar="USER:PASSWORD",
        help="short-term credentials of --webrtc-stun-server (conformance checks of integrity use them)",
    )
    _setting(
        group,
        parser,
        "--webrtc-stun-rfc5780",
        "--webrtc-stun-server claims RFC 5780 support",
        False,
        action="store_true",
        help="--webrtc-stun-server claims RFC 5780 support (its conformance is then checked)",
    )
    _setting(
        group,
        parser,
        "--webrtc-stun-tcp",
        "--webrtc-stun-server claims TCP",
        False,
        action="store_true",
        help="--webrtc-stun-server claims TCP (a stand-alone STUN server must: RFC 8489 §12)",
    )
    _setting(
        group,
        parser,
        "--webrtc-stun-fingerprint",
        "--webrtc-stun-server claims FINGERPRINT",
        False,
        action="store_true",
        help="--webrtc-stun-server claims the FINGERPRINT mechanism",
    )
    _setting(
        group,
        parser,
        "--webrtc-stun-profile",
        "profile of the STUN conformance rules: rfc8489 or webrtc",
        DEFAULT_PROFILE,
        choices=list(PROFILES),
        help="which profile judges STUN conformance: rfc8489 (the base protocol, default) or webrtc",
    )
    _setting(
        group,
        parser,
        "--webrtc-turn-server",
        "HOST:PORT of a TURN server to judge (and relay through) instead of the built-in coturn",
        "",
        metavar="HOST:PORT",
        help="judge this TURN server in turn-conformance steps, and relay the NAT scenarios' peers through it",
    )
    _setting(
        group,
        parser,
        "--webrtc-turn-credentials",
        "USER:PASSWORD (long-term credentials) for --webrtc-turn-server",
        "",
        metavar="USER:PASSWORD",
        help="long-term credentials of --webrtc-turn-server",
    )
    _setting(
        group,
        parser,
        "--webrtc-turn-realm",
        "the realm --webrtc-turn-server must name",
        "",
        metavar="REALM",
        help="the realm --webrtc-turn-server must name in its 401 (default: whatever it names)",
    )
    _setting(
        group,
        parser,
        "--webrtc-turn-peer-address",
        "an address of this machine the relay of --webrtc-turn-server may reach",
        "",
        metavar="IP",
        help="where the TURN relay rules put their peer: an address of this machine --webrtc-turn-server can reach",
    )
    _setting(
        group,
        parser,
        "--webrtc-turn-tcp",
        "--webrtc-turn-server claims TURN over TCP",
        False,
        action="store_true",
        help="--webrtc-turn-server claims TURN over TCP (RFC 8656 framing)",
    )
    _setting(
        group,
        parser,
        "--webrtc-signaling-url",
        "URL of a signaling server to use instead of the built-in one",
        "",
        metavar="URL",
        help="run scenarios through this signaling server (ws://HOST:PORT, protocol v1) instead of the built-in one",
    )
    _setting(
        group,
        parser,
        "--webrtc-signaling-protocol",
        "the protocol of --webrtc-signaling-url: harness (protocol v1) or peerjs",
        "",
        metavar="NAME",
        help="the protocol --webrtc-signaling-url speaks: harness (protocol v1, the default) or peerjs",
    )
    group.addoption(
        "--webrtc-suite",
        dest="webrtc_suite",
        action="append",
        default=[],
        metavar="NAME",
        help="run a suite shipped in the package: seed, conformance/stun, conformance/turn, conformance/signaling, "
        "nat, media, or any file or directory under it (repeatable; works from an installed wheel)",
    )
    group.addoption(
        "--webrtc-scenario",
        dest="webrtc_scenario",
        action="append",
        default=[],
        metavar="PATH",
        help="run exactly these scenario files (a file or a directory; repeatable)",
    )


def _terminate_like_interrupt(signum: int, frame: object) -> None:
    """SIGTERM as SIGINT: KeyboardInterrupt, so every teardown (namespaces, coturn, peers) runs.

    When this process leads its process group (a CI job, a terminal's foreground job), the group
    is told too: pytest-xdist's workers then tear down their own scenarios."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the group's copy comes back to us
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGTERM)
    raise KeyboardInterrupt("SIGTERM")


def _default_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _close_shared_captures() -> None:
    """The scenarios' shared capture on lo ends with the session (only if one was ever opened)."""
    shared = sys.modules.get("pytest_webrtc.capture.shared")
    if shared is not None:
        shared.close_shared()


def pytest_configure(config: pytest.Config) -> None:
    from ..children import RUN_MARKER
    from .collection import OVERRIDES_KEY, scenario_paths

    os.environ.setdefault(RUN_MARKER, str(os.getpid()))
    config.add_cleanup(_close_shared_captures)  # children of this run carry it (and workers)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate_like_interrupt)
        config.add_cleanup(_default_sigterm)

    for name, text in MARKERS.items():
        config.addinivalue_line("markers", text if text.startswith(name) else f"{name}: {text}")
    keep = _value(config, "webrtc_keep_captures")
    if keep not in ("always", "failed", "never"):
        raise pytest.UsageError(f"webrtc_keep_captures must be always, failed or never, not {keep!r}")
    capture_dir = _capture_dir(config)
    overrides: dict[str, Any] = {"keep": keep, "capture_dir": capture_dir}
    stun_server = _value(config, "webrtc_stun_server")
    if stun_server:
        overrides["stun"] = external_stun(
            stun_server,
            _value(config, "webrtc_stun_credentials"),
            bool(_value(config, "webrtc_stun_rfc5780")),
        )
        overrides["stun"].update(
            profile=_value(config, "webrtc_stun_profile"),
            tcp=bool(_value(config, "webrtc_stun_tcp")),
            fingerprint=bool(_value(config, "webrtc_stun_fingerprint")),
        )
        if overrides["stun"]["profile"] not in PROFILES:
            raise pytest.UsageError(
                f"webrtc_stun_profile must be {' or '.join(PROFILES)}, not {overrides['stun']['profile']!r}"
            )
    turn_server = _value(config, "webrtc_turn_server")
    if turn_server:
        overrides["turn"] = external_turn(config, str(turn_server))
    signaling_url = _value(config, "webrtc_signaling_url")
    protocol = _value(config, "webrtc_signaling_protocol")
    if signaling_url:
        http = str(protocol) in ("whip", "whep")
        if not str(signaling_url).startswith(("http://", "https://") if http else ("ws://", "wss://")):
            wanted = "an http:// or https:// endpoint URL (whip, whep)" if http else "ws://HOST:PORT or wss://..."
            raise pytest.UsageError(f"--webrtc-signaling-url: expected {wanted}, got {signaling_url!r}")
        overrides["signaling"] = {"url": signaling_url}
    if protocol:
        from ..signaling.drivers import driver

        try:
            driver(str(protocol))
        except ValueError as exc:
            raise pytest.UsageError(f"--webrtc-signaling-protocol: {exc}") from None
        if not signaling_url:
            raise pytest.UsageError(
                "--webrtc-signaling-protocol needs --webrtc-signaling-url: the server that speaks it"
            )
        overrides["signaling"]["protocol"] = protocol
    config.stash[OVERRIDES_KEY] = overrides
    given = list(config.getoption("webrtc_scenario")) + [suite_path(n) for n in config.getoption("webrtc_suite")]
    if given:
        # Collect exactly these files, whatever testpaths or positional arguments say.
        config.args[:] = scenario_paths(config, given)


SUITE_ALIASES = {"seed": "p2p_datachannel.yaml"}


def suite_path(name: str) -> str:
    """The file or directory of a suite shipped in the package (``pytest_webrtc/suites``)."""
    from importlib import resources

    root = resources.files("pytest_webrtc").joinpath("suites")
    relative = SUITE_ALIASES.get(name, name).strip("/")
    for candidate in (relative, f"{relative}.yaml"):
        found = root.joinpath(candidate)
        if found.is_dir() or found.is_file():
            return str(found)
    known = sorted(["seed", *(p.name for p in root.iterdir() if p.is_dir())])
    raise pytest.UsageError(f"--webrtc-suite {name}: no such suite; shipped: {', '.join(known)}")


def stun_host(config: pytest.Config) -> str:
    return str(_value(config, "webrtc_stun_host"))


def external_stun(address: str, credentials: str | None, rfc5780: bool) -> dict[str, object]:
    """The scenario-level STUN server setting for a server given on the command line."""
    from ..addresses import parse_hostport
    from ..errors import AddressError

    try:
        parse_hostport(address)
    except AddressError as exc:
        raise pytest.UsageError(f"--webrtc-stun-server: {exc}") from None
    stun: dict[str, object] = {"address": address, "rfc5780": rfc5780}
    if credentials:
        user, sep, password = credentials.partition(":")
        if not sep:
            raise pytest.UsageError("--webrtc-stun-credentials: expected USER:PASSWORD")
        stun.update(user=user, password=password)
    return stun


def external_turn(config: pytest.Config, address: str) -> dict[str, object]:
    """The scenario-level TURN server setting for --webrtc-turn-server and its companions."""
    from ..addresses import parse_hostport
    from ..errors import AddressError

    try:
        parse_hostport(address)
    except AddressError as exc:
        raise pytest.UsageError(f"--webrtc-turn-server: {exc}") from None
    turn: dict[str, object] = {"address": address, "tcp": bool(_value(config, "webrtc_turn_tcp"))}
    credentials = _value(config, "webrtc_turn_credentials")
    if credentials:
        user, sep, password = str(credentials).partition(":")
        if not sep:
            raise pytest.UsageError("--webrtc-turn-credentials: expected USER:PASSWORD")
        turn.update(user=user, password=password)
    for key, name in (("realm", "webrtc_turn_realm"), ("peer-address", "webrtc_turn_peer_address")):
        if _value(config, name):
            turn[key] = str(_value(config, name))
    return turn
