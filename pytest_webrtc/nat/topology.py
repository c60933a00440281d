"""A topology: a public network with the servers, and each peer behind a router of its own.

::

    peer ns (10.0.i.2) --eth0/priv-- router ns (NAT) --pub/ri-- public ns (203.0.113.1, .2: servers)
                                                                  --uplink-- machine ns (uplink: one address)

With link conditions for a peer (``links``), a namespace of its own sits between the peer and its
router and applies them (:mod:`.link`).  The public namespace routes between the routers (198.51.100.4i+2/30 on their public side); the
servers' two addresses (RFC 5780 needs two) sit on its ``lo``.  With ``uplink``, one address of
the machine's namespace (another project's TURN server) is reachable too, masqueraded.  Every address is one of the
documentation ranges and exists only inside these namespaces.  ``close()`` deletes the
namespaces, which takes their links and nftables tables with them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..children import reap_orphans
from ..errors import HarnessConfigError
from .link import LinkConditions
from .link_element import LinkElement
from .netns import Built, Namespace, free_subnet, machine_link, remove_orphans
from .types import NAT_TYPES, NatType, ruleset

__all__ = ["SERVER_ADDRESSES", "Site", "Topology"]

SERVER_ADDRESSES = ("203.0.113.1", "203.0.113.2")
UPLINK_RULESET = """
table ip uplink {
    chain post { type nat hook postrouting priority srcnat; policy accept; oifname "uplink" masquerade; }
}
"""


@dataclass
class Site:
    """One peer's side: its namespace, its router, their addresses."""

    name: str
    nat: NatType
    peer: Namespace
    router: Namespace
    private_address: str  # the peer's own address
    public_address: str  # the router's address on the public network
    link: LinkElement | None = None  # the conditions on its link, in a namespace between it and its router
    router_link_address: str = ""  # the router's address toward the link namespace (with a link)


@dataclass
class Topology(Built):
    nats: dict[str, str]  # peer name -> NAT type name
    uplink: str | None = None  # an address of the machine's namespace the public network may reach (a TURN server)
    links: dict[str, tuple[LinkConditions, LinkConditions]] = field(default_factory=dict)  # peer -> (up, down)
    public: Namespace | None = None
    sites: dict[str, Site] = field(default_factory=dict)
    created: list[Namespace] = field(default_factory=list)  # everything to delete, even after a failed build
    rebinds: dict[str, int] = field(default_factory=dict)  # peer -> how often its router was rebound

    def _namespace(self, role: str) -> Namespace:
        namespace = Namespace(role)
        self.created.append(namespace)
        return namespace

    def build(self) -> None:
        unknown = [t for t in self.nats.values() if t not in NAT_TYPES]
        if unknown:
            raise HarnessConfigError(f"unknown NAT type {unknown[0]!r}; known: {', '.join(NAT_TYPES)}")
        reap_orphans()  # processes a killed run left, and the namespaces they held
        remove_orphans()  # the names a killed run left behind
        self.public = public = self._namespace("pub")
        public.forwarding()
        # Nothing beyond the topology: whatever a sealed program (a browser) sends out is refused at
        # once (ICMP unreachable), so a DNS lookup fails now instead of after its resolver's timeout.
        public.sh("ip", "route", "add", "unreachable", "default")
        for address in SERVER_ADDRESSES:
            public.address("lo", f"{address}/32")
        for i, (name, nat_name) in enumerate(self.nats.items(), start=1):
            nat = NAT_TYPES[nat_name]
            router = self._namespace(f"r{i}")
            peer = self._namespace(f"p{i}")
            self.sites[name] = site = Site(name, nat, peer, router, f"10.0.{i}.2", f"198.51.100.{4 * i + 2}")
            public.link(router, f"r{i}", "pub")
            public.address(f"r{i}", f"198.51.100.{4 * i + 1}/30")
            router.address("pub", f"{site.public_address}/30")
            router.route("default", f"198.51.100.{4 * i + 1}")
            if name in self.links:  # the peer's gateway is the link namespace, which routes on to the router
                link = self._namespace(f"l{i}")
                router.link(link, "priv", "r0")
                router.address("priv", f"10.255.{i}.1/30")
                link.address("r0", f"10.255.{i}.2/30")
                link.link(peer, "p0", "eth0")
                link.address("p0", f"10.0.{i}.1/24")
                link.route("default", f"10.255.{i}.1")
                link.forwarding()
                router.route(f"10.0.{i}.0/24", f"10.255.{i}.2")
                site.router_link_address = f"10.255.{i}.1"
                site.link = LinkElement(link, *self.links[name]).start()
            else:
                router.link(peer, "priv", "eth0")
                router.address("priv", f"10.0.{i}.1/24")
            peer.address("eth0", f"{site.private_address}/24")
            peer.route("default", f"10.0.{i}.1")
            router.forwarding()
            if nat.mapping is None:  # plain routing: the public side must know the way in
                public.route(f"10.0.{i}.0/24", site.public_address)
            router.nft(ruleset(nat, "pub", "priv", site.private_address))
        if self.uplink is not None:
            self._link_up(public, self.uplink)

    def rebind(self, name: str) -> str:
        """``name``'s router forgets its mappings and maps to new ports (:mod:`.rebind`); the range."""
        from .netns import in_thread
        from .rebind import REBIND_RANGES, flush_conntrack

        site = self.sites[name]
        if site.nat.mapping is None:
            raise HarnessConfigError(f"{name}'s router does not translate (NAT type none): there is nothing to rebind")
        ports = REBIND_RANGES[self.rebinds.get(name, 0) % len(REBIND_RANGES)]
        self.rebinds[name] = self.rebinds.get(name, 0) + 1
        site.router.nft("delete table ip pwrtc\n" + ruleset(site.nat, "pub", "priv", site.private_address, ports))
        in_thread(site.router.name, flush_conntrack)
        return ports

    def _link_up(self, public: Namespace, address: str) -> None:
        """A veth to the machine's namespace, a route to ``address`` alone through it, and masquerade.

        Only ``address`` (/32) is routed there, so nothing else leaves the topology; the machine
        answers to the public namespace's end of the veth (198.18.N.2), its only neighbour there."""
        subnet = free_subnet()
        machine, here = (str(ipaddress.ip_address(subnet + k)) for k in (1, 2))
        machine_link(public, "uplink", f"{machine}/30", "u")
        public.address("uplink", f"{here}/30")
        public.route(f"{address}/32", machine)
        public.nft(UPLINK_RULESET)

    def close(self) -> None:
        for site in self.sites.values():
            if site.link is not None:
                site.link.stop()
        while self.created:
            self.created.pop().delete()
        self.sites.clear()
        self.public = None
