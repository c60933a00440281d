"""The WHIP or WHEP endpoint under judgement, and the WebRTC side of the checks.

:class:`WhipTarget` names the endpoint URL, the protocol (``whip`` publishes, ``whep`` plays),
the bearer token the user gives and what the user claims (ICE restarts).  :func:`offer` builds
a real offer with aiortc: a synthetic video track to publish (WHIP), or receive-only video and
audio (WHEP), its candidates inside; host candidates come from loopback when the endpoint is on
loopback (tests talk to loopback only), from every interface otherwise.  :class:`Publisher`
keeps a stream live at a WHIP endpoint while a WHEP endpoint is judged (``--publish``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..errors import PeerError
from ..peer.hosts import gather_timeout, host_addresses
from ..whip.client import SDP, WhipSession
from ..whip.http import Response, request
from .outcome import Fail, Silent, Skip

__all__ = [
    "TIMEOUT",
    "Publisher",
    "WhipTarget",
    "connected",
    "created",
    "delete_quietly",
    "offer",
    "post",
    "session_url",
]

TIMEOUT = 5.0  # seconds per HTTP request
MEDIA_TIMEOUT = 8.0  # seconds for ICE, DTLS and the first media evidence


@dataclass(frozen=True)
class WhipTarget:
    url: str
    protocol: str = "whip"  # or "whep"
    token: str | None = None
    ice_restart: bool = False  # --ice-restart: the endpoint claims ICE restarts by PATCH
    trickle: bool = False  # --trickle: the endpoint claims trickle ICE by PATCH (its Accept-Patch claims it too)
    timeout: float = TIMEOUT
    media_timeout: float = MEDIA_TIMEOUT
    cafile: str | None = None  # --cafile: the certificate an HTTPS endpoint is trusted by
    local_address: str | None = None  # --local-address: gather host candidates from it alone

    @property
    def loopback(self) -> bool:
        host = urllib.parse.urlsplit(self.url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def candidates(self) -> list[str] | None:
        if self.local_address:
            return [self.local_address]
        if not self.loopback:
            return None
        host = urllib.parse.urlsplit(self.url).hostname or ""
        return ["::1"] if ":" in host else ["127.0.0.1"]

    def headers(self, content_type: str = SDP, token: str | None = "") -> dict[str, str]:
        """Request headers; ``token=""`` means the target's own, ``None`` none at all."""
        chosen = self.token if token == "" else token
        return {"Content-Type": content_type} | ({"Authorization": f"Bearer {chosen}"} if chosen else {})

    def claims(self) -> list[str]:
        claimed = (("token", self.token), ("trickle", self.trickle), ("ice-restart", self.ice_restart))
        return [c for c, on in claimed if on]


async def offer(target: WhipTarget, kind: str | None = None) -> tuple[Any, str]:
    """A fresh RTCPeerConnection and its offer (candidates inside) for ``kind`` (default: the target's)."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    from ..peer.media import NumberedVideoTrack

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    if (kind or target.protocol) == "whip":
        pc.addTrack(NumberedVideoTrack(320, 240))
    else:
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
    with host_addresses(target.candidates), gather_timeout():
        await pc.setLocalDescription(await pc.createOffer())
    return pc, str(pc.localDescription.sdp)


async def call(target: WhipTarget, method: str, url: str, headers: dict[str, str], body: str = "") -> Response:
    """One request of a check to the endpoint; Silent (a Fail) saying why when no reply came."""
    try:
        return await request(method, url, headers=headers, body=body, timeout=target.timeout, cafile=target.cafile)
    except PeerError as exc:
        raise Silent(str(exc)) from None


async def post(target: WhipTarget, body: str, content_type: str = SDP, token: str | None = "") -> Response:
    return await call(target, "POST", target.url, target.headers(content_type, token), body)


async def delete_quietly(target: WhipTarget, reply: Response) -> None:
    """End a session a check created (a refusal that was a 201 after all, or the baseline's)."""
    location = reply.header("location")
    if reply.status == 201 and location:
        with contextlib.suppress(Silent):
            await call(target, "DELETE", urllib.parse.urljoin(target.url, location), target.headers())


@contextlib.asynccontextmanager
async def created(target: WhipTarget) -> AsyncIterator[tuple[Any, Response]]:
    """A session made with a good offer (the baseline of the session rules): (pc, its 201).
    Skip when the endpoint does not create one: that is the ``created`` rule's finding."""
    pc, sdp = await offer(target)
    try:
        reply = await post(target, sdp)
    except Silent as exc:
        await pc.close()
        raise Skip(f"no session to judge: {exc}") from None
    if reply.status != 201 or not reply.header("location"):
        await pc.close()
        raise Skip(f"no session to judge: a good offer got {reply.said()}" + (
            "" if reply.status != 201 else " without a Location"))  # fmt: skip
    try:
        yield pc, reply
    finally:
        await pc.close()
        await delete_quietly(target, reply)


def session_url(target: WhipTarget, reply: Response) -> str:
    return urllib.parse.urljoin(target.url, reply.header("location") or "")


class Publisher:
    """A stream kept live at a WHIP endpoint (synthetic video), for judging the WHEP side."""

    def __init__(self, url: str, token: str | None = None, **options: Any) -> None:
        self.target = WhipTarget(url, "whip", token, **options)
        self.pc: Any = None
        self.session: WhipSession | None = None

    async def __aenter__(self) -> Publisher:
        from aiortc import RTCSessionDescription

        self.pc, sdp = await offer(self.target)
        try:
            self.session = await WhipSession.create(self.target.url, sdp, self.target.token, cafile=self.target.cafile)
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=self.session.answer, type="answer"))
            await connected(self.pc, self.target.media_timeout)
        except (PeerError, Fail) as exc:
            await self.__aexit__()
            raise PeerError(f"cannot publish a stream to {self.target.url}: {exc}") from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            with contextlib.suppress(PeerError):
                await self.session.delete()
        if self.pc is not None:
            await self.pc.close()


async def connected(pc: Any, timeout: float) -> None:
    """Wait for the connection state ``connected``; Fail saying where it stopped."""
    changed = asyncio.Event()
    pc.on("connectionstatechange", changed.set)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pc.connectionState != "connected":
        left = deadline - loop.time()
        if pc.connectionState in ("failed", "closed") or left <= 0:
            raise Fail(
                f"the connection did not come up in {timeout:g} s: ICE {pc.iceConnectionState}, "
                f"connection {pc.connectionState}"
            )
        changed.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(changed.wait(), left)
