"""What the wire verdict knows besides the packets: each peer's ICE credentials (every generation,
after ICE restarts) and addresses, the STUN servers, the negotiated payload types (and which are
retransmission formats), the SDP fingerprints."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..addresses import Address

__all__ = ["PeerCredentials", "WireContext"]


@dataclass(frozen=True)
class PeerCredentials:
    name: str
    ufrag: str
    pwd: str
    addresses: frozenset[Address] = frozenset()


@dataclass
class WireContext:
    """What the harness knows besides the packets: peers' ICE credentials and addresses, STUN servers."""

    peers: list[PeerCredentials] = field(default_factory=list)
    stun_servers: set[Address] = field(default_factory=set)
    payload_types: dict[int, int] = field(default_factory=dict)  # negotiated RTP payload type -> clock rate
    fingerprints: dict[int, list[tuple[str, str]]] = field(default_factory=dict)  # port -> SDP fingerprints
    rtx: dict[int, int] = field(default_factory=dict)  # RTX payload type -> the one it repairs (apt, RFC 4588)
    srtp: list[tuple[bytes, int]] = field(default_factory=list)  # keys the harness's own peers send with (peer.keying)
    # Servers a translator the capture does not see lies in front of (a topology's uplink masquerade to your
    # TURN server): the address they map is the translator's, so their mapped addresses are not judged.
    translated: set[Address] = field(default_factory=set)

    def by_ufrag(self, ufrag: str) -> PeerCredentials | None:
        return next((p for p in self.peers if p.ufrag == ufrag), None)

    def owner(self, address: Address) -> str | None:
        return next((p.name for p in self.peers if address in p.addresses), None)

    def generations(self, name: str | None) -> list[PeerCredentials]:
        """A peer's credentials, oldest first: ``alice``, then ``alice~2`` after an ICE restart
        (RFC 8445 §9: a new ufrag and password in a new description)."""
        base = (name or "").split("~")[0]
        found = [p for p in self.peers if p.name.split("~")[0] == base]
        return sorted(found, key=lambda p: int(p.name.split("~")[1]) if "~" in p.name else 1)

    @staticmethod
    def credentials_from_sdp(sdp: str) -> tuple[str, str] | None:
        ufrag = re.search(r"^a=ice-ufrag:(\S+)", sdp, re.M)
        pwd = re.search(r"^a=ice-pwd:(\S+)", sdp, re.M)
        return (ufrag.group(1), pwd.group(1)) if ufrag and pwd else None
