"""GStreamer's webrtcbin as a peer of pytest-webrtc, on the system Python (PyGObject).

Run it as ``/usr/bin/python3 gst_peer.py``: it follows the external-peer convention (docs/ci.md)
and its caller extension (docs/interop.md), reading where to go from the environment:

- ``WEBRTC_SIGNALING_URL``, ``WEBRTC_ROOM``, ``WEBRTC_PEER_ID``, ``WEBRTC_ICE_SERVERS``;
- ``WEBRTC_CALL=ID`` makes it the caller: it offers to ID, opens the data channel ``matrix`` and
  sends it a text and a 64 KiB binary message (case ``data``) and a VP8 test video (case
  ``video``); without it, it answers the first offer and echoes every data channel message;
- ``WEBRTC_CASES`` (``data,video``): what the call covers; the callee reports the video it
  decoded, the caller the rest, each as one line ``RESULT {json}`` on standard output;
- ``WEBRTC_HOST_ADDRESSES``: the only local addresses ICE may use (else every one: inside the
  harness's namespace that is its link only).

It imports nothing from pytest_webrtc (the system Python does not have it) and needs only
Debian's python3-gi, gir1.2-gst-plugins-bad-1.0, gstreamer1.0-nice, gstreamer1.0-plugins-good
and python3-websockets.  It runs for at most ``WEBRTC_LIFETIME`` seconds (60).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
import websockets  # noqa: E402
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

BINARY = bytes(i % 251 for i in range(65536))  # the 64 KiB message of the data case
TEXT = "matrix text: héllo, wörld"
FRAMES = 10  # decoded frames that make the video case pass


def result(case: str, ok: bool, detail: str, **extra: object) -> None:
    print("RESULT " + json.dumps({"case": case, "ok": ok, "detail": detail, **extra}), flush=True)


def without_candidates(sdp: str) -> str:
    return "".join(
        line + "\r\n"
        for line in sdp.split("\r\n")
        if line and not line.startswith(("a=candidate:", "a=end-of-candidates"))
    )


class GstPeer:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        env = os.environ
        self.loop = loop
        self.id, self.room = env["WEBRTC_PEER_ID"], env["WEBRTC_ROOM"]
        self.callee = env.get("WEBRTC_CALL") or None
        self.cases = [c for c in env.get("WEBRTC_CASES", "data").split(",") if c]
        self.remote: str | None = self.callee
        self.ws: Any = None  # the signaling connection, once open
        self.started = time.monotonic()
        self.pending: dict[str, bool] = {}
        self.described = False  # our offer or answer has gone out: candidates may follow
        self.held: list[dict[str, object]] = []
        self.frames = 0
        self.pipe = Gst.Pipeline.new("peer")
        self.webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
        self.webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        for server in json.loads(env.get("WEBRTC_ICE_SERVERS") or "[]"):
            urls = server.get("urls", [])
            for url in [urls] if isinstance(urls, str) else urls:
                if url.startswith("stun:"):
                    self.webrtc.set_property("stun-server", "stun://" + url[5:])
        self.pipe.add(self.webrtc)
        addresses = [a for a in env.get("WEBRTC_HOST_ADDRESSES", "").split(",") if a]
        if addresses:
            agent = self.webrtc.get_property("ice-agent")
            self._agent = agent  # held: the property getter does not give a reference of ours
            for address in addresses:
                agent.emit("add-local-ip-address", address)
        self.webrtc.connect("on-ice-candidate", self.on_candidate)
        self.webrtc.connect("notify::ice-gathering-state", self.on_gathering)
        self.webrtc.connect("notify::connection-state", self.on_connection)
        self.webrtc.connect("on-data-channel", lambda _w, channel: self.echo(channel))
        self.webrtc.connect("pad-added", self.on_pad)
        if self.callee is not None and "video" in self.cases:
            self.add_video_source()

    # -- from GStreamer threads into asyncio ----------------------------------------------

    def trickle(self, message: dict[str, object]) -> None:
        """A candidate (or their end) goes out after the description it belongs to, never before."""

        def go() -> None:
            if self.described:
                asyncio.ensure_future(self.ws.send(json.dumps(message)))
            else:
                self.held.append(message)

        self.loop.call_soon_threadsafe(go)

    async def send_description(self, kind: str, sdp: str) -> None:
        await self.ws.send(json.dumps({"type": kind, "to": self.remote, "sdp": without_candidates(sdp)}))
        self.described = True
        for message in self.held:
            await self.ws.send(json.dumps(message))
        self.held.clear()

    def on_candidate(self, _webrtc: Gst.Element, mline: int, candidate: str) -> None:
        if self.remote is not None and candidate:
            self.trickle({"type": "candidate", "to": self.remote, "candidate": candidate, "sdpMLineIndex": mline})

    def on_gathering(self, webrtc: Gst.Element, _spec: object) -> None:
        if webrtc.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE and self.remote:
            self.trickle({"type": "end-of-candidates", "to": self.remote})

    def on_connection(self, webrtc: Gst.Element, _spec: object) -> None:
        state = webrtc.get_property("connection-state")
        if state == GstWebRTC.WebRTCPeerConnectionState.CONNECTED and "connect" in self.pending:
            self.finish("connect", True, "connected", seconds=round(time.monotonic() - self.started, 3))
        elif state == GstWebRTC.WebRTCPeerConnectionState.FAILED:
            for case in list(self.pending):
                self.finish(case, False, "the connection failed")

    def finish(self, case: str, ok: bool, detail: str, **extra: object) -> None:
        if self.pending.pop(case, None) is not None:
            result(case, ok, detail, **extra)

    # -- media -------------------------------------------------------------------------

    def add_video_source(self) -> None:
        source = Gst.parse_bin_from_description(
            "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! "
            "vp8enc deadline=1 keyframe-max-dist=15 ! rtpvp8pay pt=96",
            True,
        )
        self.pipe.add(source)
        source.link(self.webrtc)

    def on_pad(self, _webrtc: Gst.Element, pad: Gst.Pad) -> None:
        if pad.direction != Gst.PadDirection.SRC:
            return
        decode = Gst.ElementFactory.make("decodebin")
        decode.connect("pad-added", self.on_decoded)
        self.pipe.add(decode)
        decode.sync_state_with_parent()
        pad.link(decode.get_static_pad("sink"))

    def on_decoded(self, _decode: Gst.Element, pad: Gst.Pad) -> None:
        caps = pad.get_current_caps() or pad.query_caps(None)
        if not caps.to_string().startswith("video/"):
            return
        sink = Gst.ElementFactory.make("fakesink")
        sink.set_property("sync", False)
        self.pipe.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad("sink"))
        pad.add_probe(Gst.PadProbeType.BUFFER, self.on_frame)

    def on_frame(self, _pad: Gst.Pad, _info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        self.frames += 1
        if self.frames == FRAMES:
            self.loop.call_soon_threadsafe(
                lambda: result(
                    "video",
                    True,
                    f"decoded {FRAMES} frames",
                    frames=FRAMES,
                    seconds=round(time.monotonic() - self.started, 3),
                )  # fmt: skip
            )
        return Gst.PadProbeReturn.OK

    # -- data ------------------------------------------------------------------------

    def echo(self, channel: GstWebRTC.WebRTCDataChannel) -> None:
        if self.callee is not None:
            return
        channel.connect("on-message-string", lambda ch, text: ch.emit("send-string", text))
        channel.connect("on-message-data", lambda ch, data: ch.emit("send-data", data))

    def open_channel(self) -> None:
        channel = self.webrtc.emit("create-data-channel", "matrix", None)
        self._channel = channel
        got: list[object] = []

        def opened(ch: GstWebRTC.WebRTCDataChannel) -> None:
            ch.emit("send-string", TEXT)
            ch.emit("send-data", GLib.Bytes.new(BINARY))

        def received(kind: str, value: object) -> None:
            got.append(value)
            if len(got) == 2:
                text, binary = got
                if text == TEXT and binary == BINARY:
                    self.finish("data", True, "text and 64 KiB binary echoed intact",
                                seconds=round(time.monotonic() - self.started, 3))  # fmt: skip
                else:
                    self.finish("data", False, f"echo differs: {str(text)[:40]!r}, {len(binary)} bytes")  # type: ignore[arg-type]

        channel.connect("on-open", opened)
        # the callee closed it (Pion 3.1.56 does after a message it cannot read): nothing more will come
        channel.connect(
            "on-close", lambda _ch: self.finish("data", False, f"the channel closed after {len(got)} of 2 echoes")
        )
        channel.connect("on-message-string", lambda _ch, text: received("text", text))
        channel.connect("on-message-data", lambda _ch, data: received("binary", bytes(data.get_data())))

    # -- offer/answer --------------------------------------------------------------------

    def promise(self, action: str, *args: object) -> Gst.Promise:
        """Run a webrtcbin action and wait for its promise (kept by the caller: the reply lives in it)."""
        promise = Gst.Promise.new()
        self.webrtc.emit(action, *args, promise)
        promise.wait()
        return promise

    def describe(self, kind: str) -> str:
        """Create the local description and set it (the first create-offer can answer NULL: retried)."""
        for attempt in range(3):
            promise = self.promise(f"create-{kind}", None)
            reply = promise.get_reply()
            description = reply.get_value(kind) if reply is not None else None
            if description is not None and description.sdp is not None:
                self.promise("set-local-description", description)
                return str(description.sdp.as_text())
            time.sleep(0.05 * (attempt + 1))  # webrtcbin not ready for it yet
        raise RuntimeError(f"create-{kind} gave no description: {reply.to_string() if reply else None}")

    def apply(self, kind: str, sdp: str) -> None:
        _res, message = GstSdp.SDPMessage.new_from_text(sdp)
        sdp_type = GstWebRTC.WebRTCSDPType.OFFER if kind == "offer" else GstWebRTC.WebRTCSDPType.ANSWER
        self.promise("set-remote-description", GstWebRTC.WebRTCSessionDescription.new(sdp_type, message))

    async def call(self) -> None:
        assert self.callee is not None
        self.pending = {case: True for case in ["connect", *self.cases] if case != "video"}
        if "data" in self.cases:
            self.open_channel()
        await self.send_description("offer", await asyncio.to_thread(self.describe, "offer"))

    async def run(self) -> None:
        self.pipe.set_state(Gst.State.PLAYING)
        async with websockets.connect(os.environ["WEBRTC_SIGNALING_URL"]) as ws:
            self.ws = ws
            await ws.send(json.dumps({"type": "join", "room": self.room, "peer": self.id, "version": 1}))
            async for frame in ws:
                message = json.loads(frame)
                kind = message.get("type")
                if kind == "joined" and self.callee in message.get("peers", []):
                    await self.call()
                elif kind == "peer-joined" and message.get("peer") == self.callee and not self.pending:
                    await self.call()
                elif kind == "offer" and self.callee is None and self.remote is None:
                    self.remote = message["from"]
                    await asyncio.to_thread(self.apply, "offer", message["sdp"])
                    await self.send_description("answer", await asyncio.to_thread(self.describe, "answer"))
                elif kind == "answer" and message.get("from") == self.callee:
                    await asyncio.to_thread(self.apply, "answer", message["sdp"])
                elif kind == "candidate" and message.get("candidate"):
                    self.webrtc.emit("add-ice-candidate", int(message.get("sdpMLineIndex") or 0), message["candidate"])
                elif kind == "bye" or (kind == "peer-left" and message.get("peer") == self.remote):
                    return
                elif kind == "error":
                    print(f"signaling error {message.get('code')}: {message.get('reason')}", file=sys.stderr)


async def main() -> None:
    Gst.init(None)
    glib = GLib.MainLoop()
    threading.Thread(target=glib.run, daemon=True).start()
    loop = asyncio.get_running_loop()
    peer = GstPeer(loop)
    task = asyncio.ensure_future(peer.run())
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await asyncio.wait_for(task, float(os.environ.get("WEBRTC_LIFETIME", "60")))
    except (asyncio.CancelledError, asyncio.TimeoutError):
        pass
    finally:
        peer.pipe.set_state(Gst.State.NULL)
        glib.quit()


if __name__ == "__main__":
    asyncio.run(main())
