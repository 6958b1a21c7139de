package main

import (
	"sync"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
)

// resourceManager is go-libp2p 0.23's default resource manager with the original's trick to
// learn when a remote opens /libp2p/dcutr to us (go-libp2p 0.23 has no event for that): every
// inbound stream of a peer someone waits for gets a scope that reports the protocol the stream
// negotiates. The limits are the defaults (scaling limits with the libp2p service limits,
// auto-scaled to the machine), as the original's.
type resourceManager struct {
	network.ResourceManager

	mu      sync.RWMutex
	waiters map[peer.ID]*dcutrWaiter
}

var _ network.ResourceManager = (*resourceManager)(nil)

func newResourceManager() (*resourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	mgr, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		return nil, err
	}
	return &resourceManager{ResourceManager: mgr, waiters: map[peer.ID]*dcutrWaiter{}}, nil
}

// dcutrWaiter's channel is closed when a /libp2p/dcutr stream of its peer was negotiated.
type dcutrWaiter struct {
	opened chan struct{}
	once   sync.Once
}

// register starts waiting for the peer's next /libp2p/dcutr stream (one waiter per peer: a
// new registration replaces the old one, as in the original).
func (r *resourceManager) register(p peer.ID) <-chan struct{} {
	w := &dcutrWaiter{opened: make(chan struct{})}
	r.mu.Lock()
	r.waiters[p] = w
	r.mu.Unlock()
	return w.opened
}

func (r *resourceManager) unregister(p peer.ID) {
	r.mu.Lock()
	delete(r.waiters, p)
	r.mu.Unlock()
}

// OpenStream is called by the swarm for every new stream, before its protocol is negotiated.
func (r *resourceManager) OpenStream(p peer.ID, dir network.Direction) (network.StreamManagementScope, error) {
	r.mu.RLock()
	w, waiting := r.waiters[p]
	r.mu.RUnlock()
	scope, err := r.ResourceManager.OpenStream(p, dir)
	if err != nil || !waiting || dir != network.DirInbound {
		return scope, err
	}
	return &notifyingStreamScope{StreamManagementScope: scope, waiter: w}, nil
}

// notifyingStreamScope tells its waiter when the stream turns out to be /libp2p/dcutr.
type notifyingStreamScope struct {
	network.StreamManagementScope
	waiter *dcutrWaiter
}

func (s *notifyingStreamScope) SetProtocol(proto protocol.ID) error {
	if proto == holepunch.Protocol {
		// Once per waiter: the original closed its channel once per stream and would panic on
		// a second dcutr stream within one wait; that would end a lab run.
		s.waiter.once.Do(func() { close(s.waiter.opened) })
	}
	return s.StreamManagementScope.SetProtocol(proto)
}
