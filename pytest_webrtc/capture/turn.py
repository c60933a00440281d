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

from ..stun.message import MessageClass, Method

__all__ = ["Allocation", "allocations"]

Address = tuple[str, int]
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
