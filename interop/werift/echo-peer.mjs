// werift (TypeScript WebRTC) as an external peer of pytest-webrtc: join the room, answer the
// first offer, trickle candidates, echo every data channel message, leave on bye — or, with
// WEBRTC_CALL=ID, call ID: offer, open the data channel "matrix", send it a text and a 64 KiB
// binary message and check the echoes (docs/interop.md, the caller extension).
// Configuration comes from WEBRTC_SIGNALING_URL, WEBRTC_ROOM, WEBRTC_PEER_ID, WEBRTC_ICE_SERVERS,
// WEBRTC_CALL, WEBRTC_CASES and WEBRTC_HOST_ADDRESSES (docs/ci.md); the --signaling/--room/--id/
// --ice-servers arguments the harness appends are ignored.  Results: "RESULT {json}" lines.
// werift cannot send video here (it has no encoder); as a callee it counts the video frames it
// receives (RTP packets with the marker bit, after SRTP), without decoding them.
import { RTCPeerConnection } from "werift";
import WebSocket from "ws";

const env = process.env;
const url = env.WEBRTC_SIGNALING_URL;
const room = env.WEBRTC_ROOM;
const id = env.WEBRTC_PEER_ID;
const iceServers = JSON.parse(env.WEBRTC_ICE_SERVERS || "[]");
const callee = env.WEBRTC_CALL || null;
const cases = (env.WEBRTC_CASES || "data").split(",").filter((c) => c);
const host = (env.WEBRTC_HOST_ADDRESSES || "127.0.0.1").split(",")[0]; // the one address ICE may use
const lifetime = setTimeout(() => process.exit(0), Number(env.WEBRTC_LIFETIME || 60) * 1000); // bounded
const started = performance.now();
const TEXT = "matrix text: héllo, wörld";
const BINARY = Buffer.from(Array.from({ length: 65536 }, (_, i) => i % 251));
const FRAMES = 10;
const pending = new Set(callee ? ["connect", ...cases.filter((c) => c !== "video")] : []);
const result = (name, ok, detail, extra = {}) => {
  if (callee ? !pending.delete(name) : name !== "video") return;
  const seconds = (performance.now() - started) / 1000;
  console.log("RESULT " + JSON.stringify({ case: name, ok, detail, seconds, ...extra }));
};

// One address only, as the harness says: loopback outside a namespace (werift skips loopback
// unless told), the namespace's link inside one — tests talk to nothing else.
const pc = new RTCPeerConnection({
  iceServers,
  iceUseIpv4: true,
  iceUseIpv6: false,
  iceAdditionalHostAddresses: host.startsWith("127.") ? [host] : [],
  iceInterfaceAddresses: { udp4: host },
  bundlePolicy: "max-bundle",
});
const ws = new WebSocket(url);
let remote = callee;
let calling = false;
let described = false; // candidates go out after the description they belong to
const held = [];
const send = (message) => ws.send(JSON.stringify(message));
const trickle = (message) => (described ? send(message) : held.push(message));
const withoutCandidates = (sdp) =>
  sdp.split("\r\n").filter((l) => !l.startsWith("a=candidate:") && !l.startsWith("a=end-of-candidates")).join("\r\n");
const describe = (type, sdp) => {
  send({ type, to: remote, sdp: withoutCandidates(sdp) });
  described = true;
  held.splice(0).forEach(send);
};

pc.onIceCandidate.subscribe((candidate) => {
  if (!remote) return;
  if (candidate) {
    const init = candidate.toJSON ? candidate.toJSON() : candidate;
    trickle({ type: "candidate", to: remote, candidate: init.candidate, sdpMid: init.sdpMid ?? "0",
              sdpMLineIndex: init.sdpMLineIndex ?? 0 });
  } else {
    trickle({ type: "end-of-candidates", to: remote });
  }
});
pc.connectionStateChange.subscribe((state) => {
  if (state === "connected") result("connect", true, "connected");
  if (state === "failed") [...pending].forEach((name) => result(name, false, "the connection failed"));
});
pc.onDataChannel.subscribe((channel) => {
  if (!callee) channel.onMessage.subscribe((data) => channel.send(data));
});
pc.onTrack.subscribe((track) => {
  if (track.kind !== "video") return;
  let frames = 0;
  track.onReceiveRtp.subscribe((rtp) => {
    if (rtp.header.marker && ++frames === FRAMES) {
      result("video", true, `received ${FRAMES} frames (RTP, not decoded: werift has no decoder)`, { frames });
    }
  });
});

function openChannel() {
  const channel = pc.createDataChannel("matrix");
  const got = [];
  channel.stateChanged.subscribe((state) => {
    if (state === "open") {
      channel.send(TEXT);
      channel.send(BINARY);
    }
    // the callee closed it (Pion 3.1.56 does after a message it cannot read): nothing more will come
    if (state === "closed") result("data", false, `the channel closed after ${got.length} of 2 echoes`);
  });
  channel.onMessage.subscribe((data) => {
    got.push(data);
    if (got.length < 2) return;
    const [text, binary] = got;
    const same = text === TEXT && Buffer.isBuffer(binary) && binary.equals(BINARY);
    result("data", same, same ? "text and 64 KiB binary echoed intact"
      : `echo differs: ${String(text).slice(0, 40)}, ${binary && binary.length} bytes`);
  });
}

async function call() {
  if (calling) return;
  calling = true;
  if (cases.includes("data")) openChannel();
  await pc.setLocalDescription(await pc.createOffer());
  describe("offer", pc.localDescription.sdp);
}

ws.on("open", () => send({ type: "join", room, peer: id, version: 1 }));
// One message at a time, in order: a candidate that arrives while the answer is still being applied must
// wait for it (werift refuses a candidate for a media section it does not know yet). Pion trickles at once.
let handled = Promise.resolve();
ws.on("message", (frame) => {
  handled = handled.then(() => handle(frame));
});
async function handle(frame) {
  const message = JSON.parse(frame.toString());
  try {
    if (message.type === "joined" && callee && (message.peers || []).includes(callee)) {
      await call();
    } else if (message.type === "peer-joined" && callee && message.peer === callee) {
      await call();
    } else if (message.type === "offer" && !callee && !remote) {
      remote = message.from;
      await pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      describe("answer", pc.localDescription.sdp);
    } else if (message.type === "answer" && callee && message.from === callee) {
      await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
    } else if (message.type === "candidate" && message.candidate) {
      await pc.addIceCandidate({ candidate: message.candidate, sdpMid: message.sdpMid ?? undefined,
                                 sdpMLineIndex: message.sdpMLineIndex ?? 0 });
    } else if (message.type === "bye" || (message.type === "peer-left" && message.peer === remote)) {
      clearTimeout(lifetime);
      await pc.close();
      ws.close();
      process.exit(0);
    } else if (message.type === "error") {
      console.error(`signaling error: ${message.code}: ${message.reason}`);
    }
  } catch (error) {
    console.error(`error: ${error}`);
  }
}
process.on("SIGTERM", () => process.exit(0));
