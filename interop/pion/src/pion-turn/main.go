// A TURN server built on Pion's pion/turn v2 (Debian's sources) for pytest-webrtc's TURN conformance
// suite: UDP and TCP on the address given, long-term credentials for one user, relayed addresses on
// -relay (default: the listening IP), no permission to the CIDRs of -deny. Unlike pion/turn's examples it
// never binds 0.0.0.0.
// Prints "pion-turn listening: udp HOST:PORT, tcp HOST:PORT" once ready; exits on SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pion/turn/v2"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "UDP and TCP address (port 0: the kernel picks one, the same for both)")
	relay := flag.String("relay", "", "IP of the relayed addresses (default: the listening IP)")
	user := flag.String("user", "user", "long-term credential: username")
	password := flag.String("password", "password", "long-term credential: password")
	realm := flag.String("realm", "pytest-webrtc", "realm")
	deny := flag.String("deny", "", "comma-separated CIDRs no permission is granted to (pion/turn's default admits every peer)")
	flag.Parse()

	var denied []*net.IPNet
	for _, cidr := range strings.Split(*deny, ",") {
		if cidr == "" {
			continue
		}
		_, network, err := net.ParseCIDR(strings.TrimSpace(cidr))
		if err != nil {
			fail("-deny: %v", err)
		}
		denied = append(denied, network)
	}
	permit := func(_ net.Addr, peer net.IP) bool { // CreatePermission and ChannelBind, by the peer's IP
		for _, network := range denied {
			if network.Contains(peer) {
				return false
			}
		}
		return true
	}

	udp, err := net.ListenPacket("udp4", *listen)
	if err != nil {
		fail("udp: %v", err)
	}
	address := udp.LocalAddr().(*net.UDPAddr)
	tcp, err := net.Listen("tcp4", address.String()) // the same port over TCP
	if err != nil {
		fail("tcp: %v", err)
	}
	relayIP := address.IP
	if *relay != "" {
		relayIP = net.ParseIP(*relay)
	}
	generator := func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorStatic{RelayAddress: relayIP, Address: relayIP.String()}
	}
	key := turn.GenerateAuthKey(*user, *realm, *password)
	server, err := turn.NewServer(turn.ServerConfig{
		Realm: *realm,
		AuthHandler: func(username, _ string, _ net.Addr) ([]byte, bool) {
			return key, username == *user
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: udp, RelayAddressGenerator: generator(), PermissionHandler: permit}},
		ListenerConfigs:   []turn.ListenerConfig{{Listener: tcp, RelayAddressGenerator: generator(), PermissionHandler: permit}},
	})
	if err != nil {
		fail("server: %v", err)
	}
	fmt.Printf("pion-turn listening: udp %s, tcp %s\n", address, tcp.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	if err := server.Close(); err != nil {
		fail("close: %v", err)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "pion-turn: "+format+"\n", args...)
	os.Exit(1)
}
