"""Scenarios as data: validated against the JSON Schema, every step knowing its file line.

``parse_scenario(path)`` reads a YAML file and returns a :class:`Scenario`, or raises
:class:`ScenarioError` naming the file, line, column and what was expected.  ``servers:`` is
interpreted here (:class:`StunSpec`, :class:`SignalingSpec`), and every peer gets its kind
(:data:`~pytest_webrtc.peer.kinds.PEER_KINDS`).  ``pytest_webrtc.scenario.load_scenario`` adds
the checks that need the step registry (what each step needs of its peers).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..addresses import Address, parse_hostport
from ..conformance.profiles import DEFAULT_PROFILE
from ..errors import AddressError, ScenarioError
from ..peer.kinds import PEER_KINDS, PeerKind
from .files import is_scenario_file
from .loader import Located, load_located
from .validate import did_you_mean, raise_all, schema_errors

__all__ = [
    "DEFAULT_TIMEOUTS",
    "PeerSpec",
    "Scenario",
    "SignalingSpec",
    "Step",
    "StunSpec",
    "TurnSpec",
    "count_matches",
    "is_scenario_file",
    "parse_count",
    "parse_scenario",
    "schema",
    "signaling_spec",
    "stun_spec",
    "turn_spec",
]

DEFAULT_TIMEOUTS = {"offer": 10.0, "answer": 10.0, "wait": 10.0, "stun": 10.0, "expect-media": 10.0, "call": 30.0}
DEFAULT_STEP_TIMEOUT = 5.0
LINK_KEYS = frozenset(
    {"link", "down", "up", "drop", "delay", "duplicate"}
)  # network step keys that need a link element
DEFAULT_SCENARIO_TIMEOUT = 60.0


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (package data; ``python -m pytest_webrtc schema`` prints it)."""
    text = resources.files("pytest_webrtc.scenario").joinpath("schema.json").read_text()
    return dict(json.loads(text))


@dataclass(frozen=True)
class PeerSpec:
    name: str
    candidates: str | list[str] = "loopback"
    process: bool = False
    stun: bool = True
    room: str | None = None
    command: str | None = None  # another project's peer program (the answerer convention)
    env: dict[str, Any] | None = None  # the program's extra environment (command: peers only)
    offer_url: str | None = None  # another stack's echo server, reached by POSTing offers
    stack: str | None = None  # a WebRTC stack's program (pytest_webrtc.peer.stacks): firefox, gstreamer, ...
    behind_nat: bool = False  # the scenario has a topology: the peer runs in its namespace

    @property
    def kind(self) -> PeerKind:
        """What kind of peer this declaration makes (and so what it can do)."""
        if self.offer_url:
            return PEER_KINDS["offer-url"]
        if self.command:
            return PEER_KINDS["command"]
        if self.stack:
            return PEER_KINDS[f"stack:{self.stack}"]
        return PEER_KINDS["process" if self.process or self.behind_nat else "aiortc"]


@dataclass(frozen=True)
class StunSpec:
    """``servers: {stun: ...}``: the built-in server (with its options), another project's, or none."""

    mode: str = "builtin"  # "builtin", "external" or "none"
    host: str = "127.0.0.1"  # the built-in server's address
    other_host: str | None = None  # RFC 5780: the built-in server's second address
    address: Address | None = None  # an external server's UDP address
    tcp_address: Address | None = None
    ipv6_address: Address | None = None
    user: str | None = None  # short-term credentials (the built-in server then requires them)
    password: str | None = None
    rfc5780: bool = False  # the external server claims RFC 5780 support
    profile: str = DEFAULT_PROFILE  # which profile judges the conformance rules
    tcp: bool = False  # the server claims TCP
    fingerprint: bool = False  # the server claims the FINGERPRINT mechanism


@dataclass(frozen=True)
class SignalingSpec:
    """``servers: {signaling: ...}``: the built-in server (on ``host``), or another one at ``url``."""

    url: str | None = None
    host: str = "127.0.0.1"
    protocol: str = "harness"  # the signaling driver (pytest_webrtc.signaling.drivers) the peers speak


def stun_spec(value: Any) -> StunSpec:
    """The schema's ``servers.stun`` value (or the plugin's --webrtc-stun-server) as a StunSpec;
    AddressError for an address that is not HOST:PORT."""
    if value == "none":
        return StunSpec("none")
    if not isinstance(value, dict):
        return StunSpec()
    user, password = value.get("user"), value.get("password")
    claims = {
        "profile": value.get("profile", DEFAULT_PROFILE),
        "tcp": bool(value.get("tcp", False)),
        "fingerprint": bool(value.get("fingerprint", False)),
    }
    if "address" not in value:
        return StunSpec(
            "builtin", value.get("host", "127.0.0.1"), value.get("other-host"), user=user, password=password, **claims
        )

    def address(key: str) -> Address | None:
        return parse_hostport(value[key]) if key in value else None

    return StunSpec(
        "external",
        address=address("address"),
        tcp_address=address("tcp-address"),
        ipv6_address=address("ipv6-address"),
        user=user,
        password=password,
        rfc5780=bool(value.get("rfc5780", False)),
        **claims,
    )


@dataclass(frozen=True)
class TurnSpec:
    """``servers: {turn: ...}``: coturn started by the harness, or another project's TURN server at ``address``.

    In a topology the relay is the peers' (their ICE servers name it); without one it is the server
    the ``turn-conformance`` steps judge.  The claims are those of ``conformance turn``."""

    mode: str = "builtin"  # "builtin" or "external"
    transport: str = "udp"  # how peers reach the relay
    address: Address | None = None
    user: str | None = None
    password: str | None = None
    realm: str | None = None
    tcp: bool = False
    tls: Address | None = None
    peer_address: str | None = None
    permission_lifetime: float | None = None
    contained: bool = False  # built-in: coturn inside a namespace of the harness, a decoy with private addresses behind


def turn_spec(value: Any) -> TurnSpec:
    """The schema's ``servers.turn`` value (or the plugin's --webrtc-turn-server) as a TurnSpec."""
    value = value if isinstance(value, dict) else {}
    lifetime = value.get("permission-lifetime")
    common = {
        "transport": value.get("transport", "udp"),
        "tcp": bool(value.get("tcp", False)),
        "permission_lifetime": float(lifetime) if lifetime is not None else None,
    }
    if "address" not in value:
        return TurnSpec("builtin", contained=bool(value.get("contained", False)), **common)
    return TurnSpec(
        "external",
        address=parse_hostport(value["address"]),
        user=value.get("user"),
        password=value.get("password"),
        realm=value.get("realm"),
        tls=parse_hostport(value["tls"]) if value.get("tls") else None,
        peer_address=value.get("peer-address"),
        **common,
    )


def signaling_spec(value: Any) -> SignalingSpec:
    if isinstance(value, dict):
        return SignalingSpec(value.get("url"), value.get("host", "127.0.0.1"), value.get("protocol", "harness"))
    return SignalingSpec()


@dataclass(frozen=True)
class Step:
    index: int  # 1-based, as people count
    kind: str
    args: dict[str, Any]
    line: int
    timeout: float
    expect_failure: bool | str = False

    def label(self) -> str:
        return f"step {self.index} ({self.kind}, line {self.line})"


@dataclass
class Scenario:
    path: str
    title: str
    description: str
    peers: dict[str, PeerSpec]
    steps: list[Step]
    room: str
    timeout: float = DEFAULT_SCENARIO_TIMEOUT
    marks: list[str] = field(default_factory=list)
    stun: StunSpec = field(default_factory=StunSpec)
    signaling: SignalingSpec = field(default_factory=SignalingSpec)
    capture: bool = True
    sfu: str | None = None  # the SFU actor's peer id, when the scenario has one
    mcu: str | None = None  # the MCU actor's peer id, when the scenario has one
    topology: dict[str, str] = field(default_factory=dict)  # peer -> NAT type: peers behind real NATs
    links: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # peer -> its link's (up, down) LinkConditions
    turn: TurnSpec | None = None  # the peers' relay (topology), or the TURN server turn-conformance judges
    located: Located | None = None
    directory: str = ""  # the file's directory, absolute: external peer programs run there
    sealed: bool | None = None  # command: peers sealed in namespaces: None where the machine can, True always

    @property
    def has_programs(self) -> bool:
        """Whether a peer is another project's program (``command:``), which the harness may seal."""
        return any(spec.command for spec in self.peers.values())

    @property
    def name(self) -> str:
        return Path(self.path).stem


_COUNT = re.compile(r"^\s*(>=|<=|==|>|<)?\s*(\d+)\s*$")


def parse_count(expected: int | str) -> tuple[str, int]:
    """``3`` -> ("==", 3); ``">=1"`` -> (">=", 1)."""
    if isinstance(expected, int):
        return "==", expected
    match = _COUNT.match(expected)
    if match is None:
        raise ValueError(f"not a count: {expected!r}")
    return match.group(1) or "==", int(match.group(2))


def count_matches(expected: int | str, actual: int) -> bool:
    op, n = parse_count(expected)
    return {"==": actual == n, ">=": actual >= n, "<=": actual <= n, ">": actual > n, "<": actual < n}[op]


def parse_scenario(path: str | Path, text: str | None = None, directory: str | Path | None = None) -> Scenario:
    """Read and validate a scenario file (the schema, peer names, servers); ScenarioError says where.

    ``directory`` is where the file really is (default: ``path``'s, resolved now); ``path`` is how
    reports name it (pytest gives it relative to its rootdir, which need not be the current directory).
    """
    path = Path(path)
    directory = Path(directory) if directory is not None else path.resolve().parent
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"cannot read scenario: {exc.strerror}", str(path)) from None
    located = load_located(text, str(path))
    if not isinstance(located.data, dict):
        raise located.error("a scenario is a YAML mapping with scenario, peers and steps")
    raise_all(schema_errors(located, schema()))
    data = located.data
    behind_nat = bool(data.get("topology"))
    peers = {
        name: PeerSpec(name, **{k.replace("-", "_"): v for k, v in (spec or {}).items()}, behind_nat=behind_nat)
        for name, spec in data.get("peers", {}).items()
    }
    for name, spec in peers.items():
        if spec.env and not spec.command:
            raise located.error(
                f"peers.{name}.env: an environment is for a program (command:); {name} is {spec.kind.description}",
                ("peers", name, "env"),
            )
    servers = data.get("servers", {})
    actors: dict[str, str] = {}  # kind -> peer id
    for kind in ("sfu", "mcu"):
        spec = servers.get(kind)
        if spec is None:
            continue
        actor = (spec if isinstance(spec, dict) else {}).get("id", kind)
        if actor in peers or actor in actors.values():
            raise located.error(
                f"servers.{kind}: the {kind.upper()}'s id {actor!r} is already taken", ("servers", kind)
            )
        actors[kind] = actor
    topology, links = _topology(located, data.get("topology", {}))
    for name in topology:
        if name not in peers:
            raise located.error(f"topology: {name!r} is not a declared peer", ("topology", name))
    if topology and set(topology) != set(peers):
        missing = ", ".join(sorted(set(peers) - set(topology)))
        raise located.error(f"topology: every peer needs a NAT type (or none); missing: {missing}", ("topology",))
    if topology and "sealed" in data:
        raise located.error(
            "sealed: a topology already puts every peer in a namespace of its own; drop sealed", ("sealed",)
        )
    judged = any("turn-conformance" in raw for raw in data["steps"])
    turn = TurnSpec() if judged else None  # a turn-conformance step judges the built-in coturn unless told
    if "turn" in servers:
        try:
            turn = turn_spec(servers["turn"])
        except AddressError as exc:
            raise located.error(f"servers.turn: {exc}", ("servers", "turn")) from None
        yours = sorted({"user", "password", "realm", "tls", "peer-address"} & set(servers["turn"] or {}))
        if yours and turn.mode == "builtin":
            raise located.error(
                f"servers.turn: {', '.join(yours)} describe your TURN server: give its address too "
                "(address: HOST:PORT), or drop them to use the built-in coturn",
                ("servers", "turn"),
            )
        if not topology and not judged:
            raise located.error(
                "servers.turn: without a topology a TURN server is only judged (turn-conformance steps): "
                "peers on loopback do not relay through it; add a topology (peers behind NATs)",
                ("servers", "turn"),
            )
    signaling = signaling_spec(servers.get("signaling", "builtin"))
    remotes = _remotes(signaling.protocol)
    declared = servers.get("signaling")
    if signaling.protocol == "mapped" or (isinstance(declared, dict) and "mapping" in declared):
        signaling = _mapped(located, servers["signaling"], Path(directory))
    try:
        stun = stun_spec(servers.get("stun", "builtin"))
    except AddressError as exc:
        raise located.error(f"servers.stun: {exc}", ("servers", "stun")) from None
    steps = []
    problems: list[ScenarioError] = []
    for i, raw in enumerate(data["steps"]):
        ((kind, args),) = raw.items()
        if not isinstance(args, dict):
            args = {"peers": args}  # short forms: "join: [alice, bob]"
        line = located.position(("steps", i))[0]
        timeout = float(args.get("timeout", DEFAULT_TIMEOUTS.get(kind, DEFAULT_STEP_TIMEOUT)))
        step = Step(i + 1, kind, args, line, timeout, args.get("expect-failure", False))
        problems += _check_peer_names(located, step, peers, i, set(actors.values()) | remotes, remotes)
        linked = LINK_KEYS & set(args)
        if (
            kind == "network"
            and args.get("peer") in peers
            and args.get("rebind")
            and not _translates(topology, args["peer"])
        ):
            problems.append(located.error(
                f"step {i + 1} (network): rebind needs {args['peer']} behind a translating NAT "
                f"(topology: {{{args['peer']}: port-restricted-cone}}, say)", ("steps", i, kind, "rebind")))  # fmt: skip
        if kind == "network" and args.get("peer") in peers and args["peer"] not in links and linked:
            problems.append(located.error(
                f"step {i + 1} (network): {args['peer']} has no link element to change; give it one in topology "
                f"({args['peer']}: {{nat: none, link: {{}}}})", ("steps", i, kind, "peer")))  # fmt: skip
        steps.append(step)
    raise_all(problems)
    return Scenario(
        path=str(path),
        title=data["scenario"],
        description=data.get("description", ""),
        peers=peers,
        steps=steps,
        room=data.get("room", path.stem),
        timeout=float(data.get("timeout", DEFAULT_SCENARIO_TIMEOUT)),
        marks=list(data.get("marks", [])),
        stun=stun,
        signaling=signaling,
        capture=bool(data.get("capture", True)),
        sfu=actors.get("sfu"),
        mcu=actors.get("mcu"),
        topology=topology,
        links=links,
        turn=turn,
        located=located,
        directory=str(Path(directory).resolve()),
        sealed=data.get("sealed"),
    )


def _mapped(located: Located, value: dict[str, Any], directory: Path) -> SignalingSpec:
    """``protocol: mapped`` with its ``mapping`` file (relative to the scenario, or a shipped one's name),
    checked now: the protocol becomes ``mapped:ABSOLUTE-PATH``."""
    from ..signaling.mapped import load_mapping

    where = ("servers", "signaling")
    if value.get("protocol") != "mapped" or not value.get("mapping"):
        raise located.error(
            "servers.signaling: a mapping goes with protocol: mapped (and mapped needs a mapping)", where
        )
    name = str(value["mapping"])
    shipped = Path(__file__).parent.parent / "signaling" / "mappings" / f"{name}.yaml"
    path = (
        shipped if "/" not in name and not name.endswith((".yaml", ".yml")) and shipped.is_file() else directory / name
    )
    try:
        load_mapping(path)
    except ValueError as exc:
        raise located.error(f"servers.signaling.mapping: {exc}", where) from None
    return SignalingSpec(value.get("url"), value.get("host", "127.0.0.1"), f"mapped:{path.resolve()}")


def _topology(located: Located, value: dict[str, Any]) -> tuple[dict[str, str], dict[str, tuple[Any, Any]]]:
    """``topology:``: peer -> NAT type (``alice: symmetric``), or ``{nat: ..., link: {...}}`` with the
    conditions of its link (both directions, or ``link: {up: {...}, down: {...}}``)."""
    from ..errors import HarnessConfigError
    from ..nat.link import parse_conditions

    nats: dict[str, str] = {}
    links: dict[str, tuple[Any, Any]] = {}
    for name, spec in value.items():
        if isinstance(spec, str):
            nats[name] = spec
            continue
        nats[name] = spec.get("nat", "none")
        link = spec.get("link")
        if link is None:
            continue
        try:
            if "up" in link or "down" in link:
                links[name] = (parse_conditions(link.get("up", {})), parse_conditions(link.get("down", {})))
            else:
                links[name] = (parse_conditions(link), parse_conditions(link))
        except HarnessConfigError as exc:
            raise located.error(f"topology.{name}.{exc}", ("topology", name, "link")) from None
    return nats, links


def _translates(topology: dict[str, str], peer: str) -> bool:
    """Whether ``peer`` sits behind a NAT that maps addresses (what a rebinding needs)."""
    from ..nat.types import NAT_TYPES

    nat = NAT_TYPES.get(topology.get(peer, ""))
    return nat is not None and nat.mapping is not None


def _remotes(protocol: str) -> set[str]:
    """What the protocol's server offers to connect to (Janus's plugins); none for an unknown protocol
    (that is refused when the run starts, with the known ones)."""
    from ..signaling.drivers import driver

    try:
        return set(driver(protocol).remotes)
    except ValueError:
        return set()


def _check_peer_names(
    located: Located, step: Step, peers: dict[str, PeerSpec], index: int, actors: set[str], remotes: set[str]
) -> list[ScenarioError]:
    problems = []
    for key in ("from", "to", "peer", "peers", "between", "forwarding", "bandwidth"):
        value = step.args.get(key)
        names = list(value) if isinstance(value, (list, dict)) else [value] if isinstance(value, str) else []
        if key == "forwarding" and isinstance(value, dict):
            names += [name for sources in value.values() for name in sources]
        to_actor = step.kind == "connect" and key == "to"
        for name in names:
            if name in (actors if to_actor else peers) or (step.kind == "data" and key == "to" and name in remotes):
                continue  # data to a plugin of the protocol's server (Janus's echotest) comes back
            node = ("steps", index, step.kind, key) if key in step.args else ("steps", index)
            if to_actor:
                servers = ", ".join(sorted(actors)) or "none (declare one, e.g. servers: {sfu: {}})"
                problems.append(
                    located.error(
                        f"step {step.index} ({step.kind}): {name!r} is not a server actor; servers: {servers}", node
                    )
                )
                continue
            problems.append(
                located.error(
                    f"step {step.index} ({step.kind}): unknown peer {name!r}{did_you_mean(name, peers)}; "
                    f"declared peers: {', '.join(peers)}",
                    node,
                )
            )
    return problems
