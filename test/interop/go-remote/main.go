// go-remote: a NATed, DCUtR-capable go-libp2p peer ("remote" B) for punchr's NAT lab — the
// go-libp2p counterpart of src/lab/peers/remote.ts, with the same command line where it applies:
//
//	go-remote --relay /ip4/11.0.0.2/tcp/4001/p2p/12D3… [--listen-port 4101] [--dial-port 4100]
//	          [--dht-bootstrap /ip4/…/p2p/12D3…]… [--ready-timeout-ms 30000] [--key <file>] [--no-dcutr]
//	          [--relay-quic /ip4/11.0.0.2/udp/4001/quic-v1/p2p/12D3… [--quic-port 4102]] [--ip6]
//
// It is configured like a NATed go-libp2p node (Kubo) in the wild, so the lab measures what the
// real network runs: AutoRelay with the lab relay as its static relay (a reservation), forced
// private reachability, stock hole punching (DCUtR initiator on inbound relayed connections),
// identify, ping, and a Kademlia client on /ipfs/kad/1.0.0. Nothing in the punch path is patched.
//
//   - TCP (and QUIC with --relay-quic, below); every TCP dial leaves from the listen port:
//     go-libp2p's TCP transport uses SO_REUSEPORT and dials from the port it listens on. So the
//     relay observes the listen port
//     (behind a cone NAT: router WAN address : listen port), and the punch reuses that mapping.
//     --dial-port is accepted for remote.js's command line and ignored (remote.js needs a
//     separate dial port because Node cannot connect from a port it listens on).
//   - With --relay-quic it also speaks QUIC v1 (go-libp2p's quic transport, quic-go): it listens
//     on UDP --quic-port, and every QUIC dial leaves from that socket (quicreuse), the punch
//     included. A go-libp2p swarm keeps ONE connection per peer (a dial to a connected peer
//     returns the existing connection, whatever its transport), so the remote cannot reach the
//     relay over TCP and QUIC at once as remote.js does: it connects to the relay over QUIC
//     only (AutoRelay's static relay gets just the QUIC address, the reservation lives on that
//     connection) — as a NATed Kubo does, whose dial ranker prefers QUIC. The relay's identify
//     then tells it its public QUIC address; its public TCP address comes from the identify of
//     the DHT peers it reaches over TCP (the lab's bootstrap peers listen on TCP only), so with
//     --relay-quic "ready" waits for that too when --dht-bootstrap is given. DCUtR's CONNECT
//     carries both (HolePunchAddrs, below). Its QUIC punch is stock go-libp2p: on attempts 1–2
//     it sprays random UDP at A and takes A's dial as its connection, on attempt 3 it dials.
//   - With --ip6 (a dual-stack home) it also listens on /ip6/:: (TCP on the listen port, QUIC on
//     the QUIC port; IPv6-only sockets beside the IPv4 ones), and its dials of IPv6 addresses
//     leave from those. One connection per peer again: the relay tells it its public address on
//     one path only, so each other path (IP version and transport) is learnt from a DHT peer
//     reached on it — the campaign gives each --dht-bootstrap peer the one address of the path
//     it should observe (src/lab/campaign) — and "ready" waits for every path.
//   - The resource manager is go-libp2p's default without the per-IP rate limit on new
//     connections (labpeer.ResourceManager): every relayed connection counts against the relay's IP,
//     and back-to-back lab rounds exhaust it after 16 (docs/INTEROP.md, finding 4).
//   - Identify advertises only the relay addresses (AddrsFactory), as a NATed node with
//     AutoRelay does, so the punchr honeypot records it (it skips peers with public addresses).
//   - DCUtR's CONNECT carries the address the relay observed. go-libp2p's observed-address
//     manager only *advertises* an observed address after ActivationThresh (4) distinct
//     observer IPs, which the lab never has; but the hole-punch service takes its addresses
//     from addrsManager.HolePunchAddrs(), which appends observed addresses with a single
//     observer (observedAddrsManager.Addrs(1)) after the AddrsFactory (v0.49.0, the version
//     go.mod pins; v0.46 and v0.47 too). So the relay's observation alone is enough and no
//     threshold is patched (docs/INTEROP.md).
//     The service registers /libp2p/dcutr only once it has such an address, so "ready" waits
//     for that registration: before it, B would not punch and the honeypot would not see DCUtR.
//
// It prints ONE JSON line on stdout when ready (reservation held, public address known, the
// /libp2p/dcutr handler registered and, with --dht-bootstrap, the DHT joined by a lookup of its
// own key — which connects it to the DHT servers closest to it, the honeypot among them):
//
//	{"ready":true,"peerId":…,"relayAddrs":[…],"publicAddrs":[…],"dhtPeers":[…],"impl":"go","version":"v0.49.0",…}
//
// or {"error": …} and exit 1. Logs are JSON lines on stderr: its own, every hole-punch trace
// event, and go-libp2p's logs (GOLOG_LOG_LEVEL, default "warn,p2p-holepunch=debug").
// SIGTERM/SIGINT close the host and exit 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/gologshim"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"punchr/interop/go-remote/labpeer"
)

var log *slog.Logger

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type options struct {
	relay      peer.AddrInfo
	listenIP   string
	listenPort int
	// relayQuic is the relay's QUIC v1 address (nil: TCP only); quicPort the UDP port we listen on.
	relayQuic    ma.Multiaddr
	quicPort     int
	dhtBootstrap []peer.AddrInfo
	readyTimeout time.Duration
	keyFile      string
	dcutr        bool
	// ip6: also listen and punch on IPv6.
	ip6 bool
}

func main() {
	log = slog.New(labpeer.NewLevelHandler(os.Getenv("GOLOG_LOG_LEVEL"), "warn,p2p-holepunch=debug", "lab-remote"))
	// go-libp2p's own loggers write through the same handler (JSON on stderr, per-subsystem levels).
	gologshim.SetDefaultHandler(log.Handler())

	opts, err := parseOptions(os.Args[1:])
	if err != nil {
		labpeer.Fail(log, err)
	}
	labpeer.RunUntilSignal(log, func(ctx context.Context) error { return run(ctx, opts) })
}

func parseOptions(args []string) (options, error) {
	fs := flag.NewFlagSet("go-remote", flag.ContinueOnError)
	relay := fs.String("relay", "", "relay multiaddr with /p2p/ (required)")
	listenIP := fs.String("listen-ip", "0.0.0.0", "TCP listen IP")
	listenPort := fs.Int("listen-port", 4101, "TCP listen port; every dial leaves from it too (SO_REUSEPORT)")
	fs.Int("dial-port", 0, "accepted for remote.js compatibility and ignored: go-libp2p dials from its listen port")
	var bootstrap multiFlag
	fs.Var(&bootstrap, "dht-bootstrap", "DHT bootstrap peer multiaddr with /p2p/ (repeatable)")
	readyTimeout := fs.Int("ready-timeout-ms", 30_000, "give up when not ready after this many ms")
	keyFile := fs.String("key", "", "libp2p private key file (protobuf); created when missing")
	noDcutr := fs.Bool("no-dcutr", false, "no hole punching (the remote never opens /libp2p/dcutr)")
	relayQuic := fs.String("relay-quic", "", "the relay's QUIC v1 multiaddr with /p2p/: also speak QUIC, reach the relay over it")
	quicPort := fs.Int("quic-port", 0, "with --relay-quic: UDP port of the QUIC listener; every QUIC dial leaves from it")
	ip6 := fs.Bool("ip6", false, "also listen on IPv6 (/ip6/::); the public IPv6 addresses come from DHT peers reached over IPv6")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if *relay == "" {
		return options{}, errors.New("--relay <multiaddr with /p2p/> is required")
	}
	relayInfo, err := peer.AddrInfoFromString(*relay)
	if err != nil {
		return options{}, fmt.Errorf("--relay %s: %w", *relay, err)
	}
	o := options{
		relay:        *relayInfo,
		listenIP:     *listenIP,
		listenPort:   *listenPort,
		readyTimeout: time.Duration(*readyTimeout) * time.Millisecond,
		keyFile:      *keyFile,
		dcutr:        !*noDcutr,
		quicPort:     *quicPort,
		ip6:          *ip6,
	}
	if *relayQuic != "" {
		info, err := peer.AddrInfoFromString(*relayQuic)
		if err != nil {
			return options{}, fmt.Errorf("--relay-quic %s: %w", *relayQuic, err)
		}
		if info.ID != relayInfo.ID || len(info.Addrs) != 1 || !isQuicAddr(info.Addrs[0]) {
			return options{}, fmt.Errorf("--relay-quic %s: must be a /udp/<port>/quic-v1 address of the --relay peer", *relayQuic)
		}
		o.relayQuic = info.Addrs[0]
	} else if *quicPort != 0 {
		return options{}, errors.New("--quic-port needs --relay-quic")
	}
	for _, b := range bootstrap {
		info, err := peer.AddrInfoFromString(b)
		if err != nil {
			return options{}, fmt.Errorf("--dht-bootstrap %s: %w", b, err)
		}
		o.dhtBootstrap = append(o.dhtBootstrap, *info)
	}
	if o.ip6 && len(o.dhtBootstrap) == 0 {
		return options{}, errors.New("--ip6 needs --dht-bootstrap peers reached over IPv6: they tell us our public IPv6 addresses")
	}
	return o, nil
}

func run(ctx context.Context, o options) error {
	key, err := labpeer.LoadOrCreateKey(o.keyFile)
	if err != nil {
		return err
	}
	listen := []string{fmt.Sprintf("/ip4/%s/tcp/%d", o.listenIP, o.listenPort)}
	transports := []libp2p.Option{libp2p.Transport(tcp.NewTCPTransport)}
	// The relay as AutoRelay and our own dial see it: over QUIC only when QUIC is on (one
	// connection per peer, see the top of this file).
	relay := o.relay
	if o.relayQuic != nil {
		listen = append(listen, fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", o.listenIP, o.quicPort))
		transports = append(transports, libp2p.Transport(libp2pquic.NewTransport))
		relay = peer.AddrInfo{ID: o.relay.ID, Addrs: []ma.Multiaddr{o.relayQuic}}
	}
	if o.ip6 {
		listen = append(listen, fmt.Sprintf("/ip6/::/tcp/%d", o.listenPort))
		if o.relayQuic != nil {
			listen = append(listen, fmt.Sprintf("/ip6/::/udp/%d/quic-v1", o.quicPort))
		}
	}
	resources, err := labpeer.ResourceManager()
	if err != nil {
		return err
	}
	libp2pOpts := append(transports,
		libp2p.Identity(key),
		libp2p.ResourceManager(resources),
		libp2p.ListenAddrStrings(listen...),
		// go-libp2p's default agent names the main module only ("punchr/interop/go-remote@"); name
		// the library version too, as Kubo's "kubo/0.x" does, so peers and the honeypot can tell.
		libp2p.UserAgent(labpeer.UserAgent("go-remote")),
		// What a NATed node learns from AutoNAT; forced, so AutoRelay starts at once.
		libp2p.ForceReachabilityPrivate(),
		// One static relay: reserve at once (the default boot delay waits minutes for 4 candidates).
		libp2p.EnableAutoRelayWithStaticRelays([]peer.AddrInfo{relay},
			autorelay.WithBootDelay(0), autorelay.WithBackoff(2*time.Second), autorelay.WithMinInterval(time.Second)),
		// Identify (and so the honeypot) sees the relay addresses only. HolePunchAddrs() applies
		// this to the listen addresses too, then adds the observed ones, which DCUtR sends.
		libp2p.AddrsFactory(func(addrs []ma.Multiaddr) []ma.Multiaddr {
			return slices.DeleteFunc(slices.Clone(addrs), func(a ma.Multiaddr) bool { return !isRelayAddr(a) })
		}),
	)
	if o.dcutr {
		libp2pOpts = append(libp2pOpts, libp2p.EnableHolePunching(holepunch.WithTracer(traceLogger{})))
	}
	h, err := libp2p.New(libp2pOpts...)
	if err != nil {
		return fmt.Errorf("libp2p: %w", err)
	}
	defer h.Close()
	log.Info("host started", "peerId", h.ID().String(), "listen", fmt.Sprint(h.Network().ListenAddresses()))
	logConnections(h, o.relay.ID)

	// Our public address per path, from identify: what the relay observed on the connection we
	// hold to it; the other paths' from the DHT peers (see the top).
	relayPath := "ip4/tcp"
	if o.relayQuic != nil {
		relayPath = "ip4/quic"
	}
	publicAddrs, err := watchObservations(h, o.relay.ID, relayPath)
	if err != nil {
		return err
	}
	// AutoRelay connects to the relay by itself; dialling here only makes it sooner.
	if err := h.Connect(ctx, relay); err != nil {
		log.Warn("relay dial failed (AutoRelay retries)", "err", err.Error())
	}

	readyCtx, cancel := context.WithTimeout(ctx, o.readyTimeout)
	defer cancel()
	relayAddrs := func() []ma.Multiaddr {
		return slices.DeleteFunc(h.Addrs(), func(a ma.Multiaddr) bool { return !isRelayAddr(a) })
	}
	dcutrReady := func() bool { return !o.dcutr || slices.Contains(h.Mux().Protocols(), holepunch.Protocol) }
	err = until(readyCtx, "the relay reservation, the public address and the /libp2p/dcutr handler", func() bool {
		return len(relayAddrs()) > 0 && publicAddrs(relayPath) != nil && dcutrReady()
	})
	if err != nil {
		return err
	}

	dhtPeers := []string{}
	if len(o.dhtBootstrap) > 0 {
		// Connected before the DHT exists: a DHT query could otherwise teach us a bootstrap
		// peer's other addresses first, and the dial would take its preferred path (QUIC, say)
		// instead of the one given for it (--ip6, at the top of this file).
		if err := connectBootstrap(readyCtx, h, o.dhtBootstrap); err != nil {
			return err
		}
		kad, err := dht.New(h, dht.Mode(dht.ModeClient), dht.ProtocolPrefix("/ipfs"))
		if err != nil {
			return fmt.Errorf("dht: %w", err)
		}
		defer kad.Close()
		if dhtPeers, err = joinDHT(readyCtx, h, kad); err != nil {
			return err
		}
		// The paths the relay cannot tell us about: the DHT peers' identify does.
		for _, path := range paths {
			if path == relayPath || (strings.HasSuffix(path, "/quic") && o.relayQuic == nil) || (strings.HasPrefix(path, "ip6/") && !o.ip6) {
				continue
			}
			err := until(readyCtx, "a DHT peer's observation of our "+path+" address", func() bool { return publicAddrs(path) != nil })
			if err != nil {
				return err
			}
		}
	}

	public := []ma.Multiaddr{}
	for _, path := range paths {
		if a := publicAddrs(path); a != nil {
			public = append(public, a)
		}
	}
	self := "/p2p/" + h.ID().String()
	ready := map[string]any{
		"ready":        true,
		"peerId":       h.ID().String(),
		"relayAddrs":   labpeer.MapStrings(relayAddrs(), func(a ma.Multiaddr) string { return a.String() + self }),
		"publicAddrs":  labpeer.MapStrings(public, ma.Multiaddr.String),
		"relayVia":     strings.TrimPrefix(relayPath, "ip4/"),
		"dhtPeers":     dhtPeers,
		"impl":         "go",
		"version":      labpeer.Libp2pVersion(),
		"listenPort":   o.listenPort,
		"dcutr":        o.dcutr,
		"agentVersion": labpeer.UserAgent("go-remote"),
	}
	if o.relayQuic != nil {
		ready["quicPort"] = quicListenPort(h)
	}
	labpeer.PrintLine(ready)
	log.Info("remote ready", "ready", ready)
	<-ctx.Done()
	return nil
}

// paths are the ways through the NATs, each with its own mapping: IP version and transport.
var paths = []string{"ip4/tcp", "ip4/quic", "ip6/tcp", "ip6/quic"}

// pathOf is an address's path ("ip6/quic"), from its thin waist.
func pathOf(a ma.Multiaddr) string {
	family := "ip4"
	if _, err := a.ValueForProtocol(ma.P_IP6); err == nil {
		family = "ip6"
	}
	if isQuicAddr(a) {
		return family + "/quic"
	}
	return family + "/tcp"
}

// watchObservations returns, per path (pathOf), the address identify last told us we are seen
// from (our NAT mapping), or nil: what DCUtR's CONNECT carries, printed as publicAddrs. On the
// relay's path the relay's observations count, on the others those of any other peer on a
// direct connection (the DHT peers).
func watchObservations(h host.Host, relay peer.ID, relayPath string) (func(path string) ma.Multiaddr, error) {
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	observed := map[string]ma.Multiaddr{}
	go func() {
		for e := range sub.Out() {
			evt := e.(event.EvtPeerIdentificationCompleted)
			log.Info("identified", "peer", evt.Peer.String(), "agentVersion", evt.AgentVersion,
				"via", evt.Conn.RemoteMultiaddr().String(), "observedAddr", fmt.Sprint(evt.ObservedAddr))
			if evt.ObservedAddr == nil || isRelayAddr(evt.ObservedAddr) || isRelayAddr(evt.Conn.RemoteMultiaddr()) {
				continue
			}
			// js-libp2p's identify appends /p2p/<our id> to the observed address; go-libp2p
			// only looks at its thin-waist part (ip/tcp, ip/udp/quic-v1), and so do we.
			addr, _ := ma.SplitFunc(evt.ObservedAddr, func(c ma.Component) bool { return c.Code() == ma.P_P2P })
			path := pathOf(addr)
			if (evt.Peer == relay) != (path == relayPath) {
				continue
			}
			mu.Lock()
			if !addr.Equal(observed[path]) {
				observed[path] = addr
				log.Info("public address learned", "addr", addr.String(), "path", path,
					"from", evt.Peer.String(), "relay", evt.Peer == relay)
			}
			mu.Unlock()
		}
	}()
	return func(path string) ma.Multiaddr {
		mu.Lock()
		defer mu.Unlock()
		return observed[path]
	}, nil
}

// quicListenPort is the UDP port our QUIC listener is bound to (--quic-port 0 picks one).
func quicListenPort(h host.Host) int {
	for _, a := range h.Network().ListenAddresses() {
		if isQuicAddr(a) {
			if port, err := a.ValueForProtocol(ma.P_UDP); err == nil {
				var n int
				fmt.Sscan(port, &n)
				return n
			}
		}
	}
	return 0
}

// connectBootstrap connects to each bootstrap peer at the addresses given for it, one after the
// other (so that each connection is on its own path when the peers are given one address each).
func connectBootstrap(ctx context.Context, h host.Host, bootstrap []peer.AddrInfo) error {
	for _, b := range bootstrap {
		if err := h.Connect(ctx, b); err != nil {
			return fmt.Errorf("DHT bootstrap %s: %w", b.ID, err)
		}
	}
	return nil
}

// joinDHT waits until a connected DHT server is in the routing table, then looks up our own key
// (what a DHT client does to fill its routing table); returns the peers found.
func joinDHT(ctx context.Context, h host.Host, kad *dht.IpfsDHT) ([]string, error) {
	if err := until(ctx, "a DHT server in the routing table", func() bool { return kad.RoutingTable().Size() > 0 }); err != nil {
		return nil, err
	}
	found, err := kad.GetClosestPeers(ctx, string(h.ID()))
	if err != nil {
		return nil, fmt.Errorf("DHT lookup of our own key: %w", err)
	}
	ids := labpeer.MapStrings(found, peer.ID.String)
	log.Info("joined the DHT", "peers", ids)
	return ids, nil
}

// logConnections logs every connection; "punched" marks a direct connection to a peer we also
// reach through a relay, which is what a hole punch produces.
func logConnections(h host.Host, relay peer.ID) {
	describe := func(c network.Conn) []any {
		return []any{"peer", c.RemotePeer().String(), "remoteAddr", c.RemoteMultiaddr().String(),
			"localAddr", c.LocalMultiaddr().String(), "direction", c.Stat().Direction.String(),
			"relayed", isRelayAddr(c.RemoteMultiaddr())}
	}
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(n network.Network, c network.Conn) {
			punched := false
			if !isRelayAddr(c.RemoteMultiaddr()) && c.RemotePeer() != relay {
				for _, other := range n.ConnsToPeer(c.RemotePeer()) {
					punched = punched || isRelayAddr(other.RemoteMultiaddr())
				}
			}
			log.Info("connection open", append(describe(c), "punched", punched)...)
		},
		DisconnectedF: func(_ network.Network, c network.Conn) { log.Info("connection closed", describe(c)...) },
	})
}

// traceLogger logs go-libp2p's hole-punch trace events (one per step of each attempt).
type traceLogger struct{}

func (traceLogger) Trace(e *holepunch.Event) {
	log.Info("holepunch "+e.Type, "remote", e.Remote.String(), "evt", e.Evt)
}

func until(ctx context.Context, what string, check func() bool) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !check() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, context.Cause(ctx))
		case <-t.C:
		}
	}
	return nil
}

func isRelayAddr(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

func isQuicAddr(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_QUIC_V1)
	return err == nil && !isRelayAddr(a)
}
