"""The HTTP offer/answer convention of the public WebRTC interop "echo" suites, both sides.

Client side: a scenario peer ``offer-url: http://HOST:PORT/offer`` is another stack's echo
server.  The ``offer`` step POSTs the caller's whole offer (candidates included, no trickle) as
JSON ``{"type": "offer", "sdp": ...}`` and applies the ``{"type": "answer", "sdp": ...}`` it
gets back; data sent to it must come back (it echoes).

Server side: ``python -m pytest_webrtc http-echo-server`` is our reference echo server: aiortc,
one RTCPeerConnection per POST, every data channel message echoed.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from ..addresses import format_hostport
from ..candidates import sdp_candidates
from ..errors import PeerError
from .report import PeerReport, external_report

__all__ = ["HttpOfferPeer", "post_offer", "serve_http_echo"]


def post_offer(url: str, sdp: str, timeout: float) -> str:
    """POST an offer, return the answer's SDP (blocking; run it in a thread)."""
    body = json.dumps({"type": "offer", "sdp": sdp}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - a URL the user configured
            reply = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        exc.close()  # an HTTPError holds the response and its socket
        raise PeerError(f"POST {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise PeerError(f"POST {url}: {getattr(exc, 'reason', exc)}") from None
    except ValueError:
        raise PeerError(f"POST {url}: the reply is not JSON") from None
    if not isinstance(reply, dict) or reply.get("type") != "answer" or not isinstance(reply.get("sdp"), str):
        raise PeerError(f'POST {url}: expected {{"type": "answer", "sdp": ...}}, got {str(reply)[:120]!r}')
    return str(reply["sdp"])


class HttpOfferPeer:
    """A peer reached by POSTing offers (the HttpOfferPeer protocol): no signaling, no commands."""

    def __init__(self, peer_id: str, url: str) -> None:
        self.id, self.url = peer_id, url
        self.answer_sdp = ""

    async def exchange(self, offer_sdp: str, timeout: float) -> str:
        self.answer_sdp = await asyncio.to_thread(post_offer, self.url, offer_sdp, timeout)
        return self.answer_sdp

    async def get_report(self) -> PeerReport:
        return external_report(self.id, sdp_candidates(self.answer_sdp))

    async def close(self) -> None:
        return None


async def serve_http_echo(host: str, port: int, candidates: str | list[str] = "loopback") -> None:
    """Our reference echo server: POST /offer -> answer; data channel messages echoed. Runs until cancelled."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    from .hosts import CANDIDATE_SETS, host_addresses

    addresses = CANDIDATE_SETS[candidates] if isinstance(candidates, str) else candidates
    connections: set[Any] = set()

    async def answer(offer_sdp: str) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        connections.add(pc)

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            channel.on("message", lambda message: channel.send(message))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                connections.discard(pc)
                await pc.close()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        with host_addresses(addresses):
            await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status, payload = "404 Not Found", b"{}"
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            request_line = head.split(b"\r\n", 1)[0].split()
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            body = await asyncio.wait_for(reader.readexactly(length), 10) if length else b""
            if request_line[:2] == [b"POST", b"/offer"]:
                offer = json.loads(body)
                if not isinstance(offer, dict) or offer.get("type") != "offer" or not isinstance(offer.get("sdp"), str):
                    status, payload = (
                        "400 Bad Request",
                        b'{"error": "expected {\\"type\\": \\"offer\\", \\"sdp\\": ...}"}',
                    )
                else:
                    status = "200 OK"
                    payload = json.dumps({"type": "answer", "sdp": await answer(offer["sdp"])}).encode()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ValueError) as exc:
            status, payload = "400 Bad Request", json.dumps({"error": str(exc)}).encode()
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            f"Connection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, host, port)
    bound = server.sockets[0].getsockname()
    print(f"pytest-webrtc HTTP echo server listening: http://{format_hostport(bound)}/offer", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        server.close()
        await server.wait_closed()
        for pc in list(connections):
            await pc.close()
