// werift (TypeScript WebRTC) as an external peer of pytest-webrtc: join the room, answer the
// first offer, trickle candidates, echo every data channel message, leave on bye.
// Configuration comes from WEBRTC_SIGNALING_URL, WEBRTC_ROOM, WEBRTC_PEER_ID, WEBRTC_ICE_SERVERS
// (docs/ci.md); the --signaling/--room/--id/--ice-servers arguments the harness appends are ignored.
import { RTCPeerConnection } from "werift";
import WebSocket from "ws";

const env = process.env;
const url = env.WEBRTC_SIGNALING_URL;
const room = env.WEBRTC_ROOM;
const id = env.WEBRTC_PEER_ID;
const iceServers = JSON.parse(env.WEBRTC_ICE_SERVERS || "[]");
const lifetime = setTimeout(() => process.exit(0), 60_000); // bounded, whatever happens

// Loopback only, as the field notes measured: werift skips loopback when gathering otherwise.
const pc = new RTCPeerConnection({
  iceServers,
  iceUseIpv4: true,
  iceUseIpv6: false,
  iceAdditionalHostAddresses: ["127.0.0.1"],
  iceInterfaceAddresses: { udp4: "127.0.0.1" }, // and nothing but loopback: tests talk to 127.0.0.0/8 only
});
const ws = new WebSocket(url);
let caller = null;
const send = (message) => ws.send(JSON.stringify(message));
const withoutCandidates = (sdp) =>
  sdp.split("\r\n").filter((l) => !l.startsWith("a=candidate:") && !l.startsWith("a=end-of-candidates")).join("\r\n");

pc.onIceCandidate.subscribe((candidate) => {
  if (!caller) return;
  if (candidate) {
    const init = candidate.toJSON ? candidate.toJSON() : candidate;
    send({ type: "candidate", to: caller, candidate: init.candidate, sdpMid: init.sdpMid ?? "0",
           sdpMLineIndex: init.sdpMLineIndex ?? 0 });
  } else {
    send({ type: "end-of-candidates", to: caller });
  }
});
pc.onDataChannel.subscribe((channel) => {
  channel.onMessage.subscribe((data) => channel.send(data));
});

ws.on("open", () => send({ type: "join", room, peer: id, version: 1 }));
ws.on("message", async (frame) => {
  const message = JSON.parse(frame.toString());
  if (message.type === "offer" && !caller) {
    caller = message.from;
    await pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    send({ type: "answer", to: caller, sdp: withoutCandidates(pc.localDescription.sdp) });
  } else if (message.type === "candidate") {
    await pc.addIceCandidate({ candidate: message.candidate, sdpMid: message.sdpMid, sdpMLineIndex: message.sdpMLineIndex });
  } else if (message.type === "bye" || (message.type === "peer-left" && message.peer === caller)) {
    clearTimeout(lifetime);
    await pc.close();
    ws.close();
    process.exit(0);
  } else if (message.type === "error") {
    console.error(`signaling error: ${message.code}: ${message.reason}`);
  }
});
process.on("SIGTERM", () => process.exit(0));
