"""ICE candidate lines (RFC 8839 §5.1), read in one place with aioice's parser.

A line may come as ``a=candidate:...`` (in an SDP), ``candidate:...`` (trickled, as W3C's
``RTCIceCandidate.candidate``) or bare.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .addresses import Address

if TYPE_CHECKING:
    from aioice import Candidate

__all__ = ["addresses_of", "candidate_address", "candidate_type", "parse_candidate", "sdp_candidates"]


def parse_candidate(line: str) -> Candidate:
    """The candidate of a line; ValueError if it is not one."""
    from aioice import Candidate

    return Candidate.from_sdp(line.strip().removeprefix("a=").removeprefix("candidate:"))


def candidate_address(line: str) -> Address:
    """Its transport address (connection-address, port)."""
    candidate = parse_candidate(line)
    return candidate.host, candidate.port


def candidate_type(line: str) -> str:
    """``host``, ``srflx``, ``prflx`` or ``relay`` (``?`` for a line that is not a candidate)."""
    try:
        return str(parse_candidate(line).type)
    except ValueError:
        return "?"


def sdp_candidates(sdp: str) -> list[str]:
    """The ``candidate:...`` lines of an SDP (without ``a=``)."""
    return [line[2:] for line in sdp.splitlines() if line.startswith("a=candidate:")]


def addresses_of(lines: Iterable[str]) -> set[Address]:
    """The transport addresses of candidate lines (lines that are not candidates are left out)."""
    out = set()
    for line in lines:
        try:
            out.add(candidate_address(line))
        except ValueError:
            continue
    return out
