"""RFC 5780 NAT behaviour discovery: what mapping and filtering the NAT in front of us does.

Against a STUN server that claims RFC 5780 (OTHER-ADDRESS in its answers, CHANGE-REQUEST honoured):

- mapping (RFC 5780 §4.3): ask the primary address, then (other IP, primary port), then the
  other address, all from one local port; the same mapped address from the first two means
  endpoint-independent mapping, the same from the last two address-dependent, otherwise
  address-and-port-dependent.
- filtering (§4.4): from a fresh local port (so that no earlier test opened the NAT for the
  alternate addresses), ask the primary address to answer from the other IP and port: an answer
  means endpoint-independent filtering; else ask it to answer from the other port only: an answer
  means address-dependent filtering; else address-and-port-dependent.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..addresses import Address, format_hostport
from ..errors import StunTransactionError
from .attributes import CHANGE_IP, CHANGE_PORT
from .client import StunResponse, StunSocket, binding_request

__all__ = ["Discovery", "discover"]


@dataclass(frozen=True)
class Discovery:
    local: Address
    mapped: Address
    behind_nat: bool
    mapping: str
    filtering: str
    steps: tuple[str, ...]  # what was asked and answered, for reports

    def __str__(self) -> str:
        return f"mapping {self.mapping}, filtering {self.filtering}" + (" (behind a NAT)" if self.behind_nat else "")


async def _ask(udp: StunSocket, server: Address, rto: float, change: int = 0) -> StunResponse:
    message = binding_request(CHANGE_REQUEST=change) if change else binding_request()
    return await udp.request(message.encode(), server, rto=rto, transmissions=3, final_wait=2)


def _mapped(response: StunResponse) -> Address:
    value = response.message.get("XOR-MAPPED-ADDRESS")
    if value is None:
        raise StunTransactionError(f"the answer from {response.source} has no XOR-MAPPED-ADDRESS")
    return value[0], value[1]


async def discover(server: Address, local_host: str = "0.0.0.0", rto: float = 0.1) -> Discovery:
    """Classify the NAT between ``local_host`` and ``server`` (RFC 5780 §4.3 and §4.4)."""
    steps = []
    udp = await StunSocket.open((local_host, 0))
    try:
        first = await _ask(udp, server, rto)
        mapped = _mapped(first)
        other = first.message.get("OTHER-ADDRESS")
        if other is None:
            raise StunTransactionError(f"{format_hostport(server)} sent no OTHER-ADDRESS: it does not do RFC 5780")
        steps.append(
            f"{format_hostport(server)} sees {format_hostport(mapped)}; OTHER-ADDRESS {format_hostport(other)}"
        )
        second = _mapped(await _ask(udp, (other[0], server[1]), rto))
        steps.append(f"{format_hostport((other[0], server[1]))} sees {format_hostport(second)}")
        if second == mapped:
            mapping = "endpoint-independent"
        else:
            third = _mapped(await _ask(udp, (other[0], other[1]), rto))
            steps.append(f"{format_hostport(other)} sees {format_hostport(third)}")
            mapping = "address-dependent" if third == second else "address-and-port-dependent"
        local = udp.local
    finally:
        udp.close()
    filtering = "address-and-port-dependent"
    for change, verdict, what in (
        (CHANGE_IP | CHANGE_PORT, "endpoint-independent", "the other address and port"),
        (CHANGE_PORT, "address-dependent", "the other port"),
    ):
        fresh = await StunSocket.open((local_host, 0))  # a mapping that has met the primary address only
        try:
            answer = await _ask(fresh, server, rto, change)
        except StunTransactionError:
            steps.append(f"asked to answer from {what}: nothing came")
            continue
        finally:
            fresh.close()
        steps.append(f"asked to answer from {what}: answered from {format_hostport(answer.source)}")
        filtering = verdict
        break
    return Discovery(local, mapped, mapped != local, mapping, filtering, tuple(steps))
