"""The client side of WHIP (RFC 9725) and WHEP: one session per POSTed offer.

:meth:`WhipSession.create` POSTs the offer (``application/sdp``, a bearer token when given) and
keeps what the 201 said: the answer, the session URL (``Location``, resolved against the
endpoint), the entity-tag and the ICE servers of its ``Link: rel="ice-server"`` headers.
:meth:`~WhipSession.trickle` PATCHes an RFC 8840 fragment (``application/trickle-ice-sdpfrag``)
with candidates; :meth:`~WhipSession.delete` ends the session.  WHEP is the same exchange with
a receive-only offer, so one class serves both.  Every failure is a PeerError saying what came
back (``HTTP 415 Unsupported Media Type``), not merely that it failed.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import PeerError
from .http import Response, request

__all__ = ["SDP", "SDPFRAG", "IceServer", "WhipSession", "ice_servers", "sdpfrag", "sdp_ice"]

SDP = "application/sdp"
SDPFRAG = "application/trickle-ice-sdpfrag"
_LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[\w*-]+\s*=\s*(?:"[^"]*"|[^;,\s]*))*)')
_PARAM = re.compile(r';\s*([\w*-]+)\s*=\s*(?:"([^"]*)"|([^;,\s]*))')
_URI = re.compile(r"^(stuns?|turns?):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$")


@dataclass(frozen=True)
class IceServer:
    """One ``Link: <URI>; rel="ice-server"`` of a 201 (RFC 9725 §4.6)."""

    url: str
    username: str | None = None
    credential: str | None = None

    @property
    def valid(self) -> bool:
        """A stun:/stuns:/turn:/turns: URI (RFC 7064, RFC 7065); TURN ones need credentials."""
        match = _URI.match(self.url)
        if match is None or (match.group(1).startswith("stun") and match.group(4)):
            return False
        return not match.group(1).startswith("turn") or (self.username is not None and self.credential is not None)

    @property
    def hostport(self) -> tuple[str, int] | None:
        match = _URI.match(self.url)
        if match is None:
            return None
        default = 5349 if match.group(1).endswith("s") else 3478
        return match.group(2).strip("[]"), int(match.group(3) or default)


def ice_servers(links: Sequence[str]) -> list[IceServer]:
    """The ``rel="ice-server"`` entries of Link header values (several per header allowed)."""
    out = []
    for value in links:
        for match in _LINK.finditer(value):
            params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
                      for m in _PARAM.finditer(match.group(2))}  # fmt: skip
            if params.get("rel", "").lower() == "ice-server":
                out.append(IceServer(match.group(1), params.get("username"), params.get("credential")))
    return out


def sdp_ice(sdp: str) -> tuple[str, str, str]:
    """(ufrag, pwd, first mid) of an SDP; empty strings for what it lacks."""
    found = {"ice-ufrag": "", "ice-pwd": "", "mid": ""}
    for line in sdp.splitlines():
        key, _, value = line[2:].partition(":")
        if line.startswith("a=") and key in found and not found[key]:
            found[key] = value.strip()
    return found["ice-ufrag"], found["ice-pwd"], found["mid"]


def sdpfrag(ufrag: str, pwd: str, mid: str, candidates: Sequence[str] = (), end: bool = True) -> str:
    """An RFC 8840 fragment: ICE credentials, one media section (BUNDLE) with its candidates."""
    lines = [f"a=ice-ufrag:{ufrag}", f"a=ice-pwd:{pwd}", "m=audio 9 UDP/TLS/RTP/SAVPF 0", f"a=mid:{mid}"]
    lines += [f"a={c}" if not c.startswith("a=") else c for c in candidates]
    if end:
        lines.append("a=end-of-candidates")
    return "\r\n".join(lines) + "\r\n"


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@dataclass
class WhipSession:
    """A session created at a WHIP or WHEP endpoint."""

    endpoint: str
    url: str  # the session (resource) URL, absolute
    answer: str
    etag: str | None = None
    token: str | None = None
    servers: list[IceServer] = field(default_factory=list)
    created: Response | None = None
    deleted: bool = False
    cafile: str | None = None  # the certificate an HTTPS endpoint is trusted by (else the system's CAs)

    @classmethod
    async def create(
        cls, endpoint: str, offer: str, token: str | None = None, timeout: float = 10.0, cafile: str | None = None
    ) -> WhipSession:
        reply = await request(
            "POST", endpoint, headers={"Content-Type": SDP} | _auth(token), body=offer, timeout=timeout, cafile=cafile
        )
        if reply.status != 201:
            detail = reply.text.strip().splitlines()[0][:120] if reply.text.strip() else ""
            raise PeerError(f"POST {endpoint}: {reply.said()}, not 201 Created" + (f" ({detail})" if detail else ""))
        location = reply.header("location")
        if not location:
            raise PeerError(f"POST {endpoint}: 201 Created without a Location header (RFC 9725 §4.2)")
        if reply.content_type != SDP or not reply.text.startswith("v=0"):
            raise PeerError(
                f"POST {endpoint}: the 201's body is {reply.content_type or 'untyped'} "
                f"{reply.text[:40]!r}, not an application/sdp answer"
            )
        return cls(
            endpoint,
            urllib.parse.urljoin(endpoint, location),
            reply.text,
            reply.header("etag"),
            token,
            ice_servers(reply.all("link")),
            reply,
            cafile=cafile,
        )

    async def patch(self, fragment: str, *, if_match: str | None = None, timeout: float = 5.0) -> Response:
        headers = {"Content-Type": SDPFRAG} | _auth(self.token)
        match = if_match if if_match is not None else self.etag
        if match:
            headers["If-Match"] = match
        return await request("PATCH", self.url, headers=headers, body=fragment, timeout=timeout, cafile=self.cafile)

    async def trickle(self, ufrag: str, pwd: str, mid: str, candidates: Sequence[str], timeout: float = 5.0) -> str:
        """PATCH the candidates (and end-of-candidates); what happened, in words.  405, 501 and 422
        mean the session does not take trickle: the candidates inside the offer must do."""
        reply = await self.patch(sdpfrag(ufrag, pwd, mid, candidates), timeout=timeout)
        if reply.status == 204 or reply.status == 200:
            return f"{len(candidates)} candidate(s) PATCHed: {reply.said()}"
        if reply.status in (405, 422, 501):
            return f"trickle not taken ({reply.said()}): the offer's own candidates are used"
        raise PeerError(f"PATCH {self.url} (trickle): {reply.said()}")

    async def delete(self, timeout: float = 5.0) -> Response:
        self.deleted = True
        return await request("DELETE", self.url, headers=_auth(self.token), timeout=timeout, cafile=self.cafile)
