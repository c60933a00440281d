"""WHIP (RFC 9725) and WHEP (draft-ietf-wish-whep): HTTP offer/answer for publishing and playing.

http        a small HTTP/1.1 client and server on asyncio streams (no dependency)
client      WhipSession: POST an offer, PATCH trickle fragments, DELETE; Link ice-server parsing
server      WhipServer: the reference endpoint, WHIP ingest and WHEP egress backed by the SFU's
            forwarding (``python -m pytest_webrtc whip-server``)
"""
