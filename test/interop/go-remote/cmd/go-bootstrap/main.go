// go-bootstrap: a small public go-libp2p peer for the NAT lab's internet — a Kademlia DHT
// server (/ipfs/kad/1.0.0) with identify and ping, over TCP only:
//
//	go-bootstrap --ip <public IPv4> [--port 4001] [--key <file>]
//
// It lives in go-remote's module (cmd/go-bootstrap) and shares its lab plumbing (labpeer).
//
// Why it exists: the legacy Go client (test/interop/legacy-go-client, go-libp2p 0.23) learns
// its public address only from identify, and go-libp2p 0.23 advertises an observed address only
// after 4 peers at different IPs observed the same one (ActivationThresh = 4 in
// p2p/protocol/identify/obsaddr.go). It also rejects js-libp2p 3's observed addresses, which
// end in /p2p/<id> ("observed multiaddr doesn't match the transports of any announced
// addresses"). The lab's relays and bootstrap peers are js-libp2p, so without go-libp2p peers a
// legacy client never learns its address and never registers /libp2p/dcutr. Four of these at
// four IPs give it what the IPFS bootstrappers (Kubo) give it in the wild: go-libp2p's identify
// reports the thin-waist address it sees (/ip4/…/tcp/…), which go-libp2p 0.23 accepts.
//
//   - Listens on /ip4/<ip>/tcp/<port> and announces exactly that address (AddrsFactory).
//   - go-libp2p's default resource manager without its per-IP limits (labpeer.ResourceManager): no
//     rate limit on new connections, and no cap on concurrent connections from one address
//     (all hosts of a lab client come from its router's one WAN address).
//   - The user agent names the go-libp2p version ("punchr-lab-go-bootstrap go-libp2p/v0.49.0").
//
// It prints ONE JSON line on stdout when listening:
//
//	{"ready":true,"peerId":"12D3…","addrs":["/ip4/…/tcp/4001"],"impl":"go","version":"v0.49.0","agentVersion":"…"}
//
// or {"error": …} and exit 1. Logs are JSON lines on stderr (log/slog; ours follow
// PUNCHR_LOG_LEVEL, go-libp2p's GOLOG_LOG_LEVEL, default "warn"). SIGTERM/SIGINT close the
// host and exit 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/gologshim"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"punchr/interop/go-remote/labpeer"
)

var log *slog.Logger

type options struct {
	ip      netip.Addr
	port    int
	keyFile string
}

func main() {
	log = slog.New(labpeer.NewLevelHandler(os.Getenv("GOLOG_LOG_LEVEL"), "warn", "lab-bootstrap"))
	gologshim.SetDefaultHandler(log.Handler())

	opts, err := parseOptions(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		labpeer.Fail(log, err)
	}
	labpeer.RunUntilSignal(log, func(ctx context.Context) error { return run(ctx, opts) })
}

func parseOptions(args []string) (options, error) {
	fs := flag.NewFlagSet("go-bootstrap", flag.ContinueOnError)
	ip := fs.String("ip", "", "public IPv4 address to listen on and announce (required)")
	port := fs.Int("port", 4001, "TCP port")
	keyFile := fs.String("key", "", "libp2p private key file (protobuf); created when missing")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if *ip == "" {
		return options{}, errors.New("--ip <public IPv4> is required")
	}
	addr, err := netip.ParseAddr(*ip)
	if err != nil || !addr.Is4() {
		return options{}, fmt.Errorf("--ip %s: not an IPv4 address", *ip)
	}
	if *port < 1 || *port > 65535 {
		return options{}, fmt.Errorf("--port %d: not a TCP port", *port)
	}
	return options{ip: addr, port: *port, keyFile: *keyFile}, nil
}

func run(ctx context.Context, o options) error {
	key, err := labpeer.LoadOrCreateKey(o.keyFile)
	if err != nil {
		return err
	}
	listen, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/%s/tcp/%d", o.ip, o.port))
	if err != nil {
		return err
	}
	resources, err := labpeer.ResourceManager()
	if err != nil {
		return err
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ListenAddrs(listen),
		// What a public node announces: its one public address.
		libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return []ma.Multiaddr{listen} }),
		libp2p.ResourceManager(resources),
		libp2p.UserAgent(labpeer.UserAgent("go-bootstrap")),
		// TCP only: no circuit relay transport either. Public by configuration (no AutoNAT probing).
		libp2p.DisableRelay(),
		libp2p.ForceReachabilityPublic(),
	)
	if err != nil {
		return fmt.Errorf("libp2p: %w", err)
	}
	defer h.Close()

	kad, err := dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix("/ipfs"))
	if err != nil {
		return fmt.Errorf("dht: %w", err)
	}
	defer kad.Close()

	h.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			log.Info("connection open", "peer", c.RemotePeer().String(), "remoteAddr", c.RemoteMultiaddr().String(),
				"direction", c.Stat().Direction.String())
		},
		DisconnectedF: func(_ network.Network, c network.Conn) {
			log.Info("connection closed", "peer", c.RemotePeer().String(), "remoteAddr", c.RemoteMultiaddr().String())
		},
	})

	ready := map[string]any{
		"ready":        true,
		"peerId":       h.ID().String(),
		"addrs":        labpeer.MapStrings(h.Addrs(), ma.Multiaddr.String),
		"impl":         "go",
		"version":      labpeer.Libp2pVersion(),
		"agentVersion": labpeer.UserAgent("go-bootstrap"),
	}
	labpeer.PrintLine(ready)
	log.Info("bootstrap peer ready", "ready", ready, "listen", labpeer.MapStrings(h.Network().ListenAddresses(), ma.Multiaddr.String))
	<-ctx.Done()
	return nil
}
