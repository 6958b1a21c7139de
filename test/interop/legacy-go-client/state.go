package main

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"

	"punchr/interop/legacy-go-client/pb"
)

// holePunchState is one round, as the original kept it until it built the report.
type holePunchState struct {
	hostID      peer.ID
	localMaddrs []ma.Multiaddr // h.Addrs() when the round began (listen_multi_addresses)

	remoteID     peer.ID
	remoteMaddrs []ma.Multiaddr // as the server handed them out

	connectStartedAt time.Time
	connectEndedAt   time.Time

	attempts []*holePunchAttempt

	openMaddrs     []ma.Multiaddr // remote addresses of the connections open at the end
	hasDirectConns bool

	err     string
	outcome pb.HolePunchOutcome
	endedAt time.Time

	protocolFilter      []int32 // as the server sent it
	latencyMeasurements []*latencyMeasurement
}

func newHolePunchState(hostID, remoteID peer.ID, remoteMaddrs, localMaddrs []ma.Multiaddr) *holePunchState {
	return &holePunchState{hostID: hostID, remoteID: remoteID, remoteMaddrs: remoteMaddrs, localMaddrs: localMaddrs}
}

// onlyRelayRemoteAddrs: the server handed out relay addresses only (no direct ones).
func (s *holePunchState) onlyRelayRemoteAddrs() bool {
	for _, a := range s.remoteMaddrs {
		if !isRelayAddr(a) {
			return false
		}
	}
	return true
}

type holePunchAttempt struct {
	openedAt      time.Time // when we began to track it: after the wait for the stream
	startedAt     time.Time // the StartHolePunch event's timestamp (zero: none came)
	endedAt       time.Time
	startRTT      time.Duration
	elapsed       time.Duration
	err           string
	directDialErr string
	outcome       pb.HolePunchAttemptOutcome
	addrs         []ma.Multiaddr // the addresses the punch dialled (StartHolePunch event)
}

type latencyMeasurement struct {
	remoteID     peer.ID
	agentVersion *string
	protocols    []string
	mtype        pb.LatencyMeasurementType
	addr         ma.Multiaddr
	rtts         []time.Duration
	rttErrs      []error
}

func (lm *latencyMeasurement) add(r ping.Result) {
	lm.rtts = append(lm.rtts, r.RTT)
	lm.rttErrs = append(lm.rttErrs, r.Error)
}

// toProto builds the TrackHolePunchRequest. No network_information and no nat_mappings: the
// original filled them from the router's login page and UPnP/NAT-PMP, which the lab's routers
// do not offer.
func (s *holePunchState) toProto(apiKey string) (*pb.TrackHolePunchRequest, error) {
	clientID, err := s.hostID.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal local peer id: %w", err)
	}
	remoteID, err := s.remoteID.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal remote peer id: %w", err)
	}
	attempts := make([]*pb.HolePunchAttempt, len(s.attempts))
	for i, a := range s.attempts {
		attempts[i] = a.toProto()
	}
	var lms []*pb.LatencyMeasurement
	for _, lm := range s.latencyMeasurements {
		m, err := lm.toProto()
		if err != nil {
			return nil, fmt.Errorf("marshal latency measurement: %w", err)
		}
		if m != nil {
			lms = append(lms, m)
		}
	}
	var errStr *string
	if s.err != "" {
		errStr = &s.err
	}
	outcome, hasDirect := s.outcome, s.hasDirectConns
	return &pb.TrackHolePunchRequest{
		ApiKey:               &apiKey,
		ClientId:             clientID,
		ListenMultiAddresses: maddrBytes(s.localMaddrs),
		RemoteId:             remoteID,
		RemoteMultiAddresses: maddrBytes(s.remoteMaddrs),
		ConnectStartedAt:     toUnixNanos(s.connectStartedAt),
		ConnectEndedAt:       toUnixNanos(s.connectEndedAt),
		HolePunchAttempts:    attempts,
		OpenMultiAddresses:   maddrBytes(s.openMaddrs),
		HasDirectConns:       &hasDirect,
		Outcome:              &outcome,
		Error:                errStr,
		EndedAt:              toUnixNanos(s.endedAt),
		Protocols:            s.protocolFilter,
		LatencyMeasurements:  lms,
	}, nil
}

func (a *holePunchAttempt) toProto() *pb.HolePunchAttempt {
	var startedAt *uint64
	if !a.startedAt.IsZero() {
		startedAt = toUnixNanos(a.startedAt)
	}
	// error and direct_dial_error are always set, "" when there was none: the original's habit.
	errStr, directDialErr, outcome := a.err, a.directDialErr, a.outcome
	return &pb.HolePunchAttempt{
		OpenedAt:        toUnixNanos(a.openedAt),
		StartedAt:       startedAt,
		EndedAt:         toUnixNanos(a.endedAt),
		StartRtt:        toSeconds(a.startRTT),
		ElapsedTime:     toSeconds(a.elapsed), // required, yet nil for 0: see toSeconds
		Error:           &errStr,
		DirectDialError: &directDialErr,
		Outcome:         &outcome,
		MultiAddresses:  maddrBytes(a.addrs),
	}
}

// toProto of a measurement whose remote's agent is unknown (identify never finished) is nil:
// agent_version is required and the original left such measurements out.
func (lm *latencyMeasurement) toProto() (*pb.LatencyMeasurement, error) {
	if lm.agentVersion == nil {
		return nil, nil
	}
	remoteID, err := lm.remoteID.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal latency measurement remote peer id: %w", err)
	}
	rtts := make([]float32, len(lm.rtts))
	for i, rtt := range lm.rtts {
		rtts[i] = float32(rtt.Seconds())
	}
	rttErrs := make([]string, len(lm.rttErrs))
	for i, e := range lm.rttErrs {
		if e != nil {
			rttErrs[i] = e.Error()
		}
	}
	mtype := lm.mtype
	return &pb.LatencyMeasurement{
		RemoteId:     remoteID,
		AgentVersion: lm.agentVersion,
		Protocols:    lm.protocols,
		MultiAddress: lm.addr.Bytes(),
		Rtts:         rtts,
		RttErrs:      rttErrs,
		Mtype:        &mtype,
	}, nil
}

func maddrBytes(addrs []ma.Multiaddr) [][]byte {
	out := make([][]byte, len(addrs))
	for i, a := range addrs {
		out[i] = a.Bytes()
	}
	return out
}

func toUnixNanos(t time.Time) *uint64 {
	n := uint64(t.UnixNano())
	return &n
}

// toSeconds leaves a zero duration unset, as the original did, also for the required
// elapsed_time: proto.Marshal then refuses the whole report, which the original lost so.
func toSeconds(d time.Duration) *float32 {
	if d == 0 {
		return nil
	}
	s := float32(d.Seconds())
	return &s
}
