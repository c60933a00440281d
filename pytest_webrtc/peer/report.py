"""What a peer reports: the one report type every peer kind returns, and the report of peers
we cannot ask (external programs, HTTP echo servers), built from the candidates they offered."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from ..candidates import candidate_type

__all__ = ["MediaSummary", "PeerReport", "candidate_type", "external_report", "selected_pair"]


class MediaSummary(TypedDict, total=False):
    frames: int
    in_order: bool
    max_gap: int
    resolution: str | None
    first_frame_latency: float | None
    first_number: int | None
    last_number: int | None


class PeerReport(TypedDict, total=False):
    """A peer's report (``get_report``); peers seen only from outside fill the first six keys."""

    id: str
    external: bool  # seen only from outside: its states, messages and pair are not observable
    process: bool  # ran in a child process
    candidates: dict[str, list[str]]  # gathered candidates by type (host, srflx, relay)
    remote_candidates: list[str]
    ignored_candidates: list[tuple[float, str]] | list[list[Any]]  # (when, line): remote ones it would not reach
    selected_pair: tuple[str, str] | list[str] | None  # ("host 127.0.0.1:5000", "prflx 127.0.0.1:6000")
    states: dict[str, str]  # signaling, gathering, ice, dtls, connection
    messages: dict[str, int]  # data channel label -> messages received
    media: dict[str, Any]  # kind -> MediaSummary of the first track of that kind
    media_by_track: dict[str, Any]  # remote track id -> MediaSummary
    remote_tracks: list[str]
    renegotiations: int
    codecs: dict[str, str | None]
    events: list[tuple[float, str, str]] | list[list[Any]]  # (time, kind, detail)
    srtp: list[dict[str, Any]]  # [{"profile": libsrtp profile, "tx": hex}]: what it sends SRTP with (peer.keying)


def external_report(peer_id: str, candidates: Iterable[str]) -> PeerReport:
    """The report of a peer seen only through the candidates it offered."""
    by_type: dict[str, list[str]] = {}
    for line in candidates:
        by_type.setdefault(candidate_type(line), []).append(line)
    return {
        "id": peer_id,
        "external": True,
        "candidates": by_type,
        "messages": {},
        "states": {},
        "selected_pair": None,
        "events": [],
        "remote_candidates": [],
    }


def selected_pair(dtls: Any) -> tuple[str, str] | None:
    """(local candidate type + address, remote ...) of the pair aioice nominated under ``dtls`` (an
    aiortc RTCDtlsTransport), if any."""
    if dtls is None:
        return None
    connection = getattr(dtls.transport, "_connection", None)
    nominated = getattr(connection, "_nominated", {}) or {}
    pair = nominated.get(1)
    if pair is None:
        return None
    local, remote = pair.local_candidate, pair.remote_candidate
    return f"{local.type} {local.host}:{local.port}", f"{remote.type} {remote.host}:{remote.port}"
