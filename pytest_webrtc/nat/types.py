"""NAT behaviours as RFC 4787 / RFC 5780 name them, and the nftables rules that give them.

Mapping: how the NAT picks the public address of an outgoing flow — the same one whatever the
destination (endpoint-independent) or a new one per destination address and port
(address-and-port-dependent).  Filtering: who may send in through a mapping — anyone
(endpoint-independent), the addresses the inside host sent to (address-dependent), or exactly the
address:port pairs it sent to (address-and-port-dependent, what Linux conntrack does by itself).

Linux gives endpoint-independent mapping when ``masquerade`` can keep the source port (one inside
host per NAT, as here) and address-and-port-dependent mapping with ``fully-random``.
Address-dependent mapping has no nftables expression (it needs one port per destination address,
allocated on demand) and is not offered.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NAT_TYPES", "NatType", "ruleset"]

EIM, APDM = "endpoint-independent", "address-and-port-dependent"
EIF, ADF, APDF = "endpoint-independent", "address-dependent", "address-and-port-dependent"


@dataclass(frozen=True)
class NatType:
    name: str
    mapping: str | None  # None: no translation at all
    filtering: str | None
    blocks_udp: bool = False
    description: str = ""


NAT_TYPES: dict[str, NatType] = {
    t.name: t
    for t in (
        NatType("none", None, None, description="a router, no translation, no filtering"),
        NatType("full-cone", EIM, EIF, description="endpoint-independent mapping and filtering"),
        NatType("restricted-cone", EIM, ADF, description="endpoint-independent mapping, address-dependent filtering"),
        NatType(
            "port-restricted-cone",
            EIM,
            APDF,
            description="endpoint-independent mapping, address-and-port-dependent filtering",
        ),
        NatType("symmetric", APDM, APDF, description="address-and-port-dependent mapping and filtering"),
        NatType(
            "udp-blocked", EIM, APDF, blocks_udp=True, description="a port-restricted NAT whose firewall drops all UDP"
        ),
    )
}


def ruleset(nat: NatType, public_if: str, private_if: str, inside: str, ports: str | None = None) -> str:
    """The nftables ruleset of a router in front of one host, ``inside`` (``ports``: the public
    port range its masquerade maps into, after a rebinding; default: keep the inside port)."""
    forward = []
    if nat.blocks_udp:
        forward.append("meta l4proto udp drop")
    if nat.filtering == ADF:
        # Per mapping (the inside port, kept by masquerade), the addresses it sent to.
        forward.append(
            f'iifname "{private_if}" oifname "{public_if}" meta l4proto udp update @contacted {{ udp sport . ip daddr }}'
        )
    prerouting = []
    if nat.filtering == EIF:
        prerouting.append(f'iifname "{public_if}" meta l4proto udp dnat to {inside}')
    elif nat.filtering == ADF:  # what the inbound chain let through is for the inside host
        prerouting.append(f'iifname "{public_if}" ct state new meta l4proto udp dnat to {inside}')
    lines = ["table ip pwrtc {"]
    if nat.filtering == ADF:
        lines.append("  set contacted { type inet_service . ipv4_addr; flags timeout; timeout 5m; }")
    lines += ["  chain forward {", "    type filter hook forward priority filter; policy accept;"]
    lines += [f"    {rule}" for rule in forward] + ["  }"]
    # Filtering happens before NAT and before a new inbound flow's conntrack entry is confirmed:
    # an unanswered probe must leave no entry behind, or it would take the very port pair the
    # inside host is about to use, and masquerade would pick another port (breaking hole punching).
    if nat.filtering == APDF:
        inbound = [f'iifname "{public_if}" ct state new drop']
    elif nat.filtering == ADF:
        inbound = [f'iifname "{public_if}" ct state new meta l4proto udp udp dport . ip saddr != @contacted drop']
    else:
        inbound = []
    if inbound:
        lines += ["  chain inbound {", "    type filter hook prerouting priority -150; policy accept;"]
        lines += [f"    {rule}" for rule in inbound] + ["  }"]
    if nat.mapping is not None:
        random = " fully-random" if nat.mapping == APDM else ""
        # after a rebinding, UDP maps into new ports (a range needs a protocol); the rest as before
        rebound = [f'    oifname "{public_if}" meta l4proto udp masquerade to :{ports}{random}'] if ports else []
        lines += [
            "  chain postrouting {",
            "    type nat hook postrouting priority srcnat; policy accept;",
            *rebound,
            f'    oifname "{public_if}" masquerade{random}',
            "  }",
            "  chain prerouting {",
            "    type nat hook prerouting priority dstnat; policy accept;",
            *[f"    {rule}" for rule in prerouting],
            "  }",
        ]
    return "\n".join([*lines, "}", ""])
