"""Building and tearing down a scenario's world: NAT topology, capture, servers, actors, peers.

``await build_world(world, options)`` fills in a :class:`~.context.World` step by step (so
that whatever was started before a failure is known to :func:`close_world`, which stops it
all, in reverse order, each part bounded in time).
"""

from __future__ import annotations

import asyncio
import ipaddress
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..addresses import format_hostport
from ..errors import PeerError, ScenarioError
from ..peer.kinds import PeerSetup
from ..stun.auth import ShortTermAuth
from .context import World
from .model import Scenario, SignalingSpec, StunSpec, TurnSpec
from .wire import WireRecorder

__all__ = ["RunOptions", "build_world", "close_world", "containment_notes", "seal"]


@dataclass(frozen=True)
class RunOptions:
    """How the plugin (or a test) runs a scenario: capture policy and servers given from outside."""

    capture: bool = True
    keep: str = "failed"  # which captures to keep: always, failed, never
    capture_dir: Path | None = None
    name: str | None = None  # the pcap's name (default: the scenario's)
    stun: StunSpec | None = None  # --webrtc-stun-server: replaces the scenario's
    signaling: SignalingSpec | None = None  # --webrtc-signaling-url: replaces the scenario's
    turn: TurnSpec | None = None  # --webrtc-turn-server: replaces the scenario's (where it declares one)

    @classmethod
    def from_mapping(cls, overrides: dict[str, Any]) -> RunOptions:
        """The older mapping form: ``{"capture": False, "keep": "always", "capture_dir": ...}``."""
        from .model import signaling_spec, stun_spec, turn_spec

        directory = overrides.get("capture_dir")
        return cls(
            capture=bool(overrides.get("capture", True)),
            keep=str(overrides.get("keep", "failed")),
            capture_dir=Path(directory) if directory else None,
            name=overrides.get("name"),
            stun=stun_spec(overrides["stun"]) if overrides.get("stun") else None,
            signaling=signaling_spec(overrides["signaling"]) if overrides.get("signaling") else None,
            turn=turn_spec(overrides["turn"]) if overrides.get("turn") else None,
        )


def _recorder(world: World) -> WireRecorder:
    if world.janus is not None and world.janus.namespace is not None:  # Janus's side of its one link
        return WireRecorder(iface="any", bpf="udp", netns=world.janus.namespace.name)
    if world.topology is None:
        return WireRecorder()
    # In the public namespace, every interface: each datagram once — as it arrives (from a router)
    # or as the servers send it — not a second time when forwarded out to the other router.
    from ..nat.topology import SERVER_ADDRESSES

    servers = " or ".join(f"src host {address}" for address in SERVER_ADDRESSES)
    routers = {name: site.router.name for name, site in world.topology.sites.items()}
    heard = "inbound"
    if world.turn_address is not None:  # its answers once, as forwarded to a router (after the masquerade is undone)
        turn = world.turn_address[0]
        heard = f"(inbound and not src host {turn}) or (outbound and src host {turn})"
    sides = {}
    for name, site in world.topology.sites.items():
        if site.link is not None:  # the peer's side of its link (p0) and the router's (r0)
            sides[f"{name}-link-peer"] = (site.link.namespace.name, "p0", site.private_address)
            sides[f"{name}-link-router"] = (site.link.namespace.name, "r0", site.router_link_address)
    return WireRecorder(
        iface="any", bpf=f"udp and ({heard} or {servers})", netns=_public(world), routers=routers, sides=sides
    )


def _public(world: World) -> str:
    """The name of the topology's public namespace (where the servers run)."""
    assert world.topology is not None and world.topology.public is not None, "the topology is not built"
    return world.topology.public.name


async def _start_public_servers(world: World, options: RunOptions) -> None:
    if (options.signaling or world.scenario.signaling).protocol != "harness":
        raise ScenarioError(
            "servers.signaling.protocol: a NAT topology runs its own signaling server (protocol v1) in its "
            "public network; other protocols are for scenarios without a topology",
            world.scenario.path,
        )
    """With a NAT topology: STUN (RFC 5780, both public addresses) and signaling in the public namespace."""
    from ..background import BackgroundLoop
    from ..conformance.stun import StunTarget
    from ..nat.topology import SERVER_ADDRESSES
    from ..signaling.server import SignalingServer
    from ..stun.server import StunServer

    world.public_loop = loop = BackgroundLoop("public-servers", netns=_public(world))
    stun: StunServer = await asyncio.to_thread(
        loop.run, StunServer(SERVER_ADDRESSES[0], other_host=SERVER_ADDRESSES[1]).start()
    )
    assert stun.udp_address is not None
    world.stun_server, world.stun_address = stun, stun.udp_address
    world.stun_target = StunTarget(stun.udp_address, stun.tcp_address, rfc5780=True)
    signaling: SignalingServer = await asyncio.to_thread(loop.run, SignalingServer(SERVER_ADDRESSES[0]).start())
    world.signaling_server, world.signaling_url = signaling, signaling.url
    turn = _turn_spec(world, options)
    if turn is not None and turn.mode == "external":
        world.turn_ice = _ice_server(turn)
    elif turn is not None:
        from ..nat.turn import CoturnRelay

        world.turn = CoturnRelay(_public(world), SERVER_ADDRESSES[0])
        await world.turn.start()
        world.turn_ice = world.turn.ice_server(turn.transport)


def _turn_spec(world: World, options: RunOptions) -> TurnSpec | None:
    """The scenario's TURN server, or the one given from outside where the scenario declares one."""
    if world.scenario.turn is None:
        return None
    return options.turn or world.scenario.turn


def _ice_server(turn: TurnSpec) -> dict[str, Any]:
    assert turn.address is not None
    url = f"turn:{format_hostport(turn.address)}?transport={turn.transport}"
    return {"urls": url, "username": turn.user or "", "credential": turn.password or ""}


async def _start_turn(world: World, turn: TurnSpec) -> None:
    """The TURN server the turn-conformance steps judge: the user's, or coturn with a decoy peer beside."""
    from ..conformance.turn_target import TurnTarget

    claims: dict[str, Any] = {"tcp": turn.tcp, "permission_lifetime": turn.permission_lifetime}
    if turn.mode == "external":
        assert turn.address is not None
        world.turn_target = TurnTarget(
            turn.address, turn.user, turn.password, turn.realm, tls=turn.tls, peer_address=turn.peer_address, **claims
        )
        return
    from ..certificates import self_signed
    from ..coturn import CoturnTurn
    from ..nat.decoy import Decoy
    from ..nat.netns import cannot_build_namespaces

    if turn.contained and cannot_build_namespaces() is not None:
        raise ScenarioError(f"servers.turn.contained: {cannot_build_namespaces()}", world.scenario.path)
    if cannot_build_namespaces() is None:  # root: a peer host the relay may reach (coturn refuses loopback)
        world.turn_decoy = Decoy(contained=turn.contained)
        await asyncio.to_thread(world.turn_decoy.__enter__)
    decoy = world.turn_decoy
    extra = (f"--permission-lifetime={turn.permission_lifetime:g}",) if turn.permission_lifetime else ()
    if decoy is not None and decoy.server is not None:  # contained: coturn itself in the decoy's server namespace
        world.turn_server = CoturnTurn(namespace=decoy.server.name, listening_ip=decoy.server_side, extra=extra)
    else:
        tls = self_signed(tempfile.mkdtemp(prefix="pytest-webrtc-tls-"))
        relay_ip = decoy.machine_side if decoy is not None else None
        world.turn_server = CoturnTurn(relay_ip=relay_ip, tls=tls, extra=extra)
    server = await asyncio.to_thread(world.turn_server.start)
    world.turn_target = TurnTarget(
        server.address, server.user, server.password, server.realm, decoy=decoy, contained=turn.contained,
        tls=server.tls_address, **(claims | {"tcp": True}),
    )  # fmt: skip


async def _start_stun(world: World, stun: StunSpec) -> None:
    from ..conformance.stun import StunTarget
    from ..stun.server import StunServer

    if stun.mode == "builtin":
        auth = ShortTermAuth(stun.user, stun.password) if stun.user is not None and stun.password is not None else None
        server = await StunServer(stun.host, other_host=stun.other_host, auth=auth).start()
        world.stun_server, world.stun_address = server, server.address
        world.stun_target = StunTarget(
            server.address,
            server.tcp_address,
            username=stun.user,
            password=stun.password,
            rfc5780=server.other_address is not None,
            profile=stun.profile,
            claims_fingerprint=stun.fingerprint,
        )
    elif stun.mode == "external":
        assert stun.address is not None
        world.stun_address = stun.address
        world.stun_target = StunTarget(
            stun.address,
            stun.tcp_address,
            stun.ipv6_address,
            stun.user,
            stun.password,
            stun.rfc5780,
            profile=stun.profile,
            claims_tcp=stun.tcp,
            claims_fingerprint=stun.fingerprint,
        )


def _speakable(world: World, signaling: SignalingSpec) -> None:
    """Every step, actor and peer of the scenario can run through the signaling protocol: else a
    ScenarioError naming the first that cannot, with its line (the protocol may come from the
    command line, so this is checked when the run starts, before anything is sent)."""
    from ..signaling.drivers import BUILT_IN, HTTP_PROTOCOLS
    from ..signaling.drivers import driver as driver_of

    scenario = world.scenario
    try:
        driver = driver_of(signaling.protocol)
    except ValueError as exc:
        raise ScenarioError(f"servers.signaling.protocol: {exc}", scenario.path) from None
    world.signaling_protocol = signaling.protocol
    if driver.name == "harness":
        return
    if not signaling.url and driver.name not in BUILT_IN:  # WHIP/WHEP: the built-in whip-server; Janus: ours
        raise ScenarioError(f"servers.signaling: protocol {driver.name} needs the url of its server", scenario.path)
    http = driver.name in HTTP_PROTOCOLS
    if signaling.url and signaling.url.startswith(("http://", "https://")) != http:
        wanted = "an http:// or https:// endpoint URL" if http else "a ws:// or wss:// URL"
        raise ScenarioError(
            f"servers.signaling.url {signaling.url!r}: protocol {driver.name} needs {wanted}", scenario.path
        )
    for step in scenario.steps:
        if step.kind in driver.refuses:
            message = f"{step.label()}: cannot run through {driver.name}: {driver.refuses[step.kind]}"
            if scenario.located is not None:
                raise scenario.located.error(message, ("steps", step.index - 1))
            raise ScenarioError(message, scenario.path)
    problem = None
    if scenario.sfu or scenario.mcu:
        problem = f"servers: the SFU and MCU actors speak protocol v1 only, not {driver.name}"
    if problem is None:
        problem = next(
            (f"peers.{name}: {spec.kind.description} cannot signal through {driver.name} (it speaks protocol v1)"
             for name, spec in scenario.peers.items() if spec.kind.name not in ("aiortc", "process")),
            None,
        )  # fmt: skip
    if problem is not None:
        raise ScenarioError(problem, scenario.path)


async def _start_servers(world: World, options: RunOptions) -> None:
    from ..signaling.drivers import HTTP_PROTOCOLS

    scenario = world.scenario
    if world.topology is not None:
        await _start_public_servers(world, options)
        return
    await _start_stun(world, options.stun or scenario.stun)
    turn = _turn_spec(world, options)
    if turn is not None:
        await _start_turn(world, turn)
    signaling = options.signaling or scenario.signaling
    _speakable(world, signaling)
    if signaling.url:
        world.signaling_url = signaling.url
    elif world.janus is not None:
        world.signaling_url = world.janus.ws_url
    elif signaling.protocol not in HTTP_PROTOCOLS:  # WHIP/WHEP peers have no signaling channel
        from ..signaling.server import SignalingServer

        world.signaling_server = await SignalingServer(signaling.host).start()
        world.signaling_url = world.signaling_server.url
    if _needs_whip_server(scenario, signaling):
        from ..whip.server import WhipServer

        world.whip_server = await WhipServer().start(signaling.host)
    if scenario.sfu is not None:
        from ..sfu.server import Sfu

        world.actors[scenario.sfu] = await Sfu(world.signaling_url, scenario.room, scenario.sfu).start()
    if scenario.mcu is not None:
        from ..sfu.mcu import Mcu

        world.actors[scenario.mcu] = await Mcu(world.signaling_url, scenario.room, scenario.mcu).start()


def _needs_whip_server(scenario: Scenario, signaling: SignalingSpec) -> bool:
    """A publish or play step names no endpoint, and servers.signaling gives none for it."""
    for step in scenario.steps:
        protocol = {"publish": "whip", "play": "whep"}.get(step.kind)
        if protocol and "url" not in step.args and not (signaling.protocol == protocol and signaling.url):
            return True
    return False


def _unsealable(scenario: Scenario, options: RunOptions) -> str | None:
    """What in the scenario needs this machine's own network (loopback), so that it cannot be sealed."""
    signaling = options.signaling or scenario.signaling
    stun = options.stun or scenario.stun
    if signaling.url or signaling.protocol != "harness":
        return "its signaling server is not the built-in one"
    if stun.mode == "external":
        return "its STUN server is another project's, on this machine's network"
    if scenario.sfu or scenario.mcu:
        return "the SFU and MCU actors run on this machine's loopback"
    if scenario.turn is not None:
        return "it judges a TURN server"
    http = next((name for name, spec in scenario.peers.items() if spec.offer_url), None)
    if http is not None:
        return f"{http} is an echo server on this machine's network (offer-url:)"
    step = next((s for s in scenario.steps if s.kind in ("publish", "play", "connect")), None)
    if step is not None:
        return f"{step.label()} needs a server on this machine's network"
    return None


def seal(scenario: Scenario, options: RunOptions) -> tuple[Scenario, list[str]]:
    """A scenario with another project's program (``command:``) runs sealed: every peer in a network
    namespace of its own with no NAT (``topology: {each: none}``), so a program written the way its
    authors write it (a stack's defaults: every interface gathered, no loopback) reaches the
    harness's peers over its namespace's one address, and nothing it sends leaves the machine.
    ``sealed: false`` never seals, ``sealed: true`` always (ScenarioError where it cannot); by
    default it seals where the machine can build namespaces (root), and says why where it cannot.
    Returns the scenario to run and what the run says of it."""
    from ..nat.netns import cannot_build_namespaces

    if scenario.topology or scenario.sealed is False or not (scenario.sealed or scenario.has_programs):
        return scenario, []
    programs = [name for name, spec in scenario.peers.items() if spec.command]
    why_not = _unsealable(scenario, options) or cannot_build_namespaces()
    if why_not is not None:
        if scenario.sealed:
            raise ScenarioError(f"sealed: true, but the scenario cannot be sealed: {why_not}", scenario.path)
        return scenario, [
            f"containment: OFF — {', '.join(programs)} (command:) ran on this machine's own network ({why_not}): "
            "the harness's peers use only remote candidates on 127.0.0.1, so a program must gather its host "
            "candidates there (WEBRTC_HOST_ADDRESSES); as root it would run sealed and gather as it likes"
        ]
    sealed = replace(
        scenario,
        topology=dict.fromkeys(scenario.peers, "none"),
        peers={name: replace(spec, behind_nat=True) for name, spec in scenario.peers.items()},
    )
    why = f"{', '.join(programs)} {'is a program' if len(programs) == 1 else 'are programs'} (command:)"
    if not programs:
        why = "sealed: true"
    return sealed, [
        f"sealed: {', '.join(scenario.peers)} each in a network namespace of its own, no NAT (as topology "
        f"{{{', '.join(f'{name}: none' for name in scenario.peers)}}}), because {why}; sealed: false runs them "
        "on this machine's loopback instead"
    ]


def containment_notes(scenario: Scenario) -> list[str]:
    """Stacks that try to reach the Internet (browsers, foreign stacks) run sealed only in a topology."""
    if scenario.topology:
        return []
    loose = [f"{name} ({spec.stack})" for name, spec in scenario.peers.items() if spec.stack and spec.stack != "aiortc"]
    if not loose:
        return []
    return [
        f"containment: OFF — {', '.join(loose)} ran on this machine's own network (browsers look names up); "
        f"declare a topology (e.g. {{{', '.join(f'{n}: none' for n in scenario.peers)}}}) to seal them in namespaces"
    ]


def _calls(scenario: Scenario) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Who calls whom (the call steps), and the cases each peer's call covers: stack programs
    are told at start."""
    callees: dict[str, str] = {}
    cases: dict[str, tuple[str, ...]] = {}
    for step in scenario.steps:
        if step.kind in ("call", "restart-ice"):  # a restart-ice step restarts ICE in the pair's call
            sender, receiver = str(step.args["from"]), str(step.args["to"])
            callees[sender] = receiver
            named = step.args.get("cases", ["data"]) if step.kind == "call" else ["data", "restart-ice"]
            covered = dict.fromkeys([*cases.get(sender, ()), *named])  # every step's cases, in order
            cases[sender] = cases[receiver] = tuple(covered)
    return callees, cases


async def _start_peers(world: World) -> None:
    scenario = world.scenario
    callees, cases = _calls(scenario)
    for name, spec in scenario.peers.items():
        ice_servers: list[dict[str, Any]] = []
        if spec.stun and world.stun_address is not None:
            ice_servers.append({"urls": f"stun:{format_hostport(world.stun_address)}"})
        netns, candidates, host_addresses = None, spec.candidates, ("127.0.0.1",)
        if world.janus is not None:  # the built-in Janus is reached over its veth, never loopback
            candidates = [world.janus.machine_side]
        if world.topology is not None:  # a process inside the peer's namespace, behind its NAT
            netns, candidates = world.topology.sites[name].peer.name, "all"
            host_addresses = (world.topology.sites[name].private_address,)
            if world.turn_ice is not None:
                ice_servers.append(world.turn_ice)
        setup = PeerSetup(
            name,
            spec.room or scenario.room,
            world.signaling_url,
            ice_servers,
            candidates,
            world.signaling_server,
            netns,
            spec.command,
            spec.offer_url,
            scenario.directory,
            world.signaling_protocol,
            spec.stack,
            callees.get(name),
            cases.get(name, ()),
            host_addresses,
            {key: str(value) for key, value in (spec.env or {}).items()},
        )
        try:
            world.peers[name] = await spec.kind.start(setup)
        except PeerError as exc:  # e.g. a command: that does not exist: the declaration is to blame
            message = f"peers.{name}: cannot start {spec.kind.description}: {exc}"
            if scenario.located is not None:
                raise scenario.located.error(message, ("peers", name)) from None
            raise ScenarioError(message, scenario.path) from None


async def build_world(world: World, options: RunOptions) -> None:
    """Start everything the scenario declares, in order; on failure what started stays in ``world``."""
    scenario = world.scenario
    if scenario.topology:
        from ..nat.topology import Topology

        turn = _turn_spec(world, options)
        if turn is not None and turn.mode == "external":  # another project's TURN server on this machine
            assert turn.address is not None
            if ipaddress.ip_address(turn.address[0]).is_loopback or ":" in turn.address[0]:
                raise ScenarioError(
                    f"servers.turn.address {format_hostport(turn.address)}: the topology's peers reach this machine "
                    "over IPv4 only, never its loopback; run your TURN server on another IPv4 address of this "
                    "machine (its relay address the same), e.g. one on a veth of your own",
                    scenario.path,
                )
            world.turn_address = turn.address
        uplink = world.turn_address[0] if world.turn_address is not None else None
        world.topology = Topology(dict(scenario.topology), uplink=uplink, links=dict(scenario.links))
        await asyncio.to_thread(world.topology.__enter__)
    signaling = options.signaling or scenario.signaling
    if signaling.protocol == "janus" and not signaling.url:  # before the capture, which listens at its link
        from ..janus.server import JanusServer, janus_missing

        why = janus_missing()
        if why:
            raise ScenarioError(f"servers.signaling: protocol janus without a url needs the built-in Janus: {why}",
                                scenario.path)  # fmt: skip
        world.janus = JanusServer()
        await asyncio.to_thread(world.janus.__enter__)
    if scenario.capture and options.capture:
        world.wire = _recorder(world)
        await asyncio.to_thread(world.wire.start)  # capturing before the first packet can be sent
    await _start_servers(world, options)
    await _start_peers(world)


async def close_world(world: World, closed: set[str]) -> None:
    """Stop the capture (its frames stay), then peers (but those in ``closed``), actors, servers, NATs."""
    for name, session in world.whip_sessions.items():  # RFC 9725 §4.2: the client ends its session
        if not session.deleted:
            try:
                world.whip_deleted[name] = (await session.delete()).said()
            except PeerError as exc:
                world.whip_deleted[name] = str(exc)
    if world.wire is not None:
        await world.wire.stop()
    for name, peer in world.peers.items():
        if name not in closed:
            try:
                await asyncio.wait_for(peer.close(), 10)
            except (Exception, asyncio.TimeoutError):  # cleanup must go on for the others
                pass
    for actor in world.actors.values():
        try:
            await asyncio.wait_for(actor.stop(), 10)
        except (Exception, asyncio.TimeoutError):
            pass
    if world.turn is not None:
        await world.turn.stop()
    if world.turn_server is not None:
        await asyncio.to_thread(world.turn_server.stop)
    if world.turn_decoy is not None:
        await asyncio.to_thread(world.turn_decoy.close)
    if world.janus is not None:
        await asyncio.to_thread(world.janus.close)
    if world.public_loop is not None:
        for server in (world.signaling_server, world.stun_server):
            if server is not None:
                await asyncio.to_thread(world.public_loop.run, server.stop())
        world.public_loop.close()
    else:
        if world.whip_server is not None:
            await world.whip_server.stop()
        if world.signaling_server is not None:
            await world.signaling_server.stop()
        if world.stun_server is not None:
            await world.stun_server.stop()
    if world.topology is not None:
        await asyncio.to_thread(world.topology.close)
