"""A scenario's view of the wire: capture while it runs, keep its packets, judge them.

The capture listens on ``lo`` for UDP (a slice of the process's shared capture,
:mod:`pytest_webrtc.capture.shared`); a scenario's own packets are those to or from a port
of its STUN server or of its peers' candidates (so parallel tests under pytest-xdist do not
mix).  The kept frames are numbered as the written pcap numbers them, so a finding's packet
number is the one Wireshark shows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..addresses import Address
from ..capture.dtls import fingerprints_from_sdp
from ..capture.feedback import Drop, dropped, rtx_payload_types_from_sdp
from ..capture.packets import Datagram, datagrams, ip_payload, udp_of
from ..capture.rtp import payload_types_from_sdp
from ..capture.verify import PeerCredentials, Verdict, WireContext, verify
from ..errors import CaptureUnavailable
from ..rules import Finding

if TYPE_CHECKING:
    from ..capture.shared import CaptureSlice
    from ..capture.sniffer import Capture
    from ..signaling.protocol import RelayRecord

__all__ = ["WireRecorder", "WireScope"]

# rules on what a peer sends that a link element after it would falsify (see _before_the_links)
OWN_STREAM_RULES = ("rtp.timestamp", "rtx.timestamp")


@dataclass(frozen=True)
class WireScope:
    """What judging a run's packets needs to know besides the packets (built by the run context)."""

    sdps: Mapping[str, str]  # peer (or an actor's session with it) -> the SDP it sent
    endpoints: Mapping[str, set[Address]]  # the same names -> addresses of their candidates
    stun_servers: set[Address]  # every address of the STUN (and TURN) servers
    scenario_path: str = ""
    relayed: Sequence[RelayRecord] = ()  # the built-in signaling server's relay log
    srtp: Sequence[tuple[bytes, int]] = ()  # SRTP keys (key + salt, libsrtp profile) the harness's peers send with
    translated: frozenset[Address] = frozenset()  # servers behind a translator the capture does not see (WireContext)


@dataclass
class WireRecorder:
    iface: str = "lo"
    bpf: str = "udp"
    netns: str | None = None  # capture inside this network namespace (a NAT topology's public one)
    routers: dict[str, str] = field(default_factory=dict)  # peer -> its NAT router's namespace
    # "alice-link-peer" -> (namespace, interface, a neighbour out of it): both sides of a link element,
    # each a pcap of its own (sentinels go to the neighbour's discard port, out of that interface)
    sides: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    side_captures: dict[str, Capture] = field(default_factory=dict)
    side_frames: dict[str, tuple[int, list[tuple[float, bytes]]]] = field(default_factory=dict)
    side_verdicts: dict[str, Verdict] = field(default_factory=dict)  # label -> that capture's verdict (last judged)
    drops: list[Drop] = field(default_factory=list)  # RTP packets the link elements dropped (last judged)
    capture: Capture | CaptureSlice | None = None
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
            if self.netns is None:  # the process's shared capture on lo: this run's slice of it
                from ..capture.shared import capture_slice

                self.capture = capture_slice(self.iface, self.bpf)
            else:  # opened from a thread inside the namespace, the capture (and its sentinel) live there
                from ..nat.netns import in_thread

                self.capture = in_thread(self.netns, lambda: Capture(self.iface, self.bpf).start())
                # In each router, both sides of the NAT: the private source going in, the translated one
                # going out (kept as a pcap of its own, not judged: the verdict is the public side's).
                for peer, router in self.routers.items():
                    self.nat_captures[peer] = in_thread(router, lambda: Capture("any", "udp").start())
                # Before and after each link element: a packet it dropped is in one of the two only.
                for label, (namespace, iface, neighbour) in self.sides.items():
                    self.side_captures[label] = in_thread(
                        namespace, lambda i=iface, n=neighbour: Capture(i, "udp", sentinel_to=(n, 9)).start()
                    )
        except CaptureUnavailable as exc:
            self.unavailable = str(exc)

    @staticmethod
    def context(scope: WireScope) -> WireContext:
        """The verifier's view: peers' ICE credentials and addresses, servers, payload types, fingerprints."""
        peers = []
        for name, sdp in scope.sdps.items():
            credentials = WireContext.credentials_from_sdp(sdp)
            if credentials is not None:
                peers.append(PeerCredentials(name, *credentials, frozenset(scope.endpoints.get(name, set()))))
        payload_types: dict[int, int] = {}
        rtx: dict[int, int] = {}
        for sdp in scope.sdps.values():
            payload_types.update(payload_types_from_sdp(sdp))
            rtx.update(rtx_payload_types_from_sdp(sdp))
        fingerprints = {
            port: fingerprints_from_sdp(scope.sdps[peer.name]) for peer in peers for _, port in peer.addresses
        }
        return WireContext(
            peers, set(scope.stun_servers), payload_types, fingerprints, rtx, list(scope.srtp), set(scope.translated)
        )

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

    async def judge(self, scope: WireScope) -> Verdict:
        """Flush the capture and judge the scenario's packets so far."""
        if self.capture is None:
            raise CaptureUnavailable(self.unavailable or "no capture")
        await asyncio.to_thread(self.capture.flush)
        self.linktype = self.capture.linktype
        wire = self.context(scope)
        self.frames = self._scenario_frames(wire)
        found: list[Datagram] = datagrams(self.frames, self.linktype)
        self.verdict = verify(found, wire)
        self.verdict.findings = self._before_the_links(self.verdict.findings, wire.payload_types, wire.rtx, wire.srtp)
        stats = self.capture.stats()
        if stats.dropped or stats.interface_dropped:
            self.verdict.findings.append(
                Finding(
                    "capture.loss",
                    f"the kernel dropped {stats.dropped + stats.interface_dropped} packets: the verdict may miss some",
                    packet=0,
                )
            )
        return self.verdict

    def _before_the_links(
        self,
        public: list[Finding],
        payload_types: dict[int, int],
        rtx: dict[int, int] | None = None,
        srtp: Sequence[tuple[bytes, int]] = (),
    ) -> list[Finding]:
        """What a link element dropped or held never reaches the public side as it was sent: resend
        timers (DTLS), what a peer sends after its consent expired, and the RTP clock of a peer's own
        streams (a rate cap's queue delays each packet more than the last: measured, 0.3 s growing to
        0.8 s in 3 s at 300 kbit/s) and its retransmissions' timestamps (their originals all there,
        none lost yet) are judged where they were sent, in the captures beside the link elements;
        the public capture's verdict of those rules on those streams is dropped."""
        from ..capture.verify import WireContext

        found: dict[str, Finding] = {}
        sent_before_a_link: set[str] = set()  # "ssrc 0x..." of streams a linked peer sends
        clocks = WireContext(payload_types=payload_types, rtx=rtx or {}, srtp=list(srtp))  # no peer is known here
        self.side_verdicts, self.drops = {}, []
        parsed = {label: datagrams(side.snapshot(), side.linktype) for label, side in self.side_captures.items()}
        for label, side_datagrams in parsed.items():
            sources = {d.number: d.src[0] for d in side_datagrams}
            neighbour = self.sides[label][2] if label in self.sides else None
            verdict = verify(side_datagrams, clocks)
            self.side_verdicts[label] = verdict
            if label.endswith("-link-peer"):
                twin = parsed.get(label.replace("-link-peer", "-link-router"))
                if twin is not None:  # what the element dropped, both ways
                    self.drops += dropped(side_datagrams, twin, rtx or {})
                sent_before_a_link |= {
                    f"ssrc 0x{stream.ssrc:08x}" for stream in verdict.streams if stream.source[0] == neighbour
                }
            for finding in verdict.findings:
                own_clock = finding.rule in OWN_STREAM_RULES and label.endswith("-link-peer")
                if own_clock and sources.get(finding.packet or 0) != neighbour:
                    continue  # a stream towards the peer: already delayed by the element
                if finding.rule in ("dtls.retransmit-timing", "ice.consent-expired") or own_clock:
                    detail = f"{finding.detail} (the {label} capture, frame {finding.packet})"
                    found.setdefault(finding.detail, Finding(finding.rule, detail))
        kept = [
            f for f in public if f.rule not in OWN_STREAM_RULES or not any(s in f.detail for s in sent_before_a_link)
        ]
        return kept + list(found.values())

    def nearest(self, peer: str) -> Verdict | None:
        """The verdict of the capture nearest ``peer``: beside its link element if it has one, else the public one."""
        return self.side_verdicts.get(f"{peer}-link-peer", self.verdict)

    async def stop(self) -> None:
        """Stop capturing; the frames kept are those of the last judgement."""
        if self.capture is not None:
            capture, self.capture = self.capture, None
            await asyncio.to_thread(capture.stop)
        for peer, nat_capture in list(self.nat_captures.items()):
            await asyncio.to_thread(nat_capture.stop)
            self.nat_frames[peer] = (nat_capture.linktype, nat_capture.snapshot())
        self.nat_captures.clear()
        for label, side_capture in list(self.side_captures.items()):
            await asyncio.to_thread(side_capture.stop)
            self.side_frames[label] = (side_capture.linktype, side_capture.snapshot())
        self.side_captures.clear()

    @staticmethod
    def nat_pcap(path: Path, peer: str) -> Path:
        """Where the capture inside ``peer``'s NAT router goes, beside the main pcap."""
        return path.with_name(f"{path.stem}.{peer}-nat.pcap")

    def save(self, path: Path, scope: WireScope) -> Path:
        """Write the pcap and, beside it, what the inspector needs to name actors and check integrity."""
        from ..capture.sniffer import write_pcap

        write_pcap(path, self.frames, self.linktype)
        for peer, (linktype, frames) in self.nat_frames.items():
            write_pcap(self.nat_pcap(path, peer), frames, linktype)
        for label, (linktype, frames) in self.side_frames.items():
            write_pcap(path.with_name(f"{path.stem}.{label}.pcap"), frames, linktype)
        wire = self.context(scope)
        sidecar = {
            "scenario": scope.scenario_path,
            "peers": [
                {"name": p.name, "ufrag": p.ufrag, "pwd": p.pwd, "addresses": sorted(p.addresses)} for p in wire.peers
            ],
            "stun_servers": sorted(wire.stun_servers),
            "translated_servers": sorted(wire.translated),
            "nat_captures": {peer: self.nat_pcap(path, peer).name for peer in self.nat_frames},
            "link_captures": {label: f"{path.stem}.{label}.pcap" for label in self.side_frames},
            "payload_types": {str(pt): rate for pt, rate in sorted(wire.payload_types.items())},
            "rtx_payload_types": {str(pt): apt for pt, apt in sorted(wire.rtx.items())},
            "srtp_keys": [[key.hex(), profile] for key, profile in wire.srtp],  # the test peers' own (peer.keying)
            "fingerprints": {str(port): values for port, values in sorted(wire.fingerprints.items())},
            "signaling": [
                {"time": r.time, "room": r.room, "from": r.sender, "to": r.recipient, "type": r.type}
                for r in scope.relayed
            ],
        }
        path.with_name(path.name + ".json").write_text(json.dumps(sidecar, indent=1))
        self.pcap_path = path
        return path
