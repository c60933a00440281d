"""A stock aiortc bot, as a new user writes one from docs/ci.md's convention: it answers an offer and
replies to data-channel text in capitals. aiortc's defaults, nothing patched: it gathers every
interface but loopback, as aioice does. BOT_MODE makes it wrong for the tests: ``lower`` echoes
unchanged, ``silent`` never replies, ``crash`` dies on the offer."""

import asyncio
import json
import os

import websockets
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

MODE = os.environ.get("BOT_MODE", "upper")


async def main() -> None:
    servers = [RTCIceServer(**s) for s in json.loads(os.environ["WEBRTC_ICE_SERVERS"])]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
    me = os.environ["WEBRTC_PEER_ID"]

    @pc.on("datachannel")
    def on_channel(channel):
        @channel.on("message")
        def on_message(message):
            if isinstance(message, str):
                if MODE == "silent":
                    return
                channel.send(message.upper() if MODE == "upper" else message)
            else:
                channel.send(message)

    async with websockets.connect(os.environ["WEBRTC_SIGNALING_URL"]) as ws:
        await ws.send(json.dumps({"type": "join", "room": os.environ["WEBRTC_ROOM"], "peer": me}))
        caller = None
        async for raw in ws:
            msg = json.loads(raw)
            if msg["type"] == "offer":
                if MODE == "crash":
                    raise RuntimeError("the bot cannot parse this offer")
                caller = msg["from"]
                await pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "offer"))
                await pc.setLocalDescription(await pc.createAnswer())
                sdp = pc.localDescription.sdp
                lines = [
                    line
                    for line in sdp.split("\r\n")
                    if not line.startswith("a=candidate") and line != "a=end-of-candidates"
                ]
                await ws.send(json.dumps({"type": "answer", "to": caller, "sdp": "\r\n".join(lines)}))
                for line in sdp.split("\r\n"):
                    if line.startswith("a=candidate"):
                        await ws.send(
                            json.dumps(
                                {
                                    "type": "candidate",
                                    "to": caller,
                                    "candidate": line[2:],
                                    "sdpMid": "0",
                                    "sdpMLineIndex": 0,
                                }
                            )
                        )
                await ws.send(json.dumps({"type": "end-of-candidates", "to": caller}))
            elif msg["type"] == "candidate":
                c = candidate_from_sdp(msg["candidate"].split(":", 1)[1])
                c.sdpMid, c.sdpMLineIndex = msg.get("sdpMid"), msg.get("sdpMLineIndex")
                await pc.addIceCandidate(c)
            elif msg["type"] in ("bye", "peer-left"):
                break
    await pc.close()


asyncio.run(main())
