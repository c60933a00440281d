"""The reference WHIP/WHEP endpoint: ingest at ``/whip/<stream>``, egress at ``/whep/<stream>``.

A WHIP POST (RFC 9725 §4.2) creates a publishing session: its tracks are tapped before decoding
(:mod:`pytest_webrtc.sfu.forward`) and become the stream's publications.  A WHEP POST (a
receive-only offer) creates a playing session that gets, on ``sendonly`` transceivers, every
publication of that stream, forwarded frame by frame without transcoding (the SFU's data path).
Sessions live at ``/whip/<stream>/<id>`` and ``/whep/<stream>/<id>``: PATCH takes RFC 8840
trickle fragments (204; an ICE restart is answered 422, since aiortc cannot restart ICE: RFC 9725
§4.3.1), DELETE ends the session (200) and the URL is gone (404).  A bearer token, when set, is
required on every request (401 otherwise, RFC 6750).  ``--ice-server`` URIs are advertised in
``Link: rel="ice-server"`` headers (RFC 9725 §4.6).

Any stream name is accepted; a second publisher on a live stream gets 409, a WHEP offer for a
stream nobody publishes gets 404.  Malformed requests are answered (400, 413, 415) and counted;
the server stays up and small: at most ``max_sessions`` live sessions (503 beyond), a session not
connected within ``connect_timeout`` is ended, and only the newest ended sessions are kept.  :meth:`WhipServer.summary` gives one line per session, printed on SIGTERM
by ``python -m pytest_webrtc whip-server``.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import PeerError
from ..peer.hosts import gather_timeout, host_addresses, may_reach
from ..sfu.forward import ForwardedTrack
from ..sfu.server import Publication
from .client import SDP, SDPFRAG, sdp_ice
from .http import HttpServer, Request, Response

__all__ = ["WhipServer", "WhipServerSession"]

ALLOW_SESSION = "PATCH, DELETE, OPTIONS"
ENDED_KEPT = 1000  # ended sessions kept for the summary (the newest); a long-running server stays small
MAX_SESSIONS = 100  # live sessions at once; more get 503 (each holds an RTCPeerConnection)
CONNECT_TIMEOUT = 30.0  # seconds a session may take to connect before it is ended ("never connected")


@dataclass
class WhipServerSession:
    id: str
    kind: str  # "whip" (publishes) or "whep" (plays)
    stream: str
    pc: Any
    ufrag: str  # the client's ICE credentials, as offered
    pwd: str
    mid: str
    etag: str
    started: float = field(default_factory=time.time)
    publications: list[Publication] = field(default_factory=list)  # whip
    forwarded: list[ForwardedTrack] = field(default_factory=list)  # whep
    trickled: int = 0
    ignored: int = 0  # candidates it may not send to (outside loopback)
    ended: str = ""  # why it ended ("DELETE", "failed", "server stopped")
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/{self.kind}/{self.stream}/{self.id}"


def _text(status: int, message: str, *headers: tuple[str, str]) -> Response:
    return Response(status, [("Content-Type", "text/plain; charset=utf-8"), *headers], (message + "\n").encode())


def _filtered(sdp: str, addresses: Sequence[str] | None) -> tuple[str, int]:
    """The offer without the candidates this server may not send to; how many were dropped."""
    kept, dropped = [], 0
    for line in sdp.splitlines():
        if line.startswith("a=candidate:") and not may_reach(line[2:], addresses):
            dropped += 1
            continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n", dropped


class WhipServer:
    """``await WhipServer(token=...).start(host, port)``; ``base_url``; ``await stop()``."""

    def __init__(
        self,
        *,
        token: str | None = None,
        ice_servers: Sequence[str] = (),
        candidates: Sequence[str] | None = ("127.0.0.1",),
        max_sessions: int = MAX_SESSIONS,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.token = token
        self.max_sessions, self.connect_timeout = max_sessions, connect_timeout
        self._reapers: set[asyncio.Task[None]] = set()
        self.ice_servers = list(ice_servers)
        self.candidates = list(candidates) if candidates is not None else None
        self.http = HttpServer(self.handle)
        self.sessions: dict[str, WhipServerSession] = {}
        self.ended: collections.deque[WhipServerSession] = collections.deque(maxlen=ENDED_KEPT)
        self.ended_total = 0  # sessions ended so far (``ended`` keeps only the newest)

    @property
    def base_url(self) -> str:
        return self.http.base_url

    def whip_url(self, stream: str) -> str:
        return f"{self.base_url}/whip/{stream}"

    def whep_url(self, stream: str) -> str:
        return f"{self.base_url}/whep/{stream}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> WhipServer:
        await self.http.start(host, port)
        return self

    async def stop(self) -> None:
        await self.http.stop()
        for reaper in list(self._reapers):
            reaper.cancel()
        await asyncio.gather(*self._reapers, return_exceptions=True)
        for session in list(self.sessions.values()):
            await self._end(session, "server stopped")

    # -- HTTP --------------------------------------------------------------------------------

    async def handle(self, req: Request) -> Response:
        parts = [p for p in req.path.split("/") if p]
        if len(parts) not in (2, 3) or parts[0] not in ("whip", "whep"):
            return _text(404, f"no such endpoint {req.path!r}: POST to /whip/<stream> or /whep/<stream>")
        if req.method == "OPTIONS":  # CORS pre-flight (RFC 9725 §4.2 lets endpoints answer it)
            methods = "POST, OPTIONS" if len(parts) == 2 else ALLOW_SESSION
            return Response(204, [
                ("Access-Control-Allow-Methods", methods), ("Access-Control-Allow-Headers",
                 "Authorization, Content-Type, If-Match"), ("Accept-Post", SDP), ("Allow", methods)])  # fmt: skip
        if self.token is not None and req.header("authorization") != f"Bearer {self.token}":
            said = "no Authorization header" if req.header("authorization") is None else "a wrong bearer token"
            return _text(
                401, f"this endpoint needs a bearer token: {said}", ("WWW-Authenticate", 'Bearer realm="whip"')
            )
        if len(parts) == 2:
            if req.method != "POST":
                return _text(405, f"{req.method} on an endpoint: POST an offer", ("Allow", "POST, OPTIONS"))
            return await self._create(parts[0], parts[1], req)
        session = self.sessions.get(parts[2])
        if session is None or session.kind != parts[0] or session.stream != parts[1]:
            return _text(404, f"no session {req.path!r} (ended, or never created)")
        if req.method == "DELETE":
            await self._end(session, "DELETE")
            return Response(200)
        if req.method == "PATCH":
            return await self._patch(session, req)
        return _text(405, f"{req.method} on a session", ("Allow", ALLOW_SESSION))

    async def _create(self, kind: str, stream: str, req: Request) -> Response:
        if req.content_type != SDP:
            return _text(415, f"an offer is application/sdp, not {req.content_type or 'untyped'}", ("Accept-Post", SDP))
        try:
            offer = req.body.decode("utf-8")
        except UnicodeDecodeError:
            return _text(400, "the offer is not UTF-8 text")
        if not offer.startswith("v=0") or "\nm=" not in offer:
            return _text(400, "the body is not an SDP offer (no v=0, or no media section)")
        if len(self.sessions) >= self.max_sessions:
            return _text(
                503, f"{len(self.sessions)} sessions are live, the most this server holds", ("Retry-After", "5")
            )
        publishing = self._publisher(stream)
        if kind == "whip" and publishing is not None:
            return _text(409, f"stream {stream!r} already has a publisher ({publishing.path})")
        if kind == "whep" and (publishing is None or not publishing.publications):
            return _text(404, f"nothing is published on stream {stream!r}")
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        ufrag, pwd, mid = sdp_ice(offer)
        session_id = secrets.token_hex(8)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        session = WhipServerSession(session_id, kind, stream, pc, ufrag, pwd, mid, f'"{secrets.token_hex(6)}"')
        if kind == "whip":
            self._on_tracks(session)
        offer, session.ignored = _filtered(offer, self.candidates)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            if kind == "whep":
                assert publishing is not None
                self._forward(session, publishing)
            with host_addresses(self.candidates), gather_timeout():
                await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # aiortc's words: the offer cannot be answered
            await pc.close()
            return _text(400, f"cannot answer this offer: {type(exc).__name__}: {exc}")
        self.sessions[session_id] = session
        reaper = asyncio.ensure_future(self._reap_unconnected(session))
        self._reapers.add(reaper)
        reaper.add_done_callback(self._reapers.discard)

        @pc.on("connectionstatechange")
        async def changed() -> None:
            if pc.connectionState == "failed" and session_id in self.sessions:
                await self._end(session, "failed")

        headers = [("Content-Type", SDP), ("Location", session.path), ("ETag", session.etag),
                   ("Accept-Patch", SDPFRAG)]  # fmt: skip
        headers += [("Link", f'<{url}>; rel="ice-server"') for url in self.ice_servers]
        return Response(201, headers, pc.localDescription.sdp.encode())

    async def _reap_unconnected(self, session: WhipServerSession) -> None:
        """End a session that does not connect in time: a client that POSTs and goes away must not
        leave an RTCPeerConnection behind for ever."""
        await asyncio.sleep(self.connect_timeout)
        if session.id in self.sessions and session.pc.connectionState != "connected":
            await self._end(session, "never connected")

    def _publisher(self, stream: str) -> WhipServerSession | None:
        return next((s for s in self.sessions.values() if s.kind == "whip" and s.stream == stream), None)

    def _on_tracks(self, session: WhipServerSession) -> None:
        def on_track(track: Any) -> None:
            session.publications.append(Publication.tapped(session.pc, track, session.stream))

        session.pc.on("track", on_track)

    def _forward(self, session: WhipServerSession, publisher: WhipServerSession) -> None:
        wanted = {t.kind for t in session.pc.getTransceivers()}
        for publication in publisher.publications:
            if publication.kind not in wanted:
                continue
            track = ForwardedTrack(publication.kind, session.stream, publication.request_keyframe)
            sender = session.pc.addTrack(track)
            sender._stream_id = session.stream  # the msid names the stream
            publication.sinks[session.id] = track
            session.forwarded.append(track)
        if not session.forwarded:
            raise PeerError(f"the offer receives none of what stream {session.stream!r} carries")

    async def _patch(self, session: WhipServerSession, req: Request) -> Response:
        if req.content_type != SDPFRAG:
            return _text(415, f"PATCH takes {SDPFRAG}, not {req.content_type or 'untyped'}", ("Accept-Patch", SDPFRAG))
        match = req.header("if-match")
        if match is not None and match != "*" and match != session.etag:
            return _text(412, f"If-Match {match} is not the session's entity-tag")
        fragment = req.body.decode("utf-8", "replace")
        ufrag, pwd, _ = sdp_ice(fragment)
        if (ufrag and ufrag != session.ufrag) or (pwd and pwd != session.pwd) or match == "*":
            return _text(422, "ICE restarts are not supported here (aiortc cannot restart ICE); trickle is")
        from aiortc.sdp import candidate_from_sdp

        for line in fragment.splitlines():
            if line.startswith("a=candidate:"):
                if not may_reach(line[2:], self.candidates):
                    session.ignored += 1
                    continue
                try:
                    candidate = candidate_from_sdp(line[len("a=candidate:") :])
                except (ValueError, IndexError):
                    return _text(400, f"not a candidate: {line[:80]!r}")
                candidate.sdpMid = session.mid or None
                candidate.sdpMLineIndex = 0
                await session.pc.addIceCandidate(candidate)
                session.trickled += 1
            elif line.startswith("a=end-of-candidates"):
                await session.pc.addIceCandidate(None)
        return Response(204, [("ETag", session.etag)])

    async def _end(self, session: WhipServerSession, why: str) -> None:
        if self.sessions.pop(session.id, None) is None:
            return
        session.ended = why
        session.stats = await self._counts(session)
        for track in session.forwarded:
            track.stop()
        for publication in session.publications:
            for track in publication.sinks.values():
                track.stop()
        for other in self.sessions.values():
            for publication in other.publications:
                publication.sinks.pop(session.id, None)
        await session.pc.close()
        self.ended.append(session)
        self.ended_total += 1

    # -- reports -------------------------------------------------------------------------

    @staticmethod
    async def _counts(session: WhipServerSession) -> dict[str, int]:
        received = forwarded = 0
        for transceiver in session.pc.getTransceivers():
            try:
                report = await (transceiver.receiver if session.kind == "whip" else transceiver.sender).getStats()
            except Exception:  # a transport never started has no stats
                continue
            for stat in report.values():
                received += int(getattr(stat, "packetsReceived", 0) or 0) if stat.type == "inbound-rtp" else 0
                forwarded += int(getattr(stat, "packetsSent", 0) or 0) if stat.type == "outbound-rtp" else 0
        return {
            "frames-received": sum(p.frames for p in session.publications),
            "packets-received": received,
            "frames-forwarded": sum(t.frames for t in session.forwarded),
            "packets-forwarded": forwarded,
        }

    async def report(self) -> list[dict[str, Any]]:
        """Every session, live ones first: its URL, tracks and counts."""
        out = []
        for session in [*self.sessions.values(), *self.ended]:
            counts = session.stats if session.ended else await self._counts(session)
            tracks = [p.kind for p in session.publications] or [t.kind for t in session.forwarded]
            out.append({"url": self.base_url + session.path, "kind": session.kind, "stream": session.stream,
                        "tracks": tracks, "ended": session.ended or None, "trickled": session.trickled,
                        "connection": session.pc.connectionState, **counts})  # fmt: skip
        return out

    async def summary(self) -> list[str]:
        """One line per session: resource URL, tracks, frames/packets received and forwarded."""
        return [
            f"{r['url']} {r['kind']} tracks={','.join(r['tracks']) or '-'} "
            f"received={r['frames-received']} frames/{r['packets-received']} packets "
            f"forwarded={r['frames-forwarded']} frames/{r['packets-forwarded']} packets "
            f"ended={r['ended'] or 'live'}"
            for r in await self.report()
        ]
