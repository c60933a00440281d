"""A scenario's view of the wire: capture while it runs, keep its packets, judge them.

The capture listens on ``lo`` for UDP; a scenario's own packets are those to or from a port
of its STUN server or of its peers' candidates (so parallel tests under pytest-xdist do not
mix).  The kept frames are numbered as the written pcap numbers them, so a finding's packet
number is the one Wireshark shows.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..capture.dtls import fingerprints_from_sdp
from ..capture.packets import Datagram, datagrams, ip_payload, udp_of
from ..capture.rtp import payload_types_from_sdp
from ..capture.verify import WIRE_RULES, Finding, PeerCredentials, Verdict, WireContext, verify
from ..errors import CaptureUnavailable

if TYPE_CHECKING:
    from ..capture.sniffer import Capture
    from .runner import Context

__all__ = ["WireRecorder"]


def _addresses(report: dict[str, Any]) -> set[tuple[str, int]]:
    out = set()
    for lines in report.get("candidates", {}).values():
        for line in lines:
            fields = line.split()
            out.add((fields[4], int(fields[5])))
    return out


@dataclass
class WireRecorder:
    iface: str = "lo"
    bpf: str = "udp"
    netns: str | None = None  # capture inside this network namespace (a NAT topology's public one)
    routers: dict[str, str] = field(default_factory=dict)  # peer -> its NAT router's namespace
    capture: Capture | None = None
    nat_captures: dict[str, Capture] = field(default_factory=dict)  # peer -> capture in its router
    nat_frames: dict[str, tuple[int, list[tuple[float, bytes]]]] = field(default_factory=dict)
    unavailable: str | None = None
    frames: list[tuple[float, bytes]] = field(default_factory=list)
    linktype: int = 1
    verdict: Verdict | None = None
    pcap_path: Path | None = None

    def start(self) -> None:
        from ..capture.sniffer import Capture

        try:
            if self.netns is None:
                self.capture = Capture(self.iface, self.bpf).start()
            else:  # opened from a thread inside the namespace, the capture (and its sentinel) live there
                from ..nat.netns import in_thread

                self.capture = in_thread(self.netns, lambda: Capture(self.iface, self.bpf).start())
                # In each router, both sides of the NAT: the private source going in, the translated one
                # going out (kept as a pcap of its own, not judged: the verdict is the public side's).
                for peer, router in self.routers.items():
                    self.nat_captures[peer] = in_thread(router, lambda: Capture("any", "udp").start())
        except CaptureUnavailable as exc:
            self.unavailable = str(exc)

    def context(self, ctx: Context, reports: dict[str, dict[str, Any]]) -> WireContext:
        peers = []
        sdps = dict(ctx.sdp)
        endpoints = {name: _addresses(reports.get(name, {})) for name in sdps}
        for actor in ctx.actors.values():  # an SFU: one ICE agent, one DTLS certificate per session
            for name, (sdp, candidates) in actor.wire_endpoints().items():
                sdps[name] = sdp
                endpoints[name] = _addresses({"candidates": {"host": candidates}})
        for name, sdp in sdps.items():
            credentials = WireContext.credentials_from_sdp(sdp)
            if credentials is not None:
                peers.append(PeerCredentials(name, *credentials, frozenset(endpoints[name])))
        servers = set()
        if ctx.stun_server is not None and ctx.stun_server.udp_address is not None:
            servers.add(ctx.stun_server.udp_address)
            for row in ctx.stun_server.responder.endpoints or []:
                servers.update(row)
        elif ctx.stun_address is not None:
            servers.add(ctx.stun_address)
        if ctx.turn is not None:  # a TURN server is a STUN server too (RFC 8656 extends RFC 8489)
            servers.add((ctx.turn.address, ctx.turn.port))
        payload_types: dict[int, int] = {}
        for sdp in sdps.values():
            payload_types.update(payload_types_from_sdp(sdp))
        fingerprints = {port: fingerprints_from_sdp(sdps[peer.name]) for peer in peers for _, port in peer.addresses}
        return WireContext(peers, servers, payload_types, fingerprints)

    def _scenario_frames(self, wire: WireContext) -> list[tuple[float, bytes]]:
        ports = {port for _, port in wire.stun_servers}
        for peer in wire.peers:
            ports.update(port for _, port in peer.addresses)
        kept = []
        for ts, frame in self.capture.snapshot() if self.capture else self.frames:
            packet = ip_payload(self.linktype, frame)
            parsed = udp_of(packet) if packet is not None else None
            if parsed is not None and (parsed[0][1] in ports or parsed[1][1] in ports):
                kept.append((ts, frame))
        return kept

    async def judge(self, ctx: Context, reports: dict[str, dict[str, Any]]) -> Verdict:
        """Flush the capture and judge the scenario's packets so far."""
        if self.capture is None:
            raise CaptureUnavailable(self.unavailable or "no capture")
        await asyncio.to_thread(self.capture.flush)
        self.linktype = self.capture.linktype
        wire = self.context(ctx, reports)
        self.frames = self._scenario_frames(wire)
        found: list[Datagram] = datagrams(self.frames, self.linktype)
        self.verdict = verify(found, wire)
        stats = self.capture.stats()
        if stats.dropped or stats.interface_dropped:
            self.verdict.findings.append(
                Finding(
                    0,
                    "capture.loss",
                    WIRE_RULES["capture.loss"][0],
                    f"the kernel dropped {stats.dropped + stats.interface_dropped} packets: the verdict may miss some",
                    "warning",
                )
            )
        return self.verdict

    async def stop(self) -> None:
        """Stop capturing; the frames kept are those of the last judgement."""
        if self.capture is not None:
            capture, self.capture = self.capture, None
            await asyncio.to_thread(capture.stop)
        for peer, nat_capture in list(self.nat_captures.items()):
            await asyncio.to_thread(nat_capture.stop)
            self.nat_frames[peer] = (nat_capture.linktype, nat_capture.snapshot())
        self.nat_captures.clear()

    @staticmethod
    def nat_pcap(path: Path, peer: str) -> Path:
        """Where the capture inside ``peer``'s NAT router goes, beside the main pcap."""
        return path.with_name(f"{path.stem}.{peer}-nat.pcap")

    def save(self, path: Path, ctx: Context, reports: dict[str, dict[str, Any]]) -> Path:
        """Write the pcap and, beside it, what the inspector needs to name actors and check integrity."""
        from ..capture.sniffer import write_pcap

        write_pcap(path, self.frames, self.linktype)
        for peer, (linktype, frames) in self.nat_frames.items():
            write_pcap(self.nat_pcap(path, peer), frames, linktype)
        wire = self.context(ctx, reports)
        sidecar = {
            "scenario": ctx.scenario.path,
            "peers": [
                {"name": p.name, "ufrag": p.ufrag, "pwd": p.pwd, "addresses": sorted(p.addresses)} for p in wire.peers
            ],
            "stun_servers": sorted(wire.stun_servers),
            "nat_captures": {peer: self.nat_pcap(path, peer).name for peer in self.nat_frames},
            "payload_types": {str(pt): rate for pt, rate in sorted(wire.payload_types.items())},
            "fingerprints": {str(port): values for port, values in sorted(wire.fingerprints.items())},
            "signaling": [
                {"time": r.time, "room": r.room, "from": r.sender, "to": r.recipient, "type": r.type}
                for r in (ctx.signaling_server.relayed if ctx.signaling_server else [])
            ],
        }
        path.with_name(path.name + ".json").write_text(json.dumps(sidecar, indent=1))
        self.pcap_path = path
        return path
