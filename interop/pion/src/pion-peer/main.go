// Pion (Go WebRTC, Debian's pion/webrtc v3) as an external peer of pytest-webrtc: join the room, answer
// the first offer, trickle candidates, echo every data channel message, leave on bye — or, with
// WEBRTC_CALL=ID, call ID: offer, open the data channel "matrix", send it a text and a 64 KiB binary
// message and check the echoes; with the case "video", send the harness's numbered VP8 frames (an IVF
// file the harness wrote, given as -video PATH) once connected (docs/interop.md, the caller extension).
// Configuration: WEBRTC_SIGNALING_URL, WEBRTC_ROOM, WEBRTC_PEER_ID, WEBRTC_ICE_SERVERS, WEBRTC_CALL,
// WEBRTC_CASES, WEBRTC_HOST_ADDRESSES (docs/ci.md); the --signaling/--room/--id/--ice-servers
// arguments the harness appends are ignored. Results: "RESULT {json}" lines on standard output.
// As a callee Pion counts the video frames it receives (RTP marker bits, after SRTP): it has no decoder.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"
	"github.com/pion/webrtc/v3/pkg/media/ivfreader"
	"golang.org/x/net/websocket"
)

const (
	text   = "matrix text: héllo, wörld"
	frames = 10
)

var (
	started = time.Now()
	binary  = func() []byte {
		out := make([]byte, 65536)
		for i := range out {
			out[i] = byte(i % 251)
		}
		return out
	}()
)

type peer struct {
	mu            sync.Mutex
	ws            *websocket.Conn
	pc            *webrtc.PeerConnection
	callee        string // whom we call (empty: we answer)
	remote        string // whom we talk to
	cases         map[string]bool
	pending       map[string]bool // the cases not reported yet (a caller's)
	described     bool            // candidates go out after the description they belong to
	held          []map[string]interface{}
	calling       bool
	video         string // the IVF file of numbered VP8 frames to send
	videoReported bool   // a callee's video case is reported
}

func (p *peer) videoDone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.videoReported
}

func (p *peer) send(message map[string]interface{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := websocket.JSON.Send(p.ws, message); err != nil {
		fmt.Fprintf(os.Stderr, "signaling send: %v\n", err)
	}
}

// result prints a caller's RESULT line for one case, once (a callee reports its video in OnTrack).
func (p *peer) result(name string, ok bool, detail string, extra map[string]interface{}) {
	p.mu.Lock()
	if p.callee == "" || !p.pending[name] {
		p.mu.Unlock()
		return
	}
	delete(p.pending, name)
	p.mu.Unlock()
	record := map[string]interface{}{"case": name, "ok": ok, "detail": detail, "seconds": time.Since(started).Seconds()}
	for k, v := range extra {
		record[k] = v
	}
	line, _ := json.Marshal(record)
	fmt.Printf("RESULT %s\n", line)
}

func (p *peer) trickle(message map[string]interface{}) {
	p.mu.Lock()
	if !p.described {
		p.held = append(p.held, message)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.send(message)
}

func withoutCandidates(sdp string) string {
	var kept []string
	for _, line := range strings.Split(sdp, "\r\n") {
		if !strings.HasPrefix(line, "a=candidate:") && !strings.HasPrefix(line, "a=end-of-candidates") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\r\n")
}

func (p *peer) describe(kind string, sdp string) {
	p.send(map[string]interface{}{"type": kind, "to": p.remote, "sdp": withoutCandidates(sdp)})
	p.mu.Lock()
	p.described = true
	held := p.held
	p.held = nil
	p.mu.Unlock()
	for _, message := range held {
		p.send(message)
	}
}

func newPeerConnection(host string, iceServers []webrtc.ICEServer) (*webrtc.PeerConnection, error) {
	settings := webrtc.SettingEngine{}
	settings.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	settings.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled) // never multicast out of the machine
	wanted := net.ParseIP(host)
	settings.SetIPFilter(func(ip net.IP) bool { return ip.Equal(wanted) }) // the one address the harness gives
	settings.SetIncludeLoopbackCandidate(wanted.IsLoopback())
	engine := &webrtc.MediaEngine{}
	if err := engine.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	registry := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(engine, registry); err != nil {
		return nil, err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(engine), webrtc.WithInterceptorRegistry(registry),
		webrtc.WithSettingEngine(settings))
	return api.NewPeerConnection(webrtc.Configuration{ICEServers: iceServers})
}

func (p *peer) openChannel() error {
	channel, err := p.pc.CreateDataChannel("matrix", nil)
	if err != nil {
		return err
	}
	var got [][]byte
	var strs []bool
	channel.OnOpen(func() {
		if err := channel.SendText(text); err != nil {
			p.result("data", false, "send: "+err.Error(), nil)
		}
		if err := channel.Send(binary); err != nil {
			p.result("data", false, "send: "+err.Error(), nil)
		}
	})
	channel.OnError(func(err error) { // Pion 3.1.56 reads messages into 65535 bytes: a 64 KiB echo fails here
		p.result("data", false, fmt.Sprintf("the channel failed after %d of 2 echoes: %v", len(got), err), nil)
	})
	channel.OnClose(func() {
		p.result("data", false, fmt.Sprintf("the channel closed after %d of 2 echoes", len(got)), nil)
	})
	channel.OnMessage(func(message webrtc.DataChannelMessage) {
		got = append(got, message.Data)
		strs = append(strs, message.IsString)
		if len(got) < 2 {
			return
		}
		same := strs[0] && string(got[0]) == text && !strs[1] && bytes.Equal(got[1], binary)
		detail := "text and 64 KiB binary echoed intact"
		if !same {
			shown := string(got[0])
			if len(shown) > 40 {
				shown = shown[:40]
			}
			detail = fmt.Sprintf("echo differs: %s, %d bytes", shown, len(got[1]))
		}
		p.result("data", same, detail, nil)
		if same && p.cases["restart-ice"] {
			go p.restartICE(channel)
		}
	})
	return nil
}

// restartICE: RFC 8445 §9 — an offer with new ICE credentials; the session goes on over the pair the new
// checks select, and a message echoes over it (the browsers' page does the same).
func (p *peer) restartICE(channel *webrtc.DataChannel) {
	before := ufrag(p.pc.LocalDescription().SDP)
	p.mu.Lock()
	p.described = false // the new candidates wait for the new offer
	p.mu.Unlock()
	offer, err := p.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err == nil {
		err = p.pc.SetLocalDescription(offer)
	}
	if err != nil {
		p.result("restart-ice", false, "restart offer: "+err.Error(), nil)
		return
	}
	after := ufrag(p.pc.LocalDescription().SDP)
	if after == "" || after == before {
		p.result("restart-ice", false, "the new offer kept ufrag "+before, nil)
		return
	}
	p.describe("offer", p.pc.LocalDescription().SDP)
	for i := 0; i < 150; i++ { // 15 s at most
		time.Sleep(100 * time.Millisecond)
		if p.pc.SignalingState() != webrtc.SignalingStateStable {
			continue
		}
		// CreateOffer with ICERestart restarted the agent (new credentials, no selected pair): a pair
		// selected now was checked with the new ones
		pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			continue
		}
		channel.OnMessage(func(message webrtc.DataChannelMessage) {
			p.result("restart-ice", string(message.Data) == "after the restart",
				fmt.Sprintf("ufrag %s -> %s; the channel echoed after the restart", before, after), nil)
		})
		if err := channel.SendText("after the restart"); err != nil {
			p.result("restart-ice", false, "send after the restart: "+err.Error(), nil)
		}
		return
	}
	p.result("restart-ice", false, "no pair with the new ufrag "+after+" selected within 15 s", nil)
}

// ufrag is a description's a=ice-ufrag value.
func ufrag(sdp string) string {
	for _, line := range strings.Split(sdp, "\r\n") {
		if strings.HasPrefix(line, "a=ice-ufrag:") {
			return strings.TrimPrefix(line, "a=ice-ufrag:")
		}
	}
	return ""
}

// sendVideo writes the IVF file's frames at their pace, looping, until the connection closes.
func (p *peer) sendVideo(track *webrtc.TrackLocalStaticSample) {
	for {
		file, err := os.Open(p.video)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cannot open the video file: %v\n", err)
			return
		}
		reader, header, err := ivfreader.NewWith(file)
		if err != nil {
			file.Close()
			fmt.Fprintf(os.Stderr, "not an IVF file: %v\n", err)
			return
		}
		interval := time.Second * time.Duration(header.TimebaseNumerator) / time.Duration(header.TimebaseDenominator)
		ticker := time.NewTicker(interval)
		for range ticker.C {
			frame, _, err := reader.ParseNextFrame()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				break
			}
			if err := track.WriteSample(media.Sample{Data: frame, Duration: interval}); err != nil {
				ticker.Stop()
				file.Close()
				return
			}
		}
		ticker.Stop()
		file.Close()
		if p.pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
			return
		}
	}
}

func (p *peer) call() {
	p.mu.Lock()
	if p.calling {
		p.mu.Unlock()
		return
	}
	p.calling = true
	p.mu.Unlock()
	if p.cases["data"] {
		if err := p.openChannel(); err != nil {
			p.result("data", false, err.Error(), nil)
		}
	}
	if p.cases["video"] {
		track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "pion")
		if err == nil {
			_, err = p.pc.AddTrack(track)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "video track: %v\n", err)
		} else {
			p.pc.OnConnectionStateChange(p.onState(track)) // media written before DTLS is up is dropped
		}
	}
	offer, err := p.pc.CreateOffer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(offer)
	}
	if err != nil {
		p.result("connect", false, "offer: "+err.Error(), nil)
		return
	}
	p.describe("offer", p.pc.LocalDescription().SDP)
}

func (p *peer) onState(track *webrtc.TrackLocalStaticSample) func(webrtc.PeerConnectionState) {
	return func(state webrtc.PeerConnectionState) {
		switch state {
		case webrtc.PeerConnectionStateConnected:
			p.result("connect", true, "connected", nil)
			if track != nil {
				go p.sendVideo(track)
			}
		case webrtc.PeerConnectionStateFailed:
			p.mu.Lock()
			var left []string
			for name := range p.pending {
				left = append(left, name)
			}
			p.mu.Unlock()
			for _, name := range left {
				p.result(name, false, "the connection failed", nil)
			}
		}
	}
}

func main() {
	env := os.Getenv
	iceServers, err := parseICEServers(orDefault(env("WEBRTC_ICE_SERVERS"), "[]"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "WEBRTC_ICE_SERVERS: %v\n", err)
		os.Exit(2)
	}
	host := strings.Split(orDefault(env("WEBRTC_HOST_ADDRESSES"), "127.0.0.1"), ",")[0]
	p := &peer{callee: env("WEBRTC_CALL"), cases: map[string]bool{}, pending: map[string]bool{}}
	for i, arg := range os.Args {
		if arg == "-video" && i+1 < len(os.Args) {
			p.video = os.Args[i+1]
		}
	}
	for _, name := range strings.Split(orDefault(env("WEBRTC_CASES"), "data"), ",") {
		if name != "" {
			p.cases[name] = true
		}
	}
	if p.callee != "" {
		p.remote = p.callee
		p.pending["connect"] = true
		for name := range p.cases {
			if name != "video" {
				p.pending[name] = true
			}
		}
	}
	lifetime := 60 * time.Second
	time.AfterFunc(lifetime, func() { os.Exit(0) }) // bounded, whatever happens
	pc, err := newPeerConnection(host, iceServers)
	if err != nil {
		fmt.Fprintf(os.Stderr, "peer connection: %v\n", err)
		os.Exit(1)
	}
	p.pc = pc
	pc.OnConnectionStateChange(p.onState(nil))
	pc.OnICECandidate(func(candidate *webrtc.ICECandidate) {
		if p.remote == "" {
			return
		}
		if candidate == nil {
			p.trickle(map[string]interface{}{"type": "end-of-candidates", "to": p.remote})
			return
		}
		init := candidate.ToJSON()
		mid, index := "0", uint16(0)
		if init.SDPMid != nil {
			mid = *init.SDPMid
		}
		if init.SDPMLineIndex != nil {
			index = *init.SDPMLineIndex
		}
		p.trickle(map[string]interface{}{"type": "candidate", "to": p.remote, "candidate": init.Candidate,
			"sdpMid": mid, "sdpMLineIndex": index})
	})
	pc.OnDataChannel(func(channel *webrtc.DataChannel) {
		if p.callee != "" {
			return
		}
		// Pion 3.1.56 reads a message into 65535 bytes: a larger one is an error, after which it calls the
		// channel closed without resetting its stream (RFC 8831 §6.7), so the caller would wait for ever.
		// Say so, and end the call once the video case (if any) is reported: the caller learns at once.
		channel.OnError(func(err error) {
			fmt.Fprintf(os.Stderr, "data channel %s: %v; ending the call\n", channel.Label(), err)
			go func() {
				for i := 0; i < 100 && p.cases["video"] && !p.videoDone(); i++ {
					time.Sleep(100 * time.Millisecond)
				}
				pc.Close()
			}()
		})
		channel.OnMessage(func(message webrtc.DataChannelMessage) { // the echo
			var err error
			if message.IsString {
				err = channel.SendText(string(message.Data))
			} else {
				err = channel.Send(message.Data)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "echo of %d bytes on %s: %v\n", len(message.Data), channel.Label(), err)
			}
		})
	})
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if track.Kind() != webrtc.RTPCodecTypeVideo {
			return
		}
		count := 0
		for {
			packet, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			if packet.Marker {
				count++
				if count == frames && !p.videoDone() {
					p.mu.Lock()
					p.videoReported = true
					p.mu.Unlock()
					detail := fmt.Sprintf("received %d frames (RTP, not decoded: Pion has no decoder)", frames)
					record, _ := json.Marshal(map[string]interface{}{"case": "video", "ok": true, "detail": detail,
						"seconds": time.Since(started).Seconds(), "frames": frames})
					fmt.Printf("RESULT %s\n", record)
				}
			}
		}
	})

	ws, err := websocket.Dial(env("WEBRTC_SIGNALING_URL"), "", "http://127.0.0.1/")
	if err != nil {
		fmt.Fprintf(os.Stderr, "signaling: %v\n", err)
		os.Exit(1)
	}
	p.ws = ws
	p.send(map[string]interface{}{"type": "join", "room": env("WEBRTC_ROOM"), "peer": env("WEBRTC_PEER_ID"), "version": 1})
	for {
		var message map[string]interface{}
		if err := websocket.JSON.Receive(ws, &message); err != nil {
			break
		}
		kind, _ := message["type"].(string)
		from, _ := message["from"].(string)
		switch {
		case kind == "joined" && p.callee != "":
			if peers, ok := message["peers"].([]interface{}); ok {
				for _, other := range peers {
					if other == p.callee {
						go p.call()
					}
				}
			}
		case kind == "peer-joined" && p.callee != "" && message["peer"] == p.callee:
			go p.call()
		case kind == "offer" && p.callee == "" && (p.remote == "" || p.remote == from):
			p.remote = from // the first offer, or its caller's next (an ICE restart)
			p.mu.Lock()
			p.described = false // our new candidates wait for the answer
			p.mu.Unlock()
			sdp, _ := message["sdp"].(string)
			err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp})
			var answer webrtc.SessionDescription
			if err == nil {
				answer, err = pc.CreateAnswer(nil)
			}
			if err == nil {
				err = pc.SetLocalDescription(answer)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "answering: %v\n", err)
				continue
			}
			p.describe("answer", pc.LocalDescription().SDP)
		case kind == "answer" && p.callee != "" && from == p.callee:
			sdp, _ := message["sdp"].(string)
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
				fmt.Fprintf(os.Stderr, "answer: %v\n", err)
			}
		case kind == "candidate":
			line, _ := message["candidate"].(string)
			if line == "" {
				continue
			}
			init := webrtc.ICECandidateInit{Candidate: line}
			if mid, ok := message["sdpMid"].(string); ok {
				init.SDPMid = &mid
			}
			if index, ok := message["sdpMLineIndex"].(float64); ok {
				i := uint16(index)
				init.SDPMLineIndex = &i
			}
			if err := pc.AddICECandidate(init); err != nil {
				fmt.Fprintf(os.Stderr, "candidate: %v\n", err)
			}
		case kind == "bye" || (kind == "peer-left" && message["peer"] == p.remote):
			pc.Close()
			ws.Close()
			os.Exit(0)
		case kind == "error":
			fmt.Fprintf(os.Stderr, "signaling error: %v: %v\n", message["code"], message["reason"])
		}
	}
	pc.Close()
}

func orDefault(value, fallback string) string {
	if value == "" {
		return fallback
	}
	return value
}

// parseICEServers reads an RTCIceServer list, whose "urls" is a string or a list of strings (W3C).
func parseICEServers(text string) ([]webrtc.ICEServer, error) {
	var raw []struct {
		URLs       interface{} `json:"urls"`
		Username   string      `json:"username"`
		Credential string      `json:"credential"`
	}
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, err
	}
	servers := make([]webrtc.ICEServer, 0, len(raw))
	for _, server := range raw {
		var urls []string
		switch value := server.URLs.(type) {
		case string:
			urls = []string{value}
		case []interface{}:
			for _, url := range value {
				if s, ok := url.(string); ok {
					urls = append(urls, s)
				}
			}
		default:
			return nil, fmt.Errorf("urls is neither a string nor a list: %v", server.URLs)
		}
		entry := webrtc.ICEServer{URLs: urls, Username: server.Username}
		if server.Credential != "" {
			entry.Credential = server.Credential
		}
		servers = append(servers, entry)
	}
	return servers, nil
}
