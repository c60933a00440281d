"""The small HTTP layer: malformed requests are answered 400/413 and counted, the server stays up."""

from __future__ import annotations

import asyncio

import pytest

from pytest_webrtc.errors import PeerError
from pytest_webrtc.whip.client import IceServer, ice_servers, sdp_ice, sdpfrag
from pytest_webrtc.whip.http import MAX_BODY, HttpServer, Request, Response, request


async def _echo(req: Request) -> Response:
    return Response(200, [("Content-Type", "text/plain")], f"{req.method} {req.path} {len(req.body)}".encode())


async def _raw(address: tuple[str, int], data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(data)
    await writer.drain()
    reply = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return reply


def test_malformed_requests_are_answered_and_counted() -> None:
    async def run() -> tuple[list[bytes], int, Response]:
        server = await HttpServer(_echo).start()
        try:
            replies = [
                await _raw(server.address, b"NONSENSE\r\n\r\n"),
                await _raw(server.address, b"POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
                await _raw(server.address, b"POST /x HTTP/1.1\r\nno colon here\r\n\r\n"),
                await _raw(server.address, f"POST /x HTTP/1.1\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode()),
            ]
            fine = await request("POST", f"{server.base_url}/ok", body="hello", timeout=5)
            return replies, server.malformed, fine
        finally:
            await server.stop()

    replies, malformed, fine = asyncio.run(run())
    assert [r.split(b"\r\n", 1)[0] for r in replies] == [b"HTTP/1.1 400 Bad Request"] * 3 + [
        b"HTTP/1.1 413 Content Too Large"
    ]
    assert malformed == 3  # the 413 is a refusal by rule, not a malformed request
    assert (fine.status, fine.text) == (200, "POST /ok 5")


def test_the_client_says_what_failed() -> None:
    with pytest.raises(PeerError, match=r"POST ftp://x/: the reply is not HTTP/1.1: not an http\(s\) URL"):
        asyncio.run(request("POST", "ftp://x/"))
    with pytest.raises(PeerError, match=r"GET http://127.0.0.1:1/: "):
        asyncio.run(request("GET", "http://127.0.0.1:1/", timeout=2))


def test_link_headers_and_fragments() -> None:
    links = ['<stun:stun.example.net>; rel="ice-server"', '<turn:turn.example.net:3479?transport=tcp>; '
             'rel="ice-server"; username="u"; credential="p"; credential-type="password", '
             '<https://example.net/doc>; rel="help"', '<turn:127.0.0.1>; rel="ice-server"']  # fmt: skip
    found = ice_servers(links)
    assert found == [
        IceServer("stun:stun.example.net"),
        IceServer("turn:turn.example.net:3479?transport=tcp", "u", "p"),
        IceServer("turn:127.0.0.1"),
    ]
    assert [s.valid for s in found] == [True, True, False]  # TURN without credentials
    assert found[1].hostport == ("turn.example.net", 3479) and found[0].hostport == ("stun.example.net", 3478)
    assert not IceServer("stun:host?transport=udp").valid  # RFC 7064: no transport on stun URIs
    fragment = sdpfrag("uf", "pw", "0", ["candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"])
    assert fragment.splitlines() == ["a=ice-ufrag:uf", "a=ice-pwd:pw", "m=audio 9 UDP/TLS/RTP/SAVPF 0", "a=mid:0",
                                     "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", "a=end-of-candidates"]  # fmt: skip
    assert sdp_ice(fragment) == ("uf", "pw", "0")


def test_the_whip_server_stays_small_under_abandoned_sessions() -> None:
    from pytest_webrtc.conformance.whip_target import WhipTarget, offer
    from pytest_webrtc.whip.server import WhipServer

    async def run() -> tuple[list[int], list[dict[str, object]], int]:
        server = await WhipServer(max_sessions=2, connect_timeout=0.5).start()
        try:
            statuses = []
            for stream in ("a", "b", "c"):  # POSTed and never connected: the client went away
                target = WhipTarget(server.whip_url(stream))
                pc, sdp = await offer(target)
                await pc.close()
                reply = await request("POST", target.url, headers={"Content-Type": "application/sdp"}, body=sdp)
                statuses.append(reply.status)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while server.sessions and loop.time() < deadline:  # the reapers end them after 0.5 s
                await asyncio.sleep(0.05)  # polling the server's state: bounded by the deadline
            return statuses, await server.report(), len(server.sessions)
        finally:
            await server.stop()

    statuses, sessions, live = asyncio.run(run())
    assert statuses == [201, 201, 503]
    assert live == 0 and [s["ended"] for s in sessions] == ["never connected", "never connected"], sessions
