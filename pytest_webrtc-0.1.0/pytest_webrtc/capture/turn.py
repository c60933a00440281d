"""TURN on the wire (RFC 8656): who allocated a relay, and whether the credentials flow was right.

The long-term credential flow (RFC 8489 §9.2, RFC 8656 §7.1): a client's first Allocate carries
no credentials and gets a 401 with REALM and NONCE; the next Allocate carries USERNAME, REALM,
NONCE and MESSAGE-INTEGRITY and gets a success with XOR-RELAYED-ADDRESS.  :func:`allocations`
follows that per client transport address through the captured STUN records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..addresses import Address, format_hostport
from ..stun.message import MessageClass, Method

__all__ = ["Allocation", "allocations", "unbound_channel_data"]

CREDENTIALS = ("USERNAME", "REALM", "NONCE", "MESSAGE-INTEGRITY")


@dataclass
class Allocation:
    client: Address
    server: Address
    challenged: bool = False  # a 401 with REALM and NONCE came first
    authenticated: bool = False  # the Allocate that succeeded carried all four credentials
    relayed: Address | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.relayed is not None and self.challenged and self.authenticated and not self.problems


def allocations(records: Iterable[Any]) -> list[Allocation]:
    """One entry per client that sent an Allocate, in the order they first did."""
    found: dict[Address, Allocation] = {}
    requests: dict[bytes, Any] = {}  # transaction id -> the Allocate request
    for record in records:
        message = record.message
        if message is None or message.method != Method.ALLOCATE:
            continue
        if message.message_class == MessageClass.REQUEST:
            requests[message.transaction_id] = message
            client = record.datagram.src
            found.setdefault(client, Allocation(client, record.datagram.dst))
            continue
        allocation = found.get(record.datagram.dst)
        request = requests.get(message.transaction_id)
        if allocation is None or request is None:
            continue
        if message.message_class == MessageClass.ERROR:
            code = message.get("ERROR-CODE")
            if code is not None and code[0] == 401:
                if message.get("REALM") is None or message.get("NONCE") is None:
                    allocation.problems.append(f"packet {record.number}: 401 without REALM and NONCE")
                allocation.challenged = True
        elif message.message_class == MessageClass.SUCCESS:
            missing = [name for name in CREDENTIALS if request.get(name) is None]
            if missing:
                allocation.problems.append(
                    f"packet {record.number}: relay granted to a request without {', '.join(missing)}"
                )
            allocation.authenticated = not missing
            relayed = message.get("XOR-RELAYED-ADDRESS")
            if relayed is None:
                allocation.problems.append(f"packet {record.number}: Allocate success without XOR-RELAYED-ADDRESS")
            else:
                allocation.relayed = (relayed[0], relayed[1])
    return list(found.values())


def unbound_channel_data(datagrams: Iterable[Any], records: Iterable[Any]) -> list[str]:
    """ChannelData a client sent on a channel number no successful ChannelBind of its own had bound
    before (RFC 8656 §12.5: such data must not be relayed; a client must not send it)."""
    bound: set[tuple[Address, int]] = set()
    binds: dict[bytes, tuple[Address, int]] = {}  # transaction id -> (client, channel)
    events = sorted(
        [(r.number, "stun", r) for r in records if r.message is not None]
        + [(d.number, "data", d) for d in datagrams if d.kind == "turn-channel"],
        key=lambda event: event[0],
    )
    problems = []
    for _, kind, item in events:
        if kind == "stun":
            message = item.message
            if message.method != Method.CHANNEL_BIND:
                continue
            if message.message_class == MessageClass.REQUEST:
                number = message.get("CHANNEL-NUMBER")
                if number is not None:
                    binds[message.transaction_id] = (item.datagram.src, int(number))
            elif message.message_class == MessageClass.SUCCESS and message.transaction_id in binds:
                bound.add(binds[message.transaction_id])
        elif len(item.payload) >= 4 and item.dst[1] != 0:
            channel = int.from_bytes(item.payload[:2], "big")
            sender = item.src
            # Client to server only: the server's own ChannelData goes to a client that bound it.
            if (sender, channel) not in bound and not any(c == channel and a == item.dst for a, c in bound):
                problems.append(f"packet {item.number}: ChannelData on channel 0x{channel:04X} from "
                                f"{format_hostport(sender)}, never bound")  # fmt: skip
    return problems
