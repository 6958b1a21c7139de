// legacy-go-client: a punchr client that behaves like the ORIGINAL Go punchr client of the
// December 2022 measurement campaign (agent "punchr/go-client/<version>"), on that era's stack:
// go-libp2p v0.23 as the original's go.mod had it (v0.23.2 replaced by its author's fork, with
// the hole punch address filter: go.mod), go-multiaddr v0.7.0, grpc-go v1.50.1, protobuf-go
// v1.28.1, logrus, built with Go 1.19 (quic-go of that era refuses newer Go). Its purpose is to prove in the NAT lab
// that our server serves and stores old clients correctly, so it reproduces the original's
// behaviour, timestamps and flaws on purpose; it is not a better client. The code is our own;
// comments say where a behaviour is a deliberate copy of the original's.
//
//	legacy-go-client --server <host:port> --api-key <key> [--host-count 10]
//	                 [--bootstrap-peers <ma>,<ma>,…] [--key-file punchrclient.keys]
//	                 [--rounds 0 (= forever)] [--no-remote-wait 10s] [--version v0.9.0]
//	                 [--public-addr-timeout 1m]
//
// It runs --host-count libp2p hosts (one per key in --key-file, missing keys are generated and
// appended), connects them to the bootstrap peers, waits until each knows a public address,
// registers them and then punches the remotes the server hands out, one host after the other.
// Its gRPC code (package pb) is generated at build time by src/lab/peers/go-build.ts from
// proto/punchr.proto with the protoc plugins of its era; nothing generated is committed.
//
// stdout carries one JSON object per line (logs go to stderr, logrus JSON):
//
//	{"ready":true,"agentVersion":"punchr/go-client/v0.9.0","hosts":[{"peerId":…,"addrs":[…],"publicAddrs":[…]}]}
//	{"answerDropped":true,"error":"multi address from bytes: …"}      (an answer the original could not parse)
//	{"round":1,"host":"12D3…","remote":"12D3…","outcome":"SUCCESS","attempts":1,"protocols":[4,6],"tracked":true}
//	{"round":2,…,"tracked":false,"error":"rpc error: …"}              (TrackHolePunch failed: the report is lost)
//	{"done":true,"rounds":2,"tracked":1}
//	{"error":"…"}                                                       (and exit 1)
//
// SIGINT/SIGTERM cancel the running round (it ends CANCELLED and its report is sent with the
// cancelled context, as the original did, so it is lost), close the hosts and exit 0.
// Logs: PUNCHR_LOG_LEVEL (default info) for ours, GOLOG_LOG_LEVEL (default
// "warn,p2p-holepunch=debug") for go-libp2p's.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	log "github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"punchr/interop/legacy-go-client/pb"
)

type options struct {
	server            string
	apiKey            string
	hostCount         int
	bootstrapPeers    []peer.AddrInfo
	keyFile           string
	rounds            int
	noRemoteWait      time.Duration
	version           string
	publicAddrTimeout time.Duration
}

func main() {
	// go-libp2p v0.23 prints a stray "done" with fmt.Println whenever a hole punch tracer stops
	// (p2p/protocol/holepunch/tracer.go, gc), that is once per host on Close. Our stdout is one
	// JSON object per line, so anything printed through os.Stdout goes to stderr instead and only
	// printLine writes to the real stdout.
	jsonOut, os.Stdout = os.Stdout, os.Stderr
	setupLogging()
	opts, err := parseOptions(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		if ctx.Err() != nil {
			// A signal during start-up: stopping is what was asked for.
			log.WithError(err).Infoln("Stopped by signal")
			return
		}
		fail(err)
	}
}

func fail(err error) {
	log.WithError(err).Errorln("Failed")
	printLine(map[string]interface{}{"error": err.Error()})
	os.Exit(1)
}

// setupLogging: our logs as logrus JSON on stderr (the original used logrus too), go-libp2p's
// through go-log (zap) on stderr, configured by GOLOG_LOG_LEVEL / GOLOG_LOG_FMT.
func setupLogging() {
	log.SetOutput(os.Stderr)
	log.SetFormatter(&log.JSONFormatter{})
	level := os.Getenv("PUNCHR_LOG_LEVEL")
	if level == "" {
		level = "info"
	}
	if l, err := log.ParseLevel(level); err == nil {
		log.SetLevel(l)
	}
	// go-log v2.5 reads its environment in init(), before main; only the defaults are ours.
	cfg := logging.GetConfig()
	if os.Getenv("GOLOG_LOG_FMT") == "" {
		cfg.Format = logging.JSONOutput
	}
	if os.Getenv("GOLOG_LOG_LEVEL") == "" {
		cfg.Level = logging.LevelWarn
		cfg.SubsystemLevels = map[string]logging.LogLevel{"p2p-holepunch": logging.LevelDebug}
	}
	logging.SetupLogging(cfg)
}

func parseOptions(args []string) (options, error) {
	fs := flag.NewFlagSet("legacy-go-client", flag.ContinueOnError)
	server := fs.String("server", "", "punchr server host:port (gRPC without TLS; required)")
	apiKey := fs.String("api-key", "", "API key (required)")
	hostCount := fs.Int("host-count", 10, "how many libp2p hosts punch (one after the other)")
	bootstrap := fs.String("bootstrap-peers", "", "comma-separated multiaddrs with /p2p/ of the bootstrap peers")
	keyFile := fs.String("key-file", "punchrclient.keys", "host identities, one base64 protobuf private key a line; missing ones are appended")
	rounds := fs.Int("rounds", 0, "stop after this many hole punch rounds (0: run until a signal)")
	noRemoteWait := fs.Duration("no-remote-wait", 10*time.Second, "wait after GetAddrInfo gave no usable remote")
	version := fs.String("version", "v0.9.0", `client version: the agent is "punchr/go-client/<version>"`)
	publicAddrTimeout := fs.Duration("public-addr-timeout", time.Minute, "give a host up when it has no public address after this long")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if *server == "" || *apiKey == "" {
		return options{}, errors.New("--server <host:port> and --api-key <key> are required")
	}
	if *hostCount < 1 {
		return options{}, errors.New("--host-count must be at least 1")
	}
	o := options{
		server:            *server,
		apiKey:            *apiKey,
		hostCount:         *hostCount,
		keyFile:           *keyFile,
		rounds:            *rounds,
		noRemoteWait:      *noRemoteWait,
		version:           *version,
		publicAddrTimeout: *publicAddrTimeout,
	}
	// The original took the IPFS bootstrap list when the flag was missing; the lab has no
	// Internet, so here no flag means no bootstrap peers.
	for _, s := range strings.Split(*bootstrap, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		info, err := peer.AddrInfoFromString(s)
		if err != nil {
			return options{}, fmt.Errorf("--bootstrap-peers %s: %w", s, err)
		}
		o.bootstrapPeers = append(o.bootstrapPeers, *info)
	}
	return o, nil
}

func agentVersion(version string) string {
	return "punchr/go-client/" + version
}

func run(ctx context.Context, o options) error {
	log.WithField("addr", o.server).Infoln("Dial server")
	conn, err := grpc.Dial(o.server, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial %s: %w", o.server, err)
	}
	defer conn.Close()
	client := pb.NewPunchrServiceClient(conn)

	keys, err := loadKeys(o.keyFile, o.hostCount)
	if err != nil {
		return fmt.Errorf("key file %s: %w", o.keyFile, err)
	}
	hosts := make([]*Host, 0, len(keys))
	closeHosts := func() {
		for _, h := range hosts {
			if err := h.Close(); err != nil {
				log.WithError(err).Warnln("Could not close host")
			}
		}
		hosts = nil
	}
	defer closeHosts()
	for _, key := range keys {
		h, err := newHost(key, agentVersion(o.version))
		if err != nil {
			return fmt.Errorf("init host: %w", err)
		}
		hosts = append(hosts, h)
	}

	if err := bootstrap(ctx, hosts, o.bootstrapPeers, o.publicAddrTimeout); err != nil {
		return err
	}
	if err := register(ctx, client, hosts, o); err != nil {
		return err
	}
	printReady(hosts, agentVersion(o.version))

	rounds, tracked := punchLoop(ctx, client, hosts, o)
	closeHosts()
	printLine(struct {
		Done    bool `json:"done"`
		Rounds  int  `json:"rounds"`
		Tracked int  `json:"tracked"`
	}{true, rounds, tracked})
	return nil
}

// bootstrap connects every host to the bootstrap peers and waits for its public address, all
// hosts at once. It succeeds when at least 3 hosts (or all of them) got one, as the original;
// the hosts that did not stay in the rotation all the same (the original kept them too).
func bootstrap(ctx context.Context, hosts []*Host, peers []peer.AddrInfo, timeout time.Duration) error {
	var wg sync.WaitGroup
	var successes int32
	for _, h := range hosts {
		wg.Add(1)
		go func(h *Host) {
			defer wg.Done()
			h.logEntry("").Infoln("Bootstrapping host...")
			if err := h.bootstrap(ctx, peers); err != nil {
				h.logEntry("").WithError(err).Warnln("Bootstrapping host failed")
				return
			}
			if err := h.waitForPublicAddr(ctx, timeout); err != nil {
				h.logEntry("").WithError(err).Warnln("Waiting for a public address failed")
				return
			}
			atomic.AddInt32(&successes, 1)
		}(h)
	}
	wg.Wait()
	if n := int(successes); n < 3 && n != len(hosts) {
		return fmt.Errorf("could not connect to enough hosts (%d of %d have a public address)", n, len(hosts))
	}
	return nil
}

func register(ctx context.Context, client pb.PunchrServiceClient, hosts []*Host, o options) error {
	for i, h := range hosts {
		h.logEntry("").WithField("hostNum", i).Infoln("Registering host at Punchr server")
		id, err := h.ID().Marshal()
		if err != nil {
			return fmt.Errorf("marshal peer id: %w", err)
		}
		av, key := agentVersion(o.version), o.apiKey
		protocols := h.protocolsOf(h.ID())
		_, err = client.Register(ctx, &pb.RegisterRequest{
			ClientId:     id,
			AgentVersion: &av,
			// The original asked its peerstore for its own protocols, not the stream muxer; go-libp2p
			// 0.23 keeps no protocols of the local peer there, so this is what the original sent.
			Protocols: protocols,
			ApiKey:    &key,
		})
		if err != nil {
			return fmt.Errorf("registering host %d: %w", i, err)
		}
		h.logEntry("").WithField("protocols", protocols).Infoln("Registered")
	}
	return nil
}

type readyHost struct {
	PeerID      string   `json:"peerId"`
	Addrs       []string `json:"addrs"`
	PublicAddrs []string `json:"publicAddrs"`
}

func printReady(hosts []*Host, agent string) {
	out := []readyHost{}
	for _, h := range hosts {
		out = append(out, readyHost{PeerID: h.ID().String(), Addrs: maddrStrings(h.Addrs()), PublicAddrs: maddrStrings(h.publicAddrs())})
	}
	printLine(struct {
		Ready        bool        `json:"ready"`
		AgentVersion string      `json:"agentVersion"`
		Hosts        []readyHost `json:"hosts"`
	}{true, agent, out})
}

type roundLine struct {
	Round     int     `json:"round"`
	Host      string  `json:"host"`
	Remote    string  `json:"remote"`
	Outcome   string  `json:"outcome"`
	Attempts  int     `json:"attempts"`
	Protocols []int32 `json:"protocols"`
	Tracked   bool    `json:"tracked"`
	Error     string  `json:"error,omitempty"`
}

// punchLoop asks the server for a remote for one host after the other, punches it and reports
// the result; it returns the number of rounds and of reports the server took.
func punchLoop(ctx context.Context, client pb.PunchrServiceClient, hosts []*Host, o options) (rounds, tracked int) {
	i := 0
	for {
		if ctx.Err() != nil {
			return rounds, tracked
		}
		if o.rounds > 0 && rounds >= o.rounds {
			return rounds, tracked
		}
		h := hosts[i]

		addrInfo, filter, err := requestAddrInfo(ctx, client, h, hosts, o.apiKey)
		// Like the original, the filter of the latest answer is this host's filter from now on.
		h.filter.set(filter)
		if addrInfo == nil {
			var dropped *droppedAnswerError
			switch {
			case errors.As(err, &dropped):
				log.WithError(err).Warnln("Error requesting addr info")
				printLine(map[string]interface{}{"answerDropped": true, "error": err.Error()})
			case err != nil:
				log.WithError(err).Warnln("Error requesting addr info")
			default:
				log.Infof("No peer to hole punch received, waiting %s", o.noRemoteWait)
			}
			// The same host asks again after the wait (the original did not move on either).
			select {
			case <-time.After(o.noRemoteWait):
				continue
			case <-ctx.Done():
				return rounds, tracked
			}
		}
		rounds++
		log.WithField("remoteID", addrInfo.ID.String()).WithField("filter", protocolNames(filter)).
			Infoln("Received peer to hole punch from server!")

		state := h.HolePunch(ctx, *addrInfo)
		state.protocolFilter = filter

		// Connection reversal: the remote never opened /libp2p/dcutr, we only had its relay
		// addresses, and still a direct connection exists: the remote dialled us directly.
		if state.outcome == pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_NO_STREAM && state.onlyRelayRemoteAddrs() && state.hasDirectConns {
			state.outcome = pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_CONNECTION_REVERSED
		}
		if state.outcome == pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_SUCCESS || state.outcome == pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_CONNECTION_REVERSED {
			h.closeRelayedConns(addrInfo.ID)
			if lm := <-h.measurePing(ctx, addrInfo.ID, pb.LatencyMeasurementType_TO_REMOTE_AFTER_HOLE_PUNCH); lm != nil {
				state.latencyMeasurements = append(state.latencyMeasurements, lm)
			}
		}
		// "Before and after": the remote is forgotten once the round is over (after the ping over
		// the punched connection, which needs it).
		h.prunePeer(addrInfo.ID)

		line := roundLine{
			Round:     rounds,
			Host:      h.ID().String(),
			Remote:    addrInfo.ID.String(),
			Outcome:   strings.TrimPrefix(state.outcome.String(), "HOLE_PUNCH_OUTCOME_"),
			Attempts:  len(state.attempts),
			Protocols: filter,
		}
		if line.Protocols == nil {
			line.Protocols = []int32{}
		}
		// The original sent the report once, with the loop's context, and only logged a failure:
		// a report the server refused, that did not marshal or that met a cancelled context is lost.
		if err := trackHolePunch(ctx, client, state, o.apiKey); err != nil {
			log.WithError(err).Warnln("Error tracking hole punch result")
			line.Error = err.Error()
		} else {
			line.Tracked = true
			tracked++
		}
		printLine(line)

		i = (i + 1) % len(hosts)
	}
}

// droppedAnswerError: GetAddrInfo answered, but the answer could not be parsed (an unknown
// multiaddr protocol such as /quic-v1 in go-multiaddr 0.7) and was thrown away whole.
type droppedAnswerError struct{ err error }

func (e *droppedAnswerError) Error() string { return e.err.Error() }
func (e *droppedAnswerError) Unwrap() error { return e.err }

// requestAddrInfo asks the server for a remote for host h. (nil, nil, nil): no remote for now.
func requestAddrInfo(ctx context.Context, client pb.PunchrServiceClient, h *Host, hosts []*Host, apiKey string) (*peer.AddrInfo, []int32, error) {
	log.Infoln("Requesting peer to hole punch from server...")
	hostID, err := h.ID().Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("marshal client id: %w", err)
	}
	allHostIDs := [][]byte{}
	for _, other := range hosts {
		id, err := other.ID().Marshal()
		if err != nil {
			return nil, nil, fmt.Errorf("marshal client id: %w", err)
		}
		allHostIDs = append(allHostIDs, id)
	}
	res, err := client.GetAddrInfo(ctx, &pb.GetAddrInfoRequest{HostId: hostID, AllHostIds: allHostIDs, ApiKey: &apiKey})
	if err != nil {
		if status.Code(err) == codes.NotFound {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("get addr info RPC: %w", err)
	}
	if res.GetRemoteId() == nil {
		return nil, nil, nil
	}
	remoteID, err := peer.IDFromBytes(res.RemoteId)
	if err != nil {
		return nil, nil, &droppedAnswerError{fmt.Errorf("peer ID from bytes: %w", err)}
	}
	// One address this go-multiaddr does not know and the whole answer is gone: the original
	// did exactly that, which is why the server must not hand it /quic-v1 (461) addresses.
	addrs := make([]ma.Multiaddr, len(res.MultiAddresses))
	for i, b := range res.MultiAddresses {
		addr, err := ma.NewMultiaddrBytes(b)
		if err != nil {
			return nil, nil, &droppedAnswerError{fmt.Errorf("multi address from bytes: %w", err)}
		}
		addrs[i] = addr
	}
	return &peer.AddrInfo{ID: remoteID, Addrs: addrs}, res.Protocols, nil
}

func trackHolePunch(ctx context.Context, client pb.PunchrServiceClient, state *holePunchState, apiKey string) error {
	log.WithFields(log.Fields{
		"hostID":    state.hostID.String(),
		"remoteID":  state.remoteID.String(),
		"attempts":  len(state.attempts),
		"endReason": state.outcome.String(),
	}).Infoln("Tracking hole punch result")
	req, err := state.toProto(apiKey)
	if err != nil {
		return err
	}
	// grpc-go marshals with proto.Marshal, which refuses a message with an unset required field
	// (an attempt whose elapsed time was 0, see toSeconds): the original lost such reports here.
	_, err = client.TrackHolePunch(ctx, req)
	return err
}

func protocolNames(codes []int32) []string {
	names := make([]string, len(codes))
	for i, c := range codes {
		names[i] = ma.ProtocolWithCode(int(c)).Name
		if names[i] == "" {
			names[i] = fmt.Sprint(c)
		}
	}
	return names
}

func maddrStrings(addrs []ma.Multiaddr) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}

var (
	jsonOut  *os.File // the process's stdout, for printLine only (see main)
	stdoutMu sync.Mutex
)

func printLine(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	jsonOut.Write(append(b, '\n'))
}
