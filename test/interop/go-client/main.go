// go-client: a punchr API client in Go, the proof that Go punchr clients can report to the
// TypeScript server. Its gRPC code is generated from proto/punchr.proto by protoc-gen-go and
// protoc-gen-go-grpc (package pb, generated at build time by src/lab/peers/go-build.ts), and it
// builds peer IDs and multiaddrs with go-libp2p's core/peer and go-multiaddr, as the original Go
// punchr client does.
//
//	go-client --server 127.0.0.1:10000 --api-key pk_… [--other-api-key pk_…]
//
// It runs one fixed scenario against the server and prints ONE JSON line on stdout:
//
//   - Register a fresh host, GetAddrInfo (expects a remote the honeypot saw), then
//     TrackHolePunch with full reports — every field of TrackHolePunchRequest, HolePunchAttempt,
//     LatencyMeasurement, NATMapping and NetworkInformation set at least once — a SUCCESS
//     report sent twice (a retry after a lost answer) and a FAILED one;
//   - calls that must fail, each with the gRPC status code it got (the test knows the expected
//     ones): unknown API key, another client's key, unregistered host, malformed peer ID and
//     multiaddr bytes, timestamps in seconds, no remote left, and a missing required field
//     (which grpc-go refuses to send).
//
// Every report is printed as sent, in protojson with proto field names (bytes in base64,
// uint64 as strings), so the test compares the stored rows with exactly what went over the wire.
// Exit 0 when every call that must succeed did (failing calls are data), else {"error"} and 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"punchr/interop/go-client/pb"
)

type rpcError struct {
	Case    string `json:"case"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type output struct {
	HostID      string            `json:"hostId"`
	DBPeerID    int64             `json:"dbPeerId"`
	AddrInfo    json.RawMessage   `json:"addrInfo"`
	Reports     []json.RawMessage `json:"reports"`
	Errors      []rpcError        `json:"errors"`
	GRPCVersion string            `json:"grpcVersion"`
}

func main() {
	server := flag.String("server", "", "punchr server host:port (gRPC, plain HTTP/2)")
	apiKey := flag.String("api-key", "", "API key")
	otherKey := flag.String("other-api-key", "", "a second valid API key (PERMISSION_DENIED case)")
	agent := flag.String("agent-version", "punchr/go-client/interop transports=tcp", "agent version to register")
	flag.Parse()
	if *server == "" || *apiKey == "" {
		fail(errors.New("usage: go-client --server host:port --api-key <key> [--other-api-key <key>]"))
	}
	conn, err := grpc.NewClient(*server, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	out, err := scenario(pb.NewPunchrServiceClient(conn), *apiKey, *otherKey, *agent)
	if err != nil {
		fail(err)
	}
	out.GRPCVersion = grpc.Version
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

func fail(err error) {
	b, _ := json.Marshal(map[string]string{"error": err.Error()})
	fmt.Println(string(b))
	os.Exit(1)
}

func scenario(c pb.PunchrServiceClient, key, otherKey, agent string) (*output, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := &output{Errors: []rpcError{}}
	host := newPeer()
	hostID := []byte(host)
	out.HostID = host.String()
	// Records a call that must fail: its status code (e.g. "Unauthenticated") and message.
	expectError := func(name string, err error) {
		if err == nil {
			out.Errors = append(out.Errors, rpcError{Case: name, Code: "OK"})
			return
		}
		s := status.Convert(err)
		out.Errors = append(out.Errors, rpcError{Case: name, Code: s.Code().String(), Message: s.Message()})
	}

	reg, err := c.Register(ctx, &pb.RegisterRequest{
		ClientId:     hostID,
		AgentVersion: proto.String(agent),
		Protocols:    []string{"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/libp2p/dcutr"},
		ApiKey:       proto.String(key),
	})
	if err != nil {
		return nil, fmt.Errorf("Register: %w", err)
	}
	out.DBPeerID = reg.GetDbPeerId()

	info, err := c.GetAddrInfo(ctx, &pb.GetAddrInfoRequest{HostId: hostID, AllHostIds: [][]byte{hostID}, ApiKey: proto.String(key)})
	if err != nil {
		return nil, fmt.Errorf("GetAddrInfo: %w", err)
	}
	if out.AddrInfo, err = protoJSON(info); err != nil {
		return nil, err
	}
	remote, err := peer.IDFromBytes(info.GetRemoteId())
	if err != nil {
		return nil, fmt.Errorf("GetAddrInfo answered a bad remote_id: %w", err)
	}
	if len(info.GetMultiAddresses()) == 0 {
		return nil, errors.New("GetAddrInfo answered no multi_addresses")
	}
	for _, b := range info.GetMultiAddresses() {
		if _, err := ma.NewMultiaddrBytes(b); err != nil {
			return nil, fmt.Errorf("GetAddrInfo answered a bad multiaddr: %w", err)
		}
	}

	t0 := uint64(time.Now().Add(-time.Minute).UnixNano())
	reports := []*pb.TrackHolePunchRequest{
		successReport(hostID, remote, info, key, t0),
		failedReport(hostID, remote, info, key, t0+uint64(20*time.Second)),
	}
	for i, r := range reports {
		if _, err := c.TrackHolePunch(ctx, r); err != nil {
			return nil, fmt.Errorf("TrackHolePunch of report %d: %w", i, err)
		}
		j, err := protoJSON(r)
		if err != nil {
			return nil, err
		}
		out.Reports = append(out.Reports, j)
	}
	// A retry of the first report after a "lost answer": accepted, stored once.
	if _, err := c.TrackHolePunch(ctx, reports[0]); err != nil {
		return nil, fmt.Errorf("TrackHolePunch retry: %w", err)
	}

	// The only remote was handed to this client: nothing left for it.
	_, err = c.GetAddrInfo(ctx, &pb.GetAddrInfoRequest{HostId: hostID, ApiKey: proto.String(key)})
	expectError("no-remote-left", err)

	unknownKey := "pk_" + "unknownunknownunknownunknownunknownunknown0"
	_, err = c.Register(ctx, &pb.RegisterRequest{ClientId: []byte(newPeer()), AgentVersion: proto.String(agent), ApiKey: proto.String(unknownKey)})
	expectError("register-unknown-key", err)
	_, err = c.GetAddrInfo(ctx, &pb.GetAddrInfoRequest{HostId: hostID, ApiKey: proto.String(unknownKey)})
	expectError("get-addr-info-unknown-key", err)
	bad := proto.Clone(reports[1]).(*pb.TrackHolePunchRequest)
	bad.ApiKey = proto.String(unknownKey)
	_, err = c.TrackHolePunch(ctx, bad)
	expectError("track-unknown-key", err)

	if otherKey != "" {
		_, err = c.Register(ctx, &pb.RegisterRequest{ClientId: hostID, AgentVersion: proto.String(agent), ApiKey: proto.String(otherKey)})
		expectError("register-host-of-other-key", err)
	}

	stranger := []byte(newPeer())
	_, err = c.GetAddrInfo(ctx, &pb.GetAddrInfoRequest{HostId: stranger, ApiKey: proto.String(key)})
	expectError("get-addr-info-unregistered-host", err)
	bad = proto.Clone(reports[1]).(*pb.TrackHolePunchRequest)
	bad.ClientId = stranger
	_, err = c.TrackHolePunch(ctx, bad)
	expectError("track-unregistered-host", err)

	_, err = c.Register(ctx, &pb.RegisterRequest{ClientId: []byte("not a peer id"), AgentVersion: proto.String(agent), ApiKey: proto.String(key)})
	expectError("register-malformed-peer-id", err)
	bad = proto.Clone(reports[1]).(*pb.TrackHolePunchRequest)
	bad.RemoteId = []byte{0x12, 0x20, 0x01}
	_, err = c.TrackHolePunch(ctx, bad)
	expectError("track-malformed-remote-id", err)
	bad = proto.Clone(reports[1]).(*pb.TrackHolePunchRequest)
	bad.RemoteMultiAddresses = [][]byte{{0xff, 0xff, 0xff}}
	_, err = c.TrackHolePunch(ctx, bad)
	expectError("track-malformed-multiaddr", err)
	// A missing required field never leaves a Go client: its proto2 marshaller refuses it.
	_, err = c.Register(ctx, &pb.RegisterRequest{ClientId: hostID, ApiKey: proto.String(key)})
	expectError("register-missing-agent-version", err)
	// The unit mistake of old clients: seconds where nanoseconds belong.
	bad = proto.Clone(reports[1]).(*pb.TrackHolePunchRequest)
	bad.ConnectStartedAt = proto.Uint64(t0 / uint64(time.Second))
	_, err = c.TrackHolePunch(ctx, bad)
	expectError("track-timestamp-in-seconds", err)
	return out, nil
}

// successReport: a round that punched on the second attempt, with every field set (the first
// attempt carries all optional fields, the round its listen addresses, three latency
// measurements, two NAT mappings and the network information). Floats are exact in float32.
func successReport(host []byte, remote peer.ID, info *pb.GetAddrInfoResponse, key string, t0 uint64) *pb.TrackHolePunchRequest {
	s := uint64(time.Second)
	relay := relayPeer(info.GetMultiAddresses()[0])
	direct := maBytes("/ip4/11.0.0.20/tcp/4001")
	return &pb.TrackHolePunchRequest{
		ClientId:             host,
		RemoteId:             []byte(remote),
		RemoteMultiAddresses: info.GetMultiAddresses(),
		ConnectStartedAt:     proto.Uint64(t0),
		ConnectEndedAt:       proto.Uint64(t0 + s/8),
		HolePunchAttempts: []*pb.HolePunchAttempt{
			{
				OpenedAt:        proto.Uint64(t0 + s/4),
				StartedAt:       proto.Uint64(t0 + s/2),
				EndedAt:         proto.Uint64(t0 + 5*s),
				StartRtt:        proto.Float32(0.046875),
				ElapsedTime:     proto.Float32(4.75),
				Outcome:         pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_FAILED.Enum(),
				Error:           proto.String("failed to dial: all dials failed"),
				DirectDialError: proto.String("dial tcp 11.0.0.20:4001: i/o timeout"),
				MultiAddresses:  [][]byte{direct, maBytes("/ip4/11.0.0.20/udp/4001/quic-v1")},
			},
			{
				OpenedAt:       proto.Uint64(t0 + 6*s),
				StartedAt:      proto.Uint64(t0 + 6*s + s/8),
				EndedAt:        proto.Uint64(t0 + 7*s),
				StartRtt:       proto.Float32(0.03125),
				ElapsedTime:    proto.Float32(0.875),
				Outcome:        pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_SUCCESS.Enum(),
				MultiAddresses: [][]byte{direct},
			},
		},
		OpenMultiAddresses:   [][]byte{info.GetMultiAddresses()[0], direct},
		HasDirectConns:       proto.Bool(true),
		Outcome:              pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_SUCCESS.Enum(),
		EndedAt:              proto.Uint64(t0 + 8*s),
		ListenMultiAddresses: [][]byte{maBytes("/ip4/10.1.0.2/tcp/4200"), maBytes("/ip4/127.0.0.1/tcp/4200")},
		ApiKey:               proto.String(key),
		Protocols:            info.GetProtocols(),
		LatencyMeasurements: []*pb.LatencyMeasurement{
			{
				RemoteId:     []byte(relay),
				AgentVersion: proto.String("js-libp2p/3.0.0"),
				Protocols:    []string{"/libp2p/circuit/relay/0.2.0/hop", "/ipfs/ping/1.0.0"},
				MultiAddress: relayAddrOf(info.GetMultiAddresses()[0]),
				Rtts:         []float32{0.0078125, 0.015625, 0.0234375},
				RttErrs:      []string{"", "", ""},
				Mtype:        pb.LatencyMeasurementType_TO_RELAY.Enum(),
			},
			{
				RemoteId:     []byte(remote),
				AgentVersion: proto.String("kubo/0.25.0"),
				Protocols:    []string{"/libp2p/dcutr"},
				MultiAddress: info.GetMultiAddresses()[0],
				Rtts:         []float32{0.0625, 0, 0.09375},
				RttErrs:      []string{"", "ping: stream reset", ""},
				Mtype:        pb.LatencyMeasurementType_TO_REMOTE_THROUGH_RELAY.Enum(),
			},
			{
				RemoteId:     []byte(remote),
				AgentVersion: proto.String("kubo/0.25.0"),
				Protocols:    []string{"/libp2p/dcutr"},
				MultiAddress: direct,
				Rtts:         []float32{0.03125},
				RttErrs:      []string{""},
				Mtype:        pb.LatencyMeasurementType_TO_REMOTE_AFTER_HOLE_PUNCH.Enum(),
			},
		},
		NetworkInformation: &pb.NetworkInformation{
			RouterLoginHtml:      proto.String("<html><title>FRITZ!Box</title></html>"),
			RouterLoginHtmlError: proto.String("partial read: connection reset"),
			SupportsIpv6:         proto.Bool(false),
			SupportsIpv6Error:    proto.String("no IPv6 route"),
		},
		NatMappings: []*pb.NATMapping{
			{InternalPort: proto.Int32(4200), ExternalPort: proto.Int32(4200), Protocol: proto.String("tcp"), Addr: proto.String("11.0.0.3"), AddrNetwork: proto.String("ip4")},
			{InternalPort: proto.Int32(4201), ExternalPort: proto.Int32(61001), Protocol: proto.String("udp"), Addr: proto.String("11.0.0.3"), AddrNetwork: proto.String("ip4")},
		},
	}
}

// failedReport: three attempts that all failed differently; the round's error is set, no
// direct connection, no network information, no protocol filter.
func failedReport(host []byte, remote peer.ID, info *pb.GetAddrInfoResponse, key string, t0 uint64) *pb.TrackHolePunchRequest {
	s := uint64(time.Second)
	direct := maBytes("/ip4/11.0.0.21/tcp/4101")
	return &pb.TrackHolePunchRequest{
		ClientId:             host,
		RemoteId:             []byte(remote),
		RemoteMultiAddresses: info.GetMultiAddresses(),
		ConnectStartedAt:     proto.Uint64(t0),
		ConnectEndedAt:       proto.Uint64(t0 + s/4),
		HolePunchAttempts: []*pb.HolePunchAttempt{
			{OpenedAt: proto.Uint64(t0 + s/2), EndedAt: proto.Uint64(t0 + s/2 + 30*s), ElapsedTime: proto.Float32(30),
				Outcome: pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_TIMEOUT.Enum(), Error: proto.String("no SYNC within 30 s")},
			{OpenedAt: proto.Uint64(t0 + 31*s), StartedAt: proto.Uint64(t0 + 31*s + s/16), EndedAt: proto.Uint64(t0 + 36*s),
				StartRtt: proto.Float32(0.125), ElapsedTime: proto.Float32(5),
				Outcome: pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_FAILED.Enum(), Error: proto.String("dial backoff"),
				MultiAddresses: [][]byte{direct}},
			{OpenedAt: proto.Uint64(t0 + 37*s), EndedAt: proto.Uint64(t0 + 37*s + s/4), ElapsedTime: proto.Float32(0.25),
				Outcome: pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_PROTOCOL_ERROR.Enum(), Error: proto.String("stream reset")},
		},
		OpenMultiAddresses: [][]byte{info.GetMultiAddresses()[0]},
		HasDirectConns:     proto.Bool(false),
		Error:              proto.String("all retries for hole punch with peer failed"),
		Outcome:            pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_FAILED.Enum(),
		EndedAt:            proto.Uint64(t0 + 40*s),
		ApiKey:             proto.String(key),
		LatencyMeasurements: []*pb.LatencyMeasurement{{
			RemoteId: []byte(remote), AgentVersion: proto.String("kubo/0.25.0"), MultiAddress: info.GetMultiAddresses()[0],
			Rtts: []float32{0, 0}, RttErrs: []string{"context deadline exceeded", "context deadline exceeded"},
			Mtype: pb.LatencyMeasurementType_TO_REMOTE_THROUGH_RELAY.Enum(),
		}},
	}
}

// newPeer is a fresh Ed25519 identity's peer ID, as a libp2p host would have.
func newPeer() peer.ID {
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		fail(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		fail(err)
	}
	return id
}

func maBytes(s string) []byte {
	return ma.StringCast(s).Bytes()
}

// relayPeer is the relay's peer ID in a relay address /…/p2p/<relay>/p2p-circuit/p2p/<remote>.
func relayPeer(addr []byte) peer.ID {
	m, err := ma.NewMultiaddrBytes(addr)
	if err != nil {
		fail(err)
	}
	v, err := m.ValueForProtocol(ma.P_P2P)
	if err != nil {
		fail(err)
	}
	id, err := peer.Decode(v)
	if err != nil {
		fail(err)
	}
	return id
}

// relayAddrOf is the relay's own address within a relay address (everything before
// /p2p-circuit): where the TO_RELAY pings went.
func relayAddrOf(addr []byte) []byte {
	m, err := ma.NewMultiaddrBytes(addr)
	if err != nil {
		fail(err)
	}
	relay, _ := ma.SplitFunc(m, func(c ma.Component) bool { return c.Code() == ma.P_CIRCUIT })
	return relay.Bytes()
}

func protoJSON(m proto.Message) (json.RawMessage, error) {
	return protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
}
