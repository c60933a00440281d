"""WebRTC peers (aiortc) and what they need from aioice."""
