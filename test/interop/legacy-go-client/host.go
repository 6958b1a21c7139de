package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	log "github.com/sirupsen/logrus"

	"punchr/interop/legacy-go-client/pb"
)

// The original's constants.
const (
	communicationTimeout = 15 * time.Second // for the dcutr stream and for each hole punch event
	retryCount           = 3                // dcutr streams (attempts) waited for per round
	pingDuration         = 10 * time.Second // one ping series
)

// Host is one libp2p host of the client, with what the original hung on it: the channels of
// the peers whose hole punch events it waits for, the resource manager that reports an
// inbound /libp2p/dcutr stream, and the protocol filter its hole punch service applies.
type Host struct {
	host.Host

	rcmgr *resourceManager
	filter *protocolFilter

	// remote peer.ID → chan *holepunch.Event
	tracedPeers sync.Map

	publicMu sync.Mutex
	public   []ma.Multiaddr // the public addresses found while bootstrapping
}

var _ holepunch.EventTracer = (*Host)(nil)

func newHost(key crypto.PrivKey, agent string) (*Host, error) {
	rm, err := newResourceManager()
	if err != nil {
		return nil, fmt.Errorf("new resource manager: %w", err)
	}
	h := &Host{rcmgr: rm, filter: &protocolFilter{}}
	// As the original: TCP and QUIC (draft-29: go-multiaddr 0.7 has no /quic-v1) on IPv4 and
	// IPv6, hole punching with our tracer and the protocol filter (filter.go), no DHT, no
	// AutoRelay, AutoNAT as go-libp2p 0.23 sets it up by default.
	h.Host, err = libp2p.New(
		libp2p.Identity(key),
		libp2p.UserAgent(agent),
		libp2p.ListenAddrStrings("/ip4/0.0.0.0/tcp/0"),
		libp2p.ListenAddrStrings("/ip4/0.0.0.0/udp/0/quic"),
		libp2p.ListenAddrStrings("/ip6/::/tcp/0"),
		libp2p.ListenAddrStrings("/ip6/::/udp/0/quic"),
		libp2p.EnableHolePunching(holepunch.WithTracer(h), holepunch.WithAddrFilter(h.filter)),
		libp2p.ResourceManager(rm),
	)
	if err != nil {
		return nil, fmt.Errorf("new libp2p host: %w", err)
	}
	h.logEntry("").WithField("listen", maddrStrings(h.Network().ListenAddresses())).Infoln("Started libp2p host")
	return h, nil
}

func (h *Host) logEntry(remote peer.ID) *log.Entry {
	e := log.WithField("hostID", h.ID().String())
	if remote != "" {
		e = e.WithField("remoteID", remote.String())
	}
	return e
}

// bootstrap connects to every bootstrap peer and fails only when none could be reached. With
// no bootstrap peers at all it succeeds, as the original's did (its error was the last one).
func (h *Host) bootstrap(ctx context.Context, peers []peer.AddrInfo) error {
	errCount := 0
	var lastErr error
	for _, bp := range peers {
		h.logEntry(bp.ID).Infoln("Connecting to bootstrap peer...")
		if err := h.Connect(ctx, bp); err != nil {
			h.logEntry(bp.ID).WithError(err).WithField("maddrs", maddrStrings(bp.Addrs)).Warnln("Error connecting to bootstrap peer")
			errCount++
			lastErr = fmt.Errorf("connecting to bootstrap peer: %w", err)
			continue
		}
		h.logEntry(bp.ID).Infoln("Connected to bootstrap peer!")
	}
	if errCount == len(peers) {
		return lastErr
	}
	return nil
}

// waitForPublicAddr polls h.Addrs() for a public address as the original did (go-libp2p 0.23
// has no event for it): every 250 ms at first, doubling up to 5 s, until timeout. go-libp2p
// 0.23 lists an observed address only after 4 peers at different IPs reported it (identify's
// ActivationThresh), which is why the lab gives it four go-libp2p bootstrap peers.
func (h *Host) waitForPublicAddr(ctx context.Context, timeout time.Duration) error {
	h.logEntry("").Infoln("Waiting for public address...")
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	wait := 250 * time.Millisecond
	const maxWait = 5 * time.Second
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		var public []ma.Multiaddr
		for _, a := range h.Addrs() {
			if manet.IsPublicAddr(a) {
				public = append(public, a)
			}
		}
		if len(public) > 0 {
			h.publicMu.Lock()
			h.public = public
			h.publicMu.Unlock()
			h.logEntry("").WithField("addrs", maddrStrings(public)).Infoln("Found public address")
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("timeout waiting for a public address after %s", timeout)
		case <-t.C:
			wait *= 2
			if wait > maxWait {
				wait = maxWait
			}
			t.Reset(wait)
		}
	}
}

func (h *Host) publicAddrs() []ma.Multiaddr {
	h.publicMu.Lock()
	defer h.publicMu.Unlock()
	return h.public
}

// agentVersionOf is the peer's agent from the peerstore (identify), nil when unknown.
func (h *Host) agentVersionOf(p peer.ID) *string {
	v, err := h.Peerstore().Get(p, "AgentVersion")
	if err != nil {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return nil
	}
	return &s
}

// protocolsOf is the peer's protocols from the peerstore, sorted.
func (h *Host) protocolsOf(p peer.ID) []string {
	protocols, err := h.Peerstore().GetProtocols(p)
	if err != nil {
		log.WithError(err).Warnln("Could not get protocols from peerstore")
		return nil
	}
	sort.Strings(protocols)
	return protocols
}

// prunePeer closes every connection to the peer and forgets it (addresses, protocols, agent).
func (h *Host) prunePeer(p peer.ID) {
	if err := h.Network().ClosePeer(p); err != nil {
		h.logEntry(p).WithError(err).Warnln("Error closing connection")
	}
	h.Peerstore().RemovePeer(p)
	h.Peerstore().ClearAddrs(p)
}

func (h *Host) closeRelayedConns(p peer.ID) {
	for _, c := range h.Network().ConnsToPeer(p) {
		if !isRelayAddr(c.RemoteMultiaddr()) {
			continue
		}
		if err := c.Close(); err != nil {
			h.logEntry(p).WithError(err).Warnln("Could not close relay connection")
		}
	}
}

// HolePunch runs one round against the remote, structured as the original's: the deferred
// steps run in this order when it returns: wait for the relayed ping series (so ended_at lies
// after it, ~10 s after connect_ended_at or later), collect the open connections, set ended_at,
// stop tracing the remote.
func (h *Host) HolePunch(ctx context.Context, addrInfo peer.AddrInfo) *holePunchState {
	h.logEntry(addrInfo.ID).WithField("openConns", len(h.Network().ConnsToPeer(addrInfo.ID))).Infoln("Connecting to remote peer...")
	for i, a := range addrInfo.Addrs {
		log.Infof("  [%d] %s", i, a)
	}
	// Clean slate: no connection to the remote and nothing about it in the peerstore. (The
	// other half, after the round, is in punchLoop.)
	h.prunePeer(addrInfo.ID)

	events := h.registerPeerToTrace(addrInfo.ID)
	defer h.unregisterPeerToTrace(addrInfo.ID)

	state := newHolePunchState(h.ID(), addrInfo.ID, addrInfo.Addrs, h.Addrs())
	defer func() { state.endedAt = time.Now() }()
	defer func() {
		for _, c := range h.Network().ConnsToPeer(addrInfo.ID) {
			if !isRelayAddr(c.RemoteMultiaddr()) {
				state.hasDirectConns = true
			}
			state.openMaddrs = append(state.openMaddrs, c.RemoteMultiaddr())
		}
	}()

	state.connectStartedAt = time.Now()
	if err := h.Connect(ctx, addrInfo); err != nil {
		h.logEntry(addrInfo.ID).WithError(err).Infoln("Error connecting to remote peer")
		state.connectEndedAt = time.Now()
		state.err = err.Error()
		state.outcome = pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_NO_CONNECTION
		return state
	}
	state.connectEndedAt = time.Now()
	h.logEntry(addrInfo.ID).Infoln("Connected!")

	relayedPing := h.measurePing(ctx, addrInfo.ID, pb.LatencyMeasurementType_TO_REMOTE_THROUGH_RELAY)
	defer func() {
		if lm := <-relayedPing; lm != nil {
			state.latencyMeasurements = append(state.latencyMeasurements, lm)
		}
	}()

	for i := 0; i < retryCount; i++ {
		select {
		case _, ok := <-h.waitForDCUtRStream(addrInfo.ID):
			if !ok {
				// Even after an earlier failed attempt the round ends NO_STREAM, as in the original.
				state.outcome = pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_NO_STREAM
				state.err = "/libp2p/dcutr stream was not opened after " + communicationTimeout.String()
				return state
			}
		case <-ctx.Done():
			state.outcome = pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_CANCELLED
			state.err = ctx.Err().Error()
			return state
		}

		attempt := trackAttempt(ctx, h.ID(), addrInfo.ID, events)
		state.attempts = append(state.attempts, attempt)

		switch attempt.outcome {
		case pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_PROTOCOL_ERROR:
			state.outcome = pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_FAILED
			state.err = attempt.err
			return state
		case pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_DIRECT_DIAL,
			pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_SUCCESS:
			state.outcome = pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_SUCCESS
			return state
		case pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_UNKNOWN:
			state.outcome = pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_UNKNOWN
			state.err = "unknown hole punch attempt outcome"
			return state
		case pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_CANCELLED:
			state.outcome = pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_CANCELLED
			state.err = attempt.err
			return state
		case pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_TIMEOUT:
			state.outcome = pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_FAILED
			state.err = attempt.err
			return state
		}
		// FAILED: wait for the remote's next /libp2p/dcutr stream.
	}
	state.outcome = pb.HolePunchOutcome_HOLE_PUNCH_OUTCOME_FAILED
	state.err = fmt.Sprintf("none of the %d attempts succeeded", retryCount)
	return state
}

// waitForDCUtRStream yields a value when the remote opens a /libp2p/dcutr stream to us within
// communicationTimeout, and is closed without one otherwise. As in the original the waiter is
// registered with the resource manager by the goroutine, so just after this returns, and only
// until the stream opened: a stream that opened (or began to) before that is not seen.
func (h *Host) waitForDCUtRStream(p peer.ID) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		opened := h.rcmgr.register(p)
		defer h.rcmgr.unregister(p)
		select {
		case <-time.After(communicationTimeout):
			h.logEntry(p).Infoln("/libp2p/dcutr stream was not opened after " + communicationTimeout.String())
		case <-opened:
			h.logEntry(p).Infoln("/libp2p/dcutr stream opened!")
			out <- struct{}{}
		}
		close(out)
	}()
	h.logEntry(p).Infoln("Waiting for /libp2p/dcutr stream...")
	return out
}

// registerPeerToTrace makes Trace pass the remote's hole punch events on. Capacity 3 as in the
// original (start, attempt, end): a fourth event blocks go-libp2p's hole punch goroutine until
// the round reads it.
func (h *Host) registerPeerToTrace(p peer.ID) <-chan *holepunch.Event {
	ch := make(chan *holepunch.Event, 3)
	h.tracedPeers.Store(p, ch)
	return ch
}

func (h *Host) unregisterPeerToTrace(p peer.ID) {
	v, found := h.tracedPeers.LoadAndDelete(p)
	if !found {
		return
	}
	ch := v.(chan *holepunch.Event)
	for {
		select {
		case evt := <-ch:
			h.logEntry(p).WithField("evtType", evt.Type).Warnln("Draining event channel")
		default:
			close(ch)
			return
		}
	}
}

// Trace receives go-libp2p's hole punch events (holepunch.WithTracer).
func (h *Host) Trace(evt *holepunch.Event) {
	v, found := h.tracedPeers.Load(evt.Remote)
	if !found {
		h.logEntry(evt.Remote).WithField("evtType", evt.Type).Infoln("Tracer event for untracked peer")
		return
	}
	// The original's send could hit a channel that unregisterPeerToTrace closed in between and
	// panic the whole client; that would end a lab run, so such an event is only logged here.
	defer func() {
		if recover() != nil {
			h.logEntry(evt.Remote).WithField("evtType", evt.Type).Warnln("Tracer event after the round ended (the original would have panicked)")
		}
	}()
	v.(chan *holepunch.Event) <- evt // blocking, as the original's
}

// trackAttempt follows one hole punch attempt from the moment its stream was seen. opened_at
// is set NOW, after the wait: the events may already sit in the channel with older timestamps
// (started_at and ended_at before opened_at). That is the original's habit, kept on purpose.
func trackAttempt(ctx context.Context, hostID, remoteID peer.ID, events <-chan *holepunch.Event) *holePunchAttempt {
	entry := log.WithField("hostID", hostID.String()).WithField("remoteID", remoteID.String())
	entry.Infoln("Waiting for hole punch events...")
	a := &holePunchAttempt{openedAt: time.Now()}
	for {
		select {
		case evt := <-events:
			switch e := evt.Evt.(type) {
			case *holepunch.StartHolePunchEvt:
				entry.Infoln("Hole punch started")
				a.startedAt = time.Unix(0, evt.Timestamp)
				a.startRTT = e.RTT
				a.addrs = nil
				for _, s := range e.RemoteAddrs {
					addr, err := ma.NewMultiaddr(s)
					if err != nil {
						entry.WithError(err).WithField("maddr", s).Warnln("Could not parse maddr")
						continue
					}
					a.addrs = append(a.addrs, addr)
				}
			case *holepunch.EndHolePunchEvt:
				entry.WithField("success", e.Success).Infoln("Hole punch ended")
				a.endedAt = time.Unix(0, evt.Timestamp)
				a.err = e.Error
				a.elapsed = e.EllapsedTime
				if e.Success {
					a.outcome = pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_SUCCESS
				} else {
					a.outcome = pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_FAILED
				}
				return a
			case *holepunch.HolePunchAttemptEvt:
				entry.WithField("attempt", e.Attempt).Infoln("Hole punch attempt")
			case *holepunch.ProtocolErrorEvt:
				entry.WithField("err", e.Error).Infoln("Hole punching protocol error")
				a.outcome = pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_PROTOCOL_ERROR
				a.err = e.Error
				a.endedAt = time.Unix(0, evt.Timestamp)
				// As the original: measured to now when the punch had started, else from opened_at
				// to the event's time, which can be negative (the event predates opened_at).
				if a.startedAt.IsZero() {
					a.elapsed = a.endedAt.Sub(a.openedAt)
				} else {
					a.elapsed = time.Since(a.startedAt)
				}
				return a
			case *holepunch.DirectDialEvt:
				entry.WithField("success", e.Success).Warnln("Hole punch direct dial event")
				if e.Success {
					a.outcome = pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_DIRECT_DIAL
					a.elapsed = e.EllapsedTime
					a.endedAt = time.Unix(0, evt.Timestamp)
					return a
				}
				a.directDialErr = e.Error
			default:
				entry.WithField("evtType", evt.Type).Warnln("Unexpected hole punch event")
			}
		case <-time.After(communicationTimeout):
			entry.Infoln("No hole punch event after", communicationTimeout)
			a.outcome = pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_TIMEOUT
			a.endedAt = time.Now()
			a.elapsed = a.endedAt.Sub(a.openedAt)
			a.err = fmt.Sprintf("no hole punch event after %s", communicationTimeout)
			return a
		case <-ctx.Done():
			entry.WithError(ctx.Err()).Infoln("Hole punch was cancelled")
			a.outcome = pb.HolePunchAttemptOutcome_HOLE_PUNCH_ATTEMPT_OUTCOME_CANCELLED
			a.endedAt = time.Now()
			if a.startedAt.IsZero() {
				a.elapsed = a.endedAt.Sub(a.openedAt)
			} else {
				a.elapsed = a.endedAt.Sub(a.startedAt)
			}
			a.err = ctx.Err().Error()
			return a
		}
	}
}

// measurePing runs go-libp2p's ping (one stream, one ping after the other) for pingDuration
// and yields the series, or nil when no stream could be opened (the original then logged and
// reported nothing). Failed pings are kept with their error; the ping goes on after one, so a
// broken stream yields a failed ping after the other until the time is up (as the original's).
func (h *Host) measurePing(ctx context.Context, p peer.ID, mtype pb.LatencyMeasurementType) <-chan *latencyMeasurement {
	out := make(chan *latencyMeasurement, 1)
	go func() {
		defer close(out)
		tctx, cancel := context.WithTimeout(ctx, pingDuration)
		defer cancel()
		results := ping.Ping(tctx, h.Host, p)
		first, ok := <-results
		if !ok {
			h.logEntry(p).WithField("type", mtype.String()).Warnln("Could not ping peer: stopped before the first ping")
			return
		}
		// ping.Ping does not hand out its stream; its connection is the one with our ping stream.
		addr := pingConnAddr(h.Host, p)
		if addr == nil {
			for range results {
			}
			h.logEntry(p).WithError(first.Error).WithField("type", mtype.String()).Warnln("Could not ping peer")
			return
		}
		lm := &latencyMeasurement{
			remoteID:     p,
			mtype:        mtype,
			addr:         addr,
			agentVersion: h.agentVersionOf(p),
			protocols:    h.protocolsOf(p),
		}
		lm.add(first)
		for r := range results {
			lm.add(r)
		}
		out <- lm
	}()
	return out
}

// pingConnAddr is the remote address of the connection carrying our outbound ping stream to p.
func pingConnAddr(h host.Host, p peer.ID) ma.Multiaddr {
	for _, c := range h.Network().ConnsToPeer(p) {
		for _, s := range c.GetStreams() {
			if s.Protocol() == ping.ID && s.Stat().Direction == network.DirOutbound {
				return c.RemoteMultiaddr()
			}
		}
	}
	return nil
}

func isRelayAddr(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}
