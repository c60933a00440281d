"""SDP text a peer handles itself: candidates split out for trickling, codecs named in m-sections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiortc import RTCIceCandidate

__all__ = ["TrickledCandidate", "codecs_offered", "first_codec", "split_candidates", "trickled_candidate"]


@dataclass(frozen=True)
class TrickledCandidate:
    candidate: str  # "candidate:..." without "a="
    sdp_mid: str | None
    sdp_mline_index: int


def codecs_offered(sdp: str, kind: str) -> list[str]:
    """Encoding names offered in the first ``m=kind`` section."""
    names: list[str] = []
    inside = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            if inside:
                break
            inside = line.startswith(f"m={kind} ")
        elif inside and line.startswith("a=rtpmap:"):
            names.append(line.split()[1].split("/")[0])
    return names


def first_codec(sdp: str, kind: str) -> str | None:
    """The encoding name of the first payload type of the first active ``m=kind`` line."""
    lines = sdp.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"m={kind} "):
            fields = line.split()
            if fields[1] == "0" or len(fields) < 4:
                return None  # rejected m-line: no codec in common
            payload = fields[3]
            for rtpmap in lines[i + 1 :]:
                if rtpmap.startswith("m="):
                    break
                if rtpmap.startswith(f"a=rtpmap:{payload} "):
                    return rtpmap.split()[1].split("/")[0]
    return None


def split_candidates(sdp: str) -> tuple[str, list[TrickledCandidate]]:
    """Remove ``a=candidate`` and ``a=end-of-candidates`` lines; return the rest and the candidates."""
    kept: list[str] = []
    found: list[TrickledCandidate] = []
    mline, mid = -1, None
    for line in sdp.splitlines():
        if line.startswith("m="):
            mline, mid = mline + 1, None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:") :]
        if line.startswith("a=candidate:"):
            found.append(TrickledCandidate(line[2:], mid, mline))
            continue
        if line.startswith("a=end-of-candidates"):
            continue
        kept.append(line)
    # A candidate line precedes a=mid in some stacks: fill in mids from the m-section index.
    mids = _mids(sdp)
    found = [TrickledCandidate(c.candidate, c.sdp_mid or mids.get(c.sdp_mline_index), c.sdp_mline_index) for c in found]
    # With BUNDLE the same candidate stands in every m-section: trickle (and count) it once.
    unique: dict[str, TrickledCandidate] = {}
    for candidate in found:
        unique.setdefault(candidate.candidate, candidate)
    found = list(unique.values())
    return "\r\n".join(kept) + "\r\n", found


def trickled_candidate(message: dict[str, Any]) -> RTCIceCandidate:
    """The aiortc candidate of a signaling ``candidate`` message."""
    from aiortc.sdp import candidate_from_sdp

    candidate = candidate_from_sdp(str(message["candidate"]).removeprefix("candidate:"))
    candidate.sdpMid = message.get("sdpMid")
    candidate.sdpMLineIndex = message.get("sdpMLineIndex")
    return candidate


def _mids(sdp: str) -> dict[int, str]:
    out, mline = {}, -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            mline += 1
        elif line.startswith("a=mid:"):
            out[mline] = line[len("a=mid:") :]
    return out
