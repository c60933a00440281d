"""WHIP/WHEP endpoints broken on purpose, one fault per conformance rule (for tests only).

Each fault touches only requests under the protocol being judged (``/whip/`` or ``/whep/``),
so a stream can still be published to a server whose WHEP side is broken.  Several faults
hide where a lazy check would not look: the token's *value* is not checked (only its presence),
a non-SDP body crashes the server (500, not a 4XX), the session survives DELETE.
"""

from __future__ import annotations

import re

from pytest_webrtc.whip.http import Request, Response
from pytest_webrtc.whip.server import WhipServer

FAULTS = (
    "created", "location", "content-type", "bad-sdp", "auth", "auth-status", "ice-servers", "trickle", "ice-restart", "delete",
    "gone", "media",
)  # fmt: skip


class BrokenWhip(WhipServer):
    def __init__(self, fault: str, protocol: str, **kwargs: object) -> None:
        if fault in ("auth", "auth-status"):
            kwargs.setdefault("token", "s3cret")
        if fault == "ice-servers":
            kwargs["ice_servers"] = ["stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp"]  # TURN: no credentials
        super().__init__(**kwargs)  # type: ignore[arg-type]
        assert fault in FAULTS, fault
        self.fault, self.protocol = fault, protocol

    async def handle(self, req: Request) -> Response:
        if not req.path.startswith(f"/{self.protocol}/"):
            return await super().handle(req)
        fault, session = self.fault, req.path.count("/") == 3
        if fault == "content-type" and req.method == "POST":
            req.headers = [(k, "application/sdp" if k.lower() == "content-type" else v) for k, v in req.headers]
        if fault == "bad-sdp" and req.method == "POST" and not req.body.startswith(b"v=0\r\no="):
            return Response(500, [("Content-Type", "text/plain")], b"TypeError: cannot read properties of undefined\n")
        if fault == "auth" and req.header("authorization"):
            req.headers = [(k, "Bearer s3cret" if k.lower() == "authorization" else v) for k, v in req.headers]
        if fault == "trickle" and req.method == "PATCH":
            return Response(400, [("Content-Type", "text/plain")], b"bad fragment\n")
        if fault == "delete" and req.method == "DELETE":
            return Response(404, [("Content-Type", "text/plain")], b"no such session\n")
        if fault == "gone" and session and req.method == "DELETE":
            return Response(200)  # says it is gone, and keeps it
        reply = await super().handle(req)
        if fault == "auth-status" and reply.status == 401:  # refused, as simple-whip-server does it
            reply.status, reply.headers = 403, [(k, v) for k, v in reply.headers if k.lower() != "www-authenticate"]
        if reply.status == 201:
            if fault == "created":
                reply.status = 200
            elif fault == "location":
                reply.headers = [(k, v) for k, v in reply.headers if k.lower() != "location"]
            elif fault == "media":  # another certificate's fingerprint: DTLS cannot come up
                reply.body = re.sub(rb"(a=fingerprint:sha-256 )([0-9A-F:]+)", rb"\g<1>" + b":".join(
                    [b"AB"] * 32), reply.body)  # fmt: skip
        return reply
