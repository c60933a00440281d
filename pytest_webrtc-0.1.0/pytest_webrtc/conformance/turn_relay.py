"""TURN relay rules: permissions, Send/Data, channels, and relay security (RFC 8656 §9-§12).

Each rule relays real datagrams between the client session and a :class:`.PeerSocket` the
harness owns, and judges what arrives where: the peer must see the data come from the relayed
address; the client must see the peer's answer as a Data indication (or ChannelData) naming the
peer.  Without a peer the server may reach, the rules say why, as information.

Relay security: CreatePermission and ChannelBind to the server's own host (127.0.0.0/8, 0.0.0.0,
::1, ::, ::ffff:127.0.0.1: the CVE-2020-26262 class) must be refused; to private, link-local and
cloud-metadata addresses they should be, and those probes run only when the server is inside a
namespace the harness built (:class:`pytest_webrtc.nat.decoy.Decoy`), so nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable

from ..addresses import Address, format_hostport
from ..rules import Level, Rule, rule
from ..stun.message import Message, MessageClass, Method
from .outcome import Fail, Info, Skip
from .turn_session import TurnSession, allocate_request, allocated, session
from .turn_target import NO_PEER, PeerSocket, TurnTarget, channel_data, describe, token

__all__ = ["CHECKS", "LOOPBACK_PEERS", "RULES"]

ARRIVAL = 1.0  # seconds to wait for a relayed datagram that must come (it ends the wait when it does)
ELSEWHERE = ("198.51.100.1", 9)  # TEST-NET-2: permissions and bindings to it, never traffic
LOOPBACK_PEERS = ("127.0.0.1", "0.0.0.0", "::1", "::", "::ffff:127.0.0.1")
LIFETIME_LIMIT = 30.0  # a claimed permission lifetime longer than this is not measured in a run
AMPLIFICATION_LIMIT = 6.0  # bytes out per byte in for an unauthenticated request


def quiet(target: TurnTarget) -> float:
    """How long nothing must arrive for "not relayed": a quarter of the request timeout (0.5 s by default)."""
    return target.timeout / 4


def create_permission(*peers: Address) -> Callable[[], Message]:
    def build() -> Message:
        message = Message(Method.CREATE_PERMISSION, MessageClass.REQUEST)
        for peer in peers:
            message.add("XOR-PEER-ADDRESS", peer)
        return message

    return build


def channel_bind(number: int, peer: Address) -> Callable[[], Message]:
    return lambda: (
        Message(Method.CHANNEL_BIND, MessageClass.REQUEST).add("CHANNEL-NUMBER", number).add("XOR-PEER-ADDRESS", peer)
    )


def send_indication(peer: Address, data: bytes) -> bytes:
    return Message(Method.SEND, MessageClass.INDICATION).add("XOR-PEER-ADDRESS", peer).add("DATA", data).encode()


def _loopback(host: str) -> bool:
    address = ipaddress.ip_address(host)
    mapped = getattr(address, "ipv4_mapped", None)
    return (
        address.is_loopback or address.is_unspecified or bool(mapped and (mapped.is_loopback or mapped.is_unspecified))
    )


@contextlib.asynccontextmanager
async def relay(target: TurnTarget, transport: str = "udp") -> AsyncIterator[tuple[TurnSession, Address, PeerSocket]]:
    """An allocation and a peer socket the relay may reach: (session, relayed address, peer)."""
    chosen = target.peer_host()
    if chosen is None:
        raise Info(NO_PEER)
    host, why = chosen
    async with session(target, transport) as opened:
        answer = await allocated(opened)
        relayed = tuple(answer.get("XOR-RELAYED-ADDRESS"))
        if _loopback(relayed[0]) and not _loopback(host):
            raise Info(f"cannot be judged: the relayed address {format_hostport(relayed)} is on loopback and cannot "
                       f"reach the peer at {host} ({why}); give the server a relay address that routes to it")  # fmt: skip
        peer = await target.open_peer(host)
        try:
            yield opened, (relayed[0], relayed[1]), peer
        finally:
            peer.close()


def loopback_refused(opened: TurnSession, answer: Message) -> None:
    """A 403 for the loopback peer chosen by default is the server being right, not a relay defect."""
    if answer.error_code == 403 and opened.target.peer_host() == ("127.0.0.1", "loopback (the server is on loopback)"):
        raise Info("cannot be judged: the server refuses the loopback peer (403), as it should (see "
                   "turn.relay-loopback); the relay rules need a peer it may reach: --peer-address, or --decoy")  # fmt: skip


async def permit(opened: TurnSession, peer: PeerSocket, rule_id: str = "turn.send-data") -> None:
    """A permission for the peer; a refusal says why (or fails, in the rule that owns it)."""
    answer = await opened.request(create_permission(peer.address))
    if answer.message_class == MessageClass.SUCCESS:
        return
    what = f"CreatePermission for the peer {format_hostport(peer.address)} got {describe(answer)}"
    loopback_refused(opened, answer)
    if rule_id == "turn.send-data":
        raise Fail(what)
    raise Skip(f"cannot be judged: {what} (see turn.send-data)")


async def _arrives_at_peer(peer: PeerSocket, payload: bytes, relayed: Address, what: str) -> None:
    got = await peer.next(ARRIVAL)
    while got is not None and got[0] != payload:  # something else arrived first: keep looking
        got = await peer.next(ARRIVAL)
    if got is None:
        raise Fail(f"{what}: nothing reached the peer at {format_hostport(peer.address)} within {ARRIVAL:g} s")
    if got[1] != relayed:
        raise Fail(f"{what}: the peer got it from {format_hostport(got[1])}, not from the relayed address "
                   f"{format_hostport(relayed)}")  # fmt: skip


async def send_data(target: TurnTarget) -> str:
    async with relay(target) as (opened, relayed, peer):
        await permit(opened, peer)
        payload = token()
        opened.send(send_indication(peer.address, payload))
        await _arrives_at_peer(peer, payload, relayed, "a Send indication")
        reply = token()
        peer.send(reply, relayed)
        item = await opened.incoming.next(ARRIVAL, "data")
        if item is None:
            raise Fail(f"the peer's datagram to the relayed address {format_hostport(relayed)} never came back "
                       f"as a Data indication within {ARRIVAL:g} s")  # fmt: skip
        message: Message = item[1]
        source, data = message.get("XOR-PEER-ADDRESS"), message.get("DATA")
        if source is None or tuple(source) != peer.address:
            raise Fail(f"the Data indication's XOR-PEER-ADDRESS is {source and format_hostport(source)}, "
                       f"the peer is {format_hostport(peer.address)}")  # fmt: skip
        if data != reply:
            raise Fail(f"the Data indication carries {len(data or b'')} other bytes, not the peer's {len(reply)}")
        return f"Send reached the peer from {format_hostport(relayed)}; its answer came back as a Data indication"


async def _relayed_anyway(opened: TurnSession, peer: PeerSocket, relayed: Address, wait: float = 0) -> str | None:
    """What reached the client of a datagram the peer sent to the relayed address (None: nothing, after
    ``wait`` seconds, by default :func:`quiet`)."""
    opened.incoming.clear()
    peer.send(token(), relayed)
    item = await opened.incoming.next(wait or quiet(opened.target))
    return None if item is None else ("a Data indication" if item[0] == "data" else "ChannelData")


async def no_permission(target: TurnTarget) -> str:
    async with relay(target) as (opened, relayed, peer):
        came = await _relayed_anyway(opened, peer, relayed)
        if came:
            raise Fail(f"a datagram from {format_hostport(peer.address)}, for which no permission exists, was "
                       f"relayed to the client as {came}")  # fmt: skip
        # The lazy check: "some permission exists" instead of "one for this IP address".
        elsewhere = await opened.request(create_permission(ELSEWHERE))
        if elsewhere.message_class == MessageClass.SUCCESS:
            came = await _relayed_anyway(opened, peer, relayed)
            if came:
                raise Fail(f"with a permission for {ELSEWHERE[0]} only, a datagram from {peer.address[0]} was "
                           f"relayed to the client as {came}")  # fmt: skip
        await permit(opened, peer, "turn.no-permission")
        if not await _relayed_anyway(opened, peer, relayed, ARRIVAL):
            raise Skip("cannot be judged: even with a permission the peer's data is not relayed (see turn.send-data)")
        return "without a permission for the peer's address nothing was relayed; with one, it was"


async def permission_lifetime(target: TurnTarget) -> str:
    lifetime = target.permission_lifetime
    if lifetime is None:
        raise Skip("not measurable in the run time: permissions live 300 s (RFC 8656 §9); start the server with "
                   "a short one where it allows it (coturn: --permission-lifetime S) and claim it: "
                   "--permission-lifetime S")  # fmt: skip
    if lifetime > LIFETIME_LIMIT:
        raise Skip(
            f"not measurable in the run time: a {lifetime:g} s lifetime (this suite waits {LIFETIME_LIMIT:g} s at most)"
        )
    async with relay(target) as (opened, relayed, peer):
        await permit(opened, peer, "turn.permission-lifetime")
        start = asyncio.get_running_loop().time()
        if not await _relayed_anyway(opened, peer, relayed, ARRIVAL):
            raise Skip("cannot be judged: even with a permission the peer's data is not relayed (see turn.send-data)")
        # Send indications while it runs out: they must not refresh it (RFC 8656 §11.2).
        while (elapsed := asyncio.get_running_loop().time() - start) < lifetime + 1.5:
            opened.send(send_indication(peer.address, token()))
            await asyncio.sleep(min(0.5, lifetime + 1.5 - elapsed))
        came = await _relayed_anyway(opened, peer, relayed)
        if came:
            raise Fail(f"{lifetime + 1.5:.1f} s after the permission was installed (lifetime {lifetime:g} s, only "
                       f"Send indications since), the peer's data was still relayed as {came}")  # fmt: skip
        return f"the permission expired after its {lifetime:g} s; Send indications did not refresh it"


async def channel(target: TurnTarget) -> str:
    async with relay(target) as (opened, relayed, peer):
        answer = await opened.request(channel_bind(0x4000, peer.address))
        loopback_refused(opened, answer)
        if answer.message_class != MessageClass.SUCCESS:
            raise Fail(f"ChannelBind 0x4000 to the peer {format_hostport(peer.address)} got {describe(answer)}")
        payload = token()
        opened.send(channel_data(0x4000, payload, pad=opened.transport != "udp"))
        await _arrives_at_peer(peer, payload, relayed, "ChannelData on 0x4000")
        reply = token()
        peer.send(reply, relayed)
        item = await opened.incoming.next(ARRIVAL)
        if item is None:
            raise Fail(f"the peer's datagram never came back to the client within {ARRIVAL:g} s")
        if item[0] != "channel":
            raise Fail("the peer's datagram came back as a Data indication, not as ChannelData on the bound channel")
        number, data = item[1]
        if number != 0x4000 or data != reply:
            raise Fail(f"the ChannelData came on 0x{number:04X} with {len(data)} bytes; expected 0x4000, {len(reply)}")
        return "ChannelBind 0x4000 -> success; ChannelData relayed both ways"


async def _bind_refused(opened: TurnSession, number: int, peer: Address, what: str) -> str:
    answer = await opened.request(channel_bind(number, peer))
    if answer.message_class == MessageClass.SUCCESS:
        raise Fail(f"{what} got a success")
    if answer.error_code != 400:
        raise Fail(f"{what} got {describe(answer)}; expected 400")
    return f"{what} -> 400"


async def channel_range(target: TurnTarget) -> str:
    async with session(target) as opened:
        await allocated(opened)
        low = await _bind_refused(opened, 0x3FFF, ELSEWHERE, "ChannelBind with channel number 0x3FFF")
        high = await _bind_refused(opened, 0x5000, ELSEWHERE, "ChannelBind with channel number 0x5000")
        return f"{low}; {high}"


async def channel_rebind(target: TurnTarget) -> str:
    other = (ELSEWHERE[0], ELSEWHERE[1] + 1)
    async with session(target) as opened:
        await allocated(opened)
        first = await opened.request(channel_bind(0x4001, ELSEWHERE))
        if first.message_class != MessageClass.SUCCESS:
            raise Skip(f"cannot be judged: ChannelBind 0x4001 got {describe(first)} (see turn.channel)")
        again = await opened.request(channel_bind(0x4001, ELSEWHERE))  # a refresh of the same binding
        if again.message_class != MessageClass.SUCCESS:
            raise Fail(f"refreshing ChannelBind 0x4001 to the same peer got {describe(again)}; expected success")
        moved = await _bind_refused(opened, 0x4001, other, f"rebinding channel 0x4001 to {format_hostport(other)}")
        taken = await _bind_refused(opened, 0x4002, ELSEWHERE, "binding 0x4002 to the peer 0x4001 is bound to")
        return f"refresh -> success; {moved}; {taken}"


async def channel_padding(target: TurnTarget) -> str:
    try:
        async with relay(target, "tcp") as (opened, relayed, peer):
            answer = await opened.request(channel_bind(0x4000, peer.address))
            loopback_refused(opened, answer)
            if answer.message_class != MessageClass.SUCCESS:
                raise Skip(f"cannot be judged: ChannelBind over TCP got {describe(answer)} (see turn.channel)")
            odd = [token()[:5], token()[:5]]  # 5 bytes: 3 bytes of padding each over TCP
            for payload in odd:
                peer.send(payload, relayed)
            for payload in odd:
                item = await opened.incoming.next(ARRIVAL)
                if item is None or item[0] != "channel" or item[1] != (0x4000, payload):
                    seen = "nothing" if item is None else ("garbled framing" if opened.unframed else repr(item[1]))
                    raise Fail(f"two 5-byte ChannelData messages over TCP did not arrive intact ({seen}): "
                               "the server does not pad ChannelData to 4 bytes")  # fmt: skip
            return "ChannelData over TCP padded to a multiple of 4 bytes"
    except Fail as failure:
        if type(failure) is Fail:
            raise
        raise Skip(f"cannot be judged: no TURN over TCP ({failure}; see turn.tcp)") from None


async def _probe_peer(opened: TurnSession, host: str, port: int, peer: PeerSocket | None, number: int) -> str | None:
    """None when the server refuses a permission and a channel (``number``) for ``host``; else what happened."""
    answer = await opened.request(create_permission((host, port)))
    if answer.message_class != MessageClass.SUCCESS:
        bind = await opened.request(channel_bind(number, (host, port)))
        if bind.message_class != MessageClass.SUCCESS:
            return None
        return f"ChannelBind to {host} succeeded (CreatePermission got {describe(answer)})"
    if peer is None:
        return f"CreatePermission to {host} succeeded"
    payload = token()
    opened.send(send_indication((host, port), payload))
    got = await peer.next(quiet(opened.target))
    arrived = got is not None and got[0] == payload
    return f"CreatePermission to {host} succeeded" + (
        f" and it relayed our data to {format_hostport(peer.address)}" if arrived else ""
    )


async def relay_loopback(target: TurnTarget) -> str:
    async with session(target) as opened:
        await allocated(opened)
        accepted = []
        for index, host in enumerate(LOOPBACK_PEERS):
            try:
                peer = await PeerSocket.open("::1" if ":" in host else "127.0.0.1")
            except Skip:
                peer = None  # no IPv6 loopback here: judged by the answer alone
            try:
                port = peer.address[1] if peer else 9
                seen = await _probe_peer(opened, host, port, peer, 0x4FF0 + index)
            finally:
                if peer is not None:
                    peer.close()
            if seen:
                accepted.append(seen)
        if accepted:
            raise Fail("; ".join(accepted))
        return f"permissions to {', '.join(LOOPBACK_PEERS)} all refused"


async def relay_private(target: TurnTarget) -> str:
    if not target.contained or target.decoy is None or not target.decoy.contained:
        raise Skip("not run: the server is outside the harness's namespaces; probes to private, link-local and "
                   "metadata addresses run only against a server inside a namespace the harness built, so "
                   "that nothing can leave the machine")  # fmt: skip
    from ..nat.decoy import FORBIDDEN

    async with session(target) as opened:
        await allocated(opened)
        relayed_to = []
        for index, (host, kind) in enumerate(FORBIDDEN.items()):
            peer = await target.open_peer(host)
            try:
                seen = await _probe_peer(opened, host, peer.address[1], peer, 0x4FE0 + index)
            finally:
                peer.close()
            if seen:
                relayed_to.append(f"{seen} ({kind})")
        if relayed_to:
            raise Fail("; ".join(relayed_to))
        return f"permissions to {', '.join(FORBIDDEN)} all refused"


async def amplification(target: TurnTarget) -> str:
    async with session(target) as opened:
        request = allocate_request().encode()
        answer = await opened.exchange(request)
        ratio = len(opened.last_raw) / len(request)
        detail = (f"an unauthenticated Allocate of {len(request)} bytes got {len(opened.last_raw)} bytes back "
                  f"({describe(answer)}): {ratio:.1f}x")  # fmt: skip
        if ratio > AMPLIFICATION_LIMIT:
            raise Fail(f"{detail}, more than {AMPLIFICATION_LIMIT:g}x: a reflector for spoofed requests")
        return detail


Check = Callable[[TurnTarget], Awaitable[str]]
_RELAY: tuple[tuple[Rule, Check], ...] = (
    (rule("turn.send-data", "RFC 8656 §11.2",
          "with a permission, a Send indication reaches the peer from the relayed address and its answer comes "
          "back as a Data indication naming it"), send_data),
    (rule("turn.no-permission", "RFC 8656 §11.3",
          "a datagram from a peer without a permission for its IP address is not relayed"), no_permission),
    (rule("turn.permission-lifetime", "RFC 8656 §9",
          "a permission expires after its lifetime; Send indications do not refresh it (when claimed)"),
     permission_lifetime),
    (rule("turn.channel", "RFC 8656 §12.2", "ChannelBind 0x4000 succeeds and ChannelData is relayed both ways"),
     channel),
    (rule("turn.channel-range", "RFC 8656 §12.2", "a channel number outside 0x4000-0x4FFF gets 400"), channel_range),
    (rule("turn.channel-rebind", "RFC 8656 §12.2",
          "a bound channel cannot move to another peer, nor a peer take a second channel: 400"), channel_rebind),
    (rule("turn.channel-padding", "RFC 8656 §12.5", "ChannelData over TCP is padded to a multiple of 4 bytes"),
     channel_padding),
    (rule("turn.relay-loopback", "RFC 8656 §10.2",
          "permissions to the server's own host (127.0.0.0/8, 0.0.0.0, ::1, ::, ::ffff:127.0.0.1) are refused "
          "(403): the CVE-2020-26262 class"), relay_loopback),
    (rule("turn.relay-private", "RFC 8656 §10.2",
          "permissions to private, link-local and metadata addresses are refused (server in a harness namespace)",
          Level.SHOULD), relay_private),
    (rule("turn.amplification", "RFC 8656 §21.1",
          f"an unauthenticated request gets at most {AMPLIFICATION_LIMIT:g}x its size back (reported)", Level.MAY),
     amplification),
)  # fmt: skip
RULES: dict[str, Rule] = {r.id: r for r, _ in _RELAY}
CHECKS: dict[str, Check] = {r.id: c for r, c in _RELAY}
